"""Scheduled messages in Chromium: an agent schedules a reminder from the composer at their local time, sees it in
the contact panel, cancels one, and the other reaches the customer (the fake Cloud API) when due (real
server, worker and fake, as in test_inbox_live). That it is sent exactly once, whatever runs the job, is shown in
tests/campaigns/test_scheduling.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery import Celery
from django.utils import timezone
from playwright.sync_api import Page, expect

from campaigns.models import ScheduledMessage
from tests.e2e import test_inbox_live as live
from tests.e2e.conftest import BrowserErrors
from tests.e2e.test_inbox_live import PNID_A, TEMPLATE_COMPONENTS, TIMEOUT_MS, WABA_A, Stack, member, open_inbox, stored
from whatsapp.fake import wait_for
from whatsapp.models import MessageTemplate

pytestmark = pytest.mark.e2e

live_env, stack, live_server_url = live.live_env, live.stack, live.live_server_url
CUSTOMER = "5511987650091"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def _schedule_from_the_composer(page: Page, display_id: int, local: datetime, order: str) -> None:
    page.goto(f"/t/acme/inbox/c/{display_id}/")
    page.locator("[data-composer] [data-schedule-action]").click()
    expect(page.locator("[data-schedule-form]")).to_be_visible(timeout=TIMEOUT_MS)
    page.locator("input[name=send_at]").fill(local.strftime("%Y-%m-%dT%H:%M"))
    page.locator("input[name=kind][value=template]").check()
    # Choosing the template sends the page back with a field for each of its values (what was typed stays).
    page.locator("select[name=template]").select_option(label="pedido_pronto (pt_BR)")
    expect(page.locator("input[name='body.1']")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator("input[name=send_at]")).to_have_value(local.strftime("%Y-%m-%dT%H:%M"))
    page.locator("input[name='body.1']").fill("Rita Prado")
    page.locator("input[name='body.2']").fill(order)
    page.locator("[data-schedule-form] [data-schedule-submit]").click()
    expect(page).to_have_url(f"{page.url.split('/t/')[0]}/t/acme/inbox/c/{display_id}/", timeout=TIMEOUT_MS)


def test_an_agent_schedules_a_reminder_cancels_another_and_one_is_sent(
    stack: Stack, live_env: dict[str, str], page: Page, browser_errors: BrowserErrors
) -> None:
    agent = member(stack, "ana@acme.example", "Ana Agent")
    agent.time_zone = "America/Sao_Paulo"
    agent.save(update_fields=["time_zone"])
    stack.fake.add_template(
        waba_id=WABA_A,
        name="pedido_pronto",
        language="pt_BR",
        category="UTILITY",
        components=TEMPLATE_COMPONENTS,
        status="APPROVED",
    )
    MessageTemplate.objects.create(
        tenant=stack.tenant,
        waba_id=WABA_A,
        name="pedido_pronto",
        language="pt_BR",
        category="UTILITY",
        status=MessageTemplate.Status.APPROVED,
        components=TEMPLATE_COMPONENTS,
        meta_id="1",
    )
    stack.fake.inbound(phone_number_id=PNID_A, **{"from": CUSTOMER}, name="Rita Prado", type="text", text="Oi!")
    conversation = stored("Oi!").conversation
    open_inbox(page, agent, f"c/{conversation.display_id}/")

    tomorrow = (timezone.now().astimezone(SAO_PAULO) + timedelta(days=1)).replace(second=0, microsecond=0)
    at_ten, at_eleven = tomorrow.replace(hour=10, minute=0), tomorrow.replace(hour=11, minute=30)
    _schedule_from_the_composer(page, conversation.display_id, at_ten, "A-100")
    _schedule_from_the_composer(page, conversation.display_id, at_eleven, "A-200")

    section = page.locator("[data-sidebar] [data-scheduled-messages]")
    expect(section.locator("li[data-scheduled]")).to_have_count(2, timeout=TIMEOUT_MS)
    expect(section.locator("li[data-scheduled]").nth(0)).to_contain_text("10:00")
    expect(section.locator("li[data-scheduled]").nth(0)).to_contain_text("pedido_pronto (pt_BR): Rita Prado, A-100")
    expect(section.locator("li[data-scheduled]").nth(1)).to_contain_text("11:30")
    expect(section).to_contain_text("Scheduled by Ana Agent")
    first, second = ScheduledMessage.objects.order_by("send_at")
    assert first.send_at == at_ten.astimezone(UTC) and second.send_at == at_eleven.astimezone(UTC)

    section.locator(f"li[data-scheduled='{second.pk}'] button[type=submit]").click()
    expect(page.locator("[data-sidebar] [data-scheduled-messages] li[data-scheduled]")).to_have_count(
        1, timeout=TIMEOUT_MS
    )

    # The first one's time comes: the beat job, run by the worker, sends it; the canceled one never goes.
    ScheduledMessage.objects.filter(pk=first.pk).update(send_at=timezone.now() - timedelta(minutes=1))
    broker = Celery(broker=live_env["CELERY_BROKER_URL"], set_as_current=False)
    broker.send_task("campaigns.tasks.scheduled_messages_send_due")

    def sent() -> list[dict]:
        return [m for m in stack.fake.messages(direction="out", to=CUSTOMER) if m["type"] == "template"]

    wait_for(lambda: bool(sent()), timeout=TIMEOUT_MS / 1000, message="the reminder reached the fake")
    (at_fake,) = sent()
    assert at_fake["payload"]["template"]["components"][0]["parameters"][1]["text"] == "A-100"
    wait_for(
        lambda: ScheduledMessage.objects.get(pk=first.pk).status == "sent",
        timeout=TIMEOUT_MS / 1000,
        message="marked sent",
    )
    assert ScheduledMessage.objects.get(pk=second.pk).status == "canceled"
    browser_errors.assert_none()
