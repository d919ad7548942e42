"""An admin watches a broadcast go out in Chromium: the live page's counters and progress follow the recipients
as they change (htmx polls the fragment under the product's CSP), say why it waits, and stop polling once the
broadcast is done."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from campaigns.models import Broadcast, BroadcastRecipient, Segment
from tests.e2e.conftest import BrowserErrors
from tests.e2e.ui import log_in
from tests.factories import make_tenant, make_user
from tests.whatsapp.conftest import make_channel

pytestmark = pytest.mark.e2e

PASSWORD = "Broadcast-live-password-42"


def test_the_live_page_follows_a_sending_broadcast(page: Page, browser_errors: BrowserErrors, live_server_url: str):
    owner = make_user("owner@acme.example", name="Olivia Owner", password=PASSWORD)
    tenant = make_tenant("Acme", slug="acme", owner=owner)
    channel = make_channel(tenant)
    segment = Segment.objects.create(tenant=tenant, name="Everyone", filters={})
    broadcast = Broadcast.objects.create(
        tenant=tenant, name="Black Friday", inbox=channel.inbox, template_name="promo", template_language="pt_BR",
        template_category="MARKETING", segment=segment, status="sending", started_at=timezone.now(),
    )  # fmt: skip
    recipients = [
        BroadcastRecipient.objects.create(tenant=tenant, broadcast=broadcast, phone=f"+551190000000{n}", country="BR")
        for n in range(4)
    ]

    log_in(page, email="owner@acme.example", password=PASSWORD)
    page.goto(f"/t/acme/campaigns/broadcasts/{broadcast.pk}/")
    live = page.locator("#broadcast-live")
    expect(live.locator("[data-count='pending']")).to_have_text("4")
    expect(live.locator("[data-processed]")).to_have_text("0 of 4 (0%)")

    BroadcastRecipient.objects.filter(pk__in=[r.pk for r in recipients[:2]]).update(status="delivered")
    BroadcastRecipient.objects.filter(pk=recipients[2].pk).update(status="failed", error_code=131026,
                                                                    error_title="Message undeliverable")  # fmt: skip
    expect(live.locator("[data-count='delivered']")).to_contain_text("2")
    expect(live.locator("[data-processed]")).to_have_text("3 of 4 (75%)")
    expect(live.locator("[data-failed]")).to_contain_text("131026 Message undeliverable")

    Broadcast.objects.filter(pk=broadcast.pk).update(
        status="waiting", wait_reason="quiet_hours", wait_until=timezone.now() + timedelta(hours=1)
    )
    expect(live.locator("[data-wait]")).to_contain_text("Waiting: quiet hours; continues at")

    BroadcastRecipient.objects.filter(pk=recipients[3].pk).update(status="read")
    Broadcast.objects.filter(pk=broadcast.pk).update(status="completed", wait_reason="", wait_until=None)
    expect(live).to_have_attribute("data-status", "completed")
    expect(live.locator("[data-processed]")).to_have_text("4 of 4 (100%)")
    expect(live).not_to_have_attribute("hx-trigger", "every 2s")
    browser_errors.assert_none()
