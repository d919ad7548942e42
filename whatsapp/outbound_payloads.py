"""Request bodies for ``POST /{version}/{phone-number-id}/messages``, built and checked before they leave.

Pure functions: each returns the dict Meta expects (CONTRACT §3.1/§3.2) or raises ``PayloadError`` naming
the limit that was broken, so an agent sees "button title is 23 characters; WhatsApp allows 20" instead of
a vague 131009 from Meta. Lengths are counted in Unicode characters, as Meta's documentation states them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

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


class PayloadError(ValueError):
    """The message cannot be sent as built; the text says which field and which limit."""


# -- checks -------------------------------------------------------------------------------------------


def _check_text(value: Any, what: str, limit: int, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise PayloadError(f"{what} must be text, not {type(value).__name__}.")
    if required and not value.strip():
        raise PayloadError(f"{what} is empty.")
    if len(value) > limit:
        raise PayloadError(f"{what} is {len(value)} characters; WhatsApp allows {limit}.")
    return value


def _check_url(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"{what} is empty.")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PayloadError(f"{what} must be an http(s) URL, got {value!r}.")
    return value


def _check_recipient(to: Any) -> str:
    if not isinstance(to, str) or not to.strip():
        raise PayloadError("The recipient ('to') is empty.")
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
        payload["context"] = {"message_id": _check_text(reply_to, "The quoted message id (reply_to)", 512)}
    if callback_data is not None:
        payload["biz_opaque_callback_data"] = _check_text(
            callback_data, "callback_data (biz_opaque_callback_data)", MAX_CALLBACK_DATA
        )
    return payload


def _media_object(kind: str, media_id: str | None, link: str | None) -> dict[str, Any]:
    if (media_id is None) == (link is None):
        raise PayloadError(f"Give exactly one of media_id or link for the {kind}.")
    if media_id is not None:
        return {"id": _check_text(media_id, f"The {kind} media id", 256)}
    return {"link": _check_url(link, f"The {kind} link")}


def _interactive_header(header: str | Mapping[str, Any] | None, *, text_only: bool = False) -> dict[str, Any] | None:
    """A header is either a plain string (a text header) or a Meta header object (see ``media_header``)."""
    if header is None:
        return None
    if isinstance(header, str):
        return {"type": "text", "text": _check_text(header, "The header", MAX_HEADER_TEXT)}
    if not isinstance(header, Mapping):
        raise PayloadError("The header must be a string or a header object.")
    header_type = header.get("type")
    if header_type == "text":
        return {"type": "text", "text": _check_text(header.get("text"), "The header", MAX_HEADER_TEXT)}
    if text_only:
        raise PayloadError(f"This message allows only a text header, not {header_type!r}.")
    if header_type not in HEADER_MEDIA_KINDS:
        raise PayloadError(f"Header type must be text, image, video or document, not {header_type!r}.")
    node = header.get(header_type)
    if not isinstance(node, Mapping) or ("id" in node) == ("link" in node):
        raise PayloadError(f"The {header_type} header needs exactly one of 'id' or 'link'.")
    return {"type": header_type, header_type: _media_object(header_type, node.get("id"), node.get("link"))}


def _interactive(
    to: str,
    kind: str,
    body: str,
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
    interactive["body"] = {"text": _check_text(body, "The message body", body_limit)}
    if footer is not None:
        interactive["footer"] = {"text": _check_text(footer, "The footer", MAX_FOOTER)}
    interactive["action"] = action
    payload["interactive"] = interactive
    return payload


def _unique(values: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise PayloadError(f"{what} {value!r} is used twice; each must be unique.")
        seen.add(value)


# -- builders -----------------------------------------------------------------------------------------


def media_header(kind: str, *, media_id: str | None = None, link: str | None = None) -> dict[str, Any]:
    """An image, video or document header for ``interactive_buttons`` / ``interactive_cta_url``."""
    if kind not in HEADER_MEDIA_KINDS:
        raise PayloadError(f"A media header is an image, video or document, not {kind!r}.")
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
    payload["text"] = {"body": _check_text(body, "The message text", MAX_TEXT_BODY), "preview_url": bool(preview_url)}
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
        raise PayloadError(f"Media kind must be one of {', '.join(MEDIA_KINDS)}, not {kind!r}.")
    node = _media_object(kind, media_id, link)
    if caption is not None:
        if kind not in CAPTIONED_KINDS:
            raise PayloadError(
                f"{kind.capitalize()} messages cannot have a caption; only images, videos and documents can."
            )
        node["caption"] = _check_text(caption, "The caption", MAX_CAPTION)
    if filename is not None:
        if kind != "document":
            raise PayloadError("Only documents have a filename.")
        node["filename"] = _check_text(filename, "The filename", 240)
    if voice:
        if kind != "audio":
            raise PayloadError("Only audio can be sent as a voice message.")
        node["voice"] = True
    payload = _envelope(to, kind, reply_to=reply_to, callback_data=callback_data)
    payload[kind] = node
    return payload


def reaction(to: str, message_id: str, emoji: str, callback_data: str | None = None) -> dict[str, Any]:
    """React to ``message_id`` with ``emoji``; an empty emoji removes an earlier reaction."""
    if not isinstance(emoji, str) or len(emoji) > 16:
        raise PayloadError("The reaction must be a single emoji (or empty to remove it).")
    payload = _envelope(to, "reaction", callback_data=callback_data)
    payload["reaction"] = {"message_id": _check_text(message_id, "The reacted message id", 512), "emoji": emoji}
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
        raise PayloadError("A button message needs at least one button.")
    if len(buttons) > MAX_BUTTONS:
        raise PayloadError(f"A button message has {len(buttons)} buttons; WhatsApp allows {MAX_BUTTONS}.")
    rendered: list[dict[str, Any]] = []
    for position, button in enumerate(buttons, start=1):
        if not isinstance(button, tuple | list) or len(button) != 2:
            raise PayloadError(f"Button {position} must be an (id, title) pair.")
        button_id, title = button
        rendered.append(
            {
                "type": "reply",
                "reply": {
                    "id": _check_text(button_id, f"Button {position} id", MAX_BUTTON_ID),
                    "title": _check_text(title, f"Button {position} title", MAX_BUTTON_TITLE),
                },
            }
        )
    _unique((b["reply"]["id"] for b in rendered), "Button id")
    _unique((b["reply"]["title"] for b in rendered), "Button title")
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


def _list_row(row: Any, where: str) -> dict[str, Any]:
    if isinstance(row, tuple | list):
        if len(row) not in (2, 3):
            raise PayloadError(f"{where} must be (id, title) or (id, title, description).")
        row = dict(zip(("id", "title", "description"), row, strict=False))
    if not isinstance(row, Mapping):
        raise PayloadError(f"{where} must be a dict with id, title and an optional description.")
    unknown = set(row) - {"id", "title", "description"}
    if unknown:
        raise PayloadError(f"{where} has unknown keys: {', '.join(sorted(unknown))}.")
    rendered = {
        "id": _check_text(row.get("id"), f"{where} id", MAX_ROW_ID),
        "title": _check_text(row.get("title"), f"{where} title", MAX_ROW_TITLE),
    }
    if row.get("description") is not None:
        rendered["description"] = _check_text(row["description"], f"{where} description", MAX_ROW_DESCRIPTION)
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
        raise PayloadError("A list message needs at least one section.")
    if len(sections) > MAX_LIST_SECTIONS:
        raise PayloadError(f"A list message has {len(sections)} sections; WhatsApp allows {MAX_LIST_SECTIONS}.")
    rendered_sections = []
    total_rows = 0
    for s_pos, section in enumerate(sections, start=1):
        if not isinstance(section, Mapping):
            raise PayloadError(f"Section {s_pos} must be a dict with a title and rows.")
        rendered: dict[str, Any] = {}
        title = section.get("title")
        if title is not None:
            rendered["title"] = _check_text(title, f"Section {s_pos} title", MAX_SECTION_TITLE)
        elif len(sections) > 1:
            raise PayloadError(f"Section {s_pos} needs a title: every section must have one when there are several.")
        rows = section.get("rows") or []
        if not rows:
            raise PayloadError(f"Section {s_pos} has no rows.")
        rendered["rows"] = [_list_row(row, f"Section {s_pos} row {r_pos}") for r_pos, row in enumerate(rows, start=1)]
        total_rows += len(rendered["rows"])
        rendered_sections.append(rendered)
    if total_rows > MAX_LIST_ROWS:
        raise PayloadError(f"A list message has {total_rows} rows in all; WhatsApp allows {MAX_LIST_ROWS}.")
    _unique((row["id"] for s in rendered_sections for row in s["rows"]), "Row id")
    action = {"button": _check_text(button, "The list button label", MAX_LIST_BUTTON), "sections": rendered_sections}
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
            "display_text": _check_text(display_text, "The button label", MAX_CTA_DISPLAY_TEXT),
            "url": _check_url(url, "The button URL"),
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
    for value, label, bound in ((latitude, "Latitude", 90), (longitude, "Longitude", 180)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not -bound <= value <= bound:
            raise PayloadError(f"{label} must be a number between -{bound} and {bound}, got {value!r}.")
    node: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if name is not None:
        node["name"] = _check_text(name, "The location name", 1000)
    if address is not None:
        node["address"] = _check_text(address, "The location address", 1000)
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
        raise PayloadError("Share at least one contact card.")
    if len(cards) > MAX_CONTACTS:
        raise PayloadError(f"{len(cards)} contact cards; WhatsApp allows {MAX_CONTACTS} per message.")
    rendered = []
    for position, card in enumerate(cards, start=1):
        name = card.get("name") if isinstance(card, Mapping) else None
        if not isinstance(name, Mapping) or not str(name.get("formatted_name") or "").strip():
            raise PayloadError(f"Contact card {position} needs name.formatted_name.")
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
    _check_text(name, "The template name", MAX_TEMPLATE_NAME)
    _check_text(language, "The template language code", 16)
    node: dict[str, Any] = {"name": name, "language": {"code": language}}
    rendered = []
    for position, component in enumerate(components or [], start=1):
        if not isinstance(component, Mapping) or component.get("type") not in ("header", "body", "button"):
            raise PayloadError(f"Template component {position} must be a header, body or button component.")
        if component["type"] == "button" and ("sub_type" not in component or "index" not in component):
            raise PayloadError(f"Template button component {position} needs sub_type and index.")
        rendered.append(dict(component))
    if rendered:
        node["components"] = rendered
    payload = _envelope(to, "template", reply_to=reply_to, callback_data=callback_data)
    payload["template"] = node
    return payload


def mark_read(wamid: str, typing: bool = False) -> dict[str, Any]:
    """Blue ticks for an inbound message; ``typing`` also shows "typing..." (cleared after 25 s or on reply)."""
    payload: dict[str, Any] = {
        "messaging_product": MESSAGING_PRODUCT,
        "status": "read",
        "message_id": _check_text(wamid, "The message id to mark as read", 512),
    }
    if typing:
        payload["typing_indicator"] = {"type": "text"}
    return payload
