"""Browser-test server settings with sessions cached in Redis, as in production (the broker outage
test checks that a signed-in agent keeps working while Redis is down)."""

from tests.e2e.server_settings import *  # noqa: F403

CACHES = {**CACHES, "sessions": REDIS_SESSION_CACHE}  # noqa: F405
SESSION_CACHE_ALIAS = "sessions"
