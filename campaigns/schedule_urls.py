from django.urls import path

from campaigns import schedule_pages

urlpatterns = [
    path("inbox/c/<int:display_id>/scheduled/new/", schedule_pages.schedule_page, name="scheduled_message_create"),
    path(
        "scheduled-messages/<int:scheduled_id>/cancel/",
        schedule_pages.scheduled_cancel_page,
        name="scheduled_message_cancel",
    ),
]
