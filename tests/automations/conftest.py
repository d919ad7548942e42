from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from automations.greeting_services import GreetingSpec, greeting_settings_update
from conversations.models import Conversation, Message
from conversations.services import delivery_jobs
from conversations.services.inbound import InboundSpec, message_receive
from tests.automations.factories import make_calendar
from tests.whatsapp.conftest import APP_SECRET, PHONE_NUMBER_ID, WABA_ID, WebhookPoster, make_channel
from whatsapp import client as wa_client
from whatsapp import limiter
from whatsapp.fake import AdjustableClock, FakeAdminClient, FakeCloudApiServer

_wamids = itertools.count(1)
CUSTOMER = "5511987654321"


@dataclass
class Clock:
    """The product's clock as a test moves it: ``timezone.now`` and the default times of new rows."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    # Friday 2026-09-04, 20:00 in São Paulo: closed until Tuesday 09:00 (Monday 7 September is a holiday).
    moment = Clock(datetime(2026, 9, 4, 23, 0, tzinfo=UTC))
    monkeypatch.setattr("django.utils.timezone.now", moment)
    for model, name in ((Message, "occurred_at"), (Conversation, "last_activity_at")):
        monkeypatch.setattr(model._meta.get_field(name), "_get_default", moment)
    return moment


@dataclass
class Sends:
    """The deliveries asked for after commit, in order (nothing goes out to a channel)."""

    message_ids: list[int]


@pytest.fixture
def sends(monkeypatch) -> Sends:
    asked = Sends([])
    monkeypatch.setattr(delivery_jobs, "send_ahead_request", lambda *, message_id: asked.message_ids.append(message_id))
    monkeypatch.setattr(
        delivery_jobs, "send_request", lambda *, message_id, inbox_id: asked.message_ids.append(message_id)
    )
    return asked


@pytest.fixture
def channel(tenant):
    return make_channel(tenant)


@pytest.fixture
def office_hours(admin, channel):
    """Weekdays 09:00-12:00 and 13:00-18:00 in São Paulo, closed on Brazil's holidays, kept by the inbox."""
    return make_calendar(admin, inbox_ids=(channel.inbox_id,))


@pytest.fixture
def customer_writes(channel, django_capture_on_commit_callbacks):
    """The customer sends a text; the subscribers run after the commit, as they would in their job."""

    def write(
        text: str = "Oi", *, at: datetime | None = None, wamid: str = "", source_id: str = CUSTOMER, name: str = "Maria"
    ) -> Message:
        spec = InboundSpec(
            source_id=source_id,
            external_id=wamid or f"wamid.greeting-{next(_wamids)}",
            occurred_at=at or timezone.now(),
            type="text",
            text=text,
            profile_name=name,
        )
        with django_capture_on_commit_callbacks(execute=True):
            message, _created = message_receive(inbox=channel.inbox, spec=spec)
        return message

    return write


@dataclass
class Batches:
    """Customer messages whose subscribers' deliveries are held back, then handed to each subscriber in one
    job (as a worker's drain does with a burst); the statements of the last job of each subscriber."""

    statements: dict[str, int]


@pytest.fixture
def in_one_job(django_capture_on_commit_callbacks, monkeypatch):
    """``in_one_job(write)``: what ``write()`` stores is delivered afterwards, each subscriber's deliveries
    in one job (in the order the subscribers were first due); what those jobs cause is delivered at once."""
    from django.db import connection

    from conversations.events import outbox
    from conversations.events.delivery import event_deliveries_deliver
    from conversations.models import EventDelivery

    def run(write, *, subscribers: tuple[str, ...] | None = None) -> Batches:
        with monkeypatch.context() as held:
            held.setattr(outbox, "subscribers_wake", lambda groups, names: None)
            write()
        pending = EventDelivery.objects.filter(state=EventDelivery.State.PENDING).order_by("pk")
        groups: dict[str, list[int]] = {}
        for pk, subscriber in pending.values_list("pk", "subscriber"):
            if subscribers is None or subscriber in subscribers:
                groups.setdefault(subscriber, []).append(pk)
        counted = Batches({})
        for subscriber, ids in groups.items():
            calls = [0]

            def count(execute, sql, params, many, context, calls=calls):
                calls[0] += 1
                return execute(sql, params, many, context)

            with django_capture_on_commit_callbacks(execute=True), connection.execute_wrapper(count):
                outcome = event_deliveries_deliver(delivery_ids=ids)
            assert set(outcome.values()) == {"done"}, outcome
            counted.statements[subscriber] = calls[0]
        return counted

    return run


GREETING = {
    "en": "Hi {{contact.first_name}}, welcome to {{inbox.name}}!",
    "pt-br": "Olá {{contact.first_name}}, boas-vindas ao {{inbox.name}}!",
}
AWAY = {"en": "We are closed. We open {{next_open}}.", "pt-br": "Estamos fechados. Abrimos {{next_open}}."}


@pytest.fixture
def configure(admin, channel):
    """Save the inbox's greeting and away settings through the service, as the page does."""

    def save(**fields) -> None:
        values = {"greeting_texts": GREETING, "away_texts": AWAY, **fields}
        greeting_settings_update(actor=admin, inbox=channel.inbox, spec=GreetingSpec(**values))

    return save


# --- the fake Cloud API, in this process, for the tests that send to it over HTTP ----------------------

FAKE_TOKEN = "test-access-token"


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeCloudApiServer]:
    with FakeCloudApiServer(clock=AdjustableClock()) as server:
        yield server


@pytest.fixture
def fake(fake_server, settings, clock, channel) -> Iterator[FakeAdminClient]:
    """The fake with our test number; no webhook address, so each webhook is posted by the test itself."""
    settings.WHATSAPP_API_BASE_URL = fake_server.base_url
    settings.WHATSAPP_HTTP_TIMEOUT = 2.0
    wa_client._transport_override.pop("transport", None)  # this module talks to the local fake over HTTP
    limiter.reset_local_state()
    admin = FakeAdminClient(fake_server.base_url)
    admin.reset()
    admin.set_clock(clock.now.timestamp())  # the customer writes at the product's moment
    admin.register_number(
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number="5511900000001",
        waba_id=WABA_ID,
        access_token=FAKE_TOKEN,
        app_secret=APP_SECRET,
        verified_name="Acme",
    )
    yield admin
    admin.reset()
    admin.close()


@pytest.fixture
def webhook(django_capture_on_commit_callbacks) -> WebhookPoster:
    return WebhookPoster(django_capture_on_commit_callbacks)
