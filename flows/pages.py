"""Settings → Bot flows: the list (with each flow's sessions of the last 30 days), a new flow, a ready-made one,
a flow's settings, the editor of its draft (a form per step, a preview of each message as the customer would read
it, the diagram of the whole flow, publishing), its published versions, a test in the phone simulator, the report
of its sessions, and the workspace's keys. Guarded by "Manage automations"; every change goes through
``flows.services``."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversations.models import Team
from flows import library
from flows.arming import TEST_ARM_SECONDS
from flows.definitions import PLACEHOLDER, STEP_TYPES, DefinitionInvalid, steps_by_id, targets
from flows.diagram import edge_label, flow_diagram
from flows.engine import lookup
from flows.engine import render as render_text
from flows.forms import (
    MEDIA_LABELS,
    RAW,
    STEP_FORMS,
    TYPE_LABELS,
    DraftEditor,
    FlowInstallForm,
    FlowNewForm,
    FlowSettingsForm,
    FlowTestForm,
    StepCard,
    TransitKeyForm,
    new_step,
)
from flows.models import Flow, FlowSession, FlowSettings, FlowVersion
from flows.services import (
    FlowSpec,
    draft_save,
    flow_create,
    flow_delete,
    flow_publish,
    flow_settings_save,
    flow_test_arm,
    flow_update,
    template_install,
)
from helpdesk.exceptions import ApplicationError
from payments.money import amount_format, amount_parse
from payments.selectors import day_bounds, workspace_zone
from tenants.access import require_perm
from tenants.models import Tenant
from tenants.permissions import Perm

REPORT_DAYS = 30
SESSIONS_SHOWN = 50
PREVIEW_FIELD = "preview"
# What the previews fill variables with: a customer recharging a card, as the ready-made flow would see them.
SAMPLE_VARIABLES: dict[str, Any] = {
    "contact": {"first_name": "Maria", "name": "Maria Souza", "phone": "+5511912345678"},
    "card": {"holder_name": "Maria Souza", "balance": 1250, "number": "123456789012", "currency": "BRL"},
    "card_number": "123456789012",
    "amount": 2000,
    "method": "pix",
    "payment": {"amount": 2000, "reference": "E2E0001"},
    "credit": {"balance": 3250},
}


# --- reading ---------------------------------------------------------------------------------------------------


def _flow(request: HttpRequest, flow_id: int) -> Flow:
    """The workspace's flow; another workspace's is as missing as one that never was."""
    flow = (
        Flow.objects.select_related("inbox", "published", "handover_team")
        .filter(tenant=request.tenant, pk=flow_id)  # type: ignore[attr-defined]
        .first()
    )
    if flow is None:
        raise Http404(_("No such bot flow."))
    return flow


def _teams(tenant: Tenant) -> list[tuple[str, str]]:
    return [(str(team.pk), team.name) for team in Team.objects.filter(tenant=tenant).order_by("name", "id")]


def _draft(flow: Flow) -> FlowVersion | None:
    return FlowVersion.objects.filter(flow=flow, status=FlowVersion.Status.DRAFT).first()


def _versions(flow: Flow) -> QuerySet[FlowVersion]:
    return (
        FlowVersion.objects.filter(flow=flow)
        .exclude(status=FlowVersion.Status.DRAFT)
        .select_related("published_by")
        .order_by("-number")
    )


def _triggers(flow: Flow) -> list[str]:
    found = []
    if flow.trigger_keywords:
        found.append(_("Keywords: %(words)s") % {"words": ", ".join(flow.trigger_keywords)})
    if flow.trigger_regex:
        found.append(_("Regular expression"))
    if flow.trigger_first_message:
        found.append(_("First message"))
    if flow.trigger_outside_hours:
        found.append(_("Outside business hours"))
    if flow.trigger_payloads:
        found.append(_("Buttons: %(payloads)s") % {"payloads": ", ".join(flow.trigger_payloads)})
    return found


def _recent_counts(tenant: Tenant, flows: list[Flow]) -> dict[int, dict[str, int]]:
    """Per flow: sessions running now, and those that ended in the last 30 days by how they ended."""
    since = timezone.now() - timedelta(days=REPORT_DAYS)
    counts: dict[int, dict[str, int]] = {flow.pk: {} for flow in flows}
    rows = (
        FlowSession.objects.filter(tenant=tenant, flow__in=flows)
        .filter(Q(status__in=FlowSession.RUNNING) | Q(ended_at__gte=since))
        .values("flow_id", "status")
        .annotate(n=Count("id"))
    )
    for row in rows:
        status = "running" if row["status"] in FlowSession.RUNNING else row["status"]
        counts[row["flow_id"]][status] = counts[row["flow_id"]].get(status, 0) + row["n"]
    return counts


# --- the list, a new flow, a ready-made one ------------------------------------------------------------------


@require_GET
@require_perm(Perm.MANAGE_AUTOMATIONS)
def flow_list_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    flows = list(
        Flow.objects.filter(tenant=tenant).select_related("inbox", "published").order_by("position", "name", "id")
    )
    counts = _recent_counts(tenant, flows)
    rows = [{"flow": flow, "triggers": _triggers(flow), "counts": counts[flow.pk]} for flow in flows]
    context = {
        "rows": rows,
        "days": REPORT_DAYS,
        "new_form": FlowNewForm(tenant=tenant, auto_id="new_%s"),
        "install_form": FlowInstallForm(tenant=tenant, auto_id="install_%s"),
        "templates": [{"key": k, "name": n, "description": d} for k, (n, d) in library.templates().items()],
    }
    return render(request, "flows/flows_list.html", context)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def flow_create_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    form = FlowNewForm(request.POST if request.method == "POST" else None, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        spec = FlowSpec(name=form.cleaned_data["name"], inbox_id=_pk(form.cleaned_data.get("inbox")))
        try:
            flow = flow_create(membership=request.membership, spec=spec, request=request)  # type: ignore[attr-defined]
        except ApplicationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Bot flow “%(name)s” created: add its steps.") % {"name": flow.name})
            return redirect("flow_editor", tenant_slug=tenant_slug, flow_id=flow.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "flows/flow_new.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def flow_install_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    form = FlowInstallForm(request.POST if request.method == "POST" else None, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        try:
            flow = template_install(
                membership=request.membership,  # type: ignore[attr-defined]
                key=form.cleaned_data["template"],
                inbox_id=_pk(form.cleaned_data.get("inbox")),
                request=request,
            )
        except ApplicationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(
                request,
                _("Bot flow “%(name)s” installed and published. It is off: turn it on in its settings.")
                % {"name": flow.name},
            )
            return redirect("flow_editor", tenant_slug=tenant_slug, flow_id=flow.pk)
    templates = [{"key": k, "name": n, "description": d} for k, (n, d) in library.templates().items()]
    status = 400 if request.method == "POST" else 200
    return render(request, "flows/flow_install.html", {"form": form, "templates": templates}, status=status)


def _pk(obj: Any) -> int | None:
    return obj.pk if obj is not None else None


# --- a flow's settings, deleting it ----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def flow_settings_page(request: HttpRequest, tenant_slug: str, flow_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    flow = _flow(request, flow_id)
    form = FlowSettingsForm(request.POST if request.method == "POST" else None, tenant=tenant, flow=flow)
    if request.method == "POST" and form.is_valid():
        try:
            flow = flow_update(
                membership=request.membership,  # type: ignore[attr-defined]
                flow=flow,
                spec=form.spec(),
                request=request,
            )
        except ApplicationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Bot flow “%(name)s” saved.") % {"name": flow.name})
            return redirect("flow_settings", tenant_slug=tenant_slug, flow_id=flow.pk)
    status = 400 if request.method == "POST" else 200
    context = {"flow": flow, "form": form, "tab": "settings"}
    return render(request, "flows/flow_settings.html", context, status=status)


@require_POST
@require_perm(Perm.MANAGE_AUTOMATIONS)
def flow_delete_page(request: HttpRequest, tenant_slug: str, flow_id: int) -> HttpResponse:
    flow = _flow(request, flow_id)
    try:
        flow_delete(membership=request.membership, flow=flow, request=request)  # type: ignore[attr-defined]
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Bot flow “%(name)s” deleted.") % {"name": flow.name})
    return redirect("flow_list", tenant_slug=tenant_slug)


# --- previews --------------------------------------------------------------------------------------------------


class SampleVariables(Mapping[str, Any]):
    """The preview's variables: known ones from SAMPLE_VARIABLES, any other shown as its own ``{{name}}``."""

    def __init__(self, values: Mapping[str, Any], path: str = "") -> None:
        self.known = values
        self.path = path

    def __getitem__(self, key: str) -> Any:
        path = f"{self.path}.{key}" if self.path else key
        value = self.known.get(key)
        if isinstance(value, Mapping):
            return SampleVariables(value, path)
        if value is None:
            return SampleVariables({}, path)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __iter__(self) -> Iterator[str]:
        return iter(self.known)

    def __len__(self) -> int:
        return len(self.known)

    def __str__(self) -> str:
        return "{{" + self.path + "}}"


@dataclass
class Bubble:
    """One message of a preview, as the customer's phone would show it."""

    text: str = ""
    note: str = ""
    buttons: list[str] = field(default_factory=list)
    rows: list[tuple[str, str]] = field(default_factory=list)
    list_button: str = ""
    cta: str = ""
    media: str = ""
    products: int = 0


def _values(form: forms.Form) -> dict[str, str]:
    return {name: "" if form[name].value() is None else str(form[name].value()) for name in form.fields}


def _amount_shown(text: str, variables: Mapping[str, Any], language: str) -> str:
    text = text.strip()
    match = PLACEHOLDER.fullmatch(text)
    if match:
        value = lookup(variables, match.group(1))
        if isinstance(value, int) and not isinstance(value, bool):
            return amount_format(value, language=language)
        return str(value)
    try:
        return amount_format(amount_parse(text), language=language)
    except ApplicationError:
        return text


def card_preview(card: StepCard, language: str) -> list[Bubble]:
    """What the step sends, with sample values in its variables (the texts as typed, bound or not)."""
    if card.kind == RAW:
        return []
    variables = SampleVariables(SAMPLE_VARIABLES)
    values = _values(card.form)

    def text(name: str) -> str:
        return render_text(values.get(name, ""), variables, language)

    bubbles: list[Bubble] = []
    if card.kind == "message":
        bubble = Bubble(text=text("text"), cta=text("cta_text"))
        if values.get("media_type") or values.get("media_link"):
            bubble.media = str(MEDIA_LABELS.get(values.get("media_type", ""), "")) or values.get("media_link", "")
        bubble.products = len([s for s in values.get("products_skus", "").split(",") if s.strip()])
        bubbles.append(bubble)
    elif card.kind == "ask":
        bubble = Bubble(text=text("text"))
        rows = [_values(row) for row in card.rows]
        rows = [row for row in rows if row.get("title") or row.get("description")]
        if values.get("input") == "buttons":
            bubble.buttons = [render_text(row.get("title", ""), variables, language) for row in rows]
        elif values.get("input") == "list":
            bubble.list_button = text("list_button")
            bubble.rows = [
                (render_text(row.get("title", ""), variables, language), row.get("description", "")) for row in rows
            ]
        bubbles.append(bubble)
        if values.get("retry_text", "").strip():
            bubbles.append(Bubble(text=text("retry_text"), note=_("When the answer is not valid:")))
    elif card.kind == "payment":
        amount = _amount_shown(values.get("amount", ""), variables, language)
        method = render_text(values.get("method", ""), variables, language)
        shown = {"pix": "Pix", "card": _("Card")}.get(method.strip(), method)
        summary = " · ".join(part for part in (text("description"), amount, shown) if part.strip())
        bubbles.append(Bubble(text=summary, note=_("The payment request:")))
        if values.get("reminder_text", "").strip():
            bubbles.append(Bubble(text=text("reminder_text"), note=_("The reminder:")))
    elif card.kind in ("handover", "end") and values.get("text", "").strip():
        bubbles.append(Bubble(text=text("text")))
    return bubbles


def _wire(editor: DraftEditor, flow: Flow, tenant: Tenant) -> None:
    """Each card's preview, its ways to other steps, and its texts asking for a new preview as they change."""
    url = reverse("flow_preview", kwargs={"tenant_slug": tenant.slug, "flow_id": flow.pk})
    language = tenant.locale
    names = {card.step_id: _values(card.form).get("name", "") for card in editor.cards if card.step_id}
    for card in editor.cards:
        card.preview = card_preview(card, language)  # type: ignore[attr-defined]
        card.links = _links(card, names)  # type: ignore[attr-defined]
        for form in [card.form, *card.rows]:
            for bound in form.fields.values():
                if "data-preview-source" in bound.widget.attrs:
                    bound.widget.attrs.update(
                        {
                            "hx-post": url,
                            "hx-trigger": "input changed delay:300ms, change",
                            "hx-target": f"#preview-{card.index}",
                            "hx-swap": "innerHTML",
                            "hx-vals": f'{{"{PREVIEW_FIELD}": "{card.index}"}}',
                            "hx-sync": "this:replace",
                        }
                    )


def _links(card: StepCard, names: Mapping[str, str]) -> list[dict[str, str]]:
    """The steps this one leads to, with what takes the customer there."""
    if card.kind == RAW:
        return []
    values = _values(card.form)
    step: dict[str, Any] = {"type": card.kind}
    for name in ("next", "on_fail", "on_timeout", "on_error", "default"):
        if values.get(name):
            step[name] = values[name]
    rows = [_values(row) for row in card.rows]
    if card.kind == "ask":
        step["choices"] = [row for row in rows if row.get("next")]
    elif card.kind == "branch":
        step["rules"] = [
            {"if": {k: row.get(k, "") for k in ("subject", "name", "op", "value")}, "next": row["next"]}
            for row in rows
            if row.get("next")
        ]
    return [
        {"target": target, "name": names.get(target, ""), "label": edge_label(step, key)}
        for key, target in targets(step)
    ]


@require_POST
@require_perm(Perm.MANAGE_AUTOMATIONS)
def flow_preview_page(request: HttpRequest, tenant_slug: str, flow_id: int) -> HttpResponse:
    """The preview of one step of the editor's form as posted (``preview``: the step's place), as HTML to swap in."""
    _flow(request, flow_id)
    editor = DraftEditor(teams=[], data=request.POST)
    index = request.POST.get(PREVIEW_FIELD, "")
    card = next((c for c in editor.cards if str(c.index) == index), None)
    bubbles = card_preview(card, request.tenant.locale) if card is not None else []  # type: ignore[attr-defined]
    return render(request, "flows/flow_preview.html", {"bubbles": bubbles})


# --- the editor ------------------------------------------------------------------------------------------------


def _editor_page(
    request: HttpRequest, flow: Flow, editor: DraftEditor, *, status: int = 200, saved: FlowVersion | None = None
) -> HttpResponse:
    draft = saved or _draft(flow)
    shown = draft.definition if draft is not None else (flow.published.definition if flow.published else {})
    if editor.bound and hasattr(editor, "_definition"):
        shown = editor.definition()
    _wire(editor, flow, request.tenant)  # type: ignore[attr-defined]
    versions = list(_versions(flow))
    context = {
        "flow": flow,
        "editor": editor,
        "draft": draft,
        "draft_number": draft.number if draft else max((v.number for v in versions), default=0) + 1,
        "versions": versions,
        "diagram": flow_diagram(shown),
        "step_types": [(kind, TYPE_LABELS[kind]) for kind in STEP_TYPES],
        "start_options": [(card.step_id, card) for card in editor.cards if card.step_id],
        "tab": "steps",
    }
    return render(request, "flows/flow_editor.html", context, status=status)


def _apply(definition: dict[str, Any], action: str, new_type: str) -> str:
    """Add, remove or move a step of the posted definition; the id of the step to show after."""
    steps: list[Any] = definition["steps"]
    verb, _sep, where = action.partition(":")
    index = int(where) if where.isdigit() else -1
    if verb == "add" and new_type in STEP_FORMS:
        taken = {str(s.get("id")) for s in steps if isinstance(s, dict)}
        step = new_step(new_type, taken)
        steps.append(step)
        if not definition.get("start"):
            definition["start"] = step["id"]
        return str(step["id"])
    if not 0 <= index < len(steps):
        return ""
    if verb == "remove":
        removed = steps.pop(index)
        if isinstance(removed, dict) and definition.get("start") == removed.get("id"):
            definition["start"] = ""
        return ""
    if verb in ("up", "down"):
        other = index - 1 if verb == "up" else index + 1
        if 0 <= other < len(steps):
            steps[index], steps[other] = steps[other], steps[index]
        step = steps[other] if 0 <= other < len(steps) else steps[index]
        return str(step.get("id", "")) if isinstance(step, dict) else ""
    return ""


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def flow_editor_page(request: HttpRequest, tenant_slug: str, flow_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    membership = request.membership  # type: ignore[attr-defined]
    flow = _flow(request, flow_id)
    if request.method == "GET":
        draft = _draft(flow)
        definition = draft.definition if draft else (flow.published.definition if flow.published else {})
        return _editor_page(request, flow, DraftEditor(teams=_teams(tenant), definition=definition))
    editor = DraftEditor(teams=_teams(tenant), data=request.POST)
    if not editor.is_valid():
        messages.error(request, _("Nothing was saved: correct the fields marked below."))
        return _editor_page(request, flow, editor, status=400)
    definition = editor.definition()
    action = request.POST.get("action", "save")
    anchor = _apply(definition, action, request.POST.get("new_type", ""))
    try:
        draft = draft_save(membership=membership, flow=flow, definition=definition)
    except ApplicationError as exc:
        editor.errors.append(exc.message)
        return _editor_page(request, flow, editor, status=400)
    if action == "publish":
        try:
            version = flow_publish(membership=membership, flow=flow, request=request)
        except DefinitionInvalid as exc:
            editor.show_problems(exc.details.get("problems", []))
            messages.error(
                request, _("The draft is saved, but it cannot be published yet: %(reason)s") % {"reason": exc.message}
            )
            return _editor_page(request, flow, editor, status=400, saved=draft)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Version %(number)s published.") % {"number": version.number})
            return redirect("flow_editor", tenant_slug=tenant_slug, flow_id=flow.pk)
    elif action == "save":
        messages.success(request, _("Draft saved."))
    url = reverse("flow_editor", kwargs={"tenant_slug": tenant_slug, "flow_id": flow.pk})
    return redirect(f"{url}#step-{anchor}" if anchor else url)


@require_GET
@require_perm(Perm.MANAGE_AUTOMATIONS)
def flow_version_page(request: HttpRequest, tenant_slug: str, flow_id: int, version: int) -> HttpResponse:
    """A version as it was published (or the draft as it is), read-only."""
    flow = _flow(request, flow_id)
    found = FlowVersion.objects.filter(flow=flow, number=version).select_related("published_by").first()
    if found is None:
        raise Http404(_("No such version."))
    tenant = request.tenant  # type: ignore[attr-defined]
    editor = DraftEditor(teams=_teams(tenant), definition=found.definition)
    _wire(editor, flow, tenant)
    for card in editor.cards:
        for form in [card.form, *card.rows]:
            for bound in form.fields.values():
                bound.disabled = True
                for name in [n for n in bound.widget.attrs if n.startswith("hx-")]:
                    del bound.widget.attrs[name]
    context = {
        "flow": flow,
        "version": found,
        "editor": editor,
        "diagram": flow_diagram(found.definition),
        "start": found.definition.get("start") if isinstance(found.definition, dict) else "",
        "tab": "steps",
    }
    return render(request, "flows/flow_version.html", context)


# --- a test in the simulator -----------------------------------------------------------------------------------


def simulator_url(phone: str) -> str:
    """The phone simulator of the fake Cloud API this deployment talks to, on the customer's number ("" when it
    talks to Meta itself: there is no simulator then)."""
    base = str(getattr(settings, "WHATSAPP_API_BASE_URL", "")).rstrip("/")
    host = urlsplit(base).hostname or ""
    if not base or host.endswith("facebook.com"):
        return ""
    return f"{base}/simulator/?{urlencode({'customer': phone.lstrip('+')})}"


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def flow_test_page(request: HttpRequest, tenant_slug: str, flow_id: int) -> HttpResponse:
    flow = _flow(request, flow_id)
    form = FlowTestForm(request.POST if request.method == "POST" else None)
    context: dict[str, Any] = {"flow": flow, "form": form, "tab": "test", "minutes": TEST_ARM_SECONDS // 60}
    if request.method == "POST" and form.is_valid():
        try:
            phone = flow_test_arm(
                membership=request.membership,  # type: ignore[attr-defined]
                flow=flow,
                phone=form.cleaned_data["phone"],
            )
        except DefinitionInvalid as exc:
            form.add_error(None, exc.message)
            context["problems"] = exc.details.get("problems", [])
        except ApplicationError as exc:
            form.add_service_error(exc)
        else:
            context.update({"armed": phone, "simulator": simulator_url(phone)})
            return render(request, "flows/flow_test.html", context)
    return render(request, "flows/flow_test.html", context, status=400 if request.method == "POST" else 200)


# --- the sessions' report --------------------------------------------------------------------------------------


class SessionFilterForm(forms.Form):
    version = forms.TypedChoiceField(
        label=gettext_lazy("Version"), required=False, coerce=int, empty_value=None, choices=()
    )
    since = forms.DateField(label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, numbers: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [  # type: ignore[attr-defined]
            ("", _("Every version")),
            *((str(n), _("Version %(number)s") % {"number": n}) for n in numbers),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", _("The end of the range is before its start."))
        return data


REPORT_STATUSES = (
    ("started", gettext_lazy("Started")),
    (FlowSession.Status.COMPLETED, gettext_lazy("Completed")),
    (FlowSession.Status.HANDED_OVER, gettext_lazy("Handed over")),
    (FlowSession.Status.ABANDONED, gettext_lazy("Abandoned")),
    (FlowSession.Status.STOPPED, gettext_lazy("Stopped by an agent")),
    (FlowSession.Status.FAILED, gettext_lazy("Failed")),
    ("running", gettext_lazy("Running now")),
)


def _step_names(versions: Mapping[int, FlowVersion]) -> dict[int, dict[str, str]]:
    return {
        pk: {sid: str(step.get("name") or sid) for sid, step in steps_by_id(version.definition).items()}
        for pk, version in versions.items()
    }


@require_GET
@require_perm(Perm.MANAGE_AUTOMATIONS)
def flow_sessions_page(request: HttpRequest, tenant_slug: str, flow_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    flow = _flow(request, flow_id)
    versions = {v.pk: v for v in FlowVersion.objects.filter(flow=flow).order_by("-number")}
    form = SessionFilterForm(request.GET or None, numbers=[v.number for v in versions.values()])
    valid = not request.GET or form.is_valid()
    sessions = FlowSession.objects.filter(tenant=tenant, flow=flow)
    if request.GET and valid:
        data = form.cleaned_data
        if data.get("version") is not None:
            sessions = sessions.filter(version__number=data["version"])
        sessions = sessions.filter(
            day_bounds(data.get("since"), data.get("until"), workspace_zone(tenant), field="started_at")
        )
    by_status = {row["status"]: row["n"] for row in sessions.values("status").annotate(n=Count("id"))}
    started = sum(by_status.values())
    counts = dict(by_status)
    counts["started"] = started
    counts["running"] = sum(by_status.get(s, 0) for s in FlowSession.RUNNING)
    completed = by_status.get(FlowSession.Status.COMPLETED, 0)
    rate = (Decimal(completed * 100) / started).quantize(Decimal("0.1"), ROUND_HALF_UP) if started else None
    names = _step_names(versions)
    abandoned: dict[str, dict[str, Any]] = {}
    rows = (
        sessions.filter(status=FlowSession.Status.ABANDONED)
        .values("ended_step", "version_id")
        .annotate(n=Count("id"))
        .order_by("-version__number")
    )
    for row in rows:
        step = row["ended_step"]
        entry = abandoned.setdefault(step, {"step": step, "name": "", "count": 0})
        entry["count"] += row["n"]
        entry["name"] = entry["name"] or names.get(row["version_id"], {}).get(step, "")
    recent = list(
        sessions.select_related("conversation", "contact", "version").order_by("-started_at", "-id")[:SESSIONS_SHOWN]
    )
    for session in recent:
        step = session.ended_step or session.step
        session.step_name = names.get(session.version_id, {}).get(step, step)  # type: ignore[attr-defined]
    context = {
        "flow": flow,
        "form": form,
        "figures": [{"key": key, "label": label, "count": counts.get(key, 0)} for key, label in REPORT_STATUSES],
        "rate": rate,
        "abandoned": sorted(abandoned.values(), key=lambda e: (-e["count"], e["step"])),
        "sessions": recent,
        "shown": SESSIONS_SHOWN,
        "filtered": bool(request.GET),
        "tab": "sessions",
    }
    return render(request, "flows/flow_sessions.html", context, status=200 if valid else 400)


# --- the workspace's keys --------------------------------------------------------------------------------------


def _keys_set(tenant: Tenant) -> dict[str, bool]:
    found = FlowSettings.objects.filter(tenant=tenant).first()
    values = found.secrets if found is not None else {}
    return {name: bool(values.get(name)) for name in ("integration_secret", "transit_api_key")}


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def flow_keys_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """The integration secret (made here, shown once) and the transit operator's API key (only written)."""
    tenant = request.tenant  # type: ignore[attr-defined]
    membership = request.membership  # type: ignore[attr-defined]
    action = request.POST.get("action", "") if request.method == "POST" else ""
    form = TransitKeyForm(request.POST if action == "transit" else None)
    new_secret = ""
    status = 200
    try:
        if action == "generate":
            new_secret = secrets.token_urlsafe(32)
            flow_settings_save(membership=membership, integration_secret=new_secret, request=request)
        elif action == "remove_secret":
            flow_settings_save(membership=membership, integration_secret="", request=request)
            messages.success(request, _("The integration secret is removed."))
            return redirect("flow_keys", tenant_slug=tenant_slug)
        elif action == "remove_transit":
            flow_settings_save(membership=membership, transit_api_key="", request=request)
            messages.success(request, _("The transit operator's API key is removed."))
            return redirect("flow_keys", tenant_slug=tenant_slug)
        elif action == "transit":
            if form.is_valid():
                flow_settings_save(
                    membership=membership, transit_api_key=form.cleaned_data["transit_api_key"], request=request
                )
                messages.success(request, _("The transit operator's API key is saved."))
                return redirect("flow_keys", tenant_slug=tenant_slug)
            status = 400
    except ApplicationError as exc:
        form.add_service_error(exc)
        new_secret = ""
        status = 400
    context = {"form": form, "keys": _keys_set(tenant), "new_secret": new_secret}
    response = render(request, "flows/flows_keys.html", context, status=status)
    # The page may show a secret once: no copy of it in any cache.
    patch_cache_control(response, no_store=True, private=True)
    return response
