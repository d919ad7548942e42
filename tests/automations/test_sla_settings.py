"""SLA policies' pages and API: list, create, change, delete, audited; another workspace's inboxes, labels and
policies refused or missing; "Manage automations" required; a conversation's SLA clocks read by whoever sees it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from automations.models import SlaPolicy
from tenants.models import AuditLogEntry
from tenants.permissions import Perm
from tests.automations.factories import signed_in, token_client
from tests.automations.sla_helpers import (
    events_at_the_clock,  # noqa: F401
    policy_create,
    utc,
)
from tests.conversations.factories import make_inbox, make_label
from tests.factories import owner_of

pytestmark = pytest.mark.django_db

FORM = {
    "name": "Gold",
    "enabled": "on",
    "position": "2",
    "first_response_minutes": "30",
    "next_response_minutes": "",
    "resolution_minutes": "480",
    "business_hours_only": "on",
    "priorities": ["high", "urgent"],
}


def _api(tenant, path: str = "") -> str:
    return f"/api/v1/t/{tenant.slug}/sla-policies/{path}"


def _page(tenant, path: str = "") -> str:
    return f"/t/{tenant.slug}/settings/sla/{path}"


# --- pages ---------------------------------------------------------------------------------------------


def test_the_page_creates_a_policy_and_the_audit_log_says_so(tenant, admin, channel):
    vip = make_label(tenant, "VIP")
    client = signed_in(admin)
    assert client.get(_page(tenant, "new/")).status_code == 200
    response = client.post(_page(tenant, "new/"), {**FORM, "inbox_ids": [channel.inbox_id], "label_ids": [vip.pk]})
    assert response.status_code == 302
    policy = SlaPolicy.objects.get(tenant=tenant)
    assert (policy.name, policy.enabled, policy.position) == ("Gold", True, 2)
    assert (policy.first_response_minutes, policy.next_response_minutes, policy.resolution_minutes) == (30, None, 480)
    assert (policy.inbox_ids, policy.label_ids, policy.priorities) == ([channel.inbox_id], [vip.pk], ["high", "urgent"])
    entry = AuditLogEntry.objects.get(action="sla_policy.created")
    assert entry.extra["first_response_minutes"] == 30
    listing = client.get(_page(tenant)).content.decode()
    assert "Gold" in listing
    assert "VIP" in listing
    assert "30 minutes" in listing


def test_the_page_changes_and_deletes_a_policy(tenant, admin):
    policy = policy_create(admin, "Gold", first_response_minutes=30)
    client = signed_in(admin)
    assert client.get(_page(tenant, f"{policy.pk}/")).status_code == 200
    response = client.post(_page(tenant, f"{policy.pk}/"), {**FORM, "first_response_minutes": "15"})
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.first_response_minutes == 15
    changed = AuditLogEntry.objects.get(action="sla_policy.changed")
    assert changed.extra["changes"]["first_response_minutes"] == [30, 15]
    assert client.post(_page(tenant, f"{policy.pk}/delete/")).status_code == 302
    assert not SlaPolicy.objects.filter(pk=policy.pk).exists()
    assert AuditLogEntry.objects.filter(action="sla_policy.deleted").count() == 1


def test_a_policy_without_targets_or_with_a_taken_name_is_refused_on_the_page(tenant, admin):
    policy_create(admin, "Gold", first_response_minutes=30)
    client = signed_in(admin)
    empty = {**FORM, "name": "Silver", "first_response_minutes": "", "resolution_minutes": ""}
    response = client.post(_page(tenant, "new/"), empty)
    assert response.status_code == 400
    assert "Set at least one target." in response.content.decode()
    response = client.post(_page(tenant, "new/"), FORM)
    assert response.status_code == 400
    assert "Another policy has this name." in response.content.decode()
    assert SlaPolicy.objects.filter(tenant=tenant).count() == 1


def test_another_workspaces_inbox_or_label_is_refused(tenant, admin, other_tenant):
    foreign_inbox = make_inbox(other_tenant)
    foreign_label = make_label(other_tenant, "Theirs")
    client = signed_in(admin)
    response = client.post(_page(tenant, "new/"), {**FORM, "inbox_ids": [foreign_inbox.pk]})
    assert response.status_code == 400
    response = client.post(_page(tenant, "new/"), {**FORM, "label_ids": [foreign_label.pk]})
    assert response.status_code == 400
    api = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])
    body = {"name": "Gold", "first_response_minutes": 30}
    refused = api.post(_api(tenant), {**body, "inbox_ids": [foreign_inbox.pk]}, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["error"]["details"] == {"field": "inbox_ids", "ids": [foreign_inbox.pk]}
    refused = api.post(_api(tenant), {**body, "label_ids": [foreign_label.pk]}, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["error"]["details"] == {"field": "label_ids", "ids": [foreign_label.pk]}
    assert not SlaPolicy.objects.exists()


def test_pages_need_manage_automations_and_another_workspaces_policy_is_missing(tenant, admin, agent, other_tenant):
    policy = policy_create(admin, "Gold", first_response_minutes=30)
    theirs = policy_create(owner_of(other_tenant), "Theirs", first_response_minutes=10)
    client = signed_in(agent)
    assert client.get(_page(tenant)).status_code == 403
    assert client.post(_page(tenant, f"{policy.pk}/delete/")).status_code == 403
    assert SlaPolicy.objects.filter(pk=policy.pk).exists()
    admin_client = signed_in(admin)
    assert admin_client.get(_page(tenant, f"{theirs.pk}/")).status_code == 404
    assert admin_client.post(_page(tenant, f"{theirs.pk}/delete/")).status_code == 404
    assert SlaPolicy.objects.filter(pk=theirs.pk).exists()


# --- API -----------------------------------------------------------------------------------------------


def test_the_api_creates_reads_changes_and_deletes(tenant, channel):
    api = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])
    created = api.post(
        _api(tenant),
        {"name": "Gold", "first_response_minutes": 30, "priorities": ["urgent"], "inbox_ids": [channel.inbox_id]},
        content_type="application/json",
    )
    assert created.status_code == 201
    body = created.json()
    assert {key: body[key] for key in ("name", "enabled", "position", "first_response_minutes", "priorities")} == {
        "name": "Gold",
        "enabled": True,
        "position": 0,
        "first_response_minutes": 30,
        "priorities": ["urgent"],
    }
    assert body["inbox_ids"] == [channel.inbox_id]
    pk = body["id"]
    assert [row["id"] for row in api.get(_api(tenant)).json()] == [pk]
    changed = api.patch(_api(tenant, f"{pk}/"), {"resolution_minutes": 240}, content_type="application/json")
    assert changed.status_code == 200
    assert (changed.json()["first_response_minutes"], changed.json()["resolution_minutes"]) == (30, 240)
    assert api.get(_api(tenant, f"{pk}/")).json()["resolution_minutes"] == 240
    assert api.delete(_api(tenant, f"{pk}/")).status_code == 204
    assert api.get(_api(tenant, f"{pk}/")).status_code == 404


def test_the_api_refuses_bad_input_with_a_message(tenant):
    api = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])
    for body, field in (
        ({"name": "X"}, "first_response_minutes"),
        ({"name": "X", "first_response_minutes": 0}, "first_response_minutes"),
        ({"name": "X", "resolution_minutes": 10, "priorities": ["soon"]}, "priorities"),
        ({"name": " ", "resolution_minutes": 10}, "name"),
    ):
        response = api.post(_api(tenant), body, content_type="application/json")
        assert response.status_code == 400, body
        error = response.json()["error"]
        assert error["message"]
        assert field in str(error), (body, error)
    assert not SlaPolicy.objects.exists()


def test_the_api_needs_manage_automations_and_hides_other_workspaces(tenant, admin, other_tenant):
    theirs = policy_create(owner_of(other_tenant), "Theirs", first_response_minutes=10)
    reader = token_client(tenant, [Perm.REPLY, Perm.VIEW_ALL_CONVERSATIONS])
    assert reader.get(_api(tenant)).status_code == 403
    refused = reader.post(_api(tenant), {"name": "Gold", "first_response_minutes": 5}, content_type="application/json")
    assert refused.status_code == 403
    assert not SlaPolicy.objects.filter(tenant=tenant).exists()
    api = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])
    assert api.get(_api(tenant, f"{theirs.pk}/")).status_code == 404
    assert (
        api.patch(_api(tenant, f"{theirs.pk}/"), {"name": "Mine"}, content_type="application/json").status_code == 404
    )
    assert api.delete(_api(tenant, f"{theirs.pk}/")).status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


@pytest.mark.usefixtures("events_at_the_clock")
def test_a_conversations_sla_is_read_by_whoever_sees_it(
    tenant, admin, agent, channel, clock, customer_writes, other_tenant
):
    policy_create(admin, "Gold", first_response_minutes=30, resolution_minutes=120, business_hours_only=False)
    clock.set(utc(2026, 9, 8, 13, 0))
    conversation = customer_writes().conversation
    channel.inbox.members.add(agent.user)
    body = signed_in(agent).get(f"/api/v1/t/{tenant.slug}/conversations/{conversation.display_id}/sla/").json()
    assert body["policy"]["name"] == "Gold"
    assert body["due_at"] == "2026-09-08T13:30:00Z"
    assert body["breached_at"] is None
    metrics = {row["metric"]: row for row in body["metrics"]}
    assert set(metrics) == {"first_response", "resolution"}
    assert metrics["first_response"]["due_at"] == "2026-09-08T13:30:00Z"
    assert metrics["resolution"]["due_at"] == "2026-09-08T15:00:00Z"
    assert metrics["first_response"]["breached"] is False
    clock.set(utc(2026, 9, 8, 13, 0) + timedelta(minutes=45))
    late = signed_in(agent).get(f"/api/v1/t/{tenant.slug}/conversations/{conversation.display_id}/sla/").json()
    assert {row["metric"]: row["breached"] for row in late["metrics"]} == {
        "first_response": True,
        "resolution": False,
    }
    # Not to a member of another workspace, nor through its own workspace's address.
    stranger = signed_in(owner_of(other_tenant))
    assert stranger.get(f"/api/v1/t/{tenant.slug}/conversations/{conversation.display_id}/sla/").status_code == 404
    assert (
        stranger.get(f"/api/v1/t/{other_tenant.slug}/conversations/{conversation.display_id}/sla/").status_code == 404
    )


def test_the_audit_log_shows_a_policy_change_and_its_menu_link(tenant, admin, agent):
    import re

    policy = policy_create(admin, "Gold", first_response_minutes=30, priorities=["high"])
    client = signed_in(admin)
    changed = {**FORM, "first_response_minutes": "15", "priorities": ["urgent"], "business_hours_only": ""}
    assert client.post(_page(tenant, f"{policy.pk}/"), changed).status_code == 302
    html = client.get(f"/t/{tenant.slug}/settings/audit-log/").content.decode()
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert "SLA policy changed" in text
    assert "first response (minutes) from 30 to 15" in text
    assert "count business hours only from on to off" in text
    assert "priorities from High to Urgent" in text
    assert f'href="/t/{tenant.slug}/settings/sla/"' in client.get(f"/t/{tenant.slug}/").content.decode()
    assert f'href="/t/{tenant.slug}/settings/sla/"' not in signed_in(agent).get(f"/t/{tenant.slug}/").content.decode()
