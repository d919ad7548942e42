"""A customer in a bot flow who writes a stop keyword: opted out of marketing, confirmed, and the flow goes on (it
gets the message as its answer; a marketing stop does not end a conversation with the bot)."""

from __future__ import annotations

import pytest

from campaigns.models import ConsentEvent
from conversations.models import Contact, Message
from flows.models import FlowInput, FlowSession
from tests.flows.conftest import channel, recharge, sent, static_pix, write  # noqa: F401  (the flows' fixtures)
from tests.flows.transit_fixtures import _transit_clock, _transit_server, transit  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_stop_inside_a_bot_flow_opts_out_and_the_flow_goes_on(recharge, write, sent):  # noqa: F811
    start = write("recarregar")
    conversation = start.conversation
    step = FlowSession.objects.get(conversation=conversation).step

    stop = write("PARAR")

    assert list(ConsentEvent.objects.values_list("kind", "source")) == [("opt_out", "keyword")]
    assert Contact.objects.values_list("marketing_consent", flat=True).get(pk=conversation.contact_id) == "opted_out"
    session = FlowSession.objects.get(conversation=conversation)
    assert session.status in FlowSession.RUNNING
    assert session.step == step  # the card number is still asked for
    assert FlowInput.objects.filter(message=stop).exists()
    bot = Message.objects.filter(conversation=conversation, direction="out", sender_type="bot")
    question = "Hi! Let's recharge your transit card. What is the card's number? (12 digits, on the back)"
    # Each subscriber answers on its own: the flow asks again (not a card number), the keywords confirm the stop.
    assert sorted(bot.values_list("text", flat=True)) == sorted(
        [
            question,
            f"A card number has 12 digits. Please type the 12 digits of the card.\n\n{question}",
            "Done: you will not receive our marketing messages any more. To receive them again, reply START.",
        ]
    )

    answer = write("123456789012")

    assert FlowSession.objects.get(conversation=conversation).step != step  # the flow took the next answer
    assert FlowInput.objects.filter(message=answer).exists()
