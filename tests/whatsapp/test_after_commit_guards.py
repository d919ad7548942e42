"""Processing a webhook never fails when the broker is down as its after-commit jobs are handed over."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

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


def test_the_sweeper_asks_again_for_a_download_the_broker_lost_and_for_no_other(
    channel, monkeypatch, django_capture_on_commit_callbacks, settings
):
    settings.WHATSAPP_ATTACHMENT_SWEEP_AFTER_SECONDS = 120
    settings.WHATSAPP_ATTACHMENT_SWEEP_MAX_AGE_DAYS = 7
    monkeypatch.setattr(tasks.attachment_download, "delay", lambda pk: None)
    photos = [image("5511911110001", f"wamid.photo{n}", T0) for n in range(5)]
    [event] = store(channel, [envelope(channel, messages=photos)])
    with django_capture_on_commit_callbacks(execute=True):
        webhook_event_process(event_id=event.pk)
    lost, stored, failed, recent, too_old = (
        Attachment.objects.get(message__external_id=f"wamid.photo{n}") for n in range(5)
    )
    now = timezone.now()
    Attachment.objects.filter(pk__in=[lost.pk, stored.pk, failed.pk]).update(created_at=now - timedelta(seconds=121))
    Attachment.objects.filter(pk=recent.pk).update(created_at=now - timedelta(seconds=119))
    Attachment.objects.filter(pk=too_old.pk).update(created_at=now - timedelta(days=7, seconds=1))
    Attachment.objects.filter(pk=stored.pk).update(download_status=Attachment.DownloadStatus.STORED)
    Attachment.objects.filter(pk=failed.pk).update(download_status=Attachment.DownloadStatus.FAILED)

    asked: list[int] = []
    monkeypatch.setattr(tasks.attachment_download, "delay", asked.append)
    assert tasks.attachments_download_sweep() == 1
    assert asked == [lost.pk]
    assert settings.CELERY_BEAT_SCHEDULE["whatsapp-attachments-sweep"]["task"] == (
        "whatsapp.tasks.attachments_download_sweep"
    )
