"""Webhooks from the fake: signed over the exact bytes, escaped like Meta, ordered, retried, duplicated, reordered."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING

from whatsapp.fake import encode_like_meta, stays_false, wait_for

if TYPE_CHECKING:
    from tests.whatsapp.fake_fixtures import FakeSetup

pytest_plugins = ["tests.whatsapp.fake_fixtures"]


def status_names(fake: FakeSetup, wamid: str) -> list[str]:
    return [s["status"] for s in fake.sink.statuses(wamid)]


def test_status_webhooks_are_signed_over_the_exact_received_bytes(fake: FakeSetup):
    fake.open_window()
    wamid = fake.send_text("Olá")

    fake.sink.wait_for_statuses(wamid, ["sent", "delivered"])

    for post in fake.sink.posts():
        digest = hmac.new(fake.app_secret.encode(), post.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(post.headers["x-hub-signature-256"], f"sha256={digest}")
        sha1 = hmac.new(fake.app_secret.encode(), post.body, hashlib.sha1).hexdigest()
        assert post.headers["x-hub-signature"] == f"sha1={sha1}"
        assert post.headers["content-type"] == "application/json"
        assert post.headers["user-agent"] == "facebookexternalua"
        assert post.body == encode_like_meta(json.loads(post.body))
        assert post.path == "/webhooks/whatsapp/channel-key/"


def test_status_webhooks_arrive_sent_then_delivered_in_metas_shape(fake: FakeSetup):
    fake.open_window()
    wamid = fake.send_text("Olá")

    fake.sink.wait_for_statuses(wamid, ["sent", "delivered"])

    sent, delivered = (post.json() for post in fake.sink.posts())
    assert fake.fixtures.shape(sent) == fake.fixtures.shape(fake.fixtures.json("status_sent.json"))
    value = sent["entry"][0]["changes"][0]["value"]
    assert value["metadata"] == {"display_phone_number": fake.display_number, "phone_number_id": fake.pnid}
    assert sent["entry"][0]["id"] == fake.waba_id
    status = value["statuses"][0]
    assert (status["id"], status["status"], status["recipient_id"]) == (wamid, "sent", fake.customer)
    assert status["timestamp"] == str(int(fake.clock()))
    delivered_status = delivered["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert delivered_status["status"] == "delivered"
    assert "expiration_timestamp" not in delivered_status["conversation"]
    assert delivered_status["conversation"]["id"] == status["conversation"]["id"]


def test_from_v24_statuses_carry_pricing_but_no_conversation(fake: FakeSetup):
    fake.open_window()
    response = fake.http.post(
        f"/v24.0/{fake.pnid}/messages",
        json={"messaging_product": "whatsapp", "to": fake.customer, "type": "text", "text": {"body": "Oi"}},
        headers={"Authorization": f"Bearer {fake.token}"},
    )
    wamid = response.json()["messages"][0]["id"]

    delivered = fake.sink.wait_for_statuses(wamid, ["sent", "delivered"])[1]

    expected = fake.fixtures.json("status_delivered.json")["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert list(delivered) == list(expected)


def test_biz_opaque_callback_data_is_echoed_in_every_status(fake: FakeSetup):
    fake.open_window()
    fake.reconfigure(auto_read=True)

    wamid = fake.send_text("Olá", biz_opaque_callback_data="msg:42/tenant:7")

    statuses = fake.sink.wait_for_statuses(wamid, ["sent", "delivered", "read"])
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    assert {s["biz_opaque_callback_data"] for s in statuses} == {"msg:42/tenant:7"}
    assert all(b"msg:42\\/tenant:7" in post.body for post in fake.sink.posts())


def test_biz_opaque_callback_data_is_echoed_in_failed_statuses(fake: FakeSetup):
    wamid = fake.send_text("fora da janela", biz_opaque_callback_data="cb-1")

    failed = fake.sink.wait_for_statuses(wamid, ["failed"])[0]

    assert failed["biz_opaque_callback_data"] == "cb-1"


def test_read_status_follows_when_the_customer_reads(fake: FakeSetup):
    fake.open_window()
    wamid = fake.send_text("Olá")
    fake.sink.wait_for_statuses(wamid, ["delivered"])

    fake.admin.customer_read(fake.pnid, fake.customer)

    statuses = fake.sink.wait_for_statuses(wamid, ["read"])
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    assert "pricing" not in statuses[2] and "conversation" not in statuses[2]
    assert fake.admin.message(wamid)["status"] == "read"


def test_reading_before_delivery_waits_for_delivered(fake: FakeSetup):
    fake.open_window()
    # Delays long enough that the read below surely comes before delivery, even on a loaded machine.
    fake.admin.settings(sent_delay_s=0.5, delivered_delay_s=1.0)
    wamid = fake.send_text("Olá")

    fake.admin.customer_read(fake.pnid, fake.customer)

    assert "read" not in status_names(fake, wamid)
    statuses = fake.sink.wait_for_statuses(wamid, ["read"])
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]


def test_inbound_webhook_escapes_non_ascii_and_slashes_like_meta(fake: FakeSetup):
    caption = "Café com açúcar w/ leite 👍"

    fake.admin.inbound(
        phone_number_id=fake.pnid,
        from_=fake.customer,
        name="José",
        type="image",
        image={"data": "aGVsbG8=", "mime_type": "image/jpeg", "caption": caption},
    )

    post = fake.sink.wait_for_posts(1)[0]
    assert b'"caption":"Caf\\u00e9 com a\\u00e7\\u00facar w\\/ leite \\ud83d\\udc4d"' in post.body
    assert b'"mime_type":"image\\/jpeg"' in post.body
    assert b'"name":"Jos\\u00e9"' in post.body
    assert all(byte < 128 for byte in post.body)
    assert b'": ' not in post.body and b', "' not in post.body  # compact separators
    assert post.json()["entry"][0]["changes"][0]["value"]["messages"][0]["image"]["caption"] == caption
    digest = hmac.new(fake.app_secret.encode(), post.body, hashlib.sha256).hexdigest()
    assert post.headers["x-hub-signature-256"] == f"sha256={digest}"


def test_failed_deliveries_are_retried_with_the_same_bytes_and_order_is_kept(fake: FakeSetup):
    fake.open_window()
    fake.sink.fail_next(2, status=503)

    wamid = fake.send_text("Olá")

    wait_for(lambda: "delivered" in status_names(fake, wamid))
    posts = fake.sink.posts()
    assert [p.json()["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] for p in posts] == [
        "sent",
        "sent",
        "sent",
        "delivered",
    ]
    assert posts[0].body == posts[1].body == posts[2].body
    sent = [w for w in fake.admin.webhooks(phone_number_id=fake.pnid) if '"status":"sent"' in w["body"]]
    assert [a.get("status_code") for a in sent[0]["attempts"]] == [503, 503, 200]
    assert sent[0]["state"] == "delivered"


def test_a_webhook_that_never_succeeds_is_dropped_after_the_last_retry(fake: FakeSetup):
    fake.open_window()
    fake.sink.fail_next(10, status=500)

    wamid = fake.send_text("Olá")

    failed = wait_for(lambda: fake.admin.webhooks(state="failed"))
    assert len(failed[0]["attempts"]) == 5  # 1 + len(FAST webhook_retry_delays_s)
    wait_for(lambda: "delivered" in status_names(fake, wamid))


def test_duplicate_fault_sends_every_webhook_twice_with_identical_bytes(fake: FakeSetup):
    fake.open_window()
    fake.admin.set_faults(duplicate_webhooks=True)

    wamid = fake.send_text("Olá")

    wait_for(lambda: len(fake.sink.posts()) == 4)
    posts = fake.sink.posts()
    assert status_names(fake, wamid) == ["sent", "sent", "delivered", "delivered"]
    assert posts[0].body == posts[1].body and posts[2].body == posts[3].body
    assert stays_false(lambda: len(fake.sink.posts()) > 4, 0.2)


def test_reorder_fault_delivers_delivered_before_sent(fake: FakeSetup):
    fake.open_window()
    fake.admin.set_faults(reorder_statuses=True)

    wamid = fake.send_text("Olá")

    fake.sink.wait_for_statuses(wamid, ["sent", "delivered"])
    assert status_names(fake, wamid) == ["delivered", "sent"]
    assert fake.admin.message(wamid)["status"] == "delivered"


def test_webhook_verification_handshake_echoes_the_challenge(fake: FakeSetup):
    good = fake.http.post("/_fake/verify_webhook", json={"phone_number_id": fake.pnid, "verify_token": "meatyhamhock"})
    bad = fake.http.post("/_fake/verify_webhook", json={"phone_number_id": fake.pnid, "verify_token": "nope"})

    assert good.json()["verified"] is True
    assert (bad.json()["verified"], bad.json()["status_code"]) == (False, 403)
    handshake = next(r for r in fake.sink.received if r.method == "GET")
    assert handshake.query["hub.mode"] == "subscribe"
    assert handshake.query["hub.challenge"] == good.json()["body"]
