"""Where a conversation came from: the first customer message carrying a link's token (of the same workspace and
inbox, not archived), else a click-to-WhatsApp ad's referral; once, whatever arrives later or twice at once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Message
from flows.links import conversation_sources_record, entry_link_archive, refs_in
from flows.models import ConversationSource
from tests.factories import owner_of
from tests.flows.test_links import link_on, receive, whatsapp_inbox
from tests.prerequisites import require_postgresql

pytestmark = pytest.mark.django_db

AD = {
    "source_url": "https://fb.me/3cr4Wqqkv",
    "source_id": "120211234567890123",
    "source_type": "ad",
    "headline": "Recarga com 10% de bônus",
    "body": "Recarregue seu cartão pelo WhatsApp",
    "media_type": "image",
    "image_url": "https://scontent.xx.fbcdn.net/v/t45.1600-4/ad.jpg",
    "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0-eM-GABDLOPaOdRMv-_zfUQ2a",
}


def _source_row(conversation_id: int) -> tuple:
    return (
        ConversationSource.objects.filter(conversation_id=conversation_id)
        .values_list("kind", "link_id", "message_id", "ad_id", "ad_headline")
        .get()
    )


def test_the_first_message_carrying_a_token_attributes_its_conversation_to_the_link(tenant):
    inbox = whatsapp_inbox(tenant)
    link = link_on(inbox, ref="vitrine01")
    message = receive(inbox, "Olá! Vi a vitrine [#vitrine01]")

    recorded = conversation_sources_record([message])

    assert list(recorded) == [message.conversation_id]
    source = recorded[message.conversation_id]
    assert (source.kind, source.link, source.message_id, source.tenant_id) == ("link", link, message.pk, tenant.pk)
    assert _source_row(message.conversation_id) == ("link", link.pk, message.pk, "", "")
    assert Message.objects.get(pk=message.pk).text == "Olá! Vi a vitrine [#vitrine01]"  # nothing stripped


def test_the_token_is_found_however_the_customer_edited_the_text(tenant):
    inbox = whatsapp_inbox(tenant)
    link_on(inbox, ref="vitrine01")

    assert refs_in("Oi, quero saber #VITRINE01 por favor") == ["vitrine01"]
    assert refs_in("[#vitrine01]") == ["vitrine01"]
    assert refs_in("#vitrine01.") == ["vitrine01"]
    assert refs_in("#vitrine01x #vitri") == ["vitrine01x"]  # another reference; and one too short
    assert refs_in("vitrine01 without the hash") == []
    assert refs_in("#" + "a" * 33) == []
    message = receive(inbox, "oi!! #Vitrine01")
    assert conversation_sources_record([message])[message.conversation_id].link.ref == "vitrine01"


def test_a_later_message_with_another_token_does_not_change_the_source(tenant):
    inbox = whatsapp_inbox(tenant)
    first = link_on(inbox, ref="vitrine01")
    link_on(inbox, ref="flyer2026", name="Flyer")
    earlier = receive(inbox, "Oi [#vitrine01]")
    conversation_sources_record([earlier])

    later = receive(inbox, "E este? [#flyer2026]")

    assert later.conversation_id == earlier.conversation_id
    assert conversation_sources_record([later]) == {}
    assert _source_row(earlier.conversation_id) == ("link", first.pk, earlier.pk, "", "")


def test_in_one_batch_the_earliest_message_of_a_conversation_decides(tenant):
    inbox = whatsapp_inbox(tenant)
    link_on(inbox, ref="vitrine01")
    flyer = link_on(inbox, ref="flyer2026", name="Flyer")
    now = timezone.now()
    second = receive(inbox, "Oi [#vitrine01]", when=now)
    first = receive(inbox, "Olá [#flyer2026]", when=now - timedelta(seconds=5))

    recorded = conversation_sources_record([second, first])

    assert recorded[first.conversation_id].link == flyer
    assert _source_row(first.conversation_id) == ("link", flyer.pk, first.pk, "", "")


def test_a_token_of_another_workspace_an_archived_link_or_another_inbox_is_ignored(tenant, other_tenant):
    inbox = whatsapp_inbox(tenant)
    other_inbox = whatsapp_inbox(tenant, phone_number_id="3003", number="+55 11 3000-0003")
    link_on(whatsapp_inbox(other_tenant, phone_number_id="2002", number="+55 21 3000-0002"), ref="theirs01")
    archived = link_on(inbox, ref="arquivo01", name="Antigo")
    entry_link_archive(actor=owner_of(tenant), link=archived)
    link_on(other_inbox, ref="outra0001", name="Outra caixa")
    messages = [
        receive(inbox, "Oi [#theirs01]", wa_id="5511987650001"),
        receive(inbox, "Oi [#arquivo01]", wa_id="5511987650002"),
        receive(inbox, "Oi [#outra0001]", wa_id="5511987650003"),
        receive(inbox, "Oi [#naoexiste]", wa_id="5511987650004"),
    ]

    assert conversation_sources_record(messages) == {}
    assert ConversationSource.objects.count() == 0


def test_a_token_in_the_inbox_of_its_link_wins_over_another_in_the_same_text(tenant):
    inbox = whatsapp_inbox(tenant)
    other_inbox = whatsapp_inbox(tenant, phone_number_id="3003", number="+55 11 3000-0003")
    link_on(other_inbox, ref="outra0001", name="Outra caixa")
    mine = link_on(inbox, ref="vitrine01")
    message = receive(inbox, "Oi [#outra0001] [#vitrine01]")

    assert conversation_sources_record([message])[message.conversation_id].link == mine


def test_a_click_to_whatsapp_ad_referral_attributes_the_conversation_to_the_ad(tenant):
    inbox = whatsapp_inbox(tenant)
    message = receive(inbox, "Quero saber da recarga", referral=AD)

    recorded = conversation_sources_record([message])

    assert _source_row(message.conversation_id) == (
        "ad",
        None,
        message.pk,
        "120211234567890123",
        "Recarga com 10% de bônus",
    )
    assert recorded[message.conversation_id].link is None


def test_a_token_beats_a_referral_and_a_referral_without_an_id_is_no_source(tenant):
    inbox = whatsapp_inbox(tenant)
    link = link_on(inbox, ref="vitrine01")
    both = receive(inbox, "Oi [#vitrine01]", referral=AD, wa_id="5511987650001")
    no_id = receive(inbox, "Oi", referral={"source_type": "ad", "headline": "Sem id"}, wa_id="5511987650002")
    odd = receive(inbox, "Oi", referral={"source_id": ["x"], "headline": 7}, wa_id="5511987650003")

    recorded = conversation_sources_record([both, no_id, odd])

    assert list(recorded) == [both.conversation_id]
    assert _source_row(both.conversation_id) == ("link", link.pk, both.pk, "", "")


def test_an_ad_conversation_keeps_its_ad_when_a_token_comes_later(tenant):
    inbox = whatsapp_inbox(tenant)
    link_on(inbox, ref="vitrine01")
    first = receive(inbox, "Oi", referral=AD)
    conversation_sources_record([first])

    assert conversation_sources_record([receive(inbox, "[#vitrine01]")]) == {}
    assert _source_row(first.conversation_id)[0] == "ad"


def test_messages_of_the_team_and_a_second_call_record_nothing(tenant):
    inbox = whatsapp_inbox(tenant)
    link_on(inbox, ref="vitrine01")
    message = receive(inbox, "Oi [#vitrine01]")
    ours = Message.objects.create(
        tenant=tenant,
        conversation=message.conversation,
        inbox=inbox,
        direction=Message.Direction.OUTBOUND,
        sender_type=Message.SenderType.AGENT,
        text="Use [#vitrine01]",
        status=Message.Status.SENT,
    )

    assert conversation_sources_record([ours]) == {}
    assert ConversationSource.objects.count() == 0
    assert list(conversation_sources_record([message])) == [message.conversation_id]
    assert conversation_sources_record([message]) == {}
    assert ConversationSource.objects.count() == 1


def test_a_batch_takes_a_fixed_number_of_queries_and_one_insert_per_conversation(tenant, other_tenant):
    inbox = whatsapp_inbox(tenant)
    other = whatsapp_inbox(other_tenant, phone_number_id="2002", number="+55 21 3000-0002")
    link_on(inbox, ref="vitrine01")
    link_on(other, ref="vitrine01")
    link_on(inbox, ref="flyer2026", name="Flyer")
    messages = [receive(inbox, f"Oi [#vitrine01] {n}", wa_id=f"55119876500{n:02d}") for n in range(6)]
    messages += [receive(other, "Oi [#vitrine01]", wa_id="5521987650001")]
    messages += [receive(inbox, "Oi [#flyer2026]", wa_id="5511987650099"), receive(inbox, "sem token", wa_id="551100")]
    messages = [Message.objects.get(pk=m.pk) for m in messages]  # as the caller has them: conversation not loaded

    with CaptureQueriesContext(connections["default"]) as queries:
        recorded = conversation_sources_record(messages)

    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert len(recorded) == 8
    assert len(inserts) == 8
    assert len(selects) == 2  # the conversations attributed already, and the links the tokens name
    assert {source.link.tenant_id for source in recorded.values()} == {tenant.pk, other_tenant.pk}


@pytest.mark.django_db(transaction=True)
def test_two_workers_attributing_one_conversation_at_once_record_one_source(tenant, monkeypatch):
    require_postgresql("SQLite serialises writers: there is no race to lose")
    inbox = whatsapp_inbox(tenant)
    vitrine = link_on(inbox, ref="vitrine01")
    flyer = link_on(inbox, ref="flyer2026", name="Flyer")
    # Two messages of one conversation, stored without their events (the flows' subscriber would attribute it).
    opening = receive(inbox, "Oi")
    first, second = (
        Message.objects.create(
            tenant=tenant,
            conversation=opening.conversation,
            inbox=inbox,
            direction=Message.Direction.INBOUND,
            sender_type=Message.SenderType.CONTACT,
            text=text,
            status=Message.Status.RECEIVED,
        )
        for text in ("Oi [#vitrine01]", "Oi [#flyer2026]")
    )
    # Both workers have looked and found the conversation without a source before either inserts one.
    barrier = threading.Barrier(2)
    save = ConversationSource.save

    def save_after_both_looked(self, *args, **kwargs):
        barrier.wait(timeout=10)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(ConversationSource, "save", save_after_both_looked)
    results: dict[str, dict] = {}
    errors: list[BaseException] = []

    def attribute(name: str, message: Message) -> None:
        try:
            results[name] = conversation_sources_record([Message.objects.get(pk=message.pk)])
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attribute, args=(name, m)) for name, m in (("a", first), ("b", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    recorded = [source for found in results.values() for source in found.values()]
    assert len(recorded) == 1
    stored = ConversationSource.objects.get(conversation_id=first.conversation_id)
    assert (stored.pk, stored.link_id) == (recorded[0].pk, recorded[0].link_id)
    assert stored.link_id in (vitrine.pk, flyer.pk)
