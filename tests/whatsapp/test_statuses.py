"""Delivery status webhooks: they move outbound messages forward only, in whatever order and however often they come."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.models import Conversation, Message, PendingStatus
from conversations.services.delivery import message_record_sent
from conversations.services.delivery_status import pending_statuses_apply
from conversations.services.inbound import contact_inbox_get_or_create, conversation_get_or_open
from tests.whatsapp.conftest import DELIVERY_FIELDS, load_fixture, make_channel, make_sent_message, retarget
from whatsapp.models import WebhookEvent

pytestmark = pytest.mark.django_db

_seq = itertools.count(1)
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJBQkNERUYwMTIzNDU2Nzg5AA=="
SENT_AT = datetime(2025, 6, 15, 23, 27, 53, tzinfo=UTC)  # 1750030073
DELIVERED_AT = datetime(2025, 6, 15, 23, 28, 0, tzinfo=UTC)  # 1750030080
READ_AT = datetime(2025, 6, 15, 23, 30, 0, tzinfo=UTC)  # 1750030200
TIMESTAMPS = {"sent": "1750030073", "delivered": "1750030080", "read": "1750030200"}
FIXTURE_FOR = {"sent": "status_sent.json", "delivered": "status_delivered.json", "read": "status_read.json"}
PMP_MARKETING = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"}
HYPOTHESIS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)


def outbound_message(channel, *, external_id: str | None, status: str = Message.Status.SENT) -> Message:
    """An agent's text in a fresh conversation of ``channel`` (a new customer each time)."""
    return make_sent_message(channel, source_id=f"1650555{next(_seq):04d}", external_id=external_id, status=status)


def status_payload(channel, fixture: str, *, wamid: str, envelope_time: int | None = None, **changes) -> dict[str, Any]:
    payload = retarget(load_fixture(fixture), phone_number_id=channel.phone_number_id, waba_id=channel.waba_id)
    payload["entry"][0]["changes"][0]["value"]["statuses"][0].update(id=wamid, **changes)
    if envelope_time is not None:
        payload["entry"][0]["time"] = envelope_time  # the same status in another body: not deduplicated by hash
    return payload


def post_ok(webhook, channel, payload) -> None:
    response = webhook.post(channel, payload)
    assert (response.status_code, response.content) == (200, b"ok")
    assert not WebhookEvent.objects.exclude(status=WebhookEvent.Status.PROCESSED).exists()


def delivery_state(message: Message) -> dict[str, Any]:
    message.refresh_from_db()
    return {name: getattr(message, name) for name in DELIVERY_FIELDS}


def test_sent_delivered_read_move_the_message_forward(webhook, channel):
    message = outbound_message(channel, external_id=WAMID)
    base = {"failed_at": None, "error_code": None, "error_title": "", "error_details": "", "external_id": WAMID}

    post_ok(webhook, channel, status_payload(channel, "status_sent.json", wamid=WAMID, timestamp=TIMESTAMPS["sent"]))
    # Already "sent" from the send response: only the time is filled in (and the pricing, which nothing had yet).
    assert delivery_state(message) == base | {
        "status": "sent",
        "sent_at": SENT_AT,
        "delivered_at": None,
        "read_at": None,
        "pricing": PMP_MARKETING,
    }

    post_ok(webhook, channel, status_payload(channel, "status_delivered.json", wamid=WAMID, timestamp="1750030080"))
    assert delivery_state(message) == base | {
        "status": "delivered",
        "sent_at": SENT_AT,
        "delivered_at": DELIVERED_AT,
        "read_at": None,
        "pricing": PMP_MARKETING,
    }

    post_ok(webhook, channel, status_payload(channel, "status_read.json", wamid=WAMID, timestamp="1750030200"))
    assert delivery_state(message) == base | {
        "status": "read",
        "sent_at": SENT_AT,
        "delivered_at": DELIVERED_AT,
        "read_at": READ_AT,
        "pricing": PMP_MARKETING,
    }
    assert not PendingStatus.objects.exists()


@pytest.mark.parametrize(
    ("fixture", "error_code", "error_title", "error_details", "failed_at"),
    [
        (
            "status_failed_131047.json",
            131047,
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this "
            "number.",
            datetime(2024, 2, 22, 12, 9, 6, tzinfo=UTC),
        ),
        (
            "status_failed_131026.json",
            131026,
            "Message undeliverable",
            "Message Undeliverable.",
            datetime(2025, 6, 28, 20, 34, 48, tzinfo=UTC),
        ),
        (
            "status_failed_131049.json",
            131049,
            "This message was not delivered to maintain healthy ecosystem engagement.",
            "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
            datetime(2025, 6, 28, 20, 34, 48, tzinfo=UTC),
        ),
        (
            "status_failed_130472.json",
            130472,
            "User's number is part of an experiment",
            "Failed to send message because this user's phone number is part of an experiment",
            datetime(2023, 7, 15, 0, 20, 58, tzinfo=UTC),
        ),
        (
            "status_failed_131053_media.json",
            131053,
            "Media upload error",
            "Downloading media from weblink failed with http code 429, status message Too Many Requests",
            datetime(2025, 6, 28, 20, 34, 48, tzinfo=UTC),
        ),
    ],
    ids=["131047", "131026", "131049", "130472", "131053"],
)
def test_failed_status_records_the_error_exactly(
    webhook, channel, fixture, error_code, error_title, error_details, failed_at
):
    message = outbound_message(channel, external_id=WAMID)

    post_ok(webhook, channel, status_payload(channel, fixture, wamid=WAMID))

    assert delivery_state(message) == {
        "status": "failed",
        "sent_at": None,
        "delivered_at": None,
        "read_at": None,
        "failed_at": failed_at,
        "error_code": error_code,
        "error_title": error_title,
        "error_details": error_details,
        "pricing": None,
        "external_id": WAMID,
    }


def test_failed_is_terminal(webhook, channel):
    message = outbound_message(channel, external_id=WAMID)
    post_ok(webhook, channel, status_payload(channel, "status_failed_131026.json", wamid=WAMID))
    for status in ("sent", "delivered", "read"):
        post_ok(
            webhook, channel, status_payload(channel, FIXTURE_FOR[status], wamid=WAMID, timestamp=TIMESTAMPS[status])
        )

    state = delivery_state(message)
    assert (state["status"], state["error_code"], state["delivered_at"], state["read_at"]) == (
        "failed",
        131026,
        None,
        None,
    )


def test_failure_after_delivery_is_ignored(webhook, channel):
    message = outbound_message(channel, external_id=WAMID)
    post_ok(webhook, channel, status_payload(channel, "status_delivered.json", wamid=WAMID, timestamp="1750030080"))

    post_ok(webhook, channel, status_payload(channel, "status_failed_131026.json", wamid=WAMID))

    state = delivery_state(message)
    assert (state["status"], state["delivered_at"], state["failed_at"], state["error_code"], state["error_title"]) == (
        "delivered",
        DELIVERED_AT,
        None,
        None,
        "",
    )


def test_late_delivered_after_read_keeps_read_but_records_its_time(webhook, channel):
    message = outbound_message(channel, external_id=WAMID)
    post_ok(webhook, channel, status_payload(channel, "status_read.json", wamid=WAMID, timestamp="1750030200"))

    post_ok(webhook, channel, status_payload(channel, "status_delivered.json", wamid=WAMID, timestamp="1750030080"))

    assert delivery_state(message) == {
        "status": "read",
        "sent_at": None,
        "delivered_at": DELIVERED_AT,
        "read_at": READ_AT,
        "failed_at": None,
        "error_code": None,
        "error_title": "",
        "error_details": "",
        # Meta prices on one of delivered/read: the late delivered's pricing is the only one there is.
        "pricing": PMP_MARKETING,
        "external_id": WAMID,
    }


def test_played_voice_note_moves_past_read(webhook, channel):
    message = outbound_message(channel, external_id=WAMID)
    post_ok(webhook, channel, status_payload(channel, "status_read.json", wamid=WAMID, timestamp="1689380400"))

    post_ok(webhook, channel, status_payload(channel, "status_played.json", wamid=WAMID))
    post_ok(webhook, channel, status_payload(channel, "status_read_cbp_legacy.json", wamid=WAMID))

    state = delivery_state(message)
    assert (state["status"], state["read_at"], state["pricing"]) == (
        "played",
        datetime(2023, 7, 15, 0, 20, 0, tzinfo=UTC),
        {"billable": True, "pricing_model": "CBP", "category": "service"},
    )


def test_statuses_for_an_unknown_wamid_wait_and_apply_when_the_send_is_recorded(webhook, channel):
    message = outbound_message(channel, external_id=None, status=Message.Status.SENDING)
    post_ok(webhook, channel, status_payload(channel, "status_read.json", wamid=WAMID, timestamp="1750030200"))
    post_ok(webhook, channel, status_payload(channel, "status_delivered.json", wamid=WAMID, timestamp="1750030080"))

    assert sorted(
        PendingStatus.objects.values_list(
            "tenant_id", "inbox_id", "external_id", "status", "occurred_at", "error_code", "pricing"
        )
    ) == [
        (channel.tenant_id, channel.inbox_id, WAMID, "delivered", DELIVERED_AT, None, PMP_MARKETING),
        (channel.tenant_id, channel.inbox_id, WAMID, "read", READ_AT, None, None),
    ]
    assert delivery_state(message)["status"] == "sending"

    message_record_sent(message, WAMID)

    state = delivery_state(message)
    assert (state["status"], state["external_id"], state["delivered_at"], state["read_at"], state["pricing"]) == (
        "read",
        WAMID,
        DELIVERED_AT,
        READ_AT,
        PMP_MARKETING,
    )
    assert state["sent_at"] is not None
    assert not PendingStatus.objects.exists()


def test_pending_failure_applies_to_a_message_that_appears_later(webhook, channel):
    post_ok(webhook, channel, status_payload(channel, "status_failed_131047.json", wamid=WAMID))
    assert PendingStatus.objects.values_list("status", "error_code", "error_title").get() == (
        "failed",
        131047,
        "Re-engagement message",
    )
    message = outbound_message(channel, external_id=WAMID)

    pending_statuses_apply(message=message)

    state = delivery_state(message)
    assert (state["status"], state["error_code"], state["error_title"], state["failed_at"]) == (
        "failed",
        131047,
        "Re-engagement message",
        datetime(2024, 2, 22, 12, 9, 6, tzinfo=UTC),
    )
    assert not PendingStatus.objects.exists()


def test_callback_data_names_our_message_before_its_wamid_is_known(webhook, channel):
    message = outbound_message(channel, external_id=None, status=Message.Status.SENDING)

    post_ok(
        webhook,
        channel,
        status_payload(
            channel,
            "status_sent_biz_opaque_callback_data.json",
            wamid=WAMID,
            biz_opaque_callback_data=f"hd:{message.pk}",
        ),
    )

    assert delivery_state(message) == {
        "status": "sent",
        "sent_at": datetime(2023, 10, 25, 20, 49, 5, tzinfo=UTC),
        "delivered_at": None,
        "read_at": None,
        "failed_at": None,
        "error_code": None,
        "error_title": "",
        "error_details": "",
        "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"},
        "external_id": WAMID,
    }
    assert not PendingStatus.objects.exists()


@pytest.mark.parametrize("callback", ["some data", "hd:other-channel", "hd:999999"])
def test_callback_data_that_is_not_one_of_our_messages_waits(webhook, channel, tenant, callback):
    mine = outbound_message(channel, external_id=None, status=Message.Status.SENDING)
    other = outbound_message(make_channel(tenant, phone_number_id="200000000000001"), external_id=None)
    callback = callback.replace("other-channel", str(other.pk))

    post_ok(
        webhook,
        channel,
        status_payload(
            channel, "status_sent_biz_opaque_callback_data.json", wamid=WAMID, biz_opaque_callback_data=callback
        ),
    )

    assert list(Message.objects.filter(pk__in=[mine.pk, other.pk]).values_list("external_id", flat=True)) == [
        None,
        None,
    ]
    assert PendingStatus.objects.values_list("external_id", "status").get() == (WAMID, "sent")


# Every delivery status, for the property below: played (a voice note) carries pricing like sent and delivered.
PROPERTY_FIXTURE = FIXTURE_FOR | {"played": "status_played.json", "failed": "status_failed_131026.json"}
PLAYED_TIMESTAMP = "1750030300"
FAILED_TIMESTAMPS = {"before delivered": "1750030076", "after read": "1750030250"}
PROGRESS = ("delivered", "read", "played")


@HYPOTHESIS
@given(data=st.data())
def test_any_order_repetition_and_timing_of_statuses_ends_at_the_furthest_allowed(webhook, channel, data):
    """The forward-only rule: a status moves the message only to a higher rank (sent < delivered < read <
    played); a failure counts only while the message is no further than sent, and then nothing moves it
    again. So the final status is "failed" when a failure is applied before any delivered, read or
    played, and otherwise the furthest status received. Statuses that arrive before the send is recorded
    wait, and are applied in the order of their timestamps once it is."""
    wamid = f"wamid.property-{next(_seq)}"
    copies = {status: data.draw(st.integers(0, 3), label=f"copies of {status}") for status in PROPERTY_FIXTURE}
    failed_timestamp = FAILED_TIMESTAMPS[data.draw(st.sampled_from(sorted(FAILED_TIMESTAMPS)), label="failure")]
    timestamps = TIMESTAMPS | {"played": PLAYED_TIMESTAMP, "failed": failed_timestamp}
    deliveries = data.draw(
        st.permutations([(status, k) for status, n in copies.items() for k in range(n)]), label="arrival order"
    )
    known_from_start = data.draw(st.booleans(), label="wamid known from the start")
    record_after = None if known_from_start else data.draw(st.integers(0, len(deliveries)), label="send recorded after")
    message = outbound_message(
        channel,
        external_id=wamid if known_from_start else None,
        status=Message.Status.SENT if known_from_start else Message.Status.SENDING,
    )

    for position, (status, k) in enumerate(deliveries):
        if position == record_after:
            message_record_sent(message, wamid)
        # The 1st and 3rd copies are byte-identical (Meta's retry); the 2nd comes in another envelope.
        envelope_time = 1750030000 + k if k == 1 else None
        changes: dict[str, Any] = {"timestamp": timestamps[status]}
        if status == "played":
            changes["pricing"] = PMP_MARKETING
        payload = status_payload(channel, PROPERTY_FIXTURE[status], wamid=wamid, envelope_time=envelope_time, **changes)
        post_ok(webhook, channel, payload)
    if record_after == len(deliveries):
        message_record_sent(message, wamid)

    arrived = [status for status, _k in deliveries]
    if known_from_start:
        applied = arrived
    else:
        waited = sorted(arrived[:record_after], key=lambda status: int(timestamps[status]))
        applied = waited + arrived[record_after:]
    failure = applied.index("failed") if "failed" in applied else None
    first_progress = next((i for i, status in enumerate(applied) if status in PROGRESS), None)
    if failure is not None and (first_progress is None or failure < first_progress):
        # Only "sent" can have come before it; what comes after is not recorded.
        before = applied[:failure]
        expected = {
            "status": "failed",
            "delivered_at": None,
            "read_at": None,
            "failed_at": datetime.fromtimestamp(int(failed_timestamp), tz=UTC),
            "error_code": 131026,
            "error_title": "Message undeliverable",
            "pricing": PMP_MARKETING if "sent" in before else None,
        }
    else:
        # Statuses that come late still leave their time and pricing; a late failure leaves nothing.
        before = applied
        expected = {
            "status": max(["sent", *(s for s in applied if s != "failed")], key=Message.STATUS_RANK.__getitem__),
            "delivered_at": DELIVERED_AT if "delivered" in applied else None,
            "read_at": READ_AT if "read" in applied else None,
            "failed_at": None,
            "error_code": None,
            "error_title": "",
            "pricing": PMP_MARKETING if {"sent", "delivered", "played"} & set(applied) else None,
        }
    state = delivery_state(message)
    assert {name: state[name] for name in expected} == expected
    if known_from_start:
        # The message had no send time of its own: a "sent" status applied before any failure gives it one.
        assert state["sent_at"] == (SENT_AT if "sent" in before else None)
    else:
        assert state["sent_at"] is not None  # recorded with the send
    assert Message.objects.filter(external_id=wamid).count() == 1
    assert Message.objects.filter(conversation_id=message.conversation_id).count() == 1
    assert not PendingStatus.objects.filter(external_id=wamid).exists()


@HYPOTHESIS
@given(data=st.data())
def test_repeated_inbound_message_interleaved_with_statuses_is_stored_once(webhook, channel, data):
    n = next(_seq)
    wa_id, inbound_wamid, outbound_wamid = f"1650777{n:04d}", f"wamid.in-{n}", f"wamid.out-{n}"
    contact_inbox = contact_inbox_get_or_create(inbox=channel.inbox, source_id=wa_id)
    conversation, _opened = conversation_get_or_open(contact_inbox=contact_inbox)
    reply = Message.objects.create(
        tenant_id=channel.tenant_id,
        conversation=conversation,
        inbox=channel.inbox,
        direction=Message.Direction.OUTBOUND,
        sender_type=Message.SenderType.AGENT,
        text="Hello! How can we help?",
        external_id=outbound_wamid,
        status=Message.Status.SENT,
    )
    events = [("inbound", k) for k in range(data.draw(st.integers(1, 3), label="copies of the inbound message"))]
    events += [(status, k) for status in FIXTURE_FOR for k in range(data.draw(st.integers(1, 3), label=status))]

    for kind, k in data.draw(st.permutations(events), label="arrival order"):
        envelope_time = 1750030000 + k if k == 1 else None
        if kind == "inbound":
            payload = retarget(load_fixture("inbound_text.json"), phone_number_id=channel.phone_number_id)
            value = payload["entry"][0]["changes"][0]["value"]
            value["contacts"][0]["wa_id"] = wa_id
            value["messages"][0].update({"from": wa_id, "id": inbound_wamid})
            if envelope_time is not None:
                payload["entry"][0]["time"] = envelope_time
        else:
            payload = status_payload(
                channel,
                FIXTURE_FOR[kind],
                wamid=outbound_wamid,
                timestamp=TIMESTAMPS[kind],
                envelope_time=envelope_time,
            )
        post_ok(webhook, channel, payload)

    inbound = Message.objects.get(external_id=inbound_wamid)
    assert (inbound.direction, inbound.conversation_id, inbound.text) == (
        "in",
        conversation.pk,
        "Does it come in another color?",
    )
    assert Message.objects.filter(conversation=conversation).count() == 2
    assert Conversation.objects.filter(contact_inbox=contact_inbox).count() == 1
    state = delivery_state(reply)
    assert (state["status"], state["sent_at"], state["delivered_at"], state["read_at"]) == (
        "read",
        SENT_AT,
        DELIVERED_AT,
        READ_AT,
    )


def test_a_batch_of_statuses_writes_one_statement_per_distinct_change(channel):
    """Statuses of a batch are applied in memory on their locked messages and written together: the
    20 "delivered" of one second with the same pricing are one UPDATE, the odd one out another."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conversations.services.delivery_status import StatusSpec, message_statuses_update

    messages = [outbound_message(channel, external_id=f"wamid.batch{i}") for i in range(21)]
    specs = [
        StatusSpec(external_id=m.external_id, status="delivered", occurred_at=DELIVERED_AT, pricing=PMP_MARKETING)
        for m in messages[:20]
    ]
    specs.append(StatusSpec(external_id=messages[20].external_id, status="read", occurred_at=READ_AT))
    with CaptureQueriesContext(connection) as captured:
        results = message_statuses_update(inbox=channel.inbox, specs=specs)
    updates = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 2
    assert [r.pk if r else None for r in results] == [m.pk for m in messages]
    expected = dict.fromkeys(DELIVERY_FIELDS, None) | {"status": "sent", "error_title": "", "error_details": ""}
    assert [delivery_state(m) for m in messages[:20]] == [
        expected
        | {"status": "delivered", "delivered_at": DELIVERED_AT, "pricing": PMP_MARKETING, "external_id": m.external_id}
        for m in messages[:20]
    ]
    assert delivery_state(messages[20]) == expected | {
        "status": "read", "read_at": READ_AT, "external_id": messages[20].external_id
    }  # fmt: skip
