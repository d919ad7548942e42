"""The file an inbox's greeting or away message may carry: an image, a video or a PDF, sent with the
message's wording as its caption.

One file per message kind and inbox, stored on the inbox's ``GreetingSettings`` (``greeting_media``,
``away_media``). Only types and sizes every WhatsApp number can send are taken, and a wording longer
than a caption may be is refused while a file is set (and a file while such a wording is). Needs
"Manage automations"; audited as a change of the inbox's greeting and away settings (the file's name,
never its bytes).
"""

from __future__ import annotations

import mimetypes
import os
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _

from automations.greeting_services import caption_check, text_key
from automations.models import AutomatedMessage, GreetingSettings
from conversations.actors import actor_audit_record
from conversations.media import stored_copy
from conversations.models import CustomerTextVariant, Inbox
from helpdesk.exceptions import NotFound, ValidationFailed
from tenants.models import ApiToken, AuditLogEntry, Membership
from tenants.permissions import Perm, require_perm

Actor = Membership | ApiToken
Kind = AutomatedMessage.Kind

_MB = 1024 * 1024
# MIME type -> the kind of message it is sent as; WhatsApp's caps for each kind (images 5 MB, videos
# 16 MB; documents may be larger, but a greeting has no use for more).
MEDIA_TYPES: dict[str, str] = {
    "image/jpeg": "image",
    "image/png": "image",
    "video/mp4": "video",
    "application/pdf": "document",
}
MEDIA_MAX_BYTES: dict[str, int] = {"image": 5 * _MB, "video": 16 * _MB, "document": 16 * _MB}


def media_field(kind: str) -> str:
    """The ``GreetingSettings`` field holding this message kind's file."""
    if kind not in (Kind.GREETING, Kind.AWAY):
        raise ValidationFailed(
            _("Unknown message “%(value)s”: greeting or away.") % {"value": kind}, details={"field": "kind"}
        )
    return f"{kind}_media"


def media_kind(name: str) -> str:
    """The kind of message a stored file is sent as (``image``, ``video``, ``document``)."""
    guessed, _encoding = mimetypes.guess_type(name)
    return MEDIA_TYPES.get(guessed or "", "document")


def media_check(upload: UploadedFile, *, field: str) -> str:
    """The message kind the upload is sent as, or ``ValidationFailed`` naming ``field``."""
    guessed, _encoding = mimetypes.guess_type(upload.name or "")
    declared = getattr(upload, "content_type", None) or guessed
    if guessed not in MEDIA_TYPES or declared not in MEDIA_TYPES or MEDIA_TYPES[guessed] != MEDIA_TYPES[declared]:
        raise ValidationFailed(
            _("Attach a JPEG or PNG image, an MP4 video or a PDF."),
            details={"field": field, "content_type": declared},
        )
    kind = MEDIA_TYPES[guessed]
    limit = MEDIA_MAX_BYTES[kind]
    if upload.size is None or upload.size > limit:
        raise ValidationFailed(
            _("The file is larger than %(size)s MB.") % {"size": limit // _MB},
            details={"field": field, "size": upload.size},
        )
    return kind


def _texts(inbox: Inbox, kind: str) -> dict[str, str]:
    rows = CustomerTextVariant.objects.filter(
        tenant_id=inbox.tenant_id, text__tenant_id=inbox.tenant_id, text__key=text_key(kind, inbox.pk)
    ).values_list("language", "body")
    return dict(rows)


def media_name(row: GreetingSettings | None, kind: str) -> str:
    """The stored file's own name ("menu.pdf"), or "" when the message has none."""
    if row is None:
        return ""
    stored = getattr(row, media_field(kind))
    return os.path.basename(stored.name) if stored else ""


def media_describe(row: GreetingSettings | None, kind: str) -> dict[str, Any] | None:
    """What the page and the API show of a message's file, or None."""
    if row is None or not getattr(row, media_field(kind)):
        return None
    stored = getattr(row, media_field(kind))
    try:
        size = stored.size
    except OSError:
        size = None
    return {"filename": media_name(row, kind), "kind": media_kind(stored.name), "size": size}


def _delete_on_commit(name: str) -> None:
    if name:
        storage = GreetingSettings._meta.get_field("greeting_media").storage  # type: ignore[attr-defined]
        transaction.on_commit(lambda: storage.delete(name))


@transaction.atomic
def greeting_media_set(
    *, actor: Actor, inbox: Inbox, kind: str, upload: UploadedFile | None, request: Any = None
) -> GreetingSettings:
    """Give the inbox's greeting or away message this file (``None``: no file). Unchanged: nothing written."""
    require_perm(actor, Perm.MANAGE_AUTOMATIONS)
    if inbox.tenant_id != actor.tenant_id:
        raise NotFound(_("No such inbox."))
    field = media_field(kind)
    if upload is not None:
        media_check(upload, field=field)
        caption_check(_texts(inbox, kind), field=field)
    row, _created = GreetingSettings.objects.select_for_update().get_or_create(tenant_id=actor.tenant_id, inbox=inbox)
    stored = getattr(row, field)
    old_name = stored.name or ""
    if upload is None and not old_name:
        return row
    if upload is not None:
        stored.save(os.path.basename(upload.name or "file"), upload, save=False)
    else:
        setattr(row, field, "")
    row.save(update_fields=[field, "updated_at"])
    _delete_on_commit(old_name)
    actor_audit_record(
        actor,
        action=AuditLogEntry.Action.GREETING_SETTINGS_CHANGED,
        tenant=inbox.tenant,
        target=row,
        target_label=inbox.name,
        request=request,
        extra={
            "inbox_id": inbox.pk,
            "changes": {field: [os.path.basename(old_name), media_name(row, kind)]},
        },
    )
    return row


def media_upload(row: GreetingSettings, kind: str) -> SimpleUploadedFile | None:
    """A copy of the message's file to send (the message keeps its own), or None when it has none or it is gone."""
    copy: SimpleUploadedFile | None = stored_copy(getattr(row, media_field(kind)))
    return copy
