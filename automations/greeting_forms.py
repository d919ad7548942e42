"""The greeting and away form of one inbox: when each is sent, and its wording in each of the product's
languages (a blank wording: none in that language)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from automations.greeting_media import MEDIA_TYPES
from automations.greeting_services import (
    AFTER_DAYS_MAX,
    EVERY_HOURS_MAX,
    QUIET_MINUTES_MAX,
    GreetingSpec,
    text_languages,
)
from automations.greeting_texts import variables_list
from automations.models import AutomatedMessage, GreetingSettings
from conversations.services.customer_texts import BODY_MAX

Kind = AutomatedMessage.Kind


def _language_name(code: str) -> str:
    return str(dict(settings.LANGUAGES)[code])


class GreetingForm(forms.Form):
    greeting_enabled = forms.BooleanField(label=_("Send a greeting"), required=False)
    greeting_when = forms.ChoiceField(label=_("Greet"), choices=GreetingSettings.When.choices, widget=forms.RadioSelect)
    greeting_after_days = forms.IntegerField(
        label=_("Days without contact"),
        min_value=1,
        max_value=AFTER_DAYS_MAX,
        help_text=_("Days in which no message went either way, before a customer's message is greeted again."),
    )
    away_enabled = forms.BooleanField(label=_("Send an away message outside business hours"), required=False)
    away_every_hours = forms.IntegerField(
        label=_("At most once per conversation every (hours)"), min_value=1, max_value=EVERY_HOURS_MAX
    )
    away_agent_quiet_minutes = forms.IntegerField(
        label=_("Not within this many minutes of an agent's reply"),
        min_value=0,
        max_value=QUIET_MINUTES_MAX,
        help_text=_("0: send it even right after an agent replied."),
    )

    greeting_media = forms.FileField(
        label=_("File sent with the greeting"),
        required=False,
        help_text=_("Optional: a JPEG or PNG image (up to 5 MB), an MP4 video or a PDF (up to 16 MB)."),
        widget=forms.FileInput(attrs={"accept": ",".join(MEDIA_TYPES)}),
    )
    greeting_media_clear = forms.BooleanField(label=_("Send the greeting without its file"), required=False)
    away_media = forms.FileField(
        label=_("File sent with the away message"),
        required=False,
        help_text=_("Optional: a JPEG or PNG image (up to 5 MB), an MP4 video or a PDF (up to 16 MB)."),
        widget=forms.FileInput(attrs={"accept": ",".join(MEDIA_TYPES)}),
    )
    away_media_clear = forms.BooleanField(label=_("Send the away message without its file"), required=False)

    def __init__(self, *args: Any, spec: GreetingSpec, **kwargs: Any) -> None:
        kwargs.setdefault("initial", _initial(spec))
        super().__init__(*args, **kwargs)
        self.text_names: dict[str, list[str]] = {Kind.GREETING: [], Kind.AWAY: []}
        labels = {Kind.GREETING: _("Greeting in %(language)s"), Kind.AWAY: _("Away message in %(language)s")}
        for kind, label in labels.items():
            for code in text_languages():
                name = f"{kind}_text_{code}"
                self.fields[name] = forms.CharField(
                    label=label % {"language": _language_name(code)},
                    required=False,
                    max_length=BODY_MAX,
                    strip=False,
                    widget=forms.Textarea(attrs={"rows": 3, "lang": code}),
                    help_text=_("Variables: %(variables)s.") % {"variables": variables_list()},
                )
                self.text_names[kind].append(name)

    def texts(self, kind: str) -> list[forms.BoundField]:
        return [self[name] for name in self.text_names[kind]]

    # The template walks these.
    def greeting_text_fields(self) -> list[forms.BoundField]:
        return self.texts(Kind.GREETING)

    def away_text_fields(self) -> list[forms.BoundField]:
        return self.texts(Kind.AWAY)

    def spec(self) -> GreetingSpec:
        data = self.cleaned_data

        def texts(kind: str) -> dict[str, str]:
            return {code: data.get(f"{kind}_text_{code}") or "" for code in text_languages()}

        return GreetingSpec(
            greeting_enabled=data["greeting_enabled"],
            greeting_when=data["greeting_when"],
            greeting_after_days=data["greeting_after_days"],
            greeting_texts=texts(Kind.GREETING),
            away_enabled=data["away_enabled"],
            away_every_hours=data["away_every_hours"],
            away_agent_quiet_minutes=data["away_agent_quiet_minutes"],
            away_texts=texts(Kind.AWAY),
        )

    def media_changes(self) -> dict[str, Any]:
        """Message kind -> the new file, or None to send it without one; kinds left as they are are absent."""
        changes: dict[str, Any] = {}
        for kind in (Kind.GREETING, Kind.AWAY):
            upload = self.cleaned_data.get(f"{kind}_media")
            if upload:
                changes[kind] = upload
            elif self.cleaned_data.get(f"{kind}_media_clear"):
                changes[kind] = None
        return changes

    def add_service_error(self, field: str | None, language: str | None, message: str) -> None:
        """Show a service's refusal at its field: a wording's at the language it names."""
        target = field
        if field in ("greeting_texts", "away_texts"):
            kind = field.removesuffix("_texts")
            named = f"{kind}_text_{language}" if language else ""
            target = named if named in self.fields else self.text_names[kind][0]
        self.add_error(target if target in self.fields else None, message)


def _initial(spec: GreetingSpec) -> dict[str, Any]:
    initial: dict[str, Any] = {
        "greeting_enabled": spec.greeting_enabled,
        "greeting_when": spec.greeting_when,
        "greeting_after_days": spec.greeting_after_days,
        "away_enabled": spec.away_enabled,
        "away_every_hours": spec.away_every_hours,
        "away_agent_quiet_minutes": spec.away_agent_quiet_minutes,
    }
    for code in text_languages():
        initial[f"greeting_text_{code}"] = spec.greeting_texts.get(code, "")
        initial[f"away_text_{code}"] = spec.away_texts.get(code, "")
    return initial
