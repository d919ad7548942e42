from django.urls import path

from whatsapp import api, template_api

urlpatterns = [
    path("t/<slug:tenant_slug>/channels/", api.ChannelStatusApi.as_view(), name="api_channel_list"),
    path(
        "t/<slug:tenant_slug>/channels/<int:channel_id>/templates/",
        template_api.ChannelTemplateListApi.as_view(),
        name="api_channel_template_list",
    ),
    path(
        "t/<slug:tenant_slug>/channels/<int:channel_id>/templates/<int:template_id>/",
        template_api.ChannelTemplateDetailApi.as_view(),
        name="api_channel_template_detail",
    ),
]
