"""The account's messaging limit and the number's quality: read from the phone-number API (the fake's tier,
set through its admin settings), moved by Meta's account webhooks, and offered to the core as the channel's
optional capability."""

from __future__ import annotations

import json

import httpx
import pytest

from conversations import channels
from tests.whatsapp.conftest import WABA_ID, make_channel
from whatsapp import client as wa_client
from whatsapp import messaging_limits
from whatsapp.fake import FakeAdminClient, FakeCloudApiServer
from whatsapp.models import WebhookEvent, WhatsAppChannel
from whatsapp.payloads import parse_webhook
from whatsapp.processing import webhook_event_process
from whatsapp.types import AccountUpdate

pytestmark = pytest.mark.django_db


def _envelope(field: str, value: dict) -> bytes:
    change = {"field": field, "value": value}
    body = {"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "time": 1764000000, "changes": [change]}]}
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("tier", "limit"),
    [("TIER_250", 250), ("TIER_2K", 2000), ("TIER_1K", 1000), ("TIER_10K", 10_000), ("TIER_100K", 100_000),
     ("TIER_UNLIMITED", None), ("", 250), ("TIER_SOMETHING_NEW", 250)],
)  # fmt: skip
def test_the_channel_tells_the_core_its_messaging_limit_and_an_unread_tier_is_the_smallest(tenant, tier, limit):
    channel = make_channel(tenant)
    WhatsAppChannel.objects.filter(pk=channel.pk).update(messaging_limit_tier=tier, quality_rating="YELLOW")
    assert channels.messaging_limit_of(channel.inbox) == limit
    assert channels.quality_of(channel.inbox) == "YELLOW"


def test_a_number_whose_quality_was_never_read_is_unknown(tenant):
    channel = make_channel(tenant)
    assert channels.quality_of(channel.inbox) == "UNKNOWN"


def test_the_tier_set_at_the_fake_is_read_into_the_channel(tenant, settings):
    with FakeCloudApiServer() as server:
        settings.WHATSAPP_API_BASE_URL = server.base_url
        wa_client._transport_override.pop("transport", None)
        admin = FakeAdminClient(server.base_url)
        channel = make_channel(tenant, access_token="limits-token")
        admin.register_number(
            phone_number_id=channel.phone_number_id,
            display_phone_number="5511900000001",
            waba_id=WABA_ID,
            access_token="limits-token",
            app_secret="x",
        )
        admin.settings(
            phone_numbers={channel.phone_number_id: {"messaging_limit_tier": "TIER_250", "quality_rating": "RED"}}
        )
        assert messaging_limits.channel_limits_refresh(channel=channel) is True
        channel.refresh_from_db()
        assert (channel.messaging_limit_tier, channel.quality_rating) == ("TIER_250", "RED")
        assert channel.limits_checked_at is not None

        admin.settings(
            phone_numbers={channel.phone_number_id: {"messaging_limit_tier": "TIER_10K", "quality_rating": "GREEN"}}
        )
        from whatsapp.services import channel_check

        assert channel_check(channel=channel)[0] is True
        channel.refresh_from_db()
        assert (channel.messaging_limit_tier, channel.quality_rating) == ("TIER_10K", "GREEN")
        assert channels.messaging_limit_of(channel.inbox) == 10_000
        with pytest.raises(httpx.HTTPStatusError, match="400"):
            admin.settings(phone_numbers={channel.phone_number_id: {"messaging_limit_tier": "TIER_7"}})
        admin.close()


def test_account_webhooks_are_parsed_into_neutral_updates():
    quality = parse_webhook(
        _envelope(
            "phone_number_quality_update",
            {"display_phone_number": "+55 11 90000-0001", "event": "FLAGGED", "current_limit": "TIER_2K"},
        )
    )
    capability = parse_webhook(
        _envelope(
            "business_capability_update",
            {"max_daily_conversations_per_business": 10000, "max_phone_numbers_per_business": 2},
        )
    )
    older = parse_webhook(_envelope("business_capability_update", {"max_daily_conversation_per_phone": 1000}))
    assert quality.account_updates == [
        AccountUpdate(
            kind="quality",
            waba_id=WABA_ID,
            display_phone_number="5511900000001",
            event="FLAGGED",
            current_limit="TIER_2K",
        )
    ]
    assert capability.account_updates == [AccountUpdate(kind="capability", waba_id=WABA_ID, max_daily=10000)]
    assert older.account_updates == [AccountUpdate(kind="capability", waba_id=WABA_ID, max_daily=1000)]
    assert quality.ignored_fields == capability.ignored_fields == []


def test_a_quality_webhook_moves_the_tier_and_a_flag_makes_the_number_red(
    tenant, monkeypatch, django_capture_on_commit_callbacks
):
    channel = make_channel(tenant)
    other = make_channel(tenant, phone_number_id="106540352242999", display_phone_number="+55 11 90000-0002")
    WhatsAppChannel.objects.filter(pk__in=[channel.pk, other.pk]).update(
        messaging_limit_tier="TIER_250", quality_rating="GREEN"
    )
    refreshed: list[int] = []
    monkeypatch.setattr(
        "whatsapp.processing.task", lambda name: type("T", (), {"delay": staticmethod(refreshed.append)})()
    )
    body = _envelope(
        "phone_number_quality_update",
        {"display_phone_number": "5511900000001", "event": "FLAGGED", "current_limit": "TIER_2K"},
    )
    event = WebhookEvent.objects.create(tenant=tenant, channel=channel, body=body, body_sha256="a" * 64)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_event_process(event_id=event.pk).status == WebhookEvent.Status.PROCESSED
    assert refreshed == [channel.pk]  # the rating itself is read back from the API
    event.refresh_from_db()
    assert event.summary == "1 account update"
    channel.refresh_from_db()
    other.refresh_from_db()
    assert (channel.messaging_limit_tier, channel.quality_rating) == ("TIER_2K", "RED")
    assert (other.messaging_limit_tier, other.quality_rating) == ("TIER_250", "GREEN")

    capability = _envelope("business_capability_update", {"max_daily_conversations_per_business": -1})
    event = WebhookEvent.objects.create(tenant=tenant, channel=channel, body=capability, body_sha256="b" * 64)
    webhook_event_process(event_id=event.pk)
    assert set(WhatsAppChannel.objects.values_list("messaging_limit_tier", flat=True)) == {"TIER_UNLIMITED"}
    assert channels.messaging_limit_of(channel.inbox) is None


def test_metas_own_account_webhooks_parse(tmp_path):
    from tests.whatsapp.conftest import FIXTURES

    quality = parse_webhook((FIXTURES / "phone_number_quality_update.json").read_bytes())
    capability = parse_webhook((FIXTURES / "business_capability_update.json").read_bytes())
    assert quality.account_updates == [
        AccountUpdate(
            kind="quality",
            waba_id="102290129340398",
            display_phone_number="15550783881",
            event="THROUGHPUT_UPGRADE",
            current_limit="TIER_UNLIMITED",
        )
    ]
    assert capability.account_updates == [AccountUpdate(kind="capability", waba_id="102290129340398", max_daily=1000)]
    assert messaging_limits.tier_for_count(1000) == "TIER_1K"
