"""The broadcast pages: the list, the draft's form (its choices limited to the workspace's), the live page and its
polled fragment, the actions, the CSV download and the message prices; who may open them, and another
workspace's broadcast as missing as one that never was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone, translation

from campaigns.broadcast_pages import wait_text
from campaigns.models import Broadcast, MessagePrice
from tenants.models import AuditLogEntry
from tests.campaigns.broadcasting import (
    add_recipient,
    fake_channel,
    make_contact,
    make_draft,
    make_inbox,
    make_segment,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _channel():
    with fake_channel() as backend:
        yield backend


@pytest.fixture
def inbox(tenant):
    return make_inbox(tenant)


@pytest.fixture
def segment(tenant):
    return make_segment(tenant, "Clientes")


@pytest.fixture
def draft(tenant, inbox, segment):
    return make_draft(tenant, inbox, segment)


def client_of(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def url(broadcast: Broadcast, action: str = "") -> str:
    return f"/t/{broadcast.tenant.slug}/campaigns/broadcasts/{broadcast.pk}/{action}"


FORM = {
    "name": "Natal",
    "template": "promo|pt_BR",
    "audience": "segment",
    "consent_purpose": "",
    "send": "now",
    "var_header_1_source": "value",
    "var_header_1_detail": "VIP",
    "var_body_1_source": "name",
    "var_body_1_fallback": "cliente",
    "var_body_2_source": "attr",
    "var_body_2_detail": "coupon",
    "var_button_0_source": "value",
    "var_button_0_detail": "natal-2026",
}


# --- who may open them ----------------------------------------------------------------------------------------------


def test_the_list_shows_each_broadcast_with_its_status_and_progress(owner, draft):
    sending = make_draft(owner.tenant, draft.inbox, draft.segment, name="Ano novo")
    Broadcast.objects.filter(pk=sending.pk).update(status="sending")
    for n, status in enumerate(["read", "failed", "pending", "pending"]):
        add_recipient(sending, f"+551190000000{n}", status)

    response = client_of(owner).get("/t/acme/campaigns/broadcasts/")

    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-broadcast="{draft.pk}"' in html and f'data-broadcast="{sending.pk}"' in html
    assert 'data-status="sending"' in html and 'data-status="draft"' in html
    assert 'data-progress="2/4"' in html
    assert '<progress max="100" value="50"' in html


def test_an_agent_may_open_no_broadcast_page(agent, draft):
    client = client_of(agent)
    for path in ("/t/acme/campaigns/broadcasts/", "/t/acme/campaigns/broadcasts/new/", url(draft), url(draft, "live/"),
                 url(draft, "recipients.csv"), "/t/acme/settings/campaigns/prices/"):  # fmt: skip
        assert client.get(path).status_code == 403, path
    assert client.post(url(draft, "delete/")).status_code == 403
    assert Broadcast.objects.filter(pk=draft.pk).exists()


def test_another_workspaces_broadcast_is_missing(other_tenant, draft):
    from tests.factories import owner_of

    client = client_of(owner_of(other_tenant))
    foreign = f"/t/globex/campaigns/broadcasts/{draft.pk}/"
    for path in (foreign, f"{foreign}edit/", f"{foreign}live/", f"{foreign}recipients.csv"):
        assert client.get(path).status_code == 404, path
    for action in ("delete/", "start/", "pause/", "cancel/", "edit/"):
        assert client.post(f"{foreign}{action}").status_code == 404, action
    draft.refresh_from_db()
    assert (draft.status, draft.name) == ("draft", "Black Friday")


# --- the draft's form ------------------------------------------------------------------------------------------------


def test_the_form_creates_a_draft_with_the_values_of_each_parameter(owner, inbox, segment):
    response = client_of(owner).post(
        "/t/acme/campaigns/broadcasts/new/", {**FORM, "inbox": inbox.pk, "segment": segment.pk}
    )

    broadcast = Broadcast.objects.get()
    assert response.status_code == 302
    assert response.headers["Location"] == url(broadcast)
    assert (broadcast.name, broadcast.segment_id, broadcast.template_category) == ("Natal", segment.pk, "MARKETING")
    assert broadcast.variables == {
        "header.1": {"value": "VIP"},
        "body.1": {"attribute": "name", "fallback": "cliente"},
        "body.2": {"attribute": "attr:coupon"},
        "button.0": {"value": "natal-2026"},
    }


def test_the_form_shows_the_template_and_the_preview_with_customer_text_escaped(owner, inbox, segment):
    make_contact(owner.tenant, "<script>alert(1)</script>", "+5511900000001", coupon="<b>X</b>")
    response = client_of(owner).get(
        "/t/acme/campaigns/broadcasts/new/",
        {**FORM, "refresh": "1", "inbox": inbox.pk, "segment": segment.pk},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "Olá {{1}}, use o cupom {{2}}!" in html
    assert "Olá &lt;script&gt;alert(1)&lt;/script&gt;, use o cupom &lt;b&gt;X&lt;/b&gt;!" in html
    assert "<script>alert(1)</script>" not in html
    assert 'data-audience-count="1"' in html
    assert 'name="var_button_0_source"' in html


def test_the_form_refuses_another_workspaces_segment_and_inbox(owner, other_tenant, inbox):
    foreign_segment = make_segment(other_tenant, "Theirs")
    foreign_inbox = make_inbox(other_tenant)
    client = client_of(owner)

    by_segment = client.post("/t/acme/campaigns/broadcasts/new/", {**FORM, "inbox": inbox.pk,
                                                                    "segment": foreign_segment.pk})  # fmt: skip
    by_inbox = client.post("/t/acme/campaigns/broadcasts/new/", {**FORM, "inbox": foreign_inbox.pk,
                                                                  "segment": foreign_segment.pk})  # fmt: skip

    assert (by_segment.status_code, by_inbox.status_code) == (400, 400)
    assert "Select a valid choice" in by_segment.content.decode()
    assert "Theirs" not in by_segment.content.decode()
    assert not Broadcast.objects.exists()


def test_the_form_takes_a_csv_audience_and_says_what_is_wrong_with_one(owner, inbox):
    client = client_of(owner)
    data = {**FORM, "inbox": inbox.pk, "audience": "csv", "var_body_2_source": "column", "var_body_2_detail": "cupom"}

    bad = client.post("/t/acme/campaigns/broadcasts/new/",
                      {**data, "audience_file": SimpleUploadedFile("a.csv", b"name,cupom\nAna,X\n")})  # fmt: skip
    assert bad.status_code == 400
    assert "The file has no “phone” column." in bad.content.decode()
    assert not Broadcast.objects.exists()

    upload = SimpleUploadedFile("a.csv", b"phone,cupom\n+5511900000001,X\n")
    good = client.post("/t/acme/campaigns/broadcasts/new/", {**data, "audience_file": upload})
    assert good.status_code == 302
    broadcast = Broadcast.objects.get()
    assert broadcast.variables["body.2"] == {"attribute": "column:cupom"}
    assert broadcast.audience_file.name.endswith(".csv")


def test_the_form_of_a_draft_keeps_its_values_and_saves_changes(owner, draft):
    client = client_of(owner)
    page = client.get(url(draft, "edit/")).content.decode()
    assert 'value="Black Friday"' in page and 'value="promo-2026"' in page

    response = client.post(url(draft, "edit/"), {**FORM, "inbox": draft.inbox_id, "segment": draft.segment_id})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.name == "Natal"
    assert AuditLogEntry.objects.filter(action="broadcast.changed").count() == 1


# --- the live page ---------------------------------------------------------------------------------------------------


def test_the_live_fragment_is_polled_while_sending_and_stops_when_done(owner, draft):
    Broadcast.objects.filter(pk=draft.pk).update(status="sending")
    add_recipient(draft, "+5511900000001", "delivered")
    add_recipient(draft, "+5511900000002", "failed", error_code=131026, error_title="<i>Message undeliverable</i>")
    add_recipient(draft, "+5511900000003", "skipped", skip_reason="opted_out")
    client = client_of(owner)

    live = client.get(url(draft, "live/"), HTTP_HX_REQUEST="true")
    html = live.content.decode()
    assert live.status_code == 200
    assert "<html" not in html
    assert f'hx-get="{url(draft, "live/")}" hx-trigger="every 2s"' in html
    assert '<dd data-count="sent">1</dd>' in html
    assert '<dd data-count="failed">1</dd>' in html
    assert "<code>131026</code> &lt;i&gt;Message undeliverable&lt;/i&gt;" in html
    assert "Opted out" in html
    assert live.headers["Cache-Control"] == "no-store"

    Broadcast.objects.filter(pk=draft.pk).update(status="completed")
    done = client.get(url(draft, "live/"), HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in done
    assert 'data-status="completed"' in done
    # Opened as an address of its own, it is the whole page.
    assert "<html" in client.get(url(draft, "live/")).content.decode()


def test_the_page_says_why_a_broadcast_waits(owner, draft):
    until = timezone.now() + timedelta(hours=2)
    Broadcast.objects.filter(pk=draft.pk).update(status="waiting", wait_reason="messaging_limit", wait_until=until)
    html = client_of(owner).get(url(draft)).content.decode()
    assert "Waiting: today&#x27;s messaging limit of 250 customers is used up; continues at" in html


def test_the_wait_is_said_in_words_in_the_readers_language(draft):
    draft.status, draft.wait_reason = "waiting", "messaging_limit"
    draft.wait_until = datetime(2026, 12, 7, 17, 5, tzinfo=UTC)
    now = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)
    zone = ZoneInfo("America/Sao_Paulo")
    with timezone.override(zone):
        assert wait_text(draft, now=now) == (
            "Waiting: today's messaging limit of 250 customers is used up; continues at 14:05."
        )
        with translation.override("pt-br"):
            assert wait_text(draft, now=now) == (
                "Aguardando: o limite de mensagens de hoje, de 250 clientes, foi atingido; continua às 14:05."
            )
            draft.wait_reason = "quiet_hours"
            assert wait_text(draft, now=now) == "Aguardando: horário de silêncio; continua às 14:05."
            draft.wait_reason = "quality"
            assert wait_text(draft, now=now - timedelta(days=1)) == (
                "Aguardando: a classificação de qualidade do número está baixa; tenta de novo às 07/12/2026 14:05."
            )
            draft.status = "paused"
            assert wait_text(draft, now=now) == (
                "Pausada: a classificação de qualidade do número está baixa. Retome-a quando ela se recuperar."
            )
            draft.wait_reason = ""
            assert wait_text(draft, now=now) == ""


def test_a_draft_is_deleted_from_its_page_and_a_sending_one_is_not(owner, draft):
    client = client_of(owner)
    other = make_draft(owner.tenant, draft.inbox, draft.segment, name="Outra")
    Broadcast.objects.filter(pk=other.pk).update(status="sending")

    assert client.post(url(other, "delete/")).status_code == 302
    assert Broadcast.objects.filter(pk=other.pk).exists()
    response = client.post(url(draft, "delete/"))
    assert (response.status_code, response.headers["Location"]) == (302, "/t/acme/campaigns/broadcasts/")
    assert not Broadcast.objects.filter(pk=draft.pk).exists()


def test_the_buttons_start_schedule_pause_resume_and_cancel(owner, draft, segment):
    client = client_of(owner)
    later = make_draft(
        owner.tenant, draft.inbox, segment, name="Depois", scheduled_at=timezone.now() + timedelta(days=1)
    )
    page = client.get(url(later)).content.decode()
    assert ">Schedule</button>" in page and "Schedule this broadcast for" in page

    assert client.post(url(later, "start/")).status_code == 302
    assert client.post(url(draft, "start/")).status_code == 302
    assert Broadcast.objects.get(pk=later.pk).status == "scheduled"
    assert Broadcast.objects.get(pk=draft.pk).status == "planning"

    Broadcast.objects.filter(pk=draft.pk).update(status="sending")
    page = client.get(url(draft)).content.decode()
    assert ">Pause</button>" in page and ">Cancel the broadcast</button>" in page and ">Resume</button>" not in page
    client.post(url(draft, "pause/"))
    assert Broadcast.objects.get(pk=draft.pk).status == "paused"
    assert ">Resume</button>" in client.get(url(draft)).content.decode()
    client.post(url(draft, "resume/"))
    assert Broadcast.objects.get(pk=draft.pk).status == "sending"
    response = client.post(url(draft, "cancel/"), follow=True)
    assert Broadcast.objects.get(pk=draft.pk).status == "canceled"
    assert "Broadcast “Black Friday” canceled." in response.content.decode()

    again = client.post(url(draft, "resume/"), follow=True)
    assert "Only a paused broadcast can be resumed." in again.content.decode()
    assert Broadcast.objects.get(pk=draft.pk).status == "canceled"


def test_the_recipients_csv_is_downloaded(owner, draft):
    add_recipient(draft, "+5511900000001", "sent", sent_at=datetime(2026, 12, 7, 15, 0, tzinfo=UTC))
    response = client_of(owner).get(url(draft, "recipients.csv"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="broadcast-{draft.pk}-recipients.csv"'
    assert b"".join(response.streaming_content).decode().splitlines()[1] == (
        "'+5511900000001,,sent,,,,2026-12-07T12:00:00-03:00,,,"
    )


# --- message prices --------------------------------------------------------------------------------------------------


def test_the_prices_start_from_metas_defaults_and_are_saved_audited(owner):
    client = client_of(owner)
    page = client.get("/t/acme/settings/campaigns/prices/").content.decode()
    assert 'value="62.50"' in page

    data = {"rows": "3", "p0-country": "BR", "p0-category": "marketing", "p0-price": "70.00", "p0-currency": "usd",
            "p1-country": "BR", "p1-category": "utility", "p1-price": "8", "p1-currency": "USD",
            "p2-country": "", "p2-category": "", "p2-price": "", "p2-currency": "USD"}  # fmt: skip
    response = client.post("/t/acme/settings/campaigns/prices/", data)

    assert response.status_code == 302
    assert sorted(MessagePrice.objects.values_list("country", "category", "price_minor", "currency")) == [
        ("BR", "marketing", 7000, "USD"),
        ("BR", "utility", 800, "USD"),
    ]
    entry = AuditLogEntry.objects.get(action="message_prices.changed")
    assert entry.extra["changes"]["BR marketing"] == ["6250 USD", "7000 USD"]
    assert entry.extra["changes"]["US marketing"] == ["2500 USD", None]


def test_prices_that_do_not_read_are_refused_and_nothing_changes(owner):
    MessagePrice.objects.create(tenant=owner.tenant, country="BR", category="marketing", price_minor=6250)
    client = client_of(owner)
    data = {"rows": "2", "p0-country": "BR", "p0-category": "marketing", "p0-price": "1,2,3", "p0-currency": "USD",
            "p1-country": "BR", "p1-category": "marketing", "p1-price": "2", "p1-currency": "USD"}  # fmt: skip
    assert client.post("/t/acme/settings/campaigns/prices/", data).status_code == 400
    data["p0-price"] = "3"
    duplicate = client.post("/t/acme/settings/campaigns/prices/", data)
    assert duplicate.status_code == 400
    assert "Brazil, Marketing: one price per country and category." in duplicate.content.decode()
    assert list(MessagePrice.objects.values_list("price_minor", flat=True)) == [6250]
    assert not AuditLogEntry.objects.filter(action="message_prices.changed").exists()
