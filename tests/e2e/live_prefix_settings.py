"""Settings of server processes whose live updates must stay among themselves: the browser tests' server
settings, with the channel layer's prefix taken from ``LIVE_LAYER_PREFIX``.

Redis pub/sub channels belong to the whole Redis server, whatever the database number in ``REDIS_URL``:
processes of another run on the same server, with the product's fixed prefix, would share them.
"""

import os

from tests.e2e.server_settings import *  # noqa: F403
from tests.e2e.server_settings import CHANNEL_LAYERS

_prefix = os.environ.get("LIVE_LAYER_PREFIX")
if _prefix and CHANNEL_LAYERS["default"]["BACKEND"] == "helpdesk.live_layer.LiveChannelLayer":
    CHANNEL_LAYERS = {
        "default": {**CHANNEL_LAYERS["default"], "CONFIG": {**CHANNEL_LAYERS["default"]["CONFIG"], "prefix": _prefix}}
    }
