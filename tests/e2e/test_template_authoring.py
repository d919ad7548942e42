"""An admin authors a marketing template in Chromium: an image header and a website button, the live preview
following what they type (static/js/template_editor.js under the product's CSP), then submits it; the fake Cloud
API (its own process) takes the sample through the Resumable Upload API, approves the template from its admin
route, and its signed webhook turns the list's status to Approved."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import BrowserErrors
from tests.e2e.harness import VENV_BIN, ServerProcess, free_port
from tests.e2e.ui import log_in
from tests.factories import make_tenant, make_user
from tests.whatsapp.conftest import make_channel
from whatsapp.fake import FakeAdminClient, wait_for
from whatsapp.models import MessageTemplate

pytestmark = pytest.mark.e2e

PASSWORD = "Template-author-password-42"
PNID = "106540352242922"
WABA = "102290129340398"
TOKEN = "e2e-token"
SECRET = "e2e-app-secret"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89" + (
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def fake_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def server_env(server_env: dict[str, str], fake_url: str) -> dict[str, str]:
    """The web server reaches the fake Cloud API as it would reach Meta, as the deployment's Meta app."""
    return server_env | {"WHATSAPP_API_BASE_URL": fake_url, "WHATSAPP_APP_ID": "1000000000000001"}


def test_an_admin_authors_an_image_template_and_sees_it_approved(
    page: Page,
    browser_errors: BrowserErrors,
    live_server_url: str,
    fake_url: str,
    server_env: dict[str, str],
    start_process: Callable[..., ServerProcess],
    tmp_path: Path,
) -> None:
    start_process(
        name="fake",
        command=[
            VENV_BIN / "python",
            "-m",
            "whatsapp.fake",
            "--host",
            "127.0.0.1",
            "--port",
            fake_url.rsplit(":", 1)[1],
        ],
        env=server_env,
        ready=f"{fake_url}/_fake/health",
    )
    owner = make_user("owner@acme.example", name="Olivia Owner", password=PASSWORD)
    tenant = make_tenant("Acme", slug="acme", owner=owner)
    channel = make_channel(tenant, phone_number_id=PNID, waba_id=WABA, access_token=TOKEN, app_secret=SECRET)
    admin = FakeAdminClient(fake_url)
    admin.settings(review_delay_s=None)
    admin.register_number(
        phone_number_id=PNID,
        display_phone_number="5511900000001",
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=SECRET,
        webhook_url=f"{live_server_url}/webhooks/whatsapp/{channel.webhook_key}/",
    )

    log_in(page, email="owner@acme.example", password=PASSWORD)
    page.goto(f"/t/acme/settings/whatsapp/{channel.pk}/")
    page.get_by_role("link", name="New template").click()
    form = page.locator("[data-template-form]")
    preview = page.locator("[data-preview]")
    form.get_by_label("Name", exact=True).fill("summer_sale")
    form.get_by_label("Category").select_option("MARKETING")
    form.get_by_label("Header", exact=True).select_option("IMAGE")
    form.get_by_label("Sample file").set_input_files({"name": "praia.png", "mimeType": "image/png", "buffer": PNG})
    expect(preview.locator("[data-preview-header] img")).to_be_visible()
    form.get_by_label("Message text").fill("Olá {{1}}, a liquidação vai até {{2}}!")
    expect(preview.locator("[data-preview-body]")).to_have_text("Olá {{1}}, a liquidação vai até {{2}}!")
    form.get_by_label("Examples of the variables").fill("Maria\ndomingo")
    expect(preview.locator("[data-preview-body]")).to_have_text("Olá Maria, a liquidação vai até domingo!")
    form.get_by_label("Footer").fill("Loja Centro")
    expect(preview.locator("[data-preview-footer]")).to_have_text("Loja Centro")

    form.get_by_role("button", name="Add a button").click()
    row = form.locator("[data-button-row]").first
    row.locator("select[name$='-type']").select_option("URL")
    row.get_by_label("Button text").fill("Ver ofertas")
    row.get_by_label("Website address").fill("https://loja.example.com/ofertas/{{1}}")
    row.get_by_label("Example address").fill("https://loja.example.com/ofertas/verao")
    expect(page.locator("[data-preview-buttons] li")).to_have_text(["Ver ofertas"])
    expect(form.get_by_label("Header text")).to_be_hidden()
    expect(form.get_by_label("Code button")).to_be_hidden()

    form.get_by_role("button", name="Send for review").click()
    expect(page.get_by_text("Template summer_sale (pt_BR) sent to Meta for review.")).to_be_visible()
    listed = page.locator("tr[data-template='summer_sale']")
    expect(listed).to_contain_text("In review")

    template = MessageTemplate.objects.get(tenant=tenant, name="summer_sale")
    at_meta = admin.templates(WABA)
    assert [(t["id"], t["status"], t["components"][0]["format"]) for t in at_meta] == [
        (template.meta_id, "PENDING", "IMAGE")
    ]
    admin.approve_template(template.meta_id)
    wait_for(lambda: admin.webhooks(field="message_template_status_update", state="delivered"), 10)

    page.reload()
    expect(page.locator("tr[data-template='summer_sale']")).to_contain_text("Approved")
    browser_errors.assert_none()
    admin.close()
