from django.urls import path

from campaigns import schedule_api

_base = "t/<slug:tenant_slug>/scheduled-messages/"

urlpatterns = [
    path(_base, schedule_api.ScheduledMessageListCreateApi.as_view(), name="api_scheduled_message_list"),
    path(
        f"{_base}<int:scheduled_id>/",
        schedule_api.ScheduledMessageDetailApi.as_view(),
        name="api_scheduled_message_detail",
    ),
    path(
        f"{_base}<int:scheduled_id>/cancel/",
        schedule_api.ScheduledMessageCancelApi.as_view(),
        name="api_scheduled_message_cancel",
    ),
]
