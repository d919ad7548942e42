from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FlowsConfig(AppConfig):
    name = "flows"
    verbose_name = _("Bot flows")

    def ready(self) -> None:
        from conversations import events, extensions
        from flows import runtime, tasks  # noqa: F401  (registers the jobs with Celery in every process)
        from flows.audit import register_link_audit_display
        from flows.cards import answer_cards
        from flows.triggers import bot_hold

        register_link_audit_display()
        extensions.card_provider_register("flows.answers", answer_cards)
        extensions.bot_hold_register("flows", bot_hold)

        events.subscribe(events.MessageReceived, runtime.message_received, name=runtime.SUBSCRIBER_INPUTS)
        events.subscribe(events.PaymentConfirmed, runtime.payment_confirmed, name=runtime.SUBSCRIBER_PAID)
        events.subscribe(
            events.MessageSent, runtime.agent_replied, name=runtime.SUBSCRIBER_AGENT, when=events.MessageSent.by_agent
        )
