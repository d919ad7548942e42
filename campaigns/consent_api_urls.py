"""API of contacts' consent, mounted under ``api/v1/``."""

from django.urls import path

from campaigns import consent_api

urlpatterns = [
    path(
        "t/<slug:tenant_slug>/contacts/<int:contact_id>/consent/",
        consent_api.ContactConsentApi.as_view(),
        name="api_contact_consent",
    ),
]
