from __future__ import annotations

import types

import pytest
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, include, path
from django.views.decorators.http import require_http_methods

from conversations.models import Label
from tenants.models import AuditLogEntry, Membership, Role
from tests.isolation import MISSING_ID, SAMPLES, find_isolation_leaks, tenant_routes

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
    # The calls changed nothing of the victim's (the matrix compares a snapshot per route): every
    # member (the samples included) is still there with the role it was given, and no audit entry
    # names anyone from outside.
    roles = dict(Membership.objects.filter(tenant=tenant).values_list("pk", "role__key"))
    assert list(roles.values()).count("owner") == 1 and len(roles) > 1
    assert set(roles.values()) == {"owner", "agent"}
    assert not AuditLogEntry.objects.filter(tenant=tenant).exclude(actor__memberships__tenant=tenant).exists()


def test_matrix_tries_every_method_on_every_route(tenant, other_tenant, monkeypatch):
    from django.test import Client

    calls: list[tuple[str, str]] = []
    real_generic = Client.generic

    def recording_generic(self, method, path, *args, **kwargs):
        calls.append((method, path))
        return real_generic(self, method, path, *args, **kwargs)

    monkeypatch.setattr(Client, "generic", recording_generic)
    assert find_isolation_leaks(victim=tenant, attacker=other_tenant) == []

    by_path: dict[str, set[str]] = {}
    for method, path_ in calls:
        if str(MISSING_ID) not in path_:  # the comparisons with an id that does not exist
            by_path.setdefault(path_, set()).add(method)
    assert {p for p, methods in by_path.items() if methods != {"GET", "POST", "PUT", "PATCH", "DELETE"}} == set()
    # Every route was called, with the victim's slug at least.
    victim_paths = {p for p in by_path if p.startswith(("/t/acme/", "/api/v1/t/acme/"))}
    assert len(victim_paths) == len(tenant_routes())


def _unscoped_role_view(request: HttpRequest, tenant_slug: str, role_id: int) -> HttpResponse:
    # Deliberately wrong: looks the role up by id alone, ignoring request.tenant.
    role = Role.objects.get(pk=role_id)
    return HttpResponse(role.name)


@require_http_methods(["PUT"])
def _unscoped_role_rename_view(request: HttpRequest, tenant_slug: str, role_id: int) -> HttpResponse:
    # Deliberately wrong: renames whichever role has this id, in any tenant.
    role = get_object_or_404(Role, pk=role_id)
    role.name = "Renamed from outside"
    role.save(update_fields=["name", "updated_at"])
    return JsonResponse({"id": role.pk, "name": role.name})


@require_http_methods(["DELETE"])
def _unscoped_label_delete_view(request: HttpRequest, tenant_slug: str, label_id: int) -> HttpResponse:
    # Deliberately wrong, and quiet about it: deletes whichever label has this id, then answers 404.
    Label.objects.filter(pk=label_id).delete()
    raise Http404


@require_http_methods(["OPTIONS"])
def _options_only_view(request: HttpRequest, tenant_slug: str, role_id: int) -> HttpResponse:
    return HttpResponse()


def _planted(leaky: types.ModuleType) -> set[str]:
    """The routes a test planted (every other route is the whole matrix's, tested once above)."""
    return {str(p.pattern) for p in leaky.urlpatterns[1:]}


def _leaky_urls(name: str, *extra: URLPattern) -> types.ModuleType:
    leaky = types.ModuleType(name)
    leaky.urlpatterns = [path("", include("helpdesk.urls")), *extra]  # type: ignore[attr-defined]
    return leaky


def test_matrix_catches_a_view_that_forgets_the_tenant(tenant, other_tenant):
    leaky = _leaky_urls(
        "leaky_urls",
        path("t/<slug:tenant_slug>/leaky/roles/<int:role_id>/", _unscoped_role_view, name="leaky_role"),
    )
    leaks = find_isolation_leaks(victim=tenant, attacker=other_tenant, urlconf=leaky, only=_planted(leaky))
    role_id = Role.objects.filter(tenant=tenant, key__startswith="custom").latest("pk").pk  # the last sample made
    assert leaks == [
        f"{method} /t/globex/leaky/roles/{role_id}/ (own slug, victim ids, session) -> 200"
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
    ]


def test_matrix_catches_an_unscoped_put_that_renames_another_tenants_role(tenant, other_tenant):
    leaky = _leaky_urls(
        "leaky_put_urls",
        path("t/<slug:tenant_slug>/leaky/roles/<int:role_id>/", _unscoped_role_rename_view, name="leaky_rename"),
    )
    leaks = find_isolation_leaks(victim=tenant, attacker=other_tenant, urlconf=leaky, only=_planted(leaky))

    role = Role.objects.get(tenant=tenant, name="Renamed from outside")
    assert leaks == [
        f"PUT /t/globex/leaky/roles/{role.pk}/ (own slug, victim ids, session) -> 200",
        f"t/<slug:tenant_slug>/leaky/roles/<int:role_id>/: the calls changed the victim's data: "
        f"tenants.Role changed [{role.pk}]",
    ]


def test_matrix_catches_a_change_behind_a_404(tenant, other_tenant, monkeypatch):
    leaky = _leaky_urls(
        "leaky_delete_urls",
        path("t/<slug:tenant_slug>/leaky/labels/<int:label_id>/", _unscoped_label_delete_view, name="leaky_delete"),
    )
    made: list[int] = []
    make_label = SAMPLES["label_id"]
    monkeypatch.setitem(SAMPLES, "label_id", lambda t: made.append(make_label(t)) or made[-1])
    leaks = find_isolation_leaks(victim=tenant, attacker=other_tenant, urlconf=leaky, only=_planted(leaky))

    # The leaky route comes last: its sample label is the last one made, and it is gone.
    remaining = set(Label.objects.filter(tenant=tenant).values_list("pk", flat=True))
    assert [pk for pk in made if pk not in remaining] == [made[-1]]
    assert leaks == [
        f"t/<slug:tenant_slug>/leaky/labels/<int:label_id>/: the calls changed the victim's data: "
        f"conversations.Label removed [{made[-1]}]"
    ]


def test_matrix_fails_on_a_route_where_every_method_is_405(tenant, other_tenant):
    leaky = _leaky_urls(
        "stale_urls",
        path("t/<slug:tenant_slug>/stale/roles/<int:role_id>/", _options_only_view, name="stale_route"),
    )
    leaks = find_isolation_leaks(victim=tenant, attacker=other_tenant, urlconf=leaky, only=_planted(leaky))

    role_id = Role.objects.filter(tenant=tenant, key__startswith="custom").latest("pk").pk  # the last sample made
    assert leaks == [
        f"/t/globex/stale/roles/{role_id}/ (own slug, victim ids, session): every method answered 405; "
        "is the route stale?"
    ]


def test_matrix_catches_an_api_route_without_a_tenant(tenant, other_tenant):
    leaky = _leaky_urls("leaky_api_urls", path("api/v1/roles/<int:role_id>/", _unscoped_role_view, name="leaky_api"))
    leaks = find_isolation_leaks(victim=tenant, attacker=other_tenant, urlconf=leaky, only=_planted(leaky))
    assert leaks == ["api/v1/roles/<int:role_id>/: API route without a tenant in its URL"]


def test_unknown_tenant_slug_is_404_for_pages_and_api(client, owner):
    client.force_login(owner.user)
    page = client.get("/t/no-such-workspace/")
    assert page.status_code == 404
    assert b"does not exist" in page.content
    api = client.get("/api/v1/t/no-such-workspace/members/")
    assert api.status_code == 404
    assert api.json() == {"error": {"code": "not_found", "message": "Not found.", "details": {}}}
