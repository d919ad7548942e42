from __future__ import annotations

import pytest
from django.test import Client

from tenants.models import AuditLogEntry
from tenants.services import api_token_create, role_builtin
from tests.factories import add_member

pytestmark = pytest.mark.django_db


def test_me_for_a_user_lists_workspaces_and_permissions(client, agent):
    client.force_login(agent.user)
    body = client.get("/api/v1/me/").json()
    assert body["kind"] == "user"
    assert body["email"] == agent.user.email
    assert body["tenants"] == [
        {
            "slug": "acme",
            "name": "Acme",
            "role": "agent",
            "permissions": ["contacts.manage", "conversations.reply", "conversations.send_templates",
                            "conversations.view_unassigned"],
        }
    ]  # fmt: skip


def test_me_for_a_token(tenant, owner):
    _t, raw = api_token_create(actor=owner, name="Bot", role=role_builtin(tenant=tenant, key="supervisor"))
    body = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/me/").json()
    assert (body["kind"], body["name"], body["tenants"][0]["slug"], body["tenants"][0]["role"]) == (
        "api_token",
        "Bot",
        "acme",
        "supervisor",
    )


def test_members_list_is_cursor_paginated(client, tenant, owner, django_assert_max_num_queries):
    for _ in range(4):
        add_member(tenant, "agent")
    client.force_login(owner.user)
    with django_assert_max_num_queries(8):
        first = client.get("/api/v1/t/acme/members/?page_size=3").json()
    assert len(first["results"]) == 3
    assert first["results"][0] == {
        "id": owner.pk,
        "user_id": owner.user.pk,
        "email": owner.user.email,
        "name": owner.user.name,
        "role": "owner",
        "role_name": "Owner",
        "mfa_enabled": False,
        "joined_at": first["results"][0]["joined_at"],
    }
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 2
    assert second["next"] is None
    ids = [m["id"] for m in first["results"] + second["results"]]
    assert ids == sorted(ids) and len(set(ids)) == 5


def test_token_of_one_tenant_sees_only_its_tenant(tenant, owner, other_tenant):
    _t, raw = api_token_create(actor=owner, name="Acme bot", role=role_builtin(tenant=tenant, key="admin"))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/t/acme/members/").status_code == 200
    other = client.get("/api/v1/t/globex/members/")
    assert other.status_code == 404
    assert other.json() == {"error": {"code": "not_found", "message": "Not found.", "details": {}}}


def test_audit_log_api_filters_by_action_and_actor(client, tenant, owner, agent):
    from tenants.services import audit_log_record

    audit_log_record(action=AuditLogEntry.Action.LOGOUT, tenant=tenant, actor=agent.user)
    audit_log_record(action=AuditLogEntry.Action.LOGOUT, tenant=tenant, actor=owner.user)
    client.force_login(owner.user)
    rows = client.get(f"/api/v1/t/acme/audit-log/?action=auth.logout&actor={agent.user.pk}").json()["results"]
    assert [(r["action"], r["actor_id"]) for r in rows] == [("auth.logout", agent.user.pk)]


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/me/", "/api/v1/t/{tenant_slug}/members/", "/api/v1/t/{tenant_slug}/audit-log/"} <= set(paths)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


@pytest.mark.parametrize(
    ("path", "item"),
    [
        ("/api/v1/t/{tenant_slug}/conversations/{display_id}/messages/", "MessageOutput"),
        ("/api/v1/t/{tenant_slug}/members/", "Member"),
        ("/api/v1/t/{tenant_slug}/audit-log/", "AuditLogEntry"),
    ],
)
def test_openapi_describes_cursor_paginated_lists_as_pages(client, path, item):
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"][path]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    properties = page["properties"]
    assert sorted(properties) == ["next", "previous", "results"]
    assert properties["results"] == {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}
    for link in ("next", "previous"):
        assert (properties[link]["type"], properties[link]["format"], properties[link]["nullable"]) == (
            "string",
            "uri",
            True,
        )
    assert {"cursor", "page_size"} <= {p["name"] for p in operation["parameters"] if p["in"] == "query"}


def test_api_token_page_shows_the_secret_once(client, tenant, owner):
    client.force_login(owner.user)
    agent_role = role_builtin(tenant=tenant, key="agent")
    created = client.post("/t/acme/settings/api-tokens/", {"name": "Zapier", "role": agent_role.pk})
    assert created.status_code == 201
    token_text = created.context["new_token"]
    assert token_text.startswith("hd_") and token_text in created.content.decode()
    listing = client.get("/t/acme/settings/api-tokens/")
    assert token_text not in listing.content.decode()
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token_text}").get("/api/v1/t/acme/members/").status_code == 200


def test_audit_log_page_filters_and_paginates(client, tenant, owner, agent):
    from tenants.services import audit_log_record

    for _ in range(60):
        audit_log_record(action=AuditLogEntry.Action.LOGOUT, tenant=tenant, actor=agent.user)
    client.force_login(owner.user)
    page1 = client.get(f"/t/acme/settings/audit-log/?action=auth.logout&actor={agent.user.pk}")
    assert page1.status_code == 200
    assert page1.context["page"].paginator.count == 60
    assert len(page1.context["page"].object_list) == 50
    page2 = client.get(f"/t/acme/settings/audit-log/?action=auth.logout&actor={agent.user.pk}&page=2")
    assert len(page2.context["page"].object_list) == 10
    none = client.get("/t/acme/settings/audit-log/?action=auth.login")
    assert none.context["page"].paginator.count == 0
