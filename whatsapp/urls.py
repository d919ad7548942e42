from django.urls import path

from whatsapp import webhooks

urlpatterns = [
    path("whatsapp/<str:webhook_key>/", webhooks.whatsapp_webhook, name="whatsapp_webhook"),
]
