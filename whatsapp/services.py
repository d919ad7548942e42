"""Writes of the WhatsApp channel: connecting numbers, checking them, templates, media, events."""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.content import (
    CatalogContent,
    OrderStatusContent,
    PaymentRequestContent,
    ProductContent,
    ProductListContent,
    content_from_dict,
)
from conversations.media import is_media
from conversations.models import Attachment, Contact, Conversation, Inbox, Message
from conversations.services.delivery import backoff_seconds
from conversations.services.delivery_status import pending_statuses_purge
from conversations.services.events import publish_message_event
from helpdesk.exceptions import ApplicationError, Conflict, NotFound, ValidationFailed
from tenants.models import AuditLogEntry, Membership
from tenants.permissions import Perm, require_perm
from tenants.services import audit_log_record
from whatsapp import messaging_limits, outbound_payloads, processing, selectors, templates_validation
from whatsapp.client import client_for, cloud_api_client
from whatsapp.content import INTERACTIVE_STYLES as INTERACTIVE_TYPES
from whatsapp.content import content_from_meta
from whatsapp.coordination import run_later, task
from whatsapp.errors import CloudApiError, MediaRefused, PermanentError, TransientError
from whatsapp.limits import media_max_bytes
from whatsapp.models import MessageTemplate, WebhookEvent, WhatsAppChannel
from whatsapp.sender import order_status_payload, payment_request_payload, product_payload

logger = logging.getLogger(__name__)


def _connection_detail(info: dict[str, Any], display_phone_number: str) -> str:
    return _("Connected as %(name)s (%(number)s), quality %(quality)s.") % {
        "name": str(info.get("verified_name", "")) or "?",
        "number": info.get("display_phone_number", display_phone_number),
        "quality": info.get("quality_rating", "UNKNOWN"),
    }


def _phone_number_read(*, phone_number_id: str, access_token: str) -> dict[str, Any]:
    """The phone number as Meta shows it to this token; refuses a token that cannot read it.

    Connecting a number proves access to it this way, so no workspace can claim a phone number id
    it does not hold (and so block its owner from connecting it).
    """
    refused = _(
        "Meta did not let this access token read phone number id %(id)s. Check the id and that the "
        "token's system user has access to the number's WhatsApp Business Account."
    ) % {"id": phone_number_id}
    try:
        with cloud_api_client(access_token) as api:
            info = api.get_phone_number(phone_number_id)
    except TransientError as exc:
        raise ValidationFailed(
            _("Could not reach Meta to check the number (%(error)s). Try again in a moment.") % {"error": exc},
            code="phone_number_unverified",
        ) from exc
    except CloudApiError as exc:
        raise ValidationFailed(refused, code="phone_number_unverified") from exc
    if str(info.get("id", "")) != phone_number_id:
        raise ValidationFailed(refused, code="phone_number_unverified")
    return info


def channel_create(
    *,
    actor: Membership,
    name: str,
    display_phone_number: str,
    phone_number_id: str,
    waba_id: str,
    access_token: str,
    app_secret: str,
    throughput_per_second: int = 80,
    request: Any = None,
    verify: bool = True,
) -> WhatsAppChannel:
    """Connect a number: its inbox, its encrypted secrets, and a fresh webhook address.

    The access token must read the number at Meta first (``verify``); only seeds of the fake Cloud
    API, benchmarks and tests that are not about connecting pass ``verify=False``.
    """
    require_perm(actor, Perm.MANAGE_CHANNELS)
    digits = "".join(ch for ch in display_phone_number if ch.isdigit())
    # One whole sentence per field: a translation agrees its words with the field's name.
    if not phone_number_id.isdigit():
        raise ValidationFailed(_("The phone number ID must contain digits only."))
    if not waba_id.isdigit():
        raise ValidationFailed(_("The WhatsApp Business Account ID must contain digits only."))
    if len(digits) < 8:
        raise ValidationFailed(_("Enter the number with country and area code, e.g. +55 11 91234-5678."))
    if not access_token.strip() or not app_secret.strip():
        raise ValidationFailed(_("The access token and the app secret are both required."))
    if not 1 <= throughput_per_second <= 1000:
        raise ValidationFailed(_("Throughput must be between 1 and 1000 messages per second."))
    # Checked before anything else is looked up: without access to the number, nothing about it is told.
    info = _phone_number_read(phone_number_id=phone_number_id, access_token=access_token.strip()) if verify else None
    # The same answer whichever workspace holds the number, this one included.
    already = _("This phone number id is already connected.")
    if WhatsAppChannel.objects.filter(phone_number_id=phone_number_id).exists():
        raise Conflict(already)
    try:
        with transaction.atomic():
            return _channel_insert(
                actor=actor,
                name=name,
                digits=digits,
                phone_number_id=phone_number_id,
                waba_id=waba_id,
                access_token=access_token,
                app_secret=app_secret,
                throughput_per_second=throughput_per_second,
                info=info,
                request=request,
            )
    except IntegrityError as exc:  # connected by a concurrent request since the check above
        raise Conflict(already) from exc


def _channel_insert(
    *,
    actor: Membership,
    name: str,
    digits: str,
    phone_number_id: str,
    waba_id: str,
    access_token: str,
    app_secret: str,
    throughput_per_second: int,
    info: dict[str, Any] | None,
    request: Any,
) -> WhatsAppChannel:
    inbox = Inbox.objects.create(tenant=actor.tenant, name=name.strip() or f"+{digits}", channel_type="whatsapp")
    inbox.members.set(Membership.objects.filter(tenant=actor.tenant, active=True).values_list("user_id", flat=True))
    channel = WhatsAppChannel(
        tenant=actor.tenant,
        inbox=inbox,
        display_phone_number=digits,
        phone_number_id=phone_number_id,
        waba_id=waba_id,
        api_version=settings.WHATSAPP_API_VERSION,
        throughput_per_second=throughput_per_second,
    )
    if info is not None:
        channel.health = WhatsAppChannel.Health.OK
        channel.health_detail = _connection_detail(info, digits)[:500]
        channel.health_checked_at = timezone.now()
        channel.verified_name = str(info.get("verified_name", ""))[:255]
    channel.access_token = access_token.strip()
    channel.app_secret = app_secret.strip()
    channel.save()
    audit_log_record(
        action=AuditLogEntry.Action.CHANNEL_CONNECTED,
        tenant=actor.tenant,
        actor=actor.user,
        target=channel,
        request=request,
        extra={"phone_number_id": phone_number_id, "display_phone_number": digits},
    )
    transaction.on_commit(lambda: task("templates_sync").delay(channel.pk))
    transaction.on_commit(lambda: task("channel_limits_refresh").delay(channel.pk))
    return channel


# What a check reads: the connection, and the messaging limit and quality campaigns pace by.
CHECK_FIELDS = ("verified_name", "display_phone_number", "id", *messaging_limits.PHONE_FIELDS)


def channel_check(*, channel: WhatsAppChannel) -> tuple[bool, str]:
    """GET the phone number from the Cloud API and record whether the connection works."""
    try:
        info = client_for(channel).get_phone_number(channel.phone_number_id, fields=CHECK_FIELDS)
    except CloudApiError as exc:
        detail = f"{exc.code or ''} {exc.title or exc}".strip()
        WhatsAppChannel.objects.filter(pk=channel.pk).update(
            health=WhatsAppChannel.Health.ERROR, health_detail=detail[:500], health_checked_at=timezone.now()
        )
        return False, detail
    verified = str(info.get("verified_name", ""))
    detail = _connection_detail(info, channel.display_phone_number)
    WhatsAppChannel.objects.filter(pk=channel.pk).update(
        health=WhatsAppChannel.Health.OK,
        health_detail=detail[:500],
        health_checked_at=timezone.now(),
        verified_name=verified[:255],
    )
    messaging_limits.channel_limits_store(channel=channel, info=info)
    return True, detail


def templates_sync(*, channel: WhatsAppChannel) -> int:
    """Bring the WABA's templates into ``MessageTemplate`` (all pages). Returns how many were seen.

    Once every page was read, templates Meta no longer lists are marked deleted (they are neither
    offered nor sent); a sync that fails part way (the client raises) leaves them as they were.
    """
    seen = 0
    listed: set[tuple[str, str]] = set()
    for item in client_for(channel).list_templates(channel.waba_id):
        seen += 1
        listed.add((item["name"], item.get("language", "")))
        MessageTemplate.objects.update_or_create(
            tenant_id=channel.tenant_id,
            waba_id=channel.waba_id,
            name=item["name"],
            language=item.get("language", ""),
            defaults={
                "meta_id": str(item.get("id", "")),
                "category": item.get("category", ""),
                "status": item.get("status", MessageTemplate.Status.PENDING),
                "components": item.get("components", []),
                "parameter_format": item.get("parameter_format", "POSITIONAL"),
            },
        )
    ours = MessageTemplate.objects.filter(tenant_id=channel.tenant_id, waba_id=channel.waba_id).exclude(
        status=MessageTemplate.Status.DELETED
    )
    gone = [pk for pk, name, language in ours.values_list("pk", "name", "language") if (name, language) not in listed]
    if gone:
        MessageTemplate.objects.filter(pk__in=gone).update(
            status=MessageTemplate.Status.DELETED, updated_at=timezone.now()
        )
    WhatsAppChannel.objects.filter(pk=channel.pk).update(templates_synced_at=timezone.now())
    return seen


def _media_refusal(exc: MediaRefused, *, kind: str) -> str:
    """What agents read on a media download we refused (the file is not stored)."""
    if exc.reason == "too_large" and exc.limit is not None:
        return _("The file is larger than WhatsApp's limit of %(limit)s for %(kind)s; it was not downloaded.") % {
            "limit": filesizeformat(exc.limit),
            "kind": kind,
        }
    return _("The media address Meta gave is not allowed (%(reason)s); the file was not downloaded.") % {
        "reason": exc.reason
    }


def attachment_download(*, attachment_id: int) -> str:
    """Fetch an inbound media file through the two-hop media API and store it.

    Only files within WhatsApp's size limit for their kind, from allowed media hosts, are stored; a
    refused one is recorded on the attachment as a failed download with the reason.
    """
    attachment = Attachment.objects.select_related("message__inbox__whatsapp_channel").get(pk=attachment_id)
    if attachment.download_status == Attachment.DownloadStatus.STORED:
        return "already-stored"
    channel = attachment.message.inbox.whatsapp_channel
    client = client_for(channel)
    animated = bool((attachment.message.content or {}).get("animated"))
    max_bytes = media_max_bytes(attachment.kind, animated=animated)
    try:
        info = client.get_media(attachment.external_media_id)
        if info.file_size is not None and info.file_size > max_bytes:
            raise MediaRefused(
                f"Meta announced {info.file_size} bytes, over the limit of {max_bytes}.",
                reason="too_large",
                limit=max_bytes,
            )
        content = client.download_media(info.url, max_bytes=max_bytes)
    except TransientError as exc:
        Attachment.objects.filter(pk=attachment.pk).update(download_error=str(exc)[:500])
        run_later(task("attachment_download"), attachment.pk, 30)
        return "retry"
    except MediaRefused as exc:
        logger.warning("Media of attachment %s refused: %s", attachment.pk, exc)
        Attachment.objects.filter(pk=attachment.pk).update(
            download_status=Attachment.DownloadStatus.FAILED,
            download_error=_media_refusal(exc, kind=attachment.kind)[:500],
        )
        _publish_updated(attachment.message)
        return "refused"
    except PermanentError as exc:
        Attachment.objects.filter(pk=attachment.pk).update(
            download_status=Attachment.DownloadStatus.FAILED, download_error=str(exc)[:500]
        )
        _publish_updated(attachment.message)
        return "failed"
    extension = mimetypes.guess_extension((info.mime_type or "").split(";")[0].strip()) or ""
    name = attachment.filename or f"{attachment.external_media_id}{extension}"
    attachment.file.save(name, ContentFile(content), save=False)
    Attachment.objects.filter(pk=attachment.pk).update(
        file=attachment.file.name,
        file_size=len(content),
        mime_type=attachment.mime_type or info.mime_type,
        download_status=Attachment.DownloadStatus.STORED,
        download_error="",
    )
    _publish_updated(attachment.message)
    return "stored"


def _publish_updated(message: Message) -> None:
    with transaction.atomic():
        publish_message_event("message.updated", message)


# A read receipt is a courtesy: tried a few times with backoff (seconds apart), then let go.
READ_RECEIPT_ATTEMPTS = 4


def message_mark_read(*, message_id: int, attempt: int = 1) -> str:
    """Blue ticks on the customer's phone for an inbound message (Meta marks the earlier ones read too).

    Transient failures are tried again with backoff; anything else is logged and dropped, since no
    one waits on a receipt. Returns what happened (for logs and tests).
    """
    message = (
        Message.objects.select_related("inbox__whatsapp_channel")
        .filter(pk=message_id, direction=Message.Direction.INBOUND)
        .first()
    )
    if message is None or not message.external_id:
        return "skipped"
    channel: WhatsAppChannel = message.inbox.whatsapp_channel
    try:
        client_for(channel).mark_read(channel.phone_number_id, message.external_id)
    except TransientError as exc:
        if attempt >= READ_RECEIPT_ATTEMPTS:
            logger.warning("Read receipt for message %s given up after %s attempts: %s", message.pk, attempt, exc)
            return "failed"
        run_later(task("message_mark_read"), message.pk, backoff_seconds(attempt, exc.retry_after), attempt=attempt + 1)
        return "retry"
    except CloudApiError as exc:
        logger.warning("Read receipt for message %s refused by the Cloud API: %s", message.pk, exc)
        return "failed"
    return "read"


def outbound_prepare(*, conversation: Conversation, spec: Any) -> dict[str, Any]:
    """Validate an outbound message for WhatsApp; returns the ``text``, the neutral ``content`` and the
    ``raw`` request parts (a template's components) to store."""
    channel: WhatsAppChannel = conversation.inbox.whatsapp_channel
    to = conversation.contact_inbox.source_id
    content = dict(spec.content or {})
    try:
        if spec.type == Message.Type.TEXT:
            outbound_payloads.text(to, spec.text)
            return _prepared(spec.type, content, spec.text)
        if spec.type == Message.Type.TEMPLATE:
            return _template_prepare(channel=channel, conversation=conversation, content=content)
        if is_media(spec.type):
            link = content.get("link")
            if spec.upload is None and not link:
                raise ValidationFailed(_("Attach a file (or give a link) to send this %(type)s.") % {"type": spec.type})
            if spec.upload is not None and link:
                raise ValidationFailed(_("Attach a file or give a link, not both."))
            # Checked now, not at delivery: a link is an http(s) URL, and a caption or a file name is
            # only given where WhatsApp takes one (an upload's media id comes at delivery).
            outbound_payloads.media(
                to,
                spec.type,
                media_id=None if link else "upload",
                link=link or None,
                caption=spec.text or None,
                filename=content.get("filename"),
            )
            return _prepared(spec.type, content, spec.text)
        if spec.type == Message.Type.REACTION:
            target = content.get("message_id") or ""
            if not isinstance(target, str):
                raise ValidationFailed(_("content.message_id must be the WhatsApp id of a message, as text."))
            if not Message.objects.filter(inbox_id=conversation.inbox_id, external_id=target).exists():
                raise NotFound(_("The message to react to does not exist in this conversation."))
            outbound_payloads.reaction(to, target, content.get("emoji", ""))
            return _prepared(spec.type, content, content.get("emoji", ""))
        if spec.type == Message.Type.INTERACTIVE:
            kind = content.get("interactive_type")
            if not isinstance(kind, str) or kind not in INTERACTIVE_TYPES:
                raise ValidationFailed(
                    _("content.interactive_type must be one of: %(types)s.") % {"types": ", ".join(INTERACTIVE_TYPES)}
                )
            buttons = content.get("buttons")
            if kind == "button" and not (isinstance(buttons, list) and all(isinstance(b, dict) for b in buttons)):
                raise ValidationFailed(_('content.buttons must be a list of {"id", "title"} objects.'))
            _interactive_check(to, kind, content)
            return _prepared(spec.type, content, content.get("body", ""))
        if spec.type in (Message.Type.PAYMENT_REQUEST, Message.Type.ORDER_STATUS):
            return _payment_message_prepare(to, spec)
        if spec.type in PRODUCT_TYPES:
            return _product_message_prepare(to, channel, spec)
        if spec.type == Message.Type.LOCATION:
            outbound_payloads.location(
                to, content["latitude"], content["longitude"], name=content.get("name"), address=content.get("address")
            )
            return _prepared(spec.type, content, content.get("name") or "")
    except (outbound_payloads.PayloadError, KeyError, TypeError) as exc:
        raise ValidationFailed(str(exc) if not isinstance(exc, KeyError) else _("Missing field %s.") % exc) from exc
    raise ValidationFailed(_("Messages of type %(type)s cannot be sent on WhatsApp.") % {"type": spec.type})


def _prepared(message_type: str, asked: dict[str, Any], text: str, raw: Any = None) -> dict[str, Any]:
    """What to store of a checked request: its text, its neutral content, and Meta's parts it needs at delivery."""
    return {"text": text, "content": content_from_meta(message_type, asked, text=text).to_dict(), "raw": raw}


def _payment_message_prepare(to: str, spec: Any) -> dict[str, Any]:
    """A payment request or an order status, its neutral content already checked by the core: built into
    Meta's request now, so that what WhatsApp would refuse is refused before it is queued."""
    content = content_from_dict(spec.content)
    if isinstance(content, PaymentRequestContent):
        earliest = timezone.now().timestamp() + outbound_payloads.MIN_ORDER_EXPIRY_SECONDS
        if content.expires_at is not None and content.expires_at < earliest:
            raise ValidationFailed(
                _("expires_at must be at least %(minutes)s minutes from now: WhatsApp refuses an earlier expiry.")
                % {"minutes": outbound_payloads.MIN_ORDER_EXPIRY_SECONDS // 60}
            )
        payment_request_payload(to, content)
    elif isinstance(content, OrderStatusContent):
        order_status_payload(to, content)
    else:
        raise ValidationFailed(_("The content is not a payment request or an order status."))
    return {"text": spec.text, "content": spec.content, "raw": None}


PRODUCT_TYPES = (Message.Type.PRODUCT, Message.Type.PRODUCT_LIST, Message.Type.CATALOG)


def _product_message_prepare(to: str, channel: WhatsAppChannel, spec: Any) -> dict[str, Any]:
    """A product, a product list or the catalog, its neutral content already checked by the core: refused
    when the number has no catalog connected, else built into Meta's request now (COMMERCE §2)."""
    if not channel.catalog_id:
        raise ValidationFailed(
            _(
                "This WhatsApp number has no catalog connected: connect the catalog's id to the number in its "
                "settings before sending products."
            ),
            code="catalog_missing",
        )
    content = content_from_dict(spec.content)
    if not isinstance(content, ProductContent | ProductListContent | CatalogContent):
        raise ValidationFailed(_("The content is not a product, a product list or a catalog."))
    product_payload(to, content, catalog_id=channel.catalog_id)
    return {"text": spec.text, "content": spec.content, "raw": None}


def _interactive_check(to: str, kind: str, content: dict[str, Any]) -> None:
    """Build Meta's request from what was asked, so that a broken limit is refused now, naming the field."""
    common = {"header": content.get("header"), "footer": content.get("footer")}
    if kind == "button":
        buttons = [(b["id"], b["title"]) for b in content["buttons"]]
        outbound_payloads.interactive_buttons(to, content["body"], buttons, **common)
    elif kind == "list":
        outbound_payloads.interactive_list(to, content["body"], content["button"], content["sections"], **common)
    else:
        outbound_payloads.interactive_cta_url(to, content["body"], content["display_text"], content["url"], **common)


def marketing_consent_check(*, conversation: Conversation, category: str, consent: str | None = None) -> None:
    """A template of Meta's marketing category goes only to a contact whose current answer is an opt-in
    (``consent``: that answer, when the caller read it with others')."""
    if category != MessageTemplate.Category.MARKETING:
        return
    if consent is None:
        consent = (
            Contact.objects.filter(tenant_id=conversation.tenant_id, pk=conversation.contact_id)
            .values_list("marketing_consent", flat=True)
            .first()
        )
    if consent != Contact.MarketingConsent.OPTED_IN:
        raise ValidationFailed(
            _(
                "%(contact)s has not agreed to receive marketing messages: a marketing template needs their opt-in. "
                "Send a utility template, or record their consent first."
            )
            % {"contact": conversation.contact.display_name},
            code="no_marketing_consent",
        )


class _ManyTemplates:
    """What preparing many templates reads once: each template (by channel, name and language) and the
    contacts' marketing answers."""

    def __init__(self, consents: dict[int, str]) -> None:
        self.templates: dict[tuple[int, str, str], MessageTemplate | None] = {}
        self.consents = consents

    def template(self, channel: WhatsAppChannel, name: str, language: str) -> MessageTemplate | None:
        key = (channel.pk, name, language)
        if key not in self.templates:
            self.templates[key] = selectors.template_get(channel=channel, name=name, language=language)
        return self.templates[key]


def outbound_prepare_many(*, items: Sequence[tuple[Conversation, Any]]) -> list[dict[str, Any] | ApplicationError]:
    """``outbound_prepare`` for many messages (a broadcast's): each template is read once and the contacts'
    marketing answers in one query. Each result is what to store, or the error that refuses that message."""
    contacts = {conversation.contact_id for conversation, spec in items if spec.type == Message.Type.TEMPLATE}
    tenants = {conversation.tenant_id for conversation, _spec in items}
    consents = (
        dict(Contact.objects.filter(tenant_id__in=tenants, pk__in=contacts).values_list("pk", "marketing_consent"))
        if contacts
        else {}
    )
    reads = _ManyTemplates(consents)
    results: list[dict[str, Any] | ApplicationError] = []
    for conversation, spec in items:
        try:
            if spec.type == Message.Type.TEMPLATE:
                results.append(
                    _template_prepare(
                        channel=conversation.inbox.whatsapp_channel,
                        conversation=conversation,
                        content=dict(spec.content or {}),
                        reads=reads,
                    )
                )
            else:
                results.append(outbound_prepare(conversation=conversation, spec=spec))
        except ApplicationError as exc:
            results.append(exc)
    return results


def _template_prepare(
    *,
    channel: WhatsAppChannel,
    conversation: Conversation,
    content: dict[str, Any],
    reads: _ManyTemplates | None = None,
) -> dict[str, Any]:
    name, language = content.get("name"), content.get("language")
    if not (isinstance(name, str) and name and isinstance(language, str) and language):
        raise ValidationFailed(_("Give the template's name and language, as text."))
    if reads is None:
        template = selectors.template_get(channel=channel, name=name, language=language)
    else:
        template = reads.template(channel, name, language)
    if template is None:
        raise NotFound(_("There is no template %(name)s in %(language)s.") % {"name": name, "language": language})
    if template.status != MessageTemplate.Status.APPROVED:
        raise ValidationFailed(
            _("Template %(name)s is %(status)s; only approved templates can be sent.")
            % {
                "name": name,
                "status": template.get_status_display() if hasattr(template, "get_status_display") else template.status,
            }
        )
    marketing_consent_check(
        conversation=conversation,
        category=template.category,
        consent=reads.consents.get(conversation.contact_id) if reads is not None else None,
    )
    params = content.get("params") or {}
    try:
        components = templates_validation.build_components(template.components, template.parameter_format, params)
        preview = templates_validation.render_preview(template.components, params)
    except templates_validation.TemplateParamError as exc:
        raise ValidationFailed(str(exc), code="template_params_invalid") from exc
    asked = {
        "name": name,
        "language": language,
        "params": params,
        "components": components,
        "category": template.category,
    }
    return _prepared(Message.Type.TEMPLATE, asked, preview, raw={"components": components})


def webhook_events_sweep() -> dict[str, int]:
    """Re-enqueue events that stayed pending (their job was lost), and delete delivery statuses that
    waited longer than ``WHATSAPP_PENDING_STATUS_MAX_AGE_DAYS`` for their message."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.WHATSAPP_WEBHOOK_SWEEP_AFTER_SECONDS)
    ids = list(
        WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING, created_at__lte=cutoff).values_list(
            "pk", flat=True
        )[:5000]
    )
    for pk in ids:
        task("webhook_event_process").delay(pk)
    purged = pending_statuses_purge(older_than=now - timedelta(days=settings.WHATSAPP_PENDING_STATUS_MAX_AGE_DAYS))
    return {"requeued": len(ids), "pending_statuses_purged": purged}


def attachments_download_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Ask again for customers' files still waiting for their download: their job was lost, or the
    broker was down when the webhook's batch committed. Returns how many were asked for."""
    now = now or timezone.now()
    waiting = Attachment.objects.filter(
        download_status=Attachment.DownloadStatus.PENDING,
        created_at__lte=now - timedelta(seconds=settings.WHATSAPP_ATTACHMENT_SWEEP_AFTER_SECONDS),
        created_at__gte=now - timedelta(days=settings.WHATSAPP_ATTACHMENT_SWEEP_MAX_AGE_DAYS),
        message__direction=Message.Direction.INBOUND,
        message__inbox__channel_type="whatsapp",
    ).exclude(external_media_id="")
    ids = list(waiting.order_by("created_at").values_list("pk", flat=True)[:limit])
    for pk in ids:
        task("attachment_download").delay(pk)
    return len(ids)


def webhook_event_reprocess(*, actor: Membership, event: WebhookEvent, request: Any = None) -> WebhookEvent:
    """An admin asks to process a failed event again (after a fix or a new channel)."""
    require_perm(actor, Perm.MANAGE_CHANNELS)
    if event.tenant_id != actor.tenant_id:
        raise NotFound(_("No such webhook event."))
    if event.status == WebhookEvent.Status.PROCESSED:
        raise Conflict(_("This event was already processed."))
    WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookEvent.Status.PENDING, error="")
    audit_log_record(
        action=AuditLogEntry.Action.WEBHOOK_REPROCESSED,
        tenant=actor.tenant,
        actor=actor.user,
        target=event,
        request=request,
    )
    return processing.webhook_event_process(event_id=event.pk)
