"""DRF authentication by tenant API token: ``Authorization: Bearer hd_<prefix>_<secret>``."""

from __future__ import annotations

import hmac
import re
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from tenants.models import ApiToken, token_digest

TOKEN_RE = re.compile(r"^hd_([0-9a-f]{8})_[A-Za-z0-9_\-]{20,64}$")


class ApiTokenUser:
    """The principal of a token request: not a person, bound to one tenant and role."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    pk = None
    id = None

    def __init__(self, token: ApiToken):
        self.token = token

    def __str__(self) -> str:
        return _("API token %(prefix)s") % {"prefix": self.token.prefix}


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiTokenUser, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if parts[0].lower() != self.keyword.lower():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed Authorization header: expected 'Bearer <token>'."))
        raw = parts[1]
        match = TOKEN_RE.match(raw)
        if not match:
            raise exceptions.AuthenticationFailed(_("Malformed API token."))
        token = ApiToken.objects.select_related("tenant", "role").filter(prefix=match.group(1)).first()
        if token is None or not hmac.compare_digest(token.token_hash, token_digest(raw)):
            raise exceptions.AuthenticationFailed(_("Invalid API token."))
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("This API token has been revoked."))
        if not token.tenant.active:
            raise exceptions.AuthenticationFailed(_("This API token's workspace is inactive."))
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return ApiTokenUser(token), token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents the token scheme in the OpenAPI schema."""

    target_class = "tenants.api_auth.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "hd_<prefix>_<secret>"}
