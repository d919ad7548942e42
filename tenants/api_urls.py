from django.urls import path

from tenants import api

urlpatterns = [
    path("me/", api.MeApi.as_view(), name="api_me"),
    path("t/<slug:tenant_slug>/members/", api.MemberListApi.as_view(), name="api_member_list"),
    path("t/<slug:tenant_slug>/audit-log/", api.AuditLogListApi.as_view(), name="api_audit_log"),
]
