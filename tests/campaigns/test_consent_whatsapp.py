"""WhatsApp and consent: the customer's marketing preferences and Meta's 131050 go to the ledger through the core's
event; the sender refuses a marketing template without an opt-in (service, API, composer); 131049 is recorded once,
never retried."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from django.test import Client
from django.utils import timezone

from campaigns.consent import consent_record, marketing_purpose
from campaigns.models import ConsentEvent, ConsentState
from conversations.actors import SystemActor
from conversations.models import Contact, Conversation, Message, OutboxEvent
from conversations.services.contacts import contact_marketing_consent_set
from conversations.services.delivery import message_deliver
from conversations.services.inbound import InboundSpec, message_receive
from conversations.services.outbound import OutboundSpec, message_send
from helpdesk.exceptions import ValidationFailed
from tenants.permissions import Perm
from tenants.services import api_token_create
from tests.conversations.factories import make_role
from tests.factories import owner_of
from tests.whatsapp.conftest import WebhookPoster, load_fixture, make_channel, retarget
from whatsapp import client as whatsapp_client
from whatsapp.models import MessageTemplate, UserPreferenceEvent

pytestmark = pytest.mark.django_db

WA_ID = "16505551234"
REFUSAL = (
    "Maria has not agreed to receive marketing messages: a marketing template needs their opt-in. "
    "Send a utility template, or record their consent first."
)


@pytest.fixture
def channel(tenant):
    return make_channel(tenant)


@pytest.fixture
def webhook(django_capture_on_commit_callbacks):
    return WebhookPoster(django_capture_on_commit_callbacks)


def payload_for(channel, fixture: str) -> dict:
    return retarget(load_fixture(fixture), phone_number_id=channel.phone_number_id, waba_id=channel.waba_id)


def preference_payload(channel, *, value: str, timestamp: int) -> dict:
    payload = payload_for(channel, "user_preferences_resume_marketing.json")
    payload["entry"][0]["changes"][0]["value"]["user_preferences"][0].update(
        wa_id=WA_ID, value=value, timestamp=timestamp, detail=f"User requested to {value} marketing messages"
    )
    return payload


def customer(channel) -> Conversation:
    message, _created = message_receive(
        inbox=channel.inbox,
        spec=InboundSpec(
            source_id=WA_ID,
            external_id=f"wamid.in.{Message.objects.count()}",
            occurred_at=timezone.now(),
            type="text",
            text="Olá",
            profile_name="Maria",
        ),
    )
    return message.conversation


def ledger() -> list[tuple[str, str, datetime, str | None]]:
    return list(ConsentEvent.objects.order_by("id").values_list("kind", "source", "occurred_at", "dedupe_key"))


def consent(conversation: Conversation) -> tuple[str, datetime | None]:
    return Contact.objects.values_list("marketing_consent", "marketing_consent_at").get(pk=conversation.contact_id)


# --- marketing preferences -----------------------------------------------------------------------------------


def test_a_stop_in_whatsapp_is_recorded_in_the_ledger_once(webhook, channel):
    conversation = customer(channel)
    payload = preference_payload(channel, value="stop", timestamp=1731705000)
    at = datetime(2024, 11, 15, 21, 10, tzinfo=UTC)

    webhook.post(channel, payload)
    webhook.post(channel, payload)  # Meta's retry
    payload["entry"][0]["time"] = 1731705001
    webhook.post(channel, payload)  # the same preference in another envelope

    key = f"whatsapp:{channel.pk}:{WA_ID}:1731705000:stop"
    assert ledger() == [("opt_out", "whatsapp", at, key)]
    assert ConsentEvent.objects.get().evidence == {
        "channel": "whatsapp", "value": "stop", "detail": "User requested to stop marketing messages",
    }  # fmt: skip
    assert OutboxEvent.objects.filter(event_type="marketing_preference.reported").count() == 1
    assert consent(conversation) == ("opted_out", at)
    assert UserPreferenceEvent.objects.count() == 1


def test_out_of_order_preferences_leave_the_newest(webhook, channel):
    conversation = customer(channel)

    webhook.post(channel, preference_payload(channel, value="stop", timestamp=1731706000))
    webhook.post(channel, preference_payload(channel, value="resume", timestamp=1731705721))  # older, arrives later

    assert [(k, s) for k, s, _at, _key in ledger()] == [("opt_out", "whatsapp"), ("resume", "whatsapp")]
    stop_at = datetime(2024, 11, 15, 21, 26, 40, tzinfo=UTC)
    assert ConsentState.objects.values_list("kind", "occurred_at").get() == ("opt_out", stop_at)
    assert consent(conversation) == ("opted_out", stop_at)


def test_a_resume_after_a_stop_leaves_consent_unknown(webhook, channel):
    conversation = customer(channel)

    webhook.post(channel, preference_payload(channel, value="stop", timestamp=1731705000))
    webhook.post(channel, preference_payload(channel, value="resume", timestamp=1731706000))

    assert consent(conversation) == ("unknown", datetime(2024, 11, 15, 21, 26, 40, tzinfo=UTC))
    assert ConsentState.objects.values_list("kind", flat=True).get() == "resume"


def test_a_preference_of_an_unknown_customer_records_no_event(webhook, channel):
    webhook.post(channel, preference_payload(channel, value="stop", timestamp=1731705000))

    assert UserPreferenceEvent.objects.count() == 1
    assert not OutboxEvent.objects.filter(event_type="marketing_preference.reported").exists()
    assert ledger() == []


# --- failed sends: 131050 and 131049 --------------------------------------------------------------------------


def _outbound(conversation: Conversation, wamid: str) -> Message:
    return Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        direction=Message.Direction.OUTBOUND,
        sender_type=Message.SenderType.AGENT,
        type=Message.Type.TEXT,
        text="Promo",
        external_id=wamid,
        status=Message.Status.SENT,
    )


def _failed_status(channel, wamid: str, code: int, title: str) -> dict:
    payload = payload_for(channel, "status_failed_131049.json")
    status = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    status.update(id=wamid, recipient_id=WA_ID)
    status["errors"][0].update(code=code, title=title, message=title)
    return payload


def test_131050_opts_the_customer_out_in_the_ledger(webhook, channel):
    conversation = customer(channel)
    contact_marketing_consent_set(contact=conversation.contact, consent="opted_in", at=datetime(2024, 1, 1, tzinfo=UTC))
    message = _outbound(conversation, "wamid.promo")
    payload = _failed_status(channel, "wamid.promo", 131050, "Unable to deliver the message.")

    webhook.post(channel, payload)
    payload["entry"][0]["time"] = 1750030000
    webhook.post(channel, payload)  # the same status again

    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", 131050)
    failed_at = message.failed_at
    assert ledger() == [("opt_out", "whatsapp", failed_at, f"whatsapp:{channel.pk}:wamid.promo:131050")]
    assert consent(conversation) == ("opted_out", failed_at)


def test_131049_is_recorded_on_the_message_and_changes_no_consent(webhook, channel):
    conversation = customer(channel)
    message = _outbound(conversation, "wamid.limit")

    webhook.post(channel, _failed_status(channel, "wamid.limit", 131049, "Per-user marketing limit"))

    message.refresh_from_db()
    assert (message.status, message.error_code, message.error_title) == ("failed", 131049, "Per-user marketing limit")
    assert ledger() == []
    assert consent(conversation)[0] == "unknown"


def test_131049_refused_at_send_is_recorded_once_and_not_retried(channel, tenant, monkeypatch):
    """Meta's per-user marketing limit is not a temporary error: the send is failed and never tried again."""
    calls: list[httpx.Request] = []

    def cloud_api(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        error = {"message": "(#131049) This message was not delivered to maintain healthy ecosystem engagement.",
                 "type": "OAuthException", "code": 131049, "fbtrace_id": "AbC"}  # fmt: skip
        return httpx.Response(400, json={"error": error})

    monkeypatch.setitem(whatsapp_client._transport_override, "transport", httpx.MockTransport(cloud_api))
    conversation = customer(channel)
    message, _created = message_send(
        actor=owner_of(tenant), conversation=conversation, spec=OutboundSpec(type=Message.Type.TEXT, text="Promo")
    )

    first = message_deliver(message_id=message.pk)
    again = message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert (first, message.status, message.error_code, message.send_attempts) == ("failed", "failed", 131049, 1)
    assert again != "sent"
    assert len([c for c in calls if c.url.path.endswith("/messages")]) == 1
    assert ledger() == []


# --- the sender refuses marketing without an opt-in -----------------------------------------------------------


@pytest.fixture
def templates(channel) -> None:
    common = {"tenant_id": channel.tenant_id, "waba_id": channel.waba_id, "status": "APPROVED"}
    MessageTemplate.objects.create(
        **common, name="promo", language="pt_BR", category="MARKETING",
        components=[{"type": "BODY", "text": "Promoção de Natal!"}],
    )  # fmt: skip
    MessageTemplate.objects.create(
        **common, name="order_update", language="pt_BR", category="UTILITY",
        components=[{"type": "BODY", "text": "Seu pedido foi enviado."}],
    )  # fmt: skip


def _template(name: str) -> OutboundSpec:
    return OutboundSpec(type=Message.Type.TEMPLATE, content={"name": name, "language": "pt_BR"})


def test_the_sender_refuses_a_marketing_template_without_an_opt_in(channel, templates, tenant):
    conversation = customer(channel)

    for consent_value in ("unknown", "opted_out"):
        Contact.objects.filter(pk=conversation.contact_id).update(marketing_consent=consent_value)
        with pytest.raises(ValidationFailed) as exc:
            message_send(actor=owner_of(tenant), conversation=conversation, spec=_template("promo"))
        assert (exc.value.code, exc.value.message) == ("no_marketing_consent", REFUSAL)

    assert not Message.objects.filter(direction="out").exists()


def test_a_utility_template_goes_without_consent_and_marketing_after_an_opt_in(channel, templates, tenant):
    conversation = customer(channel)
    owner = owner_of(tenant)

    utility, _created = message_send(actor=owner, conversation=conversation, spec=_template("order_update"))
    consent_record(
        actor=owner, contact=conversation.contact, purpose=marketing_purpose(tenant_id=tenant.pk), kind="opt_in",
        source="agent", note="Said yes on the phone",
    )  # fmt: skip
    promo, _created = message_send(actor=owner, conversation=conversation, spec=_template("promo"))

    assert [(m.pk, m.text) for m in Message.objects.filter(direction="out").order_by("id")] == [
        (utility.pk, "Seu pedido foi enviado."), (promo.pk, "Promoção de Natal!"),
    ]  # fmt: skip


def test_the_api_answers_400_no_marketing_consent(channel, templates, tenant):
    conversation = customer(channel)
    role = make_role(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.REPLY, Perm.SEND_TEMPLATES])
    _token, raw = api_token_create(actor=owner_of(tenant), name="CRM", role=role)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = client.post(
        f"/api/v1/t/acme/conversations/{conversation.display_id}/messages/",
        {"type": "template", "template": {"name": "promo", "language": "pt_BR"}},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json() == {"error": {"code": "no_marketing_consent", "message": REFUSAL, "details": {}}}
    assert not Message.objects.filter(direction="out").exists()


def test_the_composer_shows_the_refusal_and_marks_the_template_unavailable(channel, templates, tenant, client):
    conversation = customer(channel)
    client.force_login(owner_of(tenant).user)
    base = f"/t/acme/inbox/c/{conversation.display_id}/"

    listed = client.get(base + "templates/", headers={"accept": "application/json"}).json()["templates"]
    response = client.post(
        base + "send/",
        {"template": "promo", "language": "pt_BR", "params": "{}", "idempotency_key": "k-1"},
        headers={"accept": "application/json"},
    )

    assert {t["name"]: t.get("unavailable", "") for t in listed} == {
        "promo": "Maria has not agreed to receive marketing messages.",
        "order_update": "",
    }
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "no_marketing_consent", "message": REFUSAL, "details": {}}
    assert not Message.objects.filter(direction="out").exists()

    consent_record(
        actor=SystemActor(tenant_id=tenant.pk), contact=conversation.contact,
        purpose=marketing_purpose(tenant_id=tenant.pk), kind="opt_in", source="web_form", evidence={"form": "site"},
    )  # fmt: skip
    listed = client.get(base + "templates/", headers={"accept": "application/json"}).json()["templates"]
    assert {t["name"]: t.get("unavailable", "") for t in listed} == {"promo": "", "order_update": ""}
