"""Inbound media is fetched only from allowed media hosts, on public addresses, within WhatsApp's size limits.

The attack these reproduce: a media lookup answered with a URL on an internal address (the fake Cloud API's
admin API, which hands out access tokens and app secrets; a cloud metadata service) was fetched and stored
as a downloadable attachment. Every test here posts a signed webhook through the real endpoint, answers the
Graph API's media lookup from a local server, and checks what was stored and who was contacted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conversations.models import Attachment
from tests.local_http import Answer, FakeDns, LocalServer, Seen
from tests.whatsapp.conftest import load_fixture, retarget
from whatsapp import client as whatsapp_client

pytestmark = pytest.mark.django_db

SECRETS = b'{"access_token": "demo-access-token", "app_secret": "demo-app-secret"}'
MB = 1024 * 1024


class Meta:
    """A local stand-in for the Graph API: answers media lookups with ``lookup`` and serves ``/media/*`` files."""

    def __init__(self) -> None:
        self.lookup: dict[str, Any] = {}
        self.media: Answer = Answer(200, b"")
        self.server = LocalServer(self.answer)

    def answer(self, seen: Seen) -> Answer:
        if seen.path.startswith("/v23.0/"):
            media_id = seen.path.split("/")[2]
            body = {"messaging_product": "whatsapp", "mime_type": "image/jpeg", "sha256": "x", "id": media_id}
            return Answer(200, json.dumps(body | self.lookup).encode(), {"Content-Type": "application/json"})
        if seen.path.startswith("/media/"):
            return self.media
        return Answer(404, b"")


@pytest.fixture
def meta(settings, tmp_path: Path) -> Iterator[Meta]:
    fake = Meta()
    settings.MEDIA_ROOT = str(tmp_path / "media")
    with fake.server:
        settings.WHATSAPP_API_BASE_URL = fake.server.url
        whatsapp_client._transport_override.pop("transport", None)  # real HTTP, through the real guard
        yield fake


@pytest.fixture
def internal() -> Iterator[LocalServer]:
    """An internal service that must never be reached (it stands for the fake's admin API)."""
    with LocalServer(lambda seen: Answer(200, SECRETS, {"Content-Type": "application/json"})) as server:
        yield server


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    return FakeDns(monkeypatch)


def receive(webhook, channel, fixture: str = "inbound_image.json") -> Attachment:
    webhook.post(channel, retarget(load_fixture(fixture), phone_number_id=channel.phone_number_id))
    return Attachment.objects.get()


def stored_files(settings) -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def assert_refused(attachment: Attachment, settings, error: str) -> None:
    assert (attachment.download_status, attachment.download_error) == ("failed", error)
    assert (attachment.file.name, attachment.file_size) == ("", None)
    assert stored_files(settings) == []


NOT_ALLOWED = "The media address Meta gave is not allowed ({reason}); the file was not downloaded."


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("{internal}/_fake/phone_numbers", "scheme_not_allowed"),
        ("https://127.0.0.1:{port}/_fake/phone_numbers", "host_not_allowed"),
        ("https://169.254.169.254/latest/meta-data/iam/security-credentials/", "host_not_allowed"),
        ("https://[fd00:ec2::254]/latest/meta-data/", "host_not_allowed"),
        ("https://evil.example/file.jpg", "host_not_allowed"),
    ],
)
def test_a_media_url_off_metas_hosts_is_refused_and_nothing_is_stored(
    webhook, channel, meta, internal, settings, url, reason
):
    meta.lookup = {"url": url.format(internal=internal.url, port=internal.port)}
    attachment = receive(webhook, channel)
    assert_refused(attachment, settings, NOT_ALLOWED.format(reason=reason))
    assert internal.requests == []


@pytest.mark.parametrize("address", ["127.0.0.1", "10.20.30.40", "169.254.169.254"])
def test_metas_media_host_resolving_to_an_internal_address_is_refused(
    webhook, channel, meta, internal, dns, settings, address
):
    dns.set("lookaside.fbsbx.com", [address])
    meta.lookup = {"url": f"https://lookaside.fbsbx.com:{internal.port}/whatsapp_business/attachments/?mid=1"}
    attachment = receive(webhook, channel)
    assert_refused(attachment, settings, NOT_ALLOWED.format(reason="address_not_allowed"))
    assert internal.requests == []
    assert dns.lookups == ["lookaside.fbsbx.com"]


@pytest.fixture
def local_media_host(settings, dns, meta) -> str:
    """A deployment whose media host runs on this machine (as the fake does in development)."""
    settings.WHATSAPP_MEDIA_ALLOWED_HOSTS = ["media.test"]
    settings.WHATSAPP_MEDIA_ALLOW_LOOPBACK = True
    dns.set("media.test", ["127.0.0.1"])
    return f"http://media.test:{meta.server.port}/media/1"


def test_a_file_from_an_allowed_media_host_is_stored(webhook, channel, meta, local_media_host, settings):
    meta.lookup = {"url": local_media_host}
    meta.media = Answer(200, b"\xff\xd8JPEG" * 1000, {"Content-Type": "image/jpeg"})
    attachment = receive(webhook, channel)
    assert (attachment.download_status, attachment.download_error, attachment.file_size) == ("stored", "", 6000)
    assert attachment.file.read() == b"\xff\xd8JPEG" * 1000
    assert [p.name for p in stored_files(settings)] == ["1003383421387256.jpg"]


def test_a_redirect_from_the_media_host_to_an_internal_address_is_not_followed(
    webhook, channel, meta, internal, local_media_host, settings
):
    meta.lookup = {"url": local_media_host}
    meta.media = Answer(302, headers={"Location": f"{internal.url}/_fake/phone_numbers"})
    attachment = receive(webhook, channel)
    assert_refused(attachment, settings, NOT_ALLOWED.format(reason="host_not_allowed"))
    assert internal.requests == []
    assert [r.path for r in meta.server.requests] == ["/v23.0/1003383421387256", "/media/1"]


def test_an_image_over_whatsapps_5_mb_limit_is_refused_while_streaming(
    webhook, channel, meta, local_media_host, settings
):
    meta.lookup = {"url": local_media_host}
    meta.media = Answer(200, b"x" * (5 * MB + 1), {"Content-Type": "image/jpeg"}, length=False)
    attachment = receive(webhook, channel)
    assert_refused(
        attachment,
        settings,
        "The file is larger than WhatsApp's limit of 5.0\xa0MB for image; it was not downloaded.",
    )


def test_a_file_meta_announces_over_the_limit_is_not_downloaded(webhook, channel, meta, local_media_host, settings):
    meta.lookup = {"url": local_media_host, "file_size": 5 * MB + 1}
    meta.media = Answer(200, b"small", {"Content-Type": "image/jpeg"})
    attachment = receive(webhook, channel)
    assert_refused(
        attachment,
        settings,
        "The file is larger than WhatsApp's limit of 5.0\xa0MB for image; it was not downloaded.",
    )
    assert [r.path for r in meta.server.requests] == ["/v23.0/1003383421387256"]


@pytest.mark.parametrize(
    ("fixture", "status", "error"),
    [
        (
            "inbound_sticker_static.json",
            "failed",
            "The file is larger than WhatsApp's limit of 100.0\xa0KB for sticker; it was not downloaded.",
        ),
        ("inbound_sticker_animated.json", "stored", ""),
    ],
)
def test_stickers_have_whatsapps_static_and_animated_limits(
    webhook, channel, meta, local_media_host, settings, fixture, status, error
):
    meta.lookup = {"url": local_media_host, "mime_type": "image/webp"}
    meta.media = Answer(200, b"w" * 300 * 1024, {"Content-Type": "image/webp"})
    attachment = receive(webhook, channel, fixture)
    assert (attachment.kind, attachment.download_status, attachment.download_error) == ("sticker", status, error)
    assert len(stored_files(settings)) == (1 if status == "stored" else 0)
