"""Template review and quality webhooks (fixtures template_status_*.json, template_quality_update.json) land in
the stored template field by field: status, event, reason, Meta's explanation and recommendation, quality."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.whatsapp.conftest import load_fixture, retarget
from whatsapp import client as whatsapp_client
from whatsapp.models import MessageTemplate, WebhookEvent
from whatsapp.payloads import parse_webhook
from whatsapp.signature import encode_like_meta
from whatsapp.types import TemplateQualityUpdate

pytestmark = pytest.mark.django_db

FIELDS = ["status", "status_event", "status_reason", "status_detail", "quality_score", "meta_id"]


@pytest.fixture
def cloud_api():
    """No template list at Meta: a webhook about an unknown template only asks for a sync."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [], "paging": {}})

    previous = whatsapp_client._transport_override.get("transport")
    whatsapp_client._transport_override["transport"] = httpx.MockTransport(handler)
    yield seen
    if previous is None:
        whatsapp_client._transport_override.pop("transport", None)
    else:
        whatsapp_client._transport_override["transport"] = previous


def payload_for(channel, fixture: str) -> dict[str, Any]:
    return retarget(load_fixture(fixture), phone_number_id=channel.phone_number_id, waba_id=channel.waba_id)


def post_processed(webhook, channel, payload) -> WebhookEvent:
    before = set(WebhookEvent.objects.values_list("pk", flat=True))
    response = webhook.post(channel, payload)
    assert (response.status_code, response.content) == (200, b"ok")
    event = WebhookEvent.objects.exclude(pk__in=before).get()
    assert (event.status, event.error) == ("processed", "")
    return event


def stored(row: MessageTemplate) -> dict[str, str]:
    row.refresh_from_db()
    return {name: getattr(row, name) for name in FIELDS}


def template(channel, **fields) -> MessageTemplate:
    values = {"tenant_id": channel.tenant_id, "waba_id": channel.waba_id, "category": "MARKETING"} | fields
    return MessageTemplate.objects.create(**values)


def test_quality_update_fixture_parses_field_by_field():
    parsed = parse_webhook(encode_like_meta(load_fixture("template_quality_update.json")))

    assert parsed.template_quality_updates == [
        TemplateQualityUpdate(
            waba_id="102290129340398",
            template_id="806312974732579",
            name="welcome_template",
            language="en_US",
            new_quality_score="YELLOW",
            previous_quality_score="GREEN",
        )
    ]
    assert parsed.ignored_fields == []


def test_rejection_stores_the_reason_and_metas_explanation_and_recommendation(webhook, channel, cloud_api):
    row = template(channel, name="abandoned_cart", language="en", meta_id="1689556908129835")

    post_processed(webhook, channel, payload_for(channel, "template_status_rejected.json"))

    assert stored(row) == {
        "status": "REJECTED",
        "status_event": "REJECTED",
        "status_reason": "INVALID_FORMAT",
        "status_detail": (
            "Your template has parameters placed next to each other (like {{1}}{{2}}) without text or punctuation "
            "between them.\n\nSeparate parameters with descriptive text and ensure each parameter is clearly "
            "contextualized."
        ),
        "quality_score": "",
        "meta_id": "1689556908129835",
    }
    assert cloud_api == []


def test_approval_after_a_rejection_clears_the_explanation(webhook, channel, cloud_api):
    row = template(
        channel,
        name="order_confirmation",
        language="en_US",
        meta_id="1689556908129832",
        status="REJECTED",
        status_reason="INVALID_FORMAT",
        status_detail="Separate parameters.",
    )

    post_processed(webhook, channel, payload_for(channel, "template_status_approved.json"))

    assert stored(row) == {
        "status": "APPROVED",
        "status_event": "APPROVED",
        "status_reason": "",
        "status_detail": "",
        "quality_score": "",
        "meta_id": "1689556908129832",
    }


def test_a_pause_for_quality_stores_metas_description(webhook, channel, cloud_api):
    row = template(channel, name="order_confirmation", language="en_US", meta_id="1689556908129832", status="APPROVED")
    payload = payload_for(channel, "template_status_approved.json")
    value = payload["entry"][0]["changes"][0]["value"]
    value["event"] = "PAUSED"
    value["other_info"] = {
        "title": "FIRST_PAUSE",
        "description": "Your message template has been paused for 3 hours due to low quality.",
    }

    post_processed(webhook, channel, payload)

    assert stored(row) == {
        "status": "PAUSED",
        "status_event": "PAUSED",
        "status_reason": "",
        "status_detail": "Your message template has been paused for 3 hours due to low quality.",
        "quality_score": "",
        "meta_id": "1689556908129832",
    }


def test_quality_update_sets_the_templates_quality(webhook, channel, cloud_api):
    row = template(channel, name="welcome_template", language="en_US", meta_id="806312974732579", status="APPROVED")
    other = template(channel, name="welcome_template", language="pt_BR", meta_id="806312974732580", status="APPROVED")

    event = post_processed(webhook, channel, payload_for(channel, "template_quality_update.json"))

    assert event.summary == "1 template update"
    assert stored(row) == {
        "status": "APPROVED",
        "status_event": "",
        "status_reason": "",
        "status_detail": "",
        "quality_score": "YELLOW",
        "meta_id": "806312974732579",
    }
    assert stored(other)["quality_score"] == ""
    assert cloud_api == []


def test_quality_update_of_an_unknown_template_asks_for_a_sync(webhook, channel, cloud_api):
    post_processed(webhook, channel, payload_for(channel, "template_quality_update.json"))

    assert [(r.method, r.url.path) for r in cloud_api] == [
        ("GET", f"/{channel.api_version}/{channel.waba_id}/message_templates")
    ]
    assert not MessageTemplate.objects.filter(quality_score="YELLOW").exists()
