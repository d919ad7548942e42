"""The satisfaction survey: sent once per conversation when it is resolved (or as the window closes), in the
contact's language, inside the window (else the template, else recorded as not sent); the answer stored once,
from the survey's own customer only, in the resolved conversation; the comment after it."""

from __future__ import annotations

import pytest

from automations.csat_sender import reply_window_closing, survey_send
from automations.models import CsatResponse, CsatSurvey
from conversations import events
from conversations.content import content_from_dict
from conversations.models import Contact, Conversation, Message, Team
from tests.automations.csat_helpers import (
    approved_template,
    button_reply,
    csat_configure,
    customer_sends,
    list_reply,
    status_set,
    template_button,
    text,
)
from tests.factories import make_tenant, owner_of
from tests.whatsapp.conftest import make_channel

pytestmark = pytest.mark.django_db

RESOLVED = Conversation.Status.RESOLVED


@pytest.fixture
def conversation(channel, clock, django_capture_on_commit_callbacks):
    return customer_sends(django_capture_on_commit_callbacks, channel, text("Oi, preciso de ajuda")).conversation


@pytest.fixture
def resolve(admin, django_capture_on_commit_callbacks):
    def run(conversation: Conversation) -> None:
        status_set(django_capture_on_commit_callbacks, admin, conversation, RESOLVED)

    return run


@pytest.fixture
def answer(channel, django_capture_on_commit_callbacks):
    def run(spec: dict, **kwargs) -> Message:
        return customer_sends(django_capture_on_commit_callbacks, channel, spec, **kwargs)

    return run


def _bot_messages(conversation: Conversation) -> list[Message]:
    return list(
        Message.objects.filter(conversation=conversation, sender_type="bot", private=False)
        .exclude(type=Message.Type.SYSTEM)
        .order_by("id")
    )


def _lines(conversation: Conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, type=Message.Type.SYSTEM).values_list("text", flat=True)
    )


def test_resolving_sends_one_list_survey_in_the_contacts_language(admin, channel, conversation, resolve, sends):
    csat_configure(admin, channel.inbox)

    resolve(conversation)

    survey = CsatSurvey.objects.get()
    assert (survey.conversation_id, survey.status, survey.trigger, survey.style, survey.language) == (
        conversation.pk,
        "sent",
        "resolved",
        "list",
        "en",
    )
    [message] = _bot_messages(conversation)
    assert survey.message_id == message.pk and sends.message_ids == [message.pk]
    assert (message.type, message.sender_label) == ("interactive", "Satisfaction survey")
    content = content_from_dict(message.content)
    assert content.style == "list" and content.body == "How would you rate our service?"
    assert content.list_button == "Rate"
    assert [(row.id, row.title) for row in content.sections[0].rows] == [
        (f"csat:{survey.pk}:5", "5 \u2013 Excellent"),
        (f"csat:{survey.pk}:4", "4 \u2013 Good"),
        (f"csat:{survey.pk}:3", "3 \u2013 Fair"),
        (f"csat:{survey.pk}:2", "2 \u2013 Poor"),
        (f"csat:{survey.pk}:1", "1 \u2013 Terrible"),
    ]
    assert "Satisfaction survey sent by automation 'Satisfaction survey'." in _lines(conversation)
    conversation.refresh_from_db()
    assert conversation.answers_until is not None


def test_a_portuguese_contact_gets_the_buttons_in_the_workspaces_own_wording_in_portuguese(
    admin, channel, conversation, resolve, sends
):
    Contact.objects.filter(pk=conversation.contact_id).update(custom_attributes={"language": "pt-BR"})
    csat_configure(
        admin,
        channel.inbox,
        style="buttons",
        texts={
            "question": {"en": "How did Support do?", "pt-br": "Como foi o Suporte?"},
            "button_good": {"pt-br": "Ótimo"},
            "button_regular": {"pt-br": "Regular"},
            "button_bad": {"pt-br": "Ruim", "en": "Meh"},
        },
    )

    resolve(conversation)

    survey = CsatSurvey.objects.get()
    content = content_from_dict(_bot_messages(conversation)[0].content)
    assert (content.style, content.body, survey.language) == ("button", "Como foi o Suporte?", "pt-br")
    assert [(b.id, b.title) for b in content.buttons] == [
        (f"csat:{survey.pk}:5", "Ótimo"),
        (f"csat:{survey.pk}:3", "Regular"),
        (f"csat:{survey.pk}:1", "Ruim"),
    ]


def test_one_survey_per_conversation_through_reopen_and_resolve_again_and_a_repeated_event(
    admin, channel, conversation, resolve, sends, django_capture_on_commit_callbacks
):
    csat_configure(admin, channel.inbox)
    resolve(conversation)
    status_set(django_capture_on_commit_callbacks, admin, conversation, Conversation.Status.OPEN)
    resolve(conversation)
    # The event delivered again (a retried job).
    assert survey_send(tenant_id=conversation.tenant_id, conversation_id=conversation.pk, trigger="resolved") is None

    assert CsatSurvey.objects.count() == 1
    assert len(_bot_messages(conversation)) == 1
    assert len(sends.message_ids) == 1


def test_nothing_is_sent_when_the_survey_is_off_or_not_on_resolve(admin, channel, conversation, resolve, sends):
    csat_configure(admin, channel.inbox, enabled=False)
    resolve(conversation)
    assert not CsatSurvey.objects.exists() and sends.message_ids == []


def test_a_closed_window_without_a_template_is_recorded_and_nothing_is_queued(
    admin, channel, conversation, resolve, sends, clock
):
    csat_configure(admin, channel.inbox)
    clock.advance(hours=25)

    resolve(conversation)

    survey = CsatSurvey.objects.get()
    assert (survey.status, survey.message_id) == ("window_closed", None)
    assert _bot_messages(conversation) == [] and sends.message_ids == []
    assert (
        "No satisfaction survey sent by automation 'Satisfaction survey': the customer's reply window is closed."
        in _lines(conversation)
    )


def test_a_closed_window_sends_the_chosen_template_with_the_ratings_as_its_buttons(
    admin, channel, conversation, resolve, sends, clock, answer
):
    approved_template(channel)
    csat_configure(admin, channel.inbox, template_name="avaliacao", template_language="pt_BR")
    clock.advance(hours=25)

    resolve(conversation)

    survey = CsatSurvey.objects.get()
    [message] = _bot_messages(conversation)
    assert (survey.status, survey.message_id, message.type) == ("template", message.pk, "template")
    assert message.content["parameters"] == {
        "buttons": {"0": f"csat:{survey.pk}:5", "1": f"csat:{survey.pk}:3", "2": f"csat:{survey.pk}:1"}
    }
    assert message.raw == {
        "components": [
            {"type": "button", "sub_type": "quick_reply", "index": str(i), "parameters": [p]}
            for i, p in enumerate({"type": "payload", "payload": f"csat:{survey.pk}:{rating}"} for rating in (5, 3, 1))
        ]
    }
    # The customer taps "Regular" on the template.
    answer(template_button(f"csat:{survey.pk}:3", "Regular"))
    assert CsatResponse.objects.get().rating == 3


def test_the_window_closing_sends_the_survey_a_resolve_did_not(admin, channel, conversation, resolve, sends):
    csat_configure(admin, channel.inbox, send_on_resolve=False, send_before_window_closes=True)
    resolve(conversation)
    assert not CsatSurvey.objects.exists()

    closing = events.ReplyWindowClosing(
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.pk,
        inbox_id=conversation.inbox_id,
        contact_id=conversation.contact_id,
        closes_at=conversation.reply_window_closes_at,
    )
    reply_window_closing(closing)
    reply_window_closing(closing)

    survey = CsatSurvey.objects.get()
    assert (survey.trigger, survey.status) == ("window_closing", "sent")
    assert len(_bot_messages(conversation)) == 1


def test_the_rating_is_stored_in_the_resolved_conversation_with_who_it_is_attributed_to(
    admin, agent, channel, conversation, resolve, sends, answer
):
    from conversations.services.actions import conversation_assign, conversation_labels_change, conversation_team_set
    from conversations.services.library import label_create

    vip = label_create(membership=admin, name="vip", color="#0088cc")
    conversation_labels_change(actor=admin, conversation=conversation, add=[vip])
    channel.inbox.members.add(agent.user)
    conversation_assign(actor=admin, conversation=conversation, assignee=agent.user)
    billing = Team.objects.create(tenant_id=conversation.tenant_id, name="Billing")
    conversation_team_set(actor=admin, conversation=conversation, team=billing)
    csat_configure(admin, channel.inbox)
    resolve(conversation)
    survey = CsatSurvey.objects.get()

    reply = answer(list_reply(f"csat:{survey.pk}:4", "4 \u2013 Good"))

    response = CsatResponse.objects.get()
    assert (response.survey_id, response.rating, response.conversation_id, response.inbox_id) == (
        survey.pk,
        4,
        conversation.pk,
        channel.inbox_id,
    )
    assert (survey.team_id, response.team_id) == (billing.pk, billing.pk)
    assert (response.assignee_id, response.labels, response.message_id, response.comment) == (
        agent.user_id,
        ["vip"],
        reply.pk,
        "",
    )
    # The answer is in the resolved conversation, which stays resolved and adds nothing to the queue.
    conversation.refresh_from_db()
    assert reply.conversation_id == conversation.pk
    assert (conversation.status, conversation.unread_count, conversation.waiting_since) == (RESOLVED, 0, None)
    assert Conversation.objects.count() == 1
    assert [m.text for m in _bot_messages(conversation)][-1] == "Thank you for your rating!"
    assert "Satisfaction rating 4 of 5 received by automation 'Satisfaction survey'." in _lines(conversation)


def test_a_second_answer_stores_nothing_more_and_sends_nothing_more(
    admin, channel, conversation, resolve, sends, answer
):
    csat_configure(admin, channel.inbox)
    resolve(conversation)
    survey = CsatSurvey.objects.get()
    answer(list_reply(f"csat:{survey.pk}:2"))
    sent = len(sends.message_ids)

    answer(list_reply(f"csat:{survey.pk}:5"))

    assert list(CsatResponse.objects.values_list("rating", flat=True)) == [2]
    assert len(sends.message_ids) == sent


def test_a_forged_id_of_another_conversation_or_workspace_or_an_unoffered_rating_is_ignored(
    admin, channel, conversation, resolve, sends, answer, django_capture_on_commit_callbacks
):
    csat_configure(admin, channel.inbox, style="buttons")
    resolve(conversation)
    survey = CsatSurvey.objects.get()
    # Another customer of the same inbox, with their own survey.
    theirs = answer(text("Olá"), source_id="5511900000099").conversation
    resolve(theirs)
    their_survey = CsatSurvey.objects.get(conversation=theirs)
    # Another workspace's survey.
    other = make_tenant(slug="other")
    other_channel = make_channel(other, phone_number_id="999000111", waba_id="888000111")
    csat_configure(owner_of(other), other_channel.inbox)
    foreign = customer_sends(django_capture_on_commit_callbacks, other_channel, text("Oi")).conversation
    status_set(django_capture_on_commit_callbacks, owner_of(other), foreign, RESOLVED)
    foreign_survey = CsatSurvey.objects.get(tenant=other)

    forged = [
        answer(button_reply(f"csat:{their_survey.pk}:5")),  # the other customer's survey
        answer(button_reply(f"csat:{foreign_survey.pk}:5")),  # another workspace's
        answer(button_reply(f"csat:{survey.pk}:4")),  # 4 is not a button of this survey
        answer(button_reply(f"csat:{survey.pk}:9")),  # not a rating
    ]

    assert not CsatResponse.objects.exists()
    # None of them was taken for an answer of the resolved conversation: a new one holds them.
    assert {m.conversation_id for m in forged} != {conversation.pk}
    assert conversation.pk not in {m.conversation_id for m in forged}


def test_the_comment_is_the_next_text_within_the_minutes_and_is_thanked(
    admin, channel, conversation, resolve, sends, answer, clock
):
    csat_configure(admin, channel.inbox, ask_comment=True, comment_minutes=10)
    resolve(conversation)
    survey = CsatSurvey.objects.get()
    answer(list_reply(f"csat:{survey.pk}:5"))
    assert _bot_messages(conversation)[-1].text == (
        "Thank you for your rating!\n\nIf you like, write us a comment about the service in your next message."
    )
    clock.advance(minutes=9)

    comment = answer(text("  Muito rápido, obrigado!  "))

    response = CsatResponse.objects.get()
    assert (response.comment, response.comment_until) == ("Muito rápido, obrigado!", None)
    assert comment.conversation_id == conversation.pk
    assert _bot_messages(conversation)[-1].text == "Thank you for your comment!"
    conversation.refresh_from_db()
    assert (conversation.status, conversation.unread_count) == (RESOLVED, 0)
    # Anything after it is a new matter: a new conversation for the agents.
    later = answer(text("Outra dúvida"))
    assert later.conversation_id != conversation.pk
    assert later.conversation.status == Conversation.Status.OPEN
    assert CsatResponse.objects.get().comment == "Muito rápido, obrigado!"


def test_a_text_after_the_comment_minutes_opens_a_new_conversation_and_is_no_comment(
    admin, channel, conversation, resolve, sends, answer, clock
):
    csat_configure(admin, channel.inbox, ask_comment=True, comment_minutes=10)
    resolve(conversation)
    survey = CsatSurvey.objects.get()
    answer(list_reply(f"csat:{survey.pk}:5"))
    clock.advance(minutes=11)

    late = answer(text("Oi de novo"))

    assert late.conversation_id != conversation.pk
    assert late.conversation.unread_count == 1
    assert CsatResponse.objects.get().comment == ""


def test_a_text_instead_of_a_rating_opens_a_new_conversation(admin, channel, conversation, resolve, sends, answer):
    csat_configure(admin, channel.inbox)
    resolve(conversation)

    message = answer(text("Ainda não recebi o pedido"))

    assert message.conversation_id != conversation.pk
    assert message.conversation.status == Conversation.Status.OPEN
    assert not CsatResponse.objects.exists()
    # The survey can still be answered later: the rating goes to the survey, shown in the open conversation.
    survey = CsatSurvey.objects.get()
    reply = answer(list_reply(f"csat:{survey.pk}:3"))
    assert reply.conversation_id == message.conversation_id
    assert (CsatResponse.objects.get().rating, CsatResponse.objects.get().comment_until) == (3, None)


def test_the_survey_is_not_sent_for_a_conversation_reopened_before_the_job_ran(admin, channel, conversation, sends):
    csat_configure(admin, channel.inbox)
    # The event of a resolve whose conversation is open again by the time it is handled.
    assert survey_send(tenant_id=conversation.tenant_id, conversation_id=conversation.pk, trigger="resolved") is None
    assert not CsatSurvey.objects.exists()
