from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationsConfig(AppConfig):
    name = "automations"
    verbose_name = _("Automations")

    def ready(self) -> None:
        # Imported here, not at the top: models are not loaded before ready().
        from automations.audit import register_audit_display, register_auto_resolve_audit_display
        from automations.greeting_sender import SUBSCRIBER, message_received
        from automations.rules_engine import subscribe_all as rules_subscribe
        from conversations import events

        register_audit_display()
        register_auto_resolve_audit_display()
        events.subscribe(events.MessageReceived, message_received, name=SUBSCRIBER)
        rules_subscribe()
