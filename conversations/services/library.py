"""The workspace's shared library: labels, quick replies, and each member's availability.

Labels and shared quick replies (workspace or inbox scope) need "Manage labels and quick replies";
a personal quick reply belongs to one member, who manages it with "Reply to customers" alone, and
is invisible (404) to everyone else, admins included.
"""

from __future__ import annotations

import mimetypes
import re
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from conversations.events import MemberAvailabilityChanged
from conversations.events.outbox import events_record
from conversations.media import QUICK_REPLY_ATTACHMENT_MAX_BYTES, QUICK_REPLY_ATTACHMENT_TYPES
from conversations.models import Inbox, Label, QuickReply
from helpdesk.exceptions import NotFound, ValidationFailed
from helpdesk.realtime import members_group, publish_on_commit
from tenants.models import AuditLogEntry, Membership
from tenants.permissions import Perm, require_perm
from tenants.services import audit_log_record

LABEL_NAME_MAX = 60
LABEL_DESCRIPTION_MAX = 255
COLOR_RE = re.compile(r"#[0-9a-fA-F]{6}")
SHORTCUT_RE = re.compile(r"[-a-zA-Z0-9_]{1,40}")
QUICK_REPLY_TEXT_MAX = 4096


def _audit(membership: Membership, action: str, target: Any, request: Any, extra: dict[str, Any]) -> None:
    audit_log_record(
        action=action, tenant=membership.tenant, actor=membership.user, target=target, request=request, extra=extra
    )


# --- labels ----------------------------------------------------------------------------------


def _no_nul(**values: str) -> None:
    # PostgreSQL refuses NUL in text columns; refuse it here as bad input rather than fail on save.
    for field, value in values.items():
        if "\x00" in value:
            raise ValidationFailed(_("The text contains a null character."), details={"field": field})


def _label_fields(*, name: str, color: str, description: str) -> tuple[str, str, str]:
    _no_nul(name=name, description=description)
    name = name.strip()
    description = description.strip()
    if not 1 <= len(name) <= LABEL_NAME_MAX:
        raise ValidationFailed(
            _("A label name has 1 to %(max)s characters.") % {"max": LABEL_NAME_MAX}, details={"field": "name"}
        )
    if not COLOR_RE.fullmatch(color):
        raise ValidationFailed(
            _("The colour must be a hex code such as #1f6feb."), details={"field": "color", "value": color}
        )
    if len(description) > LABEL_DESCRIPTION_MAX:
        raise ValidationFailed(
            _("The description has %(max)s characters at most.") % {"max": LABEL_DESCRIPTION_MAX},
            details={"field": "description"},
        )
    return name, color.lower(), description


def _label_save(label: Label, *, update_fields: list[str] | None = None) -> None:
    # The unique constraint decides; a savepoint keeps the caller's transaction usable after a clash.
    try:
        with transaction.atomic():
            label.save(update_fields=update_fields)
    except IntegrityError:
        raise ValidationFailed(
            _("A label named “%(name)s” already exists.") % {"name": label.name},
            code="duplicate",
            details={"field": "name"},
        ) from None


@transaction.atomic
def label_create(*, membership: Membership, name: str, color: str, description: str = "", request: Any = None) -> Label:
    require_perm(membership, Perm.MANAGE_LABELS)
    name, color, description = _label_fields(name=name, color=color, description=description)
    label = Label(tenant_id=membership.tenant_id, name=name, color=color, description=description)
    _label_save(label)
    _audit(membership, AuditLogEntry.Action.LABEL_CREATED, label, request, {"name": name, "color": color})
    return label


@transaction.atomic
def label_update(
    *, membership: Membership, label: Label, name: str, color: str, description: str = "", request: Any = None
) -> Label:
    require_perm(membership, Perm.MANAGE_LABELS)
    if label.tenant_id != membership.tenant_id:
        raise NotFound(_("No such label."))
    name, color, description = _label_fields(name=name, color=color, description=description)
    before = {"name": label.name, "color": label.color, "description": label.description}
    after = {"name": name, "color": color, "description": description}
    if before == after:
        return label
    label.name, label.color, label.description = name, color, description
    _label_save(label, update_fields=["name", "color", "description", "updated_at"])
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    _audit(membership, AuditLogEntry.Action.LABEL_CHANGED, label, request, {"changes": changes})
    return label


@transaction.atomic
def label_delete(*, membership: Membership, label: Label, request: Any = None) -> None:
    """Delete the label; conversations and contacts simply lose it."""
    require_perm(membership, Perm.MANAGE_LABELS)
    if label.tenant_id != membership.tenant_id:
        raise NotFound(_("No such label."))
    _audit(membership, AuditLogEntry.Action.LABEL_DELETED, label, request, {"name": label.name, "color": label.color})
    label.delete()


# --- quick replies ---------------------------------------------------------------------------


def quick_reply_can_manage(*, membership: Membership, quick_reply: QuickReply) -> bool:
    """Whether the member may edit or delete this reply (one they can already see)."""
    if quick_reply.scope == QuickReply.Scope.PERSONAL:
        return quick_reply.owner_id == membership.user_id and membership.has_perm(Perm.REPLY)
    return membership.has_perm(Perm.MANAGE_LABELS)


def _require_scope(membership: Membership, scope: str) -> None:
    if scope not in QuickReply.Scope.values:
        raise ValidationFailed(_("Choose who can use the quick reply."), details={"field": "scope"})
    require_perm(membership, Perm.REPLY if scope == QuickReply.Scope.PERSONAL else Perm.MANAGE_LABELS)


def _require_own(membership: Membership, quick_reply: QuickReply) -> None:
    # Another member's personal reply does not exist for the caller, whatever their role.
    if quick_reply.tenant_id != membership.tenant_id or (
        quick_reply.scope == QuickReply.Scope.PERSONAL and quick_reply.owner_id != membership.user_id
    ):
        raise NotFound(_("No such quick reply."))


def _check_attachment(attachment: UploadedFile) -> None:
    guessed, _encoding = mimetypes.guess_type(attachment.name or "")
    declared = getattr(attachment, "content_type", None) or guessed
    if guessed not in QUICK_REPLY_ATTACHMENT_TYPES or declared not in QUICK_REPLY_ATTACHMENT_TYPES:
        raise ValidationFailed(
            _("Attach a JPEG or PNG image, a PDF, an MP4 video or an OGG or MP3 audio file."),
            details={"field": "attachment", "content_type": declared},
        )
    if attachment.size is None or attachment.size > QUICK_REPLY_ATTACHMENT_MAX_BYTES:
        raise ValidationFailed(
            _("The attachment is larger than 16 MB."), details={"field": "attachment", "size": attachment.size}
        )


def _quick_reply_fields(
    *, membership: Membership, shortcut: str, text: str, scope: str, inbox: Inbox | None
) -> tuple[str, str, Inbox | None]:
    _no_nul(text=text)
    shortcut = shortcut.strip().lstrip("/")
    if not SHORTCUT_RE.fullmatch(shortcut):
        raise ValidationFailed(
            _("The shortcut has 1 to 40 letters, digits, hyphens or underscores."), details={"field": "shortcut"}
        )
    if not text.strip() or len(text) > QUICK_REPLY_TEXT_MAX:
        raise ValidationFailed(
            _("The text has 1 to %(max)s characters.") % {"max": QUICK_REPLY_TEXT_MAX}, details={"field": "text"}
        )
    if scope == QuickReply.Scope.INBOX:
        if inbox is None:
            raise ValidationFailed(_("Choose the inbox that can use the quick reply."), details={"field": "inbox"})
        if inbox.tenant_id != membership.tenant_id:
            raise NotFound(_("No such inbox."))
    else:
        inbox = None
    return shortcut, text, inbox


def _quick_reply_save(quick_reply: QuickReply, *, update_fields: list[str] | None = None) -> None:
    try:
        with transaction.atomic():
            quick_reply.save(update_fields=update_fields)
    except IntegrityError:
        where = {
            QuickReply.Scope.TENANT: _("in this workspace"),
            QuickReply.Scope.INBOX: _("in this inbox"),
            QuickReply.Scope.PERSONAL: _("among your quick replies"),
        }[QuickReply.Scope(quick_reply.scope)]
        raise ValidationFailed(
            _("The shortcut /%(shortcut)s is already used %(where)s.")
            % {"shortcut": quick_reply.shortcut, "where": where},
            code="duplicate",
            details={"field": "shortcut"},
        ) from None


def _delete_file_on_commit(name: str) -> None:
    if name:
        storage = QuickReply._meta.get_field("attachment").storage  # type: ignore[attr-defined]
        transaction.on_commit(lambda: storage.delete(name))


def _snapshot(quick_reply: QuickReply) -> dict[str, Any]:
    return {
        "shortcut": quick_reply.shortcut,
        "scope": quick_reply.scope,
        "inbox_id": quick_reply.inbox_id,
        "attachment": quick_reply.attachment.name or "",
        "text_length": len(quick_reply.text),
    }


@transaction.atomic
def quick_reply_create(
    *,
    membership: Membership,
    shortcut: str,
    text: str,
    scope: str = QuickReply.Scope.TENANT,
    inbox: Inbox | None = None,
    attachment: UploadedFile | None = None,
    request: Any = None,
) -> QuickReply:
    _require_scope(membership, scope)
    shortcut, text, inbox = _quick_reply_fields(
        membership=membership, shortcut=shortcut, text=text, scope=scope, inbox=inbox
    )
    if attachment is not None:
        _check_attachment(attachment)
    quick_reply = QuickReply(
        tenant_id=membership.tenant_id,
        shortcut=shortcut,
        text=text,
        scope=scope,
        inbox=inbox,
        owner_id=membership.user_id if scope == QuickReply.Scope.PERSONAL else None,
    )
    _quick_reply_save(quick_reply)
    if attachment is not None:
        # Stored only once the row exists, so a duplicate shortcut leaves no orphan file behind.
        quick_reply.attachment.save(attachment.name or "attachment", attachment, save=False)
        quick_reply.save(update_fields=["attachment", "updated_at"])
    _audit(membership, AuditLogEntry.Action.QUICK_REPLY_CREATED, quick_reply, request, _snapshot(quick_reply))
    return quick_reply


@transaction.atomic
def quick_reply_update(
    *,
    membership: Membership,
    quick_reply: QuickReply,
    shortcut: str,
    text: str,
    scope: str,
    inbox: Inbox | None = None,
    attachment: UploadedFile | None = None,
    remove_attachment: bool = False,
    request: Any = None,
) -> QuickReply:
    """Change a reply; moving it between scopes needs the permission of both."""
    _require_own(membership, quick_reply)
    _require_scope(membership, quick_reply.scope)
    _require_scope(membership, scope)
    shortcut, text, inbox = _quick_reply_fields(
        membership=membership, shortcut=shortcut, text=text, scope=scope, inbox=inbox
    )
    if attachment is not None:
        _check_attachment(attachment)
    before = _snapshot(quick_reply)
    old_text = quick_reply.text
    old_file = quick_reply.attachment.name or ""
    quick_reply.shortcut, quick_reply.text, quick_reply.scope, quick_reply.inbox = shortcut, text, scope, inbox
    quick_reply.owner_id = membership.user_id if scope == QuickReply.Scope.PERSONAL else None
    _quick_reply_save(quick_reply, update_fields=["shortcut", "text", "scope", "inbox", "owner", "updated_at"])
    if attachment is not None:
        quick_reply.attachment.save(attachment.name or "attachment", attachment, save=False)
    elif remove_attachment:
        quick_reply.attachment = ""  # type: ignore[assignment]
    if attachment is not None or (remove_attachment and old_file):
        quick_reply.save(update_fields=["attachment", "updated_at"])
        _delete_file_on_commit(old_file)
    after = _snapshot(quick_reply)
    changes: dict[str, Any] = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if old_text != text:
        changes["text"] = True
        changes.pop("text_length", None)
    if changes:
        _audit(membership, AuditLogEntry.Action.QUICK_REPLY_CHANGED, quick_reply, request, {"changes": changes})
    return quick_reply


@transaction.atomic
def quick_reply_delete(*, membership: Membership, quick_reply: QuickReply, request: Any = None) -> None:
    _require_own(membership, quick_reply)
    _require_scope(membership, quick_reply.scope)
    _audit(membership, AuditLogEntry.Action.QUICK_REPLY_DELETED, quick_reply, request, _snapshot(quick_reply))
    _delete_file_on_commit(quick_reply.attachment.name or "")
    quick_reply.delete()


# --- availability ----------------------------------------------------------------------------


@transaction.atomic
def membership_availability_set(*, membership: Membership, availability: str, request: Any = None) -> Membership:
    """Set one's own availability (online, busy, offline) and tell every member of the workspace live."""
    require_perm(membership, Perm.REPLY)
    if availability not in Membership.Availability.values:
        raise ValidationFailed(
            _("Availability is online, busy or offline."), details={"allowed": Membership.Availability.values}
        )
    # Locked: two changes at once read and record their "from" in the order they were made.
    previous = (
        Membership.objects.select_for_update(no_key=True).values_list("availability", flat=True).get(pk=membership.pk)
    )
    if previous == availability:
        membership.availability = availability
        return membership
    membership.availability = availability
    membership.save(update_fields=["availability", "updated_at"])
    events_record(
        [
            MemberAvailabilityChanged(
                tenant_id=membership.tenant_id,
                user_id=membership.user_id,
                previous_availability=previous,
                availability=availability,
            )
        ]
    )
    audit_log_record(
        action=AuditLogEntry.Action.AVAILABILITY_CHANGED,
        tenant=membership.tenant,
        actor=membership.user,
        target=membership.user,
        request=request,
        extra={"from": previous, "to": availability},
    )
    publish_on_commit(
        tenant_id=membership.tenant_id,
        groups=[members_group(membership.tenant_id)],
        event={"type": "member.availability", "user_id": membership.user_id, "availability": availability},
    )
    return membership
