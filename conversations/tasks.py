"""Celery tasks of the core: thin wrappers that call one service."""

from __future__ import annotations

from celery import shared_task

from conversations.services import actions


@shared_task
def conversations_unsnooze_due() -> int:
    return actions.conversations_unsnooze_due()
