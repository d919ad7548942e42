"""API of broadcasts and message prices, mounted under ``api/v1/``."""

from django.urls import path

from campaigns import broadcast_api as api

_one = "t/<slug:tenant_slug>/broadcasts/<int:broadcast_id>/"

urlpatterns = [
    path("t/<slug:tenant_slug>/broadcasts/", api.BroadcastListCreateApi.as_view(), name="api_broadcast_list"),
    path(_one, api.BroadcastDetailApi.as_view(), name="api_broadcast_detail"),
    path(f"{_one}start/", api.BroadcastStartApi.as_view(), name="api_broadcast_start"),
    path(f"{_one}pause/", api.BroadcastPauseApi.as_view(), name="api_broadcast_pause"),
    path(f"{_one}resume/", api.BroadcastResumeApi.as_view(), name="api_broadcast_resume"),
    path(f"{_one}cancel/", api.BroadcastCancelApi.as_view(), name="api_broadcast_cancel"),
    path(f"{_one}stats/", api.BroadcastStatsApi.as_view(), name="api_broadcast_stats"),
    path(f"{_one}recipients.csv", api.BroadcastRecipientsCsvApi.as_view(), name="api_broadcast_recipients_csv"),
    path("t/<slug:tenant_slug>/message-prices/", api.MessagePricesApi.as_view(), name="api_message_prices"),
]
