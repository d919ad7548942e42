"""Celery tasks of flows: thin wrappers that call one service."""

from __future__ import annotations

from celery import shared_task

from flows import runtime


@shared_task
def sessions_sweep() -> dict[str, int]:
    return runtime.sessions_sweep()
