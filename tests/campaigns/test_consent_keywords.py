"""Customers' keywords and the "stop promotions" button: the ledger row, replays, the confirmation in the contact's
language, and what is not a keyword."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from campaigns.consent import consent_settings_update, marketing_purpose
from campaigns.keywords import confirmation_texts_set
from campaigns.models import ConsentEvent
from conversations.models import Contact, Message
from conversations.services import delivery_jobs
from conversations.services.customer_texts import customer_text_set
from conversations.services.inbound import InboundSpec, message_receive
from tests.factories import owner_of
from tests.whatsapp.conftest import make_channel

pytestmark = pytest.mark.django_db

_wamids = itertools.count(1)
CUSTOMER = "5511987650001"


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    found: list[int] = []
    monkeypatch.setattr(delivery_jobs, "send_ahead_request", lambda *, message_id: found.append(message_id))
    monkeypatch.setattr(delivery_jobs, "send_request", lambda *, message_id, inbox_id: found.append(message_id))
    return found


@pytest.fixture
def channel(tenant):
    tenant.locale = "pt-br"
    tenant.save(update_fields=["locale"])
    return make_channel(tenant)


@pytest.fixture
def write(channel, django_capture_on_commit_callbacks, sent):
    """The customer writes (a text, or a button's payload and text); the subscribers run after the commit."""

    def run(
        text: str = "", *, button: str = "", menu: str = "", wamid: str = "", at: datetime | None = None
    ) -> Message:
        values: dict = {
            "source_id": CUSTOMER,
            "external_id": wamid or f"wamid.consent-{next(_wamids)}",
            "occurred_at": at or timezone.now(),
            "profile_name": "Maria",
            "phone_e164": f"+{CUSTOMER}",
        }
        if button:
            values.update(
                type="button",
                text=text,
                content={"v": 1, "kind": "reply", "reply_type": "template_button", "id": button, "title": text},
            )
        elif menu:  # a reply to an interactive message's button (a bot's or an agent's menu)
            values.update(
                type="interactive",
                text=text,
                content={"v": 1, "kind": "reply", "reply_type": "button", "id": menu, "title": text},
            )
        else:
            values.update(type="text", text=text)
        with django_capture_on_commit_callbacks(execute=True):
            message, _created = message_receive(inbox=channel.inbox, spec=InboundSpec(**values))
        return message

    return run


def ledger() -> list[tuple[str, str, dict]]:
    return list(ConsentEvent.objects.order_by("id").values_list("kind", "source", "evidence"))


def consent(message: Message) -> str:
    return Contact.objects.values_list("marketing_consent", flat=True).get(pk=message.conversation.contact_id)


def replies(message: Message) -> list[tuple[str, str, str]]:
    return list(
        Message.objects.filter(conversation_id=message.conversation_id, direction=Message.Direction.OUTBOUND)
        .order_by("id")
        .values_list("sender_type", "sender_label", "text")
    )


OPTED_OUT_PT = (
    "Pronto: você não receberá mais nossas mensagens de marketing. Para voltar a recebê-las, responda VOLTAR."
)
OPTED_IN_PT = (
    "Pronto: você voltará a receber nossas mensagens de marketing. Para pará-las, responda PARAR quando quiser."
)


@pytest.mark.parametrize("said", ["PARAR", "parar", "Parar!", "  sair. ", "SAÍR", "saír", "Stop", "descadastrar?"])
def test_an_opt_out_keyword_alone_opts_the_contact_out_and_confirms_in_portuguese(write, sent, said):
    message = write(said)

    assert ledger() == [
        ("opt_out", "keyword", {"message_id": message.pk, "external_id": message.external_id, "text": said})
    ]
    assert consent(message) == "opted_out"
    assert replies(message) == [("bot", "Palavras de consentimento", OPTED_OUT_PT)]
    assert len(sent) == 1


@pytest.mark.parametrize("said", ["por favor parar de mandar", "Não quero parar", "stop it", "PARARR", "🛑"])
def test_a_keyword_inside_a_sentence_or_anything_else_is_not_one(write, sent, said):
    message = write(said)

    assert ledger() == []
    assert consent(message) == "unknown"
    assert replies(message) == []
    assert sent == []


def test_the_same_message_delivered_twice_records_and_confirms_once(write, sent):
    first = write("PARAR", wamid="wamid.same")
    again = write("PARAR", wamid="wamid.same")

    assert first.pk == again.pk
    assert len(ledger()) == 1
    assert len(replies(first)) == 1


def test_an_english_contact_is_confirmed_in_english(write, sent):
    first = write("Hello")
    Contact.objects.filter(pk=first.conversation.contact_id).update(custom_attributes={"language": "en"})

    message = write("unsubscribe")

    assert replies(message) == [
        ("bot", "Palavras de consentimento", "Done: you will not receive our marketing messages any more. "
         "To receive them again, reply START."),
    ]  # fmt: skip


def test_the_workspace_wording_is_used_in_its_language(write, tenant):
    customer_text_set(actor=owner_of(tenant), key="consent_opted_out", variants={"pt-br": "Ok, sem promoções."})

    message = write("parar")

    assert [text for _s, _l, text in replies(message)] == ["Ok, sem promoções."]


def test_the_settings_wording_goes_to_a_contact_of_its_language_and_the_built_in_one_to_the_others(write, tenant):
    confirmation_texts_set(actor=owner_of(tenant), texts={"opt_out": {"en": "Unsubscribed.", "pt-br": "  "}})

    in_portuguese = write("parar")
    write("voltar")
    Contact.objects.filter(pk=in_portuguese.conversation.contact_id).update(custom_attributes={"language": "en"})
    in_english = write("stop")

    assert [text for _s, _l, text in replies(in_english)] == [OPTED_OUT_PT, OPTED_IN_PT, "Unsubscribed."]


def test_a_resume_keyword_opts_back_in_only_a_contact_who_stopped(write, sent):
    message = write("VOLTAR")
    assert ledger() == []
    assert consent(message) == "unknown"

    write("parar")
    back = write("Voltar!")

    assert [(kind, source) for kind, source, _e in ledger()] == [("opt_out", "keyword"), ("opt_in", "keyword")]
    assert consent(back) == "opted_in"
    assert [text for _s, _l, text in replies(back)] == [OPTED_OUT_PT, OPTED_IN_PT]


@pytest.mark.parametrize(("button", "title"), [("STOP_PROMOTIONS", "Parar promoções"), ("", "Parar promoções")])
def test_the_stop_promotions_button_opts_out(write, button, title):
    message = write(title, button=button or "other-payload")

    assert ledger() == [
        (
            "opt_out",
            "button",
            {"message_id": message.pk, "external_id": message.external_id, "text": title,
             "button_id": button or "other-payload"},
        )
    ]  # fmt: skip
    assert consent(message) == "opted_out"


def test_a_template_quick_reply_titled_with_a_keyword_opts_out_but_a_menu_button_does_not(write):
    menu = write("Parar", menu="flow-stop")
    assert ledger() == []
    assert consent(menu) == "unknown"

    template = write("Unsubscribe", button="Unsubscribe")
    assert [(kind, source) for kind, source, _e in ledger()] == [("opt_out", "button")]
    assert consent(template) == "opted_out"


def test_the_stop_promotions_id_on_a_menu_button_opts_out(write):
    message = write("Sem promoções", menu="STOP_PROMOTIONS")

    assert [(kind, source) for kind, source, _e in ledger()] == [("opt_out", "button")]
    assert consent(message) == "opted_out"


def test_without_confirmation_the_customer_gets_no_reply(write, tenant, sent):
    consent_settings_update(
        actor=owner_of(tenant), opt_out_keywords=["CHEGA"], opt_in_keywords=["VOLTAR"], confirm=False
    )

    ignored = write("parar")
    message = write("chega")

    assert [kind for kind, _s, _e in ledger()] == ["opt_out"]
    assert ConsentEvent.objects.get().evidence["message_id"] == message.pk != ignored.pk
    assert replies(message) == []
    assert sent == []


def test_an_older_keyword_delivered_late_does_not_undo_a_newer_answer(write, tenant):
    now = timezone.now()
    write("parar", at=now - timedelta(minutes=1))
    late = write("voltar", at=now - timedelta(minutes=5))  # written before the stop, arriving after it

    assert [kind for kind, _s, _e in ledger()] == ["opt_out", "opt_in"]
    assert consent(late) == "opted_out"


def test_a_keyword_records_for_the_marketing_purpose(write, tenant):
    write("stop")

    event = ConsentEvent.objects.get()
    assert event.purpose_id == marketing_purpose(tenant_id=tenant.pk).pk
    assert event.occurred_at <= timezone.now()
    assert event.occurred_at.tzinfo is not None
    assert event.dedupe_key == f"message:{event.evidence['message_id']}"


def test_other_subscribers_still_see_the_message(write, tenant):
    """The flows' subscriber (and any other) gets the keyword message too: both deliveries are done."""
    from conversations.models import EventDelivery

    write("PARAR")

    done = dict(EventDelivery.objects.values_list("subscriber", "state"))
    assert done["campaigns.consent_keywords"] == "done"
    assert done["flows.inputs"] == "done"
