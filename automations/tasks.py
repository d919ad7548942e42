"""Celery tasks of automations: thin wrappers that call one service."""

from __future__ import annotations

from celery import shared_task

from automations import assignment, auto_resolve_run, rules_engine, sla_breaches


@shared_task
def conversations_auto_resolve() -> dict[str, int]:
    return auto_resolve_run.conversations_auto_resolve()


@shared_task
def sla_breaches_record() -> dict[str, int]:
    return sla_breaches.sla_breaches_record()


@shared_task
def auto_assign_queues() -> int:
    return assignment.queues_assign_all()


@shared_task
def inbox_queue_assign(tenant_id: int, inbox_id: int) -> int:
    return assignment.inbox_queue_assign(tenant_id=tenant_id, inbox_id=inbox_id)


@shared_task
def rule_runs_purge() -> int:
    return rules_engine.rule_runs_purge()
