"""Times in the workspace's zone (São Paulo) and day separators in the history, in Chromium.

The browser runs in UTC; every time shown comes from the server in the workspace's zone. Messages
are stored on three days relative to now, so the labels are deterministic: a date, "Yesterday" and
"Today". Only the ASGI server runs (no worker, no Redis needed).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone, translation
from playwright.sync_api import Page, expect

from conversations.models import Conversation, Message
from tenants.templatetags.dates import local_date
from tests.conversations.factories import make_conversation, make_inbox, make_message
from tests.e2e.conftest import BrowserErrors
from tests.e2e.ui import log_in
from tests.factories import make_tenant, make_user, owner_of

pytestmark = pytest.mark.e2e

PASSWORD = "Zone-inbox-password-42"
TIMEOUT_MS = 15_000
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def sao_paulo(days_ago: int, hour: int, minute: int) -> datetime:
    """A wall-clock time in São Paulo, ``days_ago`` days before today there."""
    today = timezone.localtime(timezone=SAO_PAULO).date() - timedelta(days=days_ago)
    return datetime(today.year, today.month, today.day, hour, minute, tzinfo=SAO_PAULO)


def seed(conversation: Conversation) -> None:
    """Two messages three days ago, then a page (50) of messages late yesterday evening in São Paulo
    (already the next day in UTC): the first page shown starts with yesterday's messages."""
    moments = [sao_paulo(3, 10, 0), sao_paulo(3, 10, 5)] + [
        sao_paulo(1, 21, 30) + timedelta(seconds=i) for i in range(50)
    ]
    for i, moment in enumerate(moments):
        message = make_message(conversation, f"mensagem {i}")
        Message.objects.filter(pk=message.pk).update(created_at=moment, occurred_at=moment)
    Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=moments[-1])


def test_the_inbox_shows_sao_paulo_times_and_day_separators(
    server_env: dict[str, str], page: Page, browser_errors: BrowserErrors
) -> None:
    owner = make_user("owner@zones.example", name="Olivia Owner", password=PASSWORD)
    tenant = make_tenant("Acme", slug="acme", owner=owner)
    assert tenant.timezone == "America/Sao_Paulo"
    inbox = make_inbox(tenant, name="Suporte", members=[owner_of(tenant)])
    conversation = make_conversation(inbox, name="Maria Lima")
    seed(conversation)
    with translation.override("en"), timezone.override(SAO_PAULO):
        three_days_ago = local_date(sao_paulo(3, 10, 0))
        yesterday_full = f"{local_date(sao_paulo(1, 21, 30))}, 21:30"

    log_in(page, email=owner.email, password=PASSWORD)
    page.goto(f"/t/acme/inbox/c/{conversation.display_id}/")
    pane = page.locator(f".pane[data-conversation='{conversation.display_id}']")
    expect(pane).to_be_visible(timeout=TIMEOUT_MS)
    separators = pane.locator("[data-messages] > .msg-day")
    bubbles = pane.locator("[data-messages] > article.msg")

    # The list row and the bubbles: São Paulo's 21:30, not UTC's 00:30.
    expect(page.locator(f"li.row#c-{conversation.pk} .row-time")).to_have_text("Yesterday")
    expect(page.locator(f"li.row#c-{conversation.pk} .row-time")).to_have_attribute("title", yesterday_full)
    expect(bubbles).to_have_count(50)
    last_time = bubbles.last.locator(".msg-footer-meta time")
    expect(last_time).to_have_text("21:30")
    expect(last_time).to_have_attribute("title", re.compile(r"^" + re.escape(yesterday_full[:-5])))
    expect(last_time).to_have_attribute("datetime", re.compile(r"T21:30:\d\d-03:00$"))
    # The first page is yesterday's: one separator above it (the day before it is another day).
    expect(separators).to_have_text(["Yesterday"])

    # Scrolling up loads the two older messages, with their date above them.
    pane.locator("[data-history]").evaluate("el => { el.scrollTop = 0; }")
    expect(bubbles).to_have_count(52, timeout=TIMEOUT_MS)
    expect(separators).to_have_text([three_days_ago, "Yesterday"])
    expect(bubbles.first.locator(".msg-footer-meta time")).to_have_text("10:00")

    # A note written now is appended live under a new separator for today.
    pane.locator("[data-mode='note']").click()
    pane.locator("textarea[data-text]").fill("Ligar para a cliente amanhã")
    pane.locator("[data-send]").click()
    expect(bubbles).to_have_count(53, timeout=TIMEOUT_MS)
    expect(separators).to_have_text([three_days_ago, "Yesterday", "Today"])
    note = Message.objects.get(conversation=conversation, private=True)
    expect(bubbles.last.locator(".msg-footer-meta time")).to_have_text(
        timezone.localtime(note.occurred_at, timezone=SAO_PAULO).strftime("%H:%M")
    )
    # Each separator stands right before the first message of its day, and nowhere else.
    sequence = pane.locator("[data-messages] > *").evaluate_all(
        "els => els.map(e => [e.classList.contains('msg-day') ? 'separator' : 'message', e.dataset.day])"
    )
    previous_day = None
    for index, (kind, day) in enumerate(sequence):
        if kind == "message":
            before = sequence[index - 1] if index else None
            assert (before == ["separator", day]) == (day != previous_day), sequence[max(0, index - 2) : index + 1]
            previous_day = day
    browser_errors.assert_none()
