"""Scheduled messages: a template (or a text, while the reply window will be open) sent to a contact at a set time.

Scheduling checks now what can be checked now (the permission, an approved template and its values, the
reply window at the time of sending); the beat job ``scheduled_messages_send_due`` checks it all again when
it sends, through the core's ``message_send``. Each scheduled message is sent at most once: the job claims it
with a conditional update (scheduled → sending), and sends it with the idempotency key
``scheduled:<id>``, so that the sweeper taking again a claim whose job died sends nothing twice. A message
being sent (claimed) cannot be canceled, and a canceled one is never claimed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from campaigns.models import ScheduledMessage
from conversations import channels
from conversations.actors import (
    Actor,
    AutomationActor,
    SystemActor,
    actor_audit_label,
    actor_audit_label_display,
    actor_audit_record,
    actor_user,
)
from conversations.models import Contact, ContactIdentity, ContactInbox, Conversation, Inbox, Message
from conversations.selectors import conversation_list
from conversations.services.actions import conversation_activity_record
from conversations.services.inbound import contact_inbox_get_or_create, conversation_get_or_open
from conversations.services.outbound import OutboundSpec, message_send, reply_window_closes_at
from helpdesk.exceptions import ApplicationError, Conflict, NotFound, ValidationFailed
from tenants.models import ApiToken, AuditLogEntry, Membership
from tenants.permissions import Perm, require_perm

logger = logging.getLogger(__name__)

ACTOR_KIND = "scheduled_message"
TEXT_MAX = 4096
IDEMPOTENCY_KEY_MAX = 80


class ScheduleIdempotencyMismatch(ApplicationError):
    """The idempotency key already named another scheduled message."""

    code = "idempotency_key_mismatch"
    status_code = 422


class ScheduledMessageNotCancelable(Conflict):
    code = "scheduled_message_not_cancelable"


@dataclass(frozen=True)
class TemplateSpec:
    """An approved template of the inbox's channel, by name and language, and the values that fill it (the
    core's neutral ``params``: ``{"header": [...], "body": [...] | {...}, "buttons": {index: value}}``)."""

    name: str
    language: str
    params: dict[str, Any]


def max_days_ahead() -> int:
    return int(getattr(settings, "SCHEDULED_MESSAGES_MAX_DAYS", 90))


def reclaim_after() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "SCHEDULED_MESSAGES_RECLAIM_SECONDS", 120.0)))


# --- reads ----------------------------------------------------------------------------------------------------


def scheduled_message_list(*, principal: Membership | ApiToken) -> QuerySet[ScheduledMessage]:
    """The workspace's scheduled messages the caller may see: those of contacts in a conversation they may see,
    and those they scheduled themselves."""
    qs = ScheduledMessage.objects.filter(tenant_id=principal.tenant_id).select_related(
        "contact", "inbox", "created_by", "message"
    )
    if principal.has_perm(Perm.VIEW_ALL_CONVERSATIONS) and principal.active:
        return qs
    visible = conversation_list(membership=principal).filter(contact_id=OuterRef("contact_id"))
    mine = Q(created_by_id=principal.user_id) if isinstance(principal, Membership) else Q(pk__in=[])
    return qs.filter(Q(Exists(visible)) | mine)


def scheduled_message_get(*, principal: Membership | ApiToken, scheduled_id: int) -> ScheduledMessage:
    found = scheduled_message_list(principal=principal).filter(pk=scheduled_id).first()
    if found is None:
        raise NotFound(_("No such scheduled message."))
    return found


def scheduled_for_contact(*, tenant_id: int, contact_id: int, inbox_id: int | None = None) -> list[ScheduledMessage]:
    """The contact's messages still to be sent (or being sent), soonest first."""
    qs = ScheduledMessage.objects.filter(
        tenant_id=tenant_id,
        contact_id=contact_id,
        status__in=[ScheduledMessage.Status.SCHEDULED, ScheduledMessage.Status.SENDING],
    ).select_related("created_by", "inbox")
    if inbox_id is not None:
        qs = qs.filter(inbox_id=inbox_id)
    return list(qs.order_by("send_at", "id"))


def scheduled_preview(scheduled: ScheduledMessage) -> str:
    """What the message will say: its text, or the template's name and the values given."""
    if scheduled.kind == "text":
        return scheduled.text
    body = (scheduled.params or {}).get("body")
    values = list(body.values()) if isinstance(body, dict) else list(body) if isinstance(body, list) else []
    shown = ", ".join(str(v.get("text", "")) if isinstance(v, dict) else str(v) for v in values)
    return f"{scheduled.template_name} ({scheduled.template_language})" + (f": {shown}" if shown else "")


def scheduled_by(scheduled: ScheduledMessage) -> str:
    """Who scheduled it, as people read it: the member's name, or the API token's or automation's label."""
    if scheduled.created_by is not None:
        return str(scheduled.created_by.display_name)
    return actor_audit_label_display(scheduled.created_by_label) or scheduled.created_by_label


# --- scheduling -----------------------------------------------------------------------------------------------


def contact_inbox_for(*, contact: Contact, inbox: Inbox) -> ContactInbox:
    """The contact as ``inbox`` knows them; made from their address on the inbox's channel (or their phone
    number) when they never wrote to it."""
    found = ContactInbox.objects.filter(tenant_id=contact.tenant_id, contact=contact, inbox=inbox).first()
    if found is not None:
        return found
    address = (
        ContactIdentity.objects.filter(
            tenant_id=contact.tenant_id, contact=contact, channel_type=inbox.channel_type
        ).values_list("address", flat=True)
    ).first() or (contact.phone_e164 or "").lstrip("+")
    if not address:
        raise ValidationFailed(
            _("This contact has no address in this inbox's channel (no phone number)."), code="contact_unreachable"
        )
    contact_inbox = contact_inbox_get_or_create(inbox=inbox, source_id=address, phone_e164=contact.phone_e164)
    if contact_inbox.contact_id != contact.pk:
        raise ValidationFailed(
            _("This contact's number belongs to another contact in this inbox."), code="contact_unreachable"
        )
    return contact_inbox


def _unresolved_conversation(contact_inbox: ContactInbox) -> Conversation | None:
    return (
        Conversation.objects.filter(tenant_id=contact_inbox.tenant_id, contact_inbox=contact_inbox)
        .exclude(status=Conversation.Status.RESOLVED)
        .select_related("inbox", "contact", "contact_inbox", "tenant")
        .order_by("-id")
        .first()
    )


def _template_find(inbox: Inbox, name: str, language: str) -> dict[str, Any]:
    for template in channels.backend_for(inbox).templates_for(inbox):
        if template.get("name") == name and template.get("language") == language:
            return template
    raise ValidationFailed(
        _("There is no approved template %(name)s in %(language)s in this inbox.")
        % {"name": name, "language": language},
        code="template_not_approved",
        details={"field": "template"},
    )


def _template_values_check(*, contact_inbox: ContactInbox, inbox: Inbox, spec: OutboundSpec) -> None:
    """Have the channel check the template's values now, as it will when sending (consent is checked then)."""
    draft = Conversation(
        tenant_id=inbox.tenant_id, inbox=inbox, contact_id=contact_inbox.contact_id, contact_inbox=contact_inbox
    )
    try:
        channels.backend_for(inbox).prepare_outbound(conversation=draft, spec=spec)
    except ApplicationError as exc:
        if exc.code != "no_marketing_consent":
            raise


def _send_at_check(send_at: datetime, now: datetime) -> None:
    if timezone.is_naive(send_at):
        raise ValidationFailed(_("Give the time with its time zone."), details={"field": "send_at"})
    if send_at <= now:
        raise ValidationFailed(_("The time to send must be in the future."), details={"field": "send_at"})
    if send_at > now + timedelta(days=max_days_ahead()):
        raise ValidationFailed(
            _("A message can be scheduled at most %(days)s days ahead.") % {"days": max_days_ahead()},
            details={"field": "send_at"},
        )


def _same_request(existing: ScheduledMessage, fields: dict[str, Any]) -> bool:
    return all(getattr(existing, key) == value for key, value in fields.items())


def message_schedule(
    *,
    actor: Actor,
    contact: Contact,
    inbox: Inbox,
    send_at: datetime,
    template: TemplateSpec | None = None,
    text: str | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> tuple[ScheduledMessage, bool]:
    """Schedule a template (``template``) or a text (``text``) for ``contact`` through ``inbox`` at ``send_at``.

    Returns the scheduled message and whether it was created: the same ``idempotency_key`` with the same
    request returns the first one; with another request it is refused (422).
    """
    now = now or timezone.now()
    if contact.tenant_id != actor.tenant_id or inbox.tenant_id != actor.tenant_id:
        raise NotFound(_("No such contact or inbox."))
    if (template is None) == (text is None):
        raise ValidationFailed(_("Give either a template or a text."), details={"field": "template"})
    perm = Perm.SEND_TEMPLATES if template is not None else Perm.REPLY
    require_perm(actor, perm, message=_("You do not have permission to send this message."))
    if idempotency_key is not None and not (
        1 <= len(idempotency_key) <= IDEMPOTENCY_KEY_MAX and idempotency_key.isprintable()
    ):
        raise ValidationFailed(_("The idempotency key must be 1 to 80 printable characters long."))
    _send_at_check(send_at, now)
    fields: dict[str, Any] = {"contact_id": contact.pk, "inbox_id": inbox.pk, "send_at": send_at}
    if template is not None:
        if not isinstance(template.params, dict):
            raise ValidationFailed(_("Template values must be a dict with header, body and buttons."))
        fields |= {
            "kind": "template",
            "template_name": template.name,
            "template_language": template.language,
            "params": template.params,
            "text": "",
        }
    else:
        body = (text or "").strip()
        if not body:
            raise ValidationFailed(_("A message cannot be empty."), details={"field": "text"})
        if len(body) > TEXT_MAX:
            raise ValidationFailed(
                _("A message can be %(n)s characters long at most.") % {"n": TEXT_MAX}, details={"field": "text"}
            )
        fields |= {"kind": "text", "template_name": "", "template_language": "", "params": {}, "text": body}
    if idempotency_key:
        existing = ScheduledMessage.objects.filter(tenant_id=actor.tenant_id, idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replay(existing, fields, idempotency_key), False

    contact_inbox = contact_inbox_for(contact=contact, inbox=inbox)
    conversation = _unresolved_conversation(contact_inbox)
    if template is not None:
        _template_find(inbox, template.name, template.language)
        spec = OutboundSpec(
            type=Message.Type.TEMPLATE,
            content={"name": template.name, "language": template.language, "params": template.params},
        )
        _template_values_check(contact_inbox=contact_inbox, inbox=inbox, spec=spec)
    else:
        closes_at = reply_window_closes_at(conversation) if conversation is not None else now
        if closes_at is not None and send_at >= closes_at:
            raise ValidationFailed(
                _(
                    "The customer's reply window will be closed by then: a text can only be sent until %(closes)s. "
                    "Schedule an approved template instead."
                )
                % {"closes": timezone.localtime(closes_at).strftime("%Y-%m-%d %H:%M %Z")},
                code="reply_window_closed_at_send_time",
                details={"field": "send_at", "closes_at": closes_at.isoformat()},
            )
    try:
        with transaction.atomic():
            scheduled = ScheduledMessage.objects.create(
                tenant_id=actor.tenant_id,
                conversation=conversation,
                created_by=actor_user(actor),
                created_by_label=actor_audit_label(actor)[:255],
                idempotency_key=idempotency_key or None,
                **fields,
            )
            actor_audit_record(
                actor,
                action=AuditLogEntry.Action.MESSAGE_SCHEDULED,
                tenant=inbox.tenant,
                target=scheduled,
                target_label=f"{contact.phone_e164 or contact.pk} @ {send_at.isoformat()}",
                extra={"contact_id": contact.pk, "inbox_id": inbox.pk, "kind": fields["kind"]},
            )
    except IntegrityError:
        if not idempotency_key:
            raise
        existing = ScheduledMessage.objects.get(tenant_id=actor.tenant_id, idempotency_key=idempotency_key)
        return _replay(existing, fields, idempotency_key), False
    return scheduled, True


def _replay(existing: ScheduledMessage, fields: dict[str, Any], key: str) -> ScheduledMessage:
    if not _same_request(existing, fields):
        raise ScheduleIdempotencyMismatch(
            _(
                "This idempotency key was already used for a different scheduled message. "
                "Repeat the same request to get it, or use a new key."
            ),
            details={"idempotency_key": key, "scheduled_message_id": existing.pk},
        )
    return existing


def scheduled_message_cancel(*, actor: Actor, scheduled: ScheduledMessage) -> ScheduledMessage:
    """Cancel a message not yet being sent (one being sent, sent or not sent cannot be: 409). Canceling a
    canceled one changes nothing."""
    if scheduled.tenant_id != actor.tenant_id:
        raise NotFound(_("No such scheduled message."))
    perm = Perm.SEND_TEMPLATES if scheduled.kind == "template" else Perm.REPLY
    require_perm(actor, perm, message=_("You do not have permission to cancel this message."))
    with transaction.atomic():
        canceled = ScheduledMessage.objects.filter(
            pk=scheduled.pk, tenant_id=actor.tenant_id, status=ScheduledMessage.Status.SCHEDULED
        ).update(status=ScheduledMessage.Status.CANCELED, updated_at=timezone.now())
        scheduled.refresh_from_db()
        if not canceled:
            if scheduled.status == ScheduledMessage.Status.CANCELED:
                return scheduled
            raise ScheduledMessageNotCancelable(
                _("This message can no longer be canceled: it is %(status)s.")
                % {"status": scheduled.get_status_display().lower()},
                details={"status": scheduled.status},
            )
        actor_audit_record(
            actor,
            action=AuditLogEntry.Action.SCHEDULED_MESSAGE_CANCELED,
            tenant=scheduled.inbox.tenant,
            target=scheduled,
            target_label=f"{scheduled.contact.phone_e164 or scheduled.contact_id} @ {scheduled.send_at.isoformat()}",
            extra={"contact_id": scheduled.contact_id, "inbox_id": scheduled.inbox_id},
        )
    return scheduled


# --- sending --------------------------------------------------------------------------------------------------


def scheduled_messages_send_due(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """The beat job: send the messages that are due, and take again those whose sending job died after
    claiming them. Each is claimed by a conditional update, so concurrent jobs send each once."""
    now = now or timezone.now()
    due = list(
        ScheduledMessage.objects.filter(status=ScheduledMessage.Status.SCHEDULED, send_at__lte=now)
        .order_by("send_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    stale = list(
        ScheduledMessage.objects.filter(
            status=ScheduledMessage.Status.SENDING, claimed_at__lte=now - reclaim_after()
        ).values_list("pk", flat=True)[:limit]
    )
    counts = {"sent": 0, "failed": 0, "skipped": 0, "retaken": 0, "errors": 0}
    for pk, retake in [(pk, False) for pk in due] + [(pk, True) for pk in stale]:
        try:
            outcome = scheduled_message_send(scheduled_id=pk, now=now, retake=retake)
        except Exception:
            # A bug or an outage with one message must not hold up the others; its claim is taken again later.
            logger.exception("Scheduled message %s could not be sent", pk)
            counts["errors"] += 1
            continue
        counts[outcome] += 1
        counts["retaken"] += retake and outcome != "skipped"
    return counts


def _claim(pk: int, now: datetime, *, retake: bool) -> bool:
    if retake:
        qs = ScheduledMessage.objects.filter(
            pk=pk, status=ScheduledMessage.Status.SENDING, claimed_at__lte=now - reclaim_after()
        )
    else:
        qs = ScheduledMessage.objects.filter(pk=pk, status=ScheduledMessage.Status.SCHEDULED, send_at__lte=now)
    return qs.update(status=ScheduledMessage.Status.SENDING, claimed_at=now, updated_at=timezone.now()) == 1


def scheduled_message_send(*, scheduled_id: int, now: datetime | None = None, retake: bool = False) -> str:
    """Claim one due scheduled message and send it; "sent", "failed" or "skipped" (someone else's, canceled)."""
    now = now or timezone.now()
    if not _claim(scheduled_id, now, retake=retake):
        return "skipped"
    scheduled = ScheduledMessage.objects.select_related("tenant", "contact", "inbox", "conversation").get(
        pk=scheduled_id
    )
    with translation.override(scheduled.tenant.locale):
        return _deliver(scheduled)


def _sender(scheduled: ScheduledMessage) -> Actor:
    """Who sends it: the member who scheduled it, while they belong to the workspace (their permission is
    checked again); otherwise the product, as the "scheduled message" automation."""
    if scheduled.created_by_id is not None:
        membership = (
            Membership.objects.select_related("user", "role", "tenant")
            .filter(tenant_id=scheduled.tenant_id, user_id=scheduled.created_by_id, active=True)
            .first()
        )
        if membership is not None:
            return membership
    return AutomationActor(
        tenant_id=scheduled.tenant_id, automation_id=scheduled.pk, name=_("Scheduled message"), kind=ACTOR_KIND
    )


def _spec(scheduled: ScheduledMessage) -> OutboundSpec:
    if scheduled.kind == "text":
        return OutboundSpec(type=Message.Type.TEXT, text=scheduled.text)
    return OutboundSpec(
        type=Message.Type.TEMPLATE,
        content={
            "name": scheduled.template_name,
            "language": scheduled.template_language,
            "params": scheduled.params or {},
        },
    )


def _deliver(scheduled: ScheduledMessage) -> str:
    key = f"scheduled:{scheduled.pk}"
    already = Message.objects.filter(tenant_id=scheduled.tenant_id, idempotency_key=key).first()
    if already is not None:
        # Its job died after the send committed (or the claim was taken again): nothing is sent twice.
        _mark_sent(scheduled, already)
        return "sent"
    conversation: Conversation | None = scheduled.conversation
    try:
        contact_inbox = contact_inbox_for(contact=scheduled.contact, inbox=scheduled.inbox)
        if scheduled.kind == "text":
            current = _unresolved_conversation(contact_inbox)
            if current is None:
                raise ValidationFailed(
                    _(
                        "The customer's reply window is closed. Only an approved message template can be sent until "
                        "they write again."
                    ),
                    code="reply_window_closed",
                )
            conversation = current
        else:
            conversation, _opened = conversation_get_or_open(contact_inbox=contact_inbox)
        with transaction.atomic():
            message, _created = message_send(
                actor=_sender(scheduled), conversation=conversation, spec=_spec(scheduled), idempotency_key=key
            )
            _mark_sent(scheduled, message)
    except ApplicationError as exc:
        _mark_failed(scheduled, conversation, exc)
        return "failed"
    return "sent"


def _mark_sent(scheduled: ScheduledMessage, message: Message) -> None:
    ScheduledMessage.objects.filter(pk=scheduled.pk).update(
        status=ScheduledMessage.Status.SENT,
        message=message,
        conversation_id=message.conversation_id,
        failure="",
        failure_code="",
        updated_at=timezone.now(),
    )


def _mark_failed(scheduled: ScheduledMessage, conversation: Conversation | None, exc: ApplicationError) -> None:
    reason = str(exc.message)[:500]
    with transaction.atomic():
        ScheduledMessage.objects.filter(pk=scheduled.pk).update(
            status=ScheduledMessage.Status.FAILED,
            failure=reason,
            failure_code=exc.code[:40],
            updated_at=timezone.now(),
        )
        if conversation is not None and conversation.pk is not None:
            conversation_activity_record(
                actor=SystemActor(tenant_id=scheduled.tenant_id),
                conversation=conversation,
                text=_("Scheduled message not sent: %(reason)s") % {"reason": reason},
            )
    logger.info("Scheduled message %s not sent: %s", scheduled.pk, exc.code)
