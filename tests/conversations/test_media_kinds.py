"""One definition of the media kinds (the core's) and one of WhatsApp's limits for them."""

from __future__ import annotations

import pytest

from conversations.media import MEDIA_KINDS, QUICK_REPLY_ATTACHMENT_TYPES, is_media, upload_kind
from conversations.models import Message
from whatsapp import limits, outbound_payloads
from whatsapp.payloads import MESSAGE_TYPES


def test_media_kinds_are_the_message_types_that_carry_a_file():
    assert MEDIA_KINDS == ("image", "audio", "video", "document", "sticker")
    assert set(MEDIA_KINDS) <= set(Message.Type.values)
    assert [t for t in Message.Type.values if is_media(t)] == ["image", "audio", "video", "document", "sticker"]


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("image/jpeg", "image"),
        ("image/png", "image"),
        ("image/webp", "document"),
        ("video/mp4", "video"),
        ("video/3gpp", "video"),
        ("video/quicktime", "document"),
        ("audio/ogg; codecs=opus", "audio"),
        ("application/pdf", "document"),
        ("", "document"),
    ],
)
def test_an_upload_is_sent_as_the_kind_its_mime_type_names(content_type, kind):
    assert upload_kind(content_type) == kind


def test_every_quick_reply_attachment_type_is_sent_as_a_media_kind():
    assert {upload_kind(t) for t in QUICK_REPLY_ATTACHMENT_TYPES} == {"image", "video", "audio", "document"}


def test_whatsapp_has_a_size_limit_for_every_media_kind_and_no_other():
    assert set(limits.MEDIA_MAX_BYTES) == set(MEDIA_KINDS)
    assert limits.media_max_bytes("sticker") == 100 * 1024
    assert limits.media_max_bytes("sticker", animated=True) == 500 * 1024
    assert limits.media_max_bytes("unknown") == limits.MEDIA_MAX_BYTES["document"]


def test_whatsapp_parses_and_builds_every_media_kind():
    assert set(MEDIA_KINDS) <= set(MESSAGE_TYPES)
    for kind in MEDIA_KINDS:
        assert outbound_payloads.media("5511912345678", kind, media_id="1")["type"] == kind
