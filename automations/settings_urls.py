from django.urls import path

from automations import auto_resolve_pages, csat_pages, greeting_views
from automations import settings_views as views

urlpatterns = [
    path("settings/business-hours/", views.business_hours_list, name="business_hours_list"),
    path("settings/business-hours/new/", views.business_hours_create, name="business_hours_create"),
    path("settings/business-hours/<int:calendar_id>/", views.business_hours_edit, name="business_hours_edit"),
    path(
        "settings/business-hours/<int:calendar_id>/delete/",
        views.business_hours_delete,
        name="business_hours_delete",
    ),
    path("settings/greeting-away/", greeting_views.greeting_list, name="greeting_list"),
    path("settings/greeting-away/<int:inbox_id>/", greeting_views.greeting_edit, name="greeting_edit"),
    path("settings/auto-resolve/", auto_resolve_pages.auto_resolve_list, name="auto_resolve_list"),
    path("settings/auto-resolve/<int:inbox_id>/", auto_resolve_pages.auto_resolve_edit, name="auto_resolve_edit"),
    path("csat/", csat_pages.csat_report, name="csat_report"),
    path("settings/csat/", csat_pages.csat_settings_list, name="csat_settings_list"),
    path("settings/csat/<int:inbox_id>/", csat_pages.csat_settings_edit, name="csat_settings_edit"),
]
