"""One-time codes sent with an authentication template, and checked once.

The code is made with ``secrets`` and never stored, logged or kept in the conversation in clear:

- the challenge keeps an HMAC-SHA256 of it (``code_hash``: a random salt and the digest of
  ``tenant:contact:salt:code`` under a key derived from ``SECRET_KEY``), compared in constant time;
- the message in the conversation shows it masked (``••••••``): its text and its neutral content (the values
  and the rendered body) are masked in the transaction that queues it, so the history, the API and the live
  events never carry it; the channel's request (``Message.raw``: the template's components) keeps it only
  until the channel took the message (or the code expired): the beat job ``otp_messages_mask`` masks it then;
- the message is sent without an idempotency key, so no fingerprint of the request (which would contain the
  code) is stored either.

A code is checked at most ``MAX_ATTEMPTS`` times, until it expires, and is accepted once. Sends are limited per
contact (``OTP_SENDS_PER_CONTACT_10_MINUTES``, ``OTP_SENDS_PER_CONTACT_DAY``; counted in the database, under a
lock of the contact row) and per caller (``OTP_SENDS_PER_CALLER_HOUR``; counted in the cache).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from campaigns.models import OtpChallenge
from campaigns.scheduling import contact_inbox_for
from conversations import channels
from conversations.models import Contact, Inbox, Message
from conversations.services.delivery_jobs import send_ahead_request
from conversations.services.inbound import conversation_get_or_open
from conversations.services.outbound import OutboundSpec, message_send
from helpdesk.after_commit import on_commit_guarded
from helpdesk.exceptions import ApplicationError, Conflict, NotFound, PermissionDenied, ValidationFailed
from tenants.models import ApiToken, Membership
from tenants.permissions import BuiltinRole, Perm

MASK = "••••••"
MAX_ATTEMPTS = 5
LENGTH_MIN, LENGTH_MAX, LENGTH_DEFAULT = 4, 8, 6
TTL_MIN, TTL_MAX, TTL_DEFAULT = 60, 3600, 600
CODE_BUTTONS = ("copy_code", "otp")
# The message is sent: the channel's request no longer needs the code.
_TAKEN = [
    Message.Status.SENT,
    Message.Status.DELIVERED,
    Message.Status.READ,
    Message.Status.PLAYED,
    Message.Status.FAILED,
]


class RateLimited(ApplicationError):
    code = "rate_limited"
    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(message, details={"retry_after_seconds": self.retry_after})


class OtpIncorrect(ApplicationError):
    code = "otp_incorrect"
    status_code = 400


class OtpExpired(ApplicationError):
    code = "otp_expired"
    status_code = 410


class OtpAlreadyUsed(Conflict):
    code = "otp_already_used"


class OtpAttemptsExhausted(ApplicationError):
    code = "otp_attempts_exhausted"
    status_code = 429


def otp_caller_check(principal: Membership | ApiToken) -> None:
    """One-time codes are an integration's: API tokens, and owners and admins (to try them), with the
    permission to send templates."""
    allowed = isinstance(principal, ApiToken) or principal.role.key in (BuiltinRole.OWNER, BuiltinRole.ADMIN)
    if not allowed or not principal.has_perm(Perm.SEND_TEMPLATES):
        raise PermissionDenied(_("Only API tokens (and owners and admins) may send and check one-time codes."))


def _key() -> bytes:
    return salted_hmac("campaigns.otp.key", "one-time codes", secret=settings.SECRET_KEY, algorithm="sha256").digest()


def _digest(challenge_tenant: int, contact_id: int, salt: str, code: str) -> str:
    message = f"{challenge_tenant}:{contact_id}:{salt}:{code}".encode()
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


def code_hash(*, tenant_id: int, contact_id: int, code: str) -> str:
    salt = secrets.token_hex(16)
    return f"{salt}${_digest(tenant_id, contact_id, salt, code)}"


def code_matches(challenge: OtpChallenge, code: str) -> bool:
    salt, _sep, expected = challenge.code_hash.partition("$")
    given = _digest(challenge.tenant_id, challenge.contact_id, salt, code)
    return hmac.compare_digest(given, expected)


def _code(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def _auth_template(inbox: Inbox, name: str, language: str) -> dict[str, Any]:
    for template in channels.backend_for(inbox).templates_for(inbox):
        if template.get("name") == name and template.get("language") == language:
            if str(template.get("category", "")).upper() != "AUTHENTICATION":
                raise ValidationFailed(
                    _("Template %(name)s is not an authentication template.") % {"name": name},
                    code="template_not_authentication",
                    details={"field": "template"},
                )
            return template
    raise ValidationFailed(
        _("There is no approved template %(name)s in %(language)s in this inbox.")
        % {"name": name, "language": language},
        code="template_not_approved",
        details={"field": "template"},
    )


def _code_params(template: dict[str, Any], code: str) -> dict[str, Any]:
    """The code as the body's value and the value of the template's copy-code or one-tap button."""
    buttons = {
        str(button["index"]): code for button in template.get("buttons") or [] if button.get("needs") in CODE_BUTTONS
    }
    if not buttons:
        raise ValidationFailed(
            _("Template %(name)s has no copy-code or one-tap button for the code.") % {"name": template["name"]},
            code="template_without_code_button",
            details={"field": "template"},
        )
    placeholders = template.get("body_placeholders") or ["1"]
    body: list[str] | dict[str, str] = (
        {placeholders[0]: code} if template.get("parameter_format") == "NAMED" else [code]
    )
    return {"body": body, "buttons": buttons}


def _masked(value: Any, code: str) -> Any:
    if isinstance(value, str):
        return value.replace(code, MASK)
    if isinstance(value, list):
        return [_masked(item, code) for item in value]
    if isinstance(value, dict):
        return {key: _masked(item, code) for key, item in value.items()}
    return value


def _parameters_masked(value: Any) -> Any:
    """The channel's request with every value given to the template masked (all of them are the code)."""
    if isinstance(value, list):
        return [_parameters_masked(item) for item in value]
    if isinstance(value, dict):
        masked: dict[str, Any] = {}
        for key, item in value.items():
            if key == "parameters" and isinstance(item, list):
                masked[key] = [
                    {
                        k: (MASK if k not in ("type", "parameter_name") and isinstance(v, str) else v)
                        for k, v in p.items()
                    }
                    if isinstance(p, dict)
                    else p
                    for p in item
                ]
            else:
                masked[key] = _parameters_masked(item)
        return masked
    return value


# --- limits ---------------------------------------------------------------------------------------------------


def _contact_limits_check(*, tenant_id: int, contact_id: int, now: datetime) -> None:
    """At most so many sends to the contact in 10 minutes and in a day (the contact row is locked by the caller)."""
    for window, limit in (
        (timedelta(minutes=10), settings.OTP_SENDS_PER_CONTACT_10_MINUTES),
        (timedelta(days=1), settings.OTP_SENDS_PER_CONTACT_DAY),
    ):
        recent = list(
            OtpChallenge.objects.filter(tenant_id=tenant_id, contact_id=contact_id, created_at__gt=now - window)
            .order_by("-created_at")
            .values_list("created_at", flat=True)[:limit]
        )
        if len(recent) >= limit:
            # Free again when the oldest of the last ``limit`` sends leaves the window.
            retry_after = math.ceil((recent[-1] + window - now).total_seconds())
            raise RateLimited(
                _("Too many codes were sent to this contact. Try again in %(seconds)s seconds.")
                % {"seconds": max(1, retry_after)},
                retry_after=retry_after,
            )


def _caller_limit_take(principal: Membership | ApiToken, now: datetime) -> None:
    """Count one send of the caller in the current hour (cache); refuse past the limit."""
    limit = settings.OTP_SENDS_PER_CALLER_HOUR
    hour = int(now.timestamp()) // 3600
    who = f"token{principal.pk}" if isinstance(principal, ApiToken) else f"member{principal.pk}"
    key = f"campaigns:otp:sends:{principal.tenant_id}:{who}:{hour}"
    cache.add(key, 0, timeout=3700)
    count = cache.incr(key)
    if count > limit:
        retry_after = (hour + 1) * 3600 - int(now.timestamp())
        raise RateLimited(
            _("Too many codes were sent with these credentials. Try again in %(seconds)s seconds.")
            % {"seconds": retry_after},
            retry_after=retry_after,
        )


def _caller_limit_give_back(principal: Membership | ApiToken, now: datetime) -> None:
    who = f"token{principal.pk}" if isinstance(principal, ApiToken) else f"member{principal.pk}"
    key = f"campaigns:otp:sends:{principal.tenant_id}:{who}:{int(now.timestamp()) // 3600}"
    with contextlib.suppress(ValueError):
        cache.decr(key)


# --- send and verify ------------------------------------------------------------------------------------------


def otp_send(
    *,
    principal: Membership | ApiToken,
    contact: Contact,
    inbox: Inbox,
    template_name: str,
    template_language: str,
    length: int = LENGTH_DEFAULT,
    ttl_seconds: int = TTL_DEFAULT,
    now: datetime | None = None,
) -> OtpChallenge:
    """Send a new code to ``contact`` through ``inbox`` with an authentication template; returns its challenge."""
    now = now or timezone.now()
    otp_caller_check(principal)
    if contact.tenant_id != principal.tenant_id or inbox.tenant_id != principal.tenant_id:
        raise NotFound(_("No such contact or inbox."))
    if not LENGTH_MIN <= length <= LENGTH_MAX:
        raise ValidationFailed(
            _("A code has %(min)s to %(max)s digits.") % {"min": LENGTH_MIN, "max": LENGTH_MAX},
            details={"field": "length"},
        )
    if not TTL_MIN <= ttl_seconds <= TTL_MAX:
        raise ValidationFailed(
            _("A code lasts %(min)s to %(max)s seconds.") % {"min": TTL_MIN, "max": TTL_MAX},
            details={"field": "ttl_seconds"},
        )
    template = _auth_template(inbox, template_name, template_language)
    contact_inbox = contact_inbox_for(contact=contact, inbox=inbox)
    code = _code(length)
    params = _code_params(template, code)
    _caller_limit_take(principal, now)
    try:
        with transaction.atomic():
            # Concurrent sends to one contact are counted one after the other.
            Contact.objects.select_for_update(no_key=True).filter(pk=contact.pk).values_list("pk").first()
            _contact_limits_check(tenant_id=contact.tenant_id, contact_id=contact.pk, now=now)
            conversation, _opened = conversation_get_or_open(contact_inbox=contact_inbox)
            message, _created = message_send(
                actor=principal,
                conversation=conversation,
                spec=OutboundSpec(
                    type=Message.Type.TEMPLATE,
                    content={"name": template_name, "language": template_language, "params": params},
                ),
            )
            if message.sender_type == Message.SenderType.API:
                # The customer is waiting for the code: it goes ahead of the inbox's send queue (an
                # integration's other sends), as an agent's reply does. Claimed once, whoever asks first.
                message_id = message.pk
                on_commit_guarded(lambda: send_ahead_request(message_id=message_id), what="one-time code send")
            # Before the commit: the history, the live events and the API only ever read it masked.
            Message.objects.filter(pk=message.pk).update(
                text=_masked(message.text, code), content=_masked(message.content, code)
            )
            challenge = OtpChallenge.objects.create(
                tenant_id=contact.tenant_id,
                contact=contact,
                inbox=inbox,
                code_hash=code_hash(tenant_id=contact.tenant_id, contact_id=contact.pk, code=code),
                expires_at=now + timedelta(seconds=ttl_seconds),
                message=message,
            )
            OtpChallenge.objects.filter(pk=challenge.pk).update(created_at=now)
    except ApplicationError:
        _caller_limit_give_back(principal, now)
        raise
    challenge.created_at = now
    return challenge


def otp_challenge_get(*, principal: Membership | ApiToken, challenge_id: int) -> OtpChallenge:
    found = OtpChallenge.objects.filter(tenant_id=principal.tenant_id, pk=challenge_id).first()
    if found is None:
        raise NotFound(_("No such code."))
    return found


def otp_verify(
    *, principal: Membership | ApiToken, challenge_id: int, code: str, now: datetime | None = None
) -> OtpChallenge:
    """Check ``code`` against the challenge: accepted once, before it expires, within ``MAX_ATTEMPTS`` tries.
    A wrong code counts an attempt (kept even though the call is refused)."""
    now = now or timezone.now()
    otp_caller_check(principal)
    refusal: ApplicationError | None = None
    with transaction.atomic():
        challenge = (
            OtpChallenge.objects.select_for_update(no_key=True)
            .filter(tenant_id=principal.tenant_id, pk=challenge_id)
            .first()
        )
        if challenge is None:
            raise NotFound(_("No such code."))
        if challenge.verified_at is not None:
            raise OtpAlreadyUsed(_("This code was already used."))
        if challenge.expires_at <= now:
            raise OtpExpired(_("This code has expired. Ask for a new one."))
        if challenge.attempts >= MAX_ATTEMPTS:
            raise OtpAttemptsExhausted(_("Too many wrong attempts. Ask for a new code."))
        challenge.attempts += 1
        matches = isinstance(code, str) and code.isascii() and code.isdigit() and code_matches(challenge, code)
        if matches:
            challenge.verified_at = now
            OtpChallenge.objects.filter(pk=challenge.pk).update(attempts=F("attempts") + 1, verified_at=now)
        else:
            OtpChallenge.objects.filter(pk=challenge.pk).update(attempts=F("attempts") + 1)
            left = MAX_ATTEMPTS - challenge.attempts
            refusal = OtpIncorrect(
                _("The code is not correct.") if left else _("The code is not correct. Ask for a new code."),
                details={"attempts_left": left},
            )
    if refusal is not None:
        raise refusal
    return challenge


def otp_messages_mask(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Mask the code in the channel's request of the messages the channel took (or whose code expired).
    Returns how many were masked."""
    now = now or timezone.now()
    waiting = OtpChallenge.objects.filter(message_masked=False).select_related("message")
    due = list(waiting.filter(message__status__in=_TAKEN)[:limit]) + list(
        waiting.filter(expires_at__lte=now).exclude(message__status__in=_TAKEN)[:limit]
    )
    done = _mask(due)
    # A challenge whose message is gone (deleted with its conversation) holds nothing more.
    OtpChallenge.objects.filter(message_masked=False, message__isnull=True).update(message_masked=True)
    return done


def _mask(challenges: Iterable[OtpChallenge]) -> int:
    done = 0
    for challenge in challenges:
        with transaction.atomic():
            message = (
                Message.objects.select_for_update(no_key=True).filter(pk=challenge.message_id).first()
                if challenge.message_id is not None
                else None
            )
            if message is not None and message.raw:
                Message.objects.filter(pk=message.pk).update(raw=_parameters_masked(message.raw))
            OtpChallenge.objects.filter(pk=challenge.pk).update(message_masked=True)
        done += 1
    return done
