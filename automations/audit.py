"""How the audit log shows automations' entries: a calendar's stored codes ("mon 09:00-12:00", "2026-12-24
closed") in the viewer's words ("Monday 09:00 to 12:00", "Dec. 24, 2026: closed all day"), an inbox's
auto-resolve ("on", 24 hours, the closing message's languages), and its greeting and away settings ("on",
"off", the languages by name)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time
from typing import Any

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from automations.models import BusinessCalendar, CsatSettings, GreetingSettings, SlaMetric, Weekday
from automations.services import WEEKDAY_CODES
from tenants import audit_display
from tenants.models import AuditLogEntry

Action = AuditLogEntry.Action
ACTIONS = (Action.BUSINESS_CALENDAR_CREATED, Action.BUSINESS_CALENDAR_CHANGED, Action.BUSINESS_CALENDAR_DELETED)
LABELS = {
    "time_zone": gettext_lazy("time zone"),
    "mode": gettext_lazy("mode"),
    "hours": gettext_lazy("weekly hours"),
    "dates": gettext_lazy("own dates"),
    "holidays": gettext_lazy("public holidays"),
    "country": gettext_lazy("country"),
    "subdivision": gettext_lazy("state or region"),
    "inbox_ids": gettext_lazy("inboxes"),
}
AUTO_RESOLVE_LABELS = {
    "enabled": gettext_lazy("auto-resolve"),
    "after_hours": gettext_lazy("hours without customer activity"),
    "label": gettext_lazy("label to add"),
    "include_waiting": gettext_lazy("conversations waiting for an agent"),
    "closing_message": gettext_lazy("closing message languages"),
    "closing_message_reworded": gettext_lazy("closing message reworded in"),
}
AUTO_RESOLVE_SWITCH = (
    ("on", pgettext_lazy("auto-resolve", "on")),
    ("off", pgettext_lazy("auto-resolve", "off")),
)
HOLIDAYS_SWITCH = (
    ("on", pgettext_lazy("public holidays", "closed on them")),
    ("off", pgettext_lazy("public holidays", "ignored")),
)


def _span(text: str) -> str | None:
    start, _sep, end = text.partition("-")
    try:
        opens, closes = time.fromisoformat(start), time.fromisoformat(end)
    except ValueError:
        return None
    return _("%(start)s to %(end)s") % {
        "start": formats.time_format(opens, "TIME_FORMAT"),
        "end": formats.time_format(closes, "TIME_FORMAT"),
    }


def _hours(_tenant_id: int, values: set[Any]) -> Mapping[Any, str]:
    shown = {}
    for value in values:
        code, _sep, span = str(value).partition(" ")
        text = _span(span)
        if code in WEEKDAY_CODES and text is not None:
            shown[value] = f"{Weekday(WEEKDAY_CODES.index(code)).label} {text}"
    return shown


def _dates(_tenant_id: int, values: set[Any]) -> Mapping[Any, str]:
    shown = {}
    for value in values:
        day, *spans = str(value).split(" ")
        try:
            when = formats.date_format(date.fromisoformat(day), "DATE_FORMAT")
        except ValueError:
            continue
        if spans == ["closed"]:
            shown[value] = _("%(date)s: closed all day") % {"date": when}
        elif all(_span(span) is not None for span in spans):
            shown[value] = _("%(date)s: %(hours)s") % {
                "date": when,
                "hours": ", ".join(str(_span(span)) for span in spans),
            }
    return shown


def register_audit_display() -> None:
    audit_display.register_kind("calendar_mode", audit_display.choices_kind(BusinessCalendar.Mode.choices))
    audit_display.register_kind("calendar_holidays", audit_display.choices_kind(HOLIDAYS_SWITCH))
    audit_display.register_kind("calendar_hours", _hours, empty=pgettext_lazy("hours", "none"))
    audit_display.register_kind("calendar_dates", _dates, empty=pgettext_lazy("dates", "none"))
    keys = {
        "mode": "calendar_mode",
        "holidays": "calendar_holidays",
        "hours": "calendar_hours",
        "dates": "calendar_dates",
        "inbox_ids": "inbox",
    }
    for action in ACTIONS:
        audit_display.register_keys(keys, action=action)
        audit_display.register_labels(LABELS, action=action)
    _register_greeting_display()


SWITCH = (("on", pgettext_lazy("switch", "on")), ("off", pgettext_lazy("switch", "off")))
GREETING_LABELS = {
    "greeting": gettext_lazy("greeting"),
    "greeting_when": gettext_lazy("greet on"),
    "greeting_after_days": gettext_lazy("days without contact"),
    "greeting_languages": gettext_lazy("greeting languages"),
    "greeting_wording": gettext_lazy("greeting wording changed"),
    "away": gettext_lazy("away message"),
    "away_every_hours": gettext_lazy("hours between away messages"),
    "away_agent_quiet_minutes": gettext_lazy("minutes after an agent's reply"),
    "away_languages": gettext_lazy("away message languages"),
    "away_wording": gettext_lazy("away message wording changed"),
}


def _register_greeting_display() -> None:
    action = Action.GREETING_SETTINGS_CHANGED
    audit_display.register_kind("switch", audit_display.choices_kind(SWITCH))
    audit_display.register_kind("greeting_when", audit_display.choices_kind(GreetingSettings.When.choices))
    keys = {"greeting": "switch", "away": "switch", "greeting_when": "greeting_when"}
    keys |= {key: "language" for key in ("greeting_languages", "away_languages", "greeting_wording", "away_wording")}
    audit_display.register_keys(keys, action=action)
    audit_display.register_labels(GREETING_LABELS, action=action)


def register_auto_resolve_audit_display() -> None:
    audit_display.register_kind("auto_resolve_switch", audit_display.choices_kind(AUTO_RESOLVE_SWITCH))
    keys = {
        "enabled": "auto_resolve_switch",
        "include_waiting": "auto_resolve_switch",
        "label": "label",
        "closing_message": "language",
        "closing_message_reworded": "language",
    }
    audit_display.register_keys(keys, action=Action.AUTO_RESOLVE_CHANGED)
    audit_display.register_labels(AUTO_RESOLVE_LABELS, action=Action.AUTO_RESOLVE_CHANGED)


ASSIGNMENT_LABELS = {
    "enabled": gettext_lazy("auto-assignment"),
    "method": gettext_lazy("method"),
    "capacity": gettext_lazy("open conversations per agent"),
    "team_id": gettext_lazy("team queue"),
    "reassign_on_offline": gettext_lazy("reassign when the agent goes offline"),
    "agent_capacities": gettext_lazy("agents' own capacity changed"),
    "overall_capacities": gettext_lazy("agents' overall capacity changed"),
}
ASSIGNMENT_SWITCH = (
    ("on", pgettext_lazy("auto-assignment", "on")),
    ("off", pgettext_lazy("auto-assignment", "off")),
)
TEAM_LABELS = {
    "members": gettext_lazy("members"),
    "members_added": gettext_lazy("members added"),
    "members_removed": gettext_lazy("members removed"),
    "supervisors": gettext_lazy("supervisors"),
    "calendar": gettext_lazy("business hours"),
}


def register_assignment_audit_display() -> None:
    from automations.models import AssignmentPolicy

    audit_display.register_kind("assignment_switch", audit_display.choices_kind(ASSIGNMENT_SWITCH))
    audit_display.register_kind("assignment_method", audit_display.choices_kind(AssignmentPolicy.Method.choices))
    keys = {
        "enabled": "assignment_switch",
        "reassign_on_offline": "assignment_switch",
        "method": "assignment_method",
        "team_id": "team",
        "agent_capacities": "user",
        "overall_capacities": "user",
    }
    audit_display.register_keys(keys, action=Action.ASSIGNMENT_POLICY_CHANGED)
    audit_display.register_labels(ASSIGNMENT_LABELS, action=Action.ASSIGNMENT_POLICY_CHANGED)
    for action in (Action.TEAM_CREATED, Action.TEAM_CHANGED, Action.TEAM_DELETED):
        users = {"members": "user", "members_added": "user", "members_removed": "user", "supervisors": "user"}
        audit_display.register_keys(users, action=action)
        audit_display.register_labels(TEAM_LABELS, action=action)


SLA_LABELS = {
    "name": gettext_lazy("name"),
    "enabled": gettext_lazy("active"),
    "position": gettext_lazy("order"),
    "first_response_minutes": gettext_lazy("first response (minutes)"),
    "next_response_minutes": gettext_lazy("next response (minutes)"),
    "resolution_minutes": gettext_lazy("resolution (minutes)"),
    "business_hours_only": gettext_lazy("count business hours only"),
    "inbox_ids": gettext_lazy("inboxes"),
    "label_ids": gettext_lazy("labels"),
    "priorities": gettext_lazy("priorities"),
    "metric": gettext_lazy("metric"),
    "policy": gettext_lazy("SLA policy"),
    "due_at": gettext_lazy("due at"),
}
SLA_ACTIONS = (
    Action.SLA_POLICY_CREATED,
    Action.SLA_POLICY_CHANGED,
    Action.SLA_POLICY_DELETED,
    Action.SLA_BREACHED,
)


def register_sla_audit_display() -> None:
    audit_display.register_kind("sla_metric", audit_display.choices_kind(SlaMetric.choices))
    keys = {
        "enabled": "switch",
        "business_hours_only": "switch",
        "inbox_ids": "inbox",
        "priorities": "conversation_priority",
        "metric": "sla_metric",
        "due_at": "moment",
    }
    for action in SLA_ACTIONS:
        audit_display.register_keys(keys, action=action)
        audit_display.register_labels(SLA_LABELS, action=action)


CSAT_LABELS = {
    "enabled": gettext_lazy("satisfaction survey"),
    "style": gettext_lazy("format"),
    "send_on_resolve": gettext_lazy("send when resolved"),
    "send_before_window_closes": gettext_lazy("send before the reply window closes"),
    "ask_comment": gettext_lazy("ask for a comment"),
    "comment_minutes": gettext_lazy("minutes to write the comment"),
    "template": gettext_lazy("template when the window is closed"),
    "reworded": gettext_lazy("texts reworded"),
}


def register_csat_audit_display() -> None:
    audit_display.register_kind("csat_style", audit_display.choices_kind(CsatSettings.Style.choices))
    keys = {
        "enabled": "switch",
        "send_on_resolve": "switch",
        "send_before_window_closes": "switch",
        "ask_comment": "switch",
        "style": "csat_style",
    }
    audit_display.register_keys(keys, action=Action.CSAT_SETTINGS_CHANGED)
    audit_display.register_labels(CSAT_LABELS, action=Action.CSAT_SETTINGS_CHANGED)
