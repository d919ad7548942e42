"""In Chromium: an import's page follows the job's progress (htmx polls its card under the product's CSP) and shows
the report once done; the segment builder's count follows the filters as they are chosen."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from campaigns.models import ContactImport, ContactImportError, Segment
from conversations.models import Contact, ContactLabel, Label
from tests.e2e.conftest import BrowserErrors
from tests.e2e.ui import log_in
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.e2e

PASSWORD = "Contact-import-password-42"


def test_the_import_page_follows_the_job_and_shows_the_report(
    page: Page, browser_errors: BrowserErrors, live_server_url: str
):
    owner = make_user("owner@acme.example", name="Olivia Owner", password=PASSWORD)
    tenant = make_tenant("Acme", slug="acme", owner=owner)
    job = ContactImport.objects.create(
        tenant=tenant, filename="clientes.csv", columns=["phone"], mapping={"phone": "phone"},
        status="running", total_rows=3000, created_by=owner,
    )  # fmt: skip
    log_in(page, email="owner@acme.example", password=PASSWORD)
    page.goto(f"/t/acme/campaigns/contacts/import/{job.pk}/")
    card = page.locator("#import-progress")
    expect(card.locator("[data-import-progress]")).to_have_attribute("data-import-progress", "0/3000")

    ContactImport.objects.filter(pk=job.pk).update(processed_rows=1000, created_count=990, error_count=10)
    expect(card.locator("[data-import-progress]")).to_have_attribute("data-import-progress", "1000/3000")
    expect(card.locator("[data-import-counts]")).to_have_text("990 new, 0 updated, 10 errors.")

    ContactImportError.objects.create(
        tenant=tenant, contact_import=job, row=7, column="phone", message="12 is not a valid phone number.",
        values={"cells": ["12"], "msgid": "%(value)s is not a valid phone number.", "params": {"value": "12"}},
    )  # fmt: skip
    ContactImport.objects.filter(pk=job.pk).update(status="done", processed_rows=3000, created_count=2989)
    # Done: the whole page once more, with the rows refused, and no more polling.
    expect(page.locator("[data-import-error='7']")).to_contain_text("12 is not a valid phone number.")
    expect(page.locator("#import-progress")).to_have_attribute("data-import-status", "done")
    expect(page.locator("#import-progress")).not_to_have_attribute("hx-trigger", "every 1s")
    browser_errors.assert_none()


def test_the_segment_builder_counts_as_filters_change(page: Page, browser_errors: BrowserErrors, live_server_url: str):
    owner = make_user("owner@acme.example", name="Olivia Owner", password=PASSWORD)
    tenant = make_tenant("Acme", slug="acme", owner=owner)
    vip = Label.objects.create(tenant=tenant, name="vip")
    for n in range(3):
        contact = Contact.objects.create(tenant=tenant, name=f"Cliente {n}", phone_e164=f"+551198765432{n}")
        if n < 2:
            ContactLabel.objects.create(tenant=tenant, contact=contact, label=vip)
    log_in(page, email="owner@acme.example", password=PASSWORD)
    page.goto("/t/acme/campaigns/segments/new/")
    expect(page.locator("#segment-count [data-count]")).to_have_attribute("data-count", "3")
    counts = []
    page.on("request", lambda request: counts.append(request.url) if "/segments/count/" in request.url else None)
    page.select_option("#labels_any", [str(vip.pk)])
    expect(page.locator("#segment-count [data-count]")).to_have_attribute("data-count", "2")
    page.select_option("#labels_none", [str(vip.pk)])
    expect(page.locator("#segment-count [data-count]")).to_have_attribute("data-count", "0")
    page.select_option("#labels_none", [])
    assert counts and not any("csrfmiddlewaretoken" in url for url in counts)
    page.fill("#name", "VIPs")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(f"[data-segment='{Segment.objects.get(tenant=tenant).pk}'] [data-count]")).to_have_text("2")
    browser_errors.assert_none()
