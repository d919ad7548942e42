from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationsConfig(AppConfig):
    name = "automations"
    verbose_name = _("Automations")

    def ready(self) -> None:
        # Imported here, not at the top: models are not loaded before ready().
        from automations import csat_sender, rules_engine, sla
        from automations.assignment import SUBSCRIPTIONS, SUBSCRIPTIONS_MANY
        from automations.audit import (
            register_assignment_audit_display,
            register_audit_display,
            register_auto_resolve_audit_display,
            register_csat_audit_display,
            register_sla_audit_display,
        )
        from automations.greeting_sender import SUBSCRIBER, messages_received
        from automations.rules_engine import subscribe_all as rules_subscribe
        from automations.sla import sla_subscribe
        from conversations import answers, events

        register_audit_display()
        register_auto_resolve_audit_display()
        register_assignment_audit_display()
        register_sla_audit_display()
        register_csat_audit_display()
        events.subscribe_many(events.MessageReceived, messages_received, name=SUBSCRIBER)
        sla_subscribe()
        for event_type, handler, name in SUBSCRIPTIONS:
            events.subscribe(event_type, handler, name=name)
        for event_type, handler, name in SUBSCRIPTIONS_MANY:
            events.subscribe_many(event_type, handler, name=name)
        events.subscribe(
            events.ConversationStatusChanged, csat_sender.conversation_resolved, name=csat_sender.SUBSCRIBER_RESOLVED
        )
        events.subscribe(
            events.ReplyWindowClosing, csat_sender.reply_window_closing, name=csat_sender.SUBSCRIBER_WINDOW
        )
        events.subscribe_many(events.MessageReceived, csat_sender.messages_received, name=csat_sender.SUBSCRIBER_ANSWER)
        answers.answer_keeper_register(csat_sender.KEEPER, csat_sender.answer_keep)
        rules_subscribe()
        # Automation rules on "SLA breached": called after each breach is recorded.
        if rules_engine.sla_breached not in sla.breach_listeners:
            sla.breach_listeners.append(rules_engine.sla_breached)
