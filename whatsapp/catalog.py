"""The number's Meta catalog (COMMERCE.md §1, §4): which catalog a channel shows, and keeping it in step with the
workspace's products for the core's ``CatalogSyncBackend`` port (``conversations.channels``).

A sync connects the catalog to the number's WhatsApp Business Account when it is not yet (at most one catalog per
account: another one already connected is reported, never replaced), turns the cart and the catalog icon on, and
sends the products in ``items_batch`` calls of at most 5,000: ``UPDATE`` with ``allow_upsert`` for every product
(a hidden one as ``visibility: staging``, so it keeps its Meta id and review and comes back at once when shown
again), ``DELETE`` for the SKUs the workspace no longer has. Meta applies a batch after answering; its status is
read once at once and then by ``catalog_sync_check``. Logs name ids only, never a token.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from conversations.actors import actor_audit_record
from conversations.channels import CatalogItem, CatalogSyncResult
from conversations.models import Inbox
from helpdesk.exceptions import ValidationFailed
from tenants.models import AuditLogEntry, Membership
from tenants.permissions import Perm, require_perm
from whatsapp.client import client_for
from whatsapp.cloud_api import CATALOG_BATCH_MAX, CloudApiClient
from whatsapp.errors import CloudApiError, TransientError
from whatsapp.models import WhatsAppChannel

logger = logging.getLogger(__name__)

CATALOG_ID_MAX = 32
# The WABA's and the catalog batch API's rate limits (COMMERCE.md §1, §4.4): worth trying again later even
# when Meta's answer does not say it is transient.
CATALOG_RATE_LIMITS = frozenset({80008, 80014})


def catalog_id_clean(value: str) -> str:
    """A catalog id as typed (spaces around allowed): digits only, or empty for none."""
    catalog_id = value.strip()
    if catalog_id and (not (catalog_id.isascii() and catalog_id.isdigit()) or len(catalog_id) > CATALOG_ID_MAX):
        raise ValidationFailed(
            _("The catalog ID must contain digits only (at most %(max)s).") % {"max": CATALOG_ID_MAX},
            details={"catalog_id": [_("Digits only.")]},
        )
    return catalog_id


@transaction.atomic
def channel_catalog_set(
    *, actor: Membership, channel: WhatsAppChannel, catalog_id: str, request: Any = None
) -> WhatsAppChannel:
    """Name the Meta catalog the number shows (empty: none). Needs "Manage channels"; audited."""
    require_perm(actor, Perm.MANAGE_CHANNELS, tenant_id=channel.tenant_id)
    catalog_id = catalog_id_clean(catalog_id)
    channel = WhatsAppChannel.objects.select_for_update().get(pk=channel.pk, tenant_id=channel.tenant_id)
    if channel.catalog_id == catalog_id:
        return channel
    before, channel.catalog_id = channel.catalog_id, catalog_id
    channel.save(update_fields=["catalog_id", "updated_at"])
    actor_audit_record(
        actor,
        action=AuditLogEntry.Action.CHANNEL_UPDATED,
        tenant=channel.tenant,
        target=channel,
        target_label=str(channel),
        request=request,
        extra={"catalog_id": {"from": before, "to": catalog_id}},
    )
    return channel


def _channel(inbox: Inbox) -> WhatsAppChannel | None:
    return WhatsAppChannel.objects.filter(inbox=inbox, tenant_id=inbox.tenant_id).first()


def catalog_of(inbox: Inbox) -> str | None:
    channel = _channel(inbox)
    return channel.catalog_id if channel is not None and channel.catalog_id else None


def _failed(exc: CloudApiError, *, reason: str, catalog_id: str) -> CatalogSyncResult:
    return CatalogSyncResult(
        status="failed",
        catalog_id=catalog_id,
        reason=reason,
        detail=str(exc)[:1000],
        transient=isinstance(exc, TransientError) or exc.code in CATALOG_RATE_LIMITS,
    )


def _connect(client: CloudApiClient, channel: WhatsAppChannel) -> CatalogSyncResult | None:
    """Connect the channel's catalog to its account and show it; a result when that cannot be done."""
    linked = [c["id"] for c in client.list_catalogs(channel.waba_id)]
    if channel.catalog_id not in linked:
        if linked:
            return CatalogSyncResult(
                status="failed", catalog_id=channel.catalog_id, reason="catalog_linked_elsewhere", detail=linked[0]
            )
        try:
            client.link_catalog(channel.waba_id, channel.catalog_id)
        except CloudApiError as exc:
            if isinstance(exc, TransientError):
                raise
            return _failed(exc, reason="catalog_refused", catalog_id=channel.catalog_id)
        logger.info("Catalog %s connected to WABA %s", channel.catalog_id, channel.waba_id)
    settings = client.commerce_settings(channel.phone_number_id)
    if not (settings.cart_enabled and settings.catalog_visible):
        client.set_commerce_settings(channel.phone_number_id, cart_enabled=True, catalog_visible=True)
    return None


def _merge(target: dict[str, str], found: dict[str, list[str]]) -> None:
    for retailer_id, messages in found.items():
        text = "; ".join(messages) or "Refused by Meta."
        target[retailer_id] = f"{target[retailer_id]}; {text}" if retailer_id in target else text


def catalog_sync(inbox: Inbox, items: Sequence[CatalogItem], deleted: Sequence[str]) -> CatalogSyncResult:
    channel = _channel(inbox)
    if channel is None or not channel.catalog_id:
        return CatalogSyncResult(status="skipped", reason="no_catalog")
    catalog_id = channel.catalog_id
    client = client_for(channel)
    errors: dict[str, str] = {}
    warnings: dict[str, str] = {}
    handles: list[str] = []
    try:
        refused = _connect(client, channel)
        if refused is not None:
            return refused
        requests: list[tuple[str, Any]] = [("upsert", item) for item in items]
        requests += [("delete", retailer_id) for retailer_id in deleted]
        for start in range(0, len(requests), CATALOG_BATCH_MAX):
            chunk = requests[start : start + CATALOG_BATCH_MAX]
            result = client.catalog_items_batch(
                catalog_id,
                upserts=[item for kind, item in chunk if kind == "upsert"],
                deletes=[sku for kind, sku in chunk if kind == "delete"],
            )
            _merge(errors, result.errors)
            _merge(warnings, result.warnings)
            handles.extend(result.handles)
        logger.info(
            "Catalog %s of channel %s: %s items, %s deleted, %s batches", catalog_id, channel.pk, len(items),
            len(deleted), len(handles),
        )  # fmt: skip
    except CloudApiError as exc:
        logger.warning("Catalog %s of channel %s not synced: %s", catalog_id, channel.pk, type(exc).__name__)
        return _failed(exc, reason="meta_error", catalog_id=catalog_id)
    outcome = _check(client, catalog_id, handles, errors, warnings)
    return CatalogSyncResult(
        status=outcome.status,
        catalog_id=catalog_id,
        errors=outcome.errors,
        warnings=outcome.warnings,
        handles=outcome.handles,
        sent=len(items),
        deleted=len(deleted),
        reason=outcome.reason,
        detail=outcome.detail,
        transient=outcome.transient,
    )


def _check(
    client: CloudApiClient, catalog_id: str, handles: Sequence[str], errors: dict[str, str], warnings: dict[str, str]
) -> CatalogSyncResult:
    pending: list[str] = []
    for handle in handles:
        try:
            status = client.catalog_batch_status(catalog_id, handle)
        except TransientError:
            pending.append(handle)  # asked again later
            continue
        except CloudApiError as exc:
            return _failed(exc, reason="meta_error", catalog_id=catalog_id)
        if not status.finished:
            pending.append(handle)
            continue
        _merge(errors, status.errors)
        _merge(warnings, status.warnings)
    return CatalogSyncResult(
        status="pending" if pending else "synced",
        catalog_id=catalog_id,
        errors=errors,
        warnings=warnings,
        handles=tuple(pending),
    )


def catalog_sync_check(inbox: Inbox, handles: Sequence[str]) -> CatalogSyncResult:
    channel = _channel(inbox)
    if channel is None or not channel.catalog_id:
        return CatalogSyncResult(status="skipped", reason="no_catalog")
    return _check(client_for(channel), channel.catalog_id, handles, {}, {})
