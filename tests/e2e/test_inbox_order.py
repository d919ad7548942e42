"""The open conversation keeps the customer's order live: a webhook that comes late, stamped before
messages already shown, slots into its place instead of landing at the bottom (real server, worker,
fake Cloud API and Chromium, as in test_inbox_live)."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e import test_inbox_live as live
from tests.e2e.conftest import BrowserErrors
from tests.e2e.test_inbox_live import PNID_A, SECRET_A, TIMEOUT_MS, WABA_A, Stack, member, open_inbox, row_of, stored
from whatsapp.signature import encode_like_meta, sign

pytestmark = pytest.mark.e2e

# The live inbox's stack: its fake, server and worker, and pages opened on that server.
live_env, stack, live_server_url = live.live_env, live.stack, live.live_server_url
CUSTOMER, NAME = "5511987650077", "Rita Prado"


def webhook_from_meta(stack: Stack, *, wamid: str, text: str, timestamp: int) -> None:
    """One customer text as Meta's webhook carries it, signed, with the timestamp the customer's phone got."""
    message = {"from": CUSTOMER, "id": wamid, "timestamp": str(timestamp), "type": "text", "text": {"body": text}}
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_A,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "5511900003001", "phone_number_id": PNID_A},
                            "contacts": [{"profile": {"name": NAME}, "wa_id": CUSTOMER}],
                            "messages": [message],
                        },
                    }
                ],
            }
        ],
    }
    body = encode_like_meta(payload)
    response = httpx.post(
        f"{stack.web_url}/webhooks/whatsapp/{stack.channel_a.webhook_key}/",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, SECRET_A)},
        timeout=10,
    )
    assert response.status_code == 200


def test_a_late_message_slots_into_its_place_in_the_open_conversation_live(
    stack: Stack, page: Page, browser_errors: BrowserErrors
) -> None:
    agent = member(stack, "ana@acme.example", "Ana Agent")
    now = int(time.time())
    webhook_from_meta(stack, wamid="wamid.order-1", text="Um", timestamp=now - 300)
    webhook_from_meta(stack, wamid="wamid.order-3", text="Três", timestamp=now - 100)
    conversation = stored("Três").conversation
    open_inbox(page, agent, f"c/{conversation.display_id}/")
    bubbles = page.locator("[data-messages] > article.msg")
    expect(bubbles).to_have_count(2, timeout=TIMEOUT_MS)
    page.evaluate("window.__sameDocument = true")

    # Meta delivers a message the customer sent between the two only now.
    webhook_from_meta(stack, wamid="wamid.order-2", text="Dois", timestamp=now - 200)
    late = stored("Dois")
    expect(page.locator(f"article.msg.msg-in#m-{late.pk}")).to_contain_text("Dois", timeout=TIMEOUT_MS)
    expect(bubbles.locator(".msg-body")).to_have_text(["Um", "Dois", "Três"])

    # A message written now goes to the bottom, and becomes the row's preview.
    stack.fake.inbound(phone_number_id=PNID_A, **{"from": CUSTOMER}, name=NAME, type="text", text="Quatro")
    latest = stored("Quatro")
    expect(page.locator(f"article.msg.msg-in#m-{latest.pk}")).to_contain_text("Quatro", timeout=TIMEOUT_MS)
    expect(bubbles.locator(".msg-body")).to_have_text(["Um", "Dois", "Três", "Quatro"])
    expect(row_of(page, conversation).locator(".row-preview")).to_contain_text("Quatro", timeout=TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    browser_errors.assert_none()
