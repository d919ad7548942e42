"""Validation of ``POST /{pnid}/messages`` bodies, failing the way the Cloud API fails (HTTP 400, code 100)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from whatsapp.fake import errors

SEND_TYPES = (
    "audio",
    "contacts",
    "document",
    "image",
    "interactive",
    "location",
    "reaction",
    "sticker",
    "template",
    "text",
    "video",
)
MEDIA_TYPES = {"audio", "document", "image", "sticker", "video"}
CAPTIONED = {"image", "video", "document"}
INTERACTIVE_TYPES = {
    "address_message",
    "button",
    "call_permission_request",
    "catalog_message",
    "cta_url",
    "flow",
    "list",
    "location_request_message",
    "order_details",
    "order_status",
    "product",
    "product_list",
    "voice_call",
}
BODY_LIMITS = {"button": 1024, "list": 4096, "cta_url": 1024, "flow": 1024, "order_details": 1024, "order_status": 1024}
BODY_OPTIONAL = {"product", "catalog_message", "location_request_message", "address_message", "voice_call"}
REFERENCE_ID = re.compile(r"[A-Za-z0-9_.-]+")
PIX_KEY_TYPES = {"CPF", "CNPJ", "EMAIL", "PHONE", "EVP"}
ORDER_STATUSES = {"pending", "processing", "partially_shipped", "shipped", "completed", "canceled"}
PAYMENT_STATUSES = {"pending", "captured", "failed"}
PHONE_PUNCTUATION = re.compile(r"[\s\-()+.]")
# Product messages (COMMERCE §2): refused with 131008 (missing) or 131009 (not valid), naming the parameter.
COMMERCE_TYPES = {"product", "product_list", "catalog_message"}
MAX_PRODUCT_SECTIONS = 10
MAX_PRODUCT_SECTION_TITLE = 24
MAX_LIST_PRODUCTS = 30


@dataclass(frozen=True)
class SendRequest:
    kind: str  # "message" or "read"
    type: str = ""
    to_input: str = ""
    wa_id: str = ""
    node: Any = None
    context_message_id: str | None = None
    biz_opaque_callback_data: str | None = None
    message_id: str | None = None
    typing_indicator: bool = False


def normalise_phone(value: str) -> str | None:
    digits = PHONE_PUNCTUATION.sub("", value)
    if not digits.isdigit() or not 5 <= len(digits) <= 15:
        return None
    return digits


def _is_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    return parsed.scheme in {"http", "https"} and bool(parsed.netloc)


def _require_dict(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        raise errors.missing_parameter(name)
    if not isinstance(value, dict):
        raise errors.invalid_parameter(f"Param {name} must be a JSON object.")
    return value


def _require_text(container: dict[str, Any], key: str, path: str, *, limit: int | None, allow_empty=False) -> str:
    if key not in container or container[key] is None:
        raise errors.missing_parameter(f"{path}['{key}']")
    value = container[key]
    if not isinstance(value, str):
        raise errors.invalid_parameter(f"Param {path}['{key}'] must be a string.")
    if not value and not allow_empty:
        raise errors.invalid_parameter(f"Param {path}['{key}'] must be a non-empty string.")
    if limit is not None and len(value) > limit:
        raise errors.invalid_parameter(f"Param {path}['{key}'] must be at most {limit} characters long.")
    return value


def _optional_text(container: dict[str, Any], key: str, path: str, limit: int) -> None:
    if container.get(key) is None:
        return
    if not isinstance(container[key], str):
        raise errors.invalid_parameter(f"Param {path}['{key}'] must be a string.")
    if len(container[key]) > limit:
        raise errors.invalid_parameter(f"Param {path}['{key}'] must be at most {limit} characters long.")


def parse_send(body: Any, *, media_exists: Callable[[str], bool]) -> SendRequest:
    if not isinstance(body, dict):
        raise errors.invalid_parameter("Request body must be a JSON object.")
    if "messaging_product" not in body:
        raise errors.missing_parameter("messaging_product")
    if body["messaging_product"] != "whatsapp":
        raise errors.invalid_parameter(
            f'Param messaging_product must be one of {{WHATSAPP}} - got "{body["messaging_product"]}".'
        )

    if "status" in body:
        return _parse_mark_read(body)

    if "to" not in body or body["to"] in (None, ""):
        raise errors.missing_parameter("to")
    to_value = body["to"]
    if isinstance(to_value, int) and not isinstance(to_value, bool):
        to_value = str(to_value)
    if not isinstance(to_value, str) or normalise_phone(to_value) is None:
        raise errors.invalid_parameter("Param to must be a valid phone number.")
    recipient_type = body.get("recipient_type", "individual")
    if recipient_type != "individual":
        raise errors.invalid_parameter(f'Param recipient_type must be one of {{INDIVIDUAL}} - got "{recipient_type}".')

    # The Cloud API defaults a missing type to "text".
    message_type = body.get("type", "text")
    if message_type not in SEND_TYPES:
        allowed = ", ".join(t.upper() for t in SEND_TYPES)
        raise errors.invalid_parameter(f'Param type must be one of {{{allowed}}} - got "{message_type}".')
    if message_type not in body or body[message_type] is None:
        raise errors.missing_parameter(message_type)
    node = body[message_type]

    context_id = None
    if body.get("context") is not None:
        context = _require_dict(body["context"], "context")
        context_id = _require_text(context, "message_id", "context", limit=None)

    callback = body.get("biz_opaque_callback_data")
    if callback is not None and (not isinstance(callback, str) or len(callback) > 512):
        raise errors.invalid_parameter("Param biz_opaque_callback_data must be a string of at most 512 characters.")

    validator = _VALIDATORS[message_type]
    validator(node, message_type, media_exists)
    return SendRequest(
        kind="message",
        type=message_type,
        to_input=to_value,
        wa_id=normalise_phone(to_value) or "",
        node=node,
        context_message_id=context_id,
        biz_opaque_callback_data=callback,
    )


def _parse_mark_read(body: dict[str, Any]) -> SendRequest:
    if body["status"] != "read":
        raise errors.invalid_parameter(f'Param status must be one of {{READ}} - got "{body["status"]}".')
    message_id = body.get("message_id")
    if not message_id:
        raise errors.missing_parameter("message_id")
    if not isinstance(message_id, str):
        raise errors.invalid_parameter("Param message_id must be a string.")
    typing = body.get("typing_indicator")
    if typing is not None:
        typing = _require_dict(typing, "typing_indicator")
        if typing.get("type") != "text":
            raise errors.invalid_parameter("Param typing_indicator['type'] must be one of {TEXT}.")
    return SendRequest(kind="read", message_id=message_id, typing_indicator=typing is not None)


def _text(node: Any, _type: str, _media: Callable[[str], bool]) -> None:
    node = _require_dict(node, "text")
    _require_text(node, "body", "text", limit=4096)
    if "preview_url" in node and not isinstance(node["preview_url"], bool):
        raise errors.invalid_parameter("Param text['preview_url'] must be a boolean.")


def _media(node: Any, message_type: str, media_exists: Callable[[str], bool]) -> None:
    node = _require_dict(node, message_type)
    has_id, has_link = node.get("id") is not None, node.get("link") is not None
    if not has_id and not has_link:
        raise errors.invalid_parameter(f"Param {message_type} must contain either id or link.")
    if has_id and has_link:
        raise errors.invalid_parameter(f"Param {message_type} must contain either id or link, not both.")
    if has_id and (not isinstance(node["id"], str) or not media_exists(node["id"])):
        raise errors.invalid_parameter(
            f"Param {message_type}['id'] is not a valid whatsapp business account media attachment ID"
        )
    if has_link and not _is_url(node["link"]):
        raise errors.invalid_parameter(f"Param {message_type}['link'] must be a valid http(s) URL.")
    if message_type in CAPTIONED:
        _optional_text(node, "caption", message_type, 1024)
    elif node.get("caption") is not None:
        raise errors.invalid_parameter(f"Param {message_type}['caption'] is not supported for {message_type}.")
    if message_type == "document":
        _optional_text(node, "filename", message_type, 240)
    if message_type == "audio" and "voice" in node and not isinstance(node["voice"], bool):
        raise errors.invalid_parameter("Param audio['voice'] must be a boolean.")


def _number(node: dict[str, Any], key: str, low: float, high: float) -> None:
    if node.get(key) is None:
        raise errors.missing_parameter(f"location['{key}']")
    try:
        value = float(node[key])
    except (TypeError, ValueError):
        raise errors.invalid_parameter(f"Param location['{key}'] must be a number.") from None
    if not low <= value <= high:
        raise errors.invalid_parameter(f"Param location['{key}'] must be between {low:g} and {high:g}.")


def _location(node: Any, _type: str, _media: Callable[[str], bool]) -> None:
    node = _require_dict(node, "location")
    _number(node, "latitude", -90, 90)
    _number(node, "longitude", -180, 180)
    _optional_text(node, "name", "location", 1000)
    _optional_text(node, "address", "location", 1000)


def _contacts(node: Any, _type: str, _media: Callable[[str], bool]) -> None:
    if not isinstance(node, list) or not node:
        raise errors.invalid_parameter("Param contacts must be a non-empty array.")
    for index, contact in enumerate(node):
        contact = _require_dict(contact, f"contacts[{index}]")
        name = _require_dict(contact.get("name"), f"contacts[{index}]['name']")
        _require_text(name, "formatted_name", f"contacts[{index}]['name']", limit=None)


def _reaction(node: Any, _type: str, _media: Callable[[str], bool]) -> None:
    node = _require_dict(node, "reaction")
    _require_text(node, "message_id", "reaction", limit=None)
    if "emoji" not in node:
        raise errors.missing_parameter("reaction['emoji']")
    if not isinstance(node["emoji"], str) or len(node["emoji"]) > 16:
        raise errors.invalid_parameter("Param reaction['emoji'] must be a single emoji (or empty to remove).")


def _template(node: Any, _type: str, _media: Callable[[str], bool]) -> None:
    node = _require_dict(node, "template")
    _require_text(node, "name", "template", limit=512)
    language = _require_dict(node.get("language"), "template['language']")
    _require_text(language, "code", "template['language']", limit=None)
    components = node.get("components")
    if components is not None and (
        not isinstance(components, list) or not all(isinstance(c, dict) and c.get("type") for c in components)
    ):
        raise errors.invalid_parameter("Param template['components'] must be an array of objects with a type.")


def _interactive(node: Any, _type: str, media_exists: Callable[[str], bool]) -> None:
    node = _require_dict(node, "interactive")
    kind = node.get("type")
    if kind is None:
        raise errors.missing_parameter("interactive['type']")
    if kind not in INTERACTIVE_TYPES:
        allowed = ", ".join(sorted(t.upper() for t in INTERACTIVE_TYPES))
        raise errors.invalid_parameter(f"Param interactive['type'] must be one of {{{allowed}}} - got \"{kind}\".")
    if kind in COMMERCE_TYPES:
        _commerce(node, kind)
        return
    if kind not in BODY_OPTIONAL or node.get("body") is not None:
        body = _require_dict(node.get("body"), "interactive['body']")
        _require_text(body, "text", "interactive['body']", limit=BODY_LIMITS.get(kind, 1024))
    if node.get("footer") is not None:
        footer = _require_dict(node["footer"], "interactive['footer']")
        _require_text(footer, "text", "interactive['footer']", limit=60)
    if node.get("header") is not None:
        _header(node["header"], kind, media_exists)
    action = _require_dict(node.get("action"), "interactive['action']")
    {
        "button": _buttons,
        "list": _list,
        "cta_url": _cta_url,
        "flow": _flow,
        "order_details": _order_details,
        "order_status": _order_status,
    }.get(kind, lambda _action: None)(action)


def _header(header: Any, kind: str, media_exists: Callable[[str], bool]) -> None:
    header = _require_dict(header, "interactive['header']")
    header_type = header.get("type")
    allowed = {"text"} if kind == "list" else {"text", "image", "video", "document"}
    if header_type not in allowed:
        raise errors.invalid_parameter(
            f"Param interactive['header']['type'] must be one of {{{', '.join(sorted(allowed)).upper()}}}."
        )
    if header_type == "text":
        _require_text(header, "text", "interactive['header']", limit=60)
    else:
        _media(header.get(header_type), header_type, media_exists)


def _buttons(action: dict[str, Any]) -> None:
    buttons = action.get("buttons")
    if buttons is None:
        raise errors.missing_parameter("interactive['action']['buttons']")
    if not isinstance(buttons, list) or not buttons:
        raise errors.invalid_parameter("Param interactive['action']['buttons'] must be a non-empty array.")
    if len(buttons) > 3:
        raise errors.invalid_parameter(
            f"Param interactive['action']['buttons'] must contain at most 3 elements (got {len(buttons)})."
        )
    ids, titles = set(), set()
    for index, button in enumerate(buttons):
        path = f"interactive['action']['buttons'][{index}]"
        button = _require_dict(button, path)
        if button.get("type") != "reply":
            raise errors.invalid_parameter(f"Param {path}['type'] must be one of {{REPLY}}.")
        reply = _require_dict(button.get("reply"), f"{path}['reply']")
        ids.add(_require_text(reply, "id", f"{path}['reply']", limit=256))
        titles.add(_require_text(reply, "title", f"{path}['reply']", limit=20))
    if len(ids) != len(buttons) or len(titles) != len(buttons):
        raise errors.invalid_parameter("Button ids and titles must be unique.")


def _list(action: dict[str, Any]) -> None:
    _require_text(action, "button", "interactive['action']", limit=20)
    sections = action.get("sections")
    if sections is None:
        raise errors.missing_parameter("interactive['action']['sections']")
    if not isinstance(sections, list) or not sections:
        raise errors.invalid_parameter("Param interactive['action']['sections'] must be a non-empty array.")
    if len(sections) > 10:
        raise errors.invalid_parameter("Param interactive['action']['sections'] must contain at most 10 elements.")
    row_ids: set[str] = set()
    total = 0
    for s_index, section in enumerate(sections):
        path = f"interactive['action']['sections'][{s_index}]"
        section = _require_dict(section, path)
        if len(sections) > 1:
            _require_text(section, "title", path, limit=24)
        else:
            _optional_text(section, "title", path, 24)
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            raise errors.invalid_parameter(f"Param {path}['rows'] must be a non-empty array.")
        for r_index, row in enumerate(rows):
            row_path = f"{path}['rows'][{r_index}]"
            row = _require_dict(row, row_path)
            row_id = _require_text(row, "id", row_path, limit=200)
            _require_text(row, "title", row_path, limit=24)
            _optional_text(row, "description", row_path, 72)
            if row_id in row_ids:
                raise errors.invalid_parameter("Row ids must be unique across sections.")
            row_ids.add(row_id)
            total += 1
    if total > 10:
        raise errors.invalid_parameter(f"Total row count exceed max allowed count: 10 (got {total}).")


def _cta_url(action: dict[str, Any]) -> None:
    if action.get("name") != "cta_url":
        raise errors.invalid_parameter("Param interactive['action']['name'] must be cta_url.")
    parameters = _require_dict(action.get("parameters"), "interactive['action']['parameters']")
    _require_text(parameters, "display_text", "interactive['action']['parameters']", limit=20)
    _require_text(parameters, "url", "interactive['action']['parameters']", limit=None)
    if not _is_url(parameters["url"]):
        raise errors.invalid_parameter("Param interactive['action']['parameters']['url'] must be a valid URL.")


def _flow(action: dict[str, Any]) -> None:
    if action.get("name") != "flow":
        raise errors.invalid_parameter("Param interactive['action']['name'] must be flow.")
    parameters = _require_dict(action.get("parameters"), "interactive['action']['parameters']")
    path = "interactive['action']['parameters']"
    _require_text(parameters, "flow_message_version", path, limit=None)
    _require_text(parameters, "flow_cta", path, limit=30)
    if not parameters.get("flow_id") and not parameters.get("flow_name"):
        raise errors.missing_parameter(f"{path}['flow_id']")
    if parameters.get("flow_action", "navigate") not in {"navigate", "data_exchange"}:
        raise errors.invalid_parameter(f"Param {path}['flow_action'] must be one of {{NAVIGATE, DATA_EXCHANGE}}.")


def _commerce_missing(path: str) -> errors.GraphError:
    return errors.sync_error(131008, details=f"The parameter {path} is required.")


def _commerce_invalid(details: str) -> errors.GraphError:
    return errors.sync_error(131009, details=details)


def _commerce_text(container: Any, key: str, path: str, limit: int, *, required: bool) -> None:
    """``container[key]`` a string of at most ``limit`` characters (131008 when required and absent)."""
    value = container.get(key) if isinstance(container, dict) else None
    if value is None or value == "":
        if required:
            raise _commerce_missing(f"{path}['{key}']")
        return
    if not isinstance(value, str):
        raise _commerce_invalid(f"Param {path}['{key}'] must be a string.")
    if len(value) > limit:
        raise _commerce_invalid(f"Param {path}['{key}'] must be at most {limit} characters long.")


def _commerce_part(node: dict[str, Any], key: str, limit: int, *, required: bool) -> None:
    """``body`` or ``footer``: an object with a text."""
    part = node.get(key)
    if part is None:
        if required:
            raise _commerce_missing(f"interactive['{key}']")
        return
    if not isinstance(part, dict):
        raise _commerce_invalid(f"Param interactive['{key}'] must be a JSON object.")
    _commerce_text(part, "text", f"interactive['{key}']", limit, required=True)


def _commerce(node: dict[str, Any], kind: str) -> None:
    """product, product_list and catalog_message as COMMERCE §2 states them."""
    if kind in {"product", "catalog_message"} and node.get("header") is not None:
        noun = "catalog" if kind == "catalog_message" else kind
        # Meta's own wording, typo included (COMMERCE §2.3, a real capture).
        raise _commerce_invalid(f"The parameter interactive['header'] is not allows for {noun} messages.")
    _commerce_part(node, "body", 1024, required=kind != "product")
    _commerce_part(node, "footer", 60, required=False)
    action = node.get("action")
    if action is None:
        raise _commerce_missing("interactive['action']")
    if not isinstance(action, dict):
        raise _commerce_invalid("Param interactive['action'] must be a JSON object.")
    path = "interactive['action']"
    if kind == "catalog_message":
        if action.get("name") != "catalog_message":
            raise _commerce_invalid(f"Param {path}['name'] must be catalog_message.")
        parameters = action.get("parameters")
        if parameters is not None:
            if not isinstance(parameters, dict):
                raise _commerce_invalid(f"Param {path}['parameters'] must be a JSON object.")
            # Optional in Meta's guide (the first product's image is used), required in its schema: both accepted.
            _commerce_text(parameters, "thumbnail_product_retailer_id", f"{path}['parameters']", 100, required=False)
        return
    _commerce_text(action, "catalog_id", path, 100, required=True)
    if kind == "product":
        _commerce_text(action, "product_retailer_id", path, 100, required=True)
        return
    header = node.get("header")
    if header is None:
        raise _commerce_missing("interactive['header']")
    if not isinstance(header, dict) or header.get("type") != "text":
        raise _commerce_invalid("Param interactive['header']['type'] must be one of {TEXT} for product_list messages.")
    _commerce_text(header, "text", "interactive['header']", 60, required=True)
    sections = action.get("sections")
    if sections is None:
        raise _commerce_missing(f"{path}['sections']")
    if not isinstance(sections, list) or not sections:
        raise _commerce_invalid(f"Param {path}['sections'] must be a non-empty array.")
    if len(sections) > MAX_PRODUCT_SECTIONS:
        raise _commerce_invalid(
            f"Param {path}['sections'] must contain at most {MAX_PRODUCT_SECTIONS} elements (got {len(sections)})."
        )
    total = 0
    for s_index, section in enumerate(sections):
        section_path = f"{path}['sections'][{s_index}]"
        if not isinstance(section, dict):
            raise _commerce_invalid(f"Param {section_path} must be a JSON object.")
        _commerce_text(section, "title", section_path, MAX_PRODUCT_SECTION_TITLE, required=len(sections) > 1)
        items = section.get("product_items")
        if items is None:
            raise _commerce_missing(f"{section_path}['product_items']")
        if not isinstance(items, list) or not items:
            raise _commerce_invalid(f"Param {section_path}['product_items'] must be a non-empty array.")
        for i_index, item in enumerate(items):
            item_path = f"{section_path}['product_items'][{i_index}]"
            if not isinstance(item, dict):
                raise _commerce_invalid(f"Param {item_path} must be a JSON object.")
            _commerce_text(item, "product_retailer_id", item_path, 100, required=True)
        total += len(items)
    if total > MAX_LIST_PRODUCTS:
        raise _commerce_invalid(f"Total product count exceed max allowed count: {MAX_LIST_PRODUCTS} (got {total}).")


def crc16_ccitt_false(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def brcode_crc_ok(code: str) -> bool:
    if len(code) < 8 or code[-8:-4] != "6304":
        return False
    try:
        return crc16_ccitt_false(code[:-4].encode("ascii")) == int(code[-4:], 16)
    except (UnicodeEncodeError, ValueError):
        return False


def _amount(value: Any, path: str, *, required: bool = True) -> int:
    if value is None:
        if required:
            raise errors.missing_parameter(path)
        return 0
    if not isinstance(value, dict) or not isinstance(value.get("value"), int) or value.get("offset") != 100:
        raise errors.invalid_parameter(f"Param {path} must be {{value: integer, offset: 100}}.")
    if value["value"] < 0:
        raise errors.invalid_parameter(f"Param {path}['value'] must not be negative.")
    return int(value["value"])


def _order_details(action: dict[str, Any]) -> None:
    if action.get("name") != "review_and_pay":
        raise errors.invalid_parameter("Param interactive['action']['name'] must be review_and_pay.")
    path = "interactive['action']['parameters']"
    params = _require_dict(action.get("parameters"), path)
    currency = params.get("currency")
    if currency not in {"BRL", "INR"}:
        raise errors.invalid_parameter(f"Param {path}['currency'] must be one of {{BRL, INR}}.")
    limit = 35 if currency == "INR" else 60
    reference_id = _require_text(params, "reference_id", path, limit=limit)
    if not REFERENCE_ID.fullmatch(reference_id):
        raise errors.invalid_parameter(f"Param {path}['reference_id'] may only contain letters, digits, _ . and -.")
    if params.get("type") not in {"digital-goods", "physical-goods"}:
        raise errors.invalid_parameter(f"Param {path}['type'] must be one of {{digital-goods, physical-goods}}.")
    total = _amount(params.get("total_amount"), f"{path}['total_amount']")
    if currency == "BRL":
        if params.get("payment_type") != "br":
            raise errors.invalid_parameter(f"Param {path}['payment_type'] must be br for BRL.")
        _payment_settings(params.get("payment_settings"), f"{path}['payment_settings']")
    order = params.get("order")
    if order is not None:
        _order(order, total, f"{path}['order']")


def _payment_settings(settings: Any, path: str) -> None:
    if not isinstance(settings, list) or not settings:
        raise errors.invalid_parameter(f"Param {path} must be a non-empty array.")
    for index, setting in enumerate(settings):
        item_path = f"{path}[{index}]"
        setting = _require_dict(setting, item_path)
        kind = setting.get("type")
        if kind not in {"pix_dynamic_code", "payment_link", "boleto", "offsite_card_pay"}:
            allowed = "pix_dynamic_code, payment_link, boleto, offsite_card_pay"
            raise errors.invalid_parameter(f"Param {item_path}['type'] must be one of {{{allowed}}}.")
        detail = _require_dict(setting.get(kind), f"{item_path}['{kind}']")
        detail_path = f"{item_path}['{kind}']"
        if kind == "pix_dynamic_code":
            code = _require_text(detail, "code", detail_path, limit=512)
            _require_text(detail, "merchant_name", detail_path, limit=None)
            _require_text(detail, "key", detail_path, limit=None)
            if detail.get("key_type") not in PIX_KEY_TYPES:
                raise errors.invalid_parameter(
                    f"Param {detail_path}['key_type'] must be one of {{CPF, CNPJ, EMAIL, PHONE, EVP}}."
                )
            if not brcode_crc_ok(code):
                raise errors.invalid_parameter(
                    f"Param {detail_path}['code'] is not a valid Pix BR Code (CRC16 mismatch)."
                )
        elif kind == "payment_link":
            _require_text(detail, "uri", detail_path, limit=None)
            if not _is_url(detail["uri"]):
                raise errors.invalid_parameter(f"Param {detail_path}['uri'] must be a valid URL.")
        elif kind == "boleto":
            line = _require_text(detail, "digitable_line", detail_path, limit=None)
            if not line.isdigit():
                raise errors.invalid_parameter(f"Param {detail_path}['digitable_line'] must contain only digits.")
        else:
            _require_text(detail, "last_four_digits", detail_path, limit=4)
            _require_text(detail, "credential_id", detail_path, limit=None)


def _order(order: Any, total: int, path: str) -> None:
    order = _require_dict(order, path)
    if order.get("status") != "pending":
        raise errors.invalid_parameter(f"Param {path}['status'] must be pending.")
    items = order.get("items")
    if not isinstance(items, list) or not items:
        raise errors.invalid_parameter(f"Param {path}['items'] must be a non-empty array.")
    computed = 0
    for index, item in enumerate(items):
        item_path = f"{path}['items'][{index}]"
        item = _require_dict(item, item_path)
        _require_text(item, "retailer_id", item_path, limit=None)
        _require_text(item, "name", item_path, limit=60)
        amount = _amount(item.get("amount"), f"{item_path}['amount']")
        sale = _amount(item.get("sale_amount"), f"{item_path}['sale_amount']", required=False)
        quantity = item.get("quantity")
        if not isinstance(quantity, int) or quantity < 1:
            raise errors.invalid_parameter(f"Param {item_path}['quantity'] must be a positive integer.")
        computed += (sale if item.get("sale_amount") is not None else amount) * quantity
    subtotal = _amount(order.get("subtotal"), f"{path}['subtotal']")
    if subtotal != computed:
        raise errors.invalid_parameter(
            f"Param {path}['subtotal'] ({subtotal}) must equal the sum of item amounts x quantities ({computed})."
        )
    tax = _amount(order.get("tax"), f"{path}['tax']")
    shipping = _amount(order.get("shipping"), f"{path}['shipping']", required=False)
    discount = _amount(order.get("discount"), f"{path}['discount']", required=False)
    expected = subtotal + tax + shipping - discount
    if total != expected:
        raise errors.invalid_parameter(
            f"Param total_amount ({total}) must equal subtotal + tax + shipping - discount ({expected})."
        )


def _order_status(action: dict[str, Any]) -> None:
    if action.get("name") != "review_order":
        raise errors.invalid_parameter("Param interactive['action']['name'] must be review_order.")
    path = "interactive['action']['parameters']"
    params = _require_dict(action.get("parameters"), path)
    _require_text(params, "reference_id", path, limit=60)
    order, payment = params.get("order"), params.get("payment")
    if order is None and payment is None:
        raise errors.missing_parameter(f"{path}['order']")
    if order is not None:
        order = _require_dict(order, f"{path}['order']")
        if order.get("status") not in ORDER_STATUSES:
            allowed = ", ".join(sorted(ORDER_STATUSES))
            raise errors.invalid_parameter(f"Param {path}['order']['status'] must be one of {{{allowed}}}.")
        _optional_text(order, "description", f"{path}['order']", 120)
    if payment is not None:
        payment = _require_dict(payment, f"{path}['payment']")
        if payment.get("status") not in PAYMENT_STATUSES:
            raise errors.invalid_parameter(
                f"Param {path}['payment']['status'] must be one of {{pending, captured, failed}}."
            )


_VALIDATORS: dict[str, Callable[[Any, str, Callable[[str], bool]], None]] = {
    "text": _text,
    "image": _media,
    "audio": _media,
    "video": _media,
    "document": _media,
    "sticker": _media,
    "location": _location,
    "contacts": _contacts,
    "reaction": _reaction,
    "template": _template,
    "interactive": _interactive,
}
