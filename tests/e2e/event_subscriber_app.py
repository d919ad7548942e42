"""The Celery app of the event crash test's workers: the project's app plus the test's subscriber."""

from __future__ import annotations

from conversations import events
from helpdesk.celery import app
from tests.e2e.event_subscriber import SUBSCRIBER, label_the_message

__all__ = ["app"]

events.subscribe(events.MessageReceived, label_the_message, name=SUBSCRIBER)
