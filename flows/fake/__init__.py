"""A fake transit operator (a bus-card company): look a card up, credit a recharge with an idempotency key, and
fail on demand. The contract is README.md beside this file.

A standalone program: it never imports Django or the product (only ``fakes``, what the fakes share). The product
reaches it only over HTTP, through ``TRANSIT_OPERATOR_BASE_URL`` (``flows.transit``).
"""

from fakes.clock import AdjustableClock
from fakes.serving import wait_for
from flows.fake.app import create_app
from flows.fake.client import FakeAdminError, FakeTransitAdminClient
from flows.fake.server import FakeTransitServer
from flows.fake.state import TransitState

__all__ = [
    "AdjustableClock",
    "FakeAdminError",
    "FakeTransitAdminClient",
    "FakeTransitServer",
    "TransitState",
    "create_app",
    "wait_for",
]
