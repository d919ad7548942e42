from django.urls import path

from conversations import settings_views as views

urlpatterns = [
    path("settings/labels/", views.label_list, name="label_list"),
    path("settings/labels/<int:label_id>/", views.label_edit, name="label_edit"),
    path("settings/labels/<int:label_id>/delete/", views.label_delete, name="label_delete"),
    path("settings/quick-replies/", views.quick_reply_list, name="quick_reply_list"),
    path("settings/quick-replies/<int:quick_reply_id>/", views.quick_reply_edit, name="quick_reply_edit"),
    path("settings/quick-replies/<int:quick_reply_id>/delete/", views.quick_reply_delete, name="quick_reply_delete"),
    path("settings/availability/", views.availability, name="availability_settings"),
    path("settings/event-deliveries/", views.event_delivery_list, name="event_delivery_list"),
    path(
        "settings/event-deliveries/<int:delivery_id>/retry/",
        views.event_delivery_retry,
        name="event_delivery_retry",
    ),
]
