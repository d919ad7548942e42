"""The embedded default's periodic jobs: snoozed conversations reopen without Celery beat."""

from __future__ import annotations

import pytest

from helpdesk import embedded_beat


def test_embedded_beat_runs_only_when_jobs_run_in_process(settings, monkeypatch):
    started = []
    monkeypatch.setattr(embedded_beat.threading, "Thread", lambda **kw: started.append(kw) or _Never())
    monkeypatch.setattr(embedded_beat, "_started", embedded_beat.threading.Event())
    settings.CELERY_TASK_ALWAYS_EAGER = False
    embedded_beat.start()
    assert started == []
    settings.CELERY_TASK_ALWAYS_EAGER = True
    embedded_beat.start()
    embedded_beat.start()
    assert [kw["name"] for kw in started] == ["embedded-beat"]


class _Never:
    def start(self) -> None:
        pass


@pytest.mark.django_db
def test_every_periodic_job_names_a_registered_task(settings):
    from helpdesk.celery import app

    app.loader.import_default_modules()
    assert {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()} <= set(app.tasks)


class _Stop(Exception):
    """Ends the loop where it would sleep until the next job is due."""


class _OneTick:
    """The beat thread's clock: longer than any job's interval passes between two readings, so the
    first pass finds every job due; the loop ends where it would sleep."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 1_000_000.0
        return self.now

    def sleep(self, seconds: float) -> None:
        raise _Stop


@pytest.mark.django_db
def test_a_tick_of_the_embedded_beat_reopens_a_due_snooze(tenant, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from conversations.models import Conversation
    from tests.conversations.factories import make_conversation, make_inbox

    inbox = make_inbox(tenant, name="Support")
    now = timezone.now()
    due = make_conversation(inbox, name="Due", status="snoozed", snoozed_until=now - timedelta(minutes=1))
    later = make_conversation(inbox, name="Later", status="snoozed", snoozed_until=now + timedelta(hours=1))
    monkeypatch.setattr(embedded_beat, "time", _OneTick())
    closed: list[None] = []
    # The thread closes stale connections after each job; this test's connection holds its transaction.
    monkeypatch.setattr(embedded_beat, "close_old_connections", lambda: closed.append(None))

    with pytest.raises(_Stop):
        embedded_beat._run_forever()

    assert len(closed) == len(embedded_beat.settings.CELERY_BEAT_SCHEDULE)
    rows = dict(Conversation.objects.filter(pk__in=[due.pk, later.pk]).values_list("pk", "status"))
    assert rows == {due.pk: "open", later.pk: "snoozed"}
    assert Conversation.objects.get(pk=due.pk).snoozed_until is None


@pytest.mark.django_db
def test_a_tick_of_the_embedded_beat_records_window_events_and_delivers_a_lost_event_in_process(
    tenant, monkeypatch, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from conversations import events
    from conversations.models import EventDelivery, OutboxEvent
    from tests.conversations.factories import make_conversation, make_inbox

    inbox = make_inbox(tenant, name="Support")
    ended = timezone.now() - timedelta(minutes=1)
    conversation = make_conversation(inbox, last_inbound_at=ended - timedelta(hours=24), reply_window_closes_at=ended)
    handed: list[events.Event] = []
    events.subscribe(events.ReplyWindowClosed, handed.append, name="tests.window_closed")
    monkeypatch.setattr(embedded_beat, "time", _OneTick())
    monkeypatch.setattr(embedded_beat, "close_old_connections", lambda: None)
    try:
        # The broker "lost" the first job: its delivery waits, overdue, for the sweeper's next tick.
        with django_capture_on_commit_callbacks(execute=False), pytest.raises(_Stop):
            embedded_beat._run_forever()
        delivery = EventDelivery.objects.get(subscriber="tests.window_closed")
        EventDelivery.objects.filter(pk=delivery.pk).update(due_at=ended - timedelta(hours=1))
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(_Stop):
            embedded_beat._run_forever()
    finally:
        events.unsubscribe(events.ReplyWindowClosed, name="tests.window_closed")

    assert OutboxEvent.objects.filter(event_type="reply_window.closed").count() == 1
    assert [(type(e).__name__, e.conversation_id, e.closed_at) for e in handed] == [
        ("ReplyWindowClosed", conversation.pk, ended)
    ]
    assert EventDelivery.objects.get(pk=delivery.pk).state == "done"
