"""WSGI entry point (HTTP only; the product is served through ``asgi.py``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings.local")

application = get_wsgi_application()
