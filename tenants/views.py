"""Tenant pages: workspace picker, members, invitations, roles, security, API tokens, audit log."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import get_adapter as get_account_adapter
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from helpdesk.exceptions import ApplicationError
from tenants import selectors, services
from tenants.access import require_perm
from tenants.audit_display import audit_rows
from tenants.forms import (
    AcceptInvitationForm,
    ApiTokenForm,
    AuditFilterForm,
    InviteForm,
    MemberRoleForm,
    PreferencesForm,
    RoleForm,
    SecurityForm,
    WorkspaceCreateForm,
    WorkspaceSettingsForm,
)
from tenants.languages import effective_language, language_or_none
from tenants.models import AuditLogEntry, Membership, Tenant, User
from tenants.permissions import Perm


def _tenant_url(name: str, request: HttpRequest, **kwargs: object) -> str:
    return reverse(name, kwargs={"tenant_slug": request.tenant.slug, **kwargs})  # type: ignore[attr-defined]


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("account_login")
    memberships = list(selectors.user_memberships(user=request.user))  # type: ignore[arg-type]
    last = request.user.last_tenant_id  # type: ignore[union-attr]
    for m in memberships:
        if m.tenant_id == last:
            return redirect("tenant_dashboard", tenant_slug=m.tenant.slug)
    if len(memberships) == 1:
        return redirect("tenant_dashboard", tenant_slug=memberships[0].tenant.slug)
    return redirect("workspaces")


@login_required
@require_http_methods(["GET", "POST"])
def workspaces(request: HttpRequest) -> HttpResponse:
    form = WorkspaceCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            tenant = services.tenant_create(
                name=form.cleaned_data["name"],
                owner=request.user,  # type: ignore[arg-type]
                timezone_name=form.cleaned_data["timezone"],
                locale=form.cleaned_data["locale"],
                request=request,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Workspace %(name)s created.") % {"name": tenant.name})
            return redirect("tenant_dashboard", tenant_slug=tenant.slug)
    memberships = selectors.user_memberships(user=request.user)  # type: ignore[arg-type]
    return render(request, "tenants/workspaces.html", {"memberships": memberships, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def account_preferences(request: HttpRequest) -> HttpResponse:
    """The signed-in person's own preferences (the time zone their times are shown in)."""
    user: User = request.user  # type: ignore[assignment]
    form = PreferencesForm(request.POST or None, initial={"time_zone": user.time_zone, "language": user.language})
    if request.method == "POST":
        if form.is_valid():
            services.user_preferences_update(
                user=user, time_zone=form.cleaned_data["time_zone"], language=form.cleaned_data["language"]
            )
            translation.activate(effective_language(user_language=user.language, tenant_language=_last_language(user)))
            messages.success(request, _("Preferences saved."))
            return redirect("account_preferences")
        return render(request, "tenants/preferences.html", {"form": form}, status=400)
    return render(request, "tenants/preferences.html", {"form": form})


def _last_language(user: User) -> str:
    return user.last_tenant.locale if user.last_tenant_id else ""  # type: ignore[union-attr]


@login_required
@require_POST
def account_language(request: HttpRequest) -> HttpResponse:
    """The language switcher of the user menu: the person's own language, then back to the page."""
    user: User = request.user  # type: ignore[assignment]
    language = request.POST.get("language", "")
    if language_or_none(language) != language:
        return HttpResponseBadRequest(_("Choose one of the product's languages."))
    services.user_preferences_update(user=user, language=language)
    translation.activate(language)
    messages.success(request, _("The product is now shown in %(language)s.") % {"language": _language_name(language)})
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("account_preferences")
    return redirect(target)


def _language_name(code: str) -> str:
    return str(dict(settings.LANGUAGES)[code])


@login_required
@require_GET
def mfa_required(request: HttpRequest) -> HttpResponse:
    tenant = Tenant.objects.filter(slug=request.GET.get("tenant", ""), active=True).first()
    membership = None
    if tenant is not None:
        membership = Membership.objects.filter(tenant=tenant, user=request.user, active=True).first()  # type: ignore[misc]
    if selectors.user_has_mfa(user=request.user) and membership is not None:  # type: ignore[arg-type]
        return redirect("tenant_dashboard", tenant_slug=tenant.slug)  # type: ignore[union-attr]
    return render(
        request,
        "tenants/mfa_required.html",
        {"required_tenant": tenant if membership else None},
        status=403,
    )


@require_GET
def tenant_dashboard(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    context = {
        "member_count": selectors.member_list(tenant=tenant).count(),
        "has_mfa": selectors.user_has_mfa(user=request.user),  # type: ignore[arg-type]
        "mfa_required": selectors.membership_requires_mfa(membership=request.membership),  # type: ignore[attr-defined]
    }
    return render(request, "tenants/dashboard.html", context)


@require_POST
def tenant_leave(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    membership = request.membership  # type: ignore[attr-defined]
    try:
        services.membership_remove(actor=membership, membership=membership, request=request)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("tenant_dashboard", tenant_slug=tenant_slug)
    messages.success(request, _("You left %(name)s.") % {"name": membership.tenant.name})
    return redirect("workspaces")


# --- members ---------------------------------------------------------------------------------


def _members_context(request: HttpRequest, invite_form: InviteForm | None = None) -> dict[str, object]:
    tenant = request.tenant  # type: ignore[attr-defined]
    roles = selectors.role_list(tenant=tenant)
    members = list(selectors.member_list(tenant=tenant))
    return {
        "members": members,
        "invitations": selectors.invitation_list_pending(tenant=tenant),
        "roles": roles,
        "invite_form": invite_form or InviteForm(roles=roles),
        "owner_count": sum(1 for m in members if m.is_owner),
    }


@require_GET
@require_perm(Perm.MANAGE_MEMBERS)
def member_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return render(request, "tenants/members.html", _members_context(request))


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_MEMBERS)
def member_invite(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    roles = selectors.role_list(tenant=request.tenant)  # type: ignore[attr-defined]
    form = InviteForm(request.POST or None, roles=roles)
    if request.method == "POST" and form.is_valid():
        try:
            invitation, _token = services.invitation_create(
                actor=request.membership,  # type: ignore[attr-defined]
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                request=request,
            )
        except ApplicationError as exc:
            form.add_error("email", exc.message)
        else:
            messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
            return redirect(_tenant_url("member_list", request))
    status = 400 if request.method == "POST" else 200
    return render(request, "tenants/members.html", _members_context(request, form), status=status)


@require_POST
@require_perm(Perm.MANAGE_MEMBERS)
def member_change_role(request: HttpRequest, tenant_slug: str, membership_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    member = selectors.member_get(tenant=tenant, membership_id=membership_id)
    form = MemberRoleForm(request.POST, roles=selectors.role_list(tenant=tenant))
    if not form.is_valid():
        messages.error(request, _("Choose a valid role."))
    else:
        try:
            services.membership_change_role(
                actor=request.membership,  # type: ignore[attr-defined]
                membership=member,
                role=form.cleaned_data["role"],
                request=request,
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            role_name = form.cleaned_data["role"].display_name
            messages.success(request, _("%(user)s is now %(role)s.") % {"user": member.user.email, "role": role_name})
    return redirect(_tenant_url("member_list", request))


@require_POST
@require_perm(Perm.MANAGE_MEMBERS)
def member_remove(request: HttpRequest, tenant_slug: str, membership_id: int) -> HttpResponse:
    member = selectors.member_get(tenant=request.tenant, membership_id=membership_id)  # type: ignore[attr-defined]
    try:
        services.membership_remove(actor=request.membership, membership=member, request=request)  # type: ignore[attr-defined]
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("%(user)s was removed.") % {"user": member.user.email})
    if member.pk == request.membership.pk:  # type: ignore[attr-defined]
        return redirect("workspaces")
    return redirect(_tenant_url("member_list", request))


@require_POST
@require_perm(Perm.MANAGE_MEMBERS)
def member_reset_mfa(request: HttpRequest, tenant_slug: str, membership_id: int) -> HttpResponse:
    member = selectors.member_get(tenant=request.tenant, membership_id=membership_id)  # type: ignore[attr-defined]
    try:
        services.member_mfa_reset(actor=request.membership, membership=member, request=request)  # type: ignore[attr-defined]
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("MFA of %(user)s was reset.") % {"user": member.user.email})
    return redirect(_tenant_url("member_list", request))


@require_POST
@require_perm(Perm.MANAGE_MEMBERS)
def invitation_revoke(request: HttpRequest, tenant_slug: str, invitation_id: int) -> HttpResponse:
    invitation = selectors.invitation_get(tenant=request.tenant, invitation_id=invitation_id)  # type: ignore[attr-defined]
    try:
        services.invitation_revoke(actor=request.membership, invitation=invitation, request=request)  # type: ignore[attr-defined]
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Invitation to %(email)s withdrawn.") % {"email": invitation.email})
    return redirect(_tenant_url("member_list", request))


# --- roles -----------------------------------------------------------------------------------


@require_GET
@require_perm(Perm.MANAGE_ROLES)
def role_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    roles = selectors.role_list(tenant=request.tenant)  # type: ignore[attr-defined]
    return render(request, "tenants/roles.html", {"roles": roles, "perm_choices": Perm.choices})


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_ROLES)
def role_create(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = RoleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            role = services.role_create(
                actor=request.membership,  # type: ignore[attr-defined]
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                permissions=form.cleaned_data["permissions"],
                request=request,
            )
        except ApplicationError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, _("Role %(name)s created.") % {"name": role.display_name})
            return redirect(_tenant_url("role_list", request))
    status = 400 if request.method == "POST" else 200
    return render(request, "tenants/role_form.html", {"form": form, "role": None}, status=status)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_ROLES)
def role_edit(request: HttpRequest, tenant_slug: str, role_id: int) -> HttpResponse:
    role = selectors.role_get(tenant=request.tenant, role_id=role_id)  # type: ignore[attr-defined]
    initial = {"name": role.display_name, "description": role.display_description, "permissions": sorted(role.perm_set)}
    form = RoleForm(request.POST or None, initial=initial)
    if role.builtin:
        for field in form.fields.values():
            field.disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            services.role_update(
                actor=request.membership,  # type: ignore[attr-defined]
                role=role,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                permissions=form.cleaned_data["permissions"],
                request=request,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Role %(name)s saved.") % {"name": role.display_name})
            return redirect(_tenant_url("role_list", request))
    status = 400 if request.method == "POST" else 200
    return render(request, "tenants/role_form.html", {"form": form, "role": role}, status=status)


@require_POST
@require_perm(Perm.MANAGE_ROLES)
def role_delete(request: HttpRequest, tenant_slug: str, role_id: int) -> HttpResponse:
    role = selectors.role_get(tenant=request.tenant, role_id=role_id)  # type: ignore[attr-defined]
    try:
        services.role_delete(actor=request.membership, role=role, request=request)  # type: ignore[attr-defined]
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Role %(name)s deleted.") % {"name": role.display_name})
    return redirect(_tenant_url("role_list", request))


# --- security --------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_ROLES)
def security_settings(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    roles = selectors.role_list(tenant=tenant)
    initial = {"mfa_policy": tenant.mfa_policy, "roles": list(tenant.mfa_required_roles.all())}
    form = SecurityForm(request.POST or None, roles=roles, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.tenant_security_update(
                actor=request.membership,  # type: ignore[attr-defined]
                mfa_policy=form.cleaned_data["mfa_policy"],
                roles=list(form.cleaned_data["roles"]),
                request=request,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Security settings saved."))
            return redirect(_tenant_url("security_settings", request))
    members = selectors.member_list(tenant=tenant)
    without_mfa = [m for m in members if not m.mfa_enabled]  # type: ignore[attr-defined]
    status = 400 if request.method == "POST" else 200
    return render(request, "tenants/security.html", {"form": form, "without_mfa": without_mfa}, status=status)


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_ROLES)
def workspace_settings(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    initial = {"timezone": tenant.timezone, "locale": tenant.locale, "country": tenant.country}
    form = WorkspaceSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            try:
                tenant = services.tenant_settings_update(
                    actor=request.membership,  # type: ignore[attr-defined]
                    timezone_name=form.cleaned_data["timezone"],
                    locale=form.cleaned_data["locale"],
                    country=form.cleaned_data["country"],
                    request=request,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                user: User = request.user  # type: ignore[assignment]
                translation.activate(effective_language(user_language=user.language, tenant_language=tenant.locale))
                messages.success(request, _("Workspace settings saved."))
                return redirect(_tenant_url("workspace_settings", request))
        return render(request, "tenants/workspace_settings.html", {"form": form}, status=400)
    return render(request, "tenants/workspace_settings.html", {"form": form})


# --- API tokens ------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require_perm(Perm.MANAGE_MEMBERS)
def api_token_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    roles = selectors.role_list(tenant=tenant).exclude(key="owner")
    form = ApiTokenForm(request.POST or None, roles=roles)
    new_token = None
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                _token, new_token = services.api_token_create(
                    actor=request.membership,  # type: ignore[attr-defined]
                    name=form.cleaned_data["name"],
                    role=form.cleaned_data["role"],
                    request=request,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                status = 201
                form = ApiTokenForm(roles=roles)
    tokens = selectors.api_token_list(tenant=tenant)
    return render(
        request, "tenants/api_tokens.html", {"form": form, "tokens": tokens, "new_token": new_token}, status=status
    )


@require_POST
@require_perm(Perm.MANAGE_MEMBERS)
def api_token_revoke(request: HttpRequest, tenant_slug: str, token_id: int) -> HttpResponse:
    token = selectors.api_token_get(tenant=request.tenant, token_id=token_id)  # type: ignore[attr-defined]
    services.api_token_revoke(actor=request.membership, token=token, request=request)  # type: ignore[attr-defined]
    messages.success(request, _("API token %(name)s revoked.") % {"name": token.name})
    return redirect(_tenant_url("api_token_list", request))


# --- audit log -------------------------------------------------------------------------------


@require_GET
@require_perm(Perm.VIEW_AUDIT_LOG)
def audit_log(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    actors = [(m.user_id, m.user.email) for m in selectors.member_list(tenant=tenant)]
    actions = [(value, str(label)) for value, label in AuditLogEntry.Action.choices]
    form = AuditFilterForm(request.GET or None, actors=actors, actions=actions)
    filters = form.cleaned_data if form.is_valid() else {}
    entries = selectors.audit_log_list(
        tenant=tenant,
        actor_id=filters.get("actor"),
        action=filters.get("action") or None,
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
    )
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    rows = audit_rows(tenant_id=tenant.pk, entries=page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    status = 400 if request.GET and not form.is_valid() else 200
    return render(
        request,
        "tenants/audit_log.html",
        {"form": form, "page": page, "rows": rows, "query": query.urlencode()},
        status=status,
    )


# --- invitations (the invitee is not a member yet: no tenant in the URL) ---------------------


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = services.invitation_by_token(raw_token=token)
    except ApplicationError as exc:
        return render(request, "tenants/invitation_invalid.html", {"message": exc.message}, status=exc.status_code)
    user = request.user if request.user.is_authenticated else None
    account_exists = User.objects.filter(email__iexact=invitation.email).exists()
    form = None if (user or account_exists) else AcceptInvitationForm(request.POST or None, email=invitation.email)
    context: dict[str, Any] = {"invitation": invitation, "form": form, "account_exists": account_exists}
    if request.method == "POST":
        if form is not None and not form.is_valid():
            return render(request, "tenants/invitation_accept.html", context, status=400)
        try:
            membership, joined = services.invitation_accept(
                raw_token=token,
                user=user,  # type: ignore[arg-type]
                password=form.cleaned_data["password1"] if form else "",
                name=form.cleaned_data["name"] if form else "",
                request=request,
            )
        except ApplicationError as exc:
            context["error"] = exc.message
            return render(request, "tenants/invitation_accept.html", context, status=exc.status_code)
        if user is None:
            joined.backend = "django.contrib.auth.backends.ModelBackend"
            get_account_adapter(request).login(request, joined)
        messages.success(request, _("Welcome to %(name)s.") % {"name": membership.tenant.name})
        return redirect("tenant_dashboard", tenant_slug=membership.tenant.slug)
    return render(request, "tenants/invitation_accept.html", context)
