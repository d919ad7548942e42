"""The customer-phone simulator served by the fake: the page, its JSON state, and one real browser round trip."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.whatsapp.fake_fixtures import FakeSetup

pytest_plugins = ["tests.whatsapp.fake_fixtures"]

ELEMENT_IDS = [
    "sim-business",
    "sim-customer-phone",
    "sim-customer-name",
    "sim-text",
    "sim-send",
    "sim-auto-read",
    "sim-mark-read",
    "sim-messages",
    "sim-image",
    "sim-send-image",
    "sim-send-location",
]


def test_simulator_page_loads_with_its_stable_element_ids(fake: FakeSetup):
    page = fake.http.get("/simulator/")
    script = fake.http.get("/simulator/simulator.js")
    style = fake.http.get("/simulator/simulator.css")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for element_id in ELEMENT_IDS:
        assert f'id="{element_id}"' in page.text
    assert script.status_code == style.status_code == 200
    for selector in ("sim-msg", "sim-ticks", "sim-reply-button", "sim-list-row", "data-direction", "data-wamid"):
        assert selector in script.text
    assert "innerHTML" not in script.text and "insertAdjacentHTML" not in script.text
    assert fake.http.get("/simulator", follow_redirects=False).headers["location"] == "/simulator/"


def test_simulator_state_shows_both_directions_with_statuses_and_rendered_content(fake: FakeSetup):
    inbound = fake.open_window()
    reminder = {
        "name": "appointment_reminder",
        "language": {"code": "pt_BR"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "12/05"}]},
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": "0",
                "parameters": [{"type": "payload", "payload": "YES"}],
            },
        ],
    }
    choice = {
        "type": "button",
        "body": {"text": "Escolha"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "A"}}]},
    }
    template = fake.send({"to": fake.customer, "type": "template", "template": reminder}).json()["messages"][0]["id"]
    buttons = fake.send({"to": fake.customer, "type": "interactive", "interactive": choice}).json()["messages"][0]["id"]
    fake.send({"to": fake.customer, "type": "reaction", "reaction": {"message_id": inbound["wamid"], "emoji": "👍"}})
    fake.sink.wait_for_statuses(buttons, ["delivered"])

    state = fake.http.get("/_fake/simulator/state", params={"pnid": fake.pnid, "customer": fake.customer}).json()

    assert state["numbers"] == [
        {"phone_number_id": fake.pnid, "display_phone_number": fake.display_number, "verified_name": "Lucky Shrub"}
    ]
    assert [(m["direction"], m["type"]) for m in state["messages"]] == [
        ("in", "text"),
        ("out", "template"),
        ("out", "interactive"),
    ]
    incoming, rendered, interactive = state["messages"]
    assert incoming["reactions"] == {"business": "👍"}
    assert rendered["wamid"] == template
    assert rendered["template"]["body"] == "Olá Ana, lembrete do seu horário em 12/05. Você confirma?"
    assert rendered["template"]["buttons"][0] == {
        "type": "QUICK_REPLY",
        "text": "Confirmar",
        "index": 0,
        "payload": "YES",
    }
    assert interactive["interactive"]["buttons"] == [{"id": "a", "title": "A"}]
    assert interactive["status"] == "delivered"
    assert state["customer"]["window_open_until"] == int(fake.clock()) + 24 * 3600


def test_simulator_read_marks_business_messages_read(fake: FakeSetup):
    fake.open_window()
    wamid = fake.send_text("Olá")
    fake.sink.wait_for_statuses(wamid, ["delivered"])

    response = fake.http.post("/_fake/read", json={"phone_number_id": fake.pnid, "customer": fake.customer})

    assert response.json() == {"read": [wamid]}
    fake.sink.wait_for_statuses(wamid, ["read"])


@pytest.mark.e2e
def test_customer_chats_with_the_business_in_a_real_browser(fake: FakeSetup):
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("E2E_REQUIRED") == "1":
            pytest.fail("Chromium not installed; E2E_REQUIRED=1 forbids skipping browser tests.")
        pytest.skip("Chromium not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.goto(f"{fake.base_url}/simulator/?customer={fake.customer}&name=Ana")
            expect(page.locator("#sim-business")).to_have_value(fake.pnid)

            page.fill("#sim-text", "<b>oi</b> / café")
            page.click("#sim-send")
            incoming = page.locator('.sim-msg[data-direction="in"]')
            expect(incoming).to_have_count(1)
            expect(incoming.locator(".sim-text")).to_have_text("<b>oi</b> / café")
            fake.sink.wait_for_posts(1)

            question = {
                "type": "button",
                "body": {"text": "Pode ser?"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Sim"}}]},
            }
            sent = fake.send({"to": fake.customer, "type": "interactive", "interactive": question})
            wamid = sent.json()["messages"][0]["id"]
            outgoing = page.locator(f'.sim-msg[data-direction="out"][data-wamid="{wamid}"]')
            expect(outgoing.locator('.sim-ticks[data-status="read"]')).to_have_count(1)  # auto-read is on
            outgoing.locator(".sim-reply-button").click()
            expect(incoming).to_have_count(2)

            replies = [m for m in fake.admin.messages(direction="in") if m["type"] == "interactive"]
            assert replies[0]["payload"]["interactive"] == {
                "type": "button_reply",
                "button_reply": {"id": "yes", "title": "Sim"},
            }
            assert replies[0]["payload"]["context"] == {"from": fake.display_number, "id": wamid}
            assert [s["status"] for s in fake.sink.statuses(wamid)] == ["sent", "delivered", "read"]
            assert errors == []
        finally:
            browser.close()
