from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WhatsAppConfig(AppConfig):
    name = "whatsapp"
    label = "whatsapp"
    verbose_name = _("WhatsApp Cloud API")

    def ready(self) -> None:
        # Imported here, not at the top: they import models, which are not loaded before ready().
        # whatsapp.tasks is imported in every process, not only in workers that autodiscover it:
        # services enqueue its tasks by name (whatsapp/coordination.py).
        import whatsapp.tasks  # noqa: F401
        from conversations import channels
        from whatsapp.backend import WhatsAppBackend

        channels.register(WhatsAppBackend())
