"""Celery tasks of the core: thin wrappers that call one service."""

from __future__ import annotations

from celery import shared_task


@shared_task
def conversations_unsnooze_due() -> int:
    from conversations.services.actions import conversations_unsnooze_due as unsnooze

    return unsnooze()
