from django.urls import path

from whatsapp import api

urlpatterns = [
    path("t/<slug:tenant_slug>/channels/", api.ChannelStatusApi.as_view(), name="api_channel_list"),
]
