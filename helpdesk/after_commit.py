"""Side effects handed to Redis or the broker once a transaction commits, which never fail the caller.

The fact is committed when they run: a broker or Redis outage then must not turn the caller's
success into an error (a 500 for a message that was stored). What was not handed over is logged;
the durable parts are picked up again by their sweepers (event deliveries, webhook events), the rest
are hints (live updates to browsers, read receipts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

logger = logging.getLogger(__name__)


def call_guarded(func: Callable[[], object], *, what: str) -> bool:
    """Call ``func``; log a WARNING instead of raising when it fails. Returns whether it succeeded."""
    try:
        func()
    except Exception:
        logger.warning("%s not handed over after commit", what, exc_info=True)
        return False
    return True


def on_commit_guarded(func: Callable[[], object], *, what: str) -> None:
    """``transaction.on_commit(func)``, with a failure of ``func`` logged rather than raised."""
    transaction.on_commit(lambda: call_guarded(func, what=what))
