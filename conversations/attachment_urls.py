from django.urls import path

from conversations import attachment_views

urlpatterns = [
    path(
        "inbox/attachments/<int:attachment_id>/",
        attachment_views.attachment_download,
        name="attachment_download",
    ),
]
