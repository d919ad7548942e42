"""Resolves the tenant of every ``/t/<slug>/`` page from the caller's membership, and the time zone and
language every page is shown in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone, translation

from tenants.access import membership_needs_mfa_enrolment
from tenants.languages import effective_language
from tenants.models import User
from tenants.selectors import membership_for
from tenants.timezones import effective_zone, zone_or_none


class TenantMiddleware:
    """Sets ``request.tenant`` and ``request.membership`` for views that take ``tenant_slug``.

    A non-member gets the same 404 as for a workspace that does not exist. A member whose
    workspace requires MFA and who has none is sent to enrolment first. API views resolve
    their tenant in ``tenants.api_base`` because they also accept API tokens.

    Pages show times in the member's own time zone if they chose one, else the workspace's; pages
    outside a workspace use the member's zone or UTC. The API is left in UTC (ISO 8601 with offset).

    The language (see ``tenants.languages``): the member's own, else the workspace's, else the one
    Django's ``LocaleMiddleware`` took from the browser; outside a workspace, the person's own, else
    that of the workspace they last worked in. Pages before signing in keep the browser's.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()  # a reused thread or context starts the next request in UTC

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        slug = view_kwargs.get("tenant_slug")
        if slug is not None and getattr(view_func, "cls", None) is not None:
            return None  # the API (``tenants.api_base``) resolves its own tenant and language
        if slug is None:
            if request.user.is_authenticated:
                person: User = request.user  # type: ignore[assignment]
                if (own := zone_or_none(person.time_zone)) is not None:
                    timezone.activate(own)
                last = person.language or (person.last_tenant.locale if person.last_tenant_id else "")  # type: ignore[union-attr]
                _activate_language(request, effective_language(user_language=last, browser_language=_browser(request)))
            return None
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        membership = membership_for(user=request.user, tenant_slug=slug)  # type: ignore[arg-type]
        if membership_needs_mfa_enrolment(membership):
            return redirect(f"{reverse('mfa_required')}?tenant={membership.tenant.slug}")
        request.tenant = membership.tenant  # type: ignore[attr-defined]
        request.membership = membership  # type: ignore[attr-defined]
        user: User = request.user  # type: ignore[assignment]
        timezone.activate(effective_zone(user_zone=user.time_zone, tenant_zone=membership.tenant.timezone))
        _activate_language(
            request,
            effective_language(
                user_language=user.language,
                tenant_language=membership.tenant.locale,
                browser_language=_browser(request),
            ),
        )
        if user.last_tenant_id != membership.tenant_id:
            user.last_tenant = membership.tenant
            user.save(update_fields=["last_tenant"])
        return None


def _browser(request: HttpRequest) -> str:
    """What ``LocaleMiddleware`` chose from the browser (Accept-Language, the language cookie)."""
    return getattr(request, "LANGUAGE_CODE", "") or ""


def _activate_language(request: HttpRequest, language: str) -> None:
    translation.activate(language)
    request.LANGUAGE_CODE = language  # type: ignore[attr-defined]
