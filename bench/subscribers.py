"""The ingest benchmark's no-op subscribers: each writes one row per delivery into ``bench_effects``
(no unique key there, so an effect applied twice is counted, not refused)."""

from __future__ import annotations

from django.db import connection

from conversations import events

SUBSCRIBERS: dict[type[events.Event], str] = {
    events.MessageReceived: "bench.on_message_received",
    events.MessageStatusChanged: "bench.on_message_status_changed",
}
EFFECTS_TABLE_SQL = "CREATE TABLE bench_effects (event_id uuid NOT NULL, subscriber text NOT NULL)"


def _effect(subscriber: str, event: events.Event) -> None:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_effects (event_id, subscriber) VALUES (%s, %s)", [event.event_id, subscriber])


def on_message_received(event: events.MessageReceived) -> None:
    _effect(SUBSCRIBERS[events.MessageReceived], event)


def on_message_status_changed(event: events.MessageStatusChanged) -> None:
    _effect(SUBSCRIBERS[events.MessageStatusChanged], event)


def subscribe_all() -> None:
    events.subscribe(events.MessageReceived, on_message_received, name=SUBSCRIBERS[events.MessageReceived])
    events.subscribe(
        events.MessageStatusChanged, on_message_status_changed, name=SUBSCRIBERS[events.MessageStatusChanged]
    )
