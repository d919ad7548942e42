"""WebSocket routes. Each app's consumers are listed here."""

from django.urls import path

from conversations.consumers import TenantEventsConsumer

websocket_urlpatterns = [
    path("ws/t/<slug:tenant_slug>/", TenantEventsConsumer.as_asgi()),
]
