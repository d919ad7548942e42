"""Django's admin behind the product's own login: allauth's form, its throttling and the second factor.

The admin's login page is allauth's login view, so a password alone never opens an admin session and
failed attempts count against the same limits as everywhere else; its logout is allauth's too. Only
active staff with a second factor may use the admin; staff without one are sent to set it up. Each
session's first entry into the admin is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from allauth.account.views import login as account_login
from allauth.account.views import logout as account_logout
from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from tenants.models import AuditLogEntry, User
from tenants.selectors import user_has_mfa
from tenants.services import audit_user_event

ADMIN_SESSION_KEY = "admin_entered_by"
View = TypeVar("View", bound=Callable[..., HttpResponseBase])


class StaffAdminSite(admin.AdminSite):
    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and user_has_mfa(user=user))  # type: ignore[arg-type]

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        index = reverse("admin:index", current_app=self.name)
        next_url = request.GET.get(REDIRECT_FIELD_NAME, "")
        if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
            next_url = index
        user = request.user
        if not user.is_authenticated:
            if request.method == "GET" and request.GET.get(REDIRECT_FIELD_NAME) != next_url:
                return redirect(f"{request.path}?{urlencode({REDIRECT_FIELD_NAME: next_url}, safe='/')}")
            return account_login(request)
        if self.has_permission(request):
            return redirect(next_url)
        if user.is_active and user.is_staff:
            return render(request, "tenants/mfa_required.html", {"for_admin": True}, status=403)
        raise PermissionDenied(_("Only staff may use the admin."))

    def logout(  # type: ignore[override]  # a redirect, not the admin's "logged out" page
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # allauth's logout, so that leaving the admin is audited like any other logout.
        return account_logout(request)

    def admin_view(self, view: View, cacheable: bool = False) -> View:
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def audited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if self.has_permission(request) and request.session.get(ADMIN_SESSION_KEY) != request.user.pk:
                request.session[ADMIN_SESSION_KEY] = request.user.pk
                user: User = request.user  # type: ignore[assignment]
                audit_user_event(
                    action=AuditLogEntry.Action.LOGIN_SUCCEEDED, user=user, request=request, extra={"area": "admin"}
                )
            return inner(request, *args, **kwargs)

        return cast(View, audited)
