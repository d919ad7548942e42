from django.urls import path

from conversations import api

urlpatterns = [
    path("t/<slug:tenant_slug>/conversations/", api.ConversationListApi.as_view(), name="api_conversation_list"),
    path(
        "t/<slug:tenant_slug>/conversations/<int:display_id>/messages/",
        api.MessageListCreateApi.as_view(),
        name="api_message_list",
    ),
]
