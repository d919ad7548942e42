from django.urls import path

from payments import webhooks

urlpatterns = [
    path("<str:webhook_key>/", webhooks.payments_webhook, name="payments_webhook"),
    # API Pix posts to the registered address plus "/pix" (BCB's callback: "{webhookUrl}/pix").
    path("<str:webhook_key>/pix", webhooks.payments_webhook, {"pix": True}, name="payments_webhook_pix"),
]
