"""What live events carry: the row once per transaction, the tab counts' change, versions."""

from __future__ import annotations

import pytest
from django.utils import timezone

from conversations.services.inbound import InboundSpec, message_receive
from tests.conversations.factories import captured_events, make_inbox, of_type
from tests.factories import owner_of

pytestmark = pytest.mark.django_db


def test_a_new_conversations_first_message_carries_the_row_and_its_update_does_not_repeat_it(tenant):
    owner = owner_of(tenant)
    inbox = make_inbox(tenant, name="Vendas", members=[owner])
    spec = InboundSpec(
        source_id="5511955501234",
        external_id="wamid.first",
        occurred_at=timezone.now(),
        type="text",
        text="Quero recarregar meu cartão",
        profile_name="Rita",
    )

    with captured_events() as events:
        message, _created = message_receive(inbox=inbox, spec=spec)

    [(created_to, created)] = of_type(events, "message.created")
    [(updated_to, updated)] = of_type(events, "conversation.updated")
    assert created_to == updated_to == [owner.user_id]
    assert created["row"]["id"] == message.conversation_id
    assert "Quero recarregar meu cartão" in next(iter(created["row"]["html"].values()))
    assert "row" not in updated and updated["row_sent"] is True
    # A new conversation counts in the tabs from now on: it did not exist before.
    assert updated["counts"]["before"] is None
    assert updated["counts"]["after"]["open"] is True and updated["counts"]["after"]["assignee_id"] is None
    # Those without the conversation open get no bubble (the sockets that watch it get the fuller variant).
    assert "html" not in created["message"] and created["message"]["previous_id"] == 0


def test_the_messages_of_one_transaction_are_read_together_for_their_events(tenant):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conversations.services.events import publish_message_event, variants_cache_clear
    from tests.conversations.factories import make_conversation, make_message

    owner = owner_of(tenant)
    conversation = make_conversation(make_inbox(tenant, name="Vendas", members=[owner]), name="Rita")

    def queries_for(count: int) -> tuple[int, list[str]]:
        variants_cache_clear()  # each measure reads the workspace's renderings once
        with CaptureQueriesContext(connection) as ctx, captured_events() as events:
            for i in range(count):
                publish_message_event("message.created", make_message(conversation, f"Mensagem {count}.{i}"))
        texts = [e["message"]["text"] for _users, e in of_type(events, "message.created")]
        return len(ctx.captured_queries), texts

    one, _texts = queries_for(1)
    five, texts = queries_for(5)

    assert texts == [f"Mensagem 5.{i}" for i in range(5)]
    # Per further message: its own insert (with the conversation's update) and the id of the one before
    # it; the messages themselves, their attachments and reactions are read once for all.
    per_message_insert = 2  # the factory's insert and its conversation update
    assert five - one == 4 * (per_message_insert + 1)


def test_the_row_is_rendered_once_per_language_and_time_zone_in_use():
    from tests.factories import add_member, make_tenant, make_user

    tenant = make_tenant("Acme", slug="acme", locale="pt-br")
    owner = owner_of(tenant)
    english = add_member(tenant, user=make_user(language="en"))
    add_member(tenant, user=make_user(language="en", time_zone="Europe/Lisbon"))
    inbox = make_inbox(tenant, name="Vendas", members=[owner, english])
    spec = InboundSpec(
        source_id="5511955501234",
        external_id="wamid.languages",
        occurred_at=timezone.now(),
        type="text",
        text="Oi",
        profile_name="Rita",
    )

    with captured_events() as events:
        message_receive(inbox=inbox, spec=spec)

    [(_to, created)] = of_type(events, "message.created")
    html = created["row"]["html"]
    assert sorted(html) == ["America/Sao_Paulo|en", "America/Sao_Paulo|pt-br", "Europe/Lisbon|en"]
    assert ">aguardando agora</span>" in html["America/Sao_Paulo|pt-br"]
    assert ">waiting now</span>" not in html["America/Sao_Paulo|pt-br"]
    assert ">waiting now</span>" in html["America/Sao_Paulo|en"]
