"""What the template authoring tests share: the fake Cloud API over HTTP with one number of ours (its webhooks
kept, not delivered: tests relay them; no automatic review), and that number's channel. A test module imports
the fixtures by name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.whatsapp.conftest import APP_SECRET, make_channel
from whatsapp import client as wa_client
from whatsapp.fake import AdjustableClock, FakeAdminClient, FakeCloudApiServer
from whatsapp.models import WhatsAppChannel

PNID = "106540352242922"
WABA = "102290129340398"
TOKEN = "fake-token"
APP_ID = "634974688087057"


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeCloudApiServer]:
    with FakeCloudApiServer(clock=AdjustableClock()) as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeCloudApiServer, settings) -> Iterator[FakeAdminClient]:
    settings.WHATSAPP_API_BASE_URL = fake_server.base_url
    settings.WHATSAPP_APP_ID = APP_ID
    wa_client._transport_override.pop("transport", None)
    admin = FakeAdminClient(fake_server.base_url)
    admin.reset()
    admin.settings(review_delay_s=None)
    admin.register_number(
        phone_number_id=PNID,
        display_phone_number="5511900000001",
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=APP_SECRET,
    )
    yield admin
    admin.reset()
    admin.close()


@pytest.fixture
def channel(tenant, fake: FakeAdminClient) -> WhatsAppChannel:
    return make_channel(tenant, phone_number_id=PNID, waba_id=WABA, access_token=TOKEN)
