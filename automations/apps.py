from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationsConfig(AppConfig):
    name = "automations"
    verbose_name = _("Automations")

    def ready(self) -> None:
        # Imported here, not at the top: models are not loaded before ready().
        from automations.assignment import SUBSCRIPTIONS
        from automations.audit import (
            register_assignment_audit_display,
            register_audit_display,
            register_auto_resolve_audit_display,
            register_sla_audit_display,
        )
        from automations.greeting_sender import SUBSCRIBER, message_received
        from automations.sla import sla_subscribe
        from conversations import events

        register_audit_display()
        register_auto_resolve_audit_display()
        register_assignment_audit_display()
        register_sla_audit_display()
        events.subscribe(events.MessageReceived, message_received, name=SUBSCRIBER)
        sla_subscribe()
        for event_type, handler, name in SUBSCRIPTIONS:
            events.subscribe(event_type, handler, name=name)  # type: ignore[arg-type]
