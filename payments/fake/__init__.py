"""A protocol-exact fake PSP: BCB's API Pix, Mercado Pago Checkout Pro and a small Stripe Checkout, plus the pages
a payer uses (pay a Pix code, approve a card link). Contract: ../shared/payments/CONTRACT.md.

A standalone program: it never imports Django or the product (only ``payments.brcode`` and ``payments.signatures``,
which are standard-library code). The product reaches it only over HTTP, through the base URLs of its gateways.
"""

from payments.fake.app import create_app
from payments.fake.client import FakeAdminError, FakePspAdminClient
from payments.fake.clock import AdjustableClock
from payments.fake.server import FakePspServer, UvicornThread, wait_for
from payments.fake.state import FakePspState, Settings
from payments.fake.tls import ServerTls, pem_thumbprint, thumbprint

__all__ = [
    "AdjustableClock",
    "FakeAdminError",
    "FakePspAdminClient",
    "FakePspServer",
    "FakePspState",
    "ServerTls",
    "Settings",
    "UvicornThread",
    "create_app",
    "pem_thumbprint",
    "thumbprint",
    "wait_for",
]
