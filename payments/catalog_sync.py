"""The workspace's products pushed to the catalogs of its channels (WhatsApp's Meta catalog), through the core's
optional ``CatalogSyncBackend`` port: payments never learns a channel's protocol.

A change of the catalog (a product created, changed or deleted, an import done) asks, after commit, for a sync
of the whole workspace a few seconds later (``PAYMENTS_CATALOG_SYNC_DELAY_SECONDS``): one job for every change
made meanwhile, not one per product (a cache key held until the job starts). "Sync with WhatsApp" on the
catalog's page asks for one now ("Manage payments and catalog"). A job sends every product (hidden ones as
hidden) to each catalog once, however many inboxes show it, and deletes there the SKUs it put there earlier
that the workspace no longer has. What the channel refused is kept on each product (``sync_error``) and on the
sync (``CatalogSync.outcomes``); when the channel applies the batch later, ``catalog_sync_check`` reads how it
ended, a few times with growing pauses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Max, OuterRef, QuerySet, Subquery
from django.utils import timezone

from conversations import channels
from conversations.actors import Actor, actor_user
from conversations.channels import CatalogItem, CatalogSyncResult
from conversations.models import Inbox
from helpdesk.after_commit import on_commit_guarded
from helpdesk.jobs import BROKER_ERRORS, run_later
from payments.models import CatalogSync, CatalogSyncedItem, Product
from tenants.models import Tenant
from tenants.permissions import Perm, require_perm

logger = logging.getLogger(__name__)

# Pauses before reading again how the channel is getting on with a batch it took (seconds).
CHECK_DELAYS = (5, 10, 20, 40, 60, 120, 300, 600)
# Pauses before a sync the channel could not take for now (network, 5xx, rate limits) is tried again.
RETRY_DELAYS = (30, 120, 600, 1800)
ERRORS_KEPT = 1000
SYNCS_KEPT = 50
CHUNK = 500


def _task(name: str) -> Any:
    return current_app.tasks[f"payments.tasks.{name}"]


def _hold_key(tenant_id: int) -> str:
    return f"payments:catalog-sync:{tenant_id}"


def _delay() -> float:
    return float(settings.PAYMENTS_CATALOG_SYNC_DELAY_SECONDS)


# --- asking for a sync ---------------------------------------------------------------------------------------


def catalog_sync_request(*, tenant_id: int, delay: float | None = None, attempt: int = 1) -> bool:
    """Have the workspace's catalog synced in a few seconds, unless a sync is already asked for and has not started
    (that one will read this change too). Called after commit; returns whether a job was asked for."""
    delay = _delay() if delay is None else delay
    if not cache.add(_hold_key(tenant_id), "1", timeout=int(delay) + 120):
        return False
    try:
        run_later(_task("catalog_sync_run"), tenant_id, delay, **({"attempt": attempt} if attempt > 1 else {}))
    except BROKER_ERRORS as exc:
        cache.delete(_hold_key(tenant_id))  # the next change asks again
        logger.warning("Catalog sync of workspace %s not enqueued: %s", tenant_id, type(exc).__name__)
        return False
    return True


def catalog_changed(*, tenant_id: int) -> None:
    """The catalog changed in the open transaction: a sync is asked for once it commits."""
    on_commit_guarded(lambda: catalog_sync_request(tenant_id=tenant_id), what=f"catalog sync of {tenant_id}")


def catalog_sync_start(*, actor: Actor, tenant: Tenant) -> CatalogSync:
    """A sync now ("Sync with WhatsApp"). Needs "Manage payments and catalog"."""
    require_perm(actor, Perm.MANAGE_PAYMENTS, tenant_id=tenant.pk)
    sync = CatalogSync.objects.create(tenant=tenant, trigger=CatalogSync.Trigger.MANUAL, requested_by=actor_user(actor))
    on_commit_guarded(
        lambda: _task("catalog_sync_run").delay(tenant.pk, sync_id=sync.pk), what=f"catalog sync {sync.pk}"
    )
    return sync


def catalogs_resync(*, now: datetime | None = None, stuck_after: timedelta = timedelta(minutes=15)) -> int:
    """The sweeper's pass over catalogs: a workspace whose products changed after its last sync started (the
    request lost with the broker), or that has products and was never synced, is synced again; a sync queued or
    running for ``stuck_after`` (its job died) is marked failed and another one asked for. Returns how many
    workspaces were asked for."""
    now = now or timezone.now()
    running = (CatalogSync.Status.QUEUED, CatalogSync.Status.RUNNING)
    stuck = CatalogSync.objects.filter(status__in=running, created_at__lt=now - stuck_after, tenant__active=True)
    stuck_tenants = set(stuck.values_list("tenant_id", flat=True))
    stuck.update(status=CatalogSync.Status.FAILED, finished_at=now, updated_at=now)
    last = CatalogSync.objects.filter(tenant_id=OuterRef("tenant_id")).order_by("-created_at", "-id")
    rows = (
        Product.objects.filter(tenant__active=True)
        .values("tenant_id")
        .annotate(
            changed=Max("updated_at"),
            last_status=Subquery(last.values("status")[:1]),
            last_started=Subquery(last.values("started_at")[:1]),
        )
        .order_by("tenant_id")
    )
    asked = 0
    for row in rows:
        status, started = row["last_status"], row["last_started"]
        behind = (
            row["tenant_id"] in stuck_tenants
            or status is None
            or (status not in running and status != CatalogSync.Status.PROCESSING and started is not None
                and row["changed"] > started)
        )  # fmt: skip
        if behind and catalog_sync_request(tenant_id=row["tenant_id"], delay=0):
            asked += 1
    return asked


# --- reading -------------------------------------------------------------------------------------------------


def catalog_sync_last(*, tenant_id: int) -> CatalogSync | None:
    return CatalogSync.objects.filter(tenant_id=tenant_id).order_by("-created_at", "-id").first()


def products_not_synced(*, tenant_id: int) -> QuerySet[Product]:
    """The workspace's products a channel refused in the last sync that sent them."""
    return Product.objects.filter(tenant_id=tenant_id).exclude(sync_error="").order_by("name", "id")


def catalog_inboxes(*, tenant_id: int) -> list[Inbox]:
    """The workspace's inboxes whose channel keeps a catalog."""
    return [
        i for i in Inbox.objects.filter(tenant_id=tenant_id).order_by("id") if channels.syncs_catalog(i.channel_type)
    ]


# --- the job -------------------------------------------------------------------------------------------------


def _item(product: Product) -> CatalogItem:
    return CatalogItem(
        retailer_id=product.retailer_id,
        name=product.name,
        price=product.price,
        currency=product.currency,
        description=product.description,
        image_url=product.image_url,
        availability="out of stock" if product.availability == Product.Availability.OUT_OF_STOCK else "in stock",
        visible=product.visible,
        category=product.category,
    )


def _outcome(group: str, inboxes: list[Inbox], result: CatalogSyncResult, channel_type: str) -> dict[str, Any]:
    return {
        "catalog": group,
        "channel_type": channel_type,
        "catalog_id": result.catalog_id,
        "inbox_ids": [i.pk for i in inboxes],
        "inboxes": [i.name for i in inboxes],
        "status": result.status,
        "reason": result.reason,
        "detail": result.detail,
        "transient": result.transient,
        "handles": list(result.handles),
        "sent": result.sent,
        "deleted": result.deleted,
        "errors": dict(list(result.errors.items())[:ERRORS_KEPT]),
    }


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _record_products(tenant_id: int, skus: list[str], errors: dict[str, str]) -> None:
    """The products with these SKUs were synced now; those the channel refused keep why."""
    now = timezone.now()
    fine = [sku for sku in skus if sku not in errors]
    for chunk in _chunks(fine):
        Product.objects.filter(tenant_id=tenant_id, retailer_id__in=chunk).update(synced_at=now, sync_error="")
    for sku, message in errors.items():
        Product.objects.filter(tenant_id=tenant_id, retailer_id=sku).update(synced_at=now, sync_error=message[:2000])


def _remember(tenant_id: int, group: str, skus: list[str], deleted: list[str]) -> None:
    for chunk in _chunks(deleted):
        CatalogSyncedItem.objects.filter(tenant_id=tenant_id, catalog=group, retailer_id__in=chunk).delete()
    CatalogSyncedItem.objects.bulk_create(
        [CatalogSyncedItem(tenant_id=tenant_id, catalog=group, retailer_id=sku) for sku in skus],
        ignore_conflicts=True,
        batch_size=CHUNK,
    )


def _finish(sync: CatalogSync) -> None:
    statuses = {o["status"] for o in sync.outcomes}
    if not statuses or statuses == {"skipped"}:
        sync.status = CatalogSync.Status.SKIPPED
    elif "failed" in statuses:
        sync.status = CatalogSync.Status.FAILED
    elif "pending" in statuses:
        sync.status = CatalogSync.Status.PROCESSING
    else:
        sync.status = CatalogSync.Status.DONE
    sync.error_count = len({sku for o in sync.outcomes for sku in o.get("errors", {})})
    if sync.status != CatalogSync.Status.PROCESSING:
        sync.finished_at = timezone.now()


def catalog_sync_run(tenant_id: int, *, sync_id: int | None = None, attempt: int = 1) -> CatalogSync | None:
    """Push the workspace's products to every catalog of its channels (the job). When a channel could not take it
    for now (only transient failures), it is tried again later, ``RETRY_DELAYS`` apart."""
    now = timezone.now()
    if sync_id is None:
        cache.delete(_hold_key(tenant_id))  # changes from now on ask for the next job
        if not Tenant.objects.filter(pk=tenant_id, active=True).exists():
            return None
        sync = CatalogSync.objects.create(
            tenant_id=tenant_id, trigger=CatalogSync.Trigger.CHANGE, status=CatalogSync.Status.RUNNING, started_at=now
        )
    else:
        # Claimed with a conditional update: a job delivered twice runs once.
        claimed = CatalogSync.objects.filter(
            tenant_id=tenant_id, pk=sync_id, status=CatalogSync.Status.QUEUED, tenant__active=True
        ).update(status=CatalogSync.Status.RUNNING, started_at=now, updated_at=now)
        if not claimed:
            return None
        sync = CatalogSync.objects.get(pk=sync_id)
    products = list(Product.objects.filter(tenant_id=tenant_id).order_by("id"))
    items = [_item(p) for p in products]
    skus = [p.retailer_id for p in products]
    groups: dict[str, tuple[str, list[Inbox]]] = {}
    outcomes: list[dict[str, Any]] = []
    for inbox in catalog_inboxes(tenant_id=tenant_id):
        catalog_id = channels.catalog_backend(inbox.channel_type).catalog_of(inbox)
        if not catalog_id:
            outcomes.append(
                _outcome("", [inbox], CatalogSyncResult(status="skipped", reason="no_catalog"), inbox.channel_type)
            )
            continue
        groups.setdefault(f"{inbox.channel_type}:{catalog_id}", (inbox.channel_type, []))[1].append(inbox)
    current = set(skus)
    all_errors: dict[str, str] = {}
    synced_skus = False
    for group, (channel_type, inboxes) in groups.items():
        known = CatalogSyncedItem.objects.filter(tenant_id=tenant_id, catalog=group).values_list(
            "retailer_id", flat=True
        )
        deleted = sorted(set(known) - current)
        backend = channels.catalog_backend(channel_type)
        try:
            result = backend.catalog_sync(inboxes[0], items, deleted)
        except Exception:
            logger.exception("Catalog sync of workspace %s to %s failed", tenant_id, group)
            result = CatalogSyncResult(status="failed", reason="error")
        outcomes.append(_outcome(group, inboxes, result, channel_type))
        if result.status in ("synced", "pending"):
            with transaction.atomic():
                _remember(tenant_id, group, skus, deleted)
            synced_skus = True
            for sku, message in result.errors.items():
                all_errors[sku] = f"{all_errors[sku]}; {message}" if sku in all_errors else message
        sync.deleted_count += len(deleted)
    if synced_skus:
        _record_products(tenant_id, skus, all_errors)
    sync.outcomes, sync.item_count = outcomes, len(items)
    _finish(sync)
    sync.save()
    # A workspace keeps its last SYNCS_KEPT syncs: one is recorded for every change's job.
    old = CatalogSync.objects.filter(tenant_id=tenant_id).order_by("-id").values_list("id", flat=True)
    CatalogSync.objects.filter(pk__in=list(old[SYNCS_KEPT : SYNCS_KEPT + 1000])).delete()
    logger.info("Catalog sync %s of workspace %s: %s", sync.pk, tenant_id, sync.status)
    if sync.status == CatalogSync.Status.PROCESSING:
        run_later(_task("catalog_sync_check"), sync.pk, CHECK_DELAYS[0])
    failed = [o for o in sync.outcomes if o["status"] == "failed"]
    if failed and all(o["transient"] for o in failed) and attempt <= len(RETRY_DELAYS):
        # Through the same hold as a change: a sync already asked for covers this one.
        catalog_sync_request(tenant_id=tenant_id, delay=RETRY_DELAYS[attempt - 1], attempt=attempt + 1)
    return sync


def catalog_sync_check(sync_id: int) -> CatalogSync | None:
    """Read how the channels are getting on with the batches of a sync they took; again later while they are."""
    sync = CatalogSync.objects.filter(pk=sync_id, status=CatalogSync.Status.PROCESSING).first()
    if sync is None:
        return None
    sync.check_attempts += 1
    new_errors: dict[str, str] = {}
    for outcome in sync.outcomes:
        if outcome["status"] != "pending":
            continue
        inbox = Inbox.objects.filter(tenant_id=sync.tenant_id, pk__in=outcome["inbox_ids"]).order_by("id").first()
        if inbox is None or not channels.syncs_catalog(inbox.channel_type):
            outcome.update(status="failed", reason="inbox_gone", handles=[])
            continue
        try:
            result = channels.catalog_backend(inbox.channel_type).catalog_sync_check(inbox, outcome["handles"])
        except Exception:
            logger.exception("Catalog sync %s: checking %s failed", sync.pk, outcome["catalog"])
            continue
        errors = {**outcome["errors"], **dict(list(result.errors.items())[:ERRORS_KEPT])}
        outcome.update(errors=errors, handles=list(result.handles))
        if result.status == "pending":
            if sync.check_attempts >= len(CHECK_DELAYS):
                outcome.update(status="failed", reason="unconfirmed", handles=[])
            continue
        outcome.update(status=result.status, reason=result.reason, detail=result.detail)
        new_errors.update(result.errors)
    if new_errors:
        for sku, message in new_errors.items():
            Product.objects.filter(tenant_id=sync.tenant_id, retailer_id=sku).update(
                synced_at=timezone.now(), sync_error=message[:2000]
            )
    _finish(sync)
    sync.save()
    if sync.status == CatalogSync.Status.PROCESSING:
        run_later(_task("catalog_sync_check"), sync.pk, CHECK_DELAYS[min(sync.check_attempts, len(CHECK_DELAYS) - 1)])
    return sync
