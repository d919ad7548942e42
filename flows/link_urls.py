"""Pages of wa.me links and of the Sources report, mounted under ``t/<slug:tenant_slug>/``."""

from django.urls import path

from flows import link_pages

urlpatterns = [
    path("settings/links/", link_pages.entry_link_list_page, name="entry_link_list"),
    path("settings/links/new/", link_pages.entry_link_create_page, name="entry_link_create"),
    path("settings/links/<int:link_id>/", link_pages.entry_link_edit_page, name="entry_link_edit"),
    path("settings/links/<int:link_id>/archive/", link_pages.entry_link_archive_page, name="entry_link_archive"),
    path("settings/links/<int:link_id>/qr/", link_pages.entry_link_qr_page, name="entry_link_qr"),
    path("sources/", link_pages.sources_report_page, name="sources_report"),
]
