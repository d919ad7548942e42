from django.urls import path

from automations import api, greeting_api

_calendar = "t/<slug:tenant_slug>/business-hours/<int:calendar_id>/"

urlpatterns = [
    path("t/<slug:tenant_slug>/business-hours/", api.CalendarListCreateApi.as_view(), name="api_business_hours_list"),
    path(_calendar, api.CalendarDetailApi.as_view(), name="api_business_hours_detail"),
    path(f"{_calendar}status/", api.CalendarStatusApi.as_view(), name="api_business_hours_status"),
    path(
        "t/<slug:tenant_slug>/inboxes/<int:inbox_id>/greeting-away/",
        greeting_api.GreetingSettingsApi.as_view(),
        name="api_greeting_away",
    ),
]
