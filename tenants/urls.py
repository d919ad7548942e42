from django.urls import path

from tenants import views

urlpatterns = [
    path("", views.tenant_dashboard, name="tenant_dashboard"),
    path("leave/", views.tenant_leave, name="tenant_leave"),
    path("settings/members/", views.member_list, name="member_list"),
    path("settings/members/invite/", views.member_invite, name="member_invite"),
    path("settings/members/<int:membership_id>/role/", views.member_change_role, name="member_change_role"),
    path("settings/members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("settings/members/<int:membership_id>/reset-mfa/", views.member_reset_mfa, name="member_reset_mfa"),
    path("settings/invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("settings/roles/", views.role_list, name="role_list"),
    path("settings/roles/new/", views.role_create, name="role_create"),
    path("settings/roles/<int:role_id>/", views.role_edit, name="role_edit"),
    path("settings/roles/<int:role_id>/delete/", views.role_delete, name="role_delete"),
    path("settings/security/", views.security_settings, name="security_settings"),
    path("settings/workspace/", views.workspace_settings, name="workspace_settings"),
    path("settings/api-tokens/", views.api_token_list, name="api_token_list"),
    path("settings/api-tokens/<int:token_id>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("settings/audit-log/", views.audit_log, name="audit_log"),
]
