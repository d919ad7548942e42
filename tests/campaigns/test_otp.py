"""One-time codes: sent with an authentication template, never stored, logged or shown in clear, checked once
within five attempts before they expire, and sent at most so often per contact and per caller."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import httpx
import pytest
from django.core import serializers as django_serializers
from django.test import Client
from django.utils import timezone

from campaigns import otp
from campaigns.models import OtpChallenge
from conversations.models import Message, OutboxEvent
from tenants.models import AuditLogEntry
from tenants.permissions import Perm
from tenants.services import api_token_create
from tests.campaigns.scheduling_setup import customer_wrote, make_template, make_whatsapp
from tests.conversations.factories import make_role
from tests.factories import add_member, owner_of
from whatsapp import client as whatsapp_client

pytestmark = pytest.mark.django_db

CODE = "73920518"
AUTH_COMPONENTS_BUTTON = [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copiar código"}]


def make_auth_template(channel, name: str = "login_code"):
    template = make_template(channel, name, category="AUTHENTICATION", buttons=AUTH_COMPONENTS_BUTTON)
    template.components = [
        {"type": "BODY", "add_security_recommendation": True},
        {"type": "FOOTER", "code_expiration_minutes": 10},
        {"type": "BUTTONS", "buttons": AUTH_COMPONENTS_BUTTON},
    ]
    template.save(update_fields=["components"])
    return template


@pytest.fixture
def channel(tenant):
    channel = make_whatsapp(tenant)
    make_auth_template(channel)
    return channel


@pytest.fixture
def conversation(channel):
    return customer_wrote(channel, minutes_ago=5)


@pytest.fixture
def fixed_code(monkeypatch):
    monkeypatch.setattr(otp, "_code", lambda length: CODE[:length])


def token_client(tenant, perms=(Perm.SEND_TEMPLATES, Perm.REPLY, Perm.VIEW_ALL_CONVERSATIONS), name="Login"):
    token, raw = api_token_create(actor=owner_of(tenant), name=name, role=make_role(tenant, perms))
    return token, Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def post(client: Client, url: str, body: dict):
    return client.post(url, json.dumps(body), content_type="application/json")


def _send(tenant, conversation, **kwargs):
    kwargs.setdefault("principal", owner_of(tenant))
    return otp.otp_send(
        contact=conversation.contact,
        inbox=conversation.inbox,
        template_name="login_code",
        template_language="pt_BR",
        **kwargs,
    )


def test_the_code_is_sent_as_the_body_and_the_buttons_value(
    tenant, conversation, fixed_code, monkeypatch, django_capture_on_commit_callbacks
):
    sent: list[dict] = []

    def cloud_api(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"messaging_product": "whatsapp", "messages": [{"id": "wamid.otp1"}]})

    monkeypatch.setitem(whatsapp_client._transport_override, "transport", httpx.MockTransport(cloud_api))
    with django_capture_on_commit_callbacks(execute=True):
        challenge = _send(tenant, conversation, length=8)

    # The customer's message is marked read too; one request is the code's.
    [payload] = [body for body in sent if body.get("type") == "template"]
    assert payload["template"]["name"] == "login_code"
    assert payload["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": CODE}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": CODE}]},
    ]
    assert Message.objects.get(pk=challenge.message_id).status == "sent"
    assert otp.otp_messages_mask() == 1
    assert CODE not in json.dumps(Message.objects.get(pk=challenge.message_id).raw)


def _scan(challenge: OtpChallenge) -> str:
    """Everything stored about the code: its challenge, its message, the audit log and the outbox."""
    rows = [
        *OtpChallenge.objects.filter(pk=challenge.pk),
        *Message.objects.filter(pk=challenge.message_id),
        *AuditLogEntry.objects.all(),
        *OutboxEvent.objects.all(),
    ]
    return django_serializers.serialize("json", rows)


def test_the_code_is_never_stored_in_clear_and_masked_in_the_history(tenant, conversation, fixed_code):
    challenge = _send(tenant, conversation, length=8)
    message = Message.objects.get(pk=challenge.message_id)

    assert (message.type, message.status) == ("template", "queued")
    assert message.text == "*••••••* is your verification code."
    assert CODE not in json.dumps(message.content) and "••••••" in json.dumps(message.content, ensure_ascii=False)
    assert message.idempotency_fingerprint == ""
    assert CODE not in challenge.code_hash and len(challenge.code_hash) == 32 + 1 + 64
    # Until the channel took it, only the request the sender needs holds it.
    assert CODE in json.dumps(message.raw)

    Message.objects.filter(pk=message.pk).update(status="sent")
    assert otp.otp_messages_mask() == 1
    assert CODE not in _scan(challenge)
    assert otp.otp_messages_mask() == 0
    assert otp.otp_verify(principal=owner_of(tenant), challenge_id=challenge.pk, code=CODE).verified_at is not None


def test_a_code_still_queued_when_it_expires_is_masked_then(tenant, conversation, fixed_code):
    now = timezone.now()
    challenge = _send(tenant, conversation, length=8, now=now, ttl_seconds=60)

    assert otp.otp_messages_mask(now=now + timedelta(seconds=59)) == 0
    assert otp.otp_messages_mask(now=now + timedelta(seconds=60)) == 1
    assert CODE not in _scan(challenge)


def test_the_code_is_never_logged(tenant, conversation, fixed_code, caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.DEBUG)
    _token, client = token_client(tenant)
    with django_capture_on_commit_callbacks(execute=True):
        answer = post(
            client,
            "/api/v1/t/acme/otp/send/",
            {
                "phone": "+5511987654321",
                "inbox_id": conversation.inbox_id,
                "template_name": "login_code",
                "template_language": "pt_BR",
                "length": 8,
            },
        )
    assert answer.status_code == 201, answer.content
    assert CODE not in answer.content.decode()
    assert set(answer.json()) == {"id", "expires_at"}
    # The delivery ran (and failed: no network in tests), logging as it does.
    assert caplog.records
    assert CODE not in caplog.text


def test_codes_are_random_digits_of_the_length_asked(tenant, conversation, monkeypatch):
    made: list[str] = []
    real = otp._code
    monkeypatch.setattr(otp, "_code", lambda length: made.append(real(length)) or made[-1])
    _send(tenant, conversation, length=4)
    _send(tenant, conversation, length=8)
    assert [len(code) for code in made] == [4, 8]
    assert all(code.isascii() and code.isdigit() for code in made)


def test_verify_right_wrong_and_used(tenant, conversation, fixed_code):
    owner = owner_of(tenant)
    challenge = _send(tenant, conversation)

    with pytest.raises(otp.OtpIncorrect) as wrong:
        otp.otp_verify(principal=owner, challenge_id=challenge.pk, code="000000")
    verified = otp.otp_verify(principal=owner, challenge_id=challenge.pk, code=CODE[:6])
    with pytest.raises(otp.OtpAlreadyUsed):
        otp.otp_verify(principal=owner, challenge_id=challenge.pk, code=CODE[:6])

    assert wrong.value.details == {"attempts_left": 4}
    challenge.refresh_from_db()
    assert (challenge.attempts, challenge.verified_at) == (2, verified.verified_at)


def test_five_wrong_attempts_exhaust_the_code(tenant, conversation, fixed_code):
    owner = owner_of(tenant)
    challenge = _send(tenant, conversation)
    left = []
    for _ in range(5):
        with pytest.raises(otp.OtpIncorrect) as wrong:
            otp.otp_verify(principal=owner, challenge_id=challenge.pk, code="111111")
        left.append(wrong.value.details["attempts_left"])
    with pytest.raises(otp.OtpAttemptsExhausted):
        otp.otp_verify(principal=owner, challenge_id=challenge.pk, code=CODE[:6])

    assert left == [4, 3, 2, 1, 0]
    challenge.refresh_from_db()
    assert (challenge.attempts, challenge.verified_at) == (5, None)


def test_an_expired_code_is_refused_even_when_right(tenant, conversation, fixed_code):
    now = timezone.now()
    challenge = _send(tenant, conversation, now=now, ttl_seconds=600)

    with pytest.raises(otp.OtpExpired):
        otp.otp_verify(
            principal=owner_of(tenant), challenge_id=challenge.pk, code=CODE[:6], now=now + timedelta(seconds=600)
        )
    challenge.refresh_from_db()
    assert (challenge.attempts, challenge.verified_at) == (0, None)


def test_three_codes_per_contact_in_ten_minutes(tenant, conversation, fixed_code):
    now = timezone.now()
    for minute in (0, 2, 4):
        _send(tenant, conversation, now=now + timedelta(minutes=minute))

    with pytest.raises(otp.RateLimited) as limited:
        _send(tenant, conversation, now=now + timedelta(minutes=9))
    # The first leaves the window at minute 10: one more may go then.
    _send(tenant, conversation, now=now + timedelta(minutes=10, seconds=1))

    assert limited.value.retry_after == 60
    assert OtpChallenge.objects.count() == 4
    assert Message.objects.filter(type="template", conversation__contact=conversation.contact).count() == 4


def test_ten_codes_per_contact_in_a_day(tenant, conversation, fixed_code):
    now = timezone.now()
    for hour in range(10):
        _send(tenant, conversation, now=now + timedelta(hours=hour))

    with pytest.raises(otp.RateLimited) as limited:
        _send(tenant, conversation, now=now + timedelta(hours=12))

    assert limited.value.retry_after == 12 * 3600
    assert OtpChallenge.objects.count() == 10


def test_sends_per_caller_are_limited(tenant, channel, fixed_code, settings):
    settings.OTP_SENDS_PER_CALLER_HOUR = 2
    _token, client = token_client(tenant)
    body = {"inbox_id": channel.inbox_id, "template_name": "login_code", "template_language": "pt_BR"}

    answers = [post(client, "/api/v1/t/acme/otp/send/", {**body, "phone": f"+55119876500{n:02d}"}) for n in range(3)]

    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].json()["error"]["code"] == "rate_limited"
    assert 1 <= int(answers[2]["Retry-After"]) <= 3600
    assert OtpChallenge.objects.count() == 2


def test_the_api_answers_429_with_retry_after_for_a_contact(tenant, conversation, fixed_code):
    _token, client = token_client(tenant)
    body = {
        "contact_id": conversation.contact_id,
        "inbox_id": conversation.inbox_id,
        "template_name": "login_code",
        "template_language": "pt_BR",
    }
    answers = [post(client, "/api/v1/t/acme/otp/send/", body) for _ in range(4)]

    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert 599 <= int(answers[3]["Retry-After"]) <= 600
    assert answers[3].json()["error"]["details"]["retry_after_seconds"] == int(answers[3]["Retry-After"])


def test_verify_through_the_api(tenant, conversation, fixed_code):
    _token, client = token_client(tenant)
    sent = post(
        client,
        "/api/v1/t/acme/otp/send/",
        {
            "contact_id": conversation.contact_id,
            "inbox_id": conversation.inbox_id,
            "template_name": "login_code",
            "template_language": "pt_BR",
        },
    ).json()

    wrong = post(client, "/api/v1/t/acme/otp/verify/", {"id": sent["id"], "code": "000000"})
    right = post(client, "/api/v1/t/acme/otp/verify/", {"id": sent["id"], "code": CODE[:6]})
    again = post(client, "/api/v1/t/acme/otp/verify/", {"id": sent["id"], "code": CODE[:6]})

    assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, "otp_incorrect")
    assert wrong.json()["error"]["details"] == {"attempts_left": 4}
    assert (right.status_code, right.json()["verified"]) == (200, True)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "otp_already_used")


def test_another_workspaces_code_is_not_found(tenant, other_tenant, conversation, fixed_code):
    challenge = _send(tenant, conversation)
    _token, theirs = token_client(other_tenant)

    answer = post(theirs, "/api/v1/t/globex/otp/verify/", {"id": challenge.pk, "code": CODE[:6]})
    mine_through_their_slug = post(theirs, "/api/v1/t/acme/otp/verify/", {"id": challenge.pk, "code": CODE[:6]})

    assert answer.status_code == 404 and mine_through_their_slug.status_code == 404
    challenge.refresh_from_db()
    assert (challenge.attempts, challenge.verified_at) == (0, None)


def test_only_tokens_owners_and_admins_with_send_templates(tenant, conversation, fixed_code):
    agent_client = Client()
    agent = add_member(tenant, "agent")
    agent_client.force_login(agent.user)
    _weak, weak_client = token_client(tenant, perms=(Perm.REPLY, Perm.VIEW_ALL_CONVERSATIONS), name="Weak")
    admin_client = Client()
    admin_client.force_login(add_member(tenant, "admin").user)
    body = {
        "contact_id": conversation.contact_id,
        "inbox_id": conversation.inbox_id,
        "template_name": "login_code",
        "template_language": "pt_BR",
    }

    answers = [post(c, "/api/v1/t/acme/otp/send/", body).status_code for c in (agent_client, weak_client, admin_client)]

    assert answers == [403, 403, 201]
    assert OtpChallenge.objects.count() == 1


def test_only_an_authentication_template_with_a_code_button(tenant, channel, conversation, fixed_code):
    make_template(channel, "no_button", category="AUTHENTICATION", body="Seu código: {{1}}")
    refusals = []
    for name in ("appointment_reminder", "no_button", "missing"):
        with pytest.raises(otp.ValidationFailed) as refused:
            otp.otp_send(
                principal=owner_of(tenant),
                contact=conversation.contact,
                inbox=conversation.inbox,
                template_name=name,
                template_language="pt_BR",
            )
        refusals.append(refused.value.code)
    assert refusals == ["template_not_authentication", "template_without_code_button", "template_not_approved"]
    assert OtpChallenge.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_sends_to_one_contact_let_exactly_three_through(tenant, conversation, fixed_code):
    import threading

    from django.db import connections

    from tests.prerequisites import require_postgresql

    require_postgresql("SQLite serialises writers: there is no race to lose")
    callers = 6
    barrier = threading.Barrier(callers)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            barrier.wait(timeout=10)
            _send(tenant, conversation)
            outcomes.append("sent")
        except otp.RateLimited:
            outcomes.append("limited")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(outcomes) == ["limited"] * 3 + ["sent"] * 3
    assert OtpChallenge.objects.count() == 3
    assert Message.objects.filter(type="template", conversation__contact=conversation.contact).count() == 3


def test_a_tokens_code_goes_ahead_of_the_send_queue(
    tenant, conversation, fixed_code, monkeypatch, django_capture_on_commit_callbacks
):
    asked: list[int] = []
    monkeypatch.setattr(otp, "send_ahead_request", lambda *, message_id: asked.append(message_id))
    token, _client = token_client(tenant)

    with django_capture_on_commit_callbacks(execute=True):
        by_token = _send(tenant, conversation, principal=token)
    with django_capture_on_commit_callbacks(execute=True):
        _send(tenant, conversation)  # a member's message goes ahead by itself (the core's rule)

    assert asked == [by_token.message_id]
    assert Message.objects.get(pk=by_token.message_id).sender_type == "api"
