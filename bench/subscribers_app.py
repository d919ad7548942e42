"""The Celery app of the ingest benchmark's worker with subscribers: the project's app plus
``bench.subscribers`` (the worker records the events, so its registry decides who gets deliveries)."""

from __future__ import annotations

from bench.subscribers import subscribe_all
from helpdesk.celery import app

__all__ = ["app"]

subscribe_all()
