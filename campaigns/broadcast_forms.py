"""The forms of broadcasts: a draft (name, inbox, template, audience, what fills each template parameter,
consent, schedule, quiet hours) and the table of message prices. They read what people type; the rules are
``campaigns.broadcasts``' and ``campaigns.prices``' (their errors come back onto the fields)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.utils.translation import gettext_lazy, pgettext_lazy

from campaigns.broadcasts import (
    AUDIENCE_MAX_BYTES,
    BroadcastSpec,
    Parameter,
    audience_columns,
    inbox_templates,
    template_parameters,
)
from campaigns.consent import consent_purpose_list, purpose_label
from campaigns.models import Broadcast, Segment
from campaigns.prices import CATEGORIES, CATEGORY_LABELS, OTHER, PriceRow, country_label, price_input, price_parse
from conversations.models import Inbox
from helpdesk.exceptions import ApplicationError, ValidationFailed
from tenants.models import Tenant

SOURCES = [
    ("name", gettext_lazy("Contact's name")),
    ("phone", gettext_lazy("Contact's phone number")),
    ("attr", gettext_lazy("Contact attribute")),
    ("column", gettext_lazy("Column of the file")),
    ("value", gettext_lazy("Fixed text")),
]


def template_key(template: Mapping[str, Any]) -> str:
    return f"{template['name']}|{template['language']}"


def variable_field(key: str) -> str:
    """The form field of a template parameter: ``body.1`` → ``var_body_1``."""
    return "var_" + key.replace(".", "_")


class BroadcastForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    inbox = forms.ChoiceField(label=gettext_lazy("Inbox"), help_text=gettext_lazy("The number it is sent from."))
    template = forms.ChoiceField(label=gettext_lazy("Template"))
    audience = forms.ChoiceField(
        label=gettext_lazy("Audience"),
        choices=[("segment", gettext_lazy("A segment of contacts")), ("csv", gettext_lazy("A CSV file"))],
        widget=forms.RadioSelect,
        initial="segment",
    )
    segment = forms.ChoiceField(label=gettext_lazy("Segment"), required=False)
    audience_file = forms.FileField(
        label=gettext_lazy("CSV file"),
        required=False,
        help_text=gettext_lazy(
            "UTF-8, its first line names the columns: a “phone” column (with the country code) and any values "
            "the template uses. At most 5 MB and 100,000 recipients."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    consent_purpose = forms.ChoiceField(
        label=gettext_lazy("Consent"),
        required=False,
        help_text=gettext_lazy(
            "Only contacts who agreed to this purpose receive it. Marketing templates always need marketing consent."
        ),
    )
    send = forms.ChoiceField(
        label=gettext_lazy("When"),
        choices=[("now", gettext_lazy("When I start it")), ("later", gettext_lazy("At a set time"))],
        widget=forms.RadioSelect,
        initial="now",
    )
    send_date = forms.DateField(
        label=gettext_lazy("Date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    send_time = forms.TimeField(
        label=gettext_lazy("Time"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    quiet_start = forms.TimeField(
        label=gettext_lazy("Quiet from"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    quiet_end = forms.TimeField(
        label=gettext_lazy("Quiet until"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )

    def __init__(
        self,
        *args: Any,
        tenant: Tenant,
        zone: ZoneInfo,
        broadcast: Broadcast | None = None,
        **kwargs: Any,
    ) -> None:
        if broadcast is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_of(broadcast, zone)
        super().__init__(*args, **kwargs)
        self.tenant, self.zone, self.broadcast = tenant, zone, broadcast
        inboxes = list(Inbox.objects.filter(tenant=tenant).order_by("name", "id"))
        self.fields["inbox"].choices = [(str(i.pk), i.name) for i in inboxes]  # type: ignore[attr-defined]
        chosen = str(self._value("inbox") or (inboxes[0].pk if inboxes else ""))
        self.chosen_inbox: Inbox | None = next(
            (i for i in inboxes if str(i.pk) == chosen), inboxes[0] if inboxes else None
        )
        self.templates = inbox_templates(self.chosen_inbox) if self.chosen_inbox is not None else []
        self.fields["template"].choices = [("", pgettext_lazy("template", "Choose one"))] + [  # type: ignore[attr-defined]
            (template_key(t), f"{t['name']} ({t['language']})") for t in self.templates
        ]
        self.chosen_template: dict[str, Any] | None = next(
            (t for t in self.templates if template_key(t) == self._value("template")), None
        )
        segments = Segment.objects.filter(tenant=tenant).order_by("name", "id")
        self.fields["segment"].choices = [("", pgettext_lazy("segment", "Choose one"))] + [  # type: ignore[attr-defined]
            (str(s.pk), s.name) for s in segments
        ]
        self.fields["consent_purpose"].choices = [("", pgettext_lazy("consent purpose", "None"))] + [  # type: ignore[attr-defined]
            (str(p.pk), purpose_label(p)) for p in consent_purpose_list(tenant_id=tenant.pk)
        ]
        self.parameters: list[Parameter] = template_parameters(self.chosen_template) if self.chosen_template else []
        for param in self.parameters:
            name = variable_field(param.key)
            self.fields[f"{name}_source"] = forms.ChoiceField(label=param.label, choices=SOURCES, initial="name")
            self.fields[f"{name}_detail"] = forms.CharField(
                label=gettext_lazy("Attribute, column or text"), required=False, max_length=1024
            )
            self.fields[f"{name}_fallback"] = forms.CharField(
                label=gettext_lazy("If empty"), required=False, max_length=1024
            )
        self.file_columns = audience_columns(broadcast) if broadcast is not None and broadcast.audience_file else []

    def _value(self, name: str) -> Any:
        if self.is_bound:
            return self.data.get(name)
        value = self.initial.get(name)
        return value if value is not None else self.fields[name].initial if name in self.fields else None

    @staticmethod
    def initial_of(broadcast: Broadcast, zone: ZoneInfo) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "name": broadcast.name,
            "inbox": str(broadcast.inbox_id),
            "template": f"{broadcast.template_name}|{broadcast.template_language}",
            "audience": "csv" if broadcast.audience_file else "segment",
            "segment": str(broadcast.segment_id or ""),
            "consent_purpose": str(broadcast.consent_purpose_id or ""),
            "send": "later" if broadcast.scheduled_at else "now",
            "quiet_start": broadcast.quiet_start,
            "quiet_end": broadcast.quiet_end,
        }
        if broadcast.scheduled_at is not None:
            local = broadcast.scheduled_at.astimezone(zone)
            initial["send_date"], initial["send_time"] = local.date(), local.time().replace(second=0, microsecond=0)
        for key, mapping in (broadcast.variables or {}).items():
            name = variable_field(key)
            if "value" in mapping:
                initial[f"{name}_source"], initial[f"{name}_detail"] = "value", mapping["value"]
                continue
            source = str(mapping.get("attribute", ""))
            if source.startswith("attr:"):
                initial[f"{name}_source"], initial[f"{name}_detail"] = "attr", source[5:]
            elif source.startswith("column:"):
                initial[f"{name}_source"], initial[f"{name}_detail"] = "column", source[7:]
            else:
                initial[f"{name}_source"] = source
            initial[f"{name}_fallback"] = mapping.get("fallback", "")
        return initial

    def variable_rows(self) -> list[dict[str, Any]]:
        """Each parameter's three fields, for the template."""
        rows = []
        for param in self.parameters:
            name = variable_field(param.key)
            rows.append(
                {
                    "parameter": param,
                    "source": self[f"{name}_source"],
                    "detail": self[f"{name}_detail"],
                    "fallback": self[f"{name}_fallback"],
                }
            )
        return rows

    def clean_audience_file(self) -> Any:
        upload = self.cleaned_data.get("audience_file")
        if upload and upload.size > AUDIENCE_MAX_BYTES:
            raise forms.ValidationError(
                gettext_lazy("The file is larger than %(max)s MB."), params={"max": AUDIENCE_MAX_BYTES // (1024 * 1024)}
            )
        return upload

    def variables(self) -> dict[str, Any]:
        """What fills each parameter, as typed (the service checks it)."""
        found: dict[str, Any] = {}
        for param in self.parameters:
            name = variable_field(param.key)
            source = str(self._value(f"{name}_source") or "")
            detail = str(self._value(f"{name}_detail") or "").strip()
            fallback = str(self._value(f"{name}_fallback") or "").strip()
            if source == "value":
                found[param.key] = {"value": detail}
                continue
            attribute = {"attr": f"attr:{detail}", "column": f"column:{detail}"}.get(source, source)
            found[param.key] = {"attribute": attribute, **({"fallback": fallback} if fallback else {})}
        return found

    def spec(self) -> tuple[BroadcastSpec, bytes | None, str]:
        """The draft as the service takes it, with the uploaded file's bytes and name (None: no new file)."""
        data = self.cleaned_data
        template_name, _sep, language = (data.get("template") or "").partition("|")
        if not template_name:
            raise ValidationFailed(str(gettext_lazy("Choose a template.")), details={"field": "template"})
        upload = data.get("audience_file") if data.get("audience") == "csv" else None
        content = upload.read() if upload else None
        segment_id = None
        if data.get("audience") == "segment":
            if not data.get("segment"):
                raise ValidationFailed(str(gettext_lazy("Choose a segment.")), details={"field": "segment_id"})
            segment_id = int(data["segment"])
        elif content is None and not (self.broadcast is not None and self.broadcast.audience_file):
            raise ValidationFailed(str(gettext_lazy("Upload a CSV file.")), details={"field": "audience_file"})
        scheduled_at = None
        if data.get("send") == "later":
            if data.get("send_date") is None or data.get("send_time") is None:
                raise ValidationFailed(
                    str(gettext_lazy("Give the date and time to send it.")), details={"field": "scheduled_at"}
                )
            scheduled_at = datetime.combine(data["send_date"], data["send_time"], tzinfo=self.zone)
        spec = BroadcastSpec(
            name=data.get("name") or "",
            inbox_id=int(data["inbox"]),
            template_name=template_name,
            template_language=language,
            segment_id=segment_id,
            variables=self.variables(),
            consent_purpose_id=int(data["consent_purpose"]) if data.get("consent_purpose") else None,
            scheduled_at=scheduled_at,
            quiet_start=data.get("quiet_start"),
            quiet_end=data.get("quiet_end"),
        )
        return spec, content, upload.name if upload else ""

    FIELD_OF = {
        "inbox_id": "inbox",
        "segment_id": "segment",
        "consent_purpose_id": "consent_purpose",
        "scheduled_at": "send_date",
        "quiet_hours": "quiet_start",
    }

    def add_service_error(self, exc: ApplicationError) -> None:
        name = str(exc.details.get("field", "")) if isinstance(exc.details, dict) else ""
        if name.startswith("variables."):
            name = f"{variable_field(name[len('variables.') :])}_source"
        name = self.FIELD_OF.get(name, name)
        if name == "audience" or (name == "audience_file" and self.data.get("audience") != "csv"):
            name = "audience"
        self.add_error(name if name in self.fields else None, exc.message)


# --- message prices ----------------------------------------------------------------------------------------------


class PriceRowForm(forms.Form):
    country = forms.ChoiceField(label=gettext_lazy("Country"), required=False)
    category = forms.ChoiceField(label=gettext_lazy("Category"), required=False)
    price = forms.CharField(label=gettext_lazy("Price per 1,000 messages"), required=False, max_length=20)
    currency = forms.CharField(label=gettext_lazy("Currency"), required=False, max_length=3, initial="USD")
    delete = forms.BooleanField(label=gettext_lazy("Remove"), required=False)

    def __init__(self, *args: Any, countries: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = [("", "—"), *countries]  # type: ignore[attr-defined]
        self.fields["category"].choices = [("", "—")] + [(c, CATEGORY_LABELS[c]) for c in CATEGORIES]  # type: ignore[attr-defined]

    def row(self) -> PriceRow | None:
        data = self.cleaned_data
        if data.get("delete") or not (data.get("country") or data.get("price")):
            return None
        if not data.get("country"):
            raise ValidationFailed(str(gettext_lazy("Choose a country.")), details={"field": "country"})
        if not data.get("category"):
            raise ValidationFailed(str(gettext_lazy("Choose a category.")), details={"field": "category"})
        currency = (data.get("currency") or "USD").strip().upper()
        try:
            price = price_parse(data.get("price") or "", currency=currency if len(currency) == 3 else "USD")
        except ValidationFailed:
            raise
        return PriceRow(data["country"], data["category"], price, currency)


def country_choices() -> list[tuple[str, str]]:
    from helpdesk.l10n import babel_locale

    territories = babel_locale().territories
    codes = sorted(
        (
            str(code)
            for code in territories
            if isinstance(code, str) and len(code) == 2 and code.isalpha() and code != OTHER
        ),
        key=lambda c: str(territories[c]),
    )
    return [(OTHER, country_label(OTHER))] + [(code, str(territories[code])) for code in codes]


class PriceTable:
    """The prices as rows of ``PriceRowForm`` (the table's own, then a few empty ones to add)."""

    EXTRA = 3

    def __init__(self, data: Mapping[str, Any] | None = None, *, rows: list[PriceRow]) -> None:
        countries = country_choices()
        total = int(data.get("rows", 0) or 0) if data is not None else len(rows) + self.EXTRA
        total = max(0, min(total, 400))
        self.forms: list[PriceRowForm] = []
        for i in range(total):
            initial = {}
            if data is None and i < len(rows):
                row = rows[i]
                initial = {
                    "country": row.country,
                    "category": row.category,
                    "price": price_input(row.price_minor, row.currency),
                    "currency": row.currency,
                }
            self.forms.append(
                PriceRowForm(data, prefix=f"p{i}", countries=countries, initial=initial, auto_id=f"id_p{i}_%s")
            )
        self.error: str = ""

    def rows(self) -> list[PriceRow] | None:
        """The rows typed, or None (and ``error`` says why) when one does not read."""
        found = []
        for number, form in enumerate(self.forms, start=1):
            if not form.is_valid():
                self.error = str(gettext_lazy("Row %(number)s does not read.")) % {"number": number}
                return None
            try:
                row = form.row()
            except ValidationFailed as exc:
                form.add_error(
                    exc.details.get("field") if exc.details.get("field") in form.fields else None, exc.message
                )
                self.error = str(gettext_lazy("Row %(number)s: %(problem)s")) % {
                    "number": number,
                    "problem": exc.message,
                }
                return None
            if row is not None:
                found.append(row)
        return found
