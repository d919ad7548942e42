from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class AutomationsConfig(AppConfig):
    name = "automations"
    verbose_name = _("Automations")

    def ready(self) -> None:
        # Imported here, not at the top: models are not loaded before ready().
        from automations.models import BusinessCalendar
        from tenants import audit_display
        from tenants.models import AuditLogEntry

        Action = AuditLogEntry.Action
        audit_display.register_kind("calendar_mode", audit_display.choices_kind(BusinessCalendar.Mode.choices))
        audit_display.register_kind("inboxes", audit_display.as_written, empty=pgettext_lazy("inboxes", "none"))
        audit_display.register_kind("hours", audit_display.as_written, empty=pgettext_lazy("hours", "none"))
        audit_display.register_kind("dates", audit_display.as_written, empty=pgettext_lazy("dates", "none"))
        for action in (
            Action.BUSINESS_CALENDAR_CREATED,
            Action.BUSINESS_CALENDAR_CHANGED,
            Action.BUSINESS_CALENDAR_DELETED,
        ):
            audit_display.register_keys(
                {"mode": "calendar_mode", "hours": "hours", "dates": "dates", "inboxes": "inboxes"}, action=action
            )
            audit_display.register_labels(
                {
                    "time_zone": _("time zone"),
                    "mode": _("mode"),
                    "hours": _("weekly hours"),
                    "dates": _("own dates"),
                    "holidays": _("public holidays"),
                    "country": _("country"),
                    "subdivision": _("state or region"),
                    "inboxes": _("inboxes"),
                },
                action=action,
            )
