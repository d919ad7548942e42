"""API of bot flows, mounted under ``api/v1/``."""

from django.urls import path

from flows import api

_flow = "t/<slug:tenant_slug>/flows/<int:flow_id>/"

urlpatterns = [
    path("t/<slug:tenant_slug>/flows/", api.FlowListCreateApi.as_view(), name="api_flow_list"),
    path("t/<slug:tenant_slug>/flows/templates/", api.FlowTemplateApi.as_view(), name="api_flow_templates"),
    path("t/<slug:tenant_slug>/flows/keys/", api.FlowKeysApi.as_view(), name="api_flow_keys"),
    path(_flow, api.FlowDetailApi.as_view(), name="api_flow_detail"),
    path(f"{_flow}draft/", api.FlowDraftApi.as_view(), name="api_flow_draft"),
    path(f"{_flow}publish/", api.FlowPublishApi.as_view(), name="api_flow_publish"),
    path(f"{_flow}versions/", api.FlowVersionListApi.as_view(), name="api_flow_versions"),
    path(f"{_flow}sessions/", api.FlowSessionListApi.as_view(), name="api_flow_sessions"),
    path(f"{_flow}start/", api.FlowStartApi.as_view(), name="api_flow_start"),
]
