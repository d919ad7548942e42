"""Celery tasks of automations: thin wrappers that call one service."""

from __future__ import annotations

from celery import shared_task

from automations import auto_resolve_run, sla_breaches


@shared_task
def conversations_auto_resolve() -> dict[str, int]:
    return auto_resolve_run.conversations_auto_resolve()


@shared_task
def sla_breaches_record() -> dict[str, int]:
    return sla_breaches.sla_breaches_record()
