"""A customer's burst of webhooks (an album, its caption, quick texts) delivered shuffled or processed side
by side: the history, the API and the list's preview follow the customer's order, and nothing is lost."""

from __future__ import annotations

import random
import re
import threading

import pytest
from django.db import connection, connections
from django.test import Client

from conversations.models import Attachment, Conversation, Message
from tests.factories import owner_of
from tests.whatsapp.test_batch_processing import T0, envelope, store, text
from whatsapp import tasks
from whatsapp.processing import webhook_event_process

pytestmark = pytest.mark.django_db

CUSTOMER = "5511955550005"
PHOTOS, TEXTS = 30, 5


def image(sender: str, wamid: str, at: int, *, caption: str = "") -> dict:
    media = {"mime_type": "image/jpeg", "sha256": f"sha-{wamid}", "id": f"media-{wamid}"}
    if caption:
        media["caption"] = caption
    return {"from": sender, "id": wamid, "timestamp": str(at), "type": "image", "image": media}


def burst(channel) -> tuple[list[dict], list[str]]:
    """36 webhooks, one message each, as WhatsApp delivers them; and their wamids in the order the
    customer sent them (their timestamps): 30 photos with a caption on the first, then 5 texts."""
    messages = [
        image(CUSTOMER, f"wamid.photo{i:02d}", T0 + i, caption="Fotos da viagem" if i == 0 else "")
        for i in range(PHOTOS)
    ]
    messages += [text(CUSTOMER, f"wamid.text{i}", T0 + PHOTOS + i, f"texto rápido {i}") for i in range(1, TEXTS + 1)]
    return [envelope(channel, messages=[m]) for m in messages], [m["id"] for m in messages]


@pytest.fixture
def no_downloads(monkeypatch) -> list[int]:
    """Attachments processing asked to download (no media server here)."""
    asked: list[int] = []
    monkeypatch.setattr(tasks.attachment_download, "delay", asked.append)
    return asked


def assert_in_the_customers_order(tenant, expected: list[str]) -> None:
    conversation = Conversation.objects.select_related("last_message").get(tenant=tenant)
    client = Client()
    client.force_login(owner_of(tenant).user)
    wamid_of = dict(Message.objects.filter(conversation=conversation).values_list("pk", "external_id"))

    api = client.get(f"/api/v1/t/acme/conversations/{conversation.display_id}/messages/?page_size=50").json()
    assert [m["external_id"] for m in reversed(api["results"])] == expected
    pane = client.get(f"/t/acme/inbox/c/{conversation.display_id}/pane/").json()
    assert [wamid_of[pk] for pk in pane["message_ids"]] == expected
    bubbles = [int(pk) for pk in re.findall(r'<article class="msg [^"]*" id="m-(\d+)"', pane["html"])]
    assert [wamid_of[pk] for pk in bubbles] == expected

    # The list's preview is the customer's latest message, not the last webhook to arrive.
    assert (conversation.last_message.external_id, conversation.last_message.text) == (
        "wamid.text5",
        "texto rápido 5",
    )
    [row] = client.get("/api/v1/t/acme/conversations/").json()["results"]
    assert row["last_message"]["text"] == "texto rápido 5"

    # Nothing lost: every message, every photo, the caption on its photo.
    assert Message.objects.filter(conversation=conversation).count() == PHOTOS + TEXTS
    assert Attachment.objects.filter(message__conversation=conversation).count() == PHOTOS
    first = Message.objects.get(external_id="wamid.photo00")
    assert (first.type, first.content["kind"], first.content["caption"]) == ("image", "media", "Fotos da viagem")
    assert conversation.unread_count == PHOTOS + TEXTS


def test_a_shuffled_burst_of_album_and_text_webhooks_shows_in_the_customers_order(
    tenant, channel, no_downloads, django_capture_on_commit_callbacks
):
    payloads, expected = burst(channel)
    random.Random(17).shuffle(payloads)
    for event in store(channel, payloads):
        with django_capture_on_commit_callbacks(execute=True):
            webhook_event_process(event_id=event.pk)
    arrived = list(Message.objects.order_by("id").values_list("external_id", flat=True))
    assert arrived != expected  # stored in the shuffled order
    assert_in_the_customers_order(tenant, expected)
    assert len(no_downloads) == PHOTOS


@pytest.mark.django_db(transaction=True)
def test_a_burst_processed_by_concurrent_workers_shows_in_the_customers_order(tenant, channel, no_downloads):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers: there is no concurrent commit to reorder")
    payloads, expected = burst(channel)
    events = [e.pk for e in store(channel, payloads)]  # in the customer's order: commits reorder them
    workers = 4
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work(share: list[int]) -> None:
        try:
            barrier.wait(timeout=10)
            for event_id in share:
                webhook_event_process(event_id=event_id)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(events[i::workers],)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert_in_the_customers_order(tenant, expected)
    assert len(no_downloads) == PHOTOS
