"""Pages of bot flows (Settings → Bot flows), mounted under ``t/<slug:tenant_slug>/``."""

from django.urls import path

from flows import pages

urlpatterns = [
    path("settings/flows/", pages.flow_list_page, name="flow_list"),
    path("settings/flows/new/", pages.flow_create_page, name="flow_create"),
    path("settings/flows/install/", pages.flow_install_page, name="flow_install"),
    path("settings/flows/keys/", pages.flow_keys_page, name="flow_keys"),
    path("settings/flows/<int:flow_id>/", pages.flow_settings_page, name="flow_settings"),
    path("settings/flows/<int:flow_id>/delete/", pages.flow_delete_page, name="flow_delete"),
    path("settings/flows/<int:flow_id>/steps/", pages.flow_editor_page, name="flow_editor"),
    path("settings/flows/<int:flow_id>/preview/", pages.flow_preview_page, name="flow_preview"),
    path("settings/flows/<int:flow_id>/versions/<int:version>/", pages.flow_version_page, name="flow_version"),
    path("settings/flows/<int:flow_id>/test/", pages.flow_test_page, name="flow_test"),
    path("settings/flows/<int:flow_id>/sessions/", pages.flow_sessions_page, name="flow_sessions"),
]
