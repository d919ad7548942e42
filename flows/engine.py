"""The step machine of a flow: given a published definition, the session's state and what happened (the flow
starts, the customer answered, the payment came in or did not), it runs steps until one waits or the flow ends.

It knows nothing of the database or the channel: what it does to the world goes through ``Ports`` (the runtime's
are in ``flows/runtime.py``; tests give their own), so one input is one call, and the runtime makes that call
once per customer message, inside the transaction that records it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from django.utils import translation
from django.utils.translation import gettext as _

from flows.answers import Checked, answer_check, normalised
from flows.definitions import PLACEHOLDER, TEXT_MAX, steps_by_id
from payments.money import amount_format

# Steps run for one input at most (a guard beside the publish check against loops that never wait).
HOPS_MAX = 60


@dataclass(frozen=True)
class Outgoing:
    """A message the bot sends: text, a question with buttons or a list, a link button, media or products."""

    text: str = ""
    buttons: tuple[tuple[str, str], ...] = ()
    rows: tuple[tuple[str, str, str], ...] = ()
    list_button: str = ""
    cta: tuple[str, str] | None = None
    media: tuple[str, str] | None = None
    skus: tuple[str, ...] = ()
    header: str = ""


@dataclass(frozen=True)
class Input:
    """What the customer wrote: their text, or the id and title of the button or row they chose."""

    text: str = ""
    choice_id: str = ""


@dataclass(frozen=True)
class Paid:
    amount: int
    reference: str


class Ports(Protocol):
    language: str

    def send(self, step: Mapping[str, Any], message: Outgoing) -> bool:
        """Send to the customer; False when it cannot be sent (the reply window is closed)."""

    def set_attribute(self, name: str, value: str) -> None: ...

    def add_label(self, name: str) -> None: ...

    def has_label(self, name: str) -> bool: ...

    def attribute(self, name: str) -> Any: ...

    def business_open(self) -> bool: ...

    def catalog_find(self, text: str) -> str | None: ...

    def transit_lookup(self, card: str) -> tuple[dict[str, Any] | None, str]:
        """The card's holder_name, balance, currency and number, or (None, error code)."""

    def transit_credit(self, card: str, amount: int, reference: str) -> tuple[dict[str, Any] | None, str]: ...

    def integration(
        self, step: Mapping[str, Any], variables: Mapping[str, Any]
    ) -> tuple[dict[str, Any] | None, str]: ...

    def payment_request(
        self, step: Mapping[str, Any], *, amount: int, description: str, method: str, minutes: int
    ) -> str:
        """Make the order and send the payment request; "" when done, else an error code."""

    def refund(self, reason: str) -> bool: ...

    def handover(self, team_id: int | None, collected: list[tuple[str, str]]) -> None: ...

    def csat(self) -> None: ...


@dataclass
class State:
    step: str = ""
    status: str = "active"  # active, waiting, completed, handed_over, abandoned, failed
    retries: int = 0
    variables: dict[str, Any] = field(default_factory=dict)
    # Minutes the payment waits and its reminder, when a payment step starts waiting.
    wait_minutes: int = 0
    remind_minutes: int = 0
    # (step id, step name, kind, value) of what happened, for the session's log.
    log: list[tuple[str, str, str, Any]] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.status in ("active", "waiting")


def lookup(variables: Mapping[str, Any], path: str) -> Any:
    value: Any = variables
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return None
    return value


def render(text: str, variables: Mapping[str, Any], language: str) -> str:
    def one(match: re.Match[str]) -> str:
        value = lookup(variables, match.group(1))
        if value is None:
            return ""
        if match.group(2) and isinstance(value, int) and not isinstance(value, bool):
            return amount_format(value, language=language)
        return str(value)

    return PLACEHOLDER.sub(one, text or "")


def _value(raw: Any, variables: Mapping[str, Any]) -> Any:
    """A step's setting: itself, or the variable a lone ``{{name}}`` names."""
    if isinstance(raw, str):
        match = PLACEHOLDER.fullmatch(raw.strip())
        if match:
            return lookup(variables, match.group(1))
    return raw


class Machine:
    def __init__(self, definition: Mapping[str, Any], state: State, ports: Ports) -> None:
        self.definition = definition
        self.steps = steps_by_id(definition)
        self.state = state
        self.ports = ports
        # Plain texts of this input not sent yet: they go with the next message, so that one customer
        # message gets one reply (a question after "card not found" is one bubble, not two).
        self._buffer: list[str] = []
        self._buffer_step: Mapping[str, Any] = {}

    def _send(self, step: Mapping[str, Any], message: Outgoing) -> None:
        plain = not (message.buttons or message.rows or message.cta or message.media or message.skus)
        if plain:
            if message.text.strip():
                if not self._buffer:
                    self._buffer_step = step
                self._buffer.append(message.text.strip())
            return
        if self._buffer:
            joined = "\n\n".join([*self._buffer, message.text]) if message.text else "\n\n".join(self._buffer)
            limit = 1024 if (message.buttons or message.rows or message.cta or message.media) else TEXT_MAX
            if len(joined) <= limit and not message.skus:
                self._buffer = []
                message = replace(message, text=joined)
            else:
                self._flush()
        self.ports.send(step, message)

    def _flush(self) -> None:
        if self._buffer:
            text = "\n\n".join(self._buffer)
            self._buffer = []
            self.ports.send(self._buffer_step, Outgoing(text=text[:TEXT_MAX]))

    def _done(self) -> State:
        self._flush()
        return self.state

    # --- what the runtime calls -------------------------------------------------------------------

    def start(self) -> State:
        self.state.status = "active"
        self._run(str(self.definition.get("start", "")))
        return self._done()

    def answer(self, given: Input) -> State:
        """The customer's message while the session runs."""
        step = self.steps.get(self.state.step)
        if self.state.status != "active" or step is None or step.get("type") != "ask":
            return self._done()
        checked = self._check(step, given)
        if not checked.ok:
            self._log(step, "invalid", given.text[:200])
            limit = step.get("max_retries", 2)
            if self.state.retries >= limit:
                self._log(step, "retries_exhausted", self.state.retries)
                self._go(step.get("on_fail") or "", fallback_handover=True)
                return self._done()
            self.state.retries += 1
            retry = render(step.get("retry_text") or "", self.state.variables, self.ports.language)
            with translation.override(self.ports.language):
                text = f"{checked.error} {retry}".strip() if retry else checked.error
            # The question again, with its buttons, after the reason.
            self._ask(step, prefix=text)
            return self._done()
        self.state.retries = 0
        if step.get("save_as"):
            self.state.variables[str(step["save_as"])] = checked.value
            answers = self.state.variables.setdefault("_answers", [])
            answers.append([str(step.get("name", step["id"])), checked.display or str(checked.value)])
        self.state.variables["last"] = checked.value
        self._log(step, "answer", checked.display or checked.value)
        chosen = next((c for c in step.get("choices") or () if c.get("id") == given.choice_id), None)
        target = (chosen or {}).get("next") or step.get("next")
        self._run(str(target or ""))
        return self._done()

    def paid(self, payment: Paid) -> State:
        step = self.steps.get(self.state.step)
        if self.state.status != "waiting" or step is None or step.get("type") != "payment":
            return self._done()
        self.state.variables["payment"] = {"amount": payment.amount, "reference": payment.reference}
        self.state.variables.pop("_waiting_on", None)
        self._log(step, "paid", payment.amount)
        self.state.status = "active"
        self._run(str(step.get("next", "")))
        return self._done()

    def payment_expired(self) -> State:
        step = self.steps.get(self.state.step)
        if self.state.status != "waiting" or step is None:
            return self._done()
        self._log(step, "payment_expired", None)
        self.state.status = "active"
        if step.get("on_timeout"):
            self._run(str(step["on_timeout"]))
        else:
            with translation.override(self.ports.language):
                self._say(step, _("The payment time is over. Write again whenever you want to start over."))
            self._finish(step, "abandoned")
        return self._done()

    def remind(self) -> State:
        step = self.steps.get(self.state.step)
        if self.state.status == "waiting" and step is not None and step.get("reminder_text"):
            self._say(step, render(str(step["reminder_text"]), self.state.variables, self.ports.language))
            self._log(step, "reminded", None)
        return self._done()

    def hand_over(self, reason: str) -> State:
        """The customer asked for a person (or the bot cannot go on)."""
        step = self.steps.get(self.state.step) or {"id": self.state.step, "name": ""}
        self._log(step, "handover_asked", reason)
        self._handover(step, {})
        return self._done()

    # --- the steps ---------------------------------------------------------------------------------

    def _log(self, step: Mapping[str, Any], kind: str, value: Any) -> None:
        self.state.log.append((str(step.get("id", "")), str(step.get("name", "")), kind, value))

    def _say(self, step: Mapping[str, Any], text: str) -> None:
        if text.strip():
            self._send(step, Outgoing(text=text))

    def _finish(self, step: Mapping[str, Any], status: str) -> None:
        self.state.status = status
        self.state.step = str(step.get("id", ""))
        self._log(step, status, None)

    def _go(self, target: str, *, fallback_handover: bool = False) -> None:
        if target in self.steps:
            self._run(target)
        elif fallback_handover:
            step = self.steps.get(self.state.step) or {}
            self._handover(step, {})
        else:
            self._finish(self.steps.get(self.state.step) or {}, "failed")

    def _check(self, step: Mapping[str, Any], given: Input) -> Checked:
        choices = step.get("choices") or ()
        chosen = None
        if given.choice_id:
            chosen = next((c for c in choices if c.get("id") == given.choice_id), None)
        if chosen is None and given.text and choices:
            typed = normalised(given.text)
            chosen = next(
                (
                    c
                    for c in choices
                    if normalised(str(c.get("title", ""))) == typed or normalised(str(c["id"])) == typed
                ),
                None,
            )
        if chosen is not None:
            value = chosen.get("value", chosen["id"])
            shown = str(chosen.get("title", ""))
            return Checked(True, value, shown)
        with translation.override(self.ports.language):
            if choices and not step.get("validate"):
                return Checked(False, error=_("Please choose one of the options."))
            return answer_check(
                given.text, step.get("validate"), language=self.ports.language, catalog=self.ports.catalog_find
            )

    def _ask(self, step: Mapping[str, Any], *, prefix: str = "") -> None:
        text = render(str(step.get("text", "")), self.state.variables, self.ports.language)
        if prefix:
            text = f"{prefix}\n\n{text}"
        kind = step.get("input") or "text"
        choices = step.get("choices") or ()
        if kind == "buttons":
            message = Outgoing(text=text, buttons=tuple((str(c["id"]), str(c["title"])) for c in choices))
        elif kind == "list":
            message = Outgoing(
                text=text,
                rows=tuple((str(c["id"]), str(c["title"]), str(c.get("description", ""))) for c in choices),
                list_button=str(step.get("list_button", "")),
            )
        else:
            message = Outgoing(text=text)
        self._send(step, message)

    def _run(self, target: str) -> None:
        for _hop in range(HOPS_MAX):
            step = self.steps.get(target)
            if step is None:
                self._finish(self.steps.get(self.state.step) or {}, "failed")
                return
            self.state.step = target
            self._log(step, "entered", None)
            kind = step.get("type")
            following = self._step(step, kind)
            if following is None:
                return
            target = following
        self._finish(self.steps.get(self.state.step) or {}, "failed")

    def _step(self, step: Mapping[str, Any], kind: Any) -> str | None:
        """Run one step; the next step's id, or None when the session waits or ended."""
        variables = self.state.variables
        language = self.ports.language
        if kind == "message":
            products = step.get("products")
            message = Outgoing(
                text=render(str(step.get("text", "")), variables, language),
                cta=(str(step["cta"]["text"]), str(step["cta"]["url"])) if step.get("cta") else None,
                media=(str(step["media"]["type"]), str(step["media"]["link"])) if step.get("media") else None,
                skus=tuple(products["skus"]) if products else (),
                header=str(products.get("header", "")) if products else "",
            )
            self._send(step, message)
            return str(step.get("next", ""))
        if kind == "ask":
            self.state.retries = 0
            self._ask(step)
            self.state.status = "active"
            return None
        if kind == "branch":
            for rule in step.get("rules") or ():
                if self._holds(rule.get("if") or {}):
                    self._log(step, "branch", rule.get("next"))
                    return str(rule.get("next", ""))
            self._log(step, "branch", step.get("default"))
            return str(step.get("default", ""))
        if kind == "set":
            if step.get("attribute"):
                value = render(str(step.get("value", "")), variables, language)
                self.ports.set_attribute(str(step["attribute"]), value)
            if step.get("label"):
                self.ports.add_label(str(step["label"]))
            return str(step.get("next", ""))
        if kind == "integration":
            data, error = self.ports.integration(step, variables)
            variables[str(step["save_as"])] = data if data is not None else {"error": error}
            variables["last"] = "ok" if data is not None else "error"
            self._log(step, "integration", "ok" if data is not None else error)
            if data is None and step.get("on_error"):
                return str(step["on_error"])
            return str(step.get("next", ""))
        if kind == "transit":
            return self._transit(step)
        if kind == "payment":
            return self._payment(step)
        if kind == "handover":
            self._handover(step, step)
            return None
        if kind == "end":
            self._say(step, render(str(step.get("text", "")), variables, language))
            if step.get("csat"):
                self.ports.csat()
            self._finish(step, "completed")
            return None
        self._finish(step, "failed")
        return None

    def _transit(self, step: Mapping[str, Any]) -> str:
        variables = self.state.variables
        card = str(_value(step.get("card"), variables) or "")
        save_as = str(step["save_as"])
        if step.get("action") == "lookup":
            data, error = self.ports.transit_lookup(card)
        else:
            payment = variables.get("payment") or {}
            amount = payment.get("amount") if isinstance(payment, Mapping) else None
            if not isinstance(amount, int) or amount <= 0:
                amount = _value(step.get("amount"), variables)
            if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
                data, error = None, "no_amount"
            else:
                reference = str((payment or {}).get("reference", "")) if isinstance(payment, Mapping) else ""
                data, error = self.ports.transit_credit(card, amount, reference)
            if data is None and isinstance(payment, Mapping) and payment.get("amount"):
                # Paid but not credited: the money goes back, and the customer is told.
                refunded = self.ports.refund(error)
                variables["refunded"] = refunded
                self._log(step, "refunded" if refunded else "refund_failed", payment.get("amount"))
        variables[save_as] = data if data is not None else {"error": error}
        variables["last"] = "ok" if data is not None else "error"
        self._log(step, f"transit_{step.get('action')}", "ok" if data is not None else error)
        if data is None:
            return str(step.get("on_error") or "")
        return str(step.get("next", ""))

    def _payment(self, step: Mapping[str, Any]) -> str | None:
        variables = self.state.variables
        amount = _value(step.get("amount"), variables)
        method = _value(step.get("method"), variables)
        minutes = int(step.get("timeout_minutes", 30))
        error = ""
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            error = "no_amount"
        elif method not in ("pix", "card"):
            error = "no_method"
        else:
            description = render(str(step.get("description", "")), variables, self.ports.language)
            error = self.ports.payment_request(
                step, amount=amount, description=description, method=str(method), minutes=minutes
            )
        if error:
            variables["payment_error"] = error
            self._log(step, "payment_error", error)
            if step.get("on_error"):
                return str(step["on_error"])
            self._handover(step, {})
            return None
        self._log(step, "payment_requested", amount)
        self.state.variables["_waiting_on"] = str(step["id"])
        self.state.status = "waiting"
        self.state.wait_minutes = minutes
        self.state.remind_minutes = int(step.get("reminder_minutes") or 0)
        return None

    def _handover(self, step: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        text = render(str(settings.get("text", "")), self.state.variables, self.ports.language)
        if not text and not settings:
            with translation.override(self.ports.language):
                text = _("One moment, please: a person from our team will answer you here.")
        self._say(step, text)
        answers = self.state.variables.get("_answers") or []
        team = settings.get("team")
        self.ports.handover(team if isinstance(team, int) else None, [(str(a[0]), str(a[1])) for a in answers])
        self._finish(step, "handed_over")

    def _holds(self, condition: Mapping[str, Any]) -> bool:
        subject = condition.get("subject")
        op = condition.get("op")
        name = str(condition.get("name", ""))
        expected = condition.get("value")
        if subject == "hours":
            is_open = self.ports.business_open()
            return is_open if op == "open" else not is_open if op == "closed" else False
        if subject == "label":
            has = self.ports.has_label(name or str(expected or ""))
            return has if op in ("exists", "eq") else not has if op == "ne" else False
        if subject == "attribute":
            actual = self.ports.attribute(name)
        elif subject == "last":
            actual = self.state.variables.get("last")
            if op in ("ok", "error"):
                return actual == op
        else:
            actual = lookup(self.state.variables, name)
        return _compare(actual, op, expected)


def _compare(actual: Any, op: Any, expected: Any) -> bool:
    if op == "exists":
        return actual not in (None, "")
    if op in ("ok", "error"):
        is_error = isinstance(actual, Mapping) and "error" in actual
        return is_error if op == "error" else actual is not None and not is_error
    if actual is None:
        return op == "ne"
    if op in ("gt", "gte", "lt", "lte"):
        try:
            a, b = float(actual), float(expected)
        except (TypeError, ValueError):
            return False
        return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]
    if op == "eq":
        return normalised(str(actual)) == normalised(str(expected))
    if op == "ne":
        return normalised(str(actual)) != normalised(str(expected))
    if op == "in":
        options = expected if isinstance(expected, list) else str(expected).split(",")
        return normalised(str(actual)) in {normalised(str(o)) for o in options}
    if op == "contains":
        return normalised(str(expected)) in normalised(str(actual))
    if op == "matches":
        try:
            return re.search(str(expected), str(actual)[:500]) is not None
        except re.error:
            return False
    return False
