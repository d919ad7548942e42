"""The satisfaction survey reaches the fake Cloud API exactly as Meta's JSON (an interactive list, or reply
buttons), and the customer's tap, posted back as Meta's signed webhook, stores the rating once."""

from __future__ import annotations

import pytest

from automations.models import CsatResponse, CsatSurvey
from conversations.models import Conversation, Message
from tests.automations.csat_helpers import csat_configure, status_set
from tests.whatsapp.conftest import PHONE_NUMBER_ID
from tests.whatsapp.openapi import assert_valid_send_request
from whatsapp.fake import FakeAdminClient

pytestmark = pytest.mark.django_db

CUSTOMER = "5511987650001"


@pytest.fixture
def resolved(admin, channel, fake, webhook, django_capture_on_commit_callbacks):
    """The customer wrote through the fake; an admin resolves the conversation."""

    def run() -> Conversation:
        written = fake.inbound(phone_number_id=PHONE_NUMBER_ID, **{"from": CUSTOMER}, name="Maria Souza", text="Oi")
        assert webhook.post(channel, written["webhook"]).status_code == 200
        conversation = Conversation.objects.get()
        status_set(django_capture_on_commit_callbacks, admin, conversation, Conversation.Status.RESOLVED)
        return conversation

    return run


def _sends(fake: FakeAdminClient) -> list[dict]:
    """Every message send the fake got (read receipts aside), each accepted."""
    requests = fake.requests(method="POST", path_contains="/messages")
    assert [r["status_code"] for r in requests] == [200] * len(requests)
    return [r["json"] for r in requests if "status" not in r["json"]]


def test_the_list_survey_arrives_at_the_cloud_api_exactly_as_metas_json(admin, channel, fake, resolved):
    csat_configure(admin, channel.inbox)

    resolved()

    survey = CsatSurvey.objects.get()
    [body] = _sends(fake)
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "How would you rate our service?"},
            "action": {
                "button": "Rate",
                "sections": [
                    {
                        "rows": [
                            {"id": f"csat:{survey.pk}:5", "title": "5 \u2013 Excellent"},
                            {"id": f"csat:{survey.pk}:4", "title": "4 \u2013 Good"},
                            {"id": f"csat:{survey.pk}:3", "title": "3 \u2013 Fair"},
                            {"id": f"csat:{survey.pk}:2", "title": "2 \u2013 Poor"},
                            {"id": f"csat:{survey.pk}:1", "title": "1 \u2013 Terrible"},
                        ]
                    }
                ],
            },
        },
        "biz_opaque_callback_data": f"hd:{survey.message_id}",
    }
    assert_valid_send_request(body)
    assert Message.objects.get(pk=survey.message_id).status == "sent"


def test_the_buttons_survey_arrives_at_the_cloud_api_exactly_as_metas_json(admin, channel, fake, resolved):
    csat_configure(
        admin,
        channel.inbox,
        style="buttons",
        texts={"question": {"en": "Did we solve it?"}, "button_bad": {"en": "No"}},
    )

    resolved()

    survey = CsatSurvey.objects.get()
    [body] = _sends(fake)
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Did we solve it?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": f"csat:{survey.pk}:5", "title": "Great"}},
                    {"type": "reply", "reply": {"id": f"csat:{survey.pk}:3", "title": "Okay"}},
                    {"type": "reply", "reply": {"id": f"csat:{survey.pk}:1", "title": "No"}},
                ]
            },
        },
        "biz_opaque_callback_data": f"hd:{survey.message_id}",
    }
    assert_valid_send_request(body)


def test_the_customers_tap_in_the_simulator_stores_the_rating_once(admin, channel, fake, resolved, webhook):
    csat_configure(admin, channel.inbox)
    conversation = resolved()
    survey = CsatSurvey.objects.get()
    survey_wamid = Message.objects.get(pk=survey.message_id).external_id

    tap = {"id": f"csat:{survey.pk}:4", "title": "4 \u2013 Good", "context_message_id": survey_wamid}
    written = fake.inbound(phone_number_id=PHONE_NUMBER_ID, **{"from": CUSTOMER}, list_reply=tap)
    payload = written["webhook"]
    assert payload["entry"][0]["changes"][0]["value"]["messages"][0]["interactive"] == {
        "type": "list_reply",
        "list_reply": {"id": f"csat:{survey.pk}:4", "title": "4 \u2013 Good"},
    }
    assert webhook.post(channel, payload).status_code == 200
    assert webhook.post(channel, payload).status_code == 200  # Meta's retry: the same body

    response = CsatResponse.objects.get()
    assert (response.survey_id, response.rating, response.conversation_id) == (survey.pk, 4, conversation.pk)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.unread_count) == ("resolved", 0)
    assert Conversation.objects.count() == 1
    thanks = _sends(fake)[-1]
    assert (thanks["type"], thanks["text"]["body"]) == ("text", "Thank you for your rating!")

    # A second tap (another rating, another message) changes nothing and sends nothing.
    again = fake.inbound(
        phone_number_id=PHONE_NUMBER_ID, **{"from": CUSTOMER}, list_reply={**tap, "id": f"csat:{survey.pk}:1"}
    )
    sent = len(_sends(fake))
    assert webhook.post(channel, again["webhook"]).status_code == 200

    assert list(CsatResponse.objects.values_list("rating", flat=True)) == [4]
    assert len(_sends(fake)) == sent
    assert Conversation.objects.count() == 1
