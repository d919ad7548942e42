"""The event crash test's subscriber. Its first delivery writes its effect, then hangs (the test kills
the worker there); later ones write the effect and return. Importing this module subscribes nothing:
only the workers' Celery app (``event_subscriber_app``) does, so the test process's registry stays as it was.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from conversations import events

__all__ = ["SUBSCRIBER", "label_the_message"]

SUBSCRIBER = "tests.crash_labeller"


def label_the_message(event: events.MessageReceived) -> None:
    from conversations.models import Label

    Label.objects.create(tenant_id=event.tenant_id, name=f"effect {event.message_id}")
    marker = os.environ.get("EVENTS_CRASH_MARKER")
    if marker and not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        time.sleep(120)  # killed here, mid-delivery, with the effect written but not committed
