from __future__ import annotations

import json

import pytest
from kombu.exceptions import OperationalError

from conversations.models import Message
from tests.whatsapp.conftest import APP_SECRET, FIXTURES, load_fixture, make_channel, retarget
from whatsapp import webhooks
from whatsapp.models import WebhookEvent
from whatsapp.signature import encode_like_meta, sign

pytestmark = pytest.mark.django_db


def _text_payload(channel):
    return retarget(load_fixture("inbound_text.json"), phone_number_id=channel.phone_number_id)


def test_verification_handshake_echoes_the_challenge(client, channel):
    url = f"/webhooks/whatsapp/{channel.webhook_key}/"
    ok = client.get(
        url, {"hub.mode": "subscribe", "hub.verify_token": channel.verify_token, "hub.challenge": "1158201444"}
    )
    assert (ok.status_code, ok.content, ok["Content-Type"]) == (200, b"1158201444", "text/plain")
    wrong = client.get(url, {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1158201444"})
    assert wrong.status_code == 403
    assert b"1158201444" not in wrong.content


def test_valid_signature_is_stored_and_processed(webhook, channel):
    response = webhook.post(channel, _text_payload(channel))
    assert (response.status_code, response.content) == (200, b"ok")
    event = WebhookEvent.objects.get()
    assert (event.status, event.tenant_id, event.summary) == ("processed", channel.tenant_id, "1 message")
    assert Message.objects.filter(inbox=channel.inbox).count() == 1


def test_a_broker_outage_after_the_event_is_stored_still_answers_200_and_leaves_it_pending(
    webhook, channel, monkeypatch
):
    def broker_down(event_id: int, channel_id: int) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(webhooks, "drain_request", broker_down)
    response = webhook.post(channel, _text_payload(channel))

    assert (response.status_code, response.content) == (200, b"ok")
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == ("pending", 0)  # the webhook sweeper processes it
    assert not Message.objects.exists()


@pytest.mark.parametrize("case", ["tampered", "wrong_secret", "missing", "malformed"])
def test_bad_signatures_are_401_and_store_nothing(webhook, channel, case):
    body = encode_like_meta(_text_payload(channel))
    headers = {"HTTP_X_HUB_SIGNATURE_256": sign(body, APP_SECRET)}
    if case == "tampered":
        middle = len(body) // 2
        body = body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]
    elif case == "wrong_secret":
        headers = {"HTTP_X_HUB_SIGNATURE_256": sign(body, "another-secret")}
    elif case == "missing":
        headers = {}
    else:
        headers = {"HTTP_X_HUB_SIGNATURE_256": "sha1=abc"}
    response = webhook.post(channel, body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Missing or invalid X-Hub-Signature-256."
    assert not WebhookEvent.objects.exists()
    assert not Message.objects.exists()


def test_escaped_unicode_capture_verifies_with_its_test_vector(webhook, tenant):
    vector = load_fixture("webhook_signature_test_vectors.json")["vectors"][0]
    raw = (FIXTURES / vector["body_file"]).read_bytes()[: vector["body_length"]]
    pnid = json.loads(raw)["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"]
    capture_channel = make_channel(tenant, phone_number_id=pnid, app_secret=vector["app_secret"])
    response = webhook.post(capture_channel, raw, headers={"HTTP_X_HUB_SIGNATURE_256": vector["x_hub_signature_256"]})
    assert response.status_code == 200
    assert bytes(WebhookEvent.objects.get(channel=capture_channel).body) == raw
    message = Message.objects.get(inbox=capture_channel.inbox)
    assert "caf\u00e9" in message.text
    # The same event re-serialised without Meta's escaping has other bytes, so the header no longer fits.
    reencoded = json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False).encode()
    refused = webhook.post(
        capture_channel, reencoded, headers={"HTTP_X_HUB_SIGNATURE_256": vector["x_hub_signature_256"]}
    )
    assert refused.status_code == 401
    assert WebhookEvent.objects.filter(channel=capture_channel).count() == 1


def test_signed_but_unparseable_is_kept_failed_and_answered_200(webhook, channel, client, owner):
    response = webhook.post(channel, b'{"object": "whatsapp_business_account", "entry": "oops"')
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == "failed"
    assert event.error.startswith("Cannot parse:")
    client.force_login(owner.user)
    listing = client.get("/t/acme/settings/webhook-events/")
    assert listing.status_code == 200
    assert "Cannot parse:" in listing.content.decode()


def test_unknown_shape_is_failed_then_reprocessed_after_the_number_is_connected(
    webhook, channel, client, owner, tenant
):
    payload = retarget(load_fixture("inbound_text.json"), phone_number_id="999000999000")
    webhook.post(channel, payload)
    event = WebhookEvent.objects.get()
    assert event.status == "failed"
    assert "unknown phone number id 999000999000" in event.error
    assert not Message.objects.exists()
    make_channel(tenant, phone_number_id="999000999000", display_phone_number="+55 11 90000-0002")
    client.force_login(owner.user)
    response = client.post(f"/t/acme/settings/webhook-events/{event.pk}/reprocess/")
    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.status, event.error) == ("processed", "")
    assert Message.objects.count() == 1
    from tenants.models import AuditLogEntry

    entry = AuditLogEntry.objects.get(tenant=tenant, action="webhook.reprocessed")
    assert (entry.actor, entry.target_id) == (owner.user, str(event.pk))
    assert client.post(f"/t/acme/settings/webhook-events/{event.pk}/reprocess/").status_code == 302
    assert AuditLogEntry.objects.filter(tenant=tenant, action="webhook.reprocessed").count() == 1


def test_the_same_webhook_three_times_stores_one_event_and_one_message(webhook, channel):
    payload = _text_payload(channel)
    for _ in range(3):
        assert webhook.post(channel, payload).status_code == 200
    assert WebhookEvent.objects.count() == 1
    assert Message.objects.count() == 1


def test_unknown_webhook_key_is_404(client, channel):
    response = client.post("/webhooks/whatsapp/not-a-key/", data=b"{}", content_type="application/json")
    assert response.status_code == 404
    assert not WebhookEvent.objects.exists()


def test_a_batch_processes_pending_events_and_isolates_a_bad_one(channel):
    import hashlib

    from whatsapp.processing import webhook_events_process_batch

    good = [
        encode_like_meta(retarget(load_fixture(name), phone_number_id=channel.phone_number_id))
        for name in ("inbound_text.json", "inbound_location.json")
    ]
    bad = b'{"object": "whatsapp_business_account", "entry": [{"changes": "nope"}]}'
    for body in [good[0], bad, good[1]]:
        WebhookEvent.objects.create(
            tenant=channel.tenant, channel=channel, body=body, body_sha256=hashlib.sha256(body).hexdigest()
        )
    assert webhook_events_process_batch(channel_id=channel.pk, limit=50) == 3
    assert sorted(WebhookEvent.objects.values_list("status", "attempts", "summary")) == [
        ("failed", 1, ""),
        ("processed", 1, "1 message"),
        ("processed", 1, "1 message"),
    ]
    assert WebhookEvent.objects.get(status="failed").error.startswith("Cannot parse:")
    assert sorted(Message.objects.values_list("type", flat=True)) == ["location", "text"]
    assert webhook_events_process_batch(channel_id=channel.pk, limit=50) == 0


def test_a_changed_app_secret_verifies_at_once_and_the_old_one_stops_with_the_lookup(webhook, channel, monkeypatch):
    from whatsapp import webhooks

    assert webhook.post(channel, _text_payload(channel)).status_code == 200  # the address is now remembered
    channel.app_secret = "rotated-secret"
    channel.save(update_fields=["app_secret_encrypted"])
    payload = _text_payload(channel)
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "wamid.after-rotation"
    assert webhook.post(channel, payload, secret="rotated-secret").status_code == 200
    later = webhooks.time.monotonic() + webhooks.ENDPOINT_TTL + 1
    monkeypatch.setattr(webhooks.time, "monotonic", lambda: later)
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "wamid.old-secret"
    assert webhook.post(channel, payload, secret=APP_SECRET).status_code == 401
    assert sorted(Message.objects.values_list("external_id", flat=True)) == [
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        "wamid.after-rotation",
    ]


def test_a_deactivated_workspace_stops_receiving_once_the_lookup_expires(webhook, channel, monkeypatch):
    from whatsapp import webhooks

    assert webhook.post(channel, _text_payload(channel)).status_code == 200
    channel.tenant.active = False
    channel.tenant.save(update_fields=["active"])
    later = webhooks.time.monotonic() + webhooks.ENDPOINT_TTL + 1
    monkeypatch.setattr(webhooks.time, "monotonic", lambda: later)
    payload = _text_payload(channel)
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "wamid.after-deactivation"
    response = webhook.post(channel, payload)
    assert response.status_code == 404
    assert WebhookEvent.objects.count() == 1
    assert not Message.objects.filter(external_id="wamid.after-deactivation").exists()


@pytest.mark.django_db(transaction=True)
def test_a_deleted_channel_is_404_even_while_its_address_is_remembered(webhook, channel):
    assert webhook.post(channel, _text_payload(channel)).status_code == 200
    key = channel.webhook_key
    channel.delete()
    payload = _text_payload(channel)
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "wamid.after-delete"
    body = encode_like_meta(payload)
    response = webhook.client.post(
        f"/webhooks/whatsapp/{key}/",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=sign(body, APP_SECRET),
    )
    assert response.status_code == 404
    assert not WebhookEvent.objects.exists()


def test_an_error_whatsapp_reports_in_a_webhook_is_recorded_on_the_processed_event(webhook, channel):
    payload = retarget(load_fixture("inbound_value_level_errors.json"), phone_number_id=channel.phone_number_id)
    assert webhook.post(channel, payload).status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.status, event.summary) == ("processed", "1 message; 1 error")
    assert event.error == (
        "WhatsApp reported error 131000 (Something went wrong): Unsupported webhook payload"
        f" for number {channel.phone_number_id}"
    )
    assert list(Message.objects.values_list("external_id", "type")) == [("wamid.wegrchytvwcggt=", "unsupported")]
