from django.urls import path

from whatsapp import template_views, views

urlpatterns = [
    path("settings/whatsapp/", views.channel_list, name="channel_list"),
    path("settings/whatsapp/new/", views.channel_create, name="channel_create"),
    path("settings/whatsapp/<int:channel_id>/", views.channel_detail, name="channel_detail"),
    path("settings/whatsapp/<int:channel_id>/test/", views.channel_test, name="channel_test"),
    path("settings/whatsapp/<int:channel_id>/catalog/", views.channel_catalog, name="channel_catalog"),
    path(
        "settings/whatsapp/<int:channel_id>/sync-templates/",
        views.channel_sync_templates,
        name="channel_sync_templates",
    ),
    path(
        "settings/whatsapp/<int:channel_id>/templates/",
        template_views.template_list,
        name="channel_template_list",
    ),
    path(
        "settings/whatsapp/<int:channel_id>/templates/new/",
        template_views.template_create,
        name="channel_template_create",
    ),
    path(
        "settings/whatsapp/<int:channel_id>/templates/<int:template_id>/edit/",
        template_views.template_edit,
        name="channel_template_edit",
    ),
    path(
        "settings/whatsapp/<int:channel_id>/templates/<int:template_id>/delete/",
        template_views.template_delete,
        name="channel_template_delete",
    ),
    path("settings/webhook-events/", views.webhook_event_list, name="webhook_event_list"),
    path("settings/webhook-events/<int:event_id>/", views.webhook_event_detail, name="webhook_event_detail"),
    path(
        "settings/webhook-events/<int:event_id>/reprocess/",
        views.webhook_event_reprocess,
        name="webhook_event_reprocess",
    ),
]
