"""The ASGI receiver that serves webhook POSTs in production, in front of Django."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.db import OperationalError

from conversations.models import Message
from tests.whatsapp.conftest import APP_SECRET, load_fixture, retarget
from whatsapp import asgi as receiver_module
from whatsapp.asgi import WebhookReceiver
from whatsapp.models import WebhookEvent
from whatsapp.signature import encode_like_meta, sign

# The receiver stores from a worker thread (its own database connection): data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


class Fallback:
    """Stands for Django behind the receiver: records what it was handed and answers 299."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        message = await receive()
        self.calls.append((scope["method"], scope["path"], message.get("body", b"")))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"django"})


def call(app: Any, method: str, path: str, body: bytes = b"", headers=(), chunks: int = 1, host: bytes = b"testserver"):
    async def run() -> tuple[int, dict[bytes, bytes], bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", host), (b"content-type", b"application/json"), *headers],
            "client": ("127.0.0.1", 40000),
            "server": ("testserver", 80),
        }
        communicator = ApplicationCommunicator(app, scope)
        size = max(1, len(body) // chunks + 1)
        parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
        for n, part in enumerate(parts):
            await communicator.send_input({"type": "http.request", "body": part, "more_body": n < len(parts) - 1})
        start = await communicator.receive_output(timeout=10)
        end = await communicator.receive_output(timeout=10)
        await communicator.wait(timeout=10)
        return start["status"], {k.lower(): v for k, v in start["headers"]}, end["body"]

    return async_to_sync(run)()


def _signed(channel, name: str = "inbound_text.json") -> tuple[bytes, tuple[tuple[bytes, bytes], ...]]:
    body = encode_like_meta(retarget(load_fixture(name), phone_number_id=channel.phone_number_id))
    return body, ((b"x-hub-signature-256", sign(body, APP_SECRET).encode()),)


def test_a_signed_post_is_stored_and_processed_without_django(channel):
    fallback = Fallback()
    body, headers = _signed(channel)
    status, response_headers, content = call(
        WebhookReceiver(fallback), "POST", f"/webhooks/whatsapp/{channel.webhook_key}/", body, headers, chunks=3
    )
    assert (status, content, response_headers[b"content-type"]) == (200, b"ok", b"text/plain")
    assert fallback.calls == []
    event = WebhookEvent.objects.get()
    assert (bytes(event.body), event.status, event.summary) == (body, "processed", "1 message")
    assert Message.objects.filter(inbox=channel.inbox).count() == 1


def test_a_replayed_post_is_stored_once(channel):
    body, headers = _signed(channel)
    url = f"/webhooks/whatsapp/{channel.webhook_key}/"
    statuses = [call(WebhookReceiver(Fallback()), "POST", url, body, headers)[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert WebhookEvent.objects.count() == 1
    assert Message.objects.count() == 1


def test_a_bad_signature_is_401_and_stores_nothing(channel):
    body, _headers = _signed(channel)
    wrong = ((b"x-hub-signature-256", sign(body, "another-secret").encode()),)
    status, _h, content = call(
        WebhookReceiver(Fallback()), "POST", f"/webhooks/whatsapp/{channel.webhook_key}/", body, wrong
    )
    assert status == 401
    assert content == (
        b'{"error": {"code": "webhook_rejected", "message": "Missing or invalid X-Hub-Signature-256.", "details": {}}}'
    )
    assert not WebhookEvent.objects.exists()


def test_an_unknown_key_is_404(channel):
    body, headers = _signed(channel)
    status, _h, _c = call(WebhookReceiver(Fallback()), "POST", "/webhooks/whatsapp/not-a-key/", body, headers)
    assert status == 404
    assert not WebhookEvent.objects.exists()


def test_a_body_over_the_upload_limit_is_413_and_stores_nothing(channel, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = encode_like_meta({"object": "whatsapp_business_account", "padding": "x" * 2000})
    headers = ((b"x-hub-signature-256", sign(body, APP_SECRET).encode()),)
    status, _h, content = call(
        WebhookReceiver(Fallback()), "POST", f"/webhooks/whatsapp/{channel.webhook_key}/", body, headers, chunks=4
    )
    assert status == 413
    assert json.loads(content) == {
        "error": {"code": "webhook_rejected", "message": "The webhook body is too large.", "details": {}}
    }
    assert not WebhookEvent.objects.exists()


def test_a_storage_failure_is_503_so_meta_retries(channel, monkeypatch):
    def failing(**kwargs):
        raise OperationalError("the database is down")

    monkeypatch.setattr(receiver_module, "webhook_receive", failing)
    body, headers = _signed(channel)
    status, _h, content = call(
        WebhookReceiver(Fallback()), "POST", f"/webhooks/whatsapp/{channel.webhook_key}/", body, headers
    )
    assert status == 503
    assert json.loads(content)["error"]["message"] == "The webhook could not be stored; try again later."
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("method", "path", "host"),
    [
        ("GET", "/webhooks/whatsapp/{key}/", b"testserver"),
        ("PUT", "/webhooks/whatsapp/{key}/", b"testserver"),
        ("POST", "/webhooks/whatsapp/{key}/extra/", b"testserver"),
        ("POST", "/accounts/login/", b"testserver"),
        ("POST", "/webhooks/whatsapp/{key}/", b"evil.example"),
    ],
)
def test_everything_else_goes_to_django_untouched(channel, method, path, host):
    fallback = Fallback()
    body, headers = _signed(channel)
    path = path.format(key=channel.webhook_key)
    status, _h, content = call(WebhookReceiver(fallback), method, path, body, headers, host=host)
    assert (status, content) == (299, b"django")
    assert fallback.calls == [(method, path, body)]
    assert not WebhookEvent.objects.exists()


def test_the_product_application_routes_webhooks_and_pages(channel):
    from helpdesk.asgi import application

    body, headers = _signed(channel)
    url = f"/webhooks/whatsapp/{channel.webhook_key}/"
    status, _h, content = call(application, "POST", url, body, headers)
    assert (status, content) == (200, b"ok")
    assert WebhookEvent.objects.count() == 1
    # The verification handshake and every page are Django's (its whole middleware stack included).
    status, _h, content = call(application, "GET", url)
    assert (status, b"Verification failed" in content) == (403, True)
    status, response_headers, content = call(application, "GET", "/accounts/login/")
    assert status == 200
    assert b"csrfmiddlewaretoken" in content
    assert response_headers[b"x-frame-options"] == b"DENY"
