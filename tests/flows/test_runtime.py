"""Flows on the core's events, through the real ingest, the payments app and the fake transit operator: a
recharge sold by the bot end to end, exactly once per customer message, hand-over, an agent taking over,
timeouts, payments that expire or come late, versions, and another workspace's flows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import events
from conversations.models import Conversation, Message, Team
from conversations.services.outbound import OutboundSpec, message_send
from flows import runtime
from flows.models import Flow, FlowInput, FlowSession, FlowStepLog
from flows.services import draft_save, flow_publish, flow_start, flow_test_arm
from payments.models import Order, Refund
from payments.requests import payment_mark_received
from tests.factories import add_member, make_tenant, owner_of
from tests.flows.conftest import CUSTOMER
from tests.whatsapp.conftest import make_channel

pytestmark = pytest.mark.django_db

MARIA = "123456789012"


def bot_texts(conversation: Conversation) -> list[str]:
    return [
        m.text
        for m in Message.objects.filter(conversation=conversation, sender_type="bot", private=False)
        .exclude(type=Message.Type.SYSTEM)
        .order_by("id")
    ]


def history(conversation: Conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, type=Message.Type.SYSTEM)
        .order_by("id")
        .values_list("text", flat=True)
    )


def session_of(conversation: Conversation) -> FlowSession:
    return FlowSession.objects.filter(conversation=conversation).latest("pk")


def _to_payment(write) -> Conversation:
    write("quero recarregar")
    write("1234 5678 9012")
    write("R$ 20", choice="r20")
    return write("Pix", choice="pix").conversation


def test_a_recharge_is_sold_by_the_bot_and_the_card_credited_once_after_the_payment(
    tenant, recharge, write, transit, sent, django_capture_on_commit_callbacks
):
    first = write("Oi, quero recarregar meu cartão")
    conversation = first.conversation
    session = session_of(conversation)
    assert (session.flow_id, session.trigger, session.step, session.status) == (
        recharge.pk,
        "keyword",
        "ask_card",
        "active",
    )
    assert Conversation.objects.get(pk=conversation.pk).status == "pending"

    write("1234 5678 9012")
    write("R$ 20", choice="r20")
    write("Pix", choice="pix")

    session.refresh_from_db()
    assert (session.step, session.status) == ("pay", "waiting")
    order = Order.objects.get(pk=session.order_id)
    assert (order.total, order.status, order.source, order.description) == (
        2000,
        "awaiting_payment",
        "automation",
        "Transit card recharge 123456789012",
    )
    assert bot_texts(conversation) == [
        "Hi! Let's recharge your transit card. What is the card's number? (12 digits, on the back)",
        "Card of Maria S., balance R$12.50. How much do you want to add? Choose or type an amount from R$ 5 to R$ 200.",
        "Recharge of R$20.00. How do you want to pay?",
        Message.objects.get(conversation=conversation, type="payment_request").text,
    ]
    labels = list(
        Message.objects.filter(conversation=conversation, sender_type="bot", private=False)
        .exclude(type=Message.Type.SYSTEM)
        .order_by("id")
        .values_list("sender_label", flat=True)
    )
    assert labels[:3] == [
        "Transit card recharge · Card number",
        "Transit card recharge · Amount",
        "Transit card recharge · Way of payment",
    ]

    with django_capture_on_commit_callbacks(execute=True):
        payment_mark_received(actor=owner_of(tenant), order=order)

    session.refresh_from_db()
    assert (session.step, session.status, session.ended_step) == ("receipt", "completed", "receipt")
    assert transit.balance(MARIA) == 3250
    assert len(transit.credits(MARIA)) == 1
    assert (
        bot_texts(conversation)[-1] == "Done! R$20.00 added to the card 123456789012. New balance: R$32.50. Thank you!"
    )
    assert history(conversation)[0] == "Bot flow “Transit card recharge” (version 1) started."
    assert history(conversation)[-1] == "Bot flow “Transit card recharge” completed."
    assert list(FlowInput.objects.filter(session=session).order_by("pk").values_list("outcome", flat=True)) == [
        "started",
        "taken",
        "taken",
        "taken",
    ]
    kinds = list(FlowStepLog.objects.filter(session=session).values_list("kind", flat=True))
    assert kinds.count("paid") == 1 and kinds.count("transit_credit") == 1

    # The provider repeats itself: the same confirmation again changes nothing.
    event = events.PaymentConfirmed(
        tenant_id=tenant.pk, order_id=order.pk, order_number=order.number, conversation_id=conversation.pk,
        contact_id=conversation.contact_id, amount=2000, currency="BRL", reference="x",
    )  # fmt: skip
    runtime.payment_confirmed(event)
    assert len(transit.credits(MARIA)) == 1


def test_a_repeated_or_late_message_takes_no_step(recharge, write, sent):
    start = write("recarregar")
    conversation = start.conversation
    earlier = start.occurred_at
    answer = write("123456789012", wamid="wamid.same")
    before = bot_texts(conversation)
    # The channel repeats the webhook (same wamid): the core stores nothing new.
    write("123456789012", wamid="wamid.same")
    # The event is delivered again (a worker died after the step): the claim stops it.
    runtime.message_received(
        events.MessageReceived(
            tenant_id=answer.tenant_id, message_id=answer.pk, conversation_id=conversation.pk,
            inbox_id=answer.inbox_id, contact_id=conversation.contact_id, message_type="text",
        )
    )  # fmt: skip
    assert runtime.input_take(Message.objects.get(pk=answer.pk)) == "duplicate"
    # An older message arriving after a newer one is late.
    late = write("999999999999", at=earlier - timedelta(seconds=5))
    assert FlowInput.objects.get(message=late).outcome == "late"
    assert bot_texts(conversation) == before
    assert session_of(conversation).step == "ask_amount"


def test_asking_for_a_person_hands_over_with_the_answers_in_a_note(tenant, recharge, write, sent):
    team = Team.objects.create(tenant=tenant, name="Atendimento")
    recharge.handover_team = team
    recharge.save()
    write("recarregar")
    conversation = write("123456789012").conversation
    write("quero falar com um ATENDENTE")

    session = session_of(conversation)
    assert (session.status, session.ended_step) == ("handed_over", "ask_amount")
    conversation.refresh_from_db()
    assert (conversation.status, conversation.team_id) == ("open", team.pk)
    note = Message.objects.get(conversation=conversation, private=True, type="text")
    assert note.text == (
        "The bot “Transit card recharge” handed this conversation over.\n"
        "What the customer answered:\n"
        "• Card number: 123456789012"
    )
    assert bot_texts(conversation)[-1] == "One moment, please: a person from our team will answer you here."
    # The bot is done: another message is the agents'.
    write("oi?")
    assert FlowSession.objects.filter(conversation=conversation).count() == 1


def test_an_agent_who_writes_stops_the_bot(tenant, recharge, write, sent, django_capture_on_commit_callbacks):
    conversation = write("recarregar").conversation
    agent = add_member(tenant, "admin")
    with django_capture_on_commit_callbacks(execute=True):
        message_send(actor=agent, conversation=conversation, spec=OutboundSpec(type="text", text="Oi, sou a Ana"))
    session = session_of(conversation)
    assert (session.status, session.ended_step) == ("stopped", "ask_card")
    assert history(conversation)[-1] == "Bot flow “Transit card recharge” stopped: an agent wrote in the conversation."
    texts_before = bot_texts(conversation)
    write("123456789012")
    assert bot_texts(conversation) == texts_before


def test_silence_ends_the_session_with_the_flows_message(recharge, write, sent, monkeypatch):
    conversation = write("recarregar").conversation
    assert runtime.sessions_sweep() == {"timed_out": 0, "expired": 0, "reminded": 0}
    later = timezone.now() + timedelta(minutes=31)
    monkeypatch.setattr("django.utils.timezone.now", lambda: later)
    assert runtime.sessions_sweep(now=later) == {"timed_out": 1, "expired": 0, "reminded": 0}
    session = session_of(conversation)
    assert (session.status, session.ended_step) == ("abandoned", "ask_card")
    assert bot_texts(conversation)[-1] == "Ending our chat for now. Write again any time."


def test_a_payment_waited_for_is_reminded_then_given_up_and_a_late_payment_still_credits(
    tenant, recharge, write, transit, sent, monkeypatch, django_capture_on_commit_callbacks
):
    conversation = _to_payment(write)
    session = session_of(conversation)
    start = timezone.now()
    assert session.remind_at == session.last_activity_at + timedelta(minutes=10)

    at = start + timedelta(minutes=11)
    monkeypatch.setattr("django.utils.timezone.now", lambda: at)
    assert runtime.sessions_sweep(now=at) == {"timed_out": 0, "expired": 0, "reminded": 1}
    assert bot_texts(conversation)[-1] == "Your recharge of R$20.00 is waiting for the payment."
    assert runtime.sessions_sweep(now=at) == {"timed_out": 0, "expired": 0, "reminded": 0}

    at = start + timedelta(minutes=31)
    monkeypatch.setattr("django.utils.timezone.now", lambda: at)
    assert runtime.sessions_sweep(now=at) == {"timed_out": 0, "expired": 1, "reminded": 0}
    session.refresh_from_db()
    assert session.status == "abandoned"
    assert transit.balance(MARIA) == 1250

    # The bank's confirmation arrives after the bot gave up: the customer paid, so the card is credited.
    with django_capture_on_commit_callbacks(execute=True):
        payment_mark_received(actor=owner_of(tenant), order=Order.objects.get(pk=session.order_id))
    session.refresh_from_db()
    assert (session.status, session.step) == ("completed", "receipt")
    assert transit.balance(MARIA) == 3250


def test_a_credit_the_operator_refuses_after_the_payment_is_refunded(
    tenant, recharge, write, transit, sent, django_capture_on_commit_callbacks
):
    conversation = _to_payment(write)
    transit.admin.fail("reject", number=MARIA)
    order = Order.objects.get(pk=session_of(conversation).order_id)
    with django_capture_on_commit_callbacks(execute=True):
        payment_mark_received(actor=owner_of(tenant), order=order)
    session = session_of(conversation)
    assert (session.status, session.ended_step) == ("handed_over", "credit_failed")
    assert transit.balance(MARIA) == 1250
    refund = Refund.objects.get(payment__request__order=order)
    assert (refund.amount, refund.status) == (2000, "done")
    assert Order.objects.get(pk=order.pk).status == "refunded"
    assert any(
        text.startswith("We received your payment but the operator could not credit the card")
        for text in bot_texts(conversation)
    )


def test_publishing_v2_leaves_running_sessions_on_v1(tenant, recharge, write, sent):
    running = write("recarregar").conversation
    v1 = session_of(running).version
    definition = dict(v1.definition)
    steps = [dict(s) for s in definition["steps"]]
    steps[0]["text"] = "Versão 2: qual o número do cartão?"
    draft_save(membership=owner_of(tenant), flow=recharge, definition={**definition, "steps": steps})
    v2 = flow_publish(membership=owner_of(tenant), flow=recharge)
    assert v2.number == 2

    write("123456789012")
    assert session_of(running).version_id == v1.pk
    assert session_of(running).step == "ask_amount"

    other = write("recarregar", source_id="5511977770002", name="João").conversation
    assert session_of(other).version_id == v2.pk
    assert bot_texts(other) == ["Versão 2: qual o número do cartão?"]


def test_without_a_trigger_or_with_a_person_assigned_no_flow_starts(tenant, recharge, write, sent):
    conversation = write("bom dia").conversation
    assert not FlowSession.objects.filter(conversation=conversation).exists()
    conversation.assignee = owner_of(tenant).user
    conversation.save()
    write("recarregar")
    assert not FlowSession.objects.filter(conversation=conversation).exists()
    assert bot_texts(conversation) == []


def test_another_workspaces_flow_never_starts_here(tenant, recharge, write, sent):
    other = make_tenant("Globex", slug="globex")
    make_channel(other, phone_number_id="222", waba_id="333")
    Flow.objects.filter(pk=recharge.pk).update(tenant=other)
    conversation = write("recarregar").conversation
    assert not FlowSession.objects.filter(conversation=conversation).exists()


def test_the_api_starts_a_flow_for_a_contact_in_their_open_window(tenant, recharge, write, sent):
    conversation = write("bom dia").conversation
    session = flow_start(
        actor=owner_of(tenant), flow=recharge, contact=conversation.contact, variables={"origin": "site"}
    )
    assert (session.trigger, session.step, session.variables["origin"]) == ("api", "ask_card", "site")
    assert bot_texts(conversation)[0].startswith("Hi! Let's recharge your transit card.")


def test_a_draft_armed_for_a_test_starts_on_that_numbers_next_message(tenant, recharge, write, sent):
    flow_test_arm(membership=owner_of(tenant), flow=recharge, phone="+" + CUSTOMER)
    conversation = write("olá").conversation
    session = session_of(conversation)
    assert (session.trigger, session.version.status) == ("test", "draft")
    other = write("olá de novo", source_id="5511977770003").conversation
    assert not FlowSession.objects.filter(conversation=other).exists()


def test_each_message_the_bot_took_says_what_it_was_to_the_bot(recharge, write, sent):
    from flows.cards import answer_cards

    start = write("recarregar")
    answer = write("123456789012")
    person = write("atendente")
    other = write("obrigado")
    cards = answer_cards([start, answer, person, other])
    assert set(cards) == {start.pk, answer.pk, person.pk}
    assert "↳ Started the bot flow “Transit card recharge”" in cards[start.pk]
    assert "↳ Answer to “Card number” (bot flow “Transit card recharge”)" in cards[answer.pk]
    assert "↳ Asked for a person (bot flow “Transit card recharge”, at “Amount”)" in cards[person.pk]


INTEGRATED = {
    "start": "ask_doc",
    "steps": [
        {"id": "ask_doc", "name": "CPF", "type": "ask", "text": "Seu CPF?", "validate": {"kind": "cpf"},
         "save_as": "cpf", "next": "crm"},
        {"id": "crm", "name": "CRM", "type": "integration", "url": "", "save_as": "crm", "next": "found",
         "on_error": "down"},
        {"id": "found", "name": "Found", "type": "end", "text": "Olá, cliente {{crm.tier}}!"},
        {"id": "down", "name": "Down", "type": "handover", "text": "Vou chamar uma pessoa."},
    ],
}  # fmt: skip


@pytest.fixture
def crm(tenant, channel, settings):
    from flows.services import FlowSpec, flow_create, flow_settings_save, flow_update
    from tests.flows.business_endpoint import BusinessEndpoint, Reply

    settings.FLOWS_INTEGRATION_ALLOW_LOOPBACK = True
    settings.FLOWS_INTEGRATION_ALLOW_PLAIN_HTTP = True
    endpoint = BusinessEndpoint("s3cret-crm", default=Reply(200, {"tier": "ouro"})).start()
    owner = owner_of(tenant)
    definition = {**INTEGRATED, "steps": [dict(s) for s in INTEGRATED["steps"]]}
    definition["steps"][1]["url"] = endpoint.url("/hook")
    flow = flow_create(
        membership=owner, spec=FlowSpec(name="CRM", trigger_keywords=["cadastro"]), definition=definition
    )
    flow_publish(membership=owner, flow=flow)
    flow = flow_update(
        membership=owner,
        flow=Flow.objects.get(pk=flow.pk),
        spec=FlowSpec(name="CRM", enabled=True, trigger_keywords=["cadastro"]),
    )
    flow_settings_save(membership=owner, integration_secret="s3cret-crm")
    yield endpoint
    endpoint.stop()


def test_an_integration_step_posts_what_the_bot_collected_signed_and_uses_the_answer(crm, write, sent):
    write("cadastro")
    conversation = write("111.444.777-35").conversation
    [request] = crm.requests()
    body = request.json()
    assert (body["step"], body["variables"]["cpf"], body["contact"]["phone"]) == (
        {"id": "crm", "name": "CRM"},
        "11144477735",
        "+" + CUSTOMER,
    )
    assert request.verified is True
    assert bot_texts(conversation)[-1] == "Olá, cliente ouro!"
    assert session_of(conversation).status == "completed"


def test_an_integration_target_on_this_machine_is_refused_outside_tests_and_the_error_branch_taken(
    crm, write, sent, settings
):
    settings.FLOWS_INTEGRATION_ALLOW_LOOPBACK = False
    write("cadastro")
    conversation = write("111.444.777-35").conversation
    assert crm.requests() == []
    session = session_of(conversation)
    assert (session.status, session.ended_step, session.variables["crm"]) == (
        "handed_over",
        "down",
        {"error": "refused"},
    )


def test_a_first_message_that_starts_a_flow_opens_the_conversation_pending_so_auto_assignment_waits(
    tenant, recharge, channel, write, sent
):
    from automations.models import AssignmentPolicy
    from tenants.models import Membership
    from tenants.permissions import BuiltinRole

    member = add_member(tenant, BuiltinRole.AGENT)
    Membership.objects.filter(pk=member.pk).update(availability="online")
    channel.inbox.members.add(member.user)
    AssignmentPolicy.objects.create(tenant_id=tenant.pk, inbox=channel.inbox, enabled=True, capacity=3)

    held = write("quero RECARREGAR").conversation
    held.refresh_from_db()
    assert (held.status, held.assignee_id, session_of(held).status) == ("pending", None, "active")

    # No flow for this one: the agents have it, and auto-assignment gives it to the online agent.
    plain = write("bom dia", source_id="5511977770004").conversation
    plain.refresh_from_db()
    assert (plain.status, plain.assignee_id) == ("open", member.user_id)

    # A person asked for: the bot hands over and the conversation joins the queue.
    write("atendente")
    held.refresh_from_db()
    assert (held.status, held.assignee_id) == ("open", member.user_id)


def test_a_conversation_held_for_a_flow_that_no_flow_takes_goes_to_the_agents(tenant, recharge, write, sent):
    from conversations import extensions

    extensions.bot_hold_register("test.everything", lambda tenant_id, inbox_id, firsts: set(firsts))
    try:
        conversation = write("bom dia").conversation
    finally:
        extensions.bot_hold_unregister("test.everything")
    conversation.refresh_from_db()
    assert conversation.status == "open"
    assert not FlowSession.objects.filter(conversation=conversation).exists()


def test_the_first_message_of_a_wame_link_bound_to_a_flow_starts_it_and_is_attributed(
    tenant, recharge, channel, write, sent
):
    from flows.links import entry_link_create, link_text
    from flows.models import ConversationSource

    recharge.trigger_keywords = []
    recharge.save()
    link = entry_link_create(
        actor=owner_of(tenant),
        inbox=channel.inbox,
        name="Panfleto",
        kind="flyer",
        text="Quero recarregar",
        flow=recharge,
    )
    conversation = write(link_text(link)).conversation
    session = session_of(conversation)
    assert (session.trigger, session.source_id, session.step) == ("link", link.pk, "ask_card")
    conversation.refresh_from_db()
    assert conversation.status == "pending"
    source = ConversationSource.objects.get(conversation=conversation)
    assert (source.kind, source.link_id) == ("link", link.pk)
    # Another customer's text without the token starts nothing (the keywords are off).
    other = write("Quero recarregar", source_id="5511977770005").conversation
    assert not FlowSession.objects.filter(conversation=other).exists()


def test_regular_expressions_that_could_run_for_ever_and_oversized_drafts_are_refused(tenant, recharge):
    from flows.definitions import definition_problems
    from flows.services import FlowSpec, flow_update
    from helpdesk.exceptions import ValidationFailed

    owner = owner_of(tenant)
    with pytest.raises(ValidationFailed) as refused:
        flow_update(membership=owner, flow=recharge, spec=FlowSpec(name="X", trigger_regex="(a+)+$"))
    assert refused.value.details == {"field": "trigger_regex"}
    assert Flow.objects.get(pk=recharge.pk).trigger_regex == ""

    evil = {
        "start": "q",
        "steps": [
            {"id": "q", "name": "Q", "type": "ask", "text": "?", "validate": {"kind": "regex", "pattern": "(a|aa)*b"},
             "next": "b"},
            {"id": "b", "name": "B", "type": "branch", "default": "e",
             "rules": [{"if": {"subject": "variable", "name": "x", "op": "matches", "value": "(x+)+y"}, "next": "e"}]},
            {"id": "e", "name": "E", "type": "end"},
        ],
    }  # fmt: skip
    fields = {(p.step, p.field) for p in definition_problems(evil)}
    assert fields == {("q", "validate.pattern"), ("b", "rules[0].if.value")}

    draft_before = recharge.versions.count()
    too_many = {"start": "s0", "steps": [{"id": f"s{i}", "name": "S", "type": "end"} for i in range(201)]}
    with pytest.raises(ValidationFailed) as refused:
        draft_save(membership=owner, flow=recharge, definition=too_many)
    assert refused.value.message == "At most 200 steps."
    assert recharge.versions.count() == draft_before


def test_a_payment_made_after_asking_for_a_person_still_credits_the_card(
    tenant, recharge, write, transit, sent, django_capture_on_commit_callbacks
):
    conversation = _to_payment(write)
    write("atendente")
    session = session_of(conversation)
    assert session.status == "handed_over"
    with django_capture_on_commit_callbacks(execute=True):
        payment_mark_received(actor=owner_of(tenant), order=Order.objects.get(pk=session.order_id))
    session.refresh_from_db()
    assert (session.status, session.step) == ("completed", "receipt")
    assert len(transit.credits(MARIA)) == 1
