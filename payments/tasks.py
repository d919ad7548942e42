"""Celery tasks of payments: thin wrappers that call one service."""

from __future__ import annotations

from celery import shared_task

from payments import accounts, catalog_sync, imports, notifications, refunds, requests
from payments.gateways import TransientGatewayError
from payments.models import PaymentAccount


@shared_task
def catalog_sync_run(tenant_id: int, sync_id: int | None = None, attempt: int = 1) -> str:
    sync = catalog_sync.catalog_sync_run(tenant_id, sync_id=sync_id, attempt=attempt)
    return sync.status if sync is not None else ""


@shared_task
def catalog_sync_check(sync_id: int) -> str:
    sync = catalog_sync.catalog_sync_check(sync_id)
    return sync.status if sync is not None else ""


@shared_task
def product_import_run(import_id: int) -> int:
    job = imports.import_run(import_id)
    return job.done_rows if job is not None else 0


@shared_task(autoretry_for=(TransientGatewayError,), retry_backoff=True, max_retries=8)
def payment_notification_process(account_id: int, references: list[str], payment_ids: list[str]) -> list[str]:
    account = PaymentAccount.objects.filter(pk=account_id).first()
    if account is None:
        return []
    return requests.notification_process(account, references=references, payment_ids=payment_ids)


@shared_task(autoretry_for=(TransientGatewayError,), retry_backoff=True, max_retries=8)
def payment_notifications_drain(account_id: int, slot: int) -> int:
    return notifications.notifications_drain(account_id, slot)


@shared_task
def payment_requests_sweep() -> dict[str, int]:
    counts = requests.payment_requests_sweep()
    counts["refunds"] = refunds.refunds_follow()
    counts["pix_webhooks"] = accounts.pix_webhooks_check()
    counts["catalogs"] = catalog_sync.catalogs_resync()
    return counts
