"""Pages of consent, mounted under ``t/<slug:tenant_slug>/``."""

from django.urls import path

from campaigns import consent_pages

urlpatterns = [
    path("contacts/<int:contact_id>/consent/", consent_pages.contact_consent_page, name="contact_consent"),
    path(
        "contacts/<int:contact_id>/consent/record/",
        consent_pages.contact_consent_record_page,
        name="contact_consent_record",
    ),
    path("settings/consent/", consent_pages.consent_settings_page, name="consent_settings"),
    path("settings/consent/purposes/", consent_pages.consent_purpose_create_page, name="consent_purpose_create"),
    path(
        "settings/consent/purposes/<int:purpose_id>/",
        consent_pages.consent_purpose_edit_page,
        name="consent_purpose_edit",
    ),
    path(
        "settings/consent/purposes/<int:purpose_id>/delete/",
        consent_pages.consent_purpose_delete_page,
        name="consent_purpose_delete",
    ),
]
