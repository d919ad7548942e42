"""The 24-hour customer-service window on the fake: free text outside it fails asynchronously with 131047."""

from __future__ import annotations

from typing import TYPE_CHECKING

from whatsapp.fake import stays_false

if TYPE_CHECKING:
    from tests.whatsapp.fake_fixtures import FakeSetup

pytest_plugins = ["tests.whatsapp.fake_fixtures"]

DAY = 24 * 3600


def test_free_text_to_a_customer_who_never_wrote_is_accepted_then_fails_with_131047(fake: FakeSetup):
    wamid = fake.send_text("Olá")

    statuses = fake.sink.wait_for_statuses(wamid, ["failed"])

    expected = fake.fixtures.json("status_failed_131047.json")["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert [s["status"] for s in statuses] == ["failed"]
    assert statuses[0]["errors"] == expected["errors"]
    assert list(statuses[0]) == list(expected)
    assert fake.admin.message(wamid)["status"] == "failed"
    assert stays_false(lambda: len(fake.sink.statuses(wamid)) > 1, 0.2)


def test_free_text_at_23h59m_after_the_last_inbound_is_sent_and_delivered(fake: FakeSetup):
    fake.open_window()
    fake.clock.advance(DAY - 60)

    wamid = fake.send_text("Ainda dá tempo")

    statuses = fake.sink.wait_for_statuses(wamid, ["sent", "delivered"])
    assert [s["status"] for s in statuses] == ["sent", "delivered"]
    assert all("errors" not in s for s in statuses)


def test_free_text_24h_and_1s_after_the_last_inbound_fails_with_131047(fake: FakeSetup):
    fake.open_window()
    fake.clock.advance(DAY + 1)

    response = fake.send({"to": fake.customer, "type": "text", "text": {"body": "Tarde demais"}})

    assert response.status_code == 200
    wamid = response.json()["messages"][0]["id"]
    failed = fake.sink.wait_for_statuses(wamid, ["failed"])[0]
    assert failed["errors"][0]["code"] == 131047
    assert failed["timestamp"] == str(int(fake.clock()))


def test_a_new_inbound_message_reopens_the_window(fake: FakeSetup):
    fake.open_window()
    fake.clock.advance(DAY + 1)
    fake.open_window(text="Voltei")

    wamid = fake.send_text("Bem-vindo de volta")

    assert [s["status"] for s in fake.sink.wait_for_statuses(wamid, ["sent", "delivered"])] == ["sent", "delivered"]


def test_templates_are_delivered_outside_the_window(fake: FakeSetup):
    body = {
        "to": fake.customer,
        "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}},
    }

    wamid = fake.send(body).json()["messages"][0]["id"]

    statuses = fake.sink.wait_for_statuses(wamid, ["sent", "delivered"])
    assert statuses[0]["pricing"]["category"] == "marketing"


def test_service_messages_inside_the_window_are_priced_as_free_customer_service(fake: FakeSetup):
    fake.open_window()

    wamid = fake.send_text("Como posso ajudar?")

    sent = fake.sink.wait_for_statuses(wamid, ["sent"])[0]
    assert sent["pricing"] == {
        "billable": False,
        "pricing_model": "PMP",
        "type": "free_customer_service",
        "category": "service",
    }
    assert sent["conversation"]["origin"] == {"type": "service"}
    assert sent["conversation"]["expiration_timestamp"] == str(int(fake.clock()) + DAY)
