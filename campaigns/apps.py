from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from campaigns import keywords
        from conversations import events

        events.subscribe(events.MessageReceived, keywords.message_received, name=keywords.SUBSCRIBER_KEYWORDS)
        events.subscribe(
            events.MarketingPreferenceReported, keywords.preference_reported, name=keywords.SUBSCRIBER_PREFERENCES
        )
