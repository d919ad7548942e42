"""Request bodies for ``POST /{version}/{phone-number-id}/messages``, built and checked before they leave.

Pure functions: each returns the dict Meta expects (CONTRACT §3.1/§3.2) or raises ``PayloadError`` naming
the limit that was broken, so an agent sees "button title is 23 characters; WhatsApp allows 20" instead of
a vague 131009 from Meta. Lengths are counted in Unicode characters, as Meta's documentation states them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from conversations.media import MEDIA_KINDS
from whatsapp.limits import CAPTIONED_KINDS, HEADER_MEDIA_KINDS

MESSAGING_PRODUCT = "whatsapp"

MAX_TEXT_BODY = 4096
MAX_CAPTION = 1024
MAX_INTERACTIVE_BODY = 1024
MAX_LIST_BODY = 4096
MAX_HEADER_TEXT = 60
MAX_FOOTER = 60
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_LIST_BUTTON = 20
MAX_LIST_ROWS = 10
MAX_LIST_SECTIONS = 10
MAX_SECTION_TITLE = 24
MAX_ROW_ID = 200
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_CTA_DISPLAY_TEXT = 20
MAX_CALLBACK_DATA = 512
MAX_TEMPLATE_NAME = 512
MAX_CONTACTS = 5
# Payments (CONTRACT §7, Brazil).
MAX_REFERENCE_ID = 60
MAX_ORDER_ITEM_NAME = 60
MAX_ORDER_DESCRIPTION = 120
MAX_PIX_CODE = 512
MONEY_OFFSET = 100
# An order's expiry must be at least this far after the send.
MIN_ORDER_EXPIRY_SECONDS = 300
REFERENCE_ID = re.compile(r"[A-Za-z0-9_.-]+")
GOODS_TYPES = ("digital-goods", "physical-goods")
PAYMENT_CURRENCIES = ("BRL",)
PIX_KEY_TYPES = ("CPF", "CNPJ", "EMAIL", "PHONE", "EVP")
ORDER_STATUSES = ("pending", "processing", "partially_shipped", "shipped", "completed", "canceled")
PAYMENT_STATUSES = ("pending", "captured", "failed")
# Product messages (COMMERCE §2).
MAX_RETAILER_ID = 100
MAX_PRODUCT_SECTIONS = 10
MAX_LIST_PRODUCTS = 30


class PayloadError(ValueError):
    """The message cannot be sent as built; the text says which field and which limit (in the active
    language: each check names its field with a translated phrase, "the caption", "button 2 title")."""


def media_kind_noun(kind: str) -> str:
    """A kind of media or template header ("image", "location") as a noun of the active language; an
    unknown kind as given."""
    nouns = {
        "image": pgettext("media kind", "image"),
        "video": pgettext("media kind", "video"),
        "audio": pgettext("media kind", "audio"),
        "document": pgettext("media kind", "document"),
        "sticker": pgettext("media kind", "sticker"),
        "location": pgettext("media kind", "location"),
    }
    return nouns.get(kind, kind)


# -- checks -------------------------------------------------------------------------------------------


def _check_text(value: Any, what: str, limit: int, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise PayloadError(_("%(what)s must be text, not %(type)s.") % {"what": what, "type": type(value).__name__})
    if required and not value.strip():
        raise PayloadError(_("%(what)s is empty.") % {"what": what})
    if len(value) > limit:
        raise PayloadError(_too_long(what, len(value), limit))
    return value


def _too_long(what: str, length: int, limit: int) -> str:
    return ngettext(
        "%(what)s is %(n)s character; WhatsApp allows %(limit)s.",
        "%(what)s is %(n)s characters; WhatsApp allows %(limit)s.",
        length,
    ) % {"what": what, "n": length, "limit": limit}


def _check_url(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(_("%(what)s is empty.") % {"what": what})
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PayloadError(_("%(what)s must be an http(s) URL, got %(value)r.") % {"what": what, "value": value})
    return value


def _check_recipient(to: Any) -> str:
    if not isinstance(to, str) or not to.strip():
        raise PayloadError(_("The recipient ('to') is empty."))
    return to


def _envelope(
    to: str, message_type: str, *, reply_to: str | None = None, callback_data: str | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "messaging_product": MESSAGING_PRODUCT,
        "recipient_type": "individual",
        "to": _check_recipient(to),
        "type": message_type,
    }
    if reply_to is not None:
        payload["context"] = {"message_id": _check_text(reply_to, _("The quoted message id (reply_to)"), 512)}
    if callback_data is not None:
        payload["biz_opaque_callback_data"] = _check_text(
            callback_data, _("callback_data (biz_opaque_callback_data)"), MAX_CALLBACK_DATA
        )
    return payload


def _media_object(kind: str, media_id: str | None, link: str | None) -> dict[str, Any]:
    if (media_id is None) == (link is None):
        raise PayloadError(
            _("Give exactly one of media_id or link for the %(kind)s.") % {"kind": media_kind_noun(kind)}
        )
    if media_id is not None:
        return {"id": _check_text(media_id, _("The %(kind)s media id") % {"kind": media_kind_noun(kind)}, 256)}
    return {"link": _check_url(link, _("The %(kind)s link") % {"kind": media_kind_noun(kind)})}


def _interactive_header(header: str | Mapping[str, Any] | None, *, text_only: bool = False) -> dict[str, Any] | None:
    """A header is either a plain string (a text header) or a Meta header object (see ``media_header``)."""
    if header is None:
        return None
    if isinstance(header, str):
        return {"type": "text", "text": _check_text(header, _("The header"), MAX_HEADER_TEXT)}
    if not isinstance(header, Mapping):
        raise PayloadError(_("The header must be a string or a header object."))
    header_type = header.get("type")
    if header_type == "text":
        return {"type": "text", "text": _check_text(header.get("text"), _("The header"), MAX_HEADER_TEXT)}
    if text_only:
        raise PayloadError(_("This message allows only a text header, not %(type)r.") % {"type": header_type})
    if header_type not in HEADER_MEDIA_KINDS:
        raise PayloadError(
            _("Header type must be text, image, video or document, not %(type)r.") % {"type": header_type}
        )
    node = header.get(header_type)
    if not isinstance(node, Mapping) or ("id" in node) == ("link" in node):
        raise PayloadError(
            _("The %(kind)s header needs exactly one of 'id' or 'link'.") % {"kind": media_kind_noun(header_type)}
        )
    return {"type": header_type, header_type: _media_object(header_type, node.get("id"), node.get("link"))}


def _interactive(
    to: str,
    kind: str,
    body: str | None,
    action: dict[str, Any],
    *,
    header: dict[str, Any] | None,
    footer: str | None,
    body_limit: int,
    reply_to: str | None,
    callback_data: str | None,
) -> dict[str, Any]:
    payload = _envelope(to, "interactive", reply_to=reply_to, callback_data=callback_data)
    interactive: dict[str, Any] = {"type": kind}
    if header is not None:
        interactive["header"] = header
    if body is not None:
        interactive["body"] = {"text": _check_text(body, _("The message body"), body_limit)}
    if footer is not None:
        interactive["footer"] = {"text": _check_text(footer, _("The footer"), MAX_FOOTER)}
    interactive["action"] = action
    payload["interactive"] = interactive
    return payload


def _unique(values: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise PayloadError(
                _("%(what)s %(value)r is used twice; each must be unique.") % {"what": what, "value": value}
            )
        seen.add(value)


# -- builders -----------------------------------------------------------------------------------------


def media_header(kind: str, *, media_id: str | None = None, link: str | None = None) -> dict[str, Any]:
    """An image, video or document header for ``interactive_buttons`` / ``interactive_cta_url``."""
    if kind not in HEADER_MEDIA_KINDS:
        raise PayloadError(_("A media header is an image, video or document, not %(kind)r.") % {"kind": kind})
    return {"type": kind, kind: _media_object(kind, media_id, link)}


def text(
    to: str,
    body: str,
    *,
    preview_url: bool = False,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> dict[str, Any]:
    payload = _envelope(to, "text", reply_to=reply_to, callback_data=callback_data)
    payload["text"] = {
        "body": _check_text(body, _("The message text"), MAX_TEXT_BODY),
        "preview_url": bool(preview_url),
    }
    return payload


def media(
    to: str,
    kind: str,
    *,
    media_id: str | None = None,
    link: str | None = None,
    caption: str | None = None,
    filename: str | None = None,
    voice: bool = False,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> dict[str, Any]:
    """Image, audio, video, document or sticker, by uploaded ``media_id`` or public ``link``."""
    if kind not in MEDIA_KINDS:
        raise PayloadError(
            _("Media kind must be one of %(kinds)s, not %(kind)r.") % {"kinds": ", ".join(MEDIA_KINDS), "kind": kind}
        )
    node = _media_object(kind, media_id, link)
    if caption is not None:
        if kind not in CAPTIONED_KINDS:
            refused = {
                "audio": _("Audio messages cannot have a caption; only images, videos and documents can."),
                "sticker": _("Sticker messages cannot have a caption; only images, videos and documents can."),
            }
            raise PayloadError(
                refused.get(kind)
                or _("This kind of message cannot have a caption; only images, videos and documents can.")
            )
        node["caption"] = _check_text(caption, _("The caption"), MAX_CAPTION)
    if filename is not None:
        if kind != "document":
            raise PayloadError(_("Only documents have a filename."))
        node["filename"] = _check_text(filename, _("The filename"), 240)
    if voice:
        if kind != "audio":
            raise PayloadError(_("Only audio can be sent as a voice message."))
        node["voice"] = True
    payload = _envelope(to, kind, reply_to=reply_to, callback_data=callback_data)
    payload[kind] = node
    return payload


def reaction(to: str, message_id: str, emoji: str, callback_data: str | None = None) -> dict[str, Any]:
    """React to ``message_id`` with ``emoji``; an empty emoji removes an earlier reaction."""
    if not isinstance(emoji, str) or len(emoji) > 16:
        raise PayloadError(_("The reaction must be a single emoji (or empty to remove it)."))
    payload = _envelope(to, "reaction", callback_data=callback_data)
    payload["reaction"] = {"message_id": _check_text(message_id, _("The reacted message id"), 512), "emoji": emoji}
    return payload


def interactive_buttons(
    to: str,
    body: str,
    buttons: Sequence[tuple[str, str]],
    *,
    header: str | Mapping[str, Any] | None = None,
    footer: str | None = None,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> dict[str, Any]:
    """Up to three reply buttons, given as ``(id, title)`` pairs."""
    if not buttons:
        raise PayloadError(_("A button message needs at least one button."))
    if len(buttons) > MAX_BUTTONS:
        raise PayloadError(
            ngettext(
                "A button message has %(n)s button; WhatsApp allows %(limit)s.",
                "A button message has %(n)s buttons; WhatsApp allows %(limit)s.",
                len(buttons),
            )
            % {"n": len(buttons), "limit": MAX_BUTTONS}
        )
    rendered: list[dict[str, Any]] = []
    for position, button in enumerate(buttons, start=1):
        if not isinstance(button, tuple | list) or len(button) != 2:
            raise PayloadError(_("Button %(n)s must be an (id, title) pair.") % {"n": position})
        button_id, title = button
        rendered.append(
            {
                "type": "reply",
                "reply": {
                    "id": _check_text(button_id, _("Button %(n)s id") % {"n": position}, MAX_BUTTON_ID),
                    "title": _check_text(title, _("Button %(n)s title") % {"n": position}, MAX_BUTTON_TITLE),
                },
            }
        )
    _unique((b["reply"]["id"] for b in rendered), _("Button id"))
    _unique((b["reply"]["title"] for b in rendered), _("Button title"))
    return _interactive(
        to,
        "button",
        body,
        {"buttons": rendered},
        header=_interactive_header(header),
        footer=footer,
        body_limit=MAX_INTERACTIVE_BODY,
        reply_to=reply_to,
        callback_data=callback_data,
    )


def _list_row(row: Any, where: dict[str, int]) -> dict[str, Any]:
    """One row of a list; ``where`` is its place, ``{"section": 1, "row": 2}``."""
    if isinstance(row, tuple | list):
        if len(row) not in (2, 3):
            raise PayloadError(
                _("Section %(section)s row %(row)s must be (id, title) or (id, title, description).") % where
            )
        row = dict(zip(("id", "title", "description"), row, strict=False))
    if not isinstance(row, Mapping):
        raise PayloadError(
            _("Section %(section)s row %(row)s must be a dict with id, title and an optional description.") % where
        )
    unknown = set(row) - {"id", "title", "description"}
    if unknown:
        raise PayloadError(
            _("Section %(section)s row %(row)s has unknown keys: %(keys)s.")
            % {**where, "keys": ", ".join(sorted(unknown))}
        )
    rendered = {
        "id": _check_text(row.get("id"), _("Section %(section)s row %(row)s id") % where, MAX_ROW_ID),
        "title": _check_text(row.get("title"), _("Section %(section)s row %(row)s title") % where, MAX_ROW_TITLE),
    }
    if row.get("description") is not None:
        rendered["description"] = _check_text(
            row["description"], _("Section %(section)s row %(row)s description") % where, MAX_ROW_DESCRIPTION
        )
    return rendered


def interactive_list(
    to: str,
    body: str,
    button: str,
    sections: Sequence[Mapping[str, Any]],
    *,
    header: str | Mapping[str, Any] | None = None,
    footer: str | None = None,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> dict[str, Any]:
    """A list message. ``sections`` = ``[{"title": ..., "rows": [{"id", "title", "description"?} | tuple]}]``."""
    if not sections:
        raise PayloadError(_("A list message needs at least one section."))
    if len(sections) > MAX_LIST_SECTIONS:
        raise PayloadError(
            ngettext(
                "A list message has %(n)s section; WhatsApp allows %(limit)s.",
                "A list message has %(n)s sections; WhatsApp allows %(limit)s.",
                len(sections),
            )
            % {"n": len(sections), "limit": MAX_LIST_SECTIONS}
        )
    rendered_sections = []
    total_rows = 0
    for s_pos, section in enumerate(sections, start=1):
        if not isinstance(section, Mapping):
            raise PayloadError(_("Section %(n)s must be a dict with a title and rows.") % {"n": s_pos})
        rendered: dict[str, Any] = {}
        title = section.get("title")
        if title is not None:
            rendered["title"] = _check_text(title, _("Section %(n)s title") % {"n": s_pos}, MAX_SECTION_TITLE)
        elif len(sections) > 1:
            raise PayloadError(
                _("Section %(n)s needs a title: every section must have one when there are several.") % {"n": s_pos}
            )
        rows = section.get("rows") or []
        if not rows:
            raise PayloadError(_("Section %(n)s has no rows.") % {"n": s_pos})
        rendered["rows"] = [_list_row(row, {"section": s_pos, "row": r_pos}) for r_pos, row in enumerate(rows, start=1)]
        total_rows += len(rendered["rows"])
        rendered_sections.append(rendered)
    if total_rows > MAX_LIST_ROWS:
        raise PayloadError(
            ngettext(
                "A list message has %(n)s row in all; WhatsApp allows %(limit)s.",
                "A list message has %(n)s rows in all; WhatsApp allows %(limit)s.",
                total_rows,
            )
            % {"n": total_rows, "limit": MAX_LIST_ROWS}
        )
    _unique((row["id"] for s in rendered_sections for row in s["rows"]), _("Row id"))
    action = {
        "button": _check_text(button, _("The list button label"), MAX_LIST_BUTTON),
        "sections": rendered_sections,
    }
    return _interactive(
        to,
        "list",
        body,
        action,
        header=_interactive_header(header, text_only=True),
        footer=footer,
        body_limit=MAX_LIST_BODY,
        reply_to=reply_to,
        callback_data=callback_data,
    )


def interactive_cta_url(
    to: str,
    body: str,
    display_text: str,
    url: str,
    *,
    header: str | Mapping[str, Any] | None = None,
    footer: str | None = None,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> dict[str, Any]:
    """A message with one button that opens ``url`` (payment links, tracking pages...)."""
    action = {
        "name": "cta_url",
        "parameters": {
            "display_text": _check_text(display_text, _("The button label"), MAX_CTA_DISPLAY_TEXT),
            "url": _check_url(url, _("The button URL")),
        },
    }
    return _interactive(
        to,
        "cta_url",
        body,
        action,
        header=_interactive_header(header),
        footer=footer,
        body_limit=MAX_INTERACTIVE_BODY,
        reply_to=reply_to,
        callback_data=callback_data,
    )


def location(
    to: str,
    latitude: float,
    longitude: float,
    *,
    name: str | None = None,
    address: str | None = None,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> dict[str, Any]:
    for value, label, bound in ((latitude, _("Latitude"), 90), (longitude, _("Longitude"), 180)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not -bound <= value <= bound:
            raise PayloadError(
                _("%(what)s must be a number between -%(bound)s and %(bound)s, got %(value)r.")
                % {"what": label, "bound": bound, "value": value}
            )
    node: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if name is not None:
        node["name"] = _check_text(name, _("The location name"), 1000)
    if address is not None:
        node["address"] = _check_text(address, _("The location address"), 1000)
    payload = _envelope(to, "location", reply_to=reply_to, callback_data=callback_data)
    payload["location"] = node
    return payload


def contacts(
    to: str,
    cards: Sequence[Mapping[str, Any]],
    *,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> dict[str, Any]:
    """Share contact cards, each in Meta's shape (``name.formatted_name`` required, phones, emails...)."""
    if not cards:
        raise PayloadError(_("Share at least one contact card."))
    if len(cards) > MAX_CONTACTS:
        raise PayloadError(
            ngettext(
                "%(n)s contact card; WhatsApp allows %(limit)s per message.",
                "%(n)s contact cards; WhatsApp allows %(limit)s per message.",
                len(cards),
            )
            % {"n": len(cards), "limit": MAX_CONTACTS}
        )
    rendered = []
    for position, card in enumerate(cards, start=1):
        name = card.get("name") if isinstance(card, Mapping) else None
        if not isinstance(name, Mapping) or not str(name.get("formatted_name") or "").strip():
            raise PayloadError(_("Contact card %(n)s needs name.formatted_name.") % {"n": position})
        rendered.append(dict(card))
    payload = _envelope(to, "contacts", reply_to=reply_to, callback_data=callback_data)
    payload["contacts"] = rendered
    return payload


def template(
    to: str,
    name: str,
    language: str,
    components: Sequence[Mapping[str, Any]] | None,
    *,
    callback_data: str | None = None,
    reply_to: str | None = None,
) -> dict[str, Any]:
    """An approved template; ``components`` as built by ``whatsapp.templates_validation``.

    Empty components are left out, as Meta's own ``hello_world`` example does.
    """
    _check_text(name, _("The template name"), MAX_TEMPLATE_NAME)
    _check_text(language, _("The template language code"), 16)
    node: dict[str, Any] = {"name": name, "language": {"code": language}}
    rendered = []
    for position, component in enumerate(components or [], start=1):
        if not isinstance(component, Mapping) or component.get("type") not in ("header", "body", "button"):
            raise PayloadError(
                _("Template component %(n)s must be a header, body or button component.") % {"n": position}
            )
        if component["type"] == "button" and ("sub_type" not in component or "index" not in component):
            raise PayloadError(_("Template button component %(n)s needs sub_type and index.") % {"n": position})
        rendered.append(dict(component))
    if rendered:
        node["components"] = rendered
    payload = _envelope(to, "template", reply_to=reply_to, callback_data=callback_data)
    payload["template"] = node
    return payload


def _check_choice(value: Any, what: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise PayloadError(
            _("%(what)s must be one of %(choices)s, not %(value)r.")
            % {"what": what, "choices": ", ".join(choices), "value": value}
        )
    return str(value)


def _check_reference_id(reference_id: Any) -> str:
    _check_text(reference_id, _("The order reference (reference_id)"), MAX_REFERENCE_ID)
    if not REFERENCE_ID.fullmatch(reference_id):
        raise PayloadError(
            _("The order reference (reference_id) may only hold letters, digits, _ . and -, got %(value)r.")
            % {"value": reference_id}
        )
    return str(reference_id)


def _check_count(value: Any, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise PayloadError(
            _("%(what)s must be a whole number of at least %(low)s, got %(value)r.")
            % {"what": what, "low": low, "value": value}
        )
    return value


def amount(value: int, what: str) -> dict[str, int]:
    """An amount in cents as Meta writes money in payments: ``{"value": 1234, "offset": 100}`` is 12.34."""
    return {"value": _check_count(value, what, 0), "offset": MONEY_OFFSET}


def pix_dynamic_code(code: str, *, merchant_name: str, key: str, key_type: str) -> dict[str, Any]:
    """A ``payment_settings`` entry: a Pix charge's BR Code (copy and paste) and the key it pays."""
    return {
        "type": "pix_dynamic_code",
        "pix_dynamic_code": {
            "code": _check_text(code, _("The Pix code"), MAX_PIX_CODE),
            "merchant_name": _check_text(merchant_name, _("The Pix merchant name"), 100),
            "key": _check_text(key, _("The Pix key"), 100),
            "key_type": _check_choice(key_type, _("The Pix key type"), PIX_KEY_TYPES),
        },
    }


def payment_link(uri: str) -> dict[str, Any]:
    """A ``payment_settings`` entry: a link to a page where the customer pays."""
    return {"type": "payment_link", "payment_link": {"uri": _check_url(uri, _("The payment link"))}}


def order_item(retailer_id: str, name: str, unit_amount: int, quantity: int, *, position: int) -> dict[str, Any]:
    """A line of an order; ``position`` (from 1) names it in errors."""
    where = {"n": position}
    return {
        "retailer_id": _check_text(retailer_id, _("Item %(n)s id (retailer_id)") % where, 100),
        "name": _check_text(name, _("Item %(n)s name") % where, MAX_ORDER_ITEM_NAME),
        "amount": amount(unit_amount, _("Item %(n)s price") % where),
        "quantity": _check_count(quantity, _("Item %(n)s quantity") % where, 1),
    }


def interactive_order_details(
    to: str,
    body: str,
    *,
    reference_id: str,
    goods_type: str,
    currency: str,
    payment_settings: Sequence[Mapping[str, Any]],
    items: Sequence[Mapping[str, Any]],
    subtotal: int,
    tax: int,
    total: int,
    shipping: int = 0,
    discount: int = 0,
    expiration: tuple[int, str] | None = None,
    footer: str | None = None,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> dict[str, Any]:
    """A request to pay an order in Brazil (``review_and_pay``), with ``items`` built by ``order_item`` and
    ``payment_settings`` by ``pix_dynamic_code`` / ``payment_link``; amounts in cents. Shipping and
    discount are sent only when not 0; ``expiration`` is ``(Unix time, description)``."""
    if not payment_settings:
        raise PayloadError(_("A payment request needs a way to pay: a Pix code or a payment link."))
    if not items:
        raise PayloadError(_("A payment request needs at least one item."))
    lines = sum(item["amount"]["value"] * item["quantity"] for item in items)
    order: dict[str, Any] = {
        "status": "pending",
        "items": [dict(item) for item in items],
        "subtotal": amount(subtotal, _("The subtotal")),
        "tax": amount(tax, _("The tax")),
    }
    if subtotal != lines:
        raise PayloadError(
            _("The subtotal (%(given)s) must equal the items' amounts times their quantities (%(expected)s).")
            % {"given": subtotal, "expected": lines}
        )
    if shipping:
        order["shipping"] = amount(shipping, _("The shipping"))
    if discount:
        order["discount"] = amount(discount, _("The discount"))
    expected = subtotal + tax + shipping - discount
    if total != expected:
        raise PayloadError(
            _("The total (%(given)s) must equal subtotal + tax + shipping - discount (%(expected)s).")
            % {"given": total, "expected": expected}
        )
    if expiration is not None:
        timestamp, description = expiration
        # Meta documents the expiry as a string of seconds (a payment's timestamp is a number).
        order["expiration"] = {
            "timestamp": str(_check_count(timestamp, _("The expiry time"), 1)),
            "description": _check_text(description, _("The expiry description"), MAX_ORDER_DESCRIPTION),
        }
    parameters = {
        "reference_id": _check_reference_id(reference_id),
        "type": _check_choice(goods_type, _("The kind of goods"), GOODS_TYPES),
        "payment_type": "br",
        "payment_settings": [dict(setting) for setting in payment_settings],
        "currency": _check_choice(currency, _("The currency"), PAYMENT_CURRENCIES),
        "total_amount": amount(total, _("The total")),
        "order": order,
    }
    return _interactive(
        to,
        "order_details",
        body,
        {"name": "review_and_pay", "parameters": parameters},
        header=None,
        footer=footer,
        body_limit=MAX_INTERACTIVE_BODY,
        reply_to=reply_to,
        callback_data=callback_data,
    )


def interactive_order_status(
    to: str,
    body: str,
    *,
    reference_id: str,
    order_status: str | None = None,
    description: str | None = None,
    payment_status: str | None = None,
    payment_timestamp: int | None = None,
    footer: str | None = None,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> dict[str, Any]:
    """Where an order sent with ``interactive_order_details`` stands (``review_order``): its status, its
    payment's ("captured" shows as paid), or both."""
    if order_status is None and payment_status is None:
        raise PayloadError(_("An order status needs the order's status, its payment's status, or both."))
    parameters: dict[str, Any] = {"reference_id": _check_reference_id(reference_id)}
    if order_status is not None:
        order = {"status": _check_choice(order_status, _("The order status"), ORDER_STATUSES)}
        if description is not None:
            order["description"] = _check_text(description, _("The order status description"), MAX_ORDER_DESCRIPTION)
        parameters["order"] = order
    elif description is not None:
        raise PayloadError(_("A description goes with the order's status."))
    if payment_status is not None:
        payment: dict[str, Any] = {"status": _check_choice(payment_status, _("The payment status"), PAYMENT_STATUSES)}
        if payment_timestamp is not None:
            payment["timestamp"] = _check_count(payment_timestamp, _("The payment time"), 1)
        parameters["payment"] = payment
    elif payment_timestamp is not None:
        raise PayloadError(_("A payment time goes with the payment's status."))
    return _interactive(
        to,
        "order_status",
        body,
        {"name": "review_order", "parameters": parameters},
        header=None,
        footer=footer,
        body_limit=MAX_INTERACTIVE_BODY,
        reply_to=reply_to,
        callback_data=callback_data,
    )


def _check_retailer_id(value: Any, what: str) -> str:
    retailer_id = _check_text(value, what, MAX_RETAILER_ID)
    if retailer_id != retailer_id.strip():
        raise PayloadError(_("%(what)s must not start or end with a space.") % {"what": what})
    return retailer_id


def interactive_product(
    to: str,
    catalog_id: str,
    retailer_id: str,
    *,
    body: str | None = None,
    footer: str | None = None,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> dict[str, Any]:
    """One product of the number's catalog (COMMERCE §2.1): WhatsApp shows its image, name and price; the
    body is optional and a header is not allowed."""
    action = {
        "catalog_id": _check_text(catalog_id, _("The catalog id"), 100),
        "product_retailer_id": _check_retailer_id(retailer_id, _("The product's SKU (product_retailer_id)")),
    }
    return _interactive(
        to,
        "product",
        body or None,
        action,
        header=None,
        footer=footer,
        body_limit=MAX_INTERACTIVE_BODY,
        reply_to=reply_to,
        callback_data=callback_data,
    )


def interactive_product_list(
    to: str,
    catalog_id: str,
    header: str,
    body: str,
    sections: Sequence[tuple[str, Sequence[str]]],
    *,
    footer: str | None = None,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> dict[str, Any]:
    """Several products of the catalog in sections (COMMERCE §2.2), given as ``(title, [SKU, ...])``: a text
    header and a body are required; 1 to 10 sections, each titled when there are several, 30 products in all."""
    if not sections:
        raise PayloadError(_("A product list needs at least one section."))
    if len(sections) > MAX_PRODUCT_SECTIONS:
        raise PayloadError(
            ngettext(
                "A product list has %(n)s section; WhatsApp allows %(limit)s.",
                "A product list has %(n)s sections; WhatsApp allows %(limit)s.",
                len(sections),
            )
            % {"n": len(sections), "limit": MAX_PRODUCT_SECTIONS}
        )
    rendered = []
    for s_pos, (title, retailer_ids) in enumerate(sections, start=1):
        section: dict[str, Any] = {}
        if title:
            section["title"] = _check_text(title, _("Section %(n)s title") % {"n": s_pos}, MAX_SECTION_TITLE)
        elif len(sections) > 1:
            raise PayloadError(
                _("Section %(n)s needs a title: every section must have one when there are several.") % {"n": s_pos}
            )
        if not retailer_ids:
            raise PayloadError(_("Section %(n)s has no products.") % {"n": s_pos})
        section["product_items"] = [
            {
                "product_retailer_id": _check_retailer_id(
                    sku, _("Section %(section)s product %(row)s SKU") % {"section": s_pos, "row": r_pos}
                )
            }
            for r_pos, sku in enumerate(retailer_ids, start=1)
        ]
        rendered.append(section)
    total = sum(len(section["product_items"]) for section in rendered)
    if total > MAX_LIST_PRODUCTS:
        raise PayloadError(
            ngettext(
                "A product list has %(n)s product in all; WhatsApp allows %(limit)s.",
                "A product list has %(n)s products in all; WhatsApp allows %(limit)s.",
                total,
            )
            % {"n": total, "limit": MAX_LIST_PRODUCTS}
        )
    action = {"catalog_id": _check_text(catalog_id, _("The catalog id"), 100), "sections": rendered}
    return _interactive(
        to,
        "product_list",
        body,
        action,
        header={"type": "text", "text": _check_text(header, _("The header"), MAX_HEADER_TEXT)},
        footer=footer,
        body_limit=MAX_INTERACTIVE_BODY,
        reply_to=reply_to,
        callback_data=callback_data,
    )


def interactive_catalog(
    to: str,
    body: str,
    *,
    thumbnail_retailer_id: str | None = None,
    footer: str | None = None,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> dict[str, Any]:
    """The whole catalog behind a "View catalog" button (COMMERCE §2.3); the thumbnail product's image heads
    it (WhatsApp takes the first product's when none is named). A header is not allowed."""
    action: dict[str, Any] = {"name": "catalog_message"}
    if thumbnail_retailer_id:
        action["parameters"] = {
            "thumbnail_product_retailer_id": _check_retailer_id(
                thumbnail_retailer_id, _("The thumbnail product's SKU (thumbnail_product_retailer_id)")
            )
        }
    return _interactive(
        to,
        "catalog_message",
        body,
        action,
        header=None,
        footer=footer,
        body_limit=MAX_INTERACTIVE_BODY,
        reply_to=reply_to,
        callback_data=callback_data,
    )


def mark_read(wamid: str, typing: bool = False) -> dict[str, Any]:
    """Blue ticks for an inbound message; ``typing`` also shows "typing..." (cleared after 25 s or on reply)."""
    payload: dict[str, Any] = {
        "messaging_product": MESSAGING_PRODUCT,
        "status": "read",
        "message_id": _check_text(wamid, _("The message id to mark as read"), 512),
    }
    if typing:
        payload["typing_indicator"] = {"type": "text"}
    return payload
