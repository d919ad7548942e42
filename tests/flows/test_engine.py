"""The step machine alone, with ports that record what it asks of the world: each step type, the answers'
checks, retries, branches, the payment wait and the credit with its refund; and, over random sequences of
inputs, that it never crashes, never sends outside the window, sends at most one reply per input and always
ends in a known state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows import engine
from flows.definitions import definition_problems
from flows.engine import Input, Machine, Outgoing, Paid, State
from flows.library import transit_recharge

KNOWN_STATES = {"active", "waiting", "completed", "handed_over", "abandoned", "failed"}


@dataclass
class FakePorts:
    language: str = "en"
    window_open: bool = True
    sent: list[tuple[str, Outgoing]] = field(default_factory=list)
    refused: list[Outgoing] = field(default_factory=list)
    cards: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"123456789012": {"holder_name": "Maria Souza", "balance": 1250}}
    )
    credit_fails: bool = False
    credits: list[tuple[str, int, str]] = field(default_factory=list)
    refunds: list[str] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    payment_error: str = ""
    handovers: list[tuple[int | None, list[tuple[str, str]]]] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    labels: set[str] = field(default_factory=set)
    open_hours: bool = True
    integration_answer: dict[str, Any] | None = None
    csats: int = 0

    def send(self, step: Mapping[str, Any], message: Outgoing) -> bool:
        if not self.window_open:
            self.refused.append(message)
            return False
        self.sent.append((str(step.get("id", "")), message))
        return True

    def set_attribute(self, name: str, value: str) -> None:
        self.attributes[name] = value

    def add_label(self, name: str) -> None:
        self.labels.add(name)

    def has_label(self, name: str) -> bool:
        return name in self.labels

    def attribute(self, name: str) -> Any:
        return self.attributes.get(name)

    def business_open(self) -> bool:
        return self.open_hours

    def catalog_find(self, text: str) -> str | None:
        return {"café": "CAFE-1", "cafe-1": "CAFE-1"}.get(text.strip().lower())

    def transit_lookup(self, card: str) -> tuple[dict[str, Any] | None, str]:
        found = self.cards.get(card)
        return ({"number": card, **found, "currency": "BRL"}, "") if found else (None, "card_not_found")

    def transit_credit(self, card: str, amount: int, reference: str) -> tuple[dict[str, Any] | None, str]:
        if self.credit_fails:
            return None, "refused"
        self.credits.append((card, amount, reference))
        self.cards[card]["balance"] += amount
        return {"id": f"cr_{len(self.credits)}", "amount": amount, "balance": self.cards[card]["balance"]}, ""

    def integration(self, step: Mapping[str, Any], variables: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
        return (self.integration_answer, "") if self.integration_answer is not None else (None, "timeout")

    def payment_request(
        self, step: Mapping[str, Any], *, amount: int, description: str, method: str, minutes: int
    ) -> str:
        if self.payment_error:
            return self.payment_error
        self.payments.append({"amount": amount, "description": description, "method": method, "minutes": minutes})
        return ""

    def refund(self, reason: str) -> bool:
        self.refunds.append(reason)
        return True

    def handover(self, team_id: int | None, collected: list[tuple[str, str]]) -> None:
        self.handovers.append((team_id, collected))

    def csat(self) -> None:
        self.csats += 1


def texts(ports: FakePorts) -> list[str]:
    return [message.text for _step, message in ports.sent]


def run(definition: dict[str, Any], state: State, ports: FakePorts) -> Machine:
    return Machine(definition, state, ports)


def test_the_transit_recharge_template_is_valid():
    assert definition_problems(transit_recharge()) == []


def test_a_recharge_by_pix_asks_the_card_amount_and_way_then_credits_once_after_the_payment():
    ports = FakePorts()
    state = State()
    definition = transit_recharge()
    run(definition, state, ports).start()
    assert (state.step, state.status) == ("ask_card", "active")
    assert texts(ports) == ["Hi! Let's recharge your transit card. What is the card's number? (12 digits, on the back)"]

    run(definition, state, ports).answer(Input(text="1234 5678 9012"))
    assert state.variables["card_number"] == "123456789012"
    assert state.variables["card"] == {
        "number": "123456789012",
        "holder_name": "Maria Souza",
        "balance": 1250,
        "currency": "BRL",
    }
    last = ports.sent[-1][1]
    assert last.text == (
        "Card of Maria Souza, balance R$12.50. How much do you want to add? "
        "Choose or type an amount from R$ 5 to R$ 200."
    )
    assert last.buttons == (("r10", "R$ 10"), ("r20", "R$ 20"), ("r50", "R$ 50"))

    run(definition, state, ports).answer(Input(text="R$ 20", choice_id="r20"))
    assert state.variables["amount"] == 2000
    assert ports.sent[-1][1].text == "Recharge of R$20.00. How do you want to pay?"
    assert ports.sent[-1][1].buttons == (("pix", "Pix"), ("card", "Card"))

    run(definition, state, ports).answer(Input(text="Pix", choice_id="pix"))
    assert ports.payments == [
        {"amount": 2000, "description": "Transit card recharge 123456789012", "method": "pix", "minutes": 30}
    ]
    assert (state.step, state.status, state.wait_minutes, state.remind_minutes) == ("pay", "waiting", 30, 10)
    sent_before = len(ports.sent)

    run(definition, state, ports).paid(Paid(amount=2000, reference="7-1"))
    assert ports.credits == [("123456789012", 2000, "7-1")]
    assert (state.step, state.status) == ("receipt", "completed")
    assert texts(ports)[sent_before:] == [
        "Done! R$20.00 added to the card 123456789012. New balance: R$32.50. Thank you!"
    ]
    # A second confirmation changes nothing.
    run(definition, state, ports).paid(Paid(amount=2000, reference="7-1"))
    assert len(ports.credits) == 1
    assert len(ports.sent) == sent_before + 1


def test_a_typed_amount_is_checked_against_the_bounds_and_the_question_comes_again_with_the_reason():
    ports = FakePorts()
    state = State(step="ask_amount", variables={"card": {"holder_name": "Maria", "balance": 0}})
    definition = transit_recharge()
    run(definition, state, ports).answer(Input(text="2"))
    assert state.step == "ask_amount"
    assert state.retries == 1
    [(_step, message)] = ports.sent
    assert message.text.startswith("The minimum is R$5.00. Choose one of the buttons or type an amount")
    assert message.buttons == (("r10", "R$ 10"), ("r20", "R$ 20"), ("r50", "R$ 50"))
    assert "amount" not in state.variables

    run(definition, state, ports).answer(Input(text="15,50"))
    assert state.variables["amount"] == 1550
    assert state.step == "ask_method"


def test_a_title_typed_instead_of_pressed_counts_as_the_choice():
    ports = FakePorts()
    state = State(step="ask_method", variables={"amount": 1000})
    run(transit_recharge(), state, ports).answer(Input(text="  PIX "))
    assert state.variables["method"] == "pix"
    assert state.status == "waiting"


def test_after_the_retries_the_bot_hands_over_with_what_it_collected():
    ports = FakePorts()
    definition = transit_recharge()
    state = State()
    run(definition, state, ports).start()
    for attempt in ("abc", "12"):
        run(definition, state, ports).answer(Input(text=attempt))
    assert (state.status, state.retries, len(ports.sent)) == ("active", 2, 3)
    run(definition, state, ports).answer(Input(text="still wrong"))
    assert state.status == "handed_over"
    assert ports.handovers == [(None, [])]
    assert texts(ports)[-1] == "One moment, please: a person from our team will answer you here."


def test_an_unknown_card_says_so_and_asks_again_in_one_message():
    ports = FakePorts()
    state = State(step="ask_card")
    run(transit_recharge(), state, ports).answer(Input(text="999999999999"))
    assert state.step == "ask_card"
    assert texts(ports) == [
        "We could not find an active card with this number. Please check it and try again.\n\n"
        "Hi! Let's recharge your transit card. What is the card's number? (12 digits, on the back)"
    ]


def test_a_credit_refused_after_the_payment_refunds_it_and_hands_over():
    ports = FakePorts(credit_fails=True)
    state = State(
        step="pay",
        status="waiting",
        variables={"card_number": "123456789012", "amount": 2000, "_answers": [["Card number", "123456789012"]]},
    )
    run(transit_recharge(), state, ports).paid(Paid(amount=2000, reference="9-1"))
    assert ports.refunds == ["refused"]
    assert ports.credits == []
    assert state.variables["refunded"] is True
    assert (state.step, state.status) == ("credit_failed", "handed_over")
    assert ports.handovers == [(None, [("Card number", "123456789012")])]
    assert texts(ports)[-1].startswith("We received your payment but the operator could not credit the card")


def test_a_payment_that_cannot_be_made_takes_the_error_branch_and_nothing_waits():
    ports = FakePorts(payment_error="method_unavailable")
    state = State(step="ask_method", variables={"amount": 1000, "card_number": "123456789012"})
    run(transit_recharge(), state, ports).answer(Input(choice_id="card", text="Card"))
    assert state.variables["payment_error"] == "method_unavailable"
    assert (state.step, state.status) == ("pay_failed", "handed_over")


def test_an_expired_payment_ends_the_session_as_abandoned_with_a_message():
    ports = FakePorts()
    state = State(step="pay", status="waiting", variables={"amount": 1000})
    run(transit_recharge(), state, ports).payment_expired()
    assert state.status == "abandoned"
    assert texts(ports) == ["The payment time is over. Write again whenever you want to start over."]


def test_the_reminder_is_sent_while_waiting_only():
    ports = FakePorts()
    state = State(step="pay", status="waiting", variables={"amount": 1000})
    run(transit_recharge(), state, ports).remind()
    assert texts(ports) == ["Your recharge of R$10.00 is waiting for the payment."]
    state.status = "completed"
    run(transit_recharge(), state, ports).remind()
    assert len(ports.sent) == 1


def test_a_closed_window_sends_nothing_and_the_machine_still_moves():
    ports = FakePorts(window_open=False)
    state = State()
    run(transit_recharge(), state, ports).start()
    assert ports.sent == []
    assert len(ports.refused) == 1
    assert state.step == "ask_card"


BRANCHY = {
    "start": "route",
    "steps": [
        {
            "id": "route",
            "name": "Route",
            "type": "branch",
            "rules": [
                {"if": {"subject": "hours", "op": "closed"}, "next": "closed"},
                {"if": {"subject": "label", "op": "exists", "name": "vip"}, "next": "vip"},
                {
                    "if": {"subject": "attribute", "name": "plan", "op": "in", "value": ["gold", "silver"]},
                    "next": "vip",
                },
                {"if": {"subject": "variable", "name": "score", "op": "gte", "value": 7}, "next": "vip"},
            ],
            "default": "ask_doc",
        },
        {"id": "closed", "name": "Closed", "type": "end", "text": "We are closed."},
        {
            "id": "vip",
            "name": "VIP",
            "type": "set",
            "label": "priority",
            "attribute": "seen",
            "value": "yes {{contact.first_name}}",
            "next": "done",
        },
        {
            "id": "ask_doc",
            "name": "CPF",
            "type": "ask",
            "text": "Your CPF?",
            "validate": {"kind": "cpf"},
            "save_as": "cpf",
            "max_retries": 0,
            "next": "call",
            "on_fail": "done",
        },
        {
            "id": "call",
            "name": "Call",
            "type": "integration",
            "url": "https://example.com/hook",
            "save_as": "crm",
            "next": "check",
            "on_error": "done",
        },
        {
            "id": "check",
            "name": "Check",
            "type": "branch",
            "rules": [{"if": {"subject": "variable", "name": "crm.tier", "op": "eq", "value": "Gold"}, "next": "vip"}],
            "default": "done",
        },
        {"id": "done", "name": "Done", "type": "end", "text": "Bye {{cpf}}", "csat": True},
    ],
}


def test_branch_rules_are_tried_in_order():
    assert definition_problems(BRANCHY) == []
    closed = FakePorts(open_hours=False)
    state = State()
    run(BRANCHY, state, closed).start()
    assert (state.step, texts(closed)) == ("closed", ["We are closed."])

    labelled = FakePorts(labels={"vip"})
    state = State(variables={"contact": {"first_name": "Ana"}})
    run(BRANCHY, state, labelled).start()
    assert state.step == "done"
    assert labelled.labels == {"vip", "priority"}
    assert labelled.attributes == {"seen": "yes Ana"}
    assert labelled.csats == 1

    by_attribute = FakePorts(attributes={"plan": "Silver"})
    state = State()
    run(BRANCHY, state, by_attribute).start()
    assert "priority" in by_attribute.labels

    by_score = FakePorts()
    state = State(variables={"score": 6})
    run(BRANCHY, state, by_score).start()
    assert state.step == "ask_doc"


def test_a_cpf_with_check_digits_and_the_integrations_answer_in_a_later_branch():
    ports = FakePorts(integration_answer={"tier": "gold"})
    state = State(step="ask_doc")
    run(BRANCHY, state, ports).answer(Input(text="111.444.777-35"))
    assert state.variables["cpf"] == "11144477735"
    assert state.variables["crm"] == {"tier": "gold"}
    assert state.step == "done"
    assert "priority" in ports.labels
    assert texts(ports)[-1] == "Bye 11144477735"


def test_a_wrong_cpf_with_no_retries_left_takes_the_fail_branch():
    ports = FakePorts()
    state = State(step="ask_doc")
    run(BRANCHY, state, ports).answer(Input(text="111.444.777-36"))
    assert "cpf" not in state.variables
    assert state.step == "done"


def test_an_integration_error_takes_its_error_branch():
    ports = FakePorts(integration_answer=None)
    state = State(step="ask_doc")
    run(BRANCHY, state, ports).answer(Input(text="11144477735"))
    assert state.variables["crm"] == {"error": "timeout"}
    assert state.step == "done"


@pytest.mark.parametrize(
    ("kind", "answer", "value"),
    [
        ("number", "42", 42),
        ("email", "Ana@Example.COM", "Ana@example.com"),
        ("cnpj", "11.222.333/0001-81", "11222333000181"),
        ("cpf_cnpj", "11144477735", "11144477735"),
        ("date", "31/12/2026", "2026-12-31"),
        ("phone", "(11) 91234-5678", "+5511912345678"),
        ("regex", "AB-123", "AB-123"),
        ("catalog", "Café", "CAFE-1"),
        ("transit_card", "1234.5678.9012", "123456789012"),
    ],
)
def test_each_kind_of_answer_keeps_its_normal_form(kind, answer, value):
    definition = {
        "start": "q",
        "steps": [
            {
                "id": "q",
                "name": "Q",
                "type": "ask",
                "text": "?",
                "validate": {"kind": kind, "pattern": r"[A-Z]{2}-\d{3}"},
                "save_as": "v",
                "next": "e",
            },
            {"id": "e", "name": "E", "type": "end"},
        ],
    }
    assert definition_problems(definition) == []
    state = State(step="q")
    run(definition, state, FakePorts()).answer(Input(text=answer))
    assert state.variables.get("v") == value


@pytest.mark.parametrize(
    ("kind", "answer"),
    [
        ("number", "4x"),
        ("email", "ana@"),
        ("cnpj", "11.222.333/0001-80"),
        ("date", "31/02/2026"),
        ("phone", "12"),
        ("regex", "ab-123"),
        ("catalog", "Chá"),
        ("transit_card", "12345"),
    ],
)
def test_each_kind_of_answer_refuses_what_it_cannot_take(kind, answer):
    definition = {
        "start": "q",
        "steps": [
            {
                "id": "q",
                "name": "Q",
                "type": "ask",
                "text": "?",
                "validate": {"kind": kind, "pattern": r"[A-Z]{2}-\d{3}"},
                "save_as": "v",
                "next": "e",
            },
            {"id": "e", "name": "E", "type": "end"},
        ],
    }
    state = State(step="q")
    ports = FakePorts()
    run(definition, state, ports).answer(Input(text=answer))
    assert "v" not in state.variables
    assert state.retries == 1
    assert len(ports.sent) == 1


def _problems(definition: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.step, p.field) for p in definition_problems(definition)]


def test_publishing_checks_whatsapps_limits_and_the_shape_of_the_flow():
    too_many = {
        "start": "q",
        "steps": [
            {
                "id": "q",
                "name": "Q",
                "type": "ask",
                "input": "buttons",
                "text": "x" * 1025,
                "choices": [{"id": f"c{i}", "title": "A title longer than twenty"} for i in range(4)],
                "next": "e",
            },
            {"id": "e", "name": "E", "type": "end"},
            {"id": "orphan", "name": "O", "type": "end"},
        ],
    }
    problems = _problems(too_many)
    assert ("q", "text") in problems
    assert ("q", "choices") in problems
    assert ("q", "choices[0].title") in problems
    assert ("orphan", "") in problems

    rows = {
        "start": "q",
        "steps": [
            {
                "id": "q",
                "name": "Q",
                "type": "ask",
                "input": "list",
                "text": "?",
                "choices": [{"id": f"r{i}", "title": f"Row {i}"} for i in range(11)],
                "next": "missing",
            },
        ],
    }
    problems = _problems(rows)
    assert ("q", "choices") in problems
    assert ("q", "list_button") in problems
    assert ("q", "next") in problems

    loop = {
        "start": "a",
        "steps": [
            {"id": "a", "name": "A", "type": "message", "text": "hi", "next": "b"},
            {"id": "b", "name": "B", "type": "set", "label": "x", "next": "a"},
        ],
    }
    assert ("a", "next") in _problems(loop)
    assert definition_problems({"start": "x", "steps": []})[0].field == "steps"
    assert ("", "start") in _problems({"start": "nope", "steps": [{"id": "a", "name": "A", "type": "end"}]})


# --- random sequences -------------------------------------------------------------------------------------

EVENTS = st.one_of(
    st.tuples(
        st.just("text"),
        st.sampled_from(
            ["123456789012", "999999999999", "abc", "20", "2", "300", "Pix", "card", "", "cartão", "R$ 50"]
        ),
    ),
    st.tuples(st.just("choice"), st.sampled_from(["r10", "r20", "r50", "pix", "card", "nope"])),
    st.tuples(st.just("paid"), st.integers(min_value=1, max_value=30000).map(str)),
    st.tuples(st.just("expired"), st.just("")),
    st.tuples(st.just("remind"), st.just("")),
    st.tuples(st.just("handover"), st.just("atendente")),
    st.tuples(st.just("window"), st.sampled_from(["open", "closed"])),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENTS, max_size=25), st.booleans(), st.booleans())
def test_random_inputs_never_crash_send_outside_the_window_or_reply_twice(events, credit_fails, payment_fails):
    ports = FakePorts(credit_fails=credit_fails, payment_error="refused" if payment_fails else "")
    definition = transit_recharge()
    state = State()
    run(definition, state, ports).start()
    paid_count = 0
    for kind, value in events:
        before = len(ports.sent) + len(ports.refused)
        if kind == "window":
            ports.window_open = value == "open"
            continue
        machine = run(definition, state, ports)
        if kind == "text":
            machine.answer(Input(text=value))
        elif kind == "choice":
            machine.answer(Input(choice_id=value, text=value))
        elif kind == "paid":
            was_waiting = state.status == "waiting"
            machine.paid(Paid(amount=int(value), reference="r"))
            paid_count += was_waiting
        elif kind == "expired":
            machine.payment_expired()
        elif kind == "remind":
            machine.remind()
        else:
            if state.running:
                machine.hand_over(value)
        # One input, at most one reply.
        assert len(ports.sent) + len(ports.refused) - before <= 1
        assert state.status in KNOWN_STATES
        assert not state.log or all(entry[2] for entry in state.log)
    # Never outside the window: every refused message was refused by the closed window, none went out then.
    assert all(isinstance(m, Outgoing) for m in ports.refused)
    # A card is credited at most once per payment the session waited for, and never without one.
    assert len(ports.credits) <= paid_count
    assert len(ports.refunds) <= paid_count
    assert engine.HOPS_MAX >= 1
