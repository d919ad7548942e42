"""Check the values an agent or campaign gives for an approved template, and build the send ``components``.

Input is the template definition as synced from ``GET /{waba-id}/message_templates`` (``components`` with
HEADER/BODY/FOOTER/BUTTONS, and ``parameter_format`` POSITIONAL or NAMED) plus the caller's values::

    {"header": ["Summer Sale"] | [{"link": "https://..."}],
     "body": ["Mark", "FALL25"] | {"first_name": "Mark"},
     "buttons": {0: "AC-10294"}}

``build_components`` returns Meta's send shape (CONTRACT §3.1 ``template.components``) or raises
``TemplateParamError`` with a sentence an agent can act on. Catching these here avoids Meta's 132000
(parameter count), 132005 (text too long), 132012 (format) and 132018 (newlines in parameters) later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from whatsapp.outbound_payloads import media_kind_noun

POSITIONAL = "POSITIONAL"
NAMED = "NAMED"

MAX_BODY_LENGTH = 1024
MAX_HEADER_LENGTH = 60
MAX_COUPON_CODE = 15
MAX_OTP_CODE = 15
MEDIA_HEADER_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
_NAMED_PLACEHOLDER = re.compile(r"[a-z_][a-z0-9_]*")
_FIVE_SPACES = re.compile(r" {5,}")
# Authentication templates are created without body text; Meta fills in this text with one parameter, the code.
_AUTH_BODY_TEXT = "*{{1}}* is your verification code."


class TemplateParamError(ValueError):
    """The values do not fit the template; the message says which part and why (in the active language)."""


def _part(part: str) -> str:
    """A part of a template ("header", "body") as a noun of the active language."""
    return {"header": pgettext("template part", "header"), "body": pgettext("template part", "body")}.get(part, part)


def _too_long(what: str, length: int, limit: int) -> str:
    return ngettext(
        "%(what)s is %(n)s character; WhatsApp allows %(limit)s.",
        "%(what)s is %(n)s characters; WhatsApp allows %(limit)s.",
        length,
    ) % {"what": what, "n": length, "limit": limit}


@dataclass(frozen=True)
class ParameterSpec:
    """What a template asks for: used to validate values and to draw the form in the UI."""

    parameter_format: str
    header_format: str | None = None  # TEXT, IMAGE, VIDEO, DOCUMENT, LOCATION or None
    header_placeholders: tuple[str, ...] = ()
    body_placeholders: tuple[str, ...] = ()
    # index -> what the button needs: "url", "copy_code", "otp" (required); "quick_reply", "flow" (optional)
    buttons: dict[int, str] = field(default_factory=dict)
    header_text: str = ""
    body_text: str = ""


# -- reading a template definition ------------------------------------------------------------------------


def _normalize_format(parameter_format: str | None) -> str:
    value = (parameter_format or POSITIONAL).upper()
    if value not in (POSITIONAL, NAMED):
        raise TemplateParamError(
            _("parameter_format must be POSITIONAL or NAMED, not %(value)r.") % {"value": parameter_format}
        )
    return value


def _placeholders(text: str, parameter_format: str, part: str) -> tuple[str, ...]:
    """Distinct placeholder names in order of first appearance, checked against the template's format."""
    found: list[str] = []
    for name in _PLACEHOLDER.findall(text):
        if name not in found:
            found.append(name)
    if parameter_format == POSITIONAL:
        if any(not name.isdigit() for name in found):
            raise TemplateParamError(
                _("The %(part)s uses named placeholders but the template is POSITIONAL.") % {"part": _part(part)}
            )
        numbers = sorted(int(name) for name in found)
        if numbers != list(range(1, len(numbers) + 1)):
            shown = ", ".join(f"{{{{{n}}}}}" for n in numbers)
            raise TemplateParamError(
                _("The %(part)s placeholders must be {{1}}..{{n}} in sequence; found %(found)s.")
                % {"part": _part(part), "found": shown}
            )
        return tuple(str(n) for n in numbers)
    for name in found:
        if not _NAMED_PLACEHOLDER.fullmatch(name):
            raise TemplateParamError(
                _("The %(part)s placeholder %(name)s is not a valid name (lowercase letters, digits, underscores).")
                % {"part": _part(part), "name": _label(name)}
            )
    return tuple(found)


def _component(components: Sequence[Mapping[str, Any]], kind: str) -> Mapping[str, Any] | None:
    for component in components:
        if isinstance(component, Mapping) and str(component.get("type", "")).upper() == kind:
            return component
    return None


def _body_text(body: Mapping[str, Any] | None) -> str:
    if body is None:
        return ""
    if body.get("text") is None and body.get("add_security_recommendation") is not None:
        return _AUTH_BODY_TEXT
    return str(body.get("text") or "")


def _button_need(button: Mapping[str, Any]) -> str | None:
    kind = str(button.get("type", "")).upper()
    if kind == "URL":
        return "url" if _PLACEHOLDER.search(str(button.get("url") or "")) else None
    if kind == "QUICK_REPLY":
        return "quick_reply"
    if kind == "COPY_CODE":
        return "copy_code"
    if kind == "OTP":
        return "otp"
    if kind == "FLOW":
        return "flow"
    return None


def parameter_spec(components: Sequence[Mapping[str, Any]], parameter_format: str | None = POSITIONAL) -> ParameterSpec:
    """Read what a synced template needs from its ``components``."""
    fmt = _normalize_format(parameter_format)
    if not isinstance(components, Sequence) or isinstance(components, str):
        raise TemplateParamError(_("The template definition has no components list."))
    header = _component(components, "HEADER")
    header_format = str(header.get("format") or "TEXT").upper() if header is not None else None
    header_text = str(header.get("text") or "") if header is not None and header_format == "TEXT" else ""
    body_text = _body_text(_component(components, "BODY"))
    buttons: dict[int, str] = {}
    buttons_component = _component(components, "BUTTONS")
    for index, button in enumerate((buttons_component or {}).get("buttons") or []):
        need = _button_need(button) if isinstance(button, Mapping) else None
        if need:
            buttons[index] = need
    return ParameterSpec(
        parameter_format=fmt,
        header_format=header_format,
        header_placeholders=_placeholders(header_text, fmt, "header") if header_text else (),
        body_placeholders=_placeholders(body_text, fmt, "body"),
        buttons=buttons,
        header_text=header_text,
        body_text=body_text,
    )


def parameter_examples(
    components: Sequence[Mapping[str, Any]], parameter_format: str | None = POSITIONAL
) -> dict[str, dict[str, str]]:
    """The example values Meta approved with a template, by part (``header``, ``body``) and placeholder.

    Positional examples are ``{"body_text": [["Maria", "#1234"]]}`` and ``{"header_text": ["Sale"]}``;
    named ones ``{"body_text_named_params": [{"param_name": "order", "example": "#1234"}]}``. A
    missing or malformed example is simply absent.
    """
    fmt = (parameter_format or POSITIONAL).upper()
    found: dict[str, dict[str, str]] = {"header": {}, "body": {}}
    for part in ("header", "body"):
        component = _component(components, part.upper()) if isinstance(components, Sequence) else None
        example = component.get("example") if component is not None else None
        if not isinstance(example, Mapping):
            continue
        if fmt == NAMED:
            for item in example.get(f"{part}_text_named_params") or []:
                if isinstance(item, Mapping) and item.get("param_name") and item.get("example") is not None:
                    found[part][str(item["param_name"])] = str(item["example"])
            continue
        values = example.get(f"{part}_text")
        if part == "body" and isinstance(values, list) and values and isinstance(values[0], list):
            values = values[0]  # the body's examples come as one row
        if isinstance(values, list):
            for index, value in enumerate(values, start=1):
                if isinstance(value, str | int | float) and not isinstance(value, bool):
                    found[part][str(index)] = str(value)
    return found


# -- checking values --------------------------------------------------------------------------------------


def _text_value(value: Any, where: str) -> str:
    if isinstance(value, bool) or value is None:
        raise TemplateParamError(_("%(what)s must be text, not %(value)r.") % {"what": where, "value": value})
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        raise TemplateParamError(
            _("%(what)s must be text, not %(type)s.") % {"what": where, "type": type(value).__name__}
        )
    if not value.strip():
        raise TemplateParamError(_("%(what)s is empty.") % {"what": where})
    if "\n" in value or "\t" in value or _FIVE_SPACES.search(value):
        raise TemplateParamError(
            _("%(what)s cannot contain line breaks, tabs or more than four spaces in a row.") % {"what": where}
        )
    return value


def _body_parameter(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, Mapping):
        kind = value.get("type")
        if kind == "currency":
            currency = value.get("currency")
            if (
                not isinstance(currency, Mapping)
                or not currency.get("fallback_value")
                or not currency.get("code")
                or isinstance(currency.get("amount_1000"), bool)
                or not isinstance(currency.get("amount_1000"), int)
            ):
                raise TemplateParamError(
                    _("%(what)s (currency) needs fallback_value, code and an integer amount_1000.") % {"what": where}
                )
            return {"type": "currency", "currency": dict(currency)}
        if kind == "date_time":
            date_time = value.get("date_time")
            if not isinstance(date_time, Mapping) or not date_time.get("fallback_value"):
                raise TemplateParamError(_("%(what)s (date_time) needs a fallback_value.") % {"what": where})
            return {"type": "date_time", "date_time": dict(date_time)}
        if kind == "text":
            return {"type": "text", "text": _text_value(value.get("text"), where)}
        raise TemplateParamError(
            _("%(what)s must be text, a currency or a date_time, not %(kind)r.") % {"what": where, "kind": kind}
        )
    return {"type": "text", "text": _text_value(value, where)}


def _display_value(parameter: Mapping[str, Any]) -> str:
    kind = parameter.get("type")
    if kind in ("currency", "date_time"):
        return str(parameter[kind].get("fallback_value") or "")
    return str(parameter.get("text") or "")


def _ordered_values(values: Any, placeholders: tuple[str, ...], fmt: str, part: str) -> list[tuple[str, Any]]:
    """Pair each placeholder with its value; missing and extra values are errors."""
    where = {"part": _part(part)}
    if not placeholders:
        if values not in (None, [], {}, ()):
            raise TemplateParamError(_("The template %(part)s takes no parameters, but values were given.") % where)
        return []
    needed = len(placeholders)
    if values is None:
        raise TemplateParamError(
            ngettext(
                "The template %(part)s needs %(n)s value; none were given.",
                "The template %(part)s needs %(n)s values; none were given.",
                needed,
            )
            % {**where, "n": needed}
        )
    if isinstance(values, Mapping):
        given = {str(key): value for key, value in values.items()}
        missing = [name for name in placeholders if name not in given]
        extra = [name for name in given if name not in placeholders]
        if missing:
            names = ", ".join(_label(n) for n in missing)
            raise TemplateParamError(_("The template %(part)s is missing: %(names)s.") % {**where, "names": names})
        if extra:
            names = ", ".join(_label(n) for n in extra)
            raise TemplateParamError(_("The template %(part)s has no %(names)s.") % {**where, "names": names})
        return [(name, given[name]) for name in placeholders]
    if fmt == NAMED:
        raise TemplateParamError(
            _("The template %(part)s uses named parameters: give a mapping of %(names)s.")
            % {**where, "names": ", ".join(placeholders)}
        )
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TemplateParamError(_("The template %(part)s values must be a list.") % where)
    if len(values) != needed:
        # Two sentences, each with its own count, so that each can agree with its number.
        needs = ngettext(
            "The template %(part)s needs %(n)s value.", "The template %(part)s needs %(n)s values.", needed
        ) % {**where, "n": needed}
        given_count = ngettext("%(n)s was given.", "%(n)s were given.", len(values)) % {"n": len(values)}
        raise TemplateParamError(f"{needs} {given_count}")
    return list(zip(placeholders, values, strict=True))


def _with_article(kind: str) -> str:
    """ "an image", "a document": a kind of media with its article, in the active language."""
    phrases = {
        "image": pgettext("media kind", "an image"),
        "video": pgettext("media kind", "a video"),
        "document": pgettext("media kind", "a document"),
        "audio": pgettext("media kind", "an audio file"),
        "sticker": pgettext("media kind", "a sticker"),
        "location": pgettext("media kind", "a location"),
    }
    # Something else is named as given (with an English article: it is a code, not a word of ours).
    return phrases.get(kind) or f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"


def _label(name: str) -> str:
    return f"{{{{{name}}}}}"


def _fill(text: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), text)


def _header_component(spec: ParameterSpec, value: Any) -> dict[str, Any] | None:
    fmt = spec.header_format
    if fmt is None or (fmt == "TEXT" and not spec.header_placeholders):
        if value not in (None, [], {}):
            raise TemplateParamError(_("The template header takes no parameters, but a header value was given."))
        return None
    if fmt == "TEXT":
        if spec.parameter_format == NAMED and isinstance(value, list) and len(value) == len(spec.header_placeholders):
            value = dict(zip(spec.header_placeholders, value, strict=True))  # a one-value header needs no name
        pairs = _ordered_values(value, spec.header_placeholders, spec.parameter_format, "header")
        parameters = []
        for name, raw in pairs:
            parameter = {"type": "text", "text": _text_value(raw, _("Header value %(name)s") % {"name": _label(name)})}
            if spec.parameter_format == NAMED:
                parameter["parameter_name"] = name
            parameters.append(parameter)
        filled = _fill(spec.header_text, {name: p["text"] for (name, _r), p in zip(pairs, parameters, strict=True)})
        if len(filled) > MAX_HEADER_LENGTH:
            raise TemplateParamError(_too_long(_("The filled header"), len(filled), MAX_HEADER_LENGTH))
        return {"type": "header", "parameters": parameters}

    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        if len(value) != 1:
            raise TemplateParamError(
                _("The %(kind)s header takes exactly one value.") % {"kind": media_kind_noun(fmt.lower())}
            )
        value = value[0]
    if not isinstance(value, Mapping):
        as_dict = {
            "IMAGE": _("The template has an image header: give it as a dict."),
            "VIDEO": _("The template has a video header: give it as a dict."),
            "DOCUMENT": _("The template has a document header: give it as a dict."),
            "LOCATION": _("The template has a location header: give it as a dict."),
        }
        raise TemplateParamError(
            as_dict.get(fmt) or _("The template has a %(kind)s header: give it as a dict.") % {"kind": fmt.lower()}
        )
    if fmt == "LOCATION":
        location = value.get("location", value)
        if not isinstance(location, Mapping) or location.get("latitude") is None or location.get("longitude") is None:
            raise TemplateParamError(_("The location header needs latitude and longitude."))
        node = {key: location[key] for key in ("latitude", "longitude", "name", "address") if key in location}
        return {"type": "header", "parameters": [{"type": "location", "location": node}]}
    if fmt not in MEDIA_HEADER_FORMATS:
        raise TemplateParamError(_("Header format %(format)r is not supported.") % {"format": fmt})
    kind = fmt.lower()
    given_kind = value.get("type")
    if given_kind is not None and given_kind != kind:
        raise TemplateParamError(
            _("The template header is %(kind)s, but %(given)s was given.")
            % {"kind": _with_article(kind), "given": _with_article(str(given_kind))}
        )
    media = value.get(kind, value)
    if not isinstance(media, Mapping) or (("id" in media) == ("link" in media)):
        raise TemplateParamError(
            _("The %(kind)s header needs exactly one of 'id' or 'link'.") % {"kind": media_kind_noun(kind)}
        )
    node = {"id": str(media["id"])} if "id" in media else {"link": str(media["link"])}
    if kind == "document" and media.get("filename"):
        node["filename"] = str(media["filename"])
    return {"type": "header", "parameters": [{"type": kind, kind: node}]}


def _button_component(index: int, need: str, value: Any) -> dict[str, Any] | None:
    where = {"n": index}
    if need == "quick_reply":
        if value is None:
            return None
        payload = _text_value(value, _("Button %(n)s payload") % where)
        return _button(index, "quick_reply", {"type": "payload", "payload": payload})
    if value is None:
        if need == "flow":
            return None
        needs_value = {
            "url": _("Button %(n)s (url) needs a value."),
            "copy_code": _("Button %(n)s (copy code) needs a value."),
            "otp": _("Button %(n)s (otp) needs a value."),
        }
        raise TemplateParamError(needs_value.get(need, _("Button %(n)s needs a value.")) % where)
    if need == "url":
        return _button(index, "url", {"type": "text", "text": _text_value(value, _("Button %(n)s URL value") % where)})
    if need == "copy_code":
        what = _("Button %(n)s coupon code") % where
        code = _text_value(value, what)
        if len(code) > MAX_COUPON_CODE:
            raise TemplateParamError(_too_long(what, len(code), MAX_COUPON_CODE))
        return _button(index, "copy_code", {"type": "coupon_code", "coupon_code": code})
    if need == "otp":
        what = _("Button %(n)s one-time code") % where
        code = _text_value(value, what)
        if len(code) > MAX_OTP_CODE:
            raise TemplateParamError(_too_long(what, len(code), MAX_OTP_CODE))
        return _button(index, "url", {"type": "text", "text": code})
    if need == "flow":
        if not isinstance(value, Mapping):
            raise TemplateParamError(_("Button %(n)s (flow) takes a dict such as {'flow_token': ...}.") % where)
        return _button(index, "flow", {"type": "action", "action": dict(value)})
    raise TemplateParamError(_("Button %(n)s takes no value.") % where)


def _button(index: int, sub_type: str, parameter: dict[str, Any]) -> dict[str, Any]:
    return {"type": "button", "sub_type": sub_type, "index": str(index), "parameters": [parameter]}


def build_components(
    components: Sequence[Mapping[str, Any]],
    parameter_format: str | None,
    params: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    """Validate ``params`` against the template and return the send ``components`` (may be empty)."""
    spec = parameter_spec(components, parameter_format)
    params = params or {}
    if not isinstance(params, Mapping):
        raise TemplateParamError(_("Template values must be a dict with header, body and buttons."))
    unknown = set(params) - {"header", "body", "buttons"}
    if unknown:
        raise TemplateParamError(
            ngettext(
                "Unknown template value group: %(groups)s.", "Unknown template value groups: %(groups)s.", len(unknown)
            )
            % {"groups": ", ".join(sorted(map(str, unknown)))}
        )

    result: list[dict[str, Any]] = []
    header = _header_component(spec, params.get("header"))
    if header is not None:
        result.append(header)

    pairs = _ordered_values(params.get("body"), spec.body_placeholders, spec.parameter_format, "body")
    if pairs:
        parameters = []
        for name, raw in pairs:
            parameter = _body_parameter(raw, _("Body value %(name)s") % {"name": _label(name)})
            if spec.parameter_format == NAMED:
                parameter["parameter_name"] = name
            parameters.append(parameter)
        filled = _fill(
            spec.body_text, {name: _display_value(p) for (name, _r), p in zip(pairs, parameters, strict=True)}
        )
        if len(filled) > MAX_BODY_LENGTH:
            raise TemplateParamError(_too_long(_("The filled body"), len(filled), MAX_BODY_LENGTH))
        result.append({"type": "body", "parameters": parameters})

    buttons = params.get("buttons") or {}
    if not isinstance(buttons, Mapping):
        raise TemplateParamError(_("Button values must be a dict of button index to value."))
    given: dict[int, Any] = {}
    for key, value in buttons.items():
        if isinstance(key, bool) or not str(key).isdigit():
            raise TemplateParamError(_("Button index %(key)r is not a number.") % {"key": key})
        index = int(key)
        if index not in spec.buttons:
            raise TemplateParamError(_("Button %(n)s of this template takes no value.") % {"n": index})
        given[index] = value
    for index, need in sorted(spec.buttons.items()):
        component = _button_component(index, need, given.get(index))
        if component is not None:
            result.append(component)
    return result


def render_preview(components: Sequence[Mapping[str, Any]], params: Mapping[str, Any] | None) -> str:
    """The body text with the values filled in, for the UI; placeholders without a value stay visible."""
    body_text = _body_text(_component(components, "BODY"))
    values = (params or {}).get("body")
    mapping: dict[str, str] = {}
    if isinstance(values, Mapping):
        items = [(str(key), value) for key, value in values.items()]
    elif isinstance(values, Sequence) and not isinstance(values, str):
        items = [(str(position), value) for position, value in enumerate(values, start=1)]
    else:
        items = []
    for key, value in items:
        if isinstance(value, Mapping):
            kind = value.get("type")
            inner = value.get(kind) if kind in ("currency", "date_time") else None
            text = inner.get("fallback_value") if isinstance(inner, Mapping) else value.get("text")
        else:
            text = value
        if text is not None and str(text) != "":
            mapping[key] = str(text)
    return _fill(body_text, mapping)
