"""Durable domain events: recorded with their fact, delivered once per subscriber, retried, swept,
listed for admins; and the reply-window events."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, OperationalError, transaction
from django.test import Client
from kombu.exceptions import OperationalError as KombuOperationalError

from conversations import events
from conversations.events import delivery as event_delivery
from conversations.events import outbox, registry
from conversations.events.outbox import events_record
from conversations.events.types import ConversationAssigned, MessageReceived, ReplyWindowClosed, ReplyWindowClosing
from conversations.models import Conversation, EventDelivery, Label, OutboxEvent
from conversations.services.actions import conversation_assign
from conversations.services.inbound import InboundSpec, message_receive
from conversations.tasks import event_deliver, event_deliveries_deliver, event_subscriber_drain
from helpdesk.jobs import redis_client
from tenants.models import AuditLogEntry
from tests.conversations.factories import make_conversation, make_inbox
from tests.prerequisites import require_postgresql, require_redis

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DELIVERIES = "/t/acme/settings/event-deliveries/"


class Subscribed(list):
    """What the test's subscribers were handed, as (subscriber name, event), in order."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[tuple[type[events.Event], str]] = []

    def add(self, event_type: type[events.Event], name: str, handler=None, when=None) -> None:
        def record(event):
            self.append((name, event))
            if handler is not None:
                handler(event)

        events.subscribe(event_type, record, name=name, when=when)
        self.names.append((event_type, name))


@pytest.fixture
def subscribed() -> Iterator[Subscribed]:
    """Subscribers registered for one test only, and only they: the feature apps' own (a greeting…) are set
    aside for the test (the suite's conftest puts them back), so the core is seen with these alone."""
    registry._subscribers.clear()
    registry._filters.clear()
    seen = Subscribed()
    yield seen
    for event_type, name in seen.names:
        events.unsubscribe(event_type, name=name)


@pytest.fixture(autouse=True)
def _no_deferred_retries():
    event_delivery.DEFERRED.clear()
    yield
    event_delivery.DEFERRED.clear()


def receive(inbox, wamid: str, *, at: datetime = T0, source_id: str = "5511911110001"):
    spec = InboundSpec(source_id=source_id, external_id=wamid, occurred_at=at, type="text", text="Oi")
    return message_receive(inbox=inbox, spec=spec)


def test_an_event_round_trips_through_its_payload():
    event = ReplyWindowClosing(tenant_id=7, conversation_id=3, inbox_id=2, contact_id=5, closes_at=T0)
    row = OutboxEvent(id=event.event_id, tenant_id=7, event_type=event.name, payload=event.to_payload())
    assert event_delivery.event_load(row) == event
    assert event.to_payload() == {
        "occurred_at": event.occurred_at.isoformat(),
        "conversation_id": 3,
        "inbox_id": 2,
        "contact_id": 5,
        "closes_at": "2026-03-02T12:00:00+00:00",
    }


def test_a_subscriber_name_is_unique_per_event_type(subscribed):
    subscribed.add(MessageReceived, "tests.once")
    with pytest.raises(ValueError, match="already listens"):
        events.subscribe(MessageReceived, lambda event: None, name="tests.once")


def test_recording_outside_a_transaction_is_refused(tenant, transactional_db):
    from conversations.events.outbox import events_record

    with pytest.raises(RuntimeError, match="transaction of the fact"):
        events_record(
            [
                MessageReceived(
                    tenant_id=tenant.pk, message_id=1, conversation_id=1, inbox_id=1, contact_id=1, message_type="text"
                )
            ]
        )
    assert not OutboxEvent.objects.exists()


def test_a_received_message_is_delivered_to_each_subscriber_once_after_commit(
    tenant, subscribed, django_capture_on_commit_callbacks
):
    inbox = make_inbox(tenant)
    subscribed.add(MessageReceived, "tests.first")
    subscribed.add(MessageReceived, "tests.second")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message, created = receive(inbox, "wamid.1")
    assert created and subscribed == []  # nothing runs inside the fact's transaction
    for callback in callbacks:
        callback()
    assert [name for name, _event in subscribed] == ["tests.first", "tests.second"]
    event = subscribed[0][1]
    assert isinstance(event, MessageReceived)
    assert (event.tenant_id, event.message_id, event.conversation_id, event.inbox_id, event.message_type) == (
        tenant.pk,
        message.pk,
        message.conversation_id,
        inbox.pk,
        "text",
    )
    row = OutboxEvent.objects.get(event_type="message.received")
    # Marked dispatched by the sweeper's pass, not by each delivery job.
    assert row.pk == event.event_id and row.dispatched_at is None
    assert event_delivery.events_dispatched_mark() == 1
    row.refresh_from_db()
    assert row.dispatched_at is not None
    assert sorted(EventDelivery.objects.values_list("subscriber", "state", "attempts")) == [
        ("tests.first", "done", 1),
        ("tests.second", "done", 1),
    ]


def test_one_job_per_subscriber_takes_a_commits_deliveries_and_a_failure_stays_alone(
    tenant, subscribed, django_capture_on_commit_callbacks, monkeypatch
):
    def picky(event):
        Label.objects.create(tenant_id=event.tenant_id, name=f"picky {event.message_id}")
        if event.message_id == 2:
            raise ValueError("not this one")

    subscribed.add(MessageReceived, "tests.picky", picky)
    subscribed.add(MessageReceived, "tests.fine")
    jobs: list[list[int]] = []
    monkeypatch.setattr(event_deliveries_deliver, "delay", jobs.append)
    received = [
        MessageReceived(
            tenant_id=tenant.pk, message_id=n, conversation_id=1, inbox_id=1, contact_id=1, message_type="text"
        )
        for n in (1, 2, 3)
    ]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        events_record(received)
    ids = dict(((d.event_id, d.subscriber), d.pk) for d in EventDelivery.objects.all())
    assert jobs == [
        [ids[(e.event_id, "tests.picky")] for e in received],
        [ids[(e.event_id, "tests.fine")] for e in received],
    ]
    assert subscribed == []  # handed to the broker, not run
    first, second = (event_deliveries_deliver.apply(args=(job,)).get() for job in jobs)
    assert first == {jobs[0][0]: "done", jobs[0][1]: "retry", jobs[0][2]: "done"}
    assert second == dict.fromkeys(jobs[1], "done")
    # The failing call's own writes were rolled back; the others' stayed, once each.
    assert sorted(Label.objects.values_list("name", flat=True)) == ["picky 1", "picky 3"]
    # The batch was rolled back at the failure and handed over again one delivery at a time.
    assert [(name, event.message_id) for name, event in subscribed] == [
        ("tests.picky", 1),
        ("tests.picky", 2),
        ("tests.picky", 1),
        ("tests.picky", 2),
        ("tests.picky", 3),
        ("tests.fine", 1),
        ("tests.fine", 2),
        ("tests.fine", 3),
    ]
    # The job handed out again (acks late) finds its deliveries done and the failed one waiting for its retry.
    assert event_deliveries_deliver.apply(args=(jobs[1],)).get() == {}
    assert event_delivery.event_deliveries_sweep() == 0  # marks the delivered events; nothing overdue
    assert list(OutboxEvent.objects.filter(dispatched_at__isnull=True).values_list("pk", flat=True)) == [
        received[1].event_id
    ]


def test_a_subscriber_that_swallows_a_database_error_fails_alone(
    tenant, subscribed, django_capture_on_commit_callbacks
):
    require_postgresql("only PostgreSQL refuses every statement after an error inside a transaction")
    Label.objects.create(tenant=tenant, name="taken")

    def sloppy(event):
        if event.message_id == 2:
            with contextlib.suppress(IntegrityError):  # the transaction is now aborted: the next statement fails
                Label.objects.create(tenant_id=event.tenant_id, name="taken")
        Label.objects.create(tenant_id=event.tenant_id, name=f"sloppy {event.message_id}")

    subscribed.add(MessageReceived, "tests.sloppy", sloppy)
    received = [
        MessageReceived(
            tenant_id=tenant.pk, message_id=n, conversation_id=1, inbox_id=1, contact_id=1, message_type="text"
        )
        for n in (1, 2, 3)
    ]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        events_record(received)
    states = dict(EventDelivery.objects.values_list("event_id", "state"))
    assert [states[e.event_id] for e in received] == ["done", "pending", "done"]
    failed = EventDelivery.objects.get(event_id=received[1].event_id)
    assert (failed.attempts, failed.last_error) == (
        1,
        "TransactionManagementError: An error occurred in the current transaction. "
        "You can't execute queries until the end of the 'atomic' block.",
    )
    assert sorted(Label.objects.values_list("name", flat=True)) == ["sloppy 1", "sloppy 3", "taken"]


def test_a_failing_subscriber_is_retried_then_failed_while_the_message_and_the_others_go_on(
    tenant, subscribed, django_capture_on_commit_callbacks, settings
):
    settings.EVENTS_DELIVERY_MAX_ATTEMPTS = 3
    inbox = make_inbox(tenant)

    def explode(event):
        raise ValueError(f"no stock for message {event.message_id}")

    subscribed.add(MessageReceived, "tests.broken", explode)
    subscribed.add(MessageReceived, "tests.fine")
    with django_capture_on_commit_callbacks(execute=True):
        message, _created = receive(inbox, "wamid.1")
    assert message.pk and [name for name, _e in subscribed] == ["tests.broken", "tests.fine"]
    broken = EventDelivery.objects.get(subscriber="tests.broken")
    assert (broken.state, broken.attempts) == ("pending", 1)
    deferred = list(event_delivery.DEFERRED)
    assert deferred == [(broken.pk, 10.0)]  # the retry, after the backoff
    # The retries (held back in tests): the backoff doubles, then the delivery is given up.
    delays = []
    while event_delivery.DEFERRED:
        delivery_id, delay = event_delivery.DEFERRED.pop(0)
        delays.append(delay)
        assert event_deliver.apply(args=(delivery_id,)).get() in ("retry", "failed")
    assert delays == [10.0, 20.0]
    broken.refresh_from_db()
    assert (broken.state, broken.attempts, broken.last_error) == (
        "failed",
        3,
        f"ValueError: no stock for message {message.pk}",
    )
    assert EventDelivery.objects.get(subscriber="tests.fine").state == "done"
    assert [name for name, _e in subscribed].count("tests.fine") == 1
    assert event_delivery.events_dispatched_mark() == 0  # one delivery failed: not dispatched
    assert OutboxEvent.objects.get(event_type="message.received").dispatched_at is None


def test_the_subscriber_effect_happens_once_when_its_job_is_delivered_again(
    tenant, subscribed, django_capture_on_commit_callbacks
):
    inbox = make_inbox(tenant)
    crash = {"on": True}

    def label_it(event):
        Label.objects.create(tenant_id=event.tenant_id, name=f"seen {event.message_id}")
        if crash["on"]:
            raise SystemExit("worker killed mid-delivery")  # after the effect, before "done"

    subscribed.add(MessageReceived, "tests.labeller", label_it)
    with django_capture_on_commit_callbacks(execute=False):
        message, _created = receive(inbox, "wamid.1")
    delivery = EventDelivery.objects.get()
    with pytest.raises(SystemExit):
        event_delivery.event_deliver(delivery_id=delivery.pk)
    # The effect went with the job: nothing was left behind, the delivery still waits.
    assert not Label.objects.filter(tenant=tenant).exists()
    assert EventDelivery.objects.get().state == "pending"
    crash["on"] = False
    assert event_deliver.apply(args=(delivery.pk,)).get() == "done"
    # The broker hands the same job out again (acks late), and the sweeper re-enqueues it too.
    assert event_deliver.apply(args=(delivery.pk,)).get() == "skipped"
    assert event_deliver.apply(args=(delivery.pk,)).get() == "skipped"
    assert list(Label.objects.filter(tenant=tenant).values_list("name", flat=True)) == [f"seen {message.pk}"]


def test_a_broker_outage_never_reaches_the_caller_and_the_sweeper_delivers_later(
    tenant, owner, subscribed, django_capture_on_commit_callbacks, monkeypatch
):
    inbox = make_inbox(tenant, members=[owner])
    conversation = make_conversation(inbox)
    subscribed.add(ConversationAssigned, "tests.assigned")

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as patched:
        patched.setattr(event_deliveries_deliver, "delay", broker_down)
        with django_capture_on_commit_callbacks(execute=True):
            assigned = conversation_assign(actor=owner, conversation=conversation, assignee=owner.user)
    assert assigned.assignee_id == owner.user_id
    assert subscribed == []
    delivery = EventDelivery.objects.get()
    assert delivery.state == "pending"
    # Not yet overdue: the sweeper leaves it alone.
    assert event_delivery.event_deliveries_sweep(now=delivery.due_at + timedelta(minutes=4)) == 0
    assert subscribed == []
    assert event_delivery.event_deliveries_sweep(now=delivery.due_at + timedelta(minutes=6)) == 1
    assert [(name, event.assignee_id) for name, event in subscribed] == [("tests.assigned", owner.user_id)]
    assert EventDelivery.objects.get().state == "done"
    assert event_delivery.event_deliveries_sweep(now=delivery.due_at + timedelta(hours=1)) == 0


def test_the_sweeper_hands_overdue_deliveries_over_in_one_job_per_subscriber(
    tenant, subscribed, django_capture_on_commit_callbacks, monkeypatch
):
    subscribed.add(MessageReceived, "tests.first")
    subscribed.add(MessageReceived, "tests.second")
    jobs: list[list[int]] = []

    def broker_down(ids):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as patched:
        patched.setattr(event_deliveries_deliver, "delay", broker_down)
        with django_capture_on_commit_callbacks(execute=True):
            for n in (1, 2):
                with transaction.atomic():
                    events_record(
                        [
                            MessageReceived(
                                tenant_id=tenant.pk,
                                message_id=n,
                                conversation_id=1,
                                inbox_id=1,
                                contact_id=1,
                                message_type="text",
                            )
                        ]
                    )
    assert set(EventDelivery.objects.values_list("state", flat=True)) == {"pending"}
    monkeypatch.setattr(event_deliveries_deliver, "delay", jobs.append)
    due = max(EventDelivery.objects.values_list("due_at", flat=True))
    assert event_delivery.event_deliveries_sweep(now=due + timedelta(minutes=6)) == 4
    by_subscriber = {
        name: sorted(EventDelivery.objects.filter(subscriber=name).values_list("pk", flat=True))
        for name in ("tests.first", "tests.second")
    }
    assert sorted(sorted(job) for job in jobs) == sorted(by_subscriber.values())
    assert subscribed == []


def test_each_fact_records_its_event_once(tenant, owner, django_capture_on_commit_callbacks):
    inbox = make_inbox(tenant, members=[owner])
    first, _ = receive(inbox, "wamid.1")
    receive(inbox, "wamid.1")  # the channel repeats itself: a no-op records nothing
    receive(inbox, "wamid.2", at=T0 + timedelta(minutes=1))
    conversation = Conversation.objects.get()
    conversation_assign(actor=owner, conversation=conversation, assignee=owner.user)
    conversation_assign(actor=owner, conversation=conversation, assignee=owner.user)  # no change
    types = sorted(OutboxEvent.objects.values_list("event_type", flat=True))
    assert types == [
        "contact.created",
        "conversation.assigned",
        "conversation.created",
        "message.received",
        "message.received",
    ]
    assert {row.payload["message_id"] for row in OutboxEvent.objects.filter(event_type="message.received")} == {
        first.pk,
        first.pk + 1,
    }


def test_a_subscription_with_a_condition_gets_only_the_events_it_is_true_of(
    tenant, subscribed, django_capture_on_commit_callbacks
):
    inbox = make_inbox(tenant)
    subscribed.add(MessageReceived, "tests.all")
    subscribed.add(MessageReceived, "tests.second", when=lambda event: event.message_id % 2 == 0)
    subscribed.add(ConversationAssigned, "tests.never", when=lambda event: False)
    with django_capture_on_commit_callbacks(execute=True):
        first, _ = receive(inbox, "wamid.1")
        second, _ = receive(inbox, "wamid.2", at=T0 + timedelta(minutes=1))
    even = first if first.pk % 2 == 0 else second
    assert sorted((name, event.message_id) for name, event in subscribed) == sorted(
        [("tests.all", first.pk), ("tests.all", second.pk), ("tests.second", even.pk)]
    )
    # The event nobody is given gets no delivery row, and is dispatched at once.
    odd_event = OutboxEvent.objects.get(
        event_type="message.received", payload__message_id=(first.pk + second.pk - even.pk)
    )
    assert list(EventDelivery.objects.filter(event=odd_event).values_list("subscriber", flat=True)) == ["tests.all"]
    assert EventDelivery.objects.filter(subscriber="tests.second").count() == 1


def test_only_a_persons_reply_is_delivered_to_the_reply_clocks_and_the_bot(tenant, owner):
    """The SLA's and the bot flows' ``MessageSent`` subscriptions care for agents' replies only: a greeting's,
    a broadcast's or an API client's messages get no delivery at all."""
    from conversations.actors import AutomationActor
    from conversations.models import Inbox
    from conversations.services.outbound import OutboundSpec, message_send
    from tests.conversations.channel_double import registered

    with registered() as channel:
        inbox = Inbox.objects.create(tenant=tenant, name="Test", channel_type=channel.channel_type)
        conversation = make_conversation(inbox)
        bot = AutomationActor(tenant_id=tenant.pk, automation_id=1, name="Saudação", kind="greeting")
        with transaction.atomic():
            by_bot, _ = message_send(actor=bot, conversation=conversation, spec=OutboundSpec(type="text", text="Oi"))
            by_agent, _ = message_send(
                actor=owner, conversation=conversation, spec=OutboundSpec(type="text", text="Olá")
            )

    def delivered(message) -> set[str]:
        event = OutboxEvent.objects.get(event_type="message.sent", payload__message_id=message.pk)
        return set(EventDelivery.objects.filter(event=event).values_list("subscriber", flat=True))

    assert delivered(by_bot) == set()
    assert delivered(by_agent) == {"automations.sla.message_sent", "flows.agent_replied"}


# --- the reply window ------------------------------------------------------------------------


def window_events(conversation) -> list[tuple[str, str]]:
    return [
        (row.event_type, row.payload.get("closes_at") or row.payload.get("closed_at"))
        for row in OutboxEvent.objects.filter(
            event_type__startswith="reply_window.", payload__conversation_id=conversation.pk
        ).order_by("created_at", "event_type")
    ]


def test_the_window_events_fire_once_each_at_their_moment(tenant, settings):
    settings.EVENTS_REPLY_WINDOW_LEAD_SECONDS = 3600
    inbox = make_inbox(tenant)
    message, _ = receive(inbox, "wamid.1", at=T0)
    conversation = Conversation.objects.get(pk=message.conversation_id)
    closes = T0 + timedelta(hours=24)
    assert conversation.reply_window_closes_at == closes
    end = closes.isoformat()
    record = event_delivery.reply_window_events_record

    assert record(now=closes - timedelta(hours=1, seconds=1)) == {"closing": 0, "closed": 0}
    assert window_events(conversation) == []
    assert record(now=closes - timedelta(hours=1)) == {"closing": 1, "closed": 0}
    assert record(now=closes - timedelta(minutes=30)) == {"closing": 0, "closed": 0}
    assert window_events(conversation) == [("reply_window.closing", end)]
    assert record(now=closes - timedelta(seconds=1)) == {"closing": 0, "closed": 0}
    assert record(now=closes) == {"closing": 0, "closed": 1}
    assert record(now=closes + timedelta(days=2)) == {"closing": 0, "closed": 0}
    assert window_events(conversation) == [("reply_window.closing", end), ("reply_window.closed", end)]
    closed = OutboxEvent.objects.get(event_type=ReplyWindowClosed.name)
    assert (closed.occurred_at, closed.payload["contact_id"]) == (closes, conversation.contact_id)


def test_a_window_extended_by_a_new_message_gets_no_closed_event_and_its_own_closing(tenant):
    inbox = make_inbox(tenant)
    message, _ = receive(inbox, "wamid.1", at=T0)
    conversation = Conversation.objects.get(pk=message.conversation_id)
    first_end = T0 + timedelta(hours=24)
    record = event_delivery.reply_window_events_record
    assert record(now=first_end - timedelta(minutes=30)) == {"closing": 1, "closed": 0}
    # The customer writes again 20 minutes before the end: a new window.
    receive(inbox, "wamid.2", at=first_end - timedelta(minutes=20))
    second_end = first_end - timedelta(minutes=20) + timedelta(hours=24)
    conversation.refresh_from_db()
    assert conversation.reply_window_closes_at == second_end
    assert conversation.reply_window_closing_event_for is None
    assert record(now=first_end + timedelta(minutes=1)) == {"closing": 0, "closed": 0}
    # An older message delivered late does not move the window, nor what was recorded for it.
    assert record(now=second_end - timedelta(minutes=10)) == {"closing": 1, "closed": 0}
    receive(inbox, "wamid.late", at=T0 + timedelta(hours=1))
    conversation.refresh_from_db()
    assert conversation.reply_window_closing_event_for == second_end
    assert record(now=second_end - timedelta(minutes=5)) == {"closing": 0, "closed": 0}
    assert record(now=second_end) == {"closing": 0, "closed": 1}
    assert window_events(conversation) == [
        ("reply_window.closing", first_end.isoformat()),
        ("reply_window.closing", second_end.isoformat()),
        ("reply_window.closed", second_end.isoformat()),
    ]


# --- Settings: event deliveries -- -------------------------------------------------------------


def _client(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def failed_delivery(tenant, subscriber: str = "tests.broken") -> EventDelivery:
    event = MessageReceived(
        tenant_id=tenant.pk, message_id=1, conversation_id=1, inbox_id=1, contact_id=1, message_type="text"
    )
    row = OutboxEvent.objects.create(
        id=event.event_id, tenant=tenant, event_type=event.name, payload=event.to_payload(), occurred_at=T0
    )
    return EventDelivery.objects.create(
        tenant=tenant, event=row, subscriber=subscriber, state="failed", attempts=6, last_error="ValueError: boom"
    )


def test_admins_see_their_workspace_failed_deliveries_and_retry_them(
    tenant, owner, other_tenant, subscribed, django_capture_on_commit_callbacks
):
    subscribed.add(MessageReceived, "tests.broken")
    mine = failed_delivery(tenant)
    failed_delivery(other_tenant, subscriber="tests.theirs")
    client = _client(owner)
    page = client.get(DELIVERIES)
    assert page.status_code == 200
    body = page.content.decode()
    assert "tests.broken" in body and "ValueError: boom" in body and "message.received" in body
    assert "tests.theirs" not in body
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{DELIVERIES}{mine.pk}/retry/")
    assert (response.status_code, response["Location"]) == (302, DELIVERIES)
    mine.refresh_from_db()
    assert (mine.state, mine.attempts, mine.last_error) == ("done", 1, "")
    assert [name for name, _e in subscribed] == ["tests.broken"]
    [entry] = AuditLogEntry.objects.filter(action="event_delivery.retried")
    assert (entry.tenant_id, entry.actor_id, entry.actor_label) == (tenant.pk, owner.user_id, owner.user.email)
    assert (entry.target_type, entry.target_id, entry.target_label) == (
        "conversations.eventdelivery",
        str(mine.pk),
        "tests.broken (message.received)",
    )
    assert entry.extra == {
        "subscriber": "tests.broken",
        "event_type": "message.received",
        "event_id": str(mine.event_id),
        "attempts": 6,
        "last_error": "ValueError: boom",
    }
    # Asking again once it is no longer failed changes nothing and audits nothing.
    again = client.post(f"{DELIVERIES}{mine.pk}/retry/")
    assert again.status_code == 302
    assert AuditLogEntry.objects.filter(action="event_delivery.retried").count() == 1


def test_another_workspace_delivery_is_not_found(tenant, owner, other_tenant):
    theirs = failed_delivery(other_tenant)
    response = _client(owner).post(f"{DELIVERIES}{theirs.pk}/retry/")
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert (theirs.state, theirs.attempts) == ("failed", 6)
    assert not AuditLogEntry.objects.filter(action="event_delivery.retried").exists()


def test_agents_may_not_see_or_retry_deliveries(tenant, agent):
    mine = failed_delivery(tenant)
    client = _client(agent)
    assert client.get(DELIVERIES).status_code == 403
    assert client.post(f"{DELIVERIES}{mine.pk}/retry/").status_code == 403
    mine.refresh_from_db()
    assert (mine.state, mine.attempts) == ("failed", 6)
    assert not AuditLogEntry.objects.filter(action="event_delivery.retried").exists()


def test_the_retry_service_refuses_a_member_without_the_permission_or_of_another_workspace(tenant, agent, other_tenant):
    from helpdesk.exceptions import PermissionDenied
    from tests.factories import owner_of

    mine = failed_delivery(tenant)
    for member in (agent, owner_of(other_tenant)):
        with pytest.raises(PermissionDenied):
            event_delivery.event_delivery_retry(membership=member, delivery=mine)
    mine.refresh_from_db()
    assert (mine.state, mine.attempts) == ("failed", 6)
    assert not AuditLogEntry.objects.filter(action="event_delivery.retried").exists()


QUIET_CHANNEL = "tests-events"


@pytest.fixture
def quiet_channel(monkeypatch):
    from conversations.services import delivery_jobs
    from tests.conversations.channel_double import quiet_channel as registered

    monkeypatch.setattr(delivery_jobs, "delivery_enqueue", lambda message: True)  # nothing is sent
    with registered(QUIET_CHANNEL):
        yield


def test_agents_and_the_clock_record_their_facts_with_their_actor(
    tenant, owner, quiet_channel, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from conversations.services.actions import conversation_status_set, conversations_unsnooze_due
    from conversations.services.contacts import contact_update
    from conversations.services.inbound import contact_number_change
    from conversations.services.outbound import OutboundSpec, message_send

    inbox = make_inbox(tenant, members=[owner])
    inbox.channel_type = QUIET_CHANNEL
    inbox.save()
    received, _ = receive(inbox, "wamid.1", at=timezone.now(), source_id="5511911110001")
    conversation = Conversation.objects.get(pk=received.conversation_id)
    OutboxEvent.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        sent, _created = message_send(
            actor=owner, conversation=conversation, spec=OutboundSpec(type="text", text="Olá")
        )
    until = timezone.now() + timedelta(hours=1)
    conversation_status_set(actor=owner, conversation=conversation, status="snoozed", snoozed_until=until)
    assert conversations_unsnooze_due(now=until + timedelta(seconds=1)) == 1
    conversation_status_set(actor=owner, conversation=conversation, status="resolved")
    contact_update(actor=owner, contact=conversation.contact, name="Maria")
    assert contact_number_change(inbox=inbox, old_source_id="5511911110001", new_source_id="5511922220002")

    payloads = [(row.event_type, row.payload) for row in OutboxEvent.objects.order_by("created_at")]
    common = {"occurred_at": payloads[0][1]["occurred_at"]}
    assert payloads[0] == (
        "message.sent",
        common
        | {
            "message_id": sent.pk,
            "conversation_id": conversation.pk,
            "inbox_id": inbox.pk,
            "contact_id": conversation.contact_id,
            "message_type": "text",
            "sender_type": "agent",
            "sender_user_id": owner.user_id,
            "actor_type": "member",
            "actor_id": owner.pk,
            "actor_kind": None,
        },
    )
    changes = [
        (p["previous_status"], p["status"], p["change"], p["actor_user_id"], p["actor_type"], p["actor_id"])
        for t, p in payloads[1:4]
    ]
    assert changes == [
        ("open", "snoozed", "snoozed", owner.user_id, "member", owner.pk),
        ("snoozed", "open", "snooze_ended", None, "system", None),
        ("open", "resolved", "resolved", owner.user_id, "member", owner.pk),
    ]
    assert [(t, p["changed_fields"], p["actor_user_id"], p["actor_type"]) for t, p in payloads[4:]] == [
        ("contact.updated", ["name"], owner.user_id, "member"),
        ("contact.updated", ["identities", "phone_e164"], None, None),
    ]


@pytest.fixture
def with_worker(settings):
    require_redis("without a worker each commit's deliveries are handed over at once")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    for key in redis_client().keys("helpdesk:events:*"):
        redis_client().delete(key)
    yield
    for key in redis_client().keys("helpdesk:events:*"):
        redis_client().delete(key)


def received_events(tenant, numbers) -> list[MessageReceived]:
    return [
        MessageReceived(
            tenant_id=tenant.pk, message_id=n, conversation_id=1, inbox_id=1, contact_id=1, message_type="text"
        )
        for n in numbers
    ]


def test_with_a_worker_one_drain_job_per_subscriber_takes_every_commits_deliveries(
    tenant, subscribed, django_capture_on_commit_callbacks, monkeypatch, with_worker, settings
):
    settings.EVENTS_DELIVERY_BATCH = 2
    subscribed.add(MessageReceived, "tests.first")
    subscribed.add(MessageReceived, "tests.second")
    drains: list[str] = []
    monkeypatch.setattr(event_subscriber_drain, "delay", drains.append)
    per_delivery: list[list[int]] = []
    monkeypatch.setattr(event_deliveries_deliver, "delay", per_delivery.append)
    first, second = received_events(tenant, (1, 2, 3)), received_events(tenant, (4,))
    for batch in (first, second):
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            events_record(batch)
    # Two commits, one job per subscriber: the second commit found each subscriber's key taken.
    assert drains == ["tests.first", "tests.second"] and per_delivery == []
    assert redis_client().get(outbox.drain_key("tests.first")) == b"1"
    assert subscribed == []

    assert event_subscriber_drain.apply(args=("tests.first",)).get() == 4  # in transactions of two
    assert [(name, event.message_id) for name, event in subscribed] == [("tests.first", n) for n in (1, 2, 3, 4)]
    assert redis_client().get(outbox.drain_key("tests.first")) is None  # let go once the work ran out
    states = sorted(EventDelivery.objects.values_list("subscriber", "state"))
    assert states == [("tests.first", "done")] * 4 + [("tests.second", "pending")] * 4
    # Delivered again (acks late): nothing left, no effect twice.
    assert event_subscriber_drain.apply(args=("tests.first",)).get() == 0
    assert len(subscribed) == 4


def test_a_drain_leaves_a_failing_delivery_to_its_backoff_and_delivers_the_others(
    tenant, subscribed, django_capture_on_commit_callbacks, monkeypatch, with_worker
):
    def picky(event):
        Label.objects.create(tenant_id=event.tenant_id, name=f"picky {event.message_id}")
        if event.message_id == 2:
            raise ValueError("not this one")

    subscribed.add(MessageReceived, "tests.picky", picky)
    monkeypatch.setattr(event_subscriber_drain, "delay", lambda subscriber: None)
    retries: list[tuple[tuple[int], float]] = []
    monkeypatch.setattr(event_deliver, "apply_async", lambda args, countdown: retries.append((args, countdown)))
    received = received_events(tenant, (1, 2, 3))
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        events_record(received)
    assert event_subscriber_drain.apply(args=("tests.picky",)).get() == 3
    states = dict(EventDelivery.objects.values_list("event_id", "state"))
    assert [states[e.event_id] for e in received] == ["done", "pending", "done"]
    failed = EventDelivery.objects.get(event_id=received[1].event_id)
    assert (failed.attempts, failed.last_error) == (1, "ValueError: not this one")
    assert retries == [((failed.pk,), 10.0)]  # retried after the backoff, not by the drain
    assert sorted(Label.objects.values_list("name", flat=True)) == ["picky 1", "picky 3"]


def test_a_broker_down_at_commit_leaves_the_deliveries_pending_and_the_key_free(
    tenant, subscribed, django_capture_on_commit_callbacks, monkeypatch, with_worker
):
    subscribed.add(MessageReceived, "tests.first")

    def broker_down(subscriber):
        raise KombuOperationalError("broker down")

    monkeypatch.setattr(event_subscriber_drain, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        events_record(received_events(tenant, (1,)))  # no error reaches the caller
    assert list(EventDelivery.objects.values_list("state", flat=True)) == ["pending"]
    assert redis_client().get(outbox.drain_key("tests.first")) is None  # the next commit may ask again
    assert subscribed == []


def test_a_batch_subscriber_gets_a_jobs_events_at_once_and_a_failure_is_retried_alone(
    tenant, subscribed, django_capture_on_commit_callbacks, monkeypatch
):
    calls: list[list[int]] = []

    def batch(received):
        calls.append([event.message_id for event in received])
        for event in received:
            Label.objects.create(tenant_id=event.tenant_id, name=f"batch {event.message_id}")
            if event.message_id == 2:
                raise ValueError("not this one")

    events.subscribe_many(MessageReceived, batch, name="tests.batch")
    events.subscribe_many(MessageReceived, batch, name="tests.batch")  # the same handler again: no error
    subscribed.names.append((MessageReceived, "tests.batch"))
    with pytest.raises(ValueError, match="already listens"):
        events.subscribe_many(MessageReceived, lambda received: None, name="tests.batch")
    jobs: list[list[int]] = []
    monkeypatch.setattr(event_deliveries_deliver, "delay", jobs.append)
    received = received_events(tenant, (1, 2, 3))
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        events_record(received)
    assert len(jobs) == 1
    outcome = event_deliveries_deliver.apply(args=(jobs[0],)).get()
    assert outcome == {jobs[0][0]: "done", jobs[0][1]: "retry", jobs[0][2]: "done"}
    # Once with the whole batch (rolled back at the failure), then one event at a time.
    assert calls == [[1, 2, 3], [1], [2], [3]]
    assert sorted(Label.objects.values_list("name", flat=True)) == ["batch 1", "batch 3"]


def test_a_batch_subscriber_called_with_one_event_handles_a_batch_of_one(tenant, subscribed):
    from conversations.events.registry import handler_for

    calls: list[list[int]] = []
    events.subscribe_many(MessageReceived, lambda received: calls.append([e.message_id for e in received]), name="t.b")
    subscribed.names.append((MessageReceived, "t.b"))
    handler = handler_for("message.received", "t.b")
    assert handler is not None
    handler(received_events(tenant, (7,))[0])
    assert calls == [[7]]


def test_a_batch_in_conversation_order_keeps_each_conversations_own_order(tenant):
    received = [
        MessageReceived(
            tenant_id=tenant.pk, message_id=n, conversation_id=c, inbox_id=1, contact_id=1, message_type="text"
        )
        for n, c in ((1, 9), (2, 3), (3, 9), (4, 5), (5, 3))
    ]
    assert [(e.conversation_id, e.message_id) for e in events.by_conversation(received)] == [
        (3, 2),
        (3, 5),
        (5, 4),
        (9, 1),
        (9, 3),
    ]
