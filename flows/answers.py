"""A customer's typed answer checked against what a question asks for: the value kept, or why it is refused
(in the customer's language, which the caller has activated)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from stdnum.br import cnpj, cpf
from stdnum.exceptions import ValidationError as NumberInvalid

from conversations.services.contacts import phone_normalise
from flows.transit import card_number_normalise
from helpdesk.exceptions import ValidationFailed
from payments.money import amount_format, amount_parse

ANSWER_MAX = 1000


@dataclass(frozen=True)
class Checked:
    ok: bool
    value: Any = None
    # How the answer is shown back (to agents in the hand-over note, and in texts: "R$ 20,00").
    display: str = ""
    error: str = ""


def normalised(text: str) -> str:
    """Lowercase without accents or surrounding spaces: how keywords are compared."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def _bounded(value: int, low: Any, high: Any, shown: Callable[[int], str]) -> str:
    if isinstance(low, int) and value < low:
        return _("The minimum is %(min)s.") % {"min": shown(low)}
    if isinstance(high, int) and value > high:
        return _("The maximum is %(max)s.") % {"max": shown(high)}
    return ""


def _number(text: str, rules: Mapping[str, Any]) -> Checked:
    cleaned = text.strip().replace(" ", "")
    if not re.fullmatch(r"-?\d{1,15}", cleaned):
        return Checked(False, error=_("Please answer with a number."))
    value = int(cleaned)
    error = _bounded(value, rules.get("min"), rules.get("max"), str)
    return Checked(not error, value if not error else None, str(value), error)


SIMPLE_AMOUNT = re.compile(r"(?:R\$)?\s*(\d{1,7})(?:[.,](\d{1,2}))?\s*(?:reais)?", re.IGNORECASE)


def _amount(text: str, rules: Mapping[str, Any], language: str) -> Checked:
    # "20", "R$ 15,50", "15.5": one separator followed by one or two digits is the decimal one, whatever the
    # language (customers write both); anything else as the customer's language writes numbers ("1.234,56").
    simple = SIMPLE_AMOUNT.fullmatch(text.strip())
    if simple:
        value = int(simple.group(1)) * 100 + int((simple.group(2) or "0").ljust(2, "0"))
    else:
        try:
            value = amount_parse(text[:40], language=language, field="answer")
        except ValidationFailed as exc:
            return Checked(False, error=str(exc.message))
    error = _bounded(value, rules.get("min"), rules.get("max"), lambda v: amount_format(v, language=language))
    if not error and value <= 0:
        error = _("The amount must be above zero.")
    return Checked(not error, value if not error else None, amount_format(value, language=language), error)


def _date(text: str) -> Checked:
    cleaned = text.strip()
    for pattern in ("%d/%m/%Y", "%d/%m/%y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            day = datetime.strptime(cleaned, pattern).date()
        except ValueError:
            continue
        if date(1900, 1, 1) <= day <= date(2200, 1, 1):
            return Checked(True, day.isoformat(), day.strftime("%d/%m/%Y"))
    return Checked(False, error=_("Please write a date such as 31/12/2026."))


def answer_check(
    text: str, rules: Mapping[str, Any] | None, *, language: str, catalog: Callable[[str], str | None] | None = None
) -> Checked:
    """``text`` against ``rules`` (a question's ``validate``; None accepts any non-empty text)."""
    text = text.strip()
    if not text:
        return Checked(False, error=_("Please write an answer."))
    if len(text) > ANSWER_MAX:
        return Checked(False, error=_("Please write at most %(max)s characters.") % {"max": ANSWER_MAX})
    kind = (rules or {}).get("kind", "text")
    rules = rules or {}
    if kind == "text":
        return Checked(True, text, text)
    if kind == "number":
        return _number(text, rules)
    if kind == "amount":
        return _amount(text, rules, language)
    if kind == "email":
        try:
            validate_email(text)
        except ValidationError:
            return Checked(False, error=_("Please write an e-mail address such as ana@example.com."))
        local, _at, domain = text.rpartition("@")
        value = f"{local}@{domain.lower()}"
        return Checked(True, value, value)
    if kind in ("cpf", "cnpj", "cpf_cnpj"):
        digits = re.sub(r"\D", "", text)
        checks = {"cpf": (cpf,), "cnpj": (cnpj,), "cpf_cnpj": (cpf, cnpj)}[kind]
        for module in checks:
            try:
                value = module.validate(digits)
            except NumberInvalid:
                continue
            return Checked(True, value, module.format(value))
        message = {
            "cpf": _("This CPF is not valid. Please check the numbers."),
            "cnpj": _("This CNPJ is not valid. Please check the numbers."),
            "cpf_cnpj": _("This CPF or CNPJ is not valid. Please check the numbers."),
        }[kind]
        return Checked(False, error=message)
    if kind == "date":
        return _date(text)
    if kind == "phone":
        try:
            value = phone_normalise(text)
        except ValidationFailed:
            value = ""
        if not value:
            return Checked(False, error=_("Please write a phone number with the area code."))
        return Checked(True, value, value)
    if kind == "regex":
        try:
            matched = re.fullmatch(str(rules.get("pattern", "")), text)
        except re.error:
            matched = None
        if matched is None:
            return Checked(False, error=_("That answer is not in the expected form."))
        return Checked(True, text, text)
    if kind == "catalog":
        sku = catalog(text) if catalog is not None else None
        if sku is None:
            return Checked(False, error=_("We have no product by that name or code."))
        return Checked(True, sku, sku)
    if kind == "transit_card":
        number = card_number_normalise(text)
        if number is None:
            return Checked(False, error=_("A card number has 12 digits."))
        return Checked(True, number, number)
    return Checked(False, error=_("That answer cannot be checked."))
