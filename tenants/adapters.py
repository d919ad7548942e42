"""allauth adapters: where login, logout and failed logins reach the audit log."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from allauth.account.stages import EmailVerificationStage
from allauth.mfa.adapter import DefaultMFAAdapter
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext as _

from helpdesk import crypto
from tenants.client_address import client_address
from tenants.models import AuditLogEntry, User
from tenants.services import audit_user_event


class SignupEmailVerificationStage(EmailVerificationStage):
    """Asks only self-service signups to confirm their address.

    A signup records its address (unconfirmed until the link in the e-mail is followed). Accounts made
    from an invitation, which proved the address, or by staff have no address record and log in as they are.
    """

    def handle(self) -> tuple[Any, bool]:
        user = self.login.user
        if user is not None and not EmailAddress.objects.filter(user=user).exists():
            return None, True
        return super().handle()


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return bool(settings.ACCOUNT_ALLOW_SIGNUP)

    def get_login_stages(self) -> list[str]:
        return [
            "tenants.adapters.SignupEmailVerificationStage"
            if stage == "allauth.account.stages.EmailVerificationStage"
            else stage
            for stage in super().get_login_stages()
        ]

    def get_client_ip(self, request: HttpRequest) -> str:
        # The address login throttling counts: X-Forwarded-For only through TRUSTED_PROXIES.
        address = client_address(request)
        if address is None:
            raise PermissionDenied(_("Unable to determine client IP address"))
        return address

    def login(self, request: HttpRequest, user: Any) -> None:
        super().login(request, user)
        audit_user_event(action=AuditLogEntry.Action.LOGIN_SUCCEEDED, user=user, request=request)

    def logout(self, request: HttpRequest) -> None:
        user = request.user if request.user.is_authenticated else None
        if user is not None:
            audit_user_event(action=AuditLogEntry.Action.LOGOUT, user=user, request=request)  # type: ignore[arg-type]
        super().logout(request)

    def authentication_failed(self, request: HttpRequest, **credentials: Any) -> None:
        super().authentication_failed(request, **credentials)
        email = str(credentials.get("email") or credentials.get("username") or "")[:254]
        user = User.objects.filter(email__iexact=email).first() if email else None
        audit_user_event(
            action=AuditLogEntry.Action.LOGIN_FAILED,
            user=user,
            request=request,
            extra={"email": email, "stage": "password"},
            actor_label=email,
        )


class MFAAdapter(DefaultMFAAdapter):
    def get_totp_issuer(self) -> str:
        return str(settings.SITE_NAME)

    def encrypt(self, text: str) -> str:
        return crypto.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return crypto.decrypt(encrypted_text)
