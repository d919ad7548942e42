"""Message templates: placeholder counting (132000), lookup (132001/132015/132016), rendering and seed templates."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from whatsapp.fake import errors
from whatsapp.fake.state import Template

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
MEDIA_HEADER_FORMATS = {"IMAGE", "VIDEO", "DOCUMENT", "LOCATION"}
NAME_PATTERN = re.compile(r"^[a-z0-9_]{1,512}$")
CATEGORIES = {"MARKETING", "UTILITY", "AUTHENTICATION"}
# The MIME types a media header's sample (its header_handle) may have, by header format.
HEADER_HANDLE_TYPES = {
    "IMAGE": {"image/jpeg", "image/jpg", "image/png"},
    "VIDEO": {"video/mp4"},
    "DOCUMENT": {"application/pdf"},
}


def placeholders(text: str) -> list[str]:
    seen: list[str] = []
    for name in PLACEHOLDER.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


def _component(template: Template, kind: str) -> dict[str, Any] | None:
    for component in template.components:
        if str(component.get("type", "")).upper() == kind:
            return component
    return None


def _sent_components(body: dict[str, Any]) -> list[dict[str, Any]]:
    components = body.get("components") or []
    return [c for c in components if isinstance(c, dict)]


def _sent(components: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    for component in components:
        if str(component.get("type", "")).lower() == kind:
            return component
    return None


def _params(component: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not component:
        return []
    return [p for p in component.get("parameters") or [] if isinstance(p, dict)]


def _mismatch(section: str, provided: int, expected: int) -> errors.GraphError:
    return errors.sync_error(
        132000,
        details=f"{section}: number of localizable_params ({provided}) does not match the expected number of params "
        f"({expected})",
    )


def find_for_send(templates: list[Template], name: str, language: str) -> Template:
    """The template a send refers to, or the error Meta returns for it."""
    for template in templates:
        if template.name == name and template.language == language:
            if template.status == "APPROVED":
                return template
            if template.status == "PAUSED":
                raise errors.sync_error(132015)
            if template.status == "DISABLED":
                raise errors.sync_error(132016)
            break
    raise errors.sync_error(132001, details=f"template name ({name}) does not exist in {language}")


def check_parameters(template: Template, template_body: dict[str, Any]) -> None:
    """Raise 132000 when the send's parameter counts (or names) do not fit the template's placeholders."""
    sent = _sent_components(template_body)

    header = _component(template, "HEADER")
    if header:
        fmt = str(header.get("format", "TEXT")).upper()
        expected = 1 if fmt in MEDIA_HEADER_FORMATS else len(placeholders(header.get("text", "")))
        provided = len(_params(_sent(sent, "header")))
        if provided != expected:
            raise _mismatch("header", provided, expected)
    elif _params(_sent(sent, "header")):
        raise _mismatch("header", len(_params(_sent(sent, "header"))), 0)

    body = _component(template, "BODY")
    expected_names = placeholders(body.get("text", "")) if body else []
    body_params = _params(_sent(sent, "body"))
    if len(body_params) != len(expected_names):
        raise _mismatch("body", len(body_params), len(expected_names))
    if (template.parameter_format or "POSITIONAL").upper() == "NAMED":
        given = {str(p.get("parameter_name")) for p in body_params}
        if given != set(expected_names):
            raise errors.sync_error(
                132000,
                details=f"body: parameter names {sorted(given)} do not match the expected names {expected_names}",
            )

    buttons = _component(template, "BUTTONS")
    for index, button in enumerate((buttons or {}).get("buttons") or []):
        kind = str(button.get("type", "")).upper()
        needs = (kind == "URL" and bool(placeholders(button.get("url", "")))) or kind == "COPY_CODE"
        if not needs:
            continue
        provided = 0
        for component in sent:
            if str(component.get("type", "")).lower() == "button" and str(component.get("index")) == str(index):
                provided = len(_params(component))
        if provided != 1:
            raise _mismatch("button", provided, 1)


def _param_text(param: dict[str, Any]) -> str:
    kind = param.get("type")
    if kind == "text":
        return str(param.get("text", ""))
    if kind in {"currency", "date_time"}:
        return str((param.get(kind) or {}).get("fallback_value", ""))
    return f"[{kind}]"


def _fill(text: str, params: list[dict[str, Any]]) -> str:
    named = {str(p.get("parameter_name")): p for p in params if p.get("parameter_name")}

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in named:
            return _param_text(named[key])
        if key.isdigit() and 0 < int(key) <= len(params):
            return _param_text(params[int(key) - 1])
        return match.group(0)

    return PLACEHOLDER.sub(replace, text or "")


def render(template: Template, template_body: dict[str, Any]) -> dict[str, Any]:
    """What the customer's phone shows: the template's texts with the send's parameters filled in."""
    sent = _sent_components(template_body)
    rendered: dict[str, Any] = {"name": template.name, "language": template.language, "buttons": []}
    header = _component(template, "HEADER")
    if header:
        fmt = str(header.get("format", "TEXT")).upper()
        header_params = _params(_sent(sent, "header"))
        if fmt == "TEXT":
            rendered["header"] = {"format": "TEXT", "text": _fill(header.get("text", ""), header_params)}
        else:
            media = header_params[0].get(fmt.lower(), {}) if header_params else {}
            rendered["header"] = {"format": fmt, "media": media}
    body = _component(template, "BODY")
    rendered["body"] = _fill(body.get("text", ""), _params(_sent(sent, "body"))) if body else ""
    footer = _component(template, "FOOTER")
    rendered["footer"] = footer.get("text", "") if footer else ""
    buttons = _component(template, "BUTTONS")
    for index, button in enumerate((buttons or {}).get("buttons") or []):
        item = {"type": str(button.get("type", "")).upper(), "text": button.get("text", ""), "index": index}
        for component in sent:
            if str(component.get("type", "")).lower() == "button" and str(component.get("index")) == str(index):
                for param in _params(component):
                    if param.get("type") == "payload":
                        item["payload"] = param.get("payload")
                    elif param.get("type") == "text" and button.get("url"):
                        item["url"] = _fill(button["url"], [param])
        if item["type"] == "QUICK_REPLY":
            item.setdefault("payload", button.get("text", ""))
        rendered["buttons"].append(item)
    return rendered


def seed_definitions() -> list[dict[str, Any]]:
    return [
        {
            "name": "hello_world",
            "language": "en_US",
            "category": "MARKETING",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
                {
                    "type": "BODY",
                    "text": "Welcome and congratulations!! This message demonstrates your ability to send a message "
                    "notification from WhatsApp Business Platform\u2019s Cloud API. Thank you for taking the time to "
                    "test with us.",
                },
                {"type": "FOOTER", "text": "WhatsApp Business API Team"},
            ],
        },
        {
            "name": "order_update",
            "language": "pt_BR",
            "category": "UTILITY",
            "components": [
                {
                    "type": "BODY",
                    "text": "Olá {{1}}, o seu pedido {{2}} foi atualizado. "
                    "Responda esta mensagem se precisar de ajuda.",
                    "example": {"body_text": [["Maria", "#1234"]]},
                },
            ],
        },
        {
            "name": "appointment_reminder",
            "language": "pt_BR",
            "category": "UTILITY",
            "components": [
                {
                    "type": "BODY",
                    "text": "Olá {{1}}, lembrete do seu horário em {{2}}. Você confirma?",
                    "example": {"body_text": [["Maria", "12/05 às 14h"]]},
                },
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {"type": "QUICK_REPLY", "text": "Confirmar"},
                        {"type": "QUICK_REPLY", "text": "Remarcar"},
                    ],
                },
            ],
        },
    ]


def _template_error(subcode: int, title: str, message: str) -> errors.GraphError:
    """A template creation/edit refusal the way Meta words them (code 100 + a 2388xxx subcode)."""
    return errors.GraphError(
        http_status=400,
        code=100,
        message="(#100) Invalid parameter",
        subcode=subcode,
        extra={"is_transient": False, "error_user_title": title, "error_user_msg": message},
    )


def check_components(
    components: list[dict[str, Any]], category: str, handle_type: Callable[[str], str | None] | None = None
) -> None:
    """Meta's synchronous checks of a template's components (create and edit); review rules come later."""
    for component in components:
        if str(component.get("type", "")).upper() != "HEADER":
            continue
        fmt = str(component.get("format", "")).upper()
        if category == "AUTHENTICATION" and fmt in MEDIA_HEADER_FORMATS:
            raise errors.invalid_parameter("Authentication templates can't have a media header.")
        if fmt in HEADER_HANDLE_TYPES:
            handles = (component.get("example") or {}).get("header_handle")
            if not isinstance(handles, list) or not handles or not isinstance(handles[0], str):
                raise errors.invalid_parameter(
                    f"Param components[HEADER]['example']['header_handle'] is required for a {fmt} header."
                )
            mime = handle_type(handles[0]) if handle_type else None
            if handle_type is not None and mime is None:
                raise errors.invalid_parameter("The header_handle is not a valid uploaded file handle.")
            if mime is not None and mime not in HEADER_HANDLE_TYPES[fmt]:
                raise errors.invalid_parameter(f"The file of header_handle ({mime}) does not match the {fmt} header.")
    bodies = [c for c in components if str(c.get("type", "")).upper() == "BODY"]
    text = str(bodies[0].get("text") or "") if bodies else ""
    if len(text) > 1024:
        raise errors.invalid_parameter("Param components[BODY]['text'] must be at most 1024 characters long.")
    stripped = text.strip()
    if stripped and (re.match(r"^\{\{[^{}]*\}\}", stripped) or re.search(r"\{\{[^{}]*\}\}$", stripped)):
        raise _template_error(
            2388299,
            "Variables can't be at the start or end of the template",
            "Variables can't be at the start or end of the template.",
        )


def validate_create(
    body: Any, handle_type: Callable[[str], str | None] | None = None, *, seeding: bool = False
) -> dict[str, Any]:
    """Check a ``POST /{waba}/message_templates`` body; returns the normalised template fields. ``seeding``: a
    template put in place through the admin API (as if long approved) skips the components' checks."""
    if not isinstance(body, dict):
        raise errors.invalid_parameter("Request body must be a JSON object.")
    for key in ("name", "language", "category", "components"):
        if key not in body or body[key] in (None, "", []):
            raise errors.missing_parameter(key)
    name = body["name"]
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise errors.invalid_parameter(
            "Param name must contain only lowercase alphanumeric characters and underscores (at most 512)."
        )
    category = str(body["category"]).upper()
    if category not in CATEGORIES:
        raise errors.invalid_parameter(
            f'Param category must be one of {{AUTHENTICATION, MARKETING, UTILITY}} - got "{body["category"]}".'
        )
    components = body["components"]
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise errors.invalid_parameter("Param components must be an array of objects.")
    bodies = [c for c in components if str(c.get("type", "")).upper() == "BODY"]
    if category != "AUTHENTICATION" and (len(bodies) != 1 or not isinstance(bodies[0].get("text"), str)):
        raise errors.invalid_parameter("Param components must contain exactly one BODY component with text.")
    if not seeding:
        check_components(components, category, handle_type)
    parameter_format = body.get("parameter_format")
    if parameter_format is not None and str(parameter_format).upper() not in {"POSITIONAL", "NAMED"}:
        raise errors.invalid_parameter("Param parameter_format must be one of {NAMED, POSITIONAL}.")
    return {
        "name": name,
        "language": str(body["language"]),
        "category": category,
        "components": components,
        "parameter_format": str(parameter_format).upper() if parameter_format else None,
    }
