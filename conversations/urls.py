from django.urls import path

from conversations import views

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/list/", views.inbox_list, name="inbox_list"),
    path("inbox/rows/", views.inbox_rows, name="inbox_rows"),
    path("inbox/notifications/", views.notifications, name="inbox_notifications"),
    path("inbox/notifications/read/", views.notifications_read, name="inbox_notifications_read"),
    path("inbox/c/<int:display_id>/", views.inbox, name="inbox_conversation"),
    path("inbox/c/<int:display_id>/pane/", views.conversation_pane, name="inbox_pane"),
    path("inbox/c/<int:display_id>/messages/", views.conversation_messages, name="inbox_messages"),
    path("inbox/c/<int:display_id>/sidebar/", views.conversation_sidebar, name="inbox_sidebar"),
    path("inbox/c/<int:display_id>/header/", views.conversation_header, name="inbox_header"),
    path("inbox/c/<int:display_id>/send/", views.conversation_send, name="inbox_send"),
    path("inbox/c/<int:display_id>/note/", views.conversation_note, name="inbox_note"),
    path("inbox/c/<int:display_id>/messages/<int:message_id>/react/", views.message_reaction, name="inbox_react"),
    path("inbox/c/<int:display_id>/quick-replies/", views.conversation_quick_replies, name="inbox_quick_replies"),
    path("inbox/c/<int:display_id>/templates/", views.conversation_templates, name="inbox_templates"),
    path("inbox/c/<int:display_id>/mentions/", views.mention_candidates, name="inbox_mentions"),
    path("inbox/c/<int:display_id>/products/", views.conversation_products, name="inbox_products"),
    path("inbox/c/<int:display_id>/contact/", views.contact_edit, name="inbox_contact_edit"),
    path("inbox/c/<int:display_id>/<str:action>/", views.conversation_action, name="inbox_action"),
]
