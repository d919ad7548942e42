"""Webhook bodies from Meta turned into the dataclasses of ``whatsapp.types``.

``parse_webhook`` walks every ``entry[] x changes[] x messages[]/statuses[]`` of a (possibly batched)
notification (CONTRACT §2.3-§2.6). It is strict about what we need to act on (ids, senders, timestamps),
and lenient about what we only display: a field we do not handle goes to ``ignored_fields`` and a message
type we cannot show becomes ``type="unsupported"`` with Meta's type kept in ``raw_type``.

``WebhookParseError`` messages name the exact place in the body (``entry[0].changes[1].value.messages[2]``)
because admins read them on the failed-event screen.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from conversations.media import MEDIA_KINDS
from whatsapp.phone import normalize_wa_id
from whatsapp.types import (
    AccountUpdate,
    ErrorInfo,
    InboundContact,
    InboundMessage,
    MediaRef,
    MessageContext,
    ParsedWebhook,
    StatusUpdate,
    TemplateQualityUpdate,
    TemplateStatusUpdate,
    UserPreferenceUpdate,
    ValueLevelError,
)

WEBHOOK_OBJECT = "whatsapp_business_account"

# Every InboundMessage.type this parser produces.
MESSAGE_TYPES = (
    "text",
    *MEDIA_KINDS,
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "order",
    "system",
    "unsupported",
)
TEMPLATE_DETAIL_KEYS = ("rejection_info", "other_info", "disable_info")
# Statuses of this type are payment updates (India), not delivery ticks of a message we sent.
PAYMENT_STATUS_FIELD = "statuses:payment"


class WebhookParseError(ValueError):
    """The body is not a WhatsApp webhook we can read. The message says what is wrong and where."""


# -- small readers ----------------------------------------------------------------------------------------


def _require_dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WebhookParseError(f"{where} must be a JSON object, got {_describe(value)}.")
    return value


def _require_list(container: Mapping[str, Any], key: str, where: str) -> list[Any]:
    if key not in container:
        raise WebhookParseError(f"{where} has no '{key}' list.")
    value = container[key]
    if not isinstance(value, list):
        raise WebhookParseError(f"{where}.{key} must be a list, got {_describe(value)}.")
    return value


def _optional_list(container: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise WebhookParseError(f"{where}.{key} must be a list, got {_describe(value)}.")
    return value


def _require_id(container: Mapping[str, Any], key: str, where: str, what: str) -> str:
    value = container.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise WebhookParseError(f"{where} has no '{key}' ({what}).")
    return str(value)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), "a number")


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _timestamp(value: Any, where: str) -> datetime:
    """Unix seconds (a string in message webhooks, an integer in user_preferences) as an aware UTC datetime."""
    if isinstance(value, bool):
        seconds = None
    elif isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and value.strip().isdigit():
        seconds = int(value.strip())
    else:
        seconds = None
    if seconds is None:
        if value is None:
            raise WebhookParseError(f"{where} has no 'timestamp'.")
        raise WebhookParseError(f"{where}.timestamp {value!r} is not a Unix time in seconds.")
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise WebhookParseError(f"{where}.timestamp {value!r} is out of range.") from exc


def _errors(items: Any, where: str) -> tuple[ErrorInfo, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise WebhookParseError(f"{where}.errors must be a list, got {_describe(items)}.")
    return tuple(_error(item, f"{where}.errors[{i}]") for i, item in enumerate(items))


def _error(item: Any, where: str) -> ErrorInfo:
    item = _require_dict(item, where)
    code = item.get("code")
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code)
    if isinstance(code, bool) or not isinstance(code, int):
        raise WebhookParseError(f"{where} has no numeric 'code'.")
    error_data = item.get("error_data")
    details = _str(error_data.get("details")) if isinstance(error_data, dict) else ""
    return ErrorInfo(code=code, title=_str(item.get("title")), message=_str(item.get("message")), details=details)


# -- envelope ---------------------------------------------------------------------------------------------


def parse_webhook(body: bytes) -> ParsedWebhook:
    """Parse a raw webhook POST body (verify its signature first; see ``whatsapp.signature``)."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WebhookParseError(f"The body is not valid JSON ({exc}).") from exc
    if not isinstance(document, dict):
        raise WebhookParseError(f"The body must be a JSON object, got {_describe(document)}.")
    obj = document.get("object")
    if obj != WEBHOOK_OBJECT:
        raise WebhookParseError(
            f"'object' is {obj!r}; a WhatsApp webhook has {WEBHOOK_OBJECT!r} "
            "(is this endpoint subscribed to another product?)."
        )

    result = ParsedWebhook()
    for e_pos, entry in enumerate(_require_list(document, "entry", "The body")):
        e_where = f"entry[{e_pos}]"
        entry = _require_dict(entry, e_where)
        waba_id = _require_id(entry, "id", e_where, "the WhatsApp Business Account id")
        if waba_id not in result.waba_ids:
            result.waba_ids.append(waba_id)
        for c_pos, change in enumerate(_require_list(entry, "changes", e_where)):
            c_where = f"{e_where}.changes[{c_pos}]"
            change = _require_dict(change, c_where)
            field = change.get("field")
            if not isinstance(field, str) or not field:
                raise WebhookParseError(f"{c_where} has no 'field' naming the kind of update.")
            if "value" not in change:
                raise WebhookParseError(f"{c_where} ({field}) has no 'value'.")
            value = _require_dict(change["value"], f"{c_where}.value")
            v_where = f"{c_where}.value"
            if field == "messages":
                _parse_messages_value(value, v_where, result)
            elif field == "message_template_status_update":
                result.template_updates.append(_template_status(value, v_where, waba_id))
            elif field == "message_template_quality_update":
                result.template_quality_updates.append(_template_quality(value, v_where, waba_id))
            elif field == "user_preferences":
                _parse_user_preferences(value, v_where, result)
            elif field in ACCOUNT_FIELDS:
                result.account_updates.append(_account_update(field, value, waba_id))
            elif field not in result.ignored_fields:
                result.ignored_fields.append(field)
    return result


def _metadata(value: Mapping[str, Any], where: str) -> tuple[str, str]:
    metadata = _require_dict(value.get("metadata"), f"{where}.metadata")
    phone_number_id = _require_id(
        metadata, "phone_number_id", f"{where}.metadata", "which business number this event is for"
    )
    return phone_number_id, _str(metadata.get("display_phone_number"))


# -- field "messages" -------------------------------------------------------------------------------------


def _parse_messages_value(value: dict[str, Any], where: str, result: ParsedWebhook) -> None:
    phone_number_id, display_phone_number = _metadata(value, where)
    contacts = [
        _contact(item, f"{where}.contacts[{i}]") for i, item in enumerate(_optional_list(value, "contacts", where))
    ]
    for m_pos, message in enumerate(_optional_list(value, "messages", where)):
        result.messages.append(
            _message(message, f"{where}.messages[{m_pos}]", phone_number_id, display_phone_number, contacts)
        )
    for s_pos, status in enumerate(_optional_list(value, "statuses", where)):
        s_where = f"{where}.statuses[{s_pos}]"
        status = _require_dict(status, s_where)
        if status.get("type") == "payment":
            if PAYMENT_STATUS_FIELD not in result.ignored_fields:
                result.ignored_fields.append(PAYMENT_STATUS_FIELD)
            continue
        result.statuses.append(_status(status, s_where, phone_number_id))
    for error in _errors(value.get("errors"), where):
        result.errors.append(ValueLevelError(phone_number_id=phone_number_id, error=error))


def _contact(item: Any, where: str) -> InboundContact:
    item = _require_dict(item, where)
    profile = item.get("profile") if isinstance(item.get("profile"), dict) else {}
    user_id = item.get("user_id")
    return InboundContact(
        wa_id=_str(item.get("wa_id")),
        profile_name=_str(profile.get("name")),
        user_id=_str(user_id) if user_id is not None else None,
    )


def _match_contact(contacts: list[InboundContact], from_wa_id: str) -> InboundContact | None:
    if not contacts:
        return None
    for contact in contacts:
        if contact.wa_id == from_wa_id:
            return contact
    canonical = normalize_wa_id(from_wa_id)
    for contact in contacts:
        if normalize_wa_id(contact.wa_id) == canonical:
            return contact
    return contacts[0]


def _message(
    item: Any,
    where: str,
    phone_number_id: str,
    display_phone_number: str,
    contacts: list[InboundContact],
) -> InboundMessage:
    item = _require_dict(item, where)
    wamid = _require_id(item, "id", where, "the message id")
    from_wa_id = _require_id(item, "from", where, "the sender's WhatsApp id")
    raw_type = item.get("type")
    if not isinstance(raw_type, str) or not raw_type:
        raise WebhookParseError(f"{where} has no 'type'.")
    timestamp = _timestamp(item.get("timestamp"), where)

    message_type, text, content, media = _content(item, raw_type, where)

    referral = item.get("referral")
    return InboundMessage(
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
        wamid=wamid,
        from_wa_id=from_wa_id,
        timestamp=timestamp,
        type=message_type,
        raw_type=raw_type,
        text=text,
        content=content,
        media=media,
        context=_context(item.get("context"), where),
        referral=dict(referral) if isinstance(referral, dict) else None,
        errors=_errors(item.get("errors"), where),
        contact=_match_contact(contacts, from_wa_id),
        raw=item,
    )


def _context(context: Any, where: str) -> MessageContext | None:
    if context is None:
        return None
    context = _require_dict(context, f"{where}.context")
    referred = context.get("referred_product")
    return MessageContext(
        quoted_wamid=_str(context["id"]) if context.get("id") else None,
        quoted_from=_str(context["from"]) if context.get("from") else None,
        forwarded=context.get("forwarded") is True,
        frequently_forwarded=context.get("frequently_forwarded") is True,
        referred_product=dict(referred) if isinstance(referred, dict) else None,
    )


def _unsupported(raw_type: str, node: Any) -> tuple[str, str, dict[str, Any], None]:
    if raw_type in ("unsupported", "unknown"):
        inner = node.get("type") if isinstance(node, dict) else None
        return "unsupported", "", ({"unsupported_type": inner} if inner else {}), None
    return "unsupported", "", {"unsupported_type": raw_type}, None


def _content(item: dict[str, Any], raw_type: str, where: str) -> tuple[str, str, dict[str, Any], MediaRef | None]:
    """(type, preview text, content, media) for one message, by Meta's ``type``."""
    node = item.get(raw_type)
    n_where = f"{where}.{raw_type}"
    if raw_type == "contacts":
        if not isinstance(node, list):
            return _unsupported(raw_type, node)
        names = [
            _str(card.get("name", {}).get("formatted_name"))
            for card in node
            if isinstance(card, dict) and isinstance(card.get("name"), dict)
        ]
        return "contacts", ", ".join(name for name in names if name), {"contacts": list(node)}, None
    if raw_type == "system":
        # System messages put their node under "system" and, for identity changes, "identity" beside it.
        if not isinstance(node, dict):
            return _unsupported(raw_type, node)
        return "system", _str(node.get("body")), _system_content(item, node), None
    if not isinstance(node, dict):
        # A known type without its node (Meta sometimes sends this with a value-level error) has nothing to show.
        return _unsupported(raw_type, node)

    if raw_type == "text":
        return "text", _str(node.get("body")), {}, None
    if raw_type in MEDIA_KINDS:
        media = _media(node, raw_type, n_where)
        return raw_type, media.caption or "", {}, media
    if raw_type == "location":
        return "location", _location_preview(node), _location_content(node), None
    if raw_type == "interactive":
        return _interactive(node, n_where)
    if raw_type == "button":
        content = {"payload": _str(node.get("payload")), "text": _str(node.get("text"))}
        return "button", content["text"], content, None
    if raw_type == "reaction":
        content = {"message_id": _require_id(node, "message_id", n_where, "the message reacted to")}
        content["emoji"] = _str(node.get("emoji"))
        return "reaction", content["emoji"], content, None
    if raw_type == "order":
        items = node.get("product_items")
        order_text = _str(node.get("text"))
        order = {
            "catalog_id": _str(node.get("catalog_id")),
            "text": order_text,
            "product_items": list(items) if isinstance(items, list) else [],
        }
        return "order", order_text, order, None
    return _unsupported(raw_type, node)


def _media(node: dict[str, Any], kind: str, where: str) -> MediaRef:
    url = node.get("url")
    caption = node.get("caption")
    filename = node.get("filename")
    return MediaRef(
        media_id=_require_id(node, "id", where, "the media id to download"),
        mime_type=_str(node.get("mime_type")),
        sha256=_str(node.get("sha256")),
        url=_str(url) if url else None,
        caption=_str(caption) if caption is not None else None,
        filename=_str(filename) if kind == "document" and filename is not None else None,
        voice=kind == "audio" and node.get("voice") is True,
        animated=kind == "sticker" and node.get("animated") is True,
    )


def _location_content(node: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {"latitude": node.get("latitude"), "longitude": node.get("longitude")}
    for key in ("name", "address", "url"):
        if node.get(key) is not None:
            content[key] = node[key]
    return content


def _location_preview(node: dict[str, Any]) -> str:
    parts = [_str(node.get(key)).strip() for key in ("name", "address")]
    parts = [part for part in parts if part]
    if parts:
        return ", ".join(parts)
    if node.get("latitude") is not None and node.get("longitude") is not None:
        return f"{node['latitude']}, {node['longitude']}"
    return ""


def _interactive(node: dict[str, Any], where: str) -> tuple[str, str, dict[str, Any], None]:
    sub_type = node.get("type")
    if not isinstance(sub_type, str) or not sub_type:
        raise WebhookParseError(f"{where} has no 'type' (button_reply, list_reply, nfm_reply...).")
    reply = node.get(sub_type)
    reply = dict(reply) if isinstance(reply, dict) else {}
    content: dict[str, Any] = {"interactive_type": sub_type}
    text = ""
    if sub_type in ("button_reply", "list_reply"):
        content.update(reply)
        text = _str(reply.get("title"))
    elif sub_type == "nfm_reply":
        raw_response = reply.pop("response_json", None)
        content.update(reply)
        content["response"] = _flow_response(raw_response)
        text = _str(reply.get("body"))
    else:
        # payment_method and any newer sub-type: keep Meta's fields as given.
        content.update(reply)
    return "interactive", text, content, None


def _flow_response(raw: Any) -> Any:
    """A Flow's answers arrive as a JSON *string*; return the dict, or the raw string if it is not JSON."""
    if not isinstance(raw, str):
        return raw if raw is not None else {}
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _system_content(item: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {"system_type": _str(node.get("type")), "body": _str(node.get("body"))}
    for key, value in node.items():
        if key not in ("type", "body"):
            content[key] = value
    # Older versions name the new number "new_wa_id", newer ones "wa_id"; "new_wa_id" is always set.
    new_wa_id = node.get("new_wa_id") or node.get("wa_id")
    if new_wa_id:
        content["new_wa_id"] = _str(new_wa_id)
    if isinstance(item.get("identity"), dict):
        content["identity"] = dict(item["identity"])
    return content


def _status(item: dict[str, Any], where: str, phone_number_id: str) -> StatusUpdate:
    wamid = _require_id(item, "id", where, "the id of the message this status is about")
    status = item.get("status")
    if not isinstance(status, str) or not status:
        raise WebhookParseError(f"{where} has no 'status' (sent, delivered, read, played or failed).")
    callback_data = item.get("biz_opaque_callback_data")
    pricing = item.get("pricing")
    conversation = item.get("conversation")
    return StatusUpdate(
        phone_number_id=phone_number_id,
        wamid=wamid,
        status=status,
        timestamp=_timestamp(item.get("timestamp"), where),
        recipient_id=_str(item.get("recipient_id") or item.get("recipient_user_id")),
        biz_opaque_callback_data=_str(callback_data) if callback_data is not None else None,
        errors=_errors(item.get("errors"), where),
        pricing=dict(pricing) if isinstance(pricing, dict) else None,
        conversation=dict(conversation) if isinstance(conversation, dict) else None,
    )


# -- field "message_template_status_update" ---------------------------------------------------------------


def _template_status(value: dict[str, Any], where: str, waba_id: str) -> TemplateStatusUpdate:
    event = value.get("event")
    if not isinstance(event, str) or not event:
        raise WebhookParseError(f"{where} has no 'event' (APPROVED, REJECTED, PAUSED...).")
    reason = value.get("reason")
    category = value.get("message_template_category")
    return TemplateStatusUpdate(
        waba_id=waba_id,
        template_id=_require_id(value, "message_template_id", where, "the template id"),
        name=_str(value.get("message_template_name")),
        language=_str(value.get("message_template_language")),
        event=event,
        reason=_str(reason) if reason is not None else None,
        category=_str(category) if category is not None else None,
        details={key: value[key] for key in TEMPLATE_DETAIL_KEYS if value.get(key) is not None},
    )


def _template_quality(value: dict[str, Any], where: str, waba_id: str) -> TemplateQualityUpdate:
    score = value.get("new_quality_score")
    if not isinstance(score, str) or not score:
        raise WebhookParseError(f"{where} has no 'new_quality_score' (GREEN, YELLOW, RED...).")
    return TemplateQualityUpdate(
        waba_id=waba_id,
        template_id=_require_id(value, "message_template_id", where, "the template id"),
        name=_str(value.get("message_template_name")),
        language=_str(value.get("message_template_language")),
        new_quality_score=score,
        previous_quality_score=_str(value.get("previous_quality_score")),
    )


# -- field "user_preferences" -----------------------------------------------------------------------------


def _parse_user_preferences(value: dict[str, Any], where: str, result: ParsedWebhook) -> None:
    phone_number_id, _display = _metadata(value, where)
    for p_pos, item in enumerate(_require_list(value, "user_preferences", where)):
        p_where = f"{where}.user_preferences[{p_pos}]"
        item = _require_dict(item, p_where)
        category = item.get("category")
        preference = item.get("value")
        if not isinstance(category, str) or not category:
            raise WebhookParseError(f"{p_where} has no 'category'.")
        if not isinstance(preference, str) or not preference:
            raise WebhookParseError(f"{p_where} has no 'value' (stop or resume).")
        result.user_preferences.append(
            UserPreferenceUpdate(
                phone_number_id=phone_number_id,
                wa_id=_require_id(item, "wa_id", p_where, "the customer's WhatsApp id"),
                category=category,
                value=preference,
                detail=_str(item.get("detail")),
                timestamp=_timestamp(item.get("timestamp"), p_where),
            )
        )


# -- fields "phone_number_quality_update" and "business_capability_update" -----------------------------------

ACCOUNT_FIELDS = ("phone_number_quality_update", "business_capability_update")


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _account_update(field: str, value: dict[str, Any], waba_id: str) -> AccountUpdate:
    # Older versions name the per-number count ``max_daily_conversation_per_phone``; v24+ the business's.
    daily = value.get("max_daily_conversations_per_business", value.get("max_daily_conversation_per_phone"))
    if field == "business_capability_update":
        return AccountUpdate(kind="capability", waba_id=waba_id, max_daily=_count(daily))
    return AccountUpdate(
        kind="quality",
        waba_id=waba_id,
        display_phone_number="".join(ch for ch in _str(value.get("display_phone_number")) if ch.isdigit()),
        event=_str(value.get("event")),
        current_limit=_str(value.get("current_limit")),
        max_daily=_count(daily),
    )
