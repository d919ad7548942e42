"""Celery tasks of automations: thin wrappers that call one service."""

from __future__ import annotations

from celery import shared_task

from automations import auto_resolve_run, rules_engine


@shared_task
def conversations_auto_resolve() -> dict[str, int]:
    return auto_resolve_run.conversations_auto_resolve()


@shared_task
def rule_runs_purge() -> int:
    return rules_engine.rule_runs_purge()
