"""A flow's steps as JSON, and the checks a version passes before it is published.

A definition is ``{"start": "<step id>", "steps": [<step>, ...]}``; every step has an ``id`` (letters, digits,
``_`` and ``-``), a ``name`` (shown in the history and the reports) and a ``type``:

- ``message``: ``text``; optional ``media`` (``{"type": "image"|"document"|"video", "link": "https://…"}``), ``cta``
  (``{"text", "url"}``: a link button) or ``products`` (``{"skus": [...], "header": …}``); then ``next``.
- ``ask``: ``text``; ``input`` ``text`` | ``buttons`` (≤ 3 ``choices``) | ``list`` (≤ 10 ``choices``,
  ``list_button``); each choice ``{"id", "title", "description"?, "value"?, "next"?}`` (``value``: what is kept
  when it is chosen, its id by default: centavos for an amount); ``validate`` (``{"kind": …, "min",
  "max", "pattern"}``, kinds in ``VALIDATIONS``); ``save_as``; ``retry_text``; ``max_retries``; ``next``;
  ``on_fail`` (after the retries; a handover when absent).
- ``branch``: ``rules`` (``[{"if": {"subject", "name", "op", "value"}, "next"}]``) and ``default``.
- ``set``: ``attribute`` and ``value`` (a contact attribute), or ``label`` (added to the conversation); ``next``.
- ``payment``: ``amount`` (centavos, or ``{{variable}}``), ``description``, ``method`` (``pix``, ``card`` or a
  variable), ``timeout_minutes``, ``reminder_minutes``, ``reminder_text``; ``next`` once paid, ``on_timeout``,
  ``on_error``.
- ``integration``: ``url``, ``save_as``; ``next``, ``on_error``.
- ``transit``: ``action`` ``lookup`` | ``credit``, ``card`` (a variable), ``save_as``; ``next``, ``on_error``
  (a credit that fails after the payment refunds it first). A credit is of the amount paid in the flow, else of
  its ``amount`` (centavos or a variable).
- ``handover``: ``text`` (optional, to the customer), ``team`` (a team id; the flow's team when absent).
- ``end``: ``text`` (optional), ``csat`` (ask for a rating).

Texts may name variables: ``{{card.holder_name}}``, ``{{amount|money}}``, ``{{contact.first_name}}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from automations.rules_schema import regex_check
from helpdesk.exceptions import ValidationFailed

STEP_TYPES = ("message", "ask", "branch", "set", "payment", "integration", "transit", "handover", "end")
# Steps that stop and wait (for an answer or a payment): a loop must pass through one.
WAITING = ("ask", "payment")
TERMINAL = ("handover", "end")
INPUTS = ("text", "buttons", "list")
VALIDATIONS = (
    "text",
    "number",
    "amount",
    "email",
    "cpf",
    "cnpj",
    "cpf_cnpj",
    "date",
    "phone",
    "regex",
    "catalog",
    "transit_card",
)
SUBJECTS = ("variable", "attribute", "label", "hours", "last")
OPERATORS = (
    "eq",
    "ne",
    "in",
    "contains",
    "gt",
    "gte",
    "lt",
    "lte",
    "exists",
    "matches",
    "open",
    "closed",
    "ok",
    "error",
)
MEDIA = ("image", "document", "video")
TRANSIT_ACTIONS = ("lookup", "credit")
METHODS = ("pix", "card")

# WhatsApp's limits (Cloud API, interactive messages).
TEXT_MAX = 4096
BODY_MAX = 1024
BUTTON_TITLE_MAX = 20
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
LIST_BUTTON_MAX = 20
BUTTONS_MAX = 3
ROWS_MAX = 10
CTA_TEXT_MAX = 20
STEPS_MAX = 200
NAME_MAX = 80

STEP_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
VARIABLE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z0-9_.]+)(\|money)?\s*\}\}")


@dataclass(frozen=True)
class Problem:
    step: str
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"step": self.step, "field": self.field, "message": self.message}


class DefinitionInvalid(ValidationFailed):
    code = "flow_invalid"


def steps_by_id(definition: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    steps = definition.get("steps") if isinstance(definition, Mapping) else None
    if not isinstance(steps, list):
        return {}
    return {str(s["id"]): s for s in steps if isinstance(s, dict) and isinstance(s.get("id"), str)}


def targets(step: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, step id) of every step this one may lead to."""
    for key in ("next", "on_fail", "on_timeout", "on_error", "default"):
        value = step.get(key)
        if isinstance(value, str) and value:
            yield key, value
    for i, choice in enumerate(step.get("choices") or ()):
        if isinstance(choice, dict) and isinstance(choice.get("next"), str) and choice["next"]:
            yield f"choices[{i}].next", choice["next"]
    for i, rule in enumerate(step.get("rules") or ()):
        if isinstance(rule, dict) and isinstance(rule.get("next"), str) and rule["next"]:
            yield f"rules[{i}].next", rule["next"]


def _length(problems: list[Problem], step: str, field: str, value: Any, limit: int, *, required: bool) -> None:
    if value is None or value == "":
        if required:
            problems.append(Problem(step, field, _("Required.")))
        return
    if not isinstance(value, str):
        problems.append(Problem(step, field, _("Must be text.")))
    elif len(value) > limit:
        problems.append(
            Problem(
                step, field, _("At most %(max)s characters (%(length)s now).") % {"max": limit, "length": len(value)}
            )
        )


def _check_choices(problems: list[Problem], sid: str, step: Mapping[str, Any]) -> None:
    kind = step.get("input") or "text"
    choices = step.get("choices") or []
    if kind == "text":
        if choices:
            problems.append(Problem(sid, "choices", _("A free-text question has no choices.")))
        return
    if not isinstance(choices, list) or not choices:
        problems.append(Problem(sid, "choices", _("Give at least one choice.")))
        return
    limit = BUTTONS_MAX if kind == "buttons" else ROWS_MAX
    if len(choices) > limit:
        problems.append(Problem(sid, "choices", _("At most %(max)s choices.") % {"max": limit}))
    title_max = BUTTON_TITLE_MAX if kind == "buttons" else ROW_TITLE_MAX
    seen_ids: set[str] = set()
    seen_titles: set[str] = set()
    for i, choice in enumerate(choices):
        where = f"choices[{i}]"
        if not isinstance(choice, dict):
            problems.append(Problem(sid, where, _("Must be an object.")))
            continue
        cid = choice.get("id")
        if not isinstance(cid, str) or not STEP_ID.match(cid):
            problems.append(Problem(sid, f"{where}.id", _("Letters, digits, _ and -, at most 40.")))
        elif cid in seen_ids:
            problems.append(Problem(sid, f"{where}.id", _("Two choices have this id.")))
        else:
            seen_ids.add(cid)
        _length(problems, sid, f"{where}.title", choice.get("title"), title_max, required=True)
        title = choice.get("title")
        if isinstance(title, str):
            if title.casefold() in seen_titles:
                problems.append(Problem(sid, f"{where}.title", _("Two choices have this title.")))
            seen_titles.add(title.casefold())
        if kind == "buttons" and choice.get("description"):
            problems.append(Problem(sid, f"{where}.description", _("Buttons have no description.")))
        _length(problems, sid, f"{where}.description", choice.get("description"), ROW_DESCRIPTION_MAX, required=False)
    if kind == "list":
        _length(problems, sid, "list_button", step.get("list_button"), LIST_BUTTON_MAX, required=True)


def _check_validation(problems: list[Problem], sid: str, step: Mapping[str, Any]) -> None:
    validate = step.get("validate")
    if validate is None:
        return
    if not isinstance(validate, dict) or validate.get("kind") not in VALIDATIONS:
        problems.append(Problem(sid, "validate.kind", _("One of: %(kinds)s.") % {"kinds": ", ".join(VALIDATIONS)}))
        return
    for bound in ("min", "max"):
        value = validate.get(bound)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            problems.append(Problem(sid, f"validate.{bound}", _("Must be a whole number.")))
    low, high = validate.get("min"), validate.get("max")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        problems.append(Problem(sid, "validate.max", _("The maximum is below the minimum.")))
    if validate["kind"] == "regex":
        pattern = validate.get("pattern")
        if not isinstance(pattern, str) or not pattern or len(pattern) > 200:
            problems.append(Problem(sid, "validate.pattern", _("A regular expression of at most 200 characters.")))
        else:
            try:
                regex_check(pattern)
            except ValueError as exc:
                problems.append(Problem(sid, "validate.pattern", str(exc)))


def _check_step(problems: list[Problem], step: Mapping[str, Any], sid: str) -> None:
    kind = step.get("type")
    _length(problems, sid, "name", step.get("name"), NAME_MAX, required=True)
    if kind == "message":
        interactive = bool(step.get("cta"))
        _length(
            problems,
            sid,
            "text",
            step.get("text"),
            BODY_MAX if interactive else TEXT_MAX,
            required=not step.get("media") and not step.get("products"),
        )
        media = step.get("media")
        if media is not None:
            if not isinstance(media, dict) or media.get("type") not in MEDIA:
                problems.append(Problem(sid, "media.type", _("One of: %(kinds)s.") % {"kinds": ", ".join(MEDIA)}))
            elif not str(media.get("link", "")).startswith("https://"):
                problems.append(Problem(sid, "media.link", _("An https:// address.")))
        cta = step.get("cta")
        if cta is not None:
            if not isinstance(cta, dict):
                problems.append(Problem(sid, "cta", _("Must be an object.")))
            else:
                _length(problems, sid, "cta.text", cta.get("text"), CTA_TEXT_MAX, required=True)
                if not str(cta.get("url", "")).startswith("https://"):
                    problems.append(Problem(sid, "cta.url", _("An https:// address.")))
        products = step.get("products")
        if products is not None:
            skus = products.get("skus") if isinstance(products, dict) else None
            if not isinstance(skus, list) or not skus or not all(isinstance(s, str) and s for s in skus):
                problems.append(Problem(sid, "products.skus", _("Give the products' SKUs.")))
            elif len(skus) > 30:
                problems.append(Problem(sid, "products.skus", _("At most %(max)s products.") % {"max": 30}))
            elif len(skus) > 1:
                _length(problems, sid, "products.header", products.get("header"), 60, required=True)
    elif kind == "ask":
        if (step.get("input") or "text") not in INPUTS:
            problems.append(Problem(sid, "input", _("One of: %(kinds)s.") % {"kinds": ", ".join(INPUTS)}))
        interactive = step.get("input") in ("buttons", "list")
        _length(problems, sid, "text", step.get("text"), BODY_MAX if interactive else TEXT_MAX, required=True)
        _check_choices(problems, sid, step)
        _check_validation(problems, sid, step)
        _length(problems, sid, "retry_text", step.get("retry_text"), BODY_MAX, required=False)
        retries = step.get("max_retries", 2)
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            problems.append(Problem(sid, "max_retries", _("From 0 to 10.")))
        save_as = step.get("save_as")
        if save_as is not None and (not isinstance(save_as, str) or not VARIABLE.match(save_as)):
            problems.append(Problem(sid, "save_as", _("Lowercase letters, digits and _, starting with a letter.")))
        if not step.get("next") and not all(isinstance(c, dict) and c.get("next") for c in step.get("choices") or [{}]):
            problems.append(Problem(sid, "next", _("Say which step comes after the answer.")))
    elif kind == "branch":
        rules = step.get("rules")
        if not isinstance(rules, list) or not rules:
            problems.append(Problem(sid, "rules", _("Give at least one rule.")))
        else:
            for i, rule in enumerate(rules):
                condition = rule.get("if") if isinstance(rule, dict) else None
                if not isinstance(condition, dict):
                    problems.append(Problem(sid, f"rules[{i}].if", _("Must be an object.")))
                    continue
                if condition.get("subject") not in SUBJECTS:
                    problems.append(
                        Problem(sid, f"rules[{i}].if.subject", _("One of: %(kinds)s.") % {"kinds": ", ".join(SUBJECTS)})
                    )
                if condition.get("op") == "matches":
                    try:
                        regex_check(str(condition.get("value") or ""))
                    except ValueError as exc:
                        problems.append(Problem(sid, f"rules[{i}].if.value", str(exc)))
                if condition.get("op") not in OPERATORS:
                    problems.append(
                        Problem(sid, f"rules[{i}].if.op", _("One of: %(kinds)s.") % {"kinds": ", ".join(OPERATORS)})
                    )
                if not rule.get("next"):
                    problems.append(Problem(sid, f"rules[{i}].next", _("Say which step the rule leads to.")))
        if not step.get("default"):
            problems.append(Problem(sid, "default", _("Say which step comes when no rule matches.")))
    elif kind == "set":
        if not step.get("attribute") and not step.get("label"):
            problems.append(Problem(sid, "attribute", _("Name a contact attribute or a label.")))
        if step.get("attribute") and not VARIABLE.match(str(step["attribute"])):
            problems.append(Problem(sid, "attribute", _("Lowercase letters, digits and _, starting with a letter.")))
    elif kind == "payment":
        amount = step.get("amount")
        if not (isinstance(amount, int) and not isinstance(amount, bool) and amount > 0) and not (
            isinstance(amount, str) and PLACEHOLDER.fullmatch(amount.strip())
        ):
            problems.append(Problem(sid, "amount", _("An amount in centavos, or a variable such as {{amount}}.")))
        method = step.get("method")
        if not isinstance(method, str) or not (method in METHODS or PLACEHOLDER.fullmatch(method.strip())):
            problems.append(Problem(sid, "method", _("pix, card, or a variable holding one of them.")))
        _length(problems, sid, "description", step.get("description"), 120, required=True)
        minutes = step.get("timeout_minutes", 30)
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 10 <= minutes <= 24 * 60:
            problems.append(Problem(sid, "timeout_minutes", _("From 10 minutes to 24 hours.")))
        reminder = step.get("reminder_minutes")
        if reminder is not None and (
            isinstance(reminder, bool)
            or not isinstance(reminder, int)
            or reminder < 1
            or (isinstance(minutes, int) and reminder >= minutes)
        ):
            problems.append(Problem(sid, "reminder_minutes", _("Sooner than the payment's expiry.")))
    elif kind == "integration":
        url = step.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 500:
            problems.append(Problem(sid, "url", _("The business's https:// address.")))
        if not VARIABLE.match(str(step.get("save_as", ""))):
            problems.append(Problem(sid, "save_as", _("Lowercase letters, digits and _, starting with a letter.")))
    elif kind == "transit":
        if step.get("action") not in TRANSIT_ACTIONS:
            problems.append(Problem(sid, "action", _("One of: %(kinds)s.") % {"kinds": ", ".join(TRANSIT_ACTIONS)}))
        if not isinstance(step.get("card"), str) or not step["card"]:
            problems.append(Problem(sid, "card", _("The variable holding the card number.")))
        if not VARIABLE.match(str(step.get("save_as", ""))):
            problems.append(Problem(sid, "save_as", _("Lowercase letters, digits and _, starting with a letter.")))
    elif kind == "handover":
        _length(problems, sid, "text", step.get("text"), TEXT_MAX, required=False)
        team = step.get("team")
        if team is not None and (isinstance(team, bool) or not isinstance(team, int)):
            problems.append(Problem(sid, "team", _("A team's id.")))
    elif kind == "end":
        _length(problems, sid, "text", step.get("text"), TEXT_MAX, required=False)
    if kind not in TERMINAL and kind not in ("branch", "ask") and not step.get("next"):
        problems.append(Problem(sid, "next", _("Say which step comes next.")))


def definition_problems(definition: Any) -> list[Problem]:
    """Everything that keeps a definition from being published (empty when it may be)."""
    problems: list[Problem] = []
    if not isinstance(definition, dict) or not isinstance(definition.get("steps"), list):
        return [Problem("", "steps", _("A flow is a list of steps."))]
    steps = definition["steps"]
    if not steps:
        return [Problem("", "steps", _("Add at least one step."))]
    if len(steps) > STEPS_MAX:
        problems.append(Problem("", "steps", _("At most %(max)s steps.") % {"max": STEPS_MAX}))
    by_id: dict[str, dict[str, Any]] = {}
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            problems.append(Problem(f"#{i + 1}", "", _("Must be an object.")))
            continue
        sid = step.get("id")
        if not isinstance(sid, str) or not STEP_ID.match(sid):
            problems.append(Problem(f"#{i + 1}", "id", _("Letters, digits, _ and -, at most 40.")))
            continue
        if sid in by_id:
            problems.append(Problem(sid, "id", _("Two steps have this id.")))
            continue
        by_id[sid] = step
        if step.get("type") not in STEP_TYPES:
            problems.append(Problem(sid, "type", _("One of: %(kinds)s.") % {"kinds": ", ".join(STEP_TYPES)}))
            continue
        _check_step(problems, step, sid)
    start = definition.get("start")
    if start not in by_id:
        problems.append(Problem("", "start", _("Say which step the flow starts with.")))
        return problems
    for sid, step in by_id.items():
        for field, target in targets(step):
            if target not in by_id:
                problems.append(Problem(sid, field, _("There is no step %(id)s.") % {"id": target}))
    reachable = _reachable(by_id, str(start))
    for sid in by_id:
        if sid not in reachable:
            problems.append(Problem(sid, "", _("No step leads here.")))
    loop = _loop_without_wait(by_id)
    if loop:
        problems.append(
            Problem(
                loop[0],
                "next",
                _("These steps loop without waiting for the customer: %(steps)s.") % {"steps": " → ".join(loop)},
            )
        )
    return problems


def _reachable(by_id: Mapping[str, Mapping[str, Any]], start: str) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        step = by_id.get(stack.pop())
        if step is None:
            continue
        for _field, target in targets(step):
            if target in by_id and target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def _loop_without_wait(by_id: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A cycle of steps none of which waits (it would run for ever), or []."""
    graph = {
        sid: [t for _f, t in targets(step) if t in by_id and by_id[t].get("type") not in WAITING]
        for sid, step in by_id.items()
        if step.get("type") not in WAITING
    }
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def definition_check(definition: Any) -> None:
    problems = definition_problems(definition)
    if problems:
        raise DefinitionInvalid(
            _("The flow cannot be published: %(count)s problem(s).") % {"count": len(problems)},
            details={"problems": [p.as_dict() for p in problems]},
        )
