"""Settings pages of teams and auto-assignment: the teams (name, description, members and supervisors, the
calendar of their hours), and each inbox's auto-assignment with its agents' capacities. Guarded by "Manage
automations"."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from automations import assignment_settings as settings_services
from automations.models import CAPACITY_MAX, CAPACITY_MIN, AssignmentPolicy, BusinessCalendar
from conversations.models import Team, TeamMember
from conversations.selectors import team_get, team_list
from conversations.services import teams as team_services
from helpdesk.exceptions import ApplicationError
from tenants.access import require_perm
from tenants.models import Membership
from tenants.permissions import Perm


def _workspace_members(tenant_id: int) -> list[Membership]:
    return list(
        Membership.objects.filter(tenant_id=tenant_id, active=True)
        .select_related("user")
        .order_by("user__name", "user__email")
    )


class TeamForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=team_services.NAME_MAX)
    description = forms.CharField(
        label=gettext_lazy("Description"), max_length=team_services.DESCRIPTION_MAX, required=False
    )
    calendar = forms.ModelChoiceField(
        label=gettext_lazy("Business hours"),
        queryset=BusinessCalendar.objects.none(),
        required=False,
        empty_label=gettext_lazy("No hours of its own (always available)"),
        help_text=gettext_lazy("Outside these hours its members get no conversation from auto-assignment."),
    )

    def __init__(self, *args: Any, tenant_id: int, team: Team | None, **kwargs: Any) -> None:
        self.members = _workspace_members(tenant_id)
        initial: dict[str, Any] = {}
        if team is not None:
            initial = {"name": team.name, "description": team.description, "calendar": None}
            initial["calendar"] = settings_services.team_calendar_id(team=team)
            for row in TeamMember.objects.filter(tenant_id=tenant_id, team=team):
                initial[f"member_{row.user_id}"] = True
                initial[f"supervisor_{row.user_id}"] = row.is_supervisor
        kwargs["initial"] = initial
        super().__init__(*args, **kwargs)
        self.fields["calendar"].queryset = BusinessCalendar.objects.filter(tenant_id=tenant_id)  # type: ignore[attr-defined]
        for member in self.members:
            name = member.user.display_name
            self.fields[f"member_{member.user_id}"] = forms.BooleanField(
                label=_("%(name)s is a member") % {"name": name}, required=False
            )
            self.fields[f"supervisor_{member.user_id}"] = forms.BooleanField(
                label=_("%(name)s is a supervisor") % {"name": name}, required=False
            )

    @property
    def member_rows(self) -> list[tuple[Membership, forms.BoundField, forms.BoundField]]:
        return [(m, self[f"member_{m.user_id}"], self[f"supervisor_{m.user_id}"]) for m in self.members]

    def spec(self) -> team_services.TeamSpec:
        data = self.cleaned_data
        members = tuple(
            team_services.TeamMemberSpec(m.user_id, bool(data.get(f"supervisor_{m.user_id}")))
            for m in self.members
            if data.get(f"member_{m.user_id}") or data.get(f"supervisor_{m.user_id}")
        )
        return team_services.TeamSpec(name=data["name"], description=data.get("description") or "", members=members)

    def calendar_id(self) -> int | None:
        calendar = self.cleaned_data.get("calendar")
        return calendar.pk if calendar is not None else None

    def add_service_error(self, field: str | None, message: str) -> None:
        self.add_error(field if field in self.fields else None, message)


@require_GET
@require_perm(Perm.MANAGE_AUTOMATIONS)
def team_list_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    teams = list(team_list(tenant=tenant))
    counts: dict[int, list[int]] = {}
    for team_id, supervisor in TeamMember.objects.filter(tenant=tenant).values_list("team_id", "is_supervisor"):
        pair = counts.setdefault(team_id, [0, 0])
        pair[0] += 1
        pair[1] += int(supervisor)
    calendars = settings_services.team_calendars(tenant=tenant)
    rows = [
        {
            "team": team,
            "members": counts.get(team.pk, [0, 0])[0],
            "supervisors": counts.get(team.pk, [0, 0])[1],
            "calendar": calendars.get(team.pk),
        }
        for team in teams
    ]
    return render(request, "automations/teams.html", {"rows": rows})


def _save(request: HttpRequest, form: TeamForm, team: Team | None) -> Team | None:
    actor = request.membership  # type: ignore[attr-defined]
    try:
        with transaction.atomic():
            if team is None:
                team = team_services.team_create(actor=actor, spec=form.spec(), request=request)
            else:
                team = team_services.team_update(actor=actor, team=team, spec=form.spec(), request=request)
            settings_services.team_calendar_set(actor=actor, team=team, calendar_id=form.calendar_id())
    except ApplicationError as exc:
        form.add_service_error(exc.details.get("field"), exc.message)
        return None
    return team


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def team_create_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    form = TeamForm(request.POST or None, tenant_id=tenant.pk, team=None)
    if request.method == "POST" and form.is_valid():
        team = _save(request, form, None)
        if team is not None:
            messages.success(request, _("Team %(name)s created.") % {"name": team.name})
            return redirect("team_list", tenant_slug=tenant_slug)
    status = 400 if request.method == "POST" else 200
    return render(request, "automations/team_form.html", {"form": form, "team": None}, status=status)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def team_edit_page(request: HttpRequest, tenant_slug: str, team_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    team = team_get(tenant=tenant, team_id=team_id)
    form = TeamForm(request.POST or None, tenant_id=tenant.pk, team=team)
    if request.method == "POST" and form.is_valid():
        saved = _save(request, form, team)
        if saved is not None:
            messages.success(request, _("Team %(name)s saved.") % {"name": saved.name})
            return redirect("team_list", tenant_slug=tenant_slug)
    status = 400 if request.method == "POST" else 200
    return render(request, "automations/team_form.html", {"form": form, "team": team}, status=status)


@require_POST
@require_perm(Perm.MANAGE_AUTOMATIONS)
def team_delete_page(request: HttpRequest, tenant_slug: str, team_id: int) -> HttpResponse:
    team = team_get(tenant=request.tenant, team_id=team_id)  # type: ignore[attr-defined]
    name = team.name
    team_services.team_delete(actor=request.membership, team=team, request=request)  # type: ignore[attr-defined]
    messages.success(request, _("Team %(name)s deleted.") % {"name": name})
    return redirect("team_list", tenant_slug=tenant_slug)


# --- auto-assignment ------------------------------------------------------------------------------------


class PolicyForm(forms.Form):
    enabled = forms.BooleanField(
        label=gettext_lazy("Assign new conversations of this inbox automatically"), required=False
    )
    method = forms.ChoiceField(
        label=gettext_lazy("Method"), choices=AssignmentPolicy.Method.choices, widget=forms.RadioSelect
    )
    capacity = forms.IntegerField(
        label=gettext_lazy("Open conversations per agent"),
        min_value=CAPACITY_MIN,
        max_value=CAPACITY_MAX,
        help_text=gettext_lazy("An agent with this many open conversations of the inbox gets no more."),
    )
    team = forms.ModelChoiceField(
        label=gettext_lazy("Team queue for new conversations"),
        queryset=Team.objects.none(),
        required=False,
        empty_label=gettext_lazy("No team: any agent of the inbox"),
        help_text=gettext_lazy("New conversations go to this team's queue and only its members get them."),
    )
    reassign_on_offline = forms.BooleanField(
        label=gettext_lazy("Reassign when the agent goes offline"),
        help_text=gettext_lazy("Their open conversations of this inbox go back to the queue and on to others."),
        required=False,
    )

    def __init__(self, *args: Any, row: settings_services.PolicyRow, **kwargs: Any) -> None:
        policy = row.policy
        self.agents = settings_services.inbox_agents(inbox=row.inbox)
        initial: dict[str, Any] = {
            "enabled": policy.enabled,
            "method": policy.method,
            "capacity": policy.capacity,
            "team": policy.team_id,
            "reassign_on_offline": policy.reassign_on_offline,
        }
        for user_id, capacity in row.agent_capacities.items():
            initial[f"capacity_{user_id}"] = capacity
        kwargs["initial"] = initial
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = team_list(tenant=row.inbox.tenant_id)  # type: ignore[attr-defined]
        for agent in self.agents:
            self.fields[f"capacity_{agent.user_id}"] = forms.IntegerField(
                label=_("Capacity of %(name)s") % {"name": agent.user.display_name},
                min_value=0,
                max_value=CAPACITY_MAX,
                required=False,
            )

    @property
    def agent_rows(self) -> list[tuple[Membership, forms.BoundField]]:
        return [(a, self[f"capacity_{a.user_id}"]) for a in self.agents]

    def spec(self) -> settings_services.PolicySpec:
        data = self.cleaned_data
        team = data.get("team")
        return settings_services.PolicySpec(
            enabled=bool(data.get("enabled")),
            method=data["method"],
            capacity=data["capacity"],
            team_id=team.pk if team is not None else None,
            reassign_on_offline=bool(data.get("reassign_on_offline")),
            agent_capacities={
                a.user_id: data[f"capacity_{a.user_id}"]
                for a in self.agents
                if data.get(f"capacity_{a.user_id}") is not None
            },
        )

    def add_service_error(self, field: str | None, message: str) -> None:
        target = {"team_id": "team"}.get(field or "", field)
        self.add_error(target if target in self.fields else None, message)


class OverallCapacityForm(forms.Form):
    def __init__(self, *args: Any, tenant_id: int, **kwargs: Any) -> None:
        self.members = _workspace_members(tenant_id)
        kwargs["initial"] = {
            f"overall_{user_id}": capacity
            for user_id, capacity in settings_services.overall_capacities(tenant=tenant_id).items()
        }
        super().__init__(*args, **kwargs)
        for member in self.members:
            self.fields[f"overall_{member.user_id}"] = forms.IntegerField(
                label=_("Overall capacity of %(name)s") % {"name": member.user.display_name},
                min_value=0,
                max_value=CAPACITY_MAX,
                required=False,
            )

    @property
    def rows(self) -> list[tuple[Membership, forms.BoundField]]:
        return [(m, self[f"overall_{m.user_id}"]) for m in self.members]

    def capacities(self) -> dict[int, int]:
        data = self.cleaned_data
        return {
            m.user_id: data[f"overall_{m.user_id}"]
            for m in self.members
            if data.get(f"overall_{m.user_id}") is not None
        }


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def auto_assignment_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """Every inbox's policy, and the agents' overall capacities (the form posted here)."""
    tenant = request.tenant  # type: ignore[attr-defined]
    form = OverallCapacityForm(request.POST or None, tenant_id=tenant.pk)
    if request.method == "POST" and form.is_valid():
        try:
            settings_services.overall_capacities_set(
                actor=request.membership,  # type: ignore[attr-defined]
                capacities=form.capacities(),
                request=request,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Agents' overall capacities saved."))
            return redirect("auto_assignment_list", tenant_slug=tenant_slug)
    status = 400 if request.method == "POST" else 200
    rows = settings_services.policy_rows(tenant=tenant)
    return render(request, "automations/auto_assignment.html", {"rows": rows, "form": form}, status=status)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_AUTOMATIONS)
def auto_assignment_edit(request: HttpRequest, tenant_slug: str, inbox_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    row = settings_services.policy_row(tenant=tenant, inbox_id=inbox_id)
    form = PolicyForm(request.POST or None, row=row)
    if request.method == "POST" and form.is_valid():
        try:
            settings_services.policy_update(
                actor=request.membership,  # type: ignore[attr-defined]
                inbox=row.inbox,
                spec=form.spec(),
                request=request,
            )
        except ApplicationError as exc:
            form.add_service_error(exc.details.get("field"), exc.message)
        else:
            messages.success(request, _("Auto-assignment of %(inbox)s saved.") % {"inbox": row.inbox.name})
            return redirect("auto_assignment_list", tenant_slug=tenant_slug)
    status = 400 if request.method == "POST" else 200
    return render(request, "automations/auto_assignment_form.html", {"form": form, "row": row}, status=status)
