"""Settings pages of automation rules: the list in order (up and down), the form (rows of conditions and
actions built by static/js/rules.js from the options below; without JavaScript the same fields are JSON),
delete, each rule's run log and its dry-run. Guarded by "Manage automations"."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings as django_settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language_info, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from automations import rules_engine
from automations.models import AutomationRule, RuleRun
from automations.rules_schema import MESSAGE_EVENTS, TEXT_CONDITIONS
from automations.rules_services import (
    RuleSpec,
    rule_create,
    rule_delete,
    rule_get,
    rule_list,
    rule_move,
    rule_runs,
    rule_spec_of,
    rule_update,
)
from conversations import channels
from conversations.models import Conversation, Inbox, Label, QuickReply, Team
from helpdesk.exceptions import ApplicationError
from tenants.access import require_perm
from tenants.models import Membership, Tenant
from tenants.permissions import Perm

CONDITION_LABELS = {
    "text_contains": gettext_lazy("Message text contains"),
    "text_regex": gettext_lazy("Message text matches the regular expression"),
    "keywords": gettext_lazy("Message text has any of the keywords"),
    "contact_attribute": gettext_lazy("Contact attribute"),
    "contact_label": gettext_lazy("Contact label"),
    "conversation_label": gettext_lazy("Conversation label"),
    "inbox": gettext_lazy("Inbox"),
    "team": gettext_lazy("Team"),
    "priority": gettext_lazy("Priority"),
    "business_hours": gettext_lazy("Business hours"),
    "contact_language": gettext_lazy("Contact language"),
    "first_message": gettext_lazy("First message of the conversation"),
}
ACTION_LABELS = {
    "assign_agent": gettext_lazy("Assign to an agent"),
    "assign_team": gettext_lazy("Move to a team"),
    "unassign": gettext_lazy("Unassign"),
    "add_label": gettext_lazy("Add labels"),
    "remove_label": gettext_lazy("Remove labels"),
    "set_priority": gettext_lazy("Set the priority"),
    "send_message": gettext_lazy("Send a message"),
    "send_quick_reply": gettext_lazy("Send a quick reply"),
    "add_note": gettext_lazy("Add a private note"),
    "resolve": gettext_lazy("Resolve"),
    "snooze": gettext_lazy("Snooze"),
    "mute": gettext_lazy("Mute the conversation"),
}
OPERATOR_LABELS = {
    "equals": gettext_lazy("equals"),
    "contains": gettext_lazy("contains"),
    "exists": gettext_lazy("is set"),
    "not_exists": gettext_lazy("is not set"),
    "has": gettext_lazy("has"),
    "has_not": gettext_lazy("does not have"),
    "is": gettext_lazy("is"),
    "is_not": gettext_lazy("is not"),
}
UI_TEXTS = {
    "all": gettext_lazy("All of these (AND)"),
    "any": gettext_lazy("Any of these (OR)"),
    "add_condition": gettext_lazy("Add a condition"),
    "add_group": gettext_lazy("Add a group"),
    "add_action": gettext_lazy("Add an action"),
    "remove": gettext_lazy("Remove"),
    "up": gettext_lazy("Move up"),
    "down": gettext_lazy("Move down"),
    "value": gettext_lazy("Value"),
    "key": gettext_lazy("Attribute name"),
    "keywords": gettext_lazy("Keywords, one per line"),
    "languages": gettext_lazy("Language tags, one per line (pt-br, en…)"),
    "pattern": gettext_lazy("Regular expression"),
    "in_hours": gettext_lazy("inside business hours"),
    "out_hours": gettext_lazy("outside business hours"),
    "yes": gettext_lazy("yes"),
    "no": gettext_lazy("no"),
    "text": gettext_lazy("Text (inside the reply window)"),
    "template": gettext_lazy("Template (outside the reply window)"),
    "no_template": gettext_lazy("No template: send nothing outside the window"),
    "hours": gettext_lazy("Hours"),
    "for_hours": gettext_lazy("for a number of hours"),
    "next_opening": gettext_lazy("until the business hours open again"),
    "message_only": gettext_lazy("needs “message received”"),
    "no_conditions": gettext_lazy("No conditions: the rule runs on every event of its kind."),
}


def _options(tenant: Tenant) -> dict[str, Any]:
    """Everything the form's rows offer, in the reader's language, for static/js/rules.js."""
    inboxes = list(Inbox.objects.filter(tenant=tenant).order_by("name", "id"))
    templates: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for inbox in inboxes:
        try:
            found = channels.backend_for(inbox).templates_for(inbox)
        except LookupError:
            continue
        for template in found:
            key = (template["name"], template["language"])
            if key not in seen:
                seen.add(key)
                templates.append({"name": key[0], "language": key[1], "label": f"{key[0]} ({key[1]})"})
    members = (
        Membership.objects.filter(tenant=tenant, active=True)
        .select_related("user")
        .order_by("user__name", "user__email")
    )
    replies = QuickReply.objects.filter(
        tenant=tenant, scope__in=[QuickReply.Scope.TENANT, QuickReply.Scope.INBOX]
    ).order_by("shortcut")
    languages = []
    for code, _name in django_settings.LANGUAGES:
        info = get_language_info(code)
        languages.append({"value": code.lower(), "label": str(info["name_translated"])})
    return {
        "message_events": sorted(MESSAGE_EVENTS),
        "message_conditions": sorted(TEXT_CONDITIONS),
        "conditions": [{"value": k, "label": str(v)} for k, v in CONDITION_LABELS.items()],
        "actions": [{"value": k, "label": str(v)} for k, v in ACTION_LABELS.items()],
        "operators": {k: str(v) for k, v in OPERATOR_LABELS.items()},
        "labels": [
            {"value": label.pk, "label": label.name} for label in Label.objects.filter(tenant=tenant).order_by("name")
        ],
        "inboxes": [{"value": inbox.pk, "label": inbox.name} for inbox in inboxes],
        "teams": [
            {"value": team.pk, "label": team.name} for team in Team.objects.filter(tenant=tenant).order_by("name")
        ],
        "members": [{"value": m.user_id, "label": m.user.display_name} for m in members],
        "quick_replies": [{"value": r.pk, "label": f"/{r.shortcut}"} for r in replies],
        "templates": templates,
        "priorities": [{"value": v, "label": str(label)} for v, label in Conversation.Priority.choices],
        "languages": languages,
        "text": {k: str(v) for k, v in UI_TEXTS.items()},
    }


class RuleForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    event = forms.ChoiceField(label=gettext_lazy("When"), choices=AutomationRule.Event.choices)
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)
    stop_processing = forms.BooleanField(
        label=gettext_lazy("Stop processing further rules after this one"),
        help_text=gettext_lazy("When this rule matches, the rules after it are not run for the same event."),
        required=False,
    )
    conditions = forms.CharField(
        label=gettext_lazy("Conditions (JSON)"), required=False, widget=forms.Textarea(attrs={"rows": 6})
    )
    actions = forms.CharField(label=gettext_lazy("Actions (JSON)"), widget=forms.Textarea(attrs={"rows": 6}))

    def _json(self, name: str, empty: Any) -> Any:
        raw = self.cleaned_data.get(name) or ""
        if not raw.strip():
            return empty
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise forms.ValidationError(_("This could not be read: it is not valid JSON.")) from None

    def clean_conditions(self) -> Any:
        return self._json("conditions", {})

    def clean_actions(self) -> Any:
        return self._json("actions", [])

    def spec(self) -> RuleSpec:
        data = self.cleaned_data
        return RuleSpec(
            name=data["name"],
            event=data["event"],
            conditions=data["conditions"],
            actions=data["actions"],
            active=bool(data.get("active")),
            stop_processing=bool(data.get("stop_processing")),
        )


def _initial(rule: AutomationRule | None) -> dict[str, Any]:
    if rule is None:
        # Empty fields: no conditions (the rows start with an empty group) and no actions yet.
        return {"active": True, "event": AutomationRule.Event.MESSAGE_RECEIVED, "conditions": "", "actions": ""}
    spec = rule_spec_of(rule)
    return {
        "name": spec.name,
        "event": spec.event,
        "active": spec.active,
        "stop_processing": spec.stop_processing,
        "conditions": json.dumps(spec.conditions or {"op": "and", "items": []}, ensure_ascii=False),
        "actions": json.dumps(spec.actions, ensure_ascii=False),
    }


def _form_page(request: HttpRequest, rule: AutomationRule | None) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    membership = request.membership  # type: ignore[attr-defined]
    form = RuleForm(request.POST or None, initial=_initial(rule))
    if request.method == "POST" and form.is_valid():
        try:
            if rule is None:
                saved = rule_create(actor=membership, spec=form.spec(), request=request)
            else:
                saved = rule_update(actor=membership, rule=rule, spec=form.spec(), request=request)
        except ApplicationError as exc:
            field = exc.details.get("field")
            form.add_error(field if field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Rule “%(name)s” saved.") % {"name": saved.name})
            return redirect("rule_list", tenant_slug=tenant.slug)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "rule": rule, "options": _options(tenant)}
    return render(request, "automations/rule_form.html", context, status=status)


@require_GET
@require_perm(Perm.MANAGE_AUTOMATIONS)
def rules_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    rules = list(rule_list(tenant=request.tenant))  # type: ignore[attr-defined]
    return render(request, "automations/rule_list.html", {"rules": rules})


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def rules_create(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return _form_page(request, None)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def rules_edit(request: HttpRequest, tenant_slug: str, rule_id: int) -> HttpResponse:
    return _form_page(request, rule_get(tenant=request.tenant, rule_id=rule_id))  # type: ignore[attr-defined]


@require_POST
@require_perm(Perm.MANAGE_AUTOMATIONS)
def rules_delete(request: HttpRequest, tenant_slug: str, rule_id: int) -> HttpResponse:
    rule = rule_get(tenant=request.tenant, rule_id=rule_id)  # type: ignore[attr-defined]
    rule_delete(actor=request.membership, rule=rule, request=request)  # type: ignore[attr-defined]
    messages.success(request, _("Rule “%(name)s” deleted.") % {"name": rule.name})
    return redirect("rule_list", tenant_slug=tenant_slug)


@require_POST
@require_perm(Perm.MANAGE_AUTOMATIONS)
def rules_move(request: HttpRequest, tenant_slug: str, rule_id: int) -> HttpResponse:
    rule = rule_get(tenant=request.tenant, rule_id=rule_id)  # type: ignore[attr-defined]
    direction = request.POST.get("direction", "")
    if direction in ("up", "down"):
        rule_move(actor=request.membership, rule=rule, direction=direction, request=request)  # type: ignore[attr-defined]
    else:
        messages.error(request, _("Move a rule up or down."))
    return redirect("rule_list", tenant_slug=tenant_slug)


def _action_summary(run: RuleRun) -> list[dict[str, str]]:
    results = {
        "done": _("done"),
        "not_sent": _("not sent"),
        "skipped": _("skipped"),
        "error": _("failed"),
    }
    return [
        {
            "label": str(ACTION_LABELS.get(item.get("type", ""), item.get("type", ""))),
            "result": str(results.get(item.get("result", ""), item.get("result", ""))),
            "ok": item.get("result") == "done",
            "detail": item.get("detail", ""),
        }
        for item in run.actions_done or []
    ]


@require_GET
@require_perm(Perm.MANAGE_AUTOMATIONS)
def rules_runs(request: HttpRequest, tenant_slug: str, rule_id: int) -> HttpResponse:
    rule = rule_get(tenant=request.tenant, rule_id=rule_id)  # type: ignore[attr-defined]
    runs = [{"run": run, "actions": _action_summary(run)} for run in rule_runs(rule=rule)]
    return render(request, "automations/rule_runs.html", {"rule": rule, "runs": runs})


@require_GET
@require_perm(Perm.MANAGE_AUTOMATIONS)
def rules_dry_run(request: HttpRequest, tenant_slug: str, rule_id: int) -> HttpResponse:
    rule = rule_get(tenant=request.tenant, rule_id=rule_id)  # type: ignore[attr-defined]
    matches = rules_engine.rule_dry_run(rule=rule)
    context = {
        "rule": rule,
        "matches": matches,
        "days": rules_engine.DRY_RUN_DAYS,
        "limit": rules_engine.DRY_RUN_LIMIT,
    }
    return render(request, "automations/rule_dry_run.html", context)
