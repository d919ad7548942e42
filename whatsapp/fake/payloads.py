"""Webhook payloads in Meta's exact shapes (fixtures inbound_*.json, status_*.json, template_status_*.json)."""

from __future__ import annotations

from typing import Any

from whatsapp.fake.state import PhoneNumber, Template


def envelope(waba_id: str, field: str, value: dict[str, Any], *, time: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": waba_id}
    if time is not None:
        entry["time"] = time
    entry["changes"] = [{"value": value, "field": field}]
    return {"object": "whatsapp_business_account", "entry": [entry]}


def metadata(number: PhoneNumber) -> dict[str, str]:
    return {"display_phone_number": number.display_phone_number, "phone_number_id": number.phone_number_id}


def status(
    number: PhoneNumber,
    *,
    wamid: str,
    status: str,
    timestamp: int,
    recipient_id: str,
    biz_opaque_callback_data: str | None = None,
    conversation: dict[str, Any] | None = None,
    pricing: dict[str, Any] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(timestamp),
        "recipient_id": recipient_id,
    }
    if biz_opaque_callback_data is not None:
        item["biz_opaque_callback_data"] = biz_opaque_callback_data
    if conversation is not None:
        item["conversation"] = conversation
    if pricing is not None:
        item["pricing"] = pricing
    if errors:
        item["errors"] = errors
    value = {"messaging_product": "whatsapp", "metadata": metadata(number), "statuses": [item]}
    return envelope(number.waba_id, "messages", value)


def inbound(number: PhoneNumber, *, profile_name: str, wa_id: str, message: dict[str, Any]) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": metadata(number),
        "contacts": [{"profile": {"name": profile_name}, "wa_id": wa_id}],
        "messages": [message],
    }
    return envelope(number.waba_id, "messages", value)


def template_status(
    template: Template,
    *,
    event: str,
    time: int,
    reason: str | None = "NONE",
    rejection_info: dict[str, Any] | None = None,
    other_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "event": event,
        "message_template_id": int(template.id),
        "message_template_name": template.name,
        "message_template_language": template.language,
        "reason": reason,
        "message_template_category": template.category,
    }
    if rejection_info:
        value["rejection_info"] = rejection_info
    if other_info:
        value["other_info"] = other_info
    return envelope(template.waba_id, "message_template_status_update", value, time=time)


# What Meta's pause notices say (webhooks reference, message_template_status_update other_info).
PAUSE_DESCRIPTIONS = {
    "FIRST_PAUSE": "Your message template has been paused for 3 hours due to low quality.",
    "SECOND_PAUSE": "Your message template has been paused for 6 hours due to low quality.",
    "RATE_LIMITING_PAUSE": "Your message template has been paused because it is being sent to too many people.",
    "UNPAUSE": "Your message template has been unpaused.",
}


def template_quality(template: Template, *, previous: str, time: int) -> dict[str, Any]:
    """``message_template_quality_update`` (fixture template_quality_update.json)."""
    value = {
        "previous_quality_score": previous,
        "new_quality_score": template.quality_score,
        "message_template_id": int(template.id),
        "message_template_name": template.name,
        "message_template_language": template.language,
    }
    return envelope(template.waba_id, "message_template_quality_update", value, time=time)
