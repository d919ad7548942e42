"""Languages: the choices offered, and the language a person sees the product in.

A member's own language (their preferences), else the workspace's (``Tenant.locale``), else what the
browser asks for (``Accept-Language``, read by Django's ``LocaleMiddleware``). Pages outside a
workspace use the person's own language, else that of the workspace they last worked in, else the
browser's; pages before signing in follow the browser. The API answers in the request's
``Accept-Language`` when it names a language of ours, else in the workspace's.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext_lazy as _

DEFAULT_LANGUAGE = "pt-br"


def language_codes() -> tuple[str, ...]:
    return tuple(code for code, _name in settings.LANGUAGES)


def validate_language(value: str) -> None:
    if value not in language_codes():
        raise ValidationError(
            _("“%(value)s” is not a language of this product."), code="invalid_language", params={"value": value}
        )


def language_or_none(code: str | None) -> str | None:
    """A code of ours (``pt-br``) for a stored or requested code in any case (``pt-BR``), else None."""
    if not code:
        return None
    code = code.strip().lower().replace("_", "-")
    if code in language_codes():
        return code
    try:
        supported = translation.get_supported_language_variant(code)
    except LookupError:
        return None
    return supported if supported in language_codes() else None


def effective_language(*, user_language: str = "", tenant_language: str = "", browser_language: str = "") -> str:
    """The first of the member's, the workspace's and the browser's languages that is ours."""
    return (
        language_or_none(user_language)
        or language_or_none(tenant_language)
        or language_or_none(browser_language)
        or settings.LANGUAGE_CODE
    )


def requested_language(request: HttpRequest) -> str | None:
    """The language an ``Accept-Language`` header names, if it names one of ours (no cookie, no path)."""
    header = request.META.get("HTTP_ACCEPT_LANGUAGE", "")
    if not header:
        return None
    for accept_lang, _quality in translation.trans_real.parse_accept_lang_header(header):  # type: ignore[attr-defined]
        if accept_lang == "*":
            break
        if (code := language_or_none(accept_lang)) is not None:
            return code
    return None
