"""Processing a webhook never fails when the broker is down as its after-commit jobs are handed over."""

from __future__ import annotations

import logging

import pytest
from django.db import OperationalError

from conversations.models import Attachment, Message
from tests.whatsapp.test_batch_processing import T0, envelope, store
from tests.whatsapp.test_message_order import image
from whatsapp import tasks
from whatsapp.processing import webhook_event_process

pytestmark = pytest.mark.django_db


def test_a_media_download_not_handed_to_the_broker_leaves_the_message_stored(
    channel, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    asked: list[int] = []

    def broker_down(pk: int) -> None:
        asked.append(pk)
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.attachment_download, "delay", broker_down)
    [event] = store(channel, [envelope(channel, messages=[image("5511911110001", "wamid.photo", T0)])])
    with django_capture_on_commit_callbacks(execute=True):
        processed = webhook_event_process(event_id=event.pk)
    assert processed.status == "processed"
    message = Message.objects.get(external_id="wamid.photo")
    attachment = Attachment.objects.get(message=message)
    assert (attachment.download_status, asked) == (Attachment.DownloadStatus.PENDING, [attachment.pk])
    guards = [r.getMessage() for r in caplog.records if r.name == "helpdesk.after_commit"]
    assert guards == [f"Downloads of attachments [{attachment.pk}] not handed over after commit"]
    assert [r.levelno for r in caplog.records if r.name == "helpdesk.after_commit"] == [logging.WARNING]
