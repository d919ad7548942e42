"""API of segments, mounted under ``api/v1/``."""

from django.urls import path

from campaigns import audience_api

_segment = "t/<slug:tenant_slug>/segments/<int:segment_id>/"

urlpatterns = [
    path("t/<slug:tenant_slug>/segments/", audience_api.SegmentListCreateApi.as_view(), name="api_segment_list"),
    path(
        "t/<slug:tenant_slug>/segments/preview/",
        audience_api.SegmentPreviewApi.as_view(),
        name="api_segment_preview",
    ),
    path(_segment, audience_api.SegmentDetailApi.as_view(), name="api_segment_detail"),
    path(f"{_segment}count/", audience_api.SegmentCountApi.as_view(), name="api_segment_count"),
    path(f"{_segment}contacts/", audience_api.SegmentContactsApi.as_view(), name="api_segment_contacts"),
]
