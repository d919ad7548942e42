from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from campaigns import keywords, sending
        from campaigns.consent_audit import register_consent_audit_display
        from campaigns.consent_pages import contact_consent_section
        from campaigns.schedule_pages import schedule_composer_action, scheduled_section
        from conversations import events, extensions

        extensions.contact_section_register("campaigns.consent", contact_consent_section)
        register_consent_audit_display()
        extensions.contact_section_register("campaigns.scheduled", scheduled_section)
        extensions.composer_action_register("campaigns.schedule", schedule_composer_action)

        events.subscribe(events.MessageReceived, keywords.message_received, name=keywords.SUBSCRIBER_KEYWORDS)
        events.subscribe(
            events.MarketingPreferenceReported, keywords.preference_reported, name=keywords.SUBSCRIBER_PREFERENCES
        )
        # A broadcast's messages are an automation's: agents' replies get no delivery here.
        events.subscribe_many(
            events.MessageStatusChanged,
            sending.message_statuses_apply,
            name=sending.SUBSCRIBER_STATUSES,
            when=events.MessageStatusChanged.of_automation,
        )
        events.subscribe_many(events.MessageReceived, sending.replies_record, name=sending.SUBSCRIBER_REPLIES)

        from campaigns import tasks  # noqa: F401  (registers the jobs with Celery in every process)
