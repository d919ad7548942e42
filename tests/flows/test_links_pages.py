"""The pages and the API of wa.me links and of the Sources report: who may use them, another workspace's link as
missing, the QR codes as images, the report's figures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from flows import audit
from flows.links import conversation_sources_record, link_qr
from flows.models import EntryLink, Flow
from payments.orders import order_create, order_mark_paid
from tenants.models import AuditLogEntry
from tenants.permissions import Perm
from tests.conversations.factories import make_role, make_token
from tests.factories import owner_of
from tests.flows.test_links import link_on, receive, whatsapp_inbox

pytestmark = pytest.mark.django_db

URL = "https://wa.me/5511900000001?text=Ol%C3%A1%21%20Vi%20a%20vitrine%20%5B%23vitrine01%5D"


def _client(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


@pytest.fixture
def inbox(tenant):
    return whatsapp_inbox(tenant)


@pytest.fixture
def link(inbox):
    return link_on(inbox, ref="vitrine01", text="Olá! Vi a vitrine")


# --- pages ---------------------------------------------------------------------------------------------------


def test_the_list_shows_each_link_with_its_url_to_copy_and_its_qr_codes(tenant, owner, link):
    page = _client(owner).get("/t/acme/settings/links/")

    html = page.content.decode()
    assert page.status_code == 200
    assert f'data-link="{link.pk}"' in html
    assert f'<code id="link-url-{link.pk}">{URL}</code>' in html
    assert f'data-copy="#link-url-{link.pk}"' in html
    assert f"/t/acme/settings/links/{link.pk}/qr/?format=png" in html
    assert f"/t/acme/settings/links/{link.pk}/qr/?format=svg" in html


def test_creating_a_link_from_the_form(tenant, owner, inbox):
    flow = Flow.objects.create(tenant=tenant, name="Recarga")
    client = _client(owner)
    assert client.get("/t/acme/settings/links/new/").status_code == 200

    answer = client.post(
        "/t/acme/settings/links/new/",
        {"name": "Flyer da feira", "kind": "flyer", "inbox": inbox.pk, "text": "Quero recarregar", "flow": flow.pk},
    )

    link = EntryLink.objects.get(tenant=tenant)
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/t/acme/settings/links/{link.pk}/"
    assert (link.name, link.kind, link.inbox_id, link.text, link.flow_id, len(link.ref)) == (
        "Flyer da feira",
        "flyer",
        inbox.pk,
        "Quero recarregar",
        flow.pk,
        8,
    )
    assert AuditLogEntry.objects.filter(tenant=tenant, action=audit.LINK_CREATED, target_id=str(link.pk)).count() == 1
    edit = client.get(answer.headers["Location"])
    assert edit.status_code == 200
    assert f"[#{link.ref}]" in edit.content.decode()


def test_a_taken_reference_is_said_on_the_form_and_nothing_is_created(tenant, owner, inbox, link):
    answer = _client(owner).post(
        "/t/acme/settings/links/new/",
        {"name": "Outra", "kind": "flyer", "inbox": inbox.pk, "text": "", "ref": "VITRINE01"},
    )

    assert answer.status_code == 400
    assert "Another link already has this reference." in answer.content.decode()
    assert EntryLink.objects.filter(tenant=tenant).count() == 1


def test_editing_archiving_and_restoring_from_the_pages(tenant, owner, link):
    client = _client(owner)

    edited = client.post(
        f"/t/acme/settings/links/{link.pk}/", {"name": "Vitrine Augusta", "kind": "shop_window", "text": "Oi!"}
    )
    archived = client.post(f"/t/acme/settings/links/{link.pk}/archive/")
    listed = client.get("/t/acme/settings/links/?archived=1").content.decode()
    restored = client.post(f"/t/acme/settings/links/{link.pk}/archive/", {"restore": "1"})

    assert (edited.status_code, archived.status_code, restored.status_code) == (302, 302, 302)
    assert f'data-link="{link.pk}"' in listed
    link.refresh_from_db()
    assert (link.name, link.text, link.archived, link.ref, link.flow_id) == (
        "Vitrine Augusta",
        "Oi!",
        False,
        "vitrine01",
        None,
    )
    actions = list(
        AuditLogEntry.objects.filter(tenant=tenant, target_type="flows.entrylink", target_id=str(link.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [audit.LINK_CREATED, audit.LINK_CHANGED, audit.LINK_ARCHIVED, audit.LINK_RESTORED]


def test_the_qr_code_downloads_are_png_and_svg_images(tenant, owner, link):
    client = _client(owner)

    png = client.get(f"/t/acme/settings/links/{link.pk}/qr/", {"format": "png"})
    svg = client.get(f"/t/acme/settings/links/{link.pk}/qr/", {"format": "svg"})
    default = client.get(f"/t/acme/settings/links/{link.pk}/qr/")
    gif = client.get(f"/t/acme/settings/links/{link.pk}/qr/", {"format": "gif"})

    assert (png.status_code, png.headers["Content-Type"], png.content) == (200, "image/png", link_qr(link, "png"))
    assert (svg.status_code, svg.headers["Content-Type"], svg.content) == (200, "image/svg+xml", link_qr(link, "svg"))
    assert png.headers["Content-Disposition"] == 'inline; filename="wa-me-vitrine01.png"'
    assert default.headers["Content-Type"] == "image/png"
    assert gif.status_code == 400


def test_an_agent_without_manage_automations_gets_403_and_changes_nothing(tenant, agent, inbox, link):
    client = _client(agent)

    answers = [
        client.get("/t/acme/settings/links/"),
        client.get("/t/acme/settings/links/new/"),
        client.post("/t/acme/settings/links/new/", {"name": "X", "kind": "flyer", "inbox": inbox.pk}),
        client.get(f"/t/acme/settings/links/{link.pk}/"),
        client.post(f"/t/acme/settings/links/{link.pk}/", {"name": "X", "kind": "flyer"}),
        client.post(f"/t/acme/settings/links/{link.pk}/archive/"),
        client.get(f"/t/acme/settings/links/{link.pk}/qr/"),
        client.get("/t/acme/sources/"),
    ]

    assert [a.status_code for a in answers] == [403] * 8
    assert list(EntryLink.objects.values_list("name", "archived")) == [("Vitrine", False)]
    assert AuditLogEntry.objects.filter(tenant=tenant, action__startswith="entry_link.").count() == 1


def test_another_workspaces_link_is_not_found(tenant, other_tenant, link):
    intruder = owner_of(other_tenant)
    client = _client(intruder)
    theirs = f"/t/globex/settings/links/{link.pk}"

    answers = [
        client.get(f"{theirs}/"),
        client.post(f"{theirs}/", {"name": "Mine now", "kind": "flyer"}),
        client.post(f"{theirs}/archive/"),
        client.get(f"{theirs}/qr/"),
        client.get(f"/api/v1/t/globex/links/{link.pk}/"),
        client.patch(f"/api/v1/t/globex/links/{link.pk}/", {"name": "Mine"}, content_type="application/json"),
        client.delete(f"/api/v1/t/globex/links/{link.pk}/"),
        client.get(f"/api/v1/t/globex/links/{link.pk}/qr/"),
    ]

    assert [a.status_code for a in answers] == [404] * 8
    assert list(EntryLink.objects.values_list("name", "archived")) == [("Vitrine", False)]


def test_the_sources_page_shows_each_sources_figures_to_a_supervisor(tenant, supervisor, inbox, link):
    message = receive(inbox, "Olá! Vi a vitrine [#vitrine01]")
    conversation_sources_record([message])
    owner = owner_of(tenant)
    order = order_create(actor=owner, conversation=message.conversation, amount=7290, description="Recarga")
    order_mark_paid(actor=owner, order=order)
    client = _client(supervisor)

    page = client.get("/t/acme/sources/")
    backwards = client.get("/t/acme/sources/", {"since": "2026-12-31", "until": "2026-01-01"})

    html = page.content.decode()
    assert page.status_code == 200
    row = html[html.index(f'data-source="link:{link.pk}"') :]
    row = row[: row.index("</tr>")]
    assert 'data-figure="conversations">1<' in row
    assert 'data-figure="flows_completed">0<' in row
    assert "R$72.90" in row
    assert backwards.status_code == 400


# --- API -----------------------------------------------------------------------------------------------------


def test_the_api_creates_lists_changes_and_archives_links(tenant, owner, inbox):
    client = _client(owner)

    created = client.post(
        "/api/v1/t/acme/links/",
        {"name": "Site", "kind": "website", "inbox_id": inbox.pk, "text": "Olá! Vi a vitrine", "ref": "vitrine01"},
        content_type="application/json",
    )
    link_id = created.json()["id"]
    listed = client.get("/api/v1/t/acme/links/")
    changed = client.patch(
        f"/api/v1/t/acme/links/{link_id}/", {"name": "Site novo", "text": ""}, content_type="application/json"
    )
    moved = client.patch(f"/api/v1/t/acme/links/{link_id}/", {"ref": "outra0001"}, content_type="application/json")
    archived = client.delete(f"/api/v1/t/acme/links/{link_id}/")
    in_use = client.get("/api/v1/t/acme/links/", {"archived": "false"})
    restored = client.patch(f"/api/v1/t/acme/links/{link_id}/", {"archived": False}, content_type="application/json")

    assert created.status_code == 201
    body = created.json()
    assert {k: v for k, v in body.items() if k not in ("created_at", "updated_at")} == {
        "id": link_id,
        "name": "Site",
        "kind": "website",
        "inbox_id": inbox.pk,
        "ref": "vitrine01",
        "text": "Olá! Vi a vitrine",
        "prefilled_text": "Olá! Vi a vitrine [#vitrine01]",
        "url": URL,
        "flow_id": None,
        "archived": False,
    }
    assert [item["id"] for item in listed.json()["results"]] == [link_id]
    assert (changed.status_code, changed.json()["name"], changed.json()["url"]) == (
        200,
        "Site novo",
        "https://wa.me/5511900000001?text=%5B%23vitrine01%5D",
    )
    assert (moved.status_code, moved.json()["error"]["details"]) == (400, {"field": "ref"})
    assert archived.status_code == 204
    assert in_use.json()["results"] == []
    assert (restored.status_code, restored.json()["archived"]) == (200, False)


def test_the_api_qr_code_is_an_image_of_either_format_and_errors_are_json(tenant, owner, link):
    token = make_token(tenant, make_role(tenant, [Perm.MANAGE_AUTOMATIONS]))
    client = Client()
    client.force_login(owner.user)

    png = client.get(f"/api/v1/t/acme/links/{link.pk}/qr/", {"format": "png"})
    svg = client.get(f"/api/v1/t/acme/links/{link.pk}/qr/", {"format": "svg"})
    bad = client.get(f"/api/v1/t/acme/links/{link.pk}/qr/", {"format": "gif"})
    missing = client.get("/api/v1/t/acme/links/2000000000/qr/", {"format": "svg"})

    assert (png.status_code, png.headers["Content-Type"], png.content) == (200, "image/png", link_qr(link, "png"))
    assert (svg.status_code, svg.headers["Content-Type"], svg.content) == (200, "image/svg+xml", link_qr(link, "svg"))
    assert (bad.status_code, bad.json()["error"]["details"]) == (400, {"param": "format"})
    assert (missing.status_code, missing.headers["Content-Type"]) == (404, "application/json")
    assert token.has_perm(Perm.MANAGE_AUTOMATIONS)


def test_an_api_token_without_the_permissions_gets_403(tenant, inbox, link):
    from tenants.services import api_token_create

    _token, raw = api_token_create(
        actor=owner_of(tenant), name="ci", role=make_role(tenant, [Perm.REPLY, Perm.VIEW_UNASSIGNED])
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    answers = [
        client.get("/api/v1/t/acme/links/"),
        client.post("/api/v1/t/acme/links/", {"name": "X", "inbox_id": inbox.pk}, content_type="application/json"),
        client.delete(f"/api/v1/t/acme/links/{link.pk}/"),
        client.get(f"/api/v1/t/acme/links/{link.pk}/qr/"),
        client.get("/api/v1/t/acme/sources/"),
    ]

    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [(403, "permission_denied")] * 5
    assert list(EntryLink.objects.values_list("name", "archived")) == [("Vitrine", False)]


def test_the_api_sources_report(tenant, supervisor, inbox, link):
    message = receive(inbox, "Oi [#vitrine01]")
    ad = receive(inbox, "Oi", wa_id="5511987650002", referral={"source_id": "120000000000001", "headline": "Bônus"})
    conversation_sources_record([message, ad])
    client = _client(supervisor)

    since = (timezone.now() - timedelta(days=2)).date().isoformat()
    report = client.get("/api/v1/t/acme/sources/", {"since": since})
    wrong = client.get("/api/v1/t/acme/sources/", {"since": "yesterday"})
    backwards = client.get("/api/v1/t/acme/sources/", {"since": "2026-12-31", "until": "2026-01-01"})

    assert report.status_code == 200
    assert report.json() == {
        "since": since,
        "until": None,
        "sources": [
            {"kind": "link", "link_id": link.pk, "name": "Vitrine", "ad_id": "", "conversations": 1,
             "flows_completed": 0, "revenue": {}},
            {"kind": "ad", "link_id": None, "name": "Bônus", "ad_id": "120000000000001", "conversations": 1,
             "flows_completed": 0, "revenue": {}},
            {"kind": "none", "link_id": None, "name": "", "ad_id": "", "conversations": 0, "flows_completed": 0,
             "revenue": {}},
        ],
    }  # fmt: skip
    assert (wrong.status_code, wrong.json()["error"]["details"]) == (400, {"param": "since"})
    assert backwards.status_code == 400
