"""A protocol-exact fake of Meta's WhatsApp Cloud API, plus a customer-phone simulator.

A standalone program: it never imports Django or the product. The product reaches it only over HTTP through
``WHATSAPP_API_BASE_URL``, exactly as it reaches ``https://graph.facebook.com``. See
docs/decisions/0001-fake-cloud-api-on-starlette.md and ../shared/whatsapp/CONTRACT.md.
"""

from whatsapp.fake.app import create_app
from whatsapp.fake.client import FakeAdminClient
from whatsapp.fake.clock import AdjustableClock
from whatsapp.fake.encoding import encode_like_meta, signature_sha256
from whatsapp.fake.server import FakeCloudApiServer, UvicornThread, stays_false, wait_for
from whatsapp.fake.state import FakeState, Settings

__all__ = [
    "AdjustableClock",
    "FakeAdminClient",
    "FakeCloudApiServer",
    "FakeState",
    "Settings",
    "UvicornThread",
    "create_app",
    "encode_like_meta",
    "signature_sha256",
    "stays_false",
    "wait_for",
]
