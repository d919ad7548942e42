"""Segments through the REST API and the pages: CRUD, counts, previews, audit, tenant isolation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from campaigns.models import Segment
from campaigns.segments import segment_create
from conversations.models import ContactLabel
from tenants.models import AuditLogEntry
from tenants.permissions import BuiltinRole
from tenants.services import api_token_create, role_builtin
from tests.conversations.factories import make_conversation, make_inbox, make_label
from tests.factories import owner_of

pytestmark = pytest.mark.django_db


def send(client: Client, method: str, url: str, body: Any = None):
    return getattr(client, method)(url, json.dumps(body) if body is not None else "", content_type="application/json")


def token_client(tenant, role: str = BuiltinRole.SUPERVISOR) -> Client:
    _token, raw = api_token_create(actor=owner_of(tenant), name="Bot", role=role_builtin(tenant=tenant, key=role))
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def people(tenant):
    inbox = make_inbox(tenant)
    vip = make_label(tenant, "vip")
    contacts = [make_conversation(inbox, name=f"c{i}").contact for i in range(3)]
    for contact in contacts[:2]:
        ContactLabel.objects.create(tenant=tenant, contact=contact, label=vip)
    return {"vip": vip, "contacts": contacts, "inbox": inbox}


def test_api_creates_counts_previews_changes_and_deletes_a_segment_audited(tenant, people):
    client = token_client(tenant)
    base = f"/api/v1/t/{tenant.slug}/segments/"
    created = send(client, "post", base, {"name": "VIPs", "filters": {"labels_any": [people["vip"].pk]}})
    assert created.status_code == 201, created.content
    segment_id = created.json()["id"]
    assert created.json()["filters"] == {"labels_any": [people["vip"].pk]}
    assert client.get(f"{base}{segment_id}/count/").json() == {"count": 2}
    preview = client.get(f"{base}{segment_id}/contacts/?limit=1").json()
    assert (preview["count"], [c["name"] for c in preview["contacts"]]) == (2, ["c1"])
    assert client.get(f"{base}{segment_id}/contacts/?limit=0").status_code == 400
    listed = client.get(base).json()
    assert [s["name"] for s in listed["results"]] == ["VIPs"]
    changed = send(client, "patch", f"{base}{segment_id}/", {"filters": {"labels_none": [people["vip"].pk]}})
    assert changed.status_code == 200
    assert client.get(f"{base}{segment_id}/count/").json() == {"count": 1}
    tried = client.get(f"{base}preview/", {"filters": json.dumps({"has_open_conversation": True})})
    assert tried.json()["count"] == 3
    assert client.get(f"{base}preview/", {"filters": "[1"}).status_code == 400
    assert send(client, "delete", f"{base}{segment_id}/").status_code == 204
    assert not Segment.objects.filter(pk=segment_id).exists()
    actions = list(
        AuditLogEntry.objects.filter(tenant=tenant, action__startswith="segment.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["segment.created", "segment.changed", "segment.deleted"]


def test_api_refuses_unknown_filters_and_another_workspaces_ids(tenant, other_tenant, people):
    client = token_client(tenant)
    base = f"/api/v1/t/{tenant.slug}/segments/"
    foreign = make_label(other_tenant, "vip")
    refused = send(client, "post", base, {"name": "X", "filters": {"labels_all": [foreign.pk]}})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "Unknown label."
    unknown = send(client, "post", base, {"name": "X", "filters": {"colour": "red"}})
    assert unknown.json()["error"]["message"] == "Unknown filter: colour."
    assert client.get(f"{base}preview/", {"filters": json.dumps({"inbox": 10**6})}).status_code == 400
    assert Segment.objects.count() == 0
    theirs = segment_create(actor=owner_of(other_tenant), tenant=other_tenant, name="Theirs")
    for method in ("get", "patch", "delete"):
        body = None if method == "get" else {"name": "Mine"}
        assert send(client, method, f"{base}{theirs.pk}/", body).status_code == 404
    assert client.get(f"{base}{theirs.pk}/count/").status_code == 404
    assert Segment.objects.get(pk=theirs.pk).name == "Theirs"


def test_an_agents_token_may_not_use_segments(tenant):
    client = token_client(tenant, BuiltinRole.AGENT)
    assert send(client, "post", f"/api/v1/t/{tenant.slug}/segments/", {"name": "X"}).status_code == 403
    assert Segment.objects.count() == 0


def test_duplicate_names_are_refused(tenant):
    owner = owner_of(tenant)
    segment_create(actor=owner, tenant=tenant, name="VIPs")
    client = token_client(tenant)
    refused = send(client, "post", f"/api/v1/t/{tenant.slug}/segments/", {"name": "VIPs"})
    assert (refused.status_code, refused.json()["error"]["message"]) == (400, "Another segment is named VIPs.")


def test_pages_build_a_segment_with_a_live_count_and_list_it_with_its_count(tenant, owner, people):
    client = Client()
    client.force_login(owner.user)
    base = f"/t/{tenant.slug}/campaigns/segments/"
    count = client.get(
        f"{base}count/", {"labels_any": [people["vip"].pk], "has_open_conversation": "yes"}, HTTP_HX_REQUEST="true"
    )
    assert count.status_code == 200
    assert 'data-count="2"' in count.content.decode()
    bad = client.get(f"{base}count/", {"attr_key_0": "plan", "attr_op_0": "contains", "attr_value_0": ""})
    assert "<html" in bad.content.decode()  # without htmx: a whole page
    assert "Enter the text that plan must contain." in bad.content.decode()
    assert client.get(f"{base}new/").status_code == 200
    posted = client.post(
        f"{base}new/",
        {
            "name": "VIP",
            "labels_any": [people["vip"].pk],
            "attribute_rows": "3",
            "attr_key_0": "plan",
            "attr_op_0": "unset",
            "last_inbound_after": "2020-01-31",
            "consent_state": "unknown",
            "consent_purpose": "marketing",
            "inbox": people["inbox"].pk,
        },
    )
    assert posted.status_code == 302
    segment = Segment.objects.get(tenant=tenant)
    assert segment.filters["labels_any"] == [people["vip"].pk]
    assert segment.filters["attributes"] == [{"key": "plan", "op": "unset", "value": ""}]
    assert segment.filters["consent"] == {"purpose": "marketing", "state": "unknown"}
    # The day starts in the workspace's time zone (São Paulo: UTC-3).
    assert segment.filters["last_inbound_after"] == "2020-01-31T00:00:00-03:00"
    listed = client.get(base).content.decode()
    assert f'data-segment="{segment.pk}"' in listed
    edit = client.get(f"{base}{segment.pk}/").content.decode()
    assert 'value="2020-01-31"' in edit
    assert client.post(f"{base}{segment.pk}/delete/").status_code == 302
    assert Segment.objects.count() == 0


def test_pages_of_another_workspaces_segment_are_404(tenant, other_tenant, owner):
    theirs = segment_create(actor=owner_of(other_tenant), tenant=other_tenant, name="Theirs")
    client = Client()
    client.force_login(owner.user)
    assert client.get(f"/t/{tenant.slug}/campaigns/segments/{theirs.pk}/").status_code == 404
    assert client.post(f"/t/{tenant.slug}/campaigns/segments/{theirs.pk}/delete/").status_code == 404
    assert Segment.objects.filter(pk=theirs.pk).exists()
