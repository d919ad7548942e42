from django.apps import AppConfig


class WhatsAppConfig(AppConfig):
    name = "whatsapp"
    label = "whatsapp"
    verbose_name = "WhatsApp Cloud API"

    def ready(self) -> None:
        from conversations import channels
        from whatsapp.backend import WhatsAppBackend

        channels.register(WhatsAppBackend())
