"""Who may act in a tenant: the single place where membership, MFA policy and permissions are checked."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from tenants.models import Membership
from tenants.selectors import membership_requires_mfa, user_has_mfa


def membership_needs_mfa_enrolment(membership: Membership) -> bool:
    return membership_requires_mfa(membership=membership) and not user_has_mfa(user=membership.user)


def require_perm(perm: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Guard a tenant page: the caller's membership (set by ``TenantMiddleware``) must hold ``perm``."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            membership: Membership | None = getattr(request, "membership", None)
            if membership is None or not membership.has_perm(perm):
                raise PermissionDenied(_("You do not have permission to open this page."))
            return view(request, *args, **kwargs)

        wrapped.required_perm = perm  # type: ignore[attr-defined]
        return wrapped

    return decorator
