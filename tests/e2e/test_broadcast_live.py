"""An admin drafts a broadcast and watches it go out in Chromium: the draft form's summary follows the choices, the
live page's counters and progress follow the recipients as they change (htmx polls the fragment under the product's
CSP), say why it waits and stop polling once the broadcast is done; axe-core finds nothing serious on the pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from campaigns.models import Broadcast, BroadcastRecipient, Segment
from tests.e2e.conftest import BrowserErrors
from tests.e2e.test_accessibility import AXE, axe_violations
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

    page.context.add_init_script(path=str(AXE))
    log_in(page, email="owner@acme.example", password=PASSWORD)
    page.goto(f"/t/acme/campaigns/broadcasts/{broadcast.pk}/")
    live = page.locator("#broadcast-live")
    expect(live.locator("[data-count='pending']")).to_have_text("4")
    expect(live.locator("[data-processed]")).to_have_text("0 of 4 (0%)")
    assert axe_violations(page) == []

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


def test_an_admin_drafts_a_broadcast_with_a_preview_and_its_cost(
    page: Page, browser_errors: BrowserErrors, live_server_url: str
):
    from conversations.models import Contact
    from whatsapp.models import MessageTemplate

    owner = make_user("owner@acme.example", name="Olivia Owner", password=PASSWORD)
    tenant = make_tenant("Acme", slug="acme", owner=owner)
    channel = make_channel(tenant)
    MessageTemplate.objects.create(
        tenant=tenant, waba_id=channel.waba_id, meta_id="1", name="order_shipped", language="en_US",
        category="UTILITY", status=MessageTemplate.Status.APPROVED,
        components=[{"type": "BODY", "text": "Hi {{1}}, order {{2}} has shipped.",
                     "example": {"body_text": [["Maria", "A-1"]]}}],
    )  # fmt: skip
    Segment.objects.create(tenant=tenant, name="Buyers", filters={})
    Contact.objects.create(tenant=tenant, name="Ana <b>Lima</b>", phone_e164="+5511900000001")
    Contact.objects.create(tenant=tenant, name="Bob", phone_e164="+12025550123")

    page.context.add_init_script(path=str(AXE))
    log_in(page, email="owner@acme.example", password=PASSWORD)
    page.goto("/t/acme/campaigns/broadcasts/")
    page.get_by_role("link", name="New broadcast").click()
    form = page.locator("#broadcast-form")
    form.get_by_label("Name", exact=True).fill("Shipping notice")
    form.get_by_label("Template").select_option("order_shipped|en_US")
    # The form is drawn again for the template: its text and a row per value.
    expect(form.locator("[data-template='order_shipped']")).to_contain_text("Hi {{1}}, order {{2}} has shipped.")
    form.locator("[data-parameter='body.2'] select").select_option("value")
    form.locator("[data-parameter='body.2'] input").first.fill("A-77")
    form.locator("select[name=segment]").select_option(label="Buyers")
    summary = page.locator("#broadcast-summary")
    expect(summary.locator("[data-audience-count]")).to_contain_text("2 contacts in the audience")
    expect(summary.locator("[data-preview]")).to_contain_text("Hi Ana <b>Lima</b>, order A-77 has shipped.")
    expect(summary.locator("[data-cost-total]")).to_have_text("$0.01")
    expect(form.get_by_label("Name", exact=True)).to_have_value("Shipping notice")
    assert axe_violations(page) == []

    form.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_text("Draft “Shipping notice” saved.")).to_be_visible()
    assert axe_violations(page) == []
    page.goto("/t/acme/settings/campaigns/prices/")
    assert axe_violations(page) == []
    assert Broadcast.objects.get(tenant=tenant).variables == {
        "body.1": {"attribute": "name"},
        "body.2": {"value": "A-77"},
    }
    browser_errors.assert_none()
