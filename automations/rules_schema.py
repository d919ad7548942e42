"""What an automation rule may say, checked strictly on every save (page and API alike).

**Conditions** are a tree of groups: ``{"op": "and" | "or", "items": [condition or group, …]}``, at most
``DEPTH_MAX`` groups deep and ``CONDITIONS_MAX`` conditions in all; an empty root group always matches.
A condition is ``{"type": …, …}``:

- ``text_contains`` ``{"value"}``, ``text_regex`` ``{"pattern"}``, ``keywords`` ``{"values": […]}``: the
  customer's message (only for "message received"); contains and keywords ignore case and accents,
  a keyword matches a whole word or phrase;
- ``contact_attribute`` ``{"key", "operator": "equals" | "contains" | "exists" | "not_exists", "value"}``;
- ``contact_label`` / ``conversation_label`` ``{"operator": "has" | "has_not", "label_id"}``;
- ``inbox`` ``{"operator": "is" | "is_not", "inbox_ids": […]}``;
- ``team`` ``{"operator": "is" | "is_not", "team_ids": […]}`` (the conversation's team);
- ``priority`` ``{"operator": "is" | "is_not", "values": […]}``;
- ``business_hours`` ``{"value": "in" | "out"}`` (the inbox's calendar at the event's time);
- ``contact_language`` ``{"operator": "is" | "is_not", "values": ["pt-br", "en", …]}``;
- ``first_message`` ``{"value": true | false}`` (only for "message received").

**Actions** are an ordered list (at most ``ACTIONS_MAX``) of ``{"type": …, …}``: ``assign_agent``
``{"user_id"}``, ``assign_team`` ``{"team_id"}``, ``unassign``, ``add_label`` / ``remove_label``
``{"label_ids": […]}``, ``set_priority`` ``{"priority"}``, ``send_message``
``{"text", "template": null | {"name", "language", "params"}}``, ``send_quick_reply``
``{"quick_reply_id"}``, ``add_note`` ``{"text"}``, ``resolve``, ``snooze``
``{"mode": "hours", "hours"} | {"mode": "next_opening"}``, ``mute`` (resolve, and file the customer's
later messages there, out of the queue and of every automation).

Every id must name one of the workspace's own rows (an active member, a label, an inbox, a shared quick
reply, an approved template of one of its inboxes): another workspace's is refused like one that never
was, with a 400 naming the place in the tree. Regular expressions are compiled on save and refused when
they could take long on a customer's message (see ``regex_check``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from automations.models import AutomationRule
from conversations import channels
from conversations.customer_texts import language_normalise
from conversations.models import Conversation, Inbox, Label, QuickReply, Team
from helpdesk.exceptions import ValidationFailed
from helpdesk.text import fold
from tenants.models import Membership

DEPTH_MAX = 3
CONDITIONS_MAX = 30
ACTIONS_MAX = 15
TEXT_MAX = 4096
VALUE_MAX = 500
LIST_MAX = 50
PATTERN_MAX = 100
# Only the first characters of a message are matched against a regular expression.
REGEX_INPUT_MAX = 500
# Repetitions allowing more than this many characters count as "wide"; at most two per pattern.
WIDE_REPEAT = 20
WIDE_REPEATS_MAX = 2
SNOOZE_HOURS_MAX = 24 * 30

Event = AutomationRule.Event
MESSAGE_EVENTS = frozenset({Event.MESSAGE_RECEIVED})

CONDITION_TYPES = (
    "text_contains",
    "text_regex",
    "keywords",
    "contact_attribute",
    "contact_label",
    "conversation_label",
    "inbox",
    "team",
    "priority",
    "business_hours",
    "contact_language",
    "first_message",
)
TEXT_CONDITIONS = frozenset({"text_contains", "text_regex", "keywords", "first_message"})
ACTION_TYPES = (
    "assign_agent",
    "assign_team",
    "unassign",
    "add_label",
    "remove_label",
    "set_priority",
    "send_message",
    "send_quick_reply",
    "add_note",
    "resolve",
    "snooze",
    "mute",
)
ATTRIBUTE_OPERATORS = ("equals", "contains", "exists", "not_exists")


def keyword_pattern(values: list[str]) -> re.Pattern[str]:
    """One pattern matching any of the (folded) keywords as a whole word or phrase."""
    words = sorted({fold(v).strip() for v in values if v.strip()}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)")


class _Invalid(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(path, message)
        self.path, self.message = path, message


_parser: Any = __import__("re._parser", fromlist=["parse"])
_REPEATS = {_parser.MAX_REPEAT, _parser.MIN_REPEAT, getattr(_parser, "POSSESSIVE_REPEAT", None)} - {None}
_REFUSED = {_parser.GROUPREF, _parser.GROUPREF_EXISTS, _parser.ASSERT, _parser.ASSERT_NOT}


def _walk(items: Any, inside_repeat: bool) -> Iterator[tuple[str, Any]]:
    """Yield (problem, None) or ("wide", None) for each wide repetition, over a parsed pattern."""
    for op, arg in items:
        if op in _REFUSED:
            yield "refused", None
        elif op in _REPEATS:
            _low, high, body = arg
            if inside_repeat:
                yield "nested", None
            if high > WIDE_REPEAT:
                yield "wide", None
            yield from _walk(body, True)
        elif op == _parser.BRANCH:
            if inside_repeat:
                yield "nested", None
            for branch in arg[1]:
                yield from _walk(branch, inside_repeat)
        elif op == _parser.SUBPATTERN:
            yield from _walk(arg[-1], inside_repeat)
        elif op == getattr(_parser, "ATOMIC_GROUP", object()):
            yield from _walk(arg, inside_repeat)


def regex_check(pattern: str) -> re.Pattern[str]:
    """Compile a rule's pattern, refusing what could take long on a message (there is no timeout in
    ``re``): more than ``PATTERN_MAX`` characters, back-references and look-arounds, a repetition or an
    alternation inside a repetition (``(a+)+``, ``(a|aa)*``: exponential backtracking), and more than
    two wide repetitions (``.*.*.*x``: each one multiplies the work). Matching reads only the first
    ``REGEX_INPUT_MAX`` characters of a message. Raises ``ValueError`` with the reason, translated."""
    if not pattern:
        raise ValueError(_("Write a regular expression."))
    if len(pattern) > PATTERN_MAX:
        raise ValueError(_("A regular expression can be %(max)s characters long at most.") % {"max": PATTERN_MAX})
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
        parsed = _parser.parse(pattern, re.IGNORECASE)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValueError(_("This regular expression is not valid: %(error)s") % {"error": str(exc)}) from None
    problems = [problem for problem, _arg in _walk(parsed, False)]
    if "refused" in problems:
        raise ValueError(_("Back-references and look-arounds are not allowed in a rule's regular expression."))
    if "nested" in problems:
        raise ValueError(
            _(
                "A repetition or an alternative inside a repeated group, such as (a+)+ or (a|ab)*, could take "
                "too long: repeat single characters or fixed words only."
            )
        )
    if problems.count("wide") > WIDE_REPEATS_MAX:
        raise ValueError(
            _("At most %(max)s open-ended repetitions (such as .* or \\w+) are allowed in one expression.")
            % {"max": WIDE_REPEATS_MAX}
        )
    return compiled


@dataclass
class Known:
    """The workspace's own ids a rule may name, read once per validation (lazily, per kind)."""

    tenant_id: int
    _cache: dict[str, Any]

    def _get(self, key: str, read: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = read()
        return self._cache[key]

    def labels(self) -> set[int]:
        return self._get(
            "labels", lambda: set(Label.objects.filter(tenant_id=self.tenant_id).values_list("pk", flat=True))
        )

    def inboxes(self) -> set[int]:
        return self._get(
            "inboxes", lambda: set(Inbox.objects.filter(tenant_id=self.tenant_id).values_list("pk", flat=True))
        )

    def teams(self) -> set[int]:
        return self._get(
            "teams", lambda: set(Team.objects.filter(tenant_id=self.tenant_id).values_list("pk", flat=True))
        )

    def members(self) -> set[int]:
        return self._get(
            "members",
            lambda: set(
                Membership.objects.filter(tenant_id=self.tenant_id, active=True).values_list("user_id", flat=True)
            ),
        )

    def quick_replies(self) -> set[int]:
        # Shared ones only: a rule is the workspace's, never one member's.
        return self._get(
            "quick_replies",
            lambda: set(
                QuickReply.objects.filter(
                    tenant_id=self.tenant_id, scope__in=[QuickReply.Scope.TENANT, QuickReply.Scope.INBOX]
                ).values_list("pk", flat=True)
            ),
        )

    def templates(self) -> set[tuple[str, str]]:
        def read() -> set[tuple[str, str]]:
            found: set[tuple[str, str]] = set()
            for inbox in Inbox.objects.filter(tenant_id=self.tenant_id):
                try:
                    backend = channels.backend_for(inbox)
                except LookupError:
                    continue
                found |= {(t["name"], t["language"]) for t in backend.templates_for(inbox)}
            return found

        return self._get("templates", read)


def known_for(tenant_id: int) -> Known:
    return Known(tenant_id=tenant_id, _cache={})


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(path, _("Expected an object."))
    return value


def _keys(value: dict[str, Any], path: str, allowed: set[str]) -> None:
    extra = sorted(set(value) - allowed)
    if extra:
        raise _Invalid(f"{path}.{extra[0]}", _("Unknown field."))


def _text(value: Any, path: str, *, max_length: int = VALUE_MAX, required: bool = True) -> str:
    if not isinstance(value, str):
        raise _Invalid(path, _("Expected a text."))
    if "\x00" in value:
        raise _Invalid(path, _("The text holds a character that is not allowed."))
    value = value.strip()
    if required and not value:
        raise _Invalid(path, _("This cannot be empty."))
    if len(value) > max_length:
        raise _Invalid(path, _("At most %(max)s characters.") % {"max": max_length})
    return value


def _id(value: Any, path: str, known: set[int]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(path, _("Expected an id."))
    if value not in known:
        raise _Invalid(path, _("No such item in this workspace."))
    return value


def _ids(value: Any, path: str, known: set[int]) -> list[int]:
    if not isinstance(value, list) or not value:
        raise _Invalid(path, _("Choose at least one."))
    if len(value) > LIST_MAX:
        raise _Invalid(path, _("At most %(max)s.") % {"max": LIST_MAX})
    return sorted({_id(v, f"{path}[{i}]", known) for i, v in enumerate(value)})


def _choice(value: Any, path: str, choices: tuple[str, ...] | list[str]) -> str:
    if value not in choices:
        raise _Invalid(path, _("Choose one of: %(choices)s.") % {"choices": ", ".join(choices)})
    return str(value)


def _texts(value: Any, path: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise _Invalid(path, _("Give at least one."))
    if len(value) > LIST_MAX:
        raise _Invalid(path, _("At most %(max)s.") % {"max": LIST_MAX})
    return [_text(v, f"{path}[{i}]", max_length=100) for i, v in enumerate(value)]


def _param(value: Any, path: str) -> str | list[str]:
    """A template's value: a text, or a list of texts (the channel's shape, e.g. {"body": ["Maria"]})."""
    if isinstance(value, list):
        if len(value) > LIST_MAX:
            raise _Invalid(path, _("At most %(max)s.") % {"max": LIST_MAX})
        return [_text(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return _text(value, path)


def _condition(value: dict[str, Any], path: str, event: str, known: Known) -> dict[str, Any]:
    kind = _choice(value.get("type"), f"{path}.type", CONDITION_TYPES)
    if kind in TEXT_CONDITIONS and event not in MESSAGE_EVENTS:
        raise _Invalid(f"{path}.type", _("This condition needs a customer's message: only for “message received”."))
    if kind == "text_contains":
        _keys(value, path, {"type", "value"})
        return {"type": kind, "value": _text(value.get("value"), f"{path}.value")}
    if kind == "text_regex":
        _keys(value, path, {"type", "pattern"})
        pattern = value.get("pattern")
        if not isinstance(pattern, str):
            raise _Invalid(f"{path}.pattern", _("Expected a text."))
        try:
            regex_check(pattern)
        except ValueError as exc:
            raise _Invalid(f"{path}.pattern", str(exc)) from None
        return {"type": kind, "pattern": pattern}
    if kind == "keywords":
        _keys(value, path, {"type", "values"})
        values = _texts(value.get("values"), f"{path}.values")
        return {"type": kind, "values": values}
    if kind == "contact_attribute":
        _keys(value, path, {"type", "key", "operator", "value"})
        operator = _choice(value.get("operator"), f"{path}.operator", ATTRIBUTE_OPERATORS)
        key = _text(value.get("key"), f"{path}.key", max_length=64)
        if operator in ("exists", "not_exists"):
            return {"type": kind, "key": key, "operator": operator}
        return {"type": kind, "key": key, "operator": operator, "value": _text(value.get("value"), f"{path}.value")}
    if kind in ("contact_label", "conversation_label"):
        _keys(value, path, {"type", "operator", "label_id"})
        operator = _choice(value.get("operator"), f"{path}.operator", ("has", "has_not"))
        return {
            "type": kind,
            "operator": operator,
            "label_id": _id(value.get("label_id"), f"{path}.label_id", known.labels()),
        }
    if kind == "inbox":
        _keys(value, path, {"type", "operator", "inbox_ids"})
        operator = _choice(value.get("operator"), f"{path}.operator", ("is", "is_not"))
        return {
            "type": kind,
            "operator": operator,
            "inbox_ids": _ids(value.get("inbox_ids"), f"{path}.inbox_ids", known.inboxes()),
        }
    if kind == "team":
        _keys(value, path, {"type", "operator", "team_ids"})
        operator = _choice(value.get("operator"), f"{path}.operator", ("is", "is_not"))
        return {
            "type": kind,
            "operator": operator,
            "team_ids": _ids(value.get("team_ids"), f"{path}.team_ids", known.teams()),
        }
    if kind == "priority":
        _keys(value, path, {"type", "operator", "values"})
        operator = _choice(value.get("operator"), f"{path}.operator", ("is", "is_not"))
        chosen = value.get("values")
        if not isinstance(chosen, list) or not chosen:
            raise _Invalid(f"{path}.values", _("Choose at least one."))
        priorities = Conversation.Priority.values
        return {
            "type": kind,
            "operator": operator,
            "values": sorted({_choice(v, f"{path}.values[{i}]", priorities) for i, v in enumerate(chosen)}),
        }
    if kind == "business_hours":
        _keys(value, path, {"type", "value"})
        return {"type": kind, "value": _choice(value.get("value"), f"{path}.value", ("in", "out"))}
    if kind == "contact_language":
        _keys(value, path, {"type", "operator", "values"})
        operator = _choice(value.get("operator"), f"{path}.operator", ("is", "is_not"))
        languages = []
        for i, raw in enumerate(_texts(value.get("values"), f"{path}.values")):
            tag = language_normalise(raw)
            if tag is None:
                raise _Invalid(f"{path}.values[{i}]", _("Not a language tag such as pt-br or en."))
            languages.append(tag)
        return {"type": kind, "operator": operator, "values": sorted(set(languages))}
    # first_message
    _keys(value, path, {"type", "value"})
    flag = value.get("value")
    if not isinstance(flag, bool):
        raise _Invalid(f"{path}.value", _("Expected true or false."))
    return {"type": kind, "value": flag}


def _group(value: Any, path: str, event: str, known: Known, depth: int, count: list[int]) -> dict[str, Any]:
    group = _obj(value, path)
    _keys(group, path, {"op", "items"})
    op = _choice(group.get("op", "and"), f"{path}.op", ("and", "or"))
    items = group.get("items", [])
    if not isinstance(items, list):
        raise _Invalid(f"{path}.items", _("Expected a list."))
    cleaned = []
    for i, item in enumerate(items):
        item_path = f"{path}.items[{i}]"
        item = _obj(item, item_path)
        if "type" in item:
            count[0] += 1
            if count[0] > CONDITIONS_MAX:
                raise _Invalid(item_path, _("At most %(max)s conditions in a rule.") % {"max": CONDITIONS_MAX})
            cleaned.append(_condition(item, item_path, event, known))
        else:
            if depth >= DEPTH_MAX:
                raise _Invalid(item_path, _("Groups can be nested %(max)s deep at most.") % {"max": DEPTH_MAX})
            cleaned.append(_group(item, item_path, event, known, depth + 1, count))
    return {"op": op, "items": cleaned}


def _action(value: Any, path: str, known: Known) -> dict[str, Any]:
    action = _obj(value, path)
    kind = _choice(action.get("type"), f"{path}.type", ACTION_TYPES)
    if kind in ("unassign", "resolve", "mute"):
        _keys(action, path, {"type"})
        return {"type": kind}
    if kind == "assign_agent":
        _keys(action, path, {"type", "user_id"})
        return {"type": kind, "user_id": _id(action.get("user_id"), f"{path}.user_id", known.members())}
    if kind == "assign_team":
        _keys(action, path, {"type", "team_id"})
        return {"type": kind, "team_id": _id(action.get("team_id"), f"{path}.team_id", known.teams())}
    if kind in ("add_label", "remove_label"):
        _keys(action, path, {"type", "label_ids"})
        return {"type": kind, "label_ids": _ids(action.get("label_ids"), f"{path}.label_ids", known.labels())}
    if kind == "set_priority":
        _keys(action, path, {"type", "priority"})
        return {
            "type": kind,
            "priority": _choice(action.get("priority"), f"{path}.priority", Conversation.Priority.values),
        }
    if kind == "send_message":
        _keys(action, path, {"type", "text", "template"})
        text = _text(action.get("text", ""), f"{path}.text", max_length=TEXT_MAX, required=False)
        template = action.get("template")
        cleaned_template = None
        if template is not None:
            template = _obj(template, f"{path}.template")
            _keys(template, f"{path}.template", {"name", "language", "params"})
            name = _text(template.get("name"), f"{path}.template.name", max_length=512)
            language = _text(template.get("language"), f"{path}.template.language", max_length=16)
            if (name, language) not in known.templates():
                raise _Invalid(
                    f"{path}.template", _("No approved template with this name and language in this workspace.")
                )
            params = template.get("params", {})
            if not isinstance(params, dict) or len(params) > LIST_MAX:
                raise _Invalid(f"{path}.template.params", _("Expected an object of values."))
            cleaned_params = {
                _text(k, f"{path}.template.params", max_length=64): _param(v, f"{path}.template.params.{k}")
                for k, v in params.items()
            }
            cleaned_template = {"name": name, "language": language, "params": cleaned_params}
        if not text and cleaned_template is None:
            raise _Invalid(f"{path}.text", _("Write the message, choose a template, or both."))
        return {"type": kind, "text": text, "template": cleaned_template}
    if kind == "send_quick_reply":
        _keys(action, path, {"type", "quick_reply_id"})
        return {
            "type": kind,
            "quick_reply_id": _id(action.get("quick_reply_id"), f"{path}.quick_reply_id", known.quick_replies()),
        }
    if kind == "add_note":
        _keys(action, path, {"type", "text"})
        return {"type": kind, "text": _text(action.get("text"), f"{path}.text", max_length=TEXT_MAX)}
    # snooze
    _keys(action, path, {"type", "mode", "hours"})
    mode = _choice(action.get("mode"), f"{path}.mode", ("hours", "next_opening"))
    if mode == "next_opening":
        return {"type": kind, "mode": mode}
    hours = action.get("hours")
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= SNOOZE_HOURS_MAX:
        raise _Invalid(f"{path}.hours", _("From 1 to %(max)s hours.") % {"max": SNOOZE_HOURS_MAX})
    return {"type": kind, "mode": mode, "hours": hours}


def rule_definition_clean(
    *, tenant_id: int, event: str, conditions: Any, actions: Any, known: Known | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The rule's conditions and actions as stored, or ``ValidationFailed`` naming the first problem
    (``details``: ``field`` "conditions" or "actions" and ``path``, such as ``conditions.items[1].label_id``)."""
    known = known or known_for(tenant_id)
    if event not in Event.values:
        raise ValidationFailed(_("Choose one of the events."), details={"field": "event", "allowed": Event.values})
    try:
        tree = _group(
            conditions if conditions not in (None, {}) else {"op": "and", "items": []},
            "conditions",
            event,
            known,
            1,
            [0],
        )
        if not isinstance(actions, list) or not actions:
            raise _Invalid("actions", _("Add at least one action."))
        if len(actions) > ACTIONS_MAX:
            raise _Invalid("actions", _("At most %(max)s actions in a rule.") % {"max": ACTIONS_MAX})
        cleaned = [_action(a, f"actions[{i}]", known) for i, a in enumerate(actions)]
    except _Invalid as exc:
        field = exc.path.split(".", 1)[0].split("[", 1)[0]
        raise ValidationFailed(f"{exc.path}: {exc.message}", details={"field": field, "path": exc.path}) from None
    return tree, cleaned
