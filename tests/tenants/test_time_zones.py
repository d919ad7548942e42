"""Times are shown in the member's own time zone, else the workspace's; the API stays in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.utils import timezone

from tenants.models import AuditLogEntry, Tenant
from tests.factories import add_member

pytestmark = pytest.mark.django_db

MOMENT = datetime(2026, 3, 10, 15, 4, 5, tzinfo=UTC)


def _client(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def _audit_page_time(client: Client) -> str:
    page = client.get("/t/acme/settings/audit-log/", {"action": AuditLogEntry.Action.TENANT_UPDATED})
    assert page.status_code == 200
    html = page.content.decode()
    start = html.index('<time datetime="')
    return html[start : html.index("</time>", start) + len("</time>")]


@pytest.fixture
def entry(tenant):
    return AuditLogEntry.objects.create(tenant=tenant, action=AuditLogEntry.Action.TENANT_UPDATED, created_at=MOMENT)


def test_pages_show_times_in_the_workspace_zone(owner, entry):
    assert owner.tenant.timezone == "America/Sao_Paulo"
    assert _audit_page_time(_client(owner)) == (
        '<time datetime="2026-03-10T12:04:05-03:00" title="March 10, 2026, 12:04:05">'
        'March 10, 2026<br><span class="muted small">12:04:05</span></time>'
    )


def test_the_members_own_zone_beats_the_workspace_zone(owner, entry):
    owner.user.time_zone = "Asia/Tokyo"
    owner.user.save(update_fields=["time_zone"])
    assert _audit_page_time(_client(owner)) == (
        '<time datetime="2026-03-11T00:04:05+09:00" title="March 11, 2026, 00:04:05">'
        'March 11, 2026<br><span class="muted small">00:04:05</span></time>'
    )


def test_a_stored_zone_no_longer_known_falls_back_to_the_workspace_zone(owner, entry):
    type(owner.user).objects.filter(pk=owner.user_id).update(time_zone="Atlantis/Capital")
    assert '<time datetime="2026-03-10T12:04:05-03:00"' in _audit_page_time(_client(owner))


def test_the_zone_does_not_outlive_the_request(owner, entry):
    _audit_page_time(_client(owner))
    assert timezone.get_current_timezone_name() == "UTC"


def test_the_api_keeps_utc_iso_8601(owner, entry):
    owner.user.time_zone = "Asia/Tokyo"
    owner.user.save(update_fields=["time_zone"])
    response = _client(owner).get("/api/v1/t/acme/audit-log/", {"action": AuditLogEntry.Action.TENANT_UPDATED})
    assert response.status_code == 200
    assert [e["created_at"] for e in response.json()["results"]] == ["2026-03-10T15:04:05Z"]


def test_a_member_chooses_a_time_zone_in_preferences(agent):
    client = _client(agent)
    page = client.get("/account/preferences/")
    assert page.status_code == 200
    assert '<option value="America/Sao_Paulo">America/Sao_Paulo</option>' in page.content.decode()
    response = client.post("/account/preferences/", {"time_zone": "Europe/Lisbon"})
    assert response.status_code == 302
    agent.user.refresh_from_db()
    assert agent.user.time_zone == "Europe/Lisbon"
    client.post("/account/preferences/", {"time_zone": ""})
    agent.user.refresh_from_db()
    assert agent.user.time_zone == ""


def test_an_unknown_time_zone_is_refused_in_preferences(agent):
    agent.user.time_zone = "Europe/Lisbon"
    agent.user.save(update_fields=["time_zone"])
    response = _client(agent).post("/account/preferences/", {"time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 400
    assert "Select a valid choice." in response.content.decode()
    agent.user.refresh_from_db()
    assert agent.user.time_zone == "Europe/Lisbon"


SETTINGS = {"locale": "en", "country": "BR"}  # the form's other fields, as the page posts them


def test_an_admin_changes_the_workspace_zone_and_it_is_audited(tenant, admin):
    response = _client(admin).post("/t/acme/settings/workspace/", {**SETTINGS, "timezone": "America/Manaus"})
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.timezone == "America/Manaus"
    entry = AuditLogEntry.objects.get(tenant=tenant, action=AuditLogEntry.Action.TENANT_UPDATED)
    assert entry.actor == admin.user
    assert entry.extra == {"changes": {"timezone": ["America/Sao_Paulo", "America/Manaus"]}}


def test_an_unknown_workspace_zone_is_refused(tenant, admin):
    response = _client(admin).post("/t/acme/settings/workspace/", {**SETTINGS, "timezone": "Mars/Olympus_Mons"})
    assert response.status_code == 400
    assert Tenant.objects.get(pk=tenant.pk).timezone == "America/Sao_Paulo"
    assert not AuditLogEntry.objects.filter(tenant=tenant, action=AuditLogEntry.Action.TENANT_UPDATED).exists()


def test_an_agent_cannot_change_the_workspace_zone(tenant):
    agent = add_member(tenant, "agent")
    response = _client(agent).post("/t/acme/settings/workspace/", {**SETTINGS, "timezone": "America/Manaus"})
    assert response.status_code == 403
    assert Tenant.objects.get(pk=tenant.pk).timezone == "America/Sao_Paulo"


def test_the_workspace_zone_service_refuses_an_unknown_zone(admin):
    from helpdesk.exceptions import ValidationFailed
    from tenants.services import tenant_settings_update

    with pytest.raises(ValidationFailed) as raised:
        tenant_settings_update(actor=admin, timezone_name="Mars/Olympus_Mons")
    assert raised.value.details == {"field": "timezone"}
    assert Tenant.objects.get(pk=admin.tenant_id).timezone == "America/Sao_Paulo"


def test_pages_outside_a_workspace_use_the_members_own_zone(agent):
    from django.http import HttpResponse
    from django.test import RequestFactory

    from tenants.middleware import TenantMiddleware

    agent.user.time_zone = "Asia/Tokyo"
    agent.user.save(update_fields=["time_zone"])
    seen: list[str] = []

    def view(request):
        seen.append(timezone.get_current_timezone_name())
        return HttpResponse()

    def get_response(request):
        assert middleware.process_view(request, view, (), {}) is None
        return view(request)

    middleware = TenantMiddleware(get_response)
    request = RequestFactory().get("/workspaces/")
    request.user = agent.user
    middleware(request)
    assert seen == ["Asia/Tokyo"]
    assert timezone.get_current_timezone_name() == "UTC"
