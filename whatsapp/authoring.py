"""Message template authoring: a neutral draft, Meta's rules checked before submitting, and the exact bodies of
``POST /{WABA}/message_templates`` (create) and ``POST /{TEMPLATE_ID}`` (edit) (CONTRACT §4).

The draft is plain data (what a form or an API call holds); only this module knows Meta's component JSON.
Every refusal is a translatable sentence keyed by the draft field it is about, so a form shows it beside
that field and the API returns it in ``details``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from helpdesk.exceptions import ValidationFailed
from whatsapp.limits import MEDIA_MAX_BYTES

CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
PARAMETER_FORMATS = ("POSITIONAL", "NAMED")
HEADER_FORMATS = ("NONE", "TEXT", "IMAGE", "VIDEO", "DOCUMENT")
MEDIA_HEADER_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")
BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP")
OTP_TYPES = ("COPY_CODE", "ONE_TAP")

NAME_MAX = 512
BODY_MAX = 1024
HEADER_TEXT_MAX = 60
FOOTER_MAX = 60
BUTTON_TEXT_MAX = 25
BUTTONS_MAX = 10
URL_BUTTONS_MAX = 2
PHONE_BUTTONS_MAX = 1
COPY_CODE_BUTTONS_MAX = 1
URL_MAX = 2000
COPY_CODE_EXAMPLE_MAX = 15
CODE_EXPIRATION_RANGE = (1, 90)

# The sample files Meta's Resumable Upload API takes for a media header, and their limits (CONTRACT §5).
HEADER_SAMPLE_TYPES: dict[str, tuple[str, ...]] = {
    "IMAGE": ("image/jpeg", "image/png"),
    "VIDEO": ("video/mp4",),
    "DOCUMENT": ("application/pdf",),
}
HEADER_SAMPLE_MAX_BYTES = {
    "IMAGE": MEDIA_MAX_BYTES["image"],
    "VIDEO": MEDIA_MAX_BYTES["video"],
    "DOCUMENT": MEDIA_MAX_BYTES["document"],
}

NAME_PATTERN = re.compile(r"^[a-z0-9_]+$")
LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(_[A-Z]{2}|_[A-Z][a-z]{3})?$")
NAMED_VARIABLE = re.compile(r"^[a-z_]+$")
# Anything between double braces counts as a variable, so a malformed one is reported rather than sent as text.
VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
ADJACENT_VARIABLES = re.compile(r"\}\}\s*\{\{")
PHONE_PATTERN = re.compile(r"^\+?[0-9]{8,20}$")
PACKAGE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")
# The app signing key hash is 11 base64 characters (Meta's example sends it URL-encoded).
SIGNATURE_HASH_PATTERN = re.compile(r"^[A-Za-z0-9+/]{11}$")
COPY_CODE_PATTERN = re.compile(r"^[A-Za-z0-9]+$")


@dataclass
class ButtonDraft:
    type: str
    text: str = ""
    url: str = ""
    url_example: str = ""  # the whole URL with its {{1}} filled in, when the URL ends with one
    phone_number: str = ""
    example: str = ""  # COPY_CODE: the sample offer code
    otp_type: str = ""  # OTP: COPY_CODE or ONE_TAP
    autofill_text: str = ""
    package_name: str = ""
    signature_hash: str = ""


@dataclass
class TemplateDraft:
    name: str
    language: str
    category: str
    parameter_format: str = "POSITIONAL"
    header_format: str = "NONE"
    header_text: str = ""
    header_example: str = ""
    # The handle Meta gave the media header's sample file (Resumable Upload API); set just before submitting.
    header_handle: str = ""
    body: str = ""
    # An example per body variable, keyed by the variable: "1", "2"... or "first_name".
    body_examples: dict[str, str] = field(default_factory=dict)
    footer: str = ""
    buttons: list[ButtonDraft] = field(default_factory=list)
    # AUTHENTICATION only: Meta writes the body and footer; these are its options.
    add_security_recommendation: bool = False
    code_expiration_minutes: int | None = None


@dataclass
class DraftErrors:
    """Refusals by draft field ("name", "body", "buttons.0.url"...), in the order found."""

    by_field: dict[str, list[str]] = field(default_factory=dict)

    def add(self, where: str, message: str) -> None:
        self.by_field.setdefault(where, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.by_field)

    def messages(self) -> list[str]:
        return [message for messages in self.by_field.values() for message in messages]


def variables(text: str) -> list[str]:
    """The variables of a text, in order of appearance (repeats included)."""
    return [match.strip() for match in VARIABLE.findall(text or "")]


def distinct_variables(text: str) -> list[str]:
    seen: list[str] = []
    for name in variables(text):
        if name not in seen:
            seen.append(name)
    return seen


def _braced(names: list[str]) -> str:
    return ", ".join("{{" + name + "}}" for name in names)


def _variable_messages(where: str) -> tuple[str, str, str]:
    """Whole sentences per place (a translation agrees its words with the place's name)."""
    if where == "header_text":
        return (
            _(
                "Variables in the header must be names of lowercase letters and underscores, "
                "such as {{first_name}}: %(bad)s."
            ),
            _("Variables in the header must be numbers such as {{1}}: %(bad)s."),
            _("Variables in the header must be numbered {{1}}, {{2}}, {{3}}... in order, without gaps."),
        )
    return (
        _(
            "Variables in the message text must be names of lowercase letters and underscores, "
            "such as {{first_name}}: %(bad)s."
        ),
        _("Variables in the message text must be numbers such as {{1}}: %(bad)s."),
        _("Variables in the message text must be numbered {{1}}, {{2}}, {{3}}... in order, without gaps."),
    )


def _check_variables(errors: DraftErrors, where: str, names: list[str], parameter_format: str) -> list[str]:
    """Report malformed or mis-numbered variables; returns the distinct valid ones (positional: by number)."""
    not_named, not_numbered, gaps = _variable_messages(where)
    distinct: list[str] = []
    for name in names:
        if name not in distinct:
            distinct.append(name)
    if parameter_format == "NAMED":
        bad = [name for name in distinct if not NAMED_VARIABLE.match(name)]
        if bad:
            errors.add(where, not_named % {"bad": _braced(bad)})
        return [name for name in distinct if NAMED_VARIABLE.match(name)]
    bad = [name for name in distinct if not name.isdigit()]
    if bad:
        errors.add(where, not_numbered % {"bad": _braced(bad)})
        return []
    numbers = sorted({int(name) for name in distinct})
    if numbers and numbers != list(range(1, len(numbers) + 1)):
        errors.add(where, gaps)
    return [str(number) for number in numbers]


def _https_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme == "https" and bool(parts.hostname) and " " not in value


def _check_examples(errors: DraftErrors, where: str, names: list[str], examples: dict[str, str]) -> None:
    missing = [name for name in names if not (examples.get(name) or "").strip()]
    if missing:
        errors.add(
            where,
            ngettext(
                "Give an example for the variable %(names)s.",
                "Give an example for each of the variables %(names)s.",
                len(missing),
            )
            % {"names": _braced(missing)},
        )


def draft_errors(draft: TemplateDraft, *, has_header_sample: bool = False) -> DraftErrors:
    """Meta's rules for a new or edited template, checked before anything is sent.

    ``has_header_sample``: a sample file for the media header is at hand (uploaded or kept from before).
    """
    errors = DraftErrors()
    if not draft.name:
        errors.add("name", _("Enter a name."))
    elif not NAME_PATTERN.match(draft.name):
        errors.add("name", _("The name may contain only lowercase letters, digits and underscores."))
    elif len(draft.name) > NAME_MAX:
        errors.add("name", _("The name may have at most %(max)s characters.") % {"max": NAME_MAX})
    if not LANGUAGE_PATTERN.match(draft.language or ""):
        errors.add("language", _("Choose a language, such as pt_BR or en_US."))
    if draft.category not in CATEGORIES:
        errors.add("category", _("Choose a category: marketing, utility or authentication."))
        return errors
    if draft.parameter_format not in PARAMETER_FORMATS:
        errors.add("parameter_format", _("Choose how variables are written: numbered or named."))
        return errors
    if draft.category == "AUTHENTICATION":
        _authentication_errors(draft, errors)
    else:
        _header_errors(draft, errors, has_header_sample=has_header_sample)
        _body_errors(draft, errors)
        _footer_errors(draft, errors)
        _buttons_errors(draft, errors)
    return errors


def _header_errors(draft: TemplateDraft, errors: DraftErrors, *, has_header_sample: bool) -> None:
    fmt = draft.header_format
    if fmt not in HEADER_FORMATS:
        errors.add("header_format", _("Choose a header: none, text, image, video or document."))
        return
    if fmt == "TEXT":
        text = draft.header_text
        if not text.strip():
            errors.add("header_text", _("Enter the header text, or choose no header."))
            return
        if len(text) > HEADER_TEXT_MAX:
            errors.add(
                "header_text",
                _("The header may have at most %(max)s characters (it has %(count)s).")
                % {"max": HEADER_TEXT_MAX, "count": len(text)},
            )
        if "\n" in text:
            errors.add("header_text", _("The header must fit on one line."))
        names = _check_variables(errors, "header_text", variables(text), draft.parameter_format)
        if len(distinct_variables(text)) > 1:
            errors.add("header_text", _("The header may have at most one variable."))
        elif names and draft.parameter_format == "POSITIONAL" and names != ["1"]:
            errors.add("header_text", _("The header's variable must be {{1}}."))
        elif names and not draft.header_example.strip():
            errors.add("header_example", _("Give an example for the header's variable."))
    elif fmt in MEDIA_HEADER_FORMATS and not (has_header_sample or draft.header_handle):
        errors.add("header_sample", _("Upload a sample file for the header."))


def _body_errors(draft: TemplateDraft, errors: DraftErrors) -> None:
    body = draft.body
    if not body.strip():
        errors.add("body", _("Enter the message text."))
        return
    if len(body) > BODY_MAX:
        errors.add(
            "body",
            _("The message text may have at most %(max)s characters (it has %(count)s).")
            % {"max": BODY_MAX, "count": len(body)},
        )
    names = _check_variables(errors, "body", variables(body), draft.parameter_format)
    stripped = body.strip()
    if VARIABLE.match(stripped) or re.search(r"\{\{[^{}]*\}\}$", stripped):
        errors.add("body", _("The message text must not start or end with a variable."))
    if ADJACENT_VARIABLES.search(body):
        errors.add("body", _("Put some text between two variables, such as {{1}} and {{2}}."))
    _check_examples(errors, "body_examples", names, draft.body_examples)


def _footer_errors(draft: TemplateDraft, errors: DraftErrors) -> None:
    if len(draft.footer) > FOOTER_MAX:
        errors.add(
            "footer",
            _("The footer may have at most %(max)s characters (it has %(count)s).")
            % {"max": FOOTER_MAX, "count": len(draft.footer)},
        )
    if variables(draft.footer):
        errors.add("footer", _("The footer may not have variables."))


def _buttons_errors(draft: TemplateDraft, errors: DraftErrors) -> None:
    buttons = draft.buttons
    if len(buttons) > BUTTONS_MAX:
        errors.add("buttons", _("A template may have at most %(max)s buttons.") % {"max": BUTTONS_MAX})
    kinds = [button.type for button in buttons]
    for kind, limit, message in (
        ("URL", URL_BUTTONS_MAX, _("A template may have at most %(max)s website buttons.")),
        ("PHONE_NUMBER", PHONE_BUTTONS_MAX, _("A template may have at most %(max)s phone number button.")),
        ("COPY_CODE", COPY_CODE_BUTTONS_MAX, _("A template may have at most %(max)s copy code button.")),
    ):
        if kinds.count(kind) > limit:
            errors.add("buttons", message % {"max": limit})
    quick = [index for index, kind in enumerate(kinds) if kind == "QUICK_REPLY"]
    if quick and quick != list(range(quick[0], quick[-1] + 1)):
        errors.add("buttons", _("Quick reply buttons must be next to each other, not mixed with other buttons."))
    for index, button in enumerate(buttons):
        where = f"buttons.{index}"
        if button.type not in BUTTON_TYPES:
            errors.add(f"{where}.type", _("Choose a button type."))
            continue
        if button.type == "OTP":
            errors.add(f"{where}.type", _("One-time password buttons are only for authentication templates."))
            continue
        if button.type != "COPY_CODE":
            if not button.text.strip():
                errors.add(f"{where}.text", _("Enter the button's text."))
            elif len(button.text) > BUTTON_TEXT_MAX:
                errors.add(
                    f"{where}.text",
                    _("A button's text may have at most %(max)s characters.") % {"max": BUTTON_TEXT_MAX},
                )
            if variables(button.text):
                errors.add(f"{where}.text", _("A button's text may not have variables."))
        if button.type == "URL":
            _url_button_errors(button, where, errors)
        elif button.type == "PHONE_NUMBER":
            if not PHONE_PATTERN.match(button.phone_number.replace(" ", "").replace("-", "")):
                errors.add(
                    f"{where}.phone_number",
                    _("Enter the phone number with country code, digits only, such as +5511912345678."),
                )
        elif button.type == "COPY_CODE":
            code = button.example.strip()
            if not code:
                errors.add(f"{where}.example", _("Enter an example offer code."))
            elif len(code) > COPY_CODE_EXAMPLE_MAX or not COPY_CODE_PATTERN.match(code):
                errors.add(
                    f"{where}.example",
                    _("The offer code may have at most %(max)s letters and digits.") % {"max": COPY_CODE_EXAMPLE_MAX},
                )


def _url_button_errors(button: ButtonDraft, where: str, errors: DraftErrors) -> None:
    url = button.url.strip()
    names = variables(url)
    base = VARIABLE.sub("", url)
    if not url or not _https_url(base) or len(url) > URL_MAX:
        errors.add(f"{where}.url", _("Enter a website address starting with https://."))
        return
    if not names:
        return
    if names != ["1"] or not re.search(r"\{\{\s*1\s*\}\}$", url):
        errors.add(f"{where}.url", _("A website address may only end with one variable, {{1}}."))
        return
    example = button.url_example.strip()
    prefix = url[: url.index("{{")]
    if not example:
        errors.add(f"{where}.url_example", _("Give an example of the whole website address, with {{1}} filled in."))
    elif not _https_url(example) or not example.startswith(prefix) or len(example) == len(prefix):
        errors.add(
            f"{where}.url_example",
            _("The example must be the website address with {{1}} replaced, such as %(example)s.")
            % {"example": prefix + "summer2025"},
        )


def _authentication_errors(draft: TemplateDraft, errors: DraftErrors) -> None:
    if draft.header_format not in ("NONE", ""):
        errors.add("header_format", _("Authentication templates have no header."))
    if draft.body.strip() or draft.footer.strip():
        errors.add(
            "body", _("Meta writes the text of authentication templates; leave the message text and footer empty.")
        )
    minutes = draft.code_expiration_minutes
    low, high = CODE_EXPIRATION_RANGE
    if minutes is not None and not low <= minutes <= high:
        errors.add(
            "code_expiration_minutes",
            _("The code may expire after %(low)s to %(high)s minutes.") % {"low": low, "high": high},
        )
    otp = [button for button in draft.buttons if button.type == "OTP"]
    if len(otp) != 1 or len(draft.buttons) != 1:
        errors.add("buttons", _("Authentication templates have exactly one button: the one-time password button."))
        return
    button = otp[0]
    if button.otp_type not in OTP_TYPES:
        errors.add("buttons.0.otp_type", _("Choose how the code is given: copy code or one-tap autofill."))
        return
    if button.text and len(button.text) > BUTTON_TEXT_MAX:
        errors.add(
            "buttons.0.text", _("A button's text may have at most %(max)s characters.") % {"max": BUTTON_TEXT_MAX}
        )
    if button.otp_type == "ONE_TAP":
        if not PACKAGE_PATTERN.match(button.package_name):
            errors.add("buttons.0.package_name", _("Enter your Android app's package name, such as com.example.app."))
        if not SIGNATURE_HASH_PATTERN.match(unquote(button.signature_hash)):
            errors.add("buttons.0.signature_hash", _("Enter your Android app's 11-character signing key hash."))
        if button.autofill_text and len(button.autofill_text) > BUTTON_TEXT_MAX:
            errors.add(
                "buttons.0.autofill_text",
                _("A button's text may have at most %(max)s characters.") % {"max": BUTTON_TEXT_MAX},
            )


def draft_validate(draft: TemplateDraft, *, has_header_sample: bool = False) -> None:
    """Raise ``ValidationFailed`` (details: messages by field) unless Meta would take the draft."""
    errors = draft_errors(draft, has_header_sample=has_header_sample)
    if errors:
        raise ValidationFailed(" ".join(errors.messages()), code="template_invalid", details=errors.by_field)


# -- Meta's payloads ----------------------------------------------------------------------------------------


def _text_example(draft: TemplateDraft, where: str, names: list[str], examples: dict[str, str]) -> dict[str, Any]:
    if draft.parameter_format == "NAMED":
        return {f"{where}_text_named_params": [{"param_name": name, "example": examples[name]} for name in names]}
    if where == "header":
        return {"header_text": [examples[name] for name in names]}
    return {"body_text": [[examples[name] for name in names]]}


def components(draft: TemplateDraft) -> list[dict[str, Any]]:
    """The draft's ``components`` as Meta takes them (call after ``draft_validate``)."""
    if draft.category == "AUTHENTICATION":
        return _authentication_components(draft)
    result: list[dict[str, Any]] = []
    if draft.header_format == "TEXT":
        header: dict[str, Any] = {"type": "HEADER", "format": "TEXT", "text": draft.header_text}
        names = distinct_variables(draft.header_text)
        if names:
            header["example"] = _text_example(draft, "header", names, {names[0]: draft.header_example})
        result.append(header)
    elif draft.header_format in MEDIA_HEADER_FORMATS:
        result.append(
            {"type": "HEADER", "format": draft.header_format, "example": {"header_handle": [draft.header_handle]}}
        )
    body: dict[str, Any] = {"type": "BODY", "text": draft.body}
    names = distinct_variables(draft.body)
    if draft.parameter_format == "POSITIONAL":
        names = sorted(names, key=int)
    if names:
        body["example"] = _text_example(draft, "body", names, draft.body_examples)
    result.append(body)
    if draft.footer.strip():
        result.append({"type": "FOOTER", "text": draft.footer})
    if draft.buttons:
        result.append({"type": "BUTTONS", "buttons": [_button(button) for button in draft.buttons]})
    return result


def _button(button: ButtonDraft) -> dict[str, Any]:
    if button.type == "URL":
        item: dict[str, Any] = {"type": "URL", "text": button.text, "url": button.url.strip()}
        if variables(button.url):
            item["example"] = [button.url_example.strip()]
        return item
    if button.type == "PHONE_NUMBER":
        digits = "".join(ch for ch in button.phone_number if ch.isdigit())
        return {"type": "PHONE_NUMBER", "text": button.text, "phone_number": digits}
    if button.type == "COPY_CODE":
        return {"type": "COPY_CODE", "example": button.example.strip()}
    return {"type": "QUICK_REPLY", "text": button.text}


def _authentication_components(draft: TemplateDraft) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"type": "BODY"}
    if draft.add_security_recommendation:
        body["add_security_recommendation"] = True
    result = [body]
    if draft.code_expiration_minutes is not None:
        result.append({"type": "FOOTER", "code_expiration_minutes": draft.code_expiration_minutes})
    button = draft.buttons[0]
    otp: dict[str, Any] = {"type": "OTP", "otp_type": button.otp_type}
    if button.text:
        otp["text"] = button.text
    if button.otp_type == "ONE_TAP":
        if button.autofill_text:
            otp["autofill_text"] = button.autofill_text
        otp["package_name"] = button.package_name
        otp["signature_hash"] = button.signature_hash
    result.append({"type": "BUTTONS", "buttons": [otp]})
    return result


def create_payload(draft: TemplateDraft) -> dict[str, Any]:
    """The body of ``POST /{WABA-ID}/message_templates``."""
    payload: dict[str, Any] = {
        "name": draft.name,
        "language": draft.language,
        "category": draft.category,
        "components": components(draft),
    }
    if draft.category != "AUTHENTICATION" and draft.parameter_format == "NAMED":
        payload["parameter_format"] = "NAMED"
    return payload


def edit_payload(draft: TemplateDraft) -> dict[str, Any]:
    """The body of ``POST /{TEMPLATE_ID}``: Meta lets an edit change the components and the category only."""
    return {"category": draft.category, "components": components(draft)}


# -- back from Meta's components (to edit a template) -------------------------------------------------------


def _by_type(items: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    for item in items:
        if isinstance(item, dict) and str(item.get("type", "")).upper() == kind:
            return item
    return {}


def draft_from_components(
    *, name: str, language: str, category: str, parameter_format: str, components_: list[dict[str, Any]]
) -> TemplateDraft:
    """A draft holding what a stored template says (the media header's handle is not kept: a new sample is
    uploaded, or the stored one again)."""
    named = (parameter_format or "POSITIONAL").upper() == "NAMED"
    draft = TemplateDraft(
        name=name,
        language=language,
        category=category,
        parameter_format="NAMED" if named else "POSITIONAL",
    )
    header = _by_type(components_, "HEADER")
    if header:
        draft.header_format = str(header.get("format", "TEXT")).upper()
        if draft.header_format == "TEXT":
            draft.header_text = str(header.get("text", ""))
            example = header.get("example") or {}
            if named:
                params = example.get("header_text_named_params") or [{}]
                draft.header_example = str(params[0].get("example", ""))
            else:
                draft.header_example = str((example.get("header_text") or [""])[0])
    body = _by_type(components_, "BODY")
    draft.body = str(body.get("text", ""))
    draft.add_security_recommendation = bool(body.get("add_security_recommendation"))
    example = body.get("example") or {}
    if named:
        draft.body_examples = {
            str(p.get("param_name")): str(p.get("example", ""))
            for p in example.get("body_text_named_params") or []
            if isinstance(p, dict)
        }
    else:
        values = (example.get("body_text") or [[]])[0]
        draft.body_examples = {str(i): str(v) for i, v in enumerate(values, start=1)}
    footer = _by_type(components_, "FOOTER")
    draft.footer = str(footer.get("text", ""))
    if footer.get("code_expiration_minutes") is not None:
        draft.code_expiration_minutes = int(footer["code_expiration_minutes"])
    for item in _by_type(components_, "BUTTONS").get("buttons") or []:
        example_value = item.get("example")
        draft.buttons.append(
            ButtonDraft(
                type=str(item.get("type", "")).upper(),
                text=str(item.get("text", "")),
                url=str(item.get("url", "")),
                url_example=str(example_value[0]) if isinstance(example_value, list) and example_value else "",
                phone_number=str(item.get("phone_number", "")),
                example=str(example_value) if isinstance(example_value, str) else "",
                otp_type=str(item.get("otp_type", "")),
                autofill_text=str(item.get("autofill_text", "")),
                package_name=str(item.get("package_name", "")),
                signature_hash=str(item.get("signature_hash", "")),
            )
        )
    return draft


def components_supported(components_: list[dict[str, Any]]) -> bool:
    """Whether a stored template has only parts a draft can hold (not a location header, flow or catalog
    buttons...), so that it can be edited here."""
    header = _by_type(components_, "HEADER")
    if header and str(header.get("format", "TEXT")).upper() not in HEADER_FORMATS:
        return False
    buttons = _by_type(components_, "BUTTONS").get("buttons") or []
    return all(isinstance(b, dict) and str(b.get("type", "")).upper() in BUTTON_TYPES for b in buttons)


def header_sample_check(*, header_format: str, content_type: str, size: int) -> None:
    """Refuse a media header sample Meta would not take (type or size)."""
    allowed = HEADER_SAMPLE_TYPES.get(header_format)
    message = ""
    if not allowed:
        message = _("Only image, video and document headers take a sample file.")
    elif content_type not in allowed:
        message = _("This header takes %(types)s files, not %(type)s.") % {
            "types": ", ".join(allowed),
            "type": content_type or "?",
        }
    elif size == 0:
        message = _("The sample file is empty.")
    elif size > HEADER_SAMPLE_MAX_BYTES[header_format]:
        message = _("The sample file may be at most %(max)s MB.") % {
            "max": HEADER_SAMPLE_MAX_BYTES[header_format] // (1024 * 1024)
        }
    if message:
        raise ValidationFailed(message, code="template_invalid", details={"header_sample": [message]})
