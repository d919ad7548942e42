"""A workspace's payment accounts and the gateway each one speaks through. The providers' addresses come from
the deployment's settings (``PAYMENTS_PIX_PROVIDERS``, ``MERCADOPAGO_API_URL``, ``STRIPE_API_URL``); a
workspace gives only its credentials, which are encrypted at rest."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from datetime import timedelta
from functools import cache

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.actors import Actor, actor_audit_record
from helpdesk.exceptions import ValidationFailed
from payments import brcode
from payments.gateways import (
    BcbPixConfig,
    Gateway,
    GatewayConfig,
    GatewayError,
    MercadoPagoConfig,
    StripeConfig,
    gateway_for,
)
from payments.gateways.bcb_pix import BcbPixGateway, TokenRequest
from payments.gateways.http import TlsConfig
from payments.models import PIX_KEY_TYPES, PaymentAccount
from tenants.models import AuditLogEntry, Tenant
from tenants.permissions import Perm, require_perm

logger = logging.getLogger(__name__)
Kind = PaymentAccount.Kind
# Which secrets each kind keeps (encrypted); the rest of its settings are plain fields.
SECRETS: dict[str, tuple[str, ...]] = {
    Kind.STATIC_PIX: (),
    Kind.BCB_PIX: ("client_secret", "cert_pem", "key_pem"),
    Kind.MERCADOPAGO: ("access_token", "webhook_secret"),
    Kind.STRIPE: ("secret_key", "webhook_secret"),
}


def pix_providers() -> dict[str, dict[str, str]]:
    """The deployment's API Pix providers a workspace may pick, by key."""
    providers = settings.PAYMENTS_PIX_PROVIDERS
    return {str(key): dict(value) for key, value in providers.items()} if isinstance(providers, dict) else {}


def _timeout() -> httpx.Timeout:
    return httpx.Timeout(settings.PAYMENTS_HTTP_TIMEOUT, connect=min(5.0, settings.PAYMENTS_HTTP_TIMEOUT))


@cache
def _pem_file(pem: str) -> str:
    """A private file holding ``pem`` for the TLS library (which reads files), one per distinct PEM and process."""
    handle, path = tempfile.mkstemp(prefix="helpdesk-tls-", suffix=".pem")
    with os.fdopen(handle, "w") as file:
        file.write(pem)
    os.chmod(path, 0o600)
    return path


def _thumbprint(cert_pem: str) -> str:
    """RFC 8705's thumbprint of a certificate: base64url SHA-256 of its DER form, without padding."""
    der = x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def _config(account: PaymentAccount) -> tuple[str, GatewayConfig]:
    """The gateway kind and configuration of a PSP account (not of a static Pix key, which has none)."""
    secrets = account.secrets
    if account.kind == Kind.BCB_PIX:
        provider = pix_providers().get(account.provider)
        if provider is None:
            raise ValidationFailed(_("This Pix provider is no longer offered: choose another one."))
        plain = provider["api_url"].startswith("http://") and settings.PAYMENTS_ALLOW_PLAIN_HTTP
        cert, key = secrets.get("cert_pem", ""), secrets.get("key_pem", "")
        tls = None if plain or not cert else TlsConfig(cert_file=_pem_file(cert), key_file=_pem_file(key))
        headers = {"X-Client-Cert-Thumbprint": _thumbprint(cert)} if plain and cert else {}
        return "bcb_pix", BcbPixConfig(
            api_url=provider["api_url"],
            token_url=provider["token_url"],
            client_id=account.client_id,
            pix_key=account.pix_key,
            client_secret=secrets.get("client_secret", ""),
            token_request=TokenRequest(provider.get("token_request", TokenRequest.FORM_BASIC.value)),
            tls=tls,
            timeout=_timeout(),
            extra_headers=headers,
        )
    if account.kind == Kind.MERCADOPAGO:
        return "mercadopago", MercadoPagoConfig(
            access_token=secrets.get("access_token", ""),
            webhook_secret=secrets.get("webhook_secret", ""),
            api_url=settings.MERCADOPAGO_API_URL,
            timeout=_timeout(),
        )
    if account.kind == Kind.STRIPE:
        return "stripe", StripeConfig(
            secret_key=secrets.get("secret_key", ""),
            webhook_secret=secrets.get("webhook_secret", ""),
            api_url=settings.STRIPE_API_URL,
            timeout=_timeout(),
        )
    raise ValueError(f"A {account.kind} account has no gateway.")


# Gateways kept for the process, by what they were made from: their connections and OAuth token outlive one
# webhook or job (a new gateway costs a TLS context, a connection and a token request before its first call).
_KEPT: OrderedDict[str, Gateway] = OrderedDict()
_KEPT_LOCK = threading.Lock()
KEPT_MAX = 64


def gateway_kept(account: PaymentAccount) -> Gateway:
    """The process's gateway for ``account`` as it is configured now; never close it. A changed account or
    deployment setting makes a new one."""
    kind, config = _config(account)
    # The secrets are in their ciphertext (the configuration's repr leaves them out), new at every save.
    made_of = f"{account.pk}:{kind}:{config!r}:{account.secrets_encrypted}"
    key = hashlib.sha256(made_of.encode()).hexdigest()
    with _KEPT_LOCK:
        gateway = _KEPT.get(key)
        if gateway is not None:
            _KEPT.move_to_end(key)
            return gateway
        gateway = _KEPT[key] = gateway_for(kind, config)
        while len(_KEPT) > KEPT_MAX:
            _KEPT.popitem(last=False)  # not closed: another thread may be using it; its sockets go with it
    return gateway


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={field: [message]})


def _clean_pix(kind: str, values: dict[str, str]) -> None:
    key, key_type = values.get("pix_key", "").strip(), values.get("pix_key_type", "")
    if key_type not in PIX_KEY_TYPES:
        raise _invalid("pix_key_type", _("Choose the kind of Pix key."))
    try:  # the same rules a BR Code applies to a key
        brcode.static_code(key=key, merchant_name="X", merchant_city="X", amount_cents=1)
    except brcode.BrCodeError:
        raise _invalid("pix_key", _("This is not a Pix key (CPF, CNPJ, e-mail, +55 phone or random key).")) from None
    values["pix_key"] = key
    if kind == Kind.STATIC_PIX and not (values.get("merchant_name", "").strip() and values.get("merchant_city", "")):
        raise _invalid("merchant_name", _("A static Pix code needs the name and city shown to the payer."))


def payment_account_save(
    *,
    actor: Actor,
    tenant: Tenant,
    kind: str,
    values: dict[str, str],
    secrets: dict[str, str],
    request: HttpRequest | None = None,
) -> PaymentAccount:
    """Create or change the workspace's account of ``kind``. A secret left empty keeps the stored one."""
    require_perm(actor, Perm.MANAGE_PAYMENTS, tenant_id=tenant.pk)
    if kind not in Kind.values:
        raise _invalid("kind", _("Unknown kind of payment account."))
    values = {name: str(value).strip() for name, value in values.items()}
    if kind in (Kind.STATIC_PIX, Kind.BCB_PIX):
        _clean_pix(kind, values)
    if kind == Kind.BCB_PIX and values.get("provider") not in pix_providers():
        raise _invalid("provider", _("Choose your bank among the providers offered."))
    account = PaymentAccount.objects.filter(tenant=tenant, kind=kind).first() or PaymentAccount(
        tenant=tenant, kind=kind
    )
    fields = ("provider", "pix_key", "pix_key_type", "merchant_name", "merchant_city", "client_id", "enabled")
    changed = []
    for name in fields:
        if name in values:
            value: object = values[name] in ("1", "true", "on") if name == "enabled" else values[name]
            if getattr(account, name) != value:
                setattr(account, name, value)
                changed.append(name)
    stored = account.secrets
    given = {name: value for name, value in secrets.items() if name in SECRETS[kind] and value}
    if given:
        account.secrets = {**stored, **given}
        changed.append("secrets")
    missing = [name for name in SECRETS[kind] if name != "webhook_secret" and not {**stored, **given}.get(name)]
    if missing and (kind != Kind.BCB_PIX or "client_secret" in missing):
        raise _invalid(missing[0], _("This credential is needed."))
    account.save()
    actor_audit_record(
        actor,
        action=AuditLogEntry.Action.PAYMENT_ACCOUNT_SAVED,
        tenant=tenant,
        target=account,
        target_label=account.get_kind_display(),
        request=request,
        # Which fields changed, never their secret values.
        extra={"kind": kind, "changed": changed},
    )
    return account


def webhook_url(account: PaymentAccount) -> str:
    """Where the provider notifies us of the account's payments. API Pix providers post to the address they
    are given plus "/pix", so theirs is given without the trailing slash."""
    path = f"/webhooks/payments/{account.webhook_key}/"
    if account.kind == Kind.BCB_PIX:
        path = path.rstrip("/")
    return settings.SITE_URL.rstrip("/") + path


def pix_webhook_ensure(account: PaymentAccount) -> bool:
    """Make sure the bank posts the key's payments to us: read the registered address (``GET /webhook/{chave}``)
    and register ours when it is missing or another (a bank that lost it, a key registered elsewhere, a
    deployment that moved). Records the check and what went wrong; True when the address is ours now."""
    problem = ""
    try:
        gateway = gateway_kept(account)
        if not isinstance(gateway, BcbPixGateway):
            raise ValueError(f"A {account.kind} account has no Pix webhook.")
        current = gateway.get_webhook()
        wanted = webhook_url(account)
        if current is None or current.url.rstrip("/") != wanted:
            gateway.register_webhook(wanted)
            logger.info("Pix webhook of account %s registered (it was %s)", account.pk, current and "another")
    except (GatewayError, ValidationFailed) as exc:
        problem = str(exc)[:300]
        logger.warning("Pix webhook of account %s not checked: %s", account.pk, problem)
    PaymentAccount.objects.filter(pk=account.pk).update(webhook_checked_at=timezone.now(), webhook_problem=problem)
    account.webhook_problem = problem
    return not problem


def pix_webhooks_check(*, every: timedelta = timedelta(hours=1)) -> int:
    """The sweeper's pass over API Pix accounts: each one's webhook checked at most once per ``every``."""
    due = PaymentAccount.objects.filter(kind=Kind.BCB_PIX, enabled=True).filter(
        Q(webhook_checked_at__isnull=True) | Q(webhook_checked_at__lte=timezone.now() - every)
    )
    return sum(1 for account in due.order_by("pk")[:100] if pix_webhook_ensure(account))
