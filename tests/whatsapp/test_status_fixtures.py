"""Every status webhook fixture, signed and posted through the real endpoint, and the exact rows it leaves.

Each fixture is posted twice over: once for an outbound message of ours that Meta accepted (status "sent"),
and once before any message carries its id (the status waits as a ``PendingStatus``). Meta's
``conversation`` object (the pricing of the conversation-based era) is not stored; ``pricing`` is.
The expected values are written out by hand from the fixtures (CONTRACT §2.5), never recomputed from the parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from conversations.models import Message, PendingStatus
from tests.whatsapp.conftest import DELIVERY_FIELDS, FIXTURES, load_fixture, make_sent_message, retarget
from whatsapp.models import WebhookEvent
from whatsapp.signature import encode_like_meta

pytestmark = pytest.mark.django_db

META_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
FAILED_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA"
PYWA_WAMID = "wamid.xyzxyz"
PMP_MARKETING = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"}
CBP_SERVICE = {"billable": True, "pricing_model": "CBP", "category": "service"}
PAYMENT_ID = "gBGGFlB5YjhvAgnhuF1qIUvCo7A"


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@dataclass(frozen=True)
class Case:
    """What one status fixture must leave behind."""

    fixture: str
    external_id: str
    status: str
    at: datetime
    pricing: dict[str, Any] | None = None
    error_code: int | None = None
    error_title: str = ""
    error_details: str = ""
    # A status of a message sent to a group: we only ever send to one customer, so it never names a message of ours.
    group: bool = False


CASES = [
    Case("status_sent.json", META_WAMID, "sent", at(1750030073), PMP_MARKETING),
    Case("status_delivered.json", META_WAMID, "delivered", at(1750030073), PMP_MARKETING),
    Case("status_read.json", META_WAMID, "read", at(1750030073)),
    # Meta's v24 example literally says "sent" (CONTRACT §10), without pricing.
    Case("status_minimal_v24_doc.json", META_WAMID, "sent", at(1750030073)),
    Case("status_sent_cbp_legacy.json", PYWA_WAMID, "sent", at(1698266945), CBP_SERVICE),
    Case("status_delivered_cbp_legacy.json", PYWA_WAMID, "delivered", at(1698266945), CBP_SERVICE),
    Case("status_read_cbp_legacy.json", PYWA_WAMID, "read", at(1689380458), CBP_SERVICE),
    Case("status_played.json", PYWA_WAMID, "played", at(1689380458), CBP_SERVICE),
    # "some data" is not our callback data: the status is matched by its wamid only.
    Case("status_sent_biz_opaque_callback_data.json", PYWA_WAMID, "sent", at(1698266945), CBP_SERVICE),
    Case("status_read_group.json", "<WHATSAPP_MESSAGE_ID>", "read", at(1698266945), group=True),
    Case(
        "status_failed_130472.json",
        PYWA_WAMID,
        "failed",
        at(1689380458),
        error_code=130472,
        error_title="User's number is part of an experiment",
        error_details="Failed to send message because this user's phone number is part of an experiment",
    ),
    Case(
        "status_failed_131026.json",
        FAILED_WAMID,
        "failed",
        at(1751142888),
        error_code=131026,
        error_title="Message undeliverable",
        error_details="Message Undeliverable.",
    ),
    Case(
        "status_failed_131047.json",
        "wamid.HBgNNDkxNTE1NjA4MDY5OBUCABEYEjNFQjBDMUM4M0I5NDRFNThBMUQA",
        "failed",
        at(1708603746),
        error_code=131047,
        error_title="Re-engagement message",
        error_details="Message failed to send because more than 24 hours have passed since the customer last "
        "replied to this number.",
    ),
    Case(
        "status_failed_131049.json",
        FAILED_WAMID,
        "failed",
        at(1751142888),
        error_code=131049,
        error_title="This message was not delivered to maintain healthy ecosystem engagement.",
        error_details="In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    ),
    Case(
        "status_failed_131053_media.json",
        FAILED_WAMID,
        "failed",
        at(1751142888),
        error_code=131053,
        error_title="Media upload error",
        error_details="Downloading media from weblink failed with http code 429, status message Too Many Requests",
    ),
]
# Not a delivery status: India's payment updates (see test_payment_status_is_recorded_and_changes_no_message).
PAYMENT_FIXTURE = "status_payment_india.json"
TIMESTAMP_FIELD = {"sent": "sent_at", "delivered": "delivered_at", "read": "read_at", "failed": "failed_at"}
PENDING_FIELDS = [
    "tenant_id",
    "inbox_id",
    "external_id",
    "status",
    "occurred_at",
    "error_code",
    "error_title",
    "error_details",
    "pricing",
]


def params(cases: list[Case]) -> list[Any]:
    return [pytest.param(case, id=case.fixture.removesuffix(".json")) for case in cases]


def post_processed(webhook, channel, fixture: str) -> WebhookEvent:
    payload = retarget(load_fixture(fixture), phone_number_id=channel.phone_number_id, waba_id=channel.waba_id)
    response = webhook.post(channel, payload)
    assert (response.status_code, response.content) == (200, b"ok")
    event = WebhookEvent.objects.get()
    assert (event.status, event.error, event.attempts, event.tenant_id) == ("processed", "", 1, channel.tenant_id)
    return event


def sent_message(channel, external_id: str, status: str = Message.Status.SENT) -> Message:
    """An agent's text that Meta accepted as ``external_id``."""
    return make_sent_message(channel, source_id="16505551234", external_id=external_id, status=status)


def values(obj: Any, names: list[str]) -> dict[str, Any]:
    obj.refresh_from_db()
    return {name: getattr(obj, name) for name in names}


def webhook_body(channel, fixture: str) -> bytes:
    payload = retarget(load_fixture(fixture), phone_number_id=channel.phone_number_id, waba_id=channel.waba_id)
    return encode_like_meta(payload)


def test_every_status_fixture_has_expectations():
    on_disk = {path.name for path in FIXTURES.glob("status_*.json")}
    assert on_disk == {case.fixture for case in CASES} | {PAYMENT_FIXTURE}


@pytest.mark.parametrize("case", params([case for case in CASES if not case.group]))
def test_status_fixture_moves_our_sent_message_exactly(webhook, channel, case):
    message = sent_message(channel, case.external_id)

    event = post_processed(webhook, channel, case.fixture)

    assert event.summary == "1 status"
    expected = dict.fromkeys(DELIVERY_FIELDS) | {
        "status": case.status,
        "external_id": case.external_id,
        "error_code": case.error_code,
        "error_title": case.error_title,
        "error_details": case.error_details,
        "pricing": case.pricing,
    }
    if case.status in TIMESTAMP_FIELD:  # "played" has no time of its own
        expected[TIMESTAMP_FIELD[case.status]] = case.at
    assert values(message, DELIVERY_FIELDS) == expected
    assert not PendingStatus.objects.exists()
    assert Message.objects.count() == 1


@pytest.mark.parametrize("case", params(CASES))
def test_status_fixture_before_its_message_waits_exactly(webhook, channel, case):
    event = post_processed(webhook, channel, case.fixture)

    assert event.summary == "1 status"
    assert [values(p, PENDING_FIELDS) for p in PendingStatus.objects.all()] == [
        {
            "tenant_id": channel.tenant_id,
            "inbox_id": channel.inbox_id,
            "external_id": case.external_id,
            "status": case.status,
            "occurred_at": case.at,
            "error_code": case.error_code,
            "error_title": case.error_title,
            "error_details": case.error_details,
            "pricing": case.pricing,
        }
    ]
    assert not Message.objects.exists()


def test_a_group_status_leaves_our_message_to_the_participant_as_it_was(webhook, channel):
    # Our own message to the participant has its own wamid: the group's read receipt is not about it.
    message = sent_message(channel, META_WAMID)

    post_processed(webhook, channel, "status_read_group.json")

    assert values(message, DELIVERY_FIELDS) == dict.fromkeys(DELIVERY_FIELDS) | {
        "status": "sent",
        "external_id": META_WAMID,
        "error_title": "",
        "error_details": "",
    }
    assert PendingStatus.objects.values_list("external_id", "status").get() == ("<WHATSAPP_MESSAGE_ID>", "read")


def test_payment_status_is_recorded_and_changes_no_message(webhook, channel):
    # The payment update names the order message it is about, which was delivered.
    order = sent_message(channel, PAYMENT_ID, status=Message.Status.DELIVERED)

    event = post_processed(webhook, channel, PAYMENT_FIXTURE)

    assert event.summary == "ignored: statuses:payment"
    assert bytes(event.body) == webhook_body(channel, PAYMENT_FIXTURE)
    assert values(order, DELIVERY_FIELDS) == dict.fromkeys(DELIVERY_FIELDS) | {
        "status": "delivered",
        "external_id": PAYMENT_ID,
        "error_title": "",
        "error_details": "",
    }
    assert not PendingStatus.objects.exists()
    assert Message.objects.count() == 1
