"""Each built-in role, allowed or denied, on every permission-guarded page and API."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import resolve, reverse

from tenants.models import AuditLogEntry, Membership, Role, Tenant
from tenants.permissions import BUILTIN_ROLE_PERMS, Perm
from tests.factories import add_member, make_tenant, owner_of
from tests.isolation import SAMPLES, _fill, snapshot_changes, tenant_routes, tenant_snapshot

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin", "supervisor", "agent"]
EVERYONE = set(ROLES)
ADMINS = {"owner", "admin"}
MANAGE_LABELS = {"owner", "admin", "supervisor"}
VIEW_REPORTS = {"owner", "admin", "supervisor"}
MANAGE_BROADCASTS = {"owner", "admin", "supervisor"}

# The expected matrix, written out by hand so that a change to a role's permissions shows up here.
EXPECTED: dict[str, set[str]] = {
    "tenant_dashboard": EVERYONE,
    "tenant_leave": EVERYONE,
    "member_list": ADMINS,
    "member_invite": ADMINS,
    "member_change_role": ADMINS,
    "member_remove": ADMINS,
    "member_reset_mfa": ADMINS,
    "invitation_revoke": ADMINS,
    "role_list": ADMINS,
    "role_create": ADMINS,
    "role_edit": ADMINS,
    "role_delete": ADMINS,
    "security_settings": ADMINS,
    "workspace_settings": ADMINS,
    "api_token_list": ADMINS,
    "api_token_revoke": ADMINS,
    "audit_log": ADMINS,
    "api_member_list": EVERYONE,
    "api_audit_log": ADMINS,
    "channel_list": ADMINS,
    "channel_create": ADMINS,
    "channel_detail": ADMINS,
    "channel_template_list": MANAGE_BROADCASTS,
    "channel_template_create": MANAGE_BROADCASTS,
    "channel_template_edit": MANAGE_BROADCASTS,
    "channel_template_delete": MANAGE_BROADCASTS,
    "api_channel_template_list": MANAGE_BROADCASTS,
    "api_channel_template_detail": MANAGE_BROADCASTS,
    "channel_test": ADMINS,
    "channel_sync_templates": ADMINS,
    "channel_catalog": ADMINS,
    "webhook_event_list": ADMINS,
    "webhook_event_detail": ADMINS,
    "webhook_event_reprocess": ADMINS,
    "api_conversation_list": EVERYONE,
    # The agent belongs to the inbox and the sample conversation is unassigned, so it is visible.
    "api_message_list": EVERYONE,
    "api_channel_list": EVERYONE,
    # Like api_message_list: the sample attachment is on the unassigned sample conversation.
    "attachment_download": EVERYONE,
    "api_attachment_download": EVERYONE,
    "label_list": MANAGE_LABELS,
    "label_edit": MANAGE_LABELS,
    "label_delete": MANAGE_LABELS,
    # Everyone with "reply" keeps personal quick replies; the sample is shared, so an agent sees it
    # read-only and a delete of it is refused with a message (302, nothing deleted).
    "quick_reply_list": EVERYONE,
    "quick_reply_edit": EVERYONE,
    "quick_reply_delete": EVERYONE,
    "availability_settings": EVERYONE,
    # Subscribers are features (automations, flows…): their failed deliveries are for who manages them.
    "event_delivery_list": ADMINS,
    "event_delivery_retry": ADMINS,
    # Business hours are settings of automations, pages and API alike.
    "business_hours_list": ADMINS,
    "business_hours_create": ADMINS,
    "business_hours_edit": ADMINS,
    "business_hours_delete": ADMINS,
    "api_business_hours_list": ADMINS,
    "api_business_hours_detail": ADMINS,
    "api_business_hours_status": ADMINS,
    # Greeting and away messages and auto-resolve too (an empty PATCH changes nothing).
    "greeting_list": ADMINS,
    "greeting_edit": ADMINS,
    "api_greeting_list": ADMINS,
    "api_greeting_detail": ADMINS,
    "api_greeting_file": ADMINS,
    "auto_resolve_list": ADMINS,
    "auto_resolve_edit": ADMINS,
    "api_auto_resolve_list": ADMINS,
    "api_auto_resolve_detail": ADMINS,
    # SLA policies likewise; a conversation's SLA clocks are read by whoever sees the conversation.
    "sla_policy_list": ADMINS,
    "sla_policy_create": ADMINS,
    "sla_policy_edit": ADMINS,
    "sla_policy_delete": ADMINS,
    "api_sla_policy_list": ADMINS,
    "api_sla_policy_detail": ADMINS,
    "api_conversation_sla": EVERYONE,
    "team_list": ADMINS,
    "team_create": ADMINS,
    "team_edit": ADMINS,
    "team_delete": ADMINS,
    "product_list": ADMINS,
    "product_create": ADMINS,
    "product_edit": ADMINS,
    "product_delete": ADMINS,
    "product_import": ADMINS,
    "product_import_detail": ADMINS,
    "product_import_errors": ADMINS,
    "catalog_sync": ADMINS,
    "auto_assignment_list": ADMINS,
    "auto_assignment_edit": ADMINS,
    "api_team_list": ADMINS,
    "api_team_detail": ADMINS,
    "api_auto_assignment_list": ADMINS,
    "api_auto_assignment_detail": ADMINS,
    "api_auto_assignment_capacities": ADMINS,
    # The satisfaction survey: its settings are automations', its ratings are reports ("View reports").
    "csat_settings_list": ADMINS,
    "csat_settings_edit": ADMINS,
    "api_csat_settings_list": ADMINS,
    "api_csat_settings_detail": ADMINS,
    "csat_report": VIEW_REPORTS,
    "api_csat_response_list": VIEW_REPORTS,
    "api_csat_summary": VIEW_REPORTS,
    # Automation rules: pages (delete and move redirect), run logs, dry-runs and their API.
    "rule_list": ADMINS,
    "rule_create": ADMINS,
    "rule_edit": ADMINS,
    "rule_delete": ADMINS,
    "rule_move": ADMINS,
    "rule_runs": ADMINS,
    "rule_dry_run": ADMINS,
    "api_rule_list": ADMINS,
    "api_rule_detail": ADMINS,
    "api_rule_runs": ADMINS,
    "api_rule_dry_run": ADMINS,
    "api_rule_move": ADMINS,
    # The catalog: "Manage payments and catalog".
    "api_product_list": ADMINS,
    "api_product_detail": ADMINS,
    # Orders: every role that replies sees the orders of the conversations it sees (the sample's is
    # visible to all), moves them on and makes new ones; "mark as paid" is refused inside the page.
    "order_list": EVERYONE,
    "order_detail": EVERYONE,
    "order_status": EVERYONE,
    "order_create": EVERYONE,
    "order_payment_request": EVERYONE,
    "order_refund": ADMINS,
    "payment_account_list": ADMINS,
    "payment_account_edit": ADMINS,
    "api_order_list": EVERYONE,
    "api_order_payment_requests": EVERYONE,
    "api_order_payments": ADMINS,
    # Payments received and the reconciliation: "Manage payments and catalog"; the pages and the CSV
    # answer a range of days by default.
    "payment_list": ADMINS,
    "payment_request_list": ADMINS,
    "payment_reconciliation": ADMINS,
    "payment_reconciliation_csv": ADMINS,
    "api_payment_list": ADMINS,
    "api_payment_reconciliation": ADMINS,
    "api_order_detail": EVERYONE,
    "api_order_status": EVERYONE,
    # wa.me links are settings of automations (their QR codes too); the Sources page is a report.
    "entry_link_list": ADMINS,
    "entry_link_create": ADMINS,
    "entry_link_edit": ADMINS,
    "entry_link_archive": ADMINS,
    "entry_link_qr": ADMINS,
    "api_entry_link_list": ADMINS,
    "api_entry_link_detail": ADMINS,
    "api_entry_link_qr": ADMINS,
    "sources_report": VIEW_REPORTS,
    # A contact's consent: read by whoever sees the contact, recorded with "Manage contacts" (every built-in role; an
    # empty form is refused with a message, a redirect); purposes and keywords need "Manage broadcasts".
    "contact_consent": EVERYONE,
    "contact_consent_record": EVERYONE,
    "api_contact_consent": EVERYONE,
    "consent_settings": MANAGE_BROADCASTS,
    "consent_purpose_create": MANAGE_BROADCASTS,
    "consent_purpose_edit": MANAGE_BROADCASTS,
    "consent_purpose_delete": MANAGE_BROADCASTS,
    "api_sources_report": VIEW_REPORTS,
    # The bot flows API: "Manage automations"; starting a flow for a contact needs "Reply" (every role).
    "api_flow_list": ADMINS,
    "api_flow_templates": ADMINS,
    "api_flow_keys": ADMINS,
    "api_flow_detail": ADMINS,
    "api_flow_draft": ADMINS,
    "api_flow_publish": ADMINS,
    "api_flow_versions": ADMINS,
    "api_flow_sessions": ADMINS,
    "api_flow_start": EVERYONE,
    # The bot flows' settings pages: "Manage automations".
    "flow_list": ADMINS,
    "flow_create": ADMINS,
    "flow_install": ADMINS,
    "flow_keys": ADMINS,
    "flow_settings": ADMINS,
    "flow_delete": ADMINS,
    "flow_editor": ADMINS,
    "flow_preview": ADMINS,
    "flow_version": ADMINS,
    "flow_test": ADMINS,
    "flow_sessions": ADMINS,
    # Broadcasts and message prices: "Manage broadcasts". The sample is a draft: a delete or a start answers with
    # a redirect; pausing, resuming or canceling a draft is refused with a message (a redirect too).
    "broadcast_list": MANAGE_BROADCASTS,
    "broadcast_create": MANAGE_BROADCASTS,
    "broadcast_detail": MANAGE_BROADCASTS,
    "broadcast_edit": MANAGE_BROADCASTS,
    "broadcast_delete": MANAGE_BROADCASTS,
    "broadcast_live": MANAGE_BROADCASTS,
    "broadcast_start": MANAGE_BROADCASTS,
    "broadcast_pause": MANAGE_BROADCASTS,
    "broadcast_resume": MANAGE_BROADCASTS,
    "broadcast_cancel": MANAGE_BROADCASTS,
    "broadcast_recipients_csv": MANAGE_BROADCASTS,
    "message_prices": MANAGE_BROADCASTS,
    # The broadcasts API: "Manage broadcasts". The sample is a draft: see STATE_REFUSED.
    "api_broadcast_list": MANAGE_BROADCASTS,
    "api_broadcast_detail": MANAGE_BROADCASTS,
    "api_broadcast_start": MANAGE_BROADCASTS,
    "api_broadcast_pause": MANAGE_BROADCASTS,
    "api_broadcast_resume": MANAGE_BROADCASTS,
    "api_broadcast_cancel": MANAGE_BROADCASTS,
    "api_broadcast_stats": MANAGE_BROADCASTS,
    "api_broadcast_recipients_csv": MANAGE_BROADCASTS,
    "api_message_prices": MANAGE_BROADCASTS,
    # Contact imports and segments: "Manage broadcasts". The sample import waits for its columns' mapping; a
    # delete of the sample segment answers with a redirect.
    "contact_import": MANAGE_BROADCASTS,
    "contact_import_detail": MANAGE_BROADCASTS,
    "contact_import_progress": MANAGE_BROADCASTS,
    "contact_import_errors": MANAGE_BROADCASTS,
    "segment_list": MANAGE_BROADCASTS,
    "segment_create": MANAGE_BROADCASTS,
    "segment_count": MANAGE_BROADCASTS,
    "segment_edit": MANAGE_BROADCASTS,
    "segment_delete": MANAGE_BROADCASTS,
    "api_segment_list": MANAGE_BROADCASTS,
    "api_segment_preview": MANAGE_BROADCASTS,
    "api_segment_detail": MANAGE_BROADCASTS,
    "api_segment_count": MANAGE_BROADCASTS,
    "api_segment_contacts": MANAGE_BROADCASTS,
    # Scheduled messages: every role replies and sends templates; the sample is the sample conversation's
    # customer's (a cancel of it answers with a redirect). One-time codes: API tokens, owners and admins only.
    "scheduled_message_create": EVERYONE,
    "scheduled_message_cancel": EVERYONE,
    "api_scheduled_message_list": EVERYONE,
    "api_scheduled_message_detail": EVERYONE,
    "api_scheduled_message_cancel": EVERYONE,
    "api_otp_send": ADMINS,
    "api_otp_verify": ADMINS,
    # The inbox API: every built-in role may reply, and the sample conversation is visible to all.
    "api_conversation_assignee": EVERYONE,
    "api_conversation_status": EVERYONE,
    "api_conversation_muted": EVERYONE,
    "api_conversation_priority": EVERYONE,
    "api_conversation_team": EVERYONE,
    "api_conversation_labels": EVERYONE,
    "api_conversation_label_remove": EVERYONE,
    "api_conversation_notes": EVERYONE,
    "api_conversation_read": EVERYONE,
    "api_label_list": EVERYONE,
    "api_contact_detail": EVERYONE,
    "api_quick_reply_list": EVERYONE,
    # An empty PATCH of the shared sample reply: an agent may use it but not change it.
    "api_quick_reply_detail": MANAGE_LABELS,
    # The inbox page and its fragments: every role replies, and the sample conversation is visible to all.
    "inbox": EVERYONE,
    "inbox_list": EVERYONE,
    "inbox_rows": EVERYONE,
    "inbox_notifications": EVERYONE,
    "inbox_notifications_read": EVERYONE,
    "inbox_conversation": EVERYONE,
    "inbox_pane": EVERYONE,
    "inbox_messages": EVERYONE,
    "inbox_sidebar": EVERYONE,
    "inbox_header": EVERYONE,
    "inbox_send": EVERYONE,
    "inbox_note": EVERYONE,
    "inbox_react": EVERYONE,
    "inbox_quick_replies": EVERYONE,
    "inbox_templates": EVERYONE,
    "inbox_mentions": EVERYONE,
    "inbox_products": EVERYONE,
    "inbox_contact_edit": EVERYONE,
    "inbox_action": EVERYONE,
}

# API routes that refuse an empty body with 400 validation_failed, which they reach only after the
# permission check passed; for them a 400 counts as "allowed".
EMPTY_BODY_INVALID = {
    "api_order_status",
    "api_greeting_file",
    "api_rule_move",
    "api_flow_start",
    "api_conversation_assignee",
    "api_conversation_status",
    "api_conversation_muted",
    "api_conversation_priority",
    "api_conversation_team",
    "api_conversation_notes",
    "inbox_send",
    "inbox_note",
    "api_otp_send",
    "api_otp_verify",
}

# API actions that the sample's state refuses once the permission check passed: the sample broadcast is a draft
# whose template the sample inbox does not have, so a start is a 400 and a pause, resume or cancel a 409.
STATE_REFUSED = {"api_broadcast_start", "api_broadcast_pause", "api_broadcast_resume", "api_broadcast_cancel"}

EXPECTED_PERMS = {
    "supervisor": {
        Perm.VIEW_ALL_CONVERSATIONS, Perm.VIEW_UNASSIGNED, Perm.REPLY, Perm.SEND_TEMPLATES, Perm.MANAGE_BROADCASTS,
        Perm.MANAGE_CONTACTS, Perm.EXPORT_CONTACTS, Perm.MANAGE_LABELS, Perm.VIEW_REPORTS,
    },
    "agent": {Perm.VIEW_UNASSIGNED, Perm.REPLY, Perm.SEND_TEMPLATES, Perm.MANAGE_CONTACTS},
}  # fmt: skip


def test_builtin_roles_hold_the_documented_permissions():
    assert BUILTIN_ROLE_PERMS["owner"] == set(Perm.values)
    assert BUILTIN_ROLE_PERMS["admin"] == set(Perm.values)
    assert BUILTIN_ROLE_PERMS["supervisor"] == EXPECTED_PERMS["supervisor"]
    assert BUILTIN_ROLE_PERMS["agent"] == EXPECTED_PERMS["agent"]


def test_every_tenant_route_is_in_the_expected_matrix():
    assert {r.name for r in tenant_routes()} == set(EXPECTED)


def _gates() -> set[str]:
    """Where a request that may not go on yet is sent: the login, its second factor, the MFA setup."""
    return {reverse(name) for name in ("account_login", "mfa_authenticate", "mfa_required", "account_reauthenticate")}


def _rows_but_the_callers_own(tenant: Tenant, caller: Membership) -> dict[str, dict[Any, Any]]:
    """Every row of the workspace, less the caller's user (each request records their last workspace)."""
    rows = tenant_snapshot(tenant)
    rows["tenants.User"].pop(caller.user_id)
    return rows


def _required_perm(url: str) -> str | None:
    func = resolve(url).func
    view_cls = getattr(func, "cls", None)
    return getattr(view_cls, "required_perm", None) if view_cls else getattr(func, "required_perm", None)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route_name", sorted(EXPECTED))
def test_role_is_allowed_or_denied(role, route_name):
    tenant = make_tenant("Acme", slug="acme")
    caller = owner_of(tenant) if role == "owner" else add_member(tenant, role)
    # A second owner, so that owner actions on "self" routes never hit the last-owner rule.
    add_member(tenant, "owner")
    route = next(r for r in tenant_routes() if r.name == route_name)
    values = {k: SAMPLES[k](tenant) for k in route.kwargs if k != "tenant_slug"}
    url = _fill(route.pattern, {**values, "tenant_slug": tenant.slug})
    client = Client()
    client.force_login(caller.user)
    audit_before = AuditLogEntry.objects.filter(tenant=tenant).count()
    roles_before = list(Role.objects.filter(tenant=tenant).values_list("pk", "name", "permissions"))
    before = _rows_but_the_callers_own(tenant, caller)

    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url)
    # Some API routes answer only PUT, PATCH or DELETE: try each with an empty JSON body in turn.
    for method in ("put", "patch", "delete"):
        if response.status_code != 405:
            break
        response = getattr(client, method)(url, content_type="application/json")

    if role in EXPECTED[route_name]:
        allowed = (200, 201, 204, 302, 400) if route_name in EMPTY_BODY_INVALID else (200, 201, 204, 302)
        if route_name in STATE_REFUSED:
            allowed = (400, 409)
        assert response.status_code in allowed, (url, response.status_code)
        if response.status_code == 302:
            # A redirect is the answer of a form that did its work, not a detour to log in or set up MFA.
            assert urlsplit(response.headers["Location"]).path not in _gates(), (url, response.headers["Location"])
        if response.status_code == 400:
            assert response.json()["error"]["code"] == "validation_failed", response.json()
    else:
        assert response.status_code == 403, (url, response.status_code)
        assert _required_perm(url) is not None
        # Denied means nothing happened: no audit entry, no role changed, nothing created (no token,
        # no invitation) and no other row of the workspace changed.
        assert AuditLogEntry.objects.filter(tenant=tenant).count() == audit_before
        assert list(Role.objects.filter(tenant=tenant).values_list("pk", "name", "permissions")) == roles_before
        assert snapshot_changes(before, _rows_but_the_callers_own(tenant, caller)) == []


@pytest.mark.parametrize("role", ["admin", "supervisor", "agent"])
def test_api_token_role_governs_the_api(role):
    from tenants.services import api_token_create, role_builtin

    tenant = make_tenant("Acme", slug="acme")
    _token, raw = api_token_create(actor=owner_of(tenant), name="ci", role=role_builtin(tenant=tenant, key=role))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/t/acme/members/").status_code == 200
    audit = client.get("/api/v1/t/acme/audit-log/")
    if role == "admin":
        assert audit.status_code == 200
    else:
        assert audit.status_code == 403
        assert audit.json()["error"]["code"] == "permission_denied"


def test_custom_role_grants_exactly_its_permissions(tenant, owner):
    from tenants.services import role_create

    auditor = role_create(actor=owner, name="Auditor", permissions=[Perm.VIEW_AUDIT_LOG])
    member = add_member(tenant, auditor)
    client = Client()
    client.force_login(member.user)
    assert client.get("/t/acme/settings/audit-log/").status_code == 200
    assert client.get("/t/acme/settings/members/").status_code == 403
    assert client.get("/api/v1/t/acme/audit-log/").status_code == 200
