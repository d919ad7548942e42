"""Reads of the WhatsApp channel: channels (by tenant, by inbox, by webhook key), templates and
stored webhook events. Every tenant-owned read takes ``tenant=`` or an already-fetched channel."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from conversations.models import Inbox
from tenants.models import Tenant
from whatsapp.models import MessageTemplate, WebhookEvent, WhatsAppChannel


def channel_list(*, tenant: Tenant) -> QuerySet[WhatsAppChannel]:
    return WhatsAppChannel.objects.filter(tenant=tenant).select_related("inbox").order_by("id")


def channel_list_with_failures(*, tenant: Tenant) -> QuerySet[WhatsAppChannel]:
    """The tenant's channels, each annotated with ``failed_webhook_events``."""
    return channel_list(tenant=tenant).annotate(
        failed_webhook_events=Count("webhook_events", filter=Q(webhook_events__status=WebhookEvent.Status.FAILED))
    )


def channel_get(*, tenant: Tenant, channel_id: int) -> WhatsAppChannel | None:
    """The tenant's channel ``channel_id``; None when there is none (or it is another tenant's)."""
    return WhatsAppChannel.objects.select_related("inbox").filter(tenant=tenant, pk=channel_id).first()


def channel_for_inbox(*, inbox: Inbox) -> WhatsAppChannel | None:
    """The channel behind ``inbox`` (only what finding its templates needs)."""
    return WhatsAppChannel.objects.filter(inbox=inbox).only("tenant_id", "waba_id").first()


def channel_by_key(*, webhook_key: str) -> WhatsAppChannel | None:
    """The active tenant's channel whose webhook address ends in ``webhook_key`` (the key is the tenant)."""
    return WhatsAppChannel.objects.filter(webhook_key=webhook_key, tenant__active=True).first()


def channel_endpoint_by_key(*, webhook_key: str) -> tuple[Any, ...] | None:
    """``(pk, tenant_id, app_secret_encrypted)`` of the active tenant's channel whose webhook address
    ends in ``webhook_key``; None when there is none. The key is the tenant: no ``tenant=`` here."""
    return (
        WhatsAppChannel.objects.filter(webhook_key=webhook_key, tenant__active=True)
        .values_list("pk", "tenant_id", "app_secret_encrypted")
        .first()
    )


def template_list(*, channel: WhatsAppChannel) -> QuerySet[MessageTemplate]:
    """Every template of the channel's WhatsApp Business account, whatever its status."""
    return MessageTemplate.objects.filter(tenant_id=channel.tenant_id, waba_id=channel.waba_id)


def template_list_approved(*, channel: WhatsAppChannel) -> QuerySet[MessageTemplate]:
    return template_list(channel=channel).filter(status=MessageTemplate.Status.APPROVED).order_by("name", "language")


def template_get(*, channel: WhatsAppChannel, name: str, language: str) -> MessageTemplate | None:
    return template_list(channel=channel).filter(name=name, language=language).first()


def webhook_event_get(*, tenant: Tenant, event_id: int) -> WebhookEvent | None:
    """The tenant's stored webhook event ``event_id``; None when there is none (or it is another tenant's)."""
    return WebhookEvent.objects.select_related("channel").filter(tenant=tenant, pk=event_id).first()


def webhook_event_list(*, tenant: Tenant, status: str) -> QuerySet[WebhookEvent]:
    """The tenant's events in ``status``, newest first, without their bodies."""
    return (
        WebhookEvent.objects.filter(tenant=tenant, status=status)
        .select_related("channel")
        .defer("body")
        .order_by("-created_at", "-id")
    )


def webhook_events_failed_count(*, tenant: Tenant) -> int:
    return WebhookEvent.objects.filter(tenant=tenant, status=WebhookEvent.Status.FAILED).count()
