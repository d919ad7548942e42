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
        from tenants import audit_display
        from whatsapp.backend import WhatsAppBackend

        channels.register(WhatsAppBackend())
        audit_display.register_labels(
            {"phone_number_id": _("phone number ID"), "display_phone_number": _("phone number")}
        )
