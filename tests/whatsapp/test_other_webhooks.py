"""Webhooks that are not messages: template reviews, marketing preferences, and fields we deliberately ignore."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from conversations.models import Contact, ContactIdentity, ContactInbox, Conversation, Message, PendingStatus
from conversations.services.inbound import contact_inbox_get_or_create, conversation_get_or_open
from conversations.services.outbound import OutboundSpec, message_send
from tests.factories import owner_of
from tests.whatsapp.conftest import load_fixture, retarget
from whatsapp import client as whatsapp_client
from whatsapp.backend import WhatsAppBackend
from whatsapp.models import MessageTemplate, UserPreferenceEvent, WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def cloud_api():
    """The Cloud API as an httpx.MockTransport: lists template_list_response.json, records every request."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET" and request.url.path.endswith("/message_templates"):
            return httpx.Response(200, json=load_fixture("template_list_response.json") | {"paging": {}})
        return httpx.Response(404, json={"error": {"message": "Unknown path", "type": "OAuthException", "code": 100}})

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


def template(channel, **fields) -> MessageTemplate:
    values = {"tenant_id": channel.tenant_id, "waba_id": channel.waba_id, "category": "UTILITY"} | fields
    return MessageTemplate.objects.create(**values)


def template_state(row: MessageTemplate) -> tuple[str, str, str, str]:
    row.refresh_from_db()
    return row.status, row.status_event, row.status_reason, row.meta_id


def test_approved_template_matched_by_meta_id(webhook, channel, cloud_api):
    row = template(channel, meta_id="1689556908129832", name="order_confirmation", language="en_US")
    untouched = template(channel, meta_id="1689556908129999", name="order_confirmation", language="pt_BR")

    event = post_processed(webhook, channel, payload_for(channel, "template_status_approved.json"))

    assert event.summary == "1 template update"
    assert template_state(row) == ("APPROVED", "APPROVED", "", "1689556908129832")
    assert template_state(untouched) == ("PENDING", "", "", "1689556908129999")
    assert cloud_api == []


def test_rejected_template_matched_by_name_and_language_gets_its_meta_id(webhook, channel, cloud_api):
    row = template(channel, meta_id="", name="abandoned_cart", language="en", category="MARKETING")

    post_processed(webhook, channel, payload_for(channel, "template_status_rejected.json"))

    assert template_state(row) == ("REJECTED", "REJECTED", "INVALID_FORMAT", "1689556908129835")
    assert cloud_api == []


def test_template_of_another_waba_is_not_touched(webhook, channel, cloud_api):
    row = template(channel, meta_id="1689556908129832", name="order_confirmation", language="en_US", waba_id="999")

    post_processed(webhook, channel, payload_for(channel, "template_status_approved.json"))

    assert template_state(row) == ("PENDING", "", "", "1689556908129832")
    # Not one of ours yet, so the WABA's templates are fetched.
    assert [(r.method, r.url.path) for r in cloud_api] == [
        ("GET", f"/{channel.api_version}/{channel.waba_id}/message_templates")
    ]


def test_unknown_template_enqueues_a_template_sync(webhook, channel, cloud_api):
    post_processed(webhook, channel, payload_for(channel, "template_status_approved.json"))

    assert [(r.method, r.url.host, r.url.path) for r in cloud_api] == [
        ("GET", "fake-cloud-api.invalid", f"/{channel.api_version}/{channel.waba_id}/message_templates")
    ]
    assert cloud_api[0].headers["Authorization"] == "Bearer test-access-token"
    assert sorted(MessageTemplate.objects.values_list("name", "language", "status", "meta_id")) == [
        ("2023_april_promo", "en_US", "APPROVED", "920070352646140"),
        ("hello_world", "en_US", "APPROVED", "1192339204654487"),
    ]
    channel.refresh_from_db()
    assert channel.templates_synced_at is not None


def template_event(channel, event: str, reason: str | None = "NONE") -> dict[str, Any]:
    """Meta's APPROVED example (order_confirmation, en-US) carrying another event."""
    payload = payload_for(channel, "template_status_approved.json")
    payload["entry"][0]["changes"][0]["value"].update(event=event, reason=reason)
    return payload


@pytest.mark.parametrize(
    ("before", "event", "reason", "after"),
    [
        ("PENDING", "APPROVED", "NONE", "APPROVED"),
        ("PENDING", "REJECTED", "INCORRECT_CATEGORY", "REJECTED"),
        ("REJECTED", "PENDING", "NONE", "PENDING"),
        ("REJECTED", "IN_APPEAL", "NONE", "IN_APPEAL"),
        ("APPROVED", "PAUSED", "NONE", "PAUSED"),
        ("APPROVED", "DISABLED", "NONE", "DISABLED"),
        ("PENDING", "LIMIT_EXCEEDED", "NONE", "LIMIT_EXCEEDED"),
        ("APPROVED", "ARCHIVED", "NONE", "ARCHIVED"),
        ("APPROVED", "PENDING_DELETION", None, "PENDING_DELETION"),
        ("PENDING_DELETION", "DELETED", None, "DELETED"),
        # Sendable again without a new review.
        ("DISABLED", "REINSTATED", "NONE", "APPROVED"),
        ("PAUSED", "REINSTATED", "NONE", "APPROVED"),
        ("ARCHIVED", "UNARCHIVED", "NONE", "APPROVED"),
        # At risk, or no longer editable: still approved, and a paused one stays paused.
        ("APPROVED", "FLAGGED", "NONE", "APPROVED"),
        ("PAUSED", "FLAGGED", "NONE", "PAUSED"),
        ("APPROVED", "LOCKED", "NONE", "APPROVED"),
    ],
)
def test_template_event_sets_the_status_it_means_and_is_recorded(
    webhook, channel, cloud_api, before, event, reason, after
):
    row = template(channel, meta_id="1689556908129832", name="order_confirmation", language="en_US", status=before)

    post_processed(webhook, channel, template_event(channel, event, reason))

    expected_reason = reason if reason not in (None, "NONE") else ""
    assert template_state(row) == (after, event, expected_reason, "1689556908129832")
    assert cloud_api == []  # a known event of a known template needs no sync


def test_a_reinstated_template_is_offered_and_can_be_sent_again(webhook, channel, cloud_api):
    template(
        channel,
        meta_id="1689556908129832",
        name="order_confirmation",
        language="en_US",
        status="DISABLED",
        components=[{"type": "BODY", "text": "Your order {{1}} is confirmed."}],
    )
    contact_inbox = contact_inbox_get_or_create(inbox=channel.inbox, source_id="16505551234")
    conversation, _opened = conversation_get_or_open(contact_inbox=contact_inbox)
    spec = OutboundSpec(
        type="template", content={"name": "order_confirmation", "language": "en_US", "params": {"body": ["#42"]}}
    )
    assert WhatsAppBackend().templates_for(channel.inbox) == []

    post_processed(webhook, channel, template_event(channel, "REINSTATED"))

    assert [t["name"] for t in WhatsAppBackend().templates_for(channel.inbox)] == ["order_confirmation"]
    message, created = message_send(actor=owner_of(channel.tenant), conversation=conversation, spec=spec)
    assert (created, message.status, message.text) == (True, "queued", "Your order #42 is confirmed.")


def listing(seen: list[httpx.Request], response: httpx.Response) -> None:
    """Meta's template list answers ``response`` (for this test only); requests are kept in ``seen``."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return response

    whatsapp_client._transport_override["transport"] = httpx.MockTransport(handler)


def test_an_unknown_template_event_is_recorded_and_the_status_is_read_from_metas_list(webhook, channel, cloud_api):
    row = template(channel, meta_id="1689556908129832", name="order_confirmation", language="en_US", status="APPROVED")
    paused = {"id": "1689556908129832", "name": "order_confirmation", "language": "en_US", "status": "PAUSED"}
    listing(cloud_api, httpx.Response(200, json={"data": [paused], "paging": {}}))

    post_processed(webhook, channel, template_event(channel, "SOMETHING_NEW", "NONE"))

    assert template_state(row) == ("PAUSED", "SOMETHING_NEW", "", "1689556908129832")
    assert [(r.method, r.url.path) for r in cloud_api] == [
        ("GET", f"/{channel.api_version}/{channel.waba_id}/message_templates")
    ]


def test_an_unknown_template_event_alone_does_not_change_the_status(webhook, channel, cloud_api):
    row = template(channel, meta_id="1689556908129832", name="order_confirmation", language="en_US", status="APPROVED")
    unavailable = {"error": {"message": "Service temporarily unavailable", "type": "OAuthException", "code": 2}}
    listing(cloud_api, httpx.Response(503, json=unavailable))

    post_processed(webhook, channel, template_event(channel, "SOMETHING_NEW", "NONE"))

    assert template_state(row) == ("APPROVED", "SOMETHING_NEW", "", "1689556908129832")
    assert len(cloud_api) == 1  # the sync was asked for, and failed: the next one tries again


def preference_payload(channel, *, wa_id: str, value: str, timestamp: int, detail: str) -> dict[str, Any]:
    payload = payload_for(channel, "user_preferences_resume_marketing.json")
    payload["entry"][0]["changes"][0]["value"]["user_preferences"][0].update(
        wa_id=wa_id, value=value, timestamp=timestamp, detail=detail
    )
    return payload


def customer(channel, wa_id: str, consent: str = Contact.MarketingConsent.OPTED_IN) -> Contact:
    contact = Contact.objects.create(tenant_id=channel.tenant_id, phone_e164=f"+{wa_id}", marketing_consent=consent)
    ContactIdentity.objects.create(tenant_id=channel.tenant_id, contact=contact, channel_type="whatsapp", address=wa_id)
    return contact


def test_resume_marketing_records_the_event_and_resets_consent_to_unknown(webhook, channel):
    contact = customer(channel, "16505551234", Contact.MarketingConsent.OPTED_OUT)

    event = post_processed(webhook, channel, payload_for(channel, "user_preferences_resume_marketing.json"))

    assert event.summary == "1 preference"
    row = UserPreferenceEvent.objects.get()
    assert (row.tenant_id, row.channel_id, row.wa_id, row.category, row.value, row.detail, row.occurred_at) == (
        channel.tenant_id,
        channel.pk,
        "16505551234",
        "marketing_messages",
        "resume",
        "User requested to resume marketing messages",
        datetime(2024, 11, 15, 21, 22, 1, tzinfo=UTC),
    )
    contact.refresh_from_db()
    assert (contact.marketing_consent, contact.marketing_consent_at) == (
        "unknown",
        datetime(2024, 11, 15, 21, 22, 1, tzinfo=UTC),
    )


def test_stop_marketing_opts_the_brazilian_contact_out(webhook, channel):
    contact = customer(channel, "5511987654321")
    bystander = customer(channel, "5511987654322")
    # Meta's wa_id without the ninth digit is the same customer.
    payload = preference_payload(
        channel,
        wa_id="551187654321",
        value="stop",
        timestamp=1731705000,
        detail="User requested to stop marketing messages",
    )

    post_processed(webhook, channel, payload)
    webhook.post(channel, payload)  # Meta's retry
    payload["entry"][0]["time"] = 1731705001
    post_processed(webhook, channel, payload)  # the same preference in another envelope

    assert list(UserPreferenceEvent.objects.values_list("wa_id", "value", "occurred_at")) == [
        ("5511987654321", "stop", datetime(2024, 11, 15, 21, 10, tzinfo=UTC))
    ]
    contact.refresh_from_db()
    bystander.refresh_from_db()
    assert (contact.marketing_consent, contact.marketing_consent_at) == (
        "opted_out",
        datetime(2024, 11, 15, 21, 10, tzinfo=UTC),
    )
    assert (bystander.marketing_consent, bystander.marketing_consent_at) == ("opted_in", None)


def test_an_older_resume_arriving_after_a_stop_keeps_the_contact_opted_out(webhook, channel):
    contact = customer(channel, "16505551234")
    stop = preference_payload(channel, wa_id="16505551234", value="stop", timestamp=1731706000, detail="stop")

    post_processed(webhook, channel, stop)
    post_processed(webhook, channel, payload_for(channel, "user_preferences_resume_marketing.json"))  # 1731705721

    assert UserPreferenceEvent.objects.count() == 2
    contact.refresh_from_db()
    assert (contact.marketing_consent, contact.marketing_consent_at) == (
        "opted_out",
        datetime(2024, 11, 15, 21, 26, 40, tzinfo=UTC),
    )


def test_preference_of_an_unknown_customer_is_kept_as_an_event_only(webhook, channel):
    post_processed(webhook, channel, payload_for(channel, "user_preferences_resume_marketing.json"))

    assert UserPreferenceEvent.objects.values_list("wa_id", "value").get() == ("16505551234", "resume")
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("fixture", "field"),
    [
        ("account_update_restriction.json", "account_update"),
    ],
)
def test_ignored_fields_are_processed_and_write_nothing_else(webhook, channel, cloud_api, fixture, field):
    existing = template(channel, meta_id="806312974732579", name="welcome_template", language="en_US")
    channel_before = copy.copy(channel.__dict__)

    event = post_processed(webhook, channel, payload_for(channel, fixture))

    assert event.summary == f"ignored: {field}"
    assert template_state(existing) == ("PENDING", "", "", "806312974732579")
    assert MessageTemplate.objects.count() == 1
    for model in (Contact, ContactInbox, Conversation, Message, PendingStatus, UserPreferenceEvent):
        assert not model.objects.exists(), model.__name__
    channel.refresh_from_db()
    assert (channel.health, channel.health_detail, channel.templates_synced_at) == (
        channel_before["health"],
        channel_before["health_detail"],
        channel_before["templates_synced_at"],
    )
    assert cloud_api == []


def test_ignored_fields_beside_a_message_in_one_batch(webhook, channel):
    batch = payload_for(channel, "inbound_text.json")
    for fixture in ("account_update_restriction.json", "phone_number_quality_update.json"):
        batch["entry"].append(payload_for(channel, fixture)["entry"][0])

    event = post_processed(webhook, channel, batch)

    # The quality update is not ignored: it moves the messaging limit (tests/whatsapp/test_messaging_limits.py).
    assert event.summary == "1 message; 1 account update; ignored: account_update"
    assert Message.objects.count() == 1
