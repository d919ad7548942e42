from __future__ import annotations

import types

import pytest
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from tenants.models import AuditLogEntry, Membership, Role
from tests.isolation import find_isolation_leaks, tenant_routes

pytestmark = pytest.mark.django_db


def test_matrix_covers_the_tenant_routes():
    names = {r.name for r in tenant_routes()}
    assert {
        "tenant_dashboard",
        "member_list",
        "member_remove",
        "role_edit",
        "api_member_list",
        "api_audit_log",
    } <= names


def test_member_of_another_tenant_gets_404_everywhere(tenant, other_tenant):
    leaks = find_isolation_leaks(victim=tenant, attacker=other_tenant)
    assert leaks == []
    # The POST attempts changed nothing of the victim's: every member (the samples included) is still
    # there with the role it was given, and no audit entry names anyone from outside.
    roles = dict(Membership.objects.filter(tenant=tenant).values_list("pk", "role__key"))
    assert list(roles.values()).count("owner") == 1 and len(roles) > 1
    assert set(roles.values()) == {"owner", "agent"}
    assert not AuditLogEntry.objects.filter(tenant=tenant).exclude(actor__memberships__tenant=tenant).exists()


def _unscoped_role_view(request: HttpRequest, tenant_slug: str, role_id: int) -> HttpResponse:
    # Deliberately wrong: looks the role up by id alone, ignoring request.tenant.
    role = Role.objects.get(pk=role_id)
    return HttpResponse(role.name)


def test_matrix_catches_a_view_that_forgets_the_tenant(tenant, other_tenant):
    leaky = types.ModuleType("leaky_urls")
    leaky.urlpatterns = [  # type: ignore[attr-defined]
        path("", include("helpdesk.urls")),
        path("t/<slug:tenant_slug>/leaky/roles/<int:role_id>/", _unscoped_role_view, name="leaky_role"),
    ]
    leaks = find_isolation_leaks(victim=tenant, attacker=other_tenant, urlconf=leaky)
    assert len(leaks) == 2
    assert all("/leaky/roles/" in leak and "own slug, victim ids" in leak and "-> 200" in leak for leak in leaks)


def test_matrix_catches_an_api_route_without_a_tenant(tenant, other_tenant):
    leaky = types.ModuleType("leaky_api_urls")
    leaky.urlpatterns = [  # type: ignore[attr-defined]
        path("", include("helpdesk.urls")),
        path("api/v1/roles/<int:role_id>/", _unscoped_role_view, name="leaky_api"),
    ]
    leaks = find_isolation_leaks(victim=tenant, attacker=other_tenant, urlconf=leaky)
    assert leaks == ["api/v1/roles/<int:role_id>/: API route without a tenant in its URL"]


def test_unknown_tenant_slug_is_404_for_pages_and_api(client, owner):
    client.force_login(owner.user)
    page = client.get("/t/no-such-workspace/")
    assert page.status_code == 404
    assert b"does not exist" in page.content
    api = client.get("/api/v1/t/no-such-workspace/members/")
    assert api.status_code == 404
    assert api.json() == {"error": {"code": "not_found", "message": "Not found.", "details": {}}}
