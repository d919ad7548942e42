"""API of wa.me links and of the Sources report, mounted under ``api/v1/``."""

from django.urls import path

from flows import link_api

urlpatterns = [
    path("t/<slug:tenant_slug>/links/", link_api.EntryLinkListCreateApi.as_view(), name="api_entry_link_list"),
    path(
        "t/<slug:tenant_slug>/links/<int:link_id>/", link_api.EntryLinkDetailApi.as_view(), name="api_entry_link_detail"
    ),
    path("t/<slug:tenant_slug>/links/<int:link_id>/qr/", link_api.EntryLinkQrApi.as_view(), name="api_entry_link_qr"),
    path("t/<slug:tenant_slug>/sources/", link_api.SourcesReportApi.as_view(), name="api_sources_report"),
]
