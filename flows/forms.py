"""Forms of the bot flows' settings pages and of the flow editor.

The editor is one HTML form holding every step of the draft: step ``i``'s fields are prefixed ``s<i>`` (its
choices or rules ``s<i>-r<j>``), with hidden ``s<i>-type``, ``s<i>-rows`` (how many rows) and ``s<i>-orig_id``
(its id when the page was drawn: renaming a step renames the ways to it), and ``steps`` (how many) and ``start``
once. ``DraftEditor`` reads it back into a definition (``flows/definitions.py``), keeping what it has no field
for (a step's keys it does not know, a step of a type it does not know) as it was.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django import forms
from django.core.validators import RegexValidator
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from conversations.models import Inbox, Team
from flows import library
from flows.definitions import (
    INPUTS,
    MEDIA,
    NAME_MAX,
    OPERATORS,
    PLACEHOLDER,
    STEP_ID,
    STEP_TYPES,
    SUBJECTS,
    TRANSIT_ACTIONS,
    VALIDATIONS,
)
from flows.models import Flow
from flows.services import FlowSpec
from helpdesk.exceptions import ApplicationError
from payments.money import amount_input, amount_parse
from tenants.models import Tenant

TYPE_LABELS = {
    "message": pgettext_lazy("flow step", "Message"),
    "ask": pgettext_lazy("flow step", "Question"),
    "branch": pgettext_lazy("flow step", "Condition"),
    "set": pgettext_lazy("flow step", "Save a value"),
    "payment": pgettext_lazy("flow step", "Payment"),
    "integration": pgettext_lazy("flow step", "Call to your system"),
    "transit": pgettext_lazy("flow step", "Transit card"),
    "handover": pgettext_lazy("flow step", "Hand over to a person"),
    "end": pgettext_lazy("flow step", "End"),
}
INPUT_LABELS = {
    "text": gettext_lazy("Typed answer"),
    "buttons": gettext_lazy("Buttons (up to 3)"),
    "list": gettext_lazy("List (up to 10)"),
}
VALIDATION_LABELS = {
    "text": gettext_lazy("Any text"),
    "number": gettext_lazy("Whole number"),
    "amount": gettext_lazy("Amount of money"),
    "email": gettext_lazy("E-mail address"),
    "cpf": "CPF",
    "cnpj": "CNPJ",
    "cpf_cnpj": gettext_lazy("CPF or CNPJ"),
    "date": gettext_lazy("Date"),
    "phone": gettext_lazy("Phone number"),
    "regex": gettext_lazy("Regular expression"),
    "catalog": gettext_lazy("Product of the catalog"),
    "transit_card": gettext_lazy("Transit card number"),
}
SUBJECT_LABELS = {
    "variable": gettext_lazy("Variable"),
    "attribute": gettext_lazy("Contact attribute"),
    "label": gettext_lazy("Conversation label"),
    "hours": gettext_lazy("Business hours"),
    "last": gettext_lazy("Result of the step before"),
}
OPERATOR_LABELS = {
    "eq": gettext_lazy("equals"),
    "ne": gettext_lazy("differs from"),
    "in": gettext_lazy("is one of"),
    "contains": gettext_lazy("contains"),
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "exists": gettext_lazy("is filled in"),
    "matches": gettext_lazy("matches the expression"),
    "open": pgettext_lazy("business hours", "are open"),
    "closed": pgettext_lazy("business hours", "are closed"),
    "ok": gettext_lazy("succeeded"),
    "error": gettext_lazy("failed"),
}
MEDIA_LABELS = {
    "image": gettext_lazy("Image"),
    "document": gettext_lazy("Document"),
    "video": gettext_lazy("Video"),
}
TRANSIT_ACTION_LABELS = {
    "lookup": gettext_lazy("Look the card up"),
    "credit": gettext_lazy("Credit the payment to the card"),
}
# The keys of a step each form has fields for; any other key is kept as it was.
COMMON_KEYS = ("id", "name", "type")
REF_SUFFIXES = ("-next", "-on_fail", "-on_timeout", "-on_error", "-default")
STEPS_FIELD = "steps"
START_FIELD = "start"
# More rows than a step can use are not read (a form posted by hand).
ROWS_MAX = 50


def words_split(text: str) -> list[str]:
    return [word.strip() for word in text.split(",") if word.strip()]


def words_join(words: Any) -> str:
    return ", ".join(str(w) for w in words) if isinstance(words, list) else ""


def _choices(labels: Mapping[str, Any], keys: tuple[str, ...], empty: Any = None) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = [("", empty)] if empty is not None else []
    return found + [(key, labels.get(key, key)) for key in keys]


def _service_error(form: forms.Form, exc: ApplicationError, renames: Mapping[str, str] | None = None) -> None:
    name = exc.details.get("field") if isinstance(exc.details, dict) else None
    name = (renames or {}).get(str(name), name)
    form.add_error(name if name in form.fields else None, exc.message)


# --- the flow's settings -----------------------------------------------------------------------------------


class _InboxField(forms.ModelChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            queryset=Inbox.objects.none(),
            required=False,
            label=gettext_lazy("Inbox"),
            empty_label=gettext_lazy("Every inbox"),
            **kwargs,
        )


class FlowNewForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=80)
    inbox = _InboxField(help_text=gettext_lazy("Customers of this inbox's number meet the flow."))

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["inbox"].queryset = Inbox.objects.filter(tenant=tenant).order_by("name", "id")  # type: ignore[attr-defined]

    def add_service_error(self, exc: ApplicationError) -> None:
        _service_error(self, exc, {"inbox_id": "inbox"})


class FlowInstallForm(forms.Form):
    template = forms.ChoiceField(label=gettext_lazy("Ready-made flow"), choices=())
    inbox = _InboxField()

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = [(key, name) for key, (name, _d) in library.templates().items()]  # type: ignore[attr-defined]
        self.fields["inbox"].queryset = Inbox.objects.filter(tenant=tenant).order_by("name", "id")  # type: ignore[attr-defined]

    def add_service_error(self, exc: ApplicationError) -> None:
        _service_error(self, exc, {"inbox_id": "inbox"})


class FlowSettingsForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=80)
    description = forms.CharField(
        label=gettext_lazy("Description"), max_length=255, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    inbox = _InboxField()
    enabled = forms.BooleanField(
        label=pgettext_lazy("bot flow", "On"),
        required=False,
        help_text=gettext_lazy("Only a published flow can be on. Customers who meet its triggers start it."),
    )
    position = forms.IntegerField(
        label=pgettext_lazy("flow position", "Order"),
        min_value=0,
        max_value=10_000,
        help_text=gettext_lazy("When the triggers of several flows match one message, the lowest order starts."),
    )
    trigger_keywords = forms.CharField(
        label=gettext_lazy("Keywords"),
        required=False,
        help_text=gettext_lazy(
            "Separated by commas. A customer's message that is one of them starts the flow (case and accents "
            "are ignored)."
        ),
    )
    trigger_regex = forms.CharField(
        label=gettext_lazy("Regular expression"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("A message it matches starts the flow."),
    )
    trigger_first_message = forms.BooleanField(
        label=gettext_lazy("A customer's first message starts it"), required=False
    )
    trigger_outside_hours = forms.BooleanField(
        label=gettext_lazy("A message outside business hours starts it"), required=False
    )
    trigger_payloads = forms.CharField(
        label=gettext_lazy("Button payloads"),
        required=False,
        help_text=gettext_lazy("Separated by commas: a template's quick-reply button with one of them starts it."),
    )
    handover_keywords = forms.CharField(
        label=gettext_lazy("Words that call a person"),
        required=False,
        help_text=gettext_lazy("Separated by commas: the customer writing one of them leaves the bot for the team."),
    )
    handover_team = forms.ModelChoiceField(
        label=gettext_lazy("Team that takes over"),
        queryset=Team.objects.none(),
        required=False,
        empty_label=gettext_lazy("No team: the conversation stays in the inbox"),
    )
    timeout_minutes = forms.IntegerField(
        label=gettext_lazy("Ends after minutes of silence"),
        min_value=1,
        max_value=7 * 24 * 60,
        help_text=gettext_lazy("A customer who does not answer for this long leaves the flow (abandoned)."),
    )
    timeout_message = forms.CharField(
        label=gettext_lazy("Message when it ends for silence"),
        max_length=4096,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    FIELD_OF = {"inbox_id": "inbox", "handover_team_id": "handover_team"}

    def __init__(self, *args: Any, tenant: Tenant, flow: Flow, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "name": flow.name,
                "description": flow.description,
                "inbox": flow.inbox_id,
                "enabled": flow.enabled,
                "position": flow.position,
                "trigger_keywords": words_join(flow.trigger_keywords),
                "trigger_regex": flow.trigger_regex,
                "trigger_first_message": flow.trigger_first_message,
                "trigger_outside_hours": flow.trigger_outside_hours,
                "trigger_payloads": words_join(flow.trigger_payloads),
                "handover_keywords": words_join(flow.handover_keywords),
                "handover_team": flow.handover_team_id,
                "timeout_minutes": flow.timeout_minutes,
                "timeout_message": flow.timeout_message,
            },
        )
        super().__init__(*args, **kwargs)
        self.fields["inbox"].queryset = Inbox.objects.filter(tenant=tenant).order_by("name", "id")  # type: ignore[attr-defined]
        self.fields["handover_team"].queryset = Team.objects.filter(tenant=tenant).order_by("name", "id")  # type: ignore[attr-defined]

    def spec(self) -> FlowSpec:
        data = self.cleaned_data
        return FlowSpec(
            name=data["name"],
            description=data.get("description", ""),
            inbox_id=data["inbox"].pk if data.get("inbox") else None,
            enabled=bool(data.get("enabled")),
            position=data["position"],
            trigger_keywords=words_split(data.get("trigger_keywords", "")),
            trigger_regex=data.get("trigger_regex", ""),
            trigger_first_message=bool(data.get("trigger_first_message")),
            trigger_outside_hours=bool(data.get("trigger_outside_hours")),
            trigger_payloads=words_split(data.get("trigger_payloads", "")),
            handover_keywords=words_split(data.get("handover_keywords", "")),
            handover_team_id=data["handover_team"].pk if data.get("handover_team") else None,
            timeout_minutes=data["timeout_minutes"],
            timeout_message=data.get("timeout_message", ""),
        )

    def add_service_error(self, exc: ApplicationError) -> None:
        _service_error(self, exc, self.FIELD_OF)


class FlowTestForm(forms.Form):
    phone = forms.CharField(
        label=gettext_lazy("Phone number of the simulator"),
        max_length=40,
        help_text=gettext_lazy("With the country and area codes, such as +55 11 91234-5678."),
    )

    def add_service_error(self, exc: ApplicationError) -> None:
        _service_error(self, exc)


class TransitKeyForm(forms.Form):
    transit_api_key = forms.CharField(
        label=gettext_lazy("Transit operator's API key"),
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=gettext_lazy("Kept encrypted and never shown again; enter a new one to replace it."),
    )

    def add_service_error(self, exc: ApplicationError) -> None:
        _service_error(self, exc)


# --- the editor's steps ------------------------------------------------------------------------------------


def _text(label: Any, *, rows: int = 3, help_text: Any = "", preview: bool = False) -> forms.CharField:
    attrs: dict[str, Any] = {"rows": rows}
    if preview:
        attrs["data-preview-source"] = ""
    return forms.CharField(
        label=label, required=False, strip=False, widget=forms.Textarea(attrs=attrs), help_text=help_text
    )


def _line(label: Any, *, help_text: Any = "", max_length: int = 500, preview: bool = False) -> forms.CharField:
    attrs = {"data-preview-source": ""} if preview else {}
    return forms.CharField(
        label=label,
        required=False,
        max_length=max_length,
        help_text=help_text,
        widget=forms.TextInput(attrs=attrs),
    )


def _select(label: Any, choices: list[tuple[str, Any]], *, help_text: Any = "") -> forms.CharField:
    return forms.CharField(label=label, required=False, help_text=help_text, widget=forms.Select(choices=choices))


def _ref(label: Any, help_text: Any = "") -> forms.CharField:
    # Its options (the flow's steps) are set per form.
    field = _select(label, [], help_text=help_text)
    field.widget.attrs["data-step-ref"] = ""
    return field


def _number(label: Any, *, help_text: Any = "") -> forms.IntegerField:
    return forms.IntegerField(label=label, required=False, help_text=help_text)


def _given(values: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {name: values[name] for name in names if values.get(name) not in (None, "")}


def _shown(value: Any) -> str:
    return "" if value is None else str(value)


class _EditorForm(forms.Form):
    """A form of the editor whose selects of steps list the flow's steps, and whose selects keep a stored value
    that is not among their options (shown as missing) rather than losing it."""

    def __init__(self, *args: Any, step_options: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_options()
        for name, bound_field in self.fields.items():
            widget = bound_field.widget
            if not isinstance(widget, forms.Select):
                continue
            if "data-step-ref" in widget.attrs:
                widget.choices = [("", pgettext_lazy("next step", "— none —")), *step_options]
            value = self[name].value()
            known = {str(key) for key, _label in widget.choices}
            if value not in (None, "") and str(value) not in known:
                widget.choices = [*widget.choices, (str(value), _("%(value)s (missing)") % {"value": value})]

    def set_options(self) -> None:
        """Set the options of this form's own selects (before a stored value missing from them is added)."""


class StepForm(_EditorForm):
    kind: ClassVar[str] = ""
    keys: ClassVar[tuple[str, ...]] = ()
    # The rows of the step (a question's choices, a condition's rules), and at most how many.
    rows_form: ClassVar[type[_EditorForm] | None] = None
    rows_max: ClassVar[int] = 0
    rows_label: ClassVar[Any] = ""

    id = forms.CharField(
        label=gettext_lazy("Id"),
        max_length=40,
        validators=[RegexValidator(STEP_ID, gettext_lazy("Letters, digits, _ and -, at most 40."))],
        help_text=gettext_lazy("How the other steps name this one."),
    )
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=NAME_MAX,
        required=False,
        help_text=gettext_lazy("Shown in the history and the reports."),
    )
    orig_id = forms.CharField(required=False, widget=forms.HiddenInput)
    extra = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_extra(self) -> dict[str, Any]:
        raw = self.cleaned_data.get("extra") or ""
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise forms.ValidationError(_("This step's other settings could not be read."))
        return value

    @classmethod
    def initial_of(cls, step: Mapping[str, Any]) -> dict[str, Any]:
        known = {*COMMON_KEYS, *cls.keys}
        extra = {k: v for k, v in step.items() if k not in known}
        return {
            "id": _shown(step.get("id")),
            "orig_id": _shown(step.get("id")),
            "name": _shown(step.get("name")),
            "extra": json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else "",
            **cls.fields_of(step),
        }

    @classmethod
    def fields_of(cls, step: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    @classmethod
    def rows_of(cls, step: Mapping[str, Any]) -> list[dict[str, Any]]:
        return []

    def settings(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """The step's own keys from the cleaned fields and rows."""
        return {}

    def row_values(self, row: forms.Form) -> dict[str, Any] | None:
        """One cleaned row as the definition keeps it (None: an empty row)."""
        return None

    def step(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        data = self.cleaned_data
        built = {"id": data["id"], "name": data.get("name", ""), "type": self.kind, **self.settings(rows)}
        known = {*COMMON_KEYS, *self.keys}
        return {**built, **{k: v for k, v in data.get("extra", {}).items() if k not in known and k not in built}}


class MessageStepForm(StepForm):
    kind = "message"
    keys = ("text", "media", "cta", "products", "next")
    text = _text(gettext_lazy("Text"), rows=4, preview=True)
    media_type = _select(gettext_lazy("Attachment"), _choices(MEDIA_LABELS, MEDIA, pgettext_lazy("attachment", "None")))
    media_link = _line(gettext_lazy("Attachment's address"), help_text=gettext_lazy("An https:// address."))
    cta_text = _line(gettext_lazy("Link button's text"), max_length=40, preview=True)
    cta_url = _line(gettext_lazy("Link button's address"))
    products_skus = _line(gettext_lazy("Products (SKUs)"), help_text=gettext_lazy("Separated by commas."))
    products_header = _line(gettext_lazy("Products' heading"), max_length=120)
    next = _ref(gettext_lazy("Then"))

    @classmethod
    def fields_of(cls, step: Mapping[str, Any]) -> dict[str, Any]:
        media = _dict(step.get("media"))
        cta = _dict(step.get("cta"))
        products = _dict(step.get("products"))
        return {
            "text": _shown(step.get("text")),
            "media_type": _shown(media.get("type")),
            "media_link": _shown(media.get("link")),
            "cta_text": _shown(cta.get("text")),
            "cta_url": _shown(cta.get("url")),
            "products_skus": words_join(products.get("skus")),
            "products_header": _shown(products.get("header")),
            "next": _shown(step.get("next")),
        }

    def settings(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        data = self.cleaned_data
        out = _given(data, "text")
        if data.get("media_type") or data.get("media_link"):
            out["media"] = {"type": data.get("media_type", ""), "link": data.get("media_link", "")}
        if data.get("cta_text") or data.get("cta_url"):
            out["cta"] = {"text": data.get("cta_text", ""), "url": data.get("cta_url", "")}
        skus = words_split(data.get("products_skus", ""))
        if skus or data.get("products_header"):
            out["products"] = {"skus": skus}
            if data.get("products_header"):
                out["products"]["header"] = data["products_header"]
        return {**out, **_given(data, "next")}


class ChoiceRowForm(_EditorForm):
    id = _line(gettext_lazy("Id"), max_length=40)
    title = _line(gettext_lazy("Title"), max_length=60, preview=True)
    description = _line(gettext_lazy("Description"), max_length=120, preview=True)
    value = _line(gettext_lazy("Value saved"), max_length=200)
    next = _ref(gettext_lazy("Then"))


class RuleRowForm(_EditorForm):
    subject = _select(gettext_lazy("What"), _choices(SUBJECT_LABELS, SUBJECTS, "—"))
    name = _line(gettext_lazy("Name"), max_length=80)
    op = _select(gettext_lazy("Test"), _choices(OPERATOR_LABELS, OPERATORS, "—"))
    value = _line(gettext_lazy("Value"), max_length=200)
    next = _ref(gettext_lazy("Then"))


class AskStepForm(StepForm):
    kind = "ask"
    keys = (
        "text",
        "input",
        "choices",
        "list_button",
        "validate",
        "save_as",
        "retry_text",
        "max_retries",
        "next",
        "on_fail",
    )
    rows_form = ChoiceRowForm
    rows_max = 10
    rows_label = gettext_lazy("Choices")

    text = _text(gettext_lazy("Question"), rows=4, preview=True)
    input = _select(gettext_lazy("Answered with"), _choices(INPUT_LABELS, INPUTS))
    list_button = _line(
        gettext_lazy("List button's text"),
        max_length=40,
        help_text=gettext_lazy("For a list: the button that opens it."),
        preview=True,
    )
    validate_kind = _select(
        gettext_lazy("The answer must be"),
        _choices(VALIDATION_LABELS, VALIDATIONS, pgettext_lazy("validation", "Anything")),
    )
    validate_min = _line(
        gettext_lazy("At least"),
        max_length=20,
        help_text=gettext_lazy("A number, a length, or an amount in reais such as 5,00."),
    )
    validate_max = _line(gettext_lazy("At most"), max_length=20)
    validate_pattern = _line(gettext_lazy("Regular expression"), max_length=200)
    save_as = _line(
        gettext_lazy("Save the answer as"),
        max_length=40,
        help_text=gettext_lazy("A variable other steps use as {{name}}."),
    )
    retry_text = _text(gettext_lazy("Text when the answer is not valid"), rows=2, preview=True)
    max_retries = _number(gettext_lazy("Tries after a wrong answer"))
    next = _ref(gettext_lazy("Then"), gettext_lazy("After any valid answer (a choice may lead elsewhere)."))
    on_fail = _ref(gettext_lazy("When the tries are over"), gettext_lazy("None: a person from the team takes over."))

    @property
    def money(self) -> bool:
        return self["validate_kind"].value() == "amount"

    @classmethod
    def fields_of(cls, step: Mapping[str, Any]) -> dict[str, Any]:
        validate = _dict(step.get("validate"))
        money = validate.get("kind") == "amount"
        return {
            "text": _shown(step.get("text")),
            "input": _shown(step.get("input") or "text"),
            "list_button": _shown(step.get("list_button")),
            "validate_kind": _shown(validate.get("kind")),
            "validate_min": _bound_shown(validate.get("min"), money),
            "validate_max": _bound_shown(validate.get("max"), money),
            "validate_pattern": _shown(validate.get("pattern")),
            "save_as": _shown(step.get("save_as")),
            "retry_text": _shown(step.get("retry_text")),
            "max_retries": step.get("max_retries"),
            "next": _shown(step.get("next")),
            "on_fail": _shown(step.get("on_fail")),
        }

    @classmethod
    def rows_of(cls, step: Mapping[str, Any]) -> list[dict[str, Any]]:
        validate = _dict(step.get("validate"))
        money = validate.get("kind") == "amount"
        return [
            {
                "id": _shown(c.get("id")),
                "title": _shown(c.get("title")),
                "description": _shown(c.get("description")),
                "value": _bound_shown(c.get("value"), money),
                "next": _shown(c.get("next")),
            }
            for c in step.get("choices") or []
            if isinstance(c, dict)
        ]

    def _parsed(self, form: forms.Form, name: str, text: str) -> Any:
        """A bound (``validate_min``/``max``) or a choice's value as the question's kind of answer keeps it:
        centavos for an amount (written in reais), a whole number for a number (a bound is always one: of a
        number, or of a text's length), else the text as written."""
        kind = self.cleaned_data.get("validate_kind")
        if text.strip() == "":
            return None
        if kind == "amount":
            try:
                return amount_parse(text, field=name)
            except ApplicationError as exc:
                form.add_error(name, exc.message)
                return None
        if kind == "number" or name != "value":
            if not re.fullmatch(r"-?\d{1,15}", text.strip()):
                form.add_error(name, _("Enter a whole number."))
                return None
            return int(text.strip())
        return text

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("validate_min", "validate_max"):
            if name in data:
                data[name] = self._parsed(self, name, data[name] or "")
        return data

    def row_values(self, row: forms.Form) -> dict[str, Any] | None:
        data = row.cleaned_data
        if not any(data.get(name) for name in ("id", "title", "description", "value", "next")):
            return None
        value = self._parsed(row, "value", data.get("value") or "")
        return {
            "id": data.get("id", ""),
            **_given(data, "title", "description"),
            **({"value": value} if value is not None else {}),
            **_given(data, "next"),
        }

    def settings(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        data = self.cleaned_data
        out: dict[str, Any] = {"input": data.get("input") or "text", **_given(data, "text")}
        if rows:
            taken = {row["id"] for row in rows if row["id"]}
            for index, row in enumerate(rows):
                if not row["id"]:
                    base = (slugify(str(row.get("title", ""))).replace("-", "_")[:36]) or f"choice_{index + 1}"
                    candidate, n = base, 2
                    while candidate in taken:
                        candidate, n = f"{base}_{n}", n + 1
                    row["id"] = candidate
                    taken.add(candidate)
            out["choices"] = rows
        out.update(_given(data, "list_button"))
        if data.get("validate_kind"):
            out["validate"] = {"kind": data["validate_kind"]}
            for name in ("min", "max", "pattern"):
                if data.get(f"validate_{name}") not in (None, ""):
                    out["validate"][name] = data[f"validate_{name}"]
        out.update(_given(data, "save_as", "retry_text", "max_retries", "next", "on_fail"))
        return out


def _bound_shown(value: Any, money: bool) -> str:
    if money and isinstance(value, int) and not isinstance(value, bool):
        return amount_input(value)
    return _shown(value)


class BranchStepForm(StepForm):
    kind = "branch"
    keys = ("rules", "default")
    rows_form = RuleRowForm
    rows_max = ROWS_MAX
    rows_label = gettext_lazy("Rules, the first that holds leads on")

    default = _ref(gettext_lazy("When no rule holds"))

    @classmethod
    def fields_of(cls, step: Mapping[str, Any]) -> dict[str, Any]:
        return {"default": _shown(step.get("default"))}

    @classmethod
    def rows_of(cls, step: Mapping[str, Any]) -> list[dict[str, Any]]:
        rows = []
        for rule in step.get("rules") or []:
            if not isinstance(rule, dict):
                continue
            condition = _dict(rule.get("if"))
            value = condition.get("value")
            rows.append(
                {
                    "subject": _shown(condition.get("subject")),
                    "name": _shown(condition.get("name")),
                    "op": _shown(condition.get("op")),
                    "value": words_join(value) if isinstance(value, list) else _shown(value),
                    "next": _shown(rule.get("next")),
                }
            )
        return rows

    def row_values(self, row: forms.Form) -> dict[str, Any] | None:
        data = row.cleaned_data
        if not any(data.get(name) for name in ("subject", "name", "op", "value", "next")):
            return None
        return {"if": _given(data, "subject", "name", "op", "value"), **_given(data, "next")}

    def settings(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"rules": rows, **_given(self.cleaned_data, "default")}


class SetStepForm(StepForm):
    kind = "set"
    keys = ("attribute", "value", "label", "next")
    attribute = _line(
        gettext_lazy("Contact attribute"),
        max_length=40,
        help_text=gettext_lazy("Lowercase letters, digits and _, such as city."),
    )
    value = _line(gettext_lazy("Value"), help_text=gettext_lazy("May name variables, such as {{card_number}}."))
    label = _line(gettext_lazy("Label to add to the conversation"), max_length=80)
    next = _ref(gettext_lazy("Then"))

    @classmethod
    def fields_of(cls, step: Mapping[str, Any]) -> dict[str, Any]:
        return {name: _shown(step.get(name)) for name in cls.keys}

    def settings(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return _given(self.cleaned_data, *self.keys)


class PaymentStepForm(StepForm):
    kind = "payment"
    keys = (
        "amount",
        "description",
        "method",
        "timeout_minutes",
        "reminder_minutes",
        "reminder_text",
        "next",
        "on_timeout",
        "on_error",
    )
    amount = _line(
        gettext_lazy("Amount (R$)"),
        max_length=60,
        help_text=gettext_lazy("Such as 20,00; or a variable holding centavos, such as {{amount}}."),
        preview=True,
    )
    description = _line(gettext_lazy("Description"), max_length=120, preview=True)
    method = _line(
        gettext_lazy("Way of payment"),
        max_length=60,
        help_text=gettext_lazy("pix, card, or a variable holding one of them, such as {{method}}."),
        preview=True,
    )
    timeout_minutes = _number(gettext_lazy("Minutes to pay"), help_text=gettext_lazy("From 10 to 1440."))
    reminder_minutes = _number(gettext_lazy("Remind after minutes"))
    reminder_text = _text(gettext_lazy("Reminder"), rows=2, preview=True)
    next = _ref(gettext_lazy("Once paid"))
    on_timeout = _ref(gettext_lazy("When the time is over"))
    on_error = _ref(gettext_lazy("When the payment cannot be made"))

    def clean_amount(self) -> Any:
        text = (self.cleaned_data.get("amount") or "").strip()
        if not text:
            return None
        if PLACEHOLDER.fullmatch(text):
            return text
        try:
            return amount_parse(text, field="amount")
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None

    @classmethod
    def fields_of(cls, step: Mapping[str, Any]) -> dict[str, Any]:
        amount = step.get("amount")
        shown: dict[str, Any] = {name: _shown(step.get(name)) for name in cls.keys}
        shown["amount"] = _bound_shown(amount, True)
        for name in ("timeout_minutes", "reminder_minutes"):
            shown[name] = step.get(name)
        return shown

    def settings(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return _given(self.cleaned_data, *self.keys)


class IntegrationStepForm(StepForm):
    kind = "integration"
    keys = ("url", "save_as", "next", "on_error")
    url = _line(
        gettext_lazy("Your system's address"),
        help_text=gettext_lazy("It receives the flow's variables, signed with the workspace's integration secret."),
    )
    save_as = _line(gettext_lazy("Save the answer as"), max_length=40)
    next = _ref(gettext_lazy("Then"))
    on_error = _ref(gettext_lazy("When it fails"))

    @classmethod
    def fields_of(cls, step: Mapping[str, Any]) -> dict[str, Any]:
        return {name: _shown(step.get(name)) for name in cls.keys}

    def settings(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return _given(self.cleaned_data, *self.keys)


class TransitStepForm(StepForm):
    kind = "transit"
    keys = ("action", "card", "save_as", "next", "on_error")
    action = _select(gettext_lazy("Action"), _choices(TRANSIT_ACTION_LABELS, TRANSIT_ACTIONS, "—"))
    card = _line(
        gettext_lazy("Card number"), max_length=60, help_text=gettext_lazy("A variable, such as {{card_number}}.")
    )
    save_as = _line(gettext_lazy("Save the answer as"), max_length=40)
    next = _ref(gettext_lazy("Then"))
    on_error = _ref(gettext_lazy("When it fails"))

    @classmethod
    def fields_of(cls, step: Mapping[str, Any]) -> dict[str, Any]:
        return {name: _shown(step.get(name)) for name in cls.keys}

    def settings(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return _given(self.cleaned_data, *self.keys)


class HandoverStepForm(StepForm):
    kind = "handover"
    keys = ("text", "team")
    text = _text(gettext_lazy("Text to the customer"), rows=3, preview=True)
    team = _select(gettext_lazy("Team that takes over"), [])

    def __init__(self, *args: Any, teams: list[tuple[str, str]] | None = None, **kwargs: Any) -> None:
        self.teams = teams or []
        super().__init__(*args, **kwargs)

    def set_options(self) -> None:
        self.fields["team"].widget.choices = [("", _("The flow's team")), *self.teams]  # type: ignore[attr-defined]

    def clean_team(self) -> int | None:
        value = (self.cleaned_data.get("team") or "").strip()
        if not value:
            return None
        if not value.isdigit():
            raise forms.ValidationError(_("Choose a team."))
        return int(value)

    @classmethod
    def fields_of(cls, step: Mapping[str, Any]) -> dict[str, Any]:
        return {"text": _shown(step.get("text")), "team": _shown(step.get("team"))}

    def settings(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return _given(self.cleaned_data, "text", "team")


class EndStepForm(StepForm):
    kind = "end"
    keys = ("text", "csat")
    text = _text(gettext_lazy("Last message"), rows=3, preview=True)
    csat = forms.BooleanField(label=gettext_lazy("Ask for a satisfaction rating"), required=False)

    @classmethod
    def fields_of(cls, step: Mapping[str, Any]) -> dict[str, Any]:
        return {"text": _shown(step.get("text")), "csat": bool(step.get("csat"))}

    def settings(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        out = _given(self.cleaned_data, "text")
        if self.cleaned_data.get("csat"):
            out["csat"] = True
        return out


class RawStepForm(_EditorForm):
    """A step the editor has no form for (a type it does not know, or not an object): kept as it is."""

    raw = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_raw(self) -> Any:
        try:
            return json.loads(self.cleaned_data.get("raw") or "null")
        except json.JSONDecodeError:
            raise forms.ValidationError(_("This step could not be read.")) from None


STEP_FORMS: dict[str, type[StepForm]] = {
    form.kind: form
    for form in (
        MessageStepForm,
        AskStepForm,
        BranchStepForm,
        SetStepForm,
        PaymentStepForm,
        IntegrationStepForm,
        TransitStepForm,
        HandoverStepForm,
        EndStepForm,
    )
}
assert set(STEP_FORMS) == set(STEP_TYPES)
RAW = "raw"
# Empty rows shown after a step's own, to add choices or rules.
BLANK_ROWS = 2


@dataclass
class StepCard:
    """One step of the editor: its form, its rows, and what publishing found wrong with it."""

    index: int
    kind: str
    form: forms.Form
    rows: list[_EditorForm] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    raw: Any = None

    @property
    def step_id(self) -> str:
        if isinstance(self.form, StepForm):
            return str(self.form["id"].value() or "")
        return str(self.raw.get("id", "")) if isinstance(self.raw, dict) else ""

    @property
    def orig_id(self) -> str:
        if isinstance(self.form, StepForm):
            return str(self.form["orig_id"].value() or "")
        return self.step_id

    @property
    def type_label(self) -> str:
        return str(TYPE_LABELS.get(self.kind, self.kind))

    @property
    def rows_label(self) -> Any:
        return self.form.rows_label if isinstance(self.form, StepForm) else ""

    @property
    def raw_json(self) -> str:
        return json.dumps(self.raw, ensure_ascii=False, indent=2)

    def is_valid(self) -> bool:
        valid = self.form.is_valid()
        return all([row.is_valid() for row in self.rows]) and valid

    def step(self) -> Any:
        if not isinstance(self.form, StepForm):
            return self.form.cleaned_data["raw"]
        rows = [values for row in self.rows if (values := self.form.row_values(row)) is not None]
        return self.form.step(rows)


def new_step(kind: str, taken: set[str]) -> dict[str, Any]:
    """A new step of ``kind`` with an id no other step has and its type's name."""
    n = 1
    while f"{kind}_{n}" in taken:
        n += 1
    step: dict[str, Any] = {"id": f"{kind}_{n}", "name": str(TYPE_LABELS[kind]), "type": kind}
    if kind == "ask":
        step["input"] = "text"
    return step


class DraftEditor:
    """The editor's form: built from a definition (to show it) or from what the page posted (to save it)."""

    def __init__(
        self,
        *,
        teams: list[tuple[str, str]],
        definition: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        self.teams = teams
        self.bound = data is not None
        self.errors: list[str] = []
        self.problems: list[dict[str, str]] = []
        self.cards: list[StepCard] = []
        if data is not None:
            self._read(data)
        else:
            self._show(definition or {})

    # -- showing a definition

    def _show(self, definition: Mapping[str, Any]) -> None:
        found = definition.get("steps")
        steps: list[Any] = found if isinstance(found, list) else []
        self.start = _shown(definition.get("start"))
        options = self._options_of(steps)
        self.data: dict[str, Any] = {}
        for index, step in enumerate(steps):
            kind = step.get("type") if isinstance(step, dict) else None
            form_class = STEP_FORMS.get(kind) if isinstance(kind, str) else None
            prefix = f"s{index}"
            if form_class is None:
                form: forms.Form = RawStepForm(
                    prefix=prefix, initial={"raw": json.dumps(step, ensure_ascii=False)}, step_options=options
                )
                self.cards.append(StepCard(index, RAW, form, raw=step))
                continue
            form = self._step_form(form_class, prefix, options, initial=form_class.initial_of(step))
            rows: list[_EditorForm] = []
            if form_class.rows_form is not None:
                found = form_class.rows_of(step)
                blanks = max(min(BLANK_ROWS, form_class.rows_max - len(found)), 0)
                rows = [
                    form_class.rows_form(prefix=f"{prefix}-r{j}", initial=initial, step_options=options)
                    for j, initial in enumerate([*found, *({} for _ in range(blanks))])
                ]
            self.cards.append(StepCard(index, form_class.kind, form, rows))

    @staticmethod
    def _options_of(steps: list[Any]) -> list[tuple[str, str]]:
        options = []
        for step in steps:
            if isinstance(step, dict) and isinstance(step.get("id"), str) and step["id"]:
                name = str(step.get("name") or "")
                options.append((step["id"], f"{name} ({step['id']})" if name else step["id"]))
        return options

    def _step_form(
        self,
        form_class: type[StepForm],
        prefix: str,
        options: list[tuple[str, str]],
        *,
        data: Mapping[str, Any] | None = None,
        initial: Mapping[str, Any] | None = None,
    ) -> StepForm:
        kwargs: dict[str, Any] = {"prefix": prefix, "step_options": options, "data": data, "initial": initial}
        if form_class is HandoverStepForm:
            kwargs["teams"] = self.teams
        return form_class(**kwargs)

    # -- reading what the page posted

    def _read(self, posted: Mapping[str, Any]) -> None:
        data = {key: posted.get(key) for key in posted}
        count = _count(data.get(STEPS_FIELD))
        if count is None:
            self.errors.append(_("The editor's form came incomplete: reload the page and try again."))
            count = 0
        count = min(count, 250)
        # A step renamed: the ways to it follow it.
        renames = {}
        for index in range(count):
            old, new = (str(data.get(f"s{index}-orig_id") or ""), str(data.get(f"s{index}-id") or "").strip())
            if old and new and old != new and STEP_ID.match(new):
                renames[old] = new
        if renames:
            for key, value in data.items():
                if (key == START_FIELD or key.endswith(REF_SUFFIXES)) and value in renames:
                    data[key] = renames[value]
        self.data = data
        self.start = str(data.get(START_FIELD) or "")
        labels = []
        for i in range(count):
            if data.get(f"s{i}-type") in STEP_FORMS:
                sid, name = str(data.get(f"s{i}-id") or "").strip(), str(data.get(f"s{i}-name") or "").strip()
            else:
                raw = _json_or_none(data.get(f"s{i}-raw"))
                sid = str(raw.get("id") or "") if isinstance(raw, dict) else ""
                name = str(raw.get("name") or "") if isinstance(raw, dict) else ""
            if sid:
                labels.append((sid, f"{name} ({sid})" if name else sid))
        for index in range(count):
            prefix = f"s{index}"
            kind = str(data.get(f"{prefix}-type") or "")
            form_class = STEP_FORMS.get(kind)
            if form_class is None:
                form: forms.Form = RawStepForm(prefix=prefix, data=data, step_options=labels)
                raw = form.cleaned_data["raw"] if form.is_valid() else None
                self.cards.append(StepCard(index, RAW, form, raw=raw))
                continue
            form = self._step_form(form_class, prefix, labels, data=data)
            rows: list[_EditorForm] = []
            if form_class.rows_form is not None:
                n = min(_count(data.get(f"{prefix}-rows")) or 0, ROWS_MAX)
                rows = [form_class.rows_form(prefix=f"{prefix}-r{j}", data=data, step_options=labels) for j in range(n)]
            self.cards.append(StepCard(index, kind, form, rows))

    def is_valid(self) -> bool:
        if not self.bound:
            return False
        valid = not self.errors
        seen: set[str] = set()
        for card in self.cards:
            if not card.is_valid():
                valid = False
                continue
            if isinstance(card.form, StepForm):
                sid = card.form.cleaned_data["id"]
                if sid in seen:
                    card.form.add_error("id", _("Two steps have this id."))
                    valid = False
                seen.add(sid)
        if valid:
            # A choice's value is read by its question's kind of answer (an amount in reais): it may still be refused.
            self._definition = {"start": self.start, "steps": [card.step() for card in self.cards]}
            valid = not any(card.form.errors or any(row.errors for row in card.rows) for card in self.cards)
        return valid

    def definition(self) -> dict[str, Any]:
        return self._definition

    # -- what publishing found

    def show_problems(self, problems: list[dict[str, str]]) -> None:
        """Each problem next to its step and, where the editor has one, its field."""
        by_id = {card.step_id: card for card in self.cards if card.step_id}
        by_number = {f"#{card.index + 1}": card for card in self.cards}
        for problem in problems:
            card = by_id.get(problem.get("step", "")) or by_number.get(problem.get("step", ""))
            if card is None:
                self.problems.append(problem)
                continue
            card.problems.append({**problem, "label": _field_label(card, problem.get("field", ""))})
            _mark_field(card, problem.get("field", ""), problem.get("message", ""))


FIELD_PATH = re.compile(r"^(choices|rules)\[(\d+)\](?:\.(?:if\.)?(\w+))?$")
FLAT_FIELDS = {
    "media.type": "media_type",
    "media.link": "media_link",
    "cta.text": "cta_text",
    "cta.url": "cta_url",
    "cta": "cta_text",
    "products.skus": "products_skus",
    "products.header": "products_header",
    "validate.kind": "validate_kind",
    "validate.min": "validate_min",
    "validate.max": "validate_max",
    "validate.pattern": "validate_pattern",
}


def _target(card: StepCard, path: str) -> tuple[forms.Form, str] | None:
    """The form and field of a step that a problem's ``field`` (``choices[1].title``) names."""
    found = FIELD_PATH.match(path)
    if found:
        index = int(found.group(2))
        if index < len(card.rows):
            name = found.group(3) or ""
            return card.rows[index], name
        return None
    return card.form, FLAT_FIELDS.get(path, path)


def _field_label(card: StepCard, path: str) -> str:
    found = FIELD_PATH.match(path)
    target = _target(card, path)
    label = ""
    if target is not None and target[1] in target[0].fields:
        label = str(target[0].fields[target[1]].label)
    if found:
        row = _("Choice %(number)s") if found.group(1) == "choices" else _("Rule %(number)s")
        row = row % {"number": int(found.group(2)) + 1}
        return f"{row}: {label}" if label else row
    if not label and path in ("choices", "rules"):
        return str(card.rows_label)
    return label


def _mark_field(card: StepCard, path: str, message: str) -> None:
    target = _target(card, path)
    if target is None:
        return
    form, name = target
    if name in form.fields and form.is_bound and hasattr(form, "cleaned_data"):
        # Shown by the field, like a form error; the draft it belongs to is already saved.
        form.errors.setdefault(name, form.error_class()).append(message)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _json_or_none(text: Any) -> Any:
    try:
        return json.loads(str(text))
    except (TypeError, ValueError):
        return None


def _count(value: Any) -> int | None:
    try:
        count = int(str(value))
    except (TypeError, ValueError):
        return None
    return count if count >= 0 else None
