"""ASGI entry point: HTTP through Django, WebSockets through Channels with session auth."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings.local")

django.setup(set_prefix=False)

from helpdesk.handlers import SyncStackASGIHandler  # noqa: E402

django_asgi_app = SyncStackASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from helpdesk.fast_posts import FastPostReceiver  # noqa: E402
from helpdesk.routing import websocket_urlpatterns  # noqa: E402
from payments.asgi import ROUTES as PAYMENT_WEBHOOKS  # noqa: E402
from whatsapp.asgi import ROUTES as WHATSAPP_WEBHOOKS  # noqa: E402

if os.environ.get("HELPDESK_EMBEDDED_BEAT") == "1":
    from helpdesk.embedded_beat import start as start_embedded_beat

    start_embedded_beat()

application = ProtocolTypeRouter(
    {
        # Webhook POSTs skip Django's request handling; everything else goes through it.
        "http": FastPostReceiver(django_asgi_app, {**WHATSAPP_WEBHOOKS, **PAYMENT_WEBHOOKS}),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
