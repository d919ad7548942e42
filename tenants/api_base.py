"""The base of every tenant API view: resolves the tenant and checks one permission."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from helpdesk.exceptions import MfaRequired
from tenants.access import membership_needs_mfa_enrolment
from tenants.api_auth import ApiTokenUser
from tenants.languages import effective_language, requested_language
from tenants.models import ApiToken, Membership, Tenant
from tenants.selectors import membership_for


class HasTenantPerm(BasePermission):
    """Allows the request when the token or membership holds the view's ``required_perm``."""

    message = gettext_lazy("You do not have permission to perform this action.")

    def has_permission(self, request: Request, view: Any) -> bool:
        perm = getattr(view, "required_perm", None)
        principal: Membership | ApiToken | None = getattr(view, "principal", None)
        if principal is None:
            return False
        return perm is None or principal.has_perm(perm)


class TenantAPIView(APIView):
    """Views under ``/api/v1/t/<tenant_slug>/``. Sets ``self.tenant`` and ``self.principal``."""

    required_perm: str | None = None
    tenant: Tenant
    principal: Membership | ApiToken

    def get_permissions(self) -> list[BasePermission]:
        return [*super().get_permissions(), HasTenantPerm()]  # type: ignore[list-item]  # DRF stubs

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.format_kwarg = self.get_format_suffix(**kwargs)
        neg = self.perform_content_negotiation(request)
        request.accepted_renderer, request.accepted_media_type = neg
        self.perform_authentication(request)
        if request.user is None or not request.user.is_authenticated:
            self.permission_denied(request)  # raises NotAuthenticated
        slug = kwargs["tenant_slug"]
        if isinstance(request.user, ApiTokenUser):
            token = request.user.token
            if token.tenant.slug != slug:
                raise Http404(_("Not found."))
            self.tenant, self.principal = token.tenant, token
        else:
            membership = membership_for(user=request.user, tenant_slug=slug)
            if membership_needs_mfa_enrolment(membership):
                raise MfaRequired(_("This workspace requires multi-factor authentication. Enrol before using the API."))
            self.tenant, self.principal = membership.tenant, membership
        # Messages in the language the request asks for (Accept-Language), else the workspace's; codes stay.
        language = effective_language(
            user_language=requested_language(request) or "", tenant_language=self.tenant.locale
        )
        translation.activate(language)
        request.LANGUAGE_CODE = language
        super().initial(request, *args, **kwargs)
