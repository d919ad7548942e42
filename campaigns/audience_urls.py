"""Pages of contact imports and segments (Campaigns), mounted under ``t/<slug:tenant_slug>/``."""

from django.urls import path

from campaigns import audience_pages

_import = "campaigns/contacts/import/<int:contact_import_id>/"
_segment = "campaigns/segments/<int:segment_id>/"

urlpatterns = [
    path("campaigns/contacts/import/", audience_pages.contact_import_page, name="contact_import"),
    path(_import, audience_pages.contact_import_detail_page, name="contact_import_detail"),
    path(f"{_import}progress/", audience_pages.contact_import_progress_page, name="contact_import_progress"),
    path(f"{_import}errors.csv", audience_pages.contact_import_errors_page, name="contact_import_errors"),
    path("campaigns/segments/", audience_pages.segment_list_page, name="segment_list"),
    path("campaigns/segments/new/", audience_pages.segment_create_page, name="segment_create"),
    path("campaigns/segments/count/", audience_pages.segment_count_page, name="segment_count"),
    path(_segment, audience_pages.segment_edit_page, name="segment_edit"),
    path(f"{_segment}delete/", audience_pages.segment_delete_page, name="segment_delete"),
]
