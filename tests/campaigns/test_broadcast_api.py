"""The broadcasts API: drafts (JSON and multipart with a CSV), the sending actions, counters and cost, the CSV and
the message prices; an API token's role governs it, and another workspace's objects are missing."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from campaigns.models import Broadcast, MessagePrice
from tenants.models import AuditLogEntry
from tenants.services import api_token_create, role_builtin
from tests.campaigns.broadcasting import (
    PROMO_VARIABLES,
    add_recipient,
    fake_channel,
    make_draft,
    make_inbox,
    make_segment,
)
from tests.factories import owner_of

pytestmark = pytest.mark.django_db
BASE = "/api/v1/t/acme/broadcasts/"


@pytest.fixture(autouse=True)
def _channel():
    with fake_channel() as backend:
        yield backend


@pytest.fixture
def inbox(tenant):
    return make_inbox(tenant)


@pytest.fixture
def segment(tenant):
    return make_segment(tenant)


def token_client(tenant, role: str) -> Client:
    _token, raw = api_token_create(
        actor=owner_of(tenant), name=f"ci-{role}", role=role_builtin(tenant=tenant, key=role)
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def body(inbox, segment, **changes):
    return {
        "name": "Black Friday",
        "inbox_id": inbox.pk,
        "template_name": "promo",
        "template_language": "pt_BR",
        "segment_id": segment.pk if segment is not None else None,
        "variables": PROMO_VARIABLES,
        **changes,
    }


def test_a_token_creates_reads_changes_and_deletes_a_draft(tenant, inbox, segment):
    client = token_client(tenant, "admin")

    created = client.post(BASE, body(inbox, segment), content_type="application/json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert {k: data[k] for k in ("name", "status", "template_category", "segment_id", "has_audience_file")} == {
        "name": "Black Friday",
        "status": "draft",
        "template_category": "MARKETING",
        "segment_id": segment.pk,
        "has_audience_file": False,
    }
    one = f"{BASE}{data['id']}/"
    assert client.get(one).json()["variables"] == PROMO_VARIABLES
    assert client.get(BASE).json()["results"][0]["id"] == data["id"]

    changed = client.patch(one, {"name": "Natal"}, content_type="application/json")
    assert (changed.status_code, changed.json()["name"]) == (200, "Natal")
    assert client.delete(one).status_code == 204
    assert not Broadcast.objects.exists()
    assert list(
        AuditLogEntry.objects.filter(action__startswith="broadcast.")
        .order_by("id")
        .values_list("action", "actor_label")
    ) == [
        ("broadcast.created", "API token ci-admin"),
        ("broadcast.changed", "API token ci-admin"),
        ("broadcast.deleted", "API token ci-admin"),
    ]


def test_a_draft_with_a_csv_audience_is_sent_as_multipart(tenant, inbox):
    client = token_client(tenant, "admin")
    variables = {**PROMO_VARIABLES, "body.2": {"attribute": "column:cupom"}}
    upload = SimpleUploadedFile("lista.csv", b"phone,cupom\n+5511900000001,A1\n", content_type="text/csv")
    data = {**body(inbox, None, variables=json.dumps(variables)), "audience_file": upload}
    del data["segment_id"]

    response = client.post(BASE, data)

    assert response.status_code == 201, response.json()
    assert response.json()["has_audience_file"] is True
    assert Broadcast.objects.get().variables["body.2"] == {"attribute": "column:cupom"}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"template_name": "nope"}, "template", "The inbox has no approved template “nope” in pt_BR."),
        ({"variables": {}}, "variables.header.1", "Choose what fills “Header value 1”."),
        ({"segment_id": None}, "audience", "Choose a segment or upload a CSV file of recipients."),
        ({"scheduled_at": "2020-01-01T10:00:00-03:00"}, "scheduled_at", "Choose a time in the future."),
    ],
)
def test_a_draft_that_does_not_hold_is_a_400_naming_the_field(tenant, inbox, segment, changes, field, message):
    response = token_client(tenant, "admin").post(
        BASE, body(inbox, segment, **changes), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "validation_failed", "message": message, "details": {"field": field}}}
    assert not Broadcast.objects.exists()


def test_another_workspaces_inbox_segment_and_broadcast_are_missing(tenant, other_tenant, inbox, segment):
    theirs = make_draft(other_tenant, make_inbox(other_tenant), make_segment(other_tenant))
    client = token_client(tenant, "admin")

    by_segment = client.post(BASE, body(inbox, theirs.segment), content_type="application/json")
    by_inbox = client.post(BASE, body(theirs.inbox, segment), content_type="application/json")
    assert (by_segment.json()["error"]["message"], by_inbox.json()["error"]["message"]) == (
        "No such segment.",
        "No such inbox.",
    )
    for path in ("", "stats/", "recipients.csv"):
        assert client.get(f"{BASE}{theirs.pk}/{path}").status_code == 404
    for action in ("start/", "pause/", "resume/", "cancel/"):
        assert client.post(f"{BASE}{theirs.pk}/{action}").status_code == 404
    assert client.delete(f"{BASE}{theirs.pk}/").status_code == 404
    assert client.get(f"/api/v1/t/globex/broadcasts/{theirs.pk}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "draft"
    assert Broadcast.objects.filter(tenant=tenant).count() == 0


def test_an_agents_token_may_not_touch_broadcasts(tenant, inbox, segment):
    draft = make_draft(tenant, inbox, segment)
    client = token_client(tenant, "agent")
    answers = [
        client.get(BASE).status_code,
        client.post(BASE, body(inbox, segment), content_type="application/json").status_code,
        client.get(f"{BASE}{draft.pk}/stats/").status_code,
        client.post(f"{BASE}{draft.pk}/start/").status_code,
        client.delete(f"{BASE}{draft.pk}/").status_code,
        client.get("/api/v1/t/acme/message-prices/").status_code,
    ]
    assert answers == [403] * 6
    assert Broadcast.objects.filter(pk=draft.pk, status="draft").count() == 1
    assert Broadcast.objects.count() == 1


def test_a_sent_broadcast_is_no_longer_changed_or_deleted(tenant, inbox, segment):
    draft = make_draft(tenant, inbox, segment)
    Broadcast.objects.filter(pk=draft.pk).update(status="sending")
    client = token_client(tenant, "admin")
    changed = client.patch(f"{BASE}{draft.pk}/", {"name": "X"}, content_type="application/json")
    deleted = client.delete(f"{BASE}{draft.pk}/")
    assert (changed.status_code, changed.json()["error"]["message"]) == (409, "Only a draft can be changed.")
    assert deleted.status_code == 409
    draft.refresh_from_db()
    assert draft.name == "Black Friday"


def test_the_counters_and_cost_and_the_csv(tenant, inbox, segment):
    draft = make_draft(tenant, inbox, segment)
    Broadcast.objects.filter(pk=draft.pk).update(status="sending")
    add_recipient(draft, "+5511900000001", "read", country="BR")
    add_recipient(draft, "+5511900000002", "failed", error_code=131026, error_title="Message undeliverable")
    add_recipient(draft, "+12025550123", "pending")
    client = token_client(tenant, "supervisor")

    stats = client.get(f"{BASE}{draft.pk}/stats/").json()

    assert {k: stats[k] for k in ("status", "total", "sent", "read", "failed", "pending")} == {
        "status": "sending", "total": 3, "sent": 1, "read": 1, "failed": 1, "pending": 1
    }  # fmt: skip
    assert stats["failed_by_code"] == [{"code": 131026, "title": "Message undeliverable", "count": 1}]
    assert stats["cost"]["totals"] == {"USD": 9}
    assert [(r["country"], r["cost_minor"]) for r in stats["cost"]["rows"]] == [("BR", 6), ("US", 3)]

    csv_response = client.get(f"{BASE}{draft.pk}/recipients.csv", HTTP_ACCEPT="application/json")
    assert csv_response["Content-Type"] == "text/csv; charset=utf-8"
    lines = b"".join(csv_response.streaming_content).decode().splitlines()
    assert lines[2] == "'+5511900000002,,failed,,131026,Message undeliverable,,,,"


def test_a_draft_is_started_paused_resumed_and_canceled_through_the_engine(tenant, inbox, segment):
    draft = make_draft(tenant, inbox, segment)
    client = token_client(tenant, "admin")
    one = f"{BASE}{draft.pk}/"

    refused = client.post(f"{one}pause/")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "broadcast_not_running")
    assert client.post(f"{one}start/").json()["status"] == "planning"
    Broadcast.objects.filter(pk=draft.pk).update(status="sending")
    assert client.post(f"{one}pause/").json()["status"] == "paused"
    assert client.post(f"{one}resume/").json()["status"] == "sending"
    assert client.post(f"{one}cancel/").json()["status"] == "canceled"
    assert client.post(f"{one}resume/").status_code == 409
    assert list(
        AuditLogEntry.objects.filter(action__startswith="broadcast.").order_by("id").values_list("action", flat=True)
    ) == ["broadcast.created", "broadcast.started", "broadcast.paused", "broadcast.resumed", "broadcast.canceled"]


def test_a_draft_without_its_template_does_not_start(tenant, inbox, segment):
    draft = make_draft(tenant, inbox, segment)
    Broadcast.objects.filter(pk=draft.pk).update(template_name="gone")
    response = token_client(tenant, "admin").post(f"{BASE}{draft.pk}/start/")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "validation_failed")
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_message_prices_are_read_and_replaced(tenant):
    client = token_client(tenant, "admin")
    defaults = client.get("/api/v1/t/acme/message-prices/").json()
    assert {"country": "BR", "category": "marketing", "price_minor": 6250, "currency": "USD"} in defaults

    table = {"prices": [{"country": "br", "category": "utility", "price_minor": 800, "currency": "brl"}]}
    replaced = client.put("/api/v1/t/acme/message-prices/", table, content_type="application/json")

    assert replaced.json() == [{"country": "BR", "category": "utility", "price_minor": 800, "currency": "BRL"}]
    assert list(MessagePrice.objects.values_list("country", "category", "price_minor", "currency")) == [
        ("BR", "utility", 800, "BRL")
    ]
    bad = client.put(
        "/api/v1/t/acme/message-prices/",
        {"prices": [{"country": "XX", "category": "utility", "price_minor": 1}]},
        content_type="application/json",
    )
    assert (bad.status_code, bad.json()["error"]["message"]) == (400, "“XX” is not a country.")
    assert MessagePrice.objects.count() == 1
