"""Writes of message template authoring: submit a new template to Meta, edit one, delete one.

Each checks the actor's "Manage broadcasts" permission in the channel's workspace, talks to Meta first and
stores the result only once Meta took it (so a refusal or an unreachable Meta leaves nothing half-stored),
and is audited. Meta's refusals (code 100 with a 2388xxx subcode, bad token...) become ``ValidationFailed``
with a sentence for people.
"""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.actors import Actor, actor_audit_record, actor_user
from helpdesk.exceptions import ValidationFailed
from tenants.models import AuditLogEntry
from tenants.permissions import Perm, require_perm
from whatsapp import authoring
from whatsapp.authoring import TemplateDraft
from whatsapp.client import client_for
from whatsapp.errors import CloudApiError, TransientError
from whatsapp.models import MessageTemplate, WhatsAppChannel

logger = logging.getLogger(__name__)

# Meta edits only templates in these statuses (CONTRACT §4).
EDITABLE_STATUSES = (MessageTemplate.Status.APPROVED, MessageTemplate.Status.REJECTED, MessageTemplate.Status.PAUSED)


def _meta_refusal(exc: CloudApiError) -> ValidationFailed:
    """Meta's refusal of a template request as a sentence for the admin who made it."""
    if isinstance(exc, TransientError):
        message = _("Could not reach Meta (%(error)s). Nothing was changed; try again in a moment.") % {
            "error": exc.title or exc.message
        }
        return ValidationFailed(message, code="meta_unreachable")
    known = {
        2388024: _("A template with this name already exists in this language at Meta. Choose another name."),
        2388019: _("This WhatsApp Business Account already has as many templates as Meta allows (250)."),
        2388299: _("The message text must not start or end with a variable."),
        2388040: _("A text of the template is longer than Meta allows."),
    }
    if exc.subcode in known:
        message = known[exc.subcode]
    elif exc.code == 190:
        message = _("Meta refused this number's access token. Connect the number again with a valid token.")
    elif exc.code in (10, 200) or (exc.code is not None and 200 <= exc.code <= 299):
        message = _("The access token of this number may not manage its message templates at Meta.")
    else:
        message = _("Meta refused the template: %(reason)s") % {
            "reason": exc.user_message or exc.details or exc.title or exc.message
        }
    return ValidationFailed(message, code="meta_refused", details={"meta_code": exc.code, "meta_subcode": exc.subcode})


def _sample_type(sample: UploadedFile) -> str:
    return (sample.content_type or mimetypes.guess_type(sample.name or "")[0] or "").split(";")[0].strip()


def _upload_header_sample(channel: WhatsAppChannel, *, content: bytes, file_name: str, file_type: str) -> str:
    """The handle Meta gives the sample file (Resumable Upload API, as the WhatsApp app of this deployment)."""
    app_id = settings.WHATSAPP_APP_ID
    if not app_id:
        raise ValidationFailed(
            _("Media headers need the ID of the deployment's Meta app (the WHATSAPP_APP_ID setting)."),
            code="app_id_missing",
        )
    try:
        return client_for(channel).upload_file(app_id, content, file_name=file_name, file_type=file_type)
    except CloudApiError as exc:
        raise _meta_refusal(exc) from exc


def _read_sample(sample: UploadedFile | None, header_format: str) -> tuple[bytes, str, str] | None:
    if sample is None:
        return None
    file_type = _sample_type(sample)
    authoring.header_sample_check(header_format=header_format, content_type=file_type, size=sample.size or 0)
    sample.seek(0)
    return sample.read(), (sample.name or "sample").rsplit("/", 1)[-1][:100], file_type


def template_submit(
    *,
    actor: Actor,
    channel: WhatsAppChannel,
    draft: TemplateDraft,
    header_sample: UploadedFile | None = None,
    request: Any = None,
) -> MessageTemplate:
    """Submit a new template for Meta's review; returns the stored template (PENDING, or as Meta answered)."""
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=channel.tenant_id)
    media = draft.header_format in authoring.MEDIA_HEADER_FORMATS and draft.category != "AUTHENTICATION"
    sample = _read_sample(header_sample, draft.header_format) if media else None
    authoring.draft_validate(draft, has_header_sample=sample is not None)
    taken = MessageTemplate.objects.filter(
        tenant_id=channel.tenant_id, waba_id=channel.waba_id, name=draft.name, language=draft.language
    ).exclude(status=MessageTemplate.Status.DELETED)
    if taken.exists():
        message = _("A template named %(name)s already exists in %(language)s.") % {
            "name": draft.name,
            "language": draft.language,
        }
        raise ValidationFailed(message, code="template_exists", details={"name": [message]})
    if sample is not None:
        content, file_name, file_type = sample
        draft = replace(
            draft,
            header_handle=_upload_header_sample(channel, content=content, file_name=file_name, file_type=file_type),
        )
    payload = authoring.create_payload(draft)
    try:
        answer = client_for(channel).create_template(channel.waba_id, payload)
    except CloudApiError as exc:
        raise _meta_refusal(exc) from exc
    meta_id = str(answer.get("id") or "")
    if not meta_id:
        raise ValidationFailed(_("Meta did not confirm the template. Sync the templates to see whether it arrived."))
    with transaction.atomic():
        template, _created = MessageTemplate.objects.update_or_create(
            tenant_id=channel.tenant_id,
            waba_id=channel.waba_id,
            name=draft.name,
            language=draft.language,
            defaults={
                "meta_id": meta_id,
                "category": str(answer.get("category") or draft.category),
                "status": str(answer.get("status") or MessageTemplate.Status.PENDING),
                "components": payload["components"],
                "parameter_format": draft.parameter_format,
                "status_reason": "",
                "status_event": "",
                "status_detail": "",
                "quality_score": "",
                "submitted_by": actor_user(actor),
            },
        )
        if sample is not None:
            template.header_sample.save(sample[1], ContentFile(sample[0]), save=True)
        elif template.header_sample:
            template.header_sample.delete(save=True)
        actor_audit_record(
            actor,
            action=AuditLogEntry.Action.TEMPLATE_SUBMITTED,
            tenant=channel.tenant,
            target=template,
            target_label=str(template),
            request=request,
            extra={"channel_id": channel.pk, "category": template.category, "status": template.status},
        )
    return template


def _stored_sample(template: MessageTemplate) -> tuple[bytes, str, str] | None:
    if not template.header_sample:
        return None
    with template.header_sample.open("rb") as handle:
        content = handle.read()
    file_name = (template.header_sample.name or "sample").rsplit("/", 1)[-1]
    return content, file_name, mimetypes.guess_type(file_name)[0] or ""


def _stored_header_format(template: MessageTemplate) -> str:
    for component in template.components or []:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == "HEADER":
            return str(component.get("format", "TEXT")).upper()
    return "NONE"


def template_edit(
    *,
    actor: Actor,
    template: MessageTemplate,
    channel: WhatsAppChannel,
    draft: TemplateDraft,
    header_sample: UploadedFile | None = None,
    request: Any = None,
) -> MessageTemplate:
    """Change an approved, rejected or paused template's components and category (Meta reviews it again);
    its name and language stay. A media header keeps its stored sample unless another is given."""
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=channel.tenant_id)
    if template.tenant_id != channel.tenant_id or template.waba_id != channel.waba_id:
        raise ValidationFailed(_("This template is not one of this number's."))
    if template.status not in EDITABLE_STATUSES or not template.meta_id:
        raise ValidationFailed(
            _("Meta lets you edit only approved, rejected or paused templates; this one is %(status)s.")
            % {"status": template.status_display},
            code="template_not_editable",
        )
    draft = replace(draft, name=template.name, language=template.language)
    media = draft.header_format in authoring.MEDIA_HEADER_FORMATS and draft.category != "AUTHENTICATION"
    sample = _read_sample(header_sample, draft.header_format) if media else None
    kept = None
    if media and sample is None and _stored_header_format(template) == draft.header_format:
        kept = _stored_sample(template)
    authoring.draft_validate(draft, has_header_sample=(sample or kept) is not None)
    upload = sample or kept
    if upload is not None:
        # Handles expire, so even a kept sample is uploaded again.
        draft = replace(
            draft,
            header_handle=_upload_header_sample(channel, content=upload[0], file_name=upload[1], file_type=upload[2]),
        )
    payload = authoring.edit_payload(draft)
    try:
        client_for(channel).edit_template(template.meta_id, payload)
    except CloudApiError as exc:
        raise _meta_refusal(exc) from exc
    with transaction.atomic():
        template.components = payload["components"]
        template.category = draft.category
        template.status = MessageTemplate.Status.PENDING
        template.status_reason = ""
        template.status_event = ""
        template.status_detail = ""
        template.save(
            update_fields=[
                "components",
                "category",
                "status",
                "status_reason",
                "status_event",
                "status_detail",
                "updated_at",
            ]
        )
        if sample is not None:
            template.header_sample.save(sample[1], ContentFile(sample[0]), save=True)
        elif not media and template.header_sample:
            template.header_sample.delete(save=True)
        actor_audit_record(
            actor,
            action=AuditLogEntry.Action.TEMPLATE_EDITED,
            tenant=channel.tenant,
            target=template,
            target_label=str(template),
            request=request,
            extra={"channel_id": channel.pk, "category": template.category},
        )
    return template


def template_delete(
    *, actor: Actor, template: MessageTemplate, channel: WhatsAppChannel, request: Any = None
) -> MessageTemplate:
    """Delete a template at Meta (this language only) and mark it deleted here (it is no longer offered)."""
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=channel.tenant_id)
    if template.tenant_id != channel.tenant_id or template.waba_id != channel.waba_id:
        raise ValidationFailed(_("This template is not one of this number's."))
    if template.status == MessageTemplate.Status.DELETED:
        return template
    try:
        client_for(channel).delete_template(channel.waba_id, template.name, template.meta_id)
    except CloudApiError as exc:
        raise _meta_refusal(exc) from exc
    with transaction.atomic():
        MessageTemplate.objects.filter(pk=template.pk).update(
            status=MessageTemplate.Status.DELETED, updated_at=timezone.now()
        )
        template.status = MessageTemplate.Status.DELETED
        actor_audit_record(
            actor,
            action=AuditLogEntry.Action.TEMPLATE_DELETED,
            tenant=channel.tenant,
            target=template,
            target_label=str(template),
            request=request,
            extra={"channel_id": channel.pk, "meta_id": template.meta_id},
        )
    return template
