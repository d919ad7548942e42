"""wa.me links of an inbox's number and their QR codes; where each conversation came from (a link's token in a
customer's message, or a click-to-WhatsApp ad); and the figures of each source (docs/wa-me-links.md).

A link opens a chat with the inbox's number with a prefilled text that ends in its token, ``[#<ref>]``
(``link_text``). The first customer message of a conversation that carries a known token of a link of the same
workspace and inbox attributes the conversation to that link; failing that, a message with an ad's referral
attributes it to the ad. A conversation has one source, for good (the database is the dedupe).
"""

from __future__ import annotations

import io
import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal
from urllib.parse import quote

import segno
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.http import Http404
from django.utils.translation import gettext as _

from conversations import channels
from conversations.actors import Actor, actor_audit_record
from conversations.models import Conversation, Inbox, Message
from flows import audit
from flows.models import ConversationSource, EntryLink, Flow, FlowSession
from helpdesk.exceptions import Conflict, ValidationFailed
from payments.models import Order
from payments.selectors import day_bounds, workspace_zone
from tenants.models import Tenant
from tenants.permissions import Perm, require_perm

NAME_MAX = 80
TEXT_MAX = 500
REF_MIN, REF_MAX = 6, 32
REF_PATTERN = re.compile(rf"[a-z0-9]{{{REF_MIN},{REF_MAX}}}")
# A generated reference: 8 characters a person can copy from paper (no 0/o, 1/l).
REF_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
REF_LENGTH = 8
# A token in a customer's text: "#" and a reference, in any case (phones capitalise), not part of a longer word;
# the brackets the link writes around it may be gone.
TOKEN_PATTERN = re.compile(rf"#([A-Za-z0-9]{{{REF_MIN},{REF_MAX}}})(?![A-Za-z0-9])")
QrFormat = Literal["png", "svg"]
QR_FORMATS: dict[str, str] = {"png": "image/png", "svg": "image/svg+xml"}
# Orders whose money came in (a refunded order's went back).
PAID_STATUSES = (Order.Status.PAID, Order.Status.PROCESSING, Order.Status.SHIPPED, Order.Status.COMPLETED)


# --- reads -------------------------------------------------------------------------------------------------


def entry_link_list(*, tenant: Tenant | int, archived: bool | None = False) -> QuerySet[EntryLink]:
    """The workspace's links by name (the archived ones only, or all with ``archived=None``)."""
    links = EntryLink.objects.filter(tenant=tenant)
    if archived is not None:
        links = links.filter(archived=archived)
    return links.select_related("inbox", "flow").order_by("name", "id")


def entry_link_get(*, tenant: Tenant | int, link_id: int) -> EntryLink:
    """One of the workspace's links; another workspace's is as missing as one that never was."""
    link = entry_link_list(tenant=tenant, archived=None).filter(pk=link_id).first()
    if link is None:
        raise Http404("No such link.")
    return link


def flow_choices(*, tenant: Tenant | int) -> QuerySet[Flow]:
    """The flows a link of the workspace may start."""
    return Flow.objects.filter(tenant=tenant).order_by("name", "id")


def link_text(link: EntryLink) -> str:
    """The text the customer's chat opens with: the link's text and its token (the token alone without one)."""
    token = f"[#{link.ref}]"
    return f"{link.text} {token}" if link.text else token


def _url(phone: str, link: EntryLink) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return f"https://wa.me/{digits}?text={quote(link_text(link), safe='')}"


def wa_me_url(link: EntryLink) -> str:
    """``https://wa.me/<the inbox's number>?text=<the prefilled text with the token>``; ``Conflict`` when the
    inbox's channel has no phone number (disconnected)."""
    phone = channels.phone_number_of(link.inbox)
    if not phone:
        raise Conflict(_("This link's inbox has no phone number to open a chat with."), code="no_phone_number")
    return _url(phone, link)


def wa_me_urls(links: Iterable[EntryLink]) -> dict[int, str | None]:
    """``wa_me_url`` of each link by id (None when its inbox has no number), asking each inbox's number once."""
    phones: dict[int, str | None] = {}
    urls: dict[int, str | None] = {}
    for link in links:
        if link.inbox_id not in phones:
            phones[link.inbox_id] = channels.phone_number_of(link.inbox)
        phone = phones[link.inbox_id]
        urls[link.pk] = _url(phone, link) if phone else None
    return urls


def link_qr_code(url: str) -> segno.QRCode:
    """The QR code of ``url``: medium error correction (a printed code survives a smudge), never a micro QR."""
    return segno.make_qr(url, error="m")


def link_qr(link: EntryLink, fmt: QrFormat) -> bytes:
    """The link's QR code (encoding exactly ``wa_me_url(link)``) as a PNG or an SVG image."""
    if fmt not in QR_FORMATS:
        raise ValidationFailed(_("The format is png or svg."), details={"field": "format"})
    code = link_qr_code(wa_me_url(link))
    out = io.BytesIO()
    if fmt == "png":
        code.save(out, kind="png", scale=10, border=4, dark="#000", light="#fff")
    else:
        code.save(out, kind="svg", scale=10, border=4, dark="#000", light="#fff", title=link.name)
    return out.getvalue()


# --- writes ------------------------------------------------------------------------------------------------


def _invalid(message: str, field_name: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, details={"field": field_name, **details})


@dataclass(frozen=True, kw_only=True)
class _Cleaned:
    name: str
    kind: str
    text: str
    flow: Flow | None


def _clean(tenant_id: int, inbox: Inbox, name: str, kind: str, text: str, flow: Flow | None) -> _Cleaned:
    name = " ".join(str(name or "").split())
    if not name:
        raise _invalid(_("Give the link a name."), "name")
    if len(name) > NAME_MAX or "\x00" in name:
        raise _invalid(_("The name is too long (%(max)s characters at most).") % {"max": NAME_MAX}, "name")
    if kind not in EntryLink.Kind.values:
        raise _invalid(_("Unknown kind of source."), "kind", allowed=EntryLink.Kind.values)
    text = str(text or "").strip()
    if "\x00" in text:
        raise _invalid(_("The text cannot contain a NUL character."), "text")
    if len(text) > TEXT_MAX:
        raise _invalid(_("The text is too long (%(max)s characters at most).") % {"max": TEXT_MAX}, "text")
    if flow is not None:
        if flow.tenant_id != tenant_id:
            raise _invalid(_("Unknown bot flow."), "flow")
        if flow.inbox_id is not None and flow.inbox_id != inbox.pk:
            raise _invalid(_("This bot flow runs in another inbox."), "flow")
    return _Cleaned(name=name, kind=kind, text=text, flow=flow)


def _values(link: EntryLink) -> dict[str, Any]:
    return {
        "name": link.name,
        "kind": link.kind,
        "inbox_id": link.inbox_id,
        "ref": link.ref,
        "text": link.text,
        "flow_id": link.flow_id,
    }


def _audit(actor: Actor, action: str, link: EntryLink, extra: dict[str, Any], request: Any) -> None:
    actor_audit_record(
        actor, action=action, tenant=link.tenant, target=link, target_label=link.name, request=request, extra=extra
    )


def ref_clean(ref: str) -> str:
    """A reference as given (any case, spaces around), or ``ValidationFailed`` naming the field ``ref``."""
    cleaned = str(ref or "").strip().lower()
    if not REF_PATTERN.fullmatch(cleaned):
        raise _invalid(
            _("The reference is %(min)s to %(max)s lowercase letters or digits.") % {"min": REF_MIN, "max": REF_MAX},
            "ref",
        )
    return cleaned


def ref_generate() -> str:
    return "".join(secrets.choice(REF_ALPHABET) for _n in range(REF_LENGTH))


@transaction.atomic
def entry_link_create(
    *,
    actor: Actor,
    inbox: Inbox,
    name: str,
    kind: str,
    text: str = "",
    flow: Flow | None = None,
    ref: str | None = None,
    request: Any = None,
) -> EntryLink:
    """A new link to ``inbox``'s number; its reference is ``ref`` (checked) or a new one of 8 characters."""
    require_perm(actor, Perm.MANAGE_AUTOMATIONS)
    if inbox.tenant_id != actor.tenant_id:
        raise _invalid(_("Unknown inbox."), "inbox")
    if not channels.phone_number_of(inbox):
        raise _invalid(_("This inbox has no phone number a wa.me link can open."), "inbox")
    cleaned = _clean(actor.tenant_id, inbox, name, kind, text, flow)
    given = ref_clean(ref) if ref is not None else None
    for _attempt in range(5):
        link = EntryLink(
            tenant_id=actor.tenant_id,
            inbox=inbox,
            name=cleaned.name,
            kind=cleaned.kind,
            text=cleaned.text,
            flow=cleaned.flow,
            ref=given or ref_generate(),
        )
        try:
            with transaction.atomic():
                link.save(force_insert=True)
        except IntegrityError:
            if given:
                raise _invalid(_("Another link already has this reference."), "ref", code="duplicate") from None
            continue  # a generated reference that is taken: draw another
        _audit(actor, audit.LINK_CREATED, link, _values(link), request)
        return link
    raise Conflict(_("No free reference was found; try again."))


@transaction.atomic
def entry_link_update(
    *,
    actor: Actor,
    link: EntryLink,
    name: str,
    kind: str,
    text: str,
    flow: Flow | None,
    request: Any = None,
) -> EntryLink:
    """Change a link's name, kind, text or flow. Its inbox and reference stay: printed codes keep working
    (a code printed before a change of text still carries the token)."""
    require_perm(actor, Perm.MANAGE_AUTOMATIONS)
    if link.tenant_id != actor.tenant_id:
        raise Http404("No such link.")
    link = (
        EntryLink.objects.select_for_update(no_key=True, of=("self",)).select_related("inbox", "flow").get(pk=link.pk)
    )
    cleaned = _clean(actor.tenant_id, link.inbox, name, kind, text, flow)
    old = _values(link)
    link.name, link.kind, link.text, link.flow = cleaned.name, cleaned.kind, cleaned.text, cleaned.flow
    new = _values(link)
    changes = {key: [old[key], new[key]] for key in new if old[key] != new[key]}
    if changes:
        link.save(update_fields=["name", "kind", "text", "flow", "updated_at"])
        _audit(actor, audit.LINK_CHANGED, link, {"changes": changes}, request)
    return link


@transaction.atomic
def entry_link_archive(*, actor: Actor, link: EntryLink, archived: bool = True, request: Any = None) -> EntryLink:
    """Archive a link (its token no longer attributes conversations; its figures stay) or restore it."""
    require_perm(actor, Perm.MANAGE_AUTOMATIONS)
    if link.tenant_id != actor.tenant_id:
        raise Http404("No such link.")
    link = (
        EntryLink.objects.select_for_update(no_key=True, of=("self",)).select_related("inbox", "flow").get(pk=link.pk)
    )
    if link.archived != archived:
        link.archived = archived
        link.save(update_fields=["archived", "updated_at"])
        _audit(actor, audit.LINK_ARCHIVED if archived else audit.LINK_RESTORED, link, {"ref": link.ref}, request)
    return link


# --- attribution -------------------------------------------------------------------------------------------


def refs_in(text: str) -> list[str]:
    """The references of the tokens in ``text``, in order, lowercased."""
    return [match.lower() for match in TOKEN_PATTERN.findall(text or "")]


def _ad(referral: Any) -> tuple[str, str] | None:
    """(ad id, headline) of a click-to-WhatsApp referral as the channel stored it (``Message.referral``)."""
    if not isinstance(referral, dict):
        return None
    source_id = referral.get("source_id")
    if isinstance(source_id, int) and not isinstance(source_id, bool):
        source_id = str(source_id)
    if not isinstance(source_id, str) or not source_id.strip():
        return None
    headline = referral.get("headline")
    return source_id.strip()[:64], (headline.strip() if isinstance(headline, str) else "")[:255]


def _source_of(message: Message, links: dict[tuple[int, str], EntryLink]) -> ConversationSource | None:
    common = {"tenant_id": message.tenant_id, "conversation_id": message.conversation_id, "message": message}
    for ref in refs_in(message.text):
        link = links.get((message.tenant_id, ref))
        if link is not None and link.inbox_id == message.inbox_id:
            return ConversationSource(kind=ConversationSource.Kind.LINK, link=link, **common)
    if ad := _ad(message.referral):
        return ConversationSource(kind=ConversationSource.Kind.AD, ad_id=ad[0], ad_headline=ad[1], **common)
    return None


def conversation_sources_record(messages: Sequence[Message]) -> dict[int, ConversationSource]:
    """Attribute the conversations of newly received customer messages that have no source yet: to a link
    whose token the message carries (a link of the message's workspace and inbox, not archived), else to the
    ad its referral names. The earliest such message of a conversation decides; a conversation keeps its
    source. Race-safe and idempotent: the one-to-one of the source is the dedupe.

    Returns the sources recorded by this call, by conversation id (with ``link`` and its ``flow`` loaded).
    Queries: one for the conversations already attributed, one for the links the tokens name, one insert per
    conversation attributed. The messages are not changed.
    """
    received = sorted(
        (m for m in messages if m.direction == Message.Direction.INBOUND and m.conversation_id),
        key=lambda m: (m.occurred_at, m.pk or 0),
    )
    if not received:
        return {}
    attributed = set(
        ConversationSource.objects.filter(conversation_id__in={m.conversation_id for m in received}).values_list(
            "conversation_id", flat=True
        )
    )
    pending = [m for m in received if m.conversation_id not in attributed]
    refs = {ref for m in pending for ref in refs_in(m.text)}
    links: dict[tuple[int, str], EntryLink] = {}
    if refs:
        found = EntryLink.objects.filter(
            tenant_id__in={m.tenant_id for m in pending}, ref__in=refs, archived=False
        ).select_related("flow")
        links = {(link.tenant_id, link.ref): link for link in found}
    recorded: dict[int, ConversationSource] = {}
    for message in pending:
        if message.conversation_id in attributed:
            continue
        source = _source_of(message, links)
        if source is None:
            continue
        attributed.add(message.conversation_id)
        try:
            with transaction.atomic():
                source.save(force_insert=True)
        except IntegrityError:
            continue  # attributed meanwhile (another worker had a message of the same conversation)
        recorded[message.conversation_id] = source
    return recorded


# --- the sources report ------------------------------------------------------------------------------------

SourceKind = Literal["link", "ad", "none"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("link", "ad", "none")


@dataclass(frozen=True, kw_only=True)
class SourceRow:
    """One source's figures for the conversations started in a range of days.

    ``conversations``: started in the range with this source; ``flows_completed``: bot flows that ran to their
    end in them (for a link, those the link started); ``revenue``: the totals of their orders paid, in minor
    units by currency. ``kind`` "none" is the conversations of the range without a source; a ``link`` row with
    ``link`` None sums the conversations of links since deleted (with their inbox).
    """

    kind: SourceKind
    link: EntryLink | None = None
    ad_id: str = ""
    ad_headline: str = ""
    conversations: int = 0
    flows_completed: int = 0
    revenue: dict[str, int] = field(default_factory=dict)


_Key = tuple[str, int | None, str]  # (kind, link id, ad id); ("none", None, "") without a source


def _key(kind: str | None, link_id: int | None, ad_id: str | None) -> _Key:
    if kind == ConversationSource.Kind.LINK:
        return ("link", link_id, "")
    if kind == ConversationSource.Kind.AD:
        return ("ad", None, ad_id or "")
    return ("none", None, "")


def _source_of_conversation(column: str) -> QuerySet[ConversationSource]:
    """The source of the conversation each row names in ``column`` (none without one)."""
    return ConversationSource.objects.filter(conversation_id=OuterRef(column))


def sources_report(*, tenant: Tenant, since: date | None, until: date | None) -> list[SourceRow]:
    """The figures of every source for the conversations started from ``since`` to ``until`` (days of the
    workspace, both included; open ends allowed): each link (those not archived even without conversations),
    each ad id, then the conversations without a source. Five queries, whatever the number of rows."""
    started = day_bounds(since, until, workspace_zone(tenant), field="conversation__created_at")
    rows: dict[_Key, dict[str, Any]] = defaultdict(lambda: {"conversations": 0, "flows": 0, "revenue": {}})
    headlines: dict[str, str] = {}
    sourced = (
        ConversationSource.objects.filter(started, tenant_id=tenant.pk)
        .values("kind", "link_id", "ad_id")
        .annotate(n=Count("id"), headline=Max("ad_headline"))
    )
    for group in sourced:
        key = _key(group["kind"], group["link_id"], group["ad_id"])
        rows[key]["conversations"] += group["n"]
        if key[0] == "ad":
            headlines[key[2]] = max(headlines.get(key[2], ""), group["headline"] or "")
    in_range = day_bounds(since, until, workspace_zone(tenant), field="created_at")
    total = Conversation.objects.filter(in_range, tenant_id=tenant.pk).count()
    rows[_key(None, None, None)]["conversations"] = total - sum(row["conversations"] for row in rows.values())
    source = _source_of_conversation("conversation_id")
    sessions = (
        FlowSession.objects.filter(started, tenant_id=tenant.pk, status=FlowSession.Status.COMPLETED)
        .annotate(
            from_kind=Subquery(source.values("kind")[:1]),
            from_link=Subquery(source.values("link_id")[:1]),
            from_ad=Subquery(source.values("ad_id")[:1]),
        )
        .values("from_kind", "from_link", "from_ad", "source_id")
        .annotate(n=Count("id"))
    )
    for runs in sessions:
        key = _key(runs["from_kind"], runs["from_link"], runs["from_ad"])
        if key[0] == "link" and runs["source_id"] != key[1]:
            continue  # a flow of a link's conversation that its link did not start
        rows[key]["flows"] += runs["n"]
    orders = (
        Order.objects.filter(started, tenant_id=tenant.pk, status__in=PAID_STATUSES)
        .annotate(
            from_kind=Subquery(source.values("kind")[:1]),
            from_link=Subquery(source.values("link_id")[:1]),
            from_ad=Subquery(source.values("ad_id")[:1]),
        )
        .values("from_kind", "from_link", "from_ad", "currency")
        .annotate(amount=Sum("total"))
    )
    for paid in orders:
        revenue = rows[_key(paid["from_kind"], paid["from_link"], paid["from_ad"])]["revenue"]
        revenue[paid["currency"]] = revenue.get(paid["currency"], 0) + int(paid["amount"] or 0)
    link_ids = {key[1] for key in rows if key[0] == "link" and key[1] is not None}
    links = entry_link_list(tenant=tenant, archived=None).filter(Q(archived=False) | Q(pk__in=link_ids))
    result = [_row(("link", link.pk, ""), rows.get(("link", link.pk, "")), link=link) for link in links]
    if ("link", None, "") in rows:
        result.append(_row(("link", None, ""), rows[("link", None, "")]))
    ads = sorted((key for key in rows if key[0] == "ad"), key=lambda key: key[2])
    result += [_row(key, rows[key], headline=headlines.get(key[2], "")) for key in ads]
    result.append(_row(("none", None, ""), rows[("none", None, "")]))
    return result


def _row(key: _Key, figures: dict[str, Any] | None, *, link: EntryLink | None = None, headline: str = "") -> SourceRow:
    figures = figures or {"conversations": 0, "flows": 0, "revenue": {}}
    return SourceRow(
        kind=key[0],  # type: ignore[arg-type]  # one of SourceKind by construction
        link=link,
        ad_id=key[2],
        ad_headline=headline,
        conversations=figures["conversations"],
        flows_completed=figures["flows"],
        revenue=dict(sorted(figures["revenue"].items())),
    )
