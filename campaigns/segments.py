"""Segments: which contacts of a workspace a saved filter selects, in one SQL statement.

A segment's ``filters`` is a JSON object; every key is optional and they combine with AND (an empty
object selects every contact of the workspace)::

    {
      "labels_any":  [label ids],      # has at least one of these labels
      "labels_all":  [label ids],      # has every one of these labels
      "labels_none": [label ids],      # has none of these labels
      "attributes": [                  # custom attributes, each condition must hold
        {"key": "plan", "op": "eq", "value": "gold"},
        # op: "eq" (equal), "neq" (not equal, or not set), "contains" (contains the text, any case),
        #     "set" (has the attribute), "unset" (does not have it); "value" is ignored by set/unset
      ],
      "consent": {"purpose": "marketing", "state": "opted_in"},
        # state: "opted_in" | "opted_out" | "unknown". The "marketing" purpose reads the contact's
        # marketing consent; other purposes read the ledger's current state (campaigns.ConsentState):
        # an opt-in is opted_in, an opt-out opted_out, no answer or a lifted stop ("resume") unknown.
      "inbox": inbox id,               # the contact is known to this inbox (has a ContactInbox in it)
      "last_inbound_after":  "2026-01-31T00:00:00-03:00",
        # the contact's latest inbound message (over all their conversations) is at or after this time
      "last_inbound_before": "2026-01-31T00:00:00-03:00",
        # the contact wrote to us, and their latest inbound message is before this time
      "has_open_conversation": true    # true: has a conversation not resolved (open, pending or snoozed);
                                       # false: has none
    }

Datetimes are ISO 8601; without an offset they are read in the server's time zone. Ids are those of the
workspace: ``segment_filters_clean(filters, tenant=...)`` refuses another workspace's (or unknown) ids,
and ``segment_contacts`` scopes every subquery by the workspace, so a foreign id selects nobody.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from campaigns.models import MARKETING, ConsentEvent, ConsentPurpose, ConsentState, Segment
from conversations.actors import Actor, actor_audit_record, actor_user
from conversations.models import Contact, ContactInbox, ContactLabel, Conversation, Inbox, Label
from helpdesk.exceptions import NotFound, ValidationFailed
from tenants.models import AuditLogEntry
from tenants.permissions import Perm, require_perm

if TYPE_CHECKING:
    from django.http import HttpRequest

    from tenants.models import Tenant

LABEL_FILTERS = ("labels_any", "labels_all", "labels_none")
ATTRIBUTE_OPS = ("eq", "neq", "contains", "set", "unset")
CONSENT_STATES = ("opted_in", "opted_out", "unknown")
KNOWN_KEYS = (
    *LABEL_FILTERS,
    "attributes",
    "consent",
    "inbox",
    "last_inbound_after",
    "last_inbound_before",
    "has_open_conversation",
)
MAX_LABELS = 50
MAX_ATTRIBUTE_CONDITIONS = 20
ATTRIBUTE_KEY_MAX = 50
ATTRIBUTE_VALUE_MAX = 500


def _id(value: Any, field: str) -> int:
    if field == "inbox":
        message = _("inbox must be an inbox's id.")
    else:
        message = _("%(field)s must be a list of ids.") % {"field": field}
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationFailed(message, details={"field": field})
    try:
        number = int(value)
    except ValueError:
        raise ValidationFailed(message, details={"field": field}) from None
    if number <= 0 or number > 2**63 - 1:
        raise ValidationFailed(message, details={"field": field})
    return number


def _moment(value: Any, field: str) -> datetime:
    """An aware datetime from ISO 8601 text (a date alone is the start of that day)."""
    parsed: datetime | None = None
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = parse_datetime(text)
            if parsed is None:
                day: date | None = parse_date(text)
                if day is not None:
                    parsed = datetime.combine(day, time.min)
        except ValueError:
            parsed = None
    if parsed is None:
        raise ValidationFailed(
            _("%(field)s must be a date and time such as 2026-01-31T18:00:00-03:00.") % {"field": field},
            details={"field": field},
        )
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def segment_filters_clean(filters: Any, *, tenant: Tenant | None = None) -> dict[str, Any]:
    """The filters in their canonical form (JSON-safe, to store in ``Segment.filters``), or ``ValidationFailed``.

    With ``tenant``, the label ids, the inbox and the consent purpose must be the workspace's (one query each
    kind present); without it only the shape is checked.
    """
    if filters is None:
        return {}
    if not isinstance(filters, dict):
        raise ValidationFailed(_("The filters must be an object."), details={"field": "filters"})
    unknown = sorted(str(key) for key in filters if key not in KNOWN_KEYS)
    if unknown:
        raise ValidationFailed(
            _("Unknown filter: %(names)s.") % {"names": ", ".join(unknown)}, details={"field": unknown[0]}
        )
    clean: dict[str, Any] = {}
    label_ids: set[int] = set()
    for field in LABEL_FILTERS:
        value = filters.get(field)
        if value in (None, []):
            continue
        if not isinstance(value, list):
            raise ValidationFailed(_("%(field)s must be a list of ids.") % {"field": field}, details={"field": field})
        if len(value) > MAX_LABELS:
            raise ValidationFailed(
                _("%(field)s can name %(n)s labels at most.") % {"field": field, "n": MAX_LABELS},
                details={"field": field},
            )
        ids = sorted({_id(item, field) for item in value})
        clean[field] = ids
        label_ids.update(ids)

    attributes = filters.get("attributes")
    if attributes not in (None, []):
        if not isinstance(attributes, list):
            raise ValidationFailed(_("attributes must be a list of conditions."), details={"field": "attributes"})
        if len(attributes) > MAX_ATTRIBUTE_CONDITIONS:
            raise ValidationFailed(
                _("A segment can have %(n)s attribute conditions at most.") % {"n": MAX_ATTRIBUTE_CONDITIONS},
                details={"field": "attributes"},
            )
        conditions = []
        for condition in attributes:
            if not isinstance(condition, dict):
                raise ValidationFailed(_("attributes must be a list of conditions."), details={"field": "attributes"})
            key = condition.get("key")
            op = condition.get("op")
            value = condition.get("value", "")
            if not isinstance(key, str) or not key.strip() or len(key.strip()) > ATTRIBUTE_KEY_MAX:
                raise ValidationFailed(
                    _("An attribute's name must be 1 to %(n)s characters long.") % {"n": ATTRIBUTE_KEY_MAX},
                    details={"field": "attributes"},
                )
            if op not in ATTRIBUTE_OPS:
                raise ValidationFailed(
                    _("An attribute condition is one of: %(ops)s.") % {"ops": ", ".join(ATTRIBUTE_OPS)},
                    details={"field": "attributes", "key": key},
                )
            if op in ("set", "unset"):
                value = ""
            elif isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ValidationFailed(
                    _("The value compared with %(key)s must be text.") % {"key": key},
                    details={"field": "attributes", "key": key},
                )
            value = str(value)
            if len(value) > ATTRIBUTE_VALUE_MAX:
                raise ValidationFailed(
                    _("The value compared with %(key)s can be %(n)s characters long at most.")
                    % {"key": key, "n": ATTRIBUTE_VALUE_MAX},
                    details={"field": "attributes", "key": key},
                )
            if op == "contains" and not value:
                raise ValidationFailed(
                    _("Enter the text that %(key)s must contain.") % {"key": key},
                    details={"field": "attributes", "key": key},
                )
            conditions.append({"key": key.strip(), "op": op, "value": value})
        clean["attributes"] = conditions

    consent = filters.get("consent")
    if consent not in (None, {}):
        if not isinstance(consent, dict) or set(consent) - {"purpose", "state"}:
            raise ValidationFailed(_("consent must name a purpose and a state."), details={"field": "consent"})
        purpose = consent.get("purpose") or MARKETING
        state = consent.get("state")
        if not isinstance(purpose, str) or len(purpose) > 40:
            raise ValidationFailed(_("Unknown consent purpose."), details={"field": "consent"})
        if state not in CONSENT_STATES:
            raise ValidationFailed(
                _("A consent state is one of: %(states)s.") % {"states": ", ".join(CONSENT_STATES)},
                details={"field": "consent"},
            )
        clean["consent"] = {"purpose": purpose, "state": state}

    inbox = filters.get("inbox")
    if inbox not in (None, ""):
        clean["inbox"] = _id(inbox, "inbox")

    for field in ("last_inbound_after", "last_inbound_before"):
        value = filters.get(field)
        if value not in (None, ""):
            clean[field] = _moment(value, field).isoformat()

    open_conversation = filters.get("has_open_conversation")
    if open_conversation is not None:
        if not isinstance(open_conversation, bool):
            raise ValidationFailed(
                _("has_open_conversation must be true or false."), details={"field": "has_open_conversation"}
            )
        clean["has_open_conversation"] = open_conversation

    if tenant is not None:
        _ids_check(tenant=tenant, clean=clean, label_ids=label_ids)
    return clean


def _ids_check(*, tenant: Tenant, clean: dict[str, Any], label_ids: set[int]) -> None:
    """Another workspace's ids are refused as unknown (the same answer as ids that do not exist)."""
    if label_ids:
        known = set(Label.objects.filter(tenant=tenant, pk__in=label_ids).values_list("pk", flat=True))
        for field in LABEL_FILTERS:
            if any(pk not in known for pk in clean.get(field, [])):
                raise ValidationFailed(_("Unknown label."), details={"field": field})
    if "inbox" in clean and not Inbox.objects.filter(tenant=tenant, pk=clean["inbox"]).exists():
        raise ValidationFailed(_("Unknown inbox."), details={"field": "inbox"})
    consent = clean.get("consent")
    if (
        consent
        and consent["purpose"] != MARKETING
        and not ConsentPurpose.objects.filter(tenant=tenant, key=consent["purpose"]).exists()
    ):
        raise ValidationFailed(_("Unknown consent purpose."), details={"field": "consent"})


def segment_contacts(*, tenant: Tenant, filters: dict[str, Any]) -> QuerySet[Contact]:
    """The workspace's contacts the filters select: one statement (EXISTS subqueries, no joins that repeat rows).

    ``filters`` is checked for shape (``ValidationFailed``); ids of another workspace select nobody.
    """
    clean = segment_filters_clean(filters)
    contacts = Contact.objects.filter(tenant=tenant)
    contact_labels = ContactLabel.objects.filter(tenant=tenant, contact_id=OuterRef("pk"))
    if "labels_any" in clean:
        contacts = contacts.filter(Exists(contact_labels.filter(label_id__in=clean["labels_any"])))
    for label_id in clean.get("labels_all", []):
        contacts = contacts.filter(Exists(contact_labels.filter(label_id=label_id)))
    if "labels_none" in clean:
        contacts = contacts.exclude(Exists(contact_labels.filter(label_id__in=clean["labels_none"])))

    for number, condition in enumerate(clean.get("attributes", [])):
        key, op, value = condition["key"], condition["op"], condition["value"]
        has_key = Q(custom_attributes__has_key=key)
        if op == "set":
            contacts = contacts.filter(has_key)
            continue
        if op == "unset":
            contacts = contacts.exclude(has_key)
            continue
        alias = f"attribute_{number}"
        # Cast: the text of the key compared as text (KeyTextTransform's own lookups compare JSON on SQLite).
        contacts = contacts.alias(**{alias: Cast(KeyTextTransform(key, "custom_attributes"), TextField())})
        if op == "eq":
            contacts = contacts.filter(has_key, **{alias: value})
        elif op == "neq":
            contacts = contacts.exclude(Q(has_key) & Q(**{alias: value}))
        else:
            contacts = contacts.filter(has_key, **{f"{alias}__icontains": value})

    consent = clean.get("consent")
    if consent:
        purpose, state = consent["purpose"], consent["state"]
        if purpose == MARKETING:
            contacts = contacts.filter(marketing_consent=state)
        else:
            states = ConsentState.objects.filter(tenant=tenant, contact_id=OuterRef("pk"), purpose__key=purpose)
            if state == "opted_in":
                contacts = contacts.filter(Exists(states.filter(kind=ConsentEvent.Kind.OPT_IN)))
            elif state == "opted_out":
                contacts = contacts.filter(Exists(states.filter(kind=ConsentEvent.Kind.OPT_OUT)))
            else:
                contacts = contacts.exclude(
                    Exists(states.filter(kind__in=[ConsentEvent.Kind.OPT_IN, ConsentEvent.Kind.OPT_OUT]))
                )

    if "inbox" in clean:
        contacts = contacts.filter(
            Exists(ContactInbox.objects.filter(tenant=tenant, contact_id=OuterRef("pk"), inbox_id=clean["inbox"]))
        )

    conversations = Conversation.objects.filter(tenant=tenant, contact_id=OuterRef("pk"))
    if "last_inbound_after" in clean:
        after = _moment(clean["last_inbound_after"], "last_inbound_after")
        contacts = contacts.filter(Exists(conversations.filter(last_inbound_at__gte=after)))
    if "last_inbound_before" in clean:
        before = _moment(clean["last_inbound_before"], "last_inbound_before")
        contacts = contacts.filter(Exists(conversations.filter(last_inbound_at__lt=before))).exclude(
            Exists(conversations.filter(last_inbound_at__gte=before))
        )
    if "has_open_conversation" in clean:
        open_ones = Exists(conversations.exclude(status=Conversation.Status.RESOLVED))
        contacts = contacts.filter(open_ones) if clean["has_open_conversation"] else contacts.exclude(open_ones)
    return contacts


# --- saved segments ---------------------------------------------------------------------------------------------

NAME_MAX = 80
DESCRIPTION_MAX = 255
PREVIEW_MAX = 50


def segment_get(*, tenant: Tenant, segment_id: int) -> Segment:
    """The workspace's segment; another workspace's is as missing as one that never was."""
    segment = Segment.objects.filter(tenant=tenant, pk=segment_id).first()
    if segment is None:
        raise NotFound(_("No such segment."))
    return segment


def segment_list(*, tenant: Tenant) -> QuerySet[Segment]:
    return Segment.objects.filter(tenant=tenant).order_by("name", "pk")


def segment_count(*, segment: Segment) -> int:
    return segment_contacts(tenant=segment.tenant, filters=segment.filters).count()


def segment_preview(*, tenant: Tenant, filters: dict[str, Any], limit: int = PREVIEW_MAX) -> list[Contact]:
    """The first contacts a filter selects (newest first), for a look before sending."""
    return list(segment_contacts(tenant=tenant, filters=filters).order_by("-pk")[: max(0, min(limit, PREVIEW_MAX))])


def _fields_clean(name: Any, description: Any) -> tuple[str, str]:
    name = str(name or "").strip()
    description = str(description or "").strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed(
            _("The name must be 1 to %(n)s characters long.") % {"n": NAME_MAX}, details={"field": "name"}
        )
    if len(description) > DESCRIPTION_MAX:
        raise ValidationFailed(
            _("The description can be %(n)s characters long at most.") % {"n": DESCRIPTION_MAX},
            details={"field": "description"},
        )
    return name, description


def _name_taken(*, tenant_id: int, name: str, exclude: int | None = None) -> None:
    taken = Segment.objects.filter(tenant_id=tenant_id, name=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise ValidationFailed(_("Another segment is named %(name)s.") % {"name": name}, details={"field": "name"})


def segment_create(
    *,
    actor: Actor,
    tenant: Tenant,
    name: str,
    description: str = "",
    filters: Any = None,
    request: HttpRequest | None = None,
) -> Segment:
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=tenant.pk)
    name, description = _fields_clean(name, description)
    clean = segment_filters_clean(filters or {}, tenant=tenant)
    with transaction.atomic():
        _name_taken(tenant_id=tenant.pk, name=name)
        try:
            with transaction.atomic():
                segment = Segment.objects.create(
                    tenant=tenant, name=name, description=description, filters=clean, created_by=actor_user(actor)
                )
        except IntegrityError:
            raise ValidationFailed(
                _("Another segment is named %(name)s.") % {"name": name}, details={"field": "name"}
            ) from None
        actor_audit_record(
            actor,
            action=AuditLogEntry.Action.SEGMENT_CREATED,
            tenant=tenant,
            target=segment,
            target_label=segment.name,
            request=request,
            extra={"filters": clean},
        )
    return segment


def segment_update(
    *,
    actor: Actor,
    segment: Segment,
    name: Any = None,
    description: Any = None,
    filters: Any = None,
    request: HttpRequest | None = None,
) -> Segment:
    """Change a segment; what is None keeps its value."""
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=segment.tenant_id)
    new_name, new_description = _fields_clean(
        segment.name if name is None else name, segment.description if description is None else description
    )
    clean = segment.filters if filters is None else segment_filters_clean(filters, tenant=segment.tenant)
    changed = {
        key: value
        for key, value in (("name", new_name), ("description", new_description), ("filters", clean))
        if getattr(segment, key) != value
    }
    if not changed:
        return segment
    with transaction.atomic():
        if "name" in changed:
            _name_taken(tenant_id=segment.tenant_id, name=new_name, exclude=segment.pk)
        for key, value in changed.items():
            setattr(segment, key, value)
        try:
            with transaction.atomic():
                segment.save(update_fields=[*changed, "updated_at"])
        except IntegrityError:
            raise ValidationFailed(
                _("Another segment is named %(name)s.") % {"name": new_name}, details={"field": "name"}
            ) from None
        actor_audit_record(
            actor,
            action=AuditLogEntry.Action.SEGMENT_CHANGED,
            tenant=segment.tenant,
            target=segment,
            target_label=segment.name,
            request=request,
            extra={"fields": sorted(changed), "filters": segment.filters},
        )
    return segment


def segment_delete(*, actor: Actor, segment: Segment, request: HttpRequest | None = None) -> None:
    require_perm(actor, Perm.MANAGE_BROADCASTS, tenant_id=segment.tenant_id)
    with transaction.atomic():
        actor_audit_record(
            actor,
            action=AuditLogEntry.Action.SEGMENT_DELETED,
            tenant=segment.tenant,
            target=segment,
            target_label=segment.name,
            request=request,
            extra={"filters": segment.filters},
        )
        segment.delete()
