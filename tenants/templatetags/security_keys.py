"""Whether a user has a security key (WebAuthn), for the second-factor step of the login."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django import template

register = template.Library()


@register.filter
def has_security_key(user: object) -> bool:
    """True if ``user`` has registered at least one security key; anything else (no user) is False."""
    pk = getattr(user, "pk", None)
    if pk is None:
        return False
    return Authenticator.objects.filter(user_id=pk, type=Authenticator.Type.WEBAUTHN).exists()
