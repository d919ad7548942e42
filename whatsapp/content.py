"""Meta's message shapes turned into the core's neutral content (``conversations.content``), and back.

``neutral_from_meta`` reads the shape this app used to store in ``Message.content`` (what the webhook
parser gives for a customer's message, or what the API asked to send); the webhook processing and the
data migration of stored rows both go through it, so a row converted later reads exactly like one
received today. ``meta_*`` build the parts of Meta's send request from neutral content.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.db import connections, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from conversations.content import (
    CONTENT_VERSION,
    CardEmail,
    CardPhone,
    Choice,
    ContactCard,
    ContactsContent,
    Content,
    ContentInvalid,
    Header,
    InteractiveContent,
    LocationContent,
    MediaContent,
    OrderContent,
    OrderItem,
    Problem,
    ProductRef,
    ReactionContent,
    ReplyContent,
    Section,
    SystemContent,
    TemplateContent,
    TextContent,
    UnsupportedContent,
    minor_units,
)
from conversations.media import MEDIA_KINDS
from helpdesk.coerce import as_dict, as_list, as_str

# Meta's names of an interactive answer, and the core's.
REPLY_TYPES = {"button_reply": "button", "list_reply": "list", "nfm_reply": "flow"}
# Meta's names of a system event, and the core's.
SYSTEM_EVENTS = {"user_changed_number": "number_changed", "customer_identity_changed": "identity_changed"}
INTERACTIVE_STYLES = ("button", "list", "cta_url")
# Keys of the stored shape that every kind may carry beside its own.
_COMMON_KEYS = ("errors", "referred_product", "mentions", "raw_type")


def _common(meta: Mapping[str, Any]) -> dict[str, Any]:
    errors = tuple(
        Problem(
            code=as_str(error.get("code")),
            title=as_str(error.get("title") or error.get("message")),
            details=as_str(error.get("details")),
        )
        for error in map(as_dict, as_list(meta.get("errors")))
    )
    referred = as_dict(meta.get("referred_product"))
    product = (
        ProductRef(sku=as_str(referred.get("product_retailer_id")), catalog_id=as_str(referred.get("catalog_id")))
        if referred
        else None
    )
    mentions = tuple(m for m in as_list(meta.get("mentions")) if isinstance(m, int) and not isinstance(m, bool))
    return {"errors": errors, "product": product, "mentions": mentions}


def _header(value: Any) -> Header | None:
    """An outbound header as the API takes it: a string, or Meta's header object."""
    if isinstance(value, str):
        return Header(type="text", text=value) if value else None
    header = as_dict(value)
    if not header:
        return None
    kind = as_str(header.get("type")) or "text"
    if kind == "text":
        return Header(type="text", text=as_str(header.get("text")))
    node = as_dict(header.get(kind))
    return Header(type=kind, link=as_str(node.get("link")), media_id=as_str(node.get("id")))


def _card(card: Mapping[str, Any]) -> ContactCard:
    name, org = as_dict(card.get("name")), as_dict(card.get("org"))
    return ContactCard(
        name=as_str(name.get("formatted_name")),
        first_name=as_str(name.get("first_name")),
        middle_name=as_str(name.get("middle_name")),
        last_name=as_str(name.get("last_name")),
        company=as_str(org.get("company")),
        department=as_str(org.get("department")),
        job_title=as_str(org.get("title")),
        birthday=as_str(card.get("birthday")),
        phones=tuple(
            CardPhone(number=as_str(p.get("phone")), type=as_str(p.get("type")), messaging_id=as_str(p.get("wa_id")))
            for p in map(as_dict, as_list(card.get("phones")))
            if p.get("phone") or p.get("wa_id")
        ),
        emails=tuple(
            CardEmail(address=as_str(e.get("email")), type=as_str(e.get("type")))
            for e in map(as_dict, as_list(card.get("emails")))
            if e.get("email")
        ),
        urls=tuple(as_str(u.get("url")) for u in map(as_dict, as_list(card.get("urls"))) if u.get("url")),
    )


def _order_item(item: Mapping[str, Any]) -> OrderItem:
    currency = as_str(item.get("currency")).upper()[:3]
    quantity = item.get("quantity")
    if isinstance(quantity, str) and quantity.strip().isdigit():
        quantity = int(quantity)
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ContentInvalid(_("Order quantity %(value)r is not a whole number.") % {"value": quantity})
    price = item.get("item_price")
    return OrderItem(
        sku=as_str(item.get("product_retailer_id")),
        quantity=quantity,
        unit_price=None if price is None else minor_units(price, currency),
        currency=currency,
    )


def template_display(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The header text (or media kind) and button labels a sent template shows, from its components."""
    header_text, header_media, buttons = "", "", []
    for button in map(as_dict, as_list(meta.get("buttons"))):
        label = as_str(button.get("text") or button.get("title"))
        if label:
            buttons.append(label)
    for component in map(as_dict, as_list(meta.get("components"))):
        kind = as_str(component.get("type")).lower()
        parameters = list(map(as_dict, as_list(component.get("parameters"))))
        if kind == "header":
            for parameter in parameters:
                p_type = as_str(parameter.get("type"))
                if p_type == "text":
                    header_text = as_str(parameter.get("text"))
                elif p_type in ("image", "video", "document", "location"):
                    header_media = p_type
        elif kind == "button" and not as_list(meta.get("buttons")):
            values = [as_str(p.get("text") or p.get("payload")) for p in parameters]
            label = ", ".join(value for value in values if value)
            sub_type = as_str(component.get("sub_type")).replace("_", " ")
            buttons.append(f"{sub_type}: {label}" if label and sub_type else label or sub_type)
    return {"header_text": header_text, "header_media": header_media, "buttons": tuple(b for b in buttons if b)}


def content_from_meta(message_type: str, meta: Mapping[str, Any], *, text: str = "", sender_type: str = "") -> Content:
    """The typed content of a message in Meta's shape; ``ContentInvalid`` when it cannot be one."""
    common = _common(meta)
    if message_type == "text":
        return TextContent(body=text, preview_url=meta.get("preview_url") is True, **common)
    if message_type in MEDIA_KINDS:
        return MediaContent(
            media_kind=message_type,
            caption=as_str(meta.get("caption")) or text,
            filename=as_str(meta.get("filename")),
            mime_type=as_str(meta.get("mime_type")),
            link=as_str(meta.get("link")),
            voice=meta.get("voice") is True,
            animated=meta.get("animated") is True,
            **common,
        )
    if message_type == "location":
        located = LocationContent(
            latitude=as_str(meta.get("latitude")),
            longitude=as_str(meta.get("longitude")),
            name=as_str(meta.get("name")),
            address=as_str(meta.get("address")),
            url=as_str(meta.get("url")),
            **common,
        )
        return LocationContent.parse(located.to_dict())  # checks the coordinates
    if message_type == "contacts":
        return ContactsContent(
            cards=tuple(_card(card) for card in map(as_dict, as_list(meta.get("contacts")))), **common
        )
    if message_type == "interactive":
        kind = as_str(meta.get("interactive_type"))
        if kind in INTERACTIVE_STYLES:
            return InteractiveContent(
                style=kind,
                body=as_str(meta.get("body")) or text,
                header=_header(meta.get("header")),
                footer=as_str(meta.get("footer")),
                buttons=tuple(
                    Choice(id=as_str(b.get("id")), title=as_str(b.get("title")))
                    for b in map(as_dict, as_list(meta.get("buttons")))
                ),
                list_button=as_str(meta.get("button")),
                sections=tuple(
                    Section(
                        title=as_str(section.get("title")),
                        rows=tuple(
                            Choice(
                                id=as_str(row.get("id")),
                                title=as_str(row.get("title")),
                                description=as_str(row.get("description")),
                            )
                            for row in map(as_dict, as_list(section.get("rows")))
                        ),
                    )
                    for section in map(as_dict, as_list(meta.get("sections")))
                ),
                cta_text=as_str(meta.get("display_text")),
                cta_url=as_str(meta.get("url")),
                **common,
            )
        if not kind:
            raise ContentInvalid(_("An interactive message needs its type."))
        known = ("interactive_type", "id", "title", "description", "name", "body", "response", *_COMMON_KEYS)
        return ReplyContent(
            reply_type=REPLY_TYPES.get(kind, kind),
            id=as_str(meta.get("id")),
            title=as_str(meta.get("title")),
            description=as_str(meta.get("description")),
            flow_name=as_str(meta.get("name")) if kind == "nfm_reply" else "",
            response=meta.get("response") if kind == "nfm_reply" else None,
            details={key: value for key, value in meta.items() if key not in known},
            **common,
        )
    if message_type == "button":
        return ReplyContent(
            reply_type="template_button",
            id=as_str(meta.get("payload")),
            title=as_str(meta.get("text")) or text,
            **common,
        )
    if message_type == "reaction":
        target = as_str(meta.get("message_id"))
        if not target:
            raise ContentInvalid(_("A reaction needs the message it is about."))
        return ReactionContent(emoji=as_str(meta.get("emoji")), target_id=target, **common)
    if message_type == "order":
        return OrderContent(
            catalog_id=as_str(meta.get("catalog_id")),
            note=as_str(meta.get("text")),
            items=tuple(_order_item(item) for item in map(as_dict, as_list(meta.get("product_items")))),
            **common,
        )
    if message_type == "template":
        name, language = as_str(meta.get("name")), as_str(meta.get("language"))
        if not name:
            raise ContentInvalid(_("A template needs its name."))
        return TemplateContent(
            name=name,
            language=language,
            category=as_str(meta.get("category")),
            body=text,
            parameters=meta.get("params") if isinstance(meta.get("params"), dict | list) else None,
            **template_display(meta),
            **common,
        )
    if message_type == "system":
        vendor_event = as_str(meta.get("system_type"))
        event = SYSTEM_EVENTS.get(vendor_event, vendor_event) or ("activity" if sender_type == "system" else "")
        return SystemContent(
            event=event, body=as_str(meta.get("body")) or text, new_number=as_str(meta.get("new_wa_id")), **common
        )
    channel_type = as_str(meta.get("unsupported_type") or meta.get("raw_type"))
    return UnsupportedContent(channel_type=channel_type, **common)


def neutral_from_meta(
    message_type: str, meta: Mapping[str, Any] | None, *, text: str = "", sender_type: str = ""
) -> dict[str, Any]:
    """The neutral content (a JSON object with its version marker) of a message stored in Meta's shape.

    Content that cannot be read as its kind (a location without coordinates, an order line without a
    whole quantity) becomes "unsupported", naming Meta's type: it is never lost, since the caller keeps
    Meta's payload beside it, and never fails the webhook or the migration.
    """
    meta = meta if isinstance(meta, Mapping) else {}
    try:
        return content_from_meta(message_type, meta, text=text, sender_type=sender_type).to_dict()
    except ContentInvalid:
        return UnsupportedContent(channel_type=message_type, **_common(meta)).to_dict()


# -- converting stored rows (the data migration and the management command) ------------------------------


def messages_convert(
    *,
    message_model: Any,
    attachment_model: Any,
    batch_size: int = 1000,
    start_after: int = 0,
    max_batches: int | None = None,
    using: str = "default",
) -> dict[str, int]:
    """Convert stored messages still in Meta's shape to neutral content, keeping that shape in ``raw``.

    Works through the table by primary key, ``batch_size`` rows at a time, each batch in its own short
    transaction that locks only its rows, so the inbox keeps working on a live database. Rows already
    converted (they carry the version marker) are skipped, so it can be stopped and run again at any
    time, and a second run changes nothing. The models are passed in (a migration gives its historical
    ones). Returns ``{"converted", "skipped", "batches", "last_id"}``.
    """
    converted = skipped = batches = 0
    last_id = start_after
    while max_batches is None or batches < max_batches:
        with transaction.atomic(using=using):
            # The batch's ids from the primary key's index; of those, only rows without the version
            # marker are read and locked (a resumed run skips converted rows without reading them).
            ids = list(
                message_model.objects.using(using)
                .filter(pk__gt=last_id)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                break
            stale = list(
                message_model.objects.using(using)
                .select_for_update(no_key=True)
                .filter(pk__gte=ids[0], pk__lte=ids[-1])
                .filter(Q(content__v__isnull=True) | ~Q(content__v=CONTENT_VERSION))
                .order_by("pk")
                .only("pk", "type", "text", "content", "raw", "sender_type", "direction")
            )
            skipped += len(ids) - len(stale)
            # A customer's file: its type and name were kept on the attachment only; the content has them now.
            files: dict[int, tuple[str, str]] = {}
            media_ids = [row.pk for row in stale if row.type in MEDIA_KINDS and row.direction == "in"]
            if media_ids:
                for message_id, mime_type, filename in (
                    attachment_model.objects.using(using)
                    .filter(message_id__in=media_ids)
                    .order_by("-pk")
                    .values_list("message_id", "mime_type", "filename")
                ):
                    files[message_id] = (mime_type, filename)
            for row in stale:
                meta = row.content if isinstance(row.content, dict) else {}
                if row.pk in files:
                    meta = {**meta, "mime_type": files[row.pk][0], "filename": files[row.pk][1]}
                row.raw = row.content if row.raw is None else row.raw
                row.content = neutral_from_meta(row.type, meta, text=row.text, sender_type=row.sender_type)
            if stale:
                _write(message_model, stale, using)
            converted += len(stale)
            last_id = ids[-1]
            batches += 1
    return {"converted": converted, "skipped": skipped, "batches": batches, "last_id": last_id}


def _write(message_model: Any, rows: list[Any], using: str) -> None:
    """Store the converted rows' content and raw in one statement."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        message_model.objects.using(using).bulk_update(rows, ["content", "raw"])
        return
    # One UPDATE joined to the batch as arrays: PostgreSQL matches each row by its key (bulk_update's
    # CASE compares every row with every id of the batch), and the statement stays three parameters long.
    table = connection.ops.quote_name(message_model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS m SET content = v.content, raw = v.raw "  # noqa: S608 - the table name is the model's
            "FROM unnest(%s::bigint[], %s::jsonb[], %s::jsonb[]) AS v(id, content, raw) WHERE m.id = v.id",
            [
                [row.pk for row in rows],
                [json.dumps(row.content) for row in rows],
                [json.dumps(row.raw) for row in rows],
            ],
        )


# -- neutral content back to Meta's request ---------------------------------------------------------------


def meta_header(header: Header | None) -> str | dict[str, Any] | None:
    if header is None:
        return None
    if header.type == "text":
        return header.text
    node = {"id": header.media_id} if header.media_id else {"link": header.link}
    return {"type": header.type, header.type: node}


def meta_contact_card(card: ContactCard) -> dict[str, Any]:
    name = {"formatted_name": card.display_name}
    name.update(
        {
            k: v
            for k, v in (
                ("first_name", card.first_name),
                ("middle_name", card.middle_name),
                ("last_name", card.last_name),
            )
            if v
        }
    )
    result: dict[str, Any] = {"name": name}
    org = {
        k: v for k, v in (("company", card.company), ("department", card.department), ("title", card.job_title)) if v
    }
    if org:
        result["org"] = org
    if card.birthday:
        result["birthday"] = card.birthday
    if card.phones:
        result["phones"] = [
            {k: v for k, v in (("phone", p.number), ("type", p.type), ("wa_id", p.messaging_id)) if v}
            for p in card.phones
        ]
    if card.emails:
        result["emails"] = [{k: v for k, v in (("email", e.address), ("type", e.type)) if v} for e in card.emails]
    if card.urls:
        result["urls"] = [{"url": url} for url in card.urls]
    return result
