from django.urls import path

from conversations import api

_conversation = "t/<slug:tenant_slug>/conversations/<int:display_id>/"

urlpatterns = [
    path("t/<slug:tenant_slug>/conversations/", api.ConversationListApi.as_view(), name="api_conversation_list"),
    path(f"{_conversation}messages/", api.MessageListCreateApi.as_view(), name="api_message_list"),
    path(f"{_conversation}assignee/", api.ConversationAssigneeApi.as_view(), name="api_conversation_assignee"),
    path(f"{_conversation}team/", api.ConversationTeamApi.as_view(), name="api_conversation_team"),
    path(f"{_conversation}status/", api.ConversationStatusApi.as_view(), name="api_conversation_status"),
    path(f"{_conversation}muted/", api.ConversationMutedApi.as_view(), name="api_conversation_muted"),
    path(f"{_conversation}priority/", api.ConversationPriorityApi.as_view(), name="api_conversation_priority"),
    path(f"{_conversation}labels/", api.ConversationLabelListAddApi.as_view(), name="api_conversation_labels"),
    path(
        f"{_conversation}labels/<int:label_id>/",
        api.ConversationLabelRemoveApi.as_view(),
        name="api_conversation_label_remove",
    ),
    path(f"{_conversation}notes/", api.ConversationNoteCreateApi.as_view(), name="api_conversation_notes"),
    path(f"{_conversation}read/", api.ConversationReadApi.as_view(), name="api_conversation_read"),
    path(
        "t/<slug:tenant_slug>/attachments/<int:attachment_id>/",
        api.AttachmentDownloadApi.as_view(),
        name="api_attachment_download",
    ),
    path("t/<slug:tenant_slug>/labels/", api.LabelListApi.as_view(), name="api_label_list"),
    path("t/<slug:tenant_slug>/quick-replies/", api.QuickReplyListCreateApi.as_view(), name="api_quick_reply_list"),
    path(
        "t/<slug:tenant_slug>/quick-replies/<int:quick_reply_id>/",
        api.QuickReplyDetailApi.as_view(),
        name="api_quick_reply_detail",
    ),
    path("t/<slug:tenant_slug>/contacts/<int:contact_id>/", api.ContactDetailApi.as_view(), name="api_contact_detail"),
]
