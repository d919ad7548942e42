"""A flow's integration step against a real local endpoint: signing, headers, answers, retries, timeouts,
and the addresses it must never reach."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from django.utils import translation

from flows.integrations import IntegrationResult, integration_call, integration_url_check, sign, verify
from helpdesk.exceptions import ValidationFailed
from tests.flows.business_endpoint import BusinessEndpoint, Reply
from tests.local_http import FakeDns

SECRET = "whsec-test-9f2c"
PAYLOAD = {
    "flow": "recarga",
    "step": "saldo",
    "conversation": 42,
    "contact": {"name": "João", "phone": "+5511999990000"},
    "variables": {"card": "12345678"},
}
BODY = (
    '{"flow":"recarga","step":"saldo","conversation":42,'
    '"contact":{"name":"João","phone":"+5511999990000"},"variables":{"card":"12345678"}}'
).encode()
NOW = 1_765_000_000


@pytest.fixture
def local_endpoints_allowed(settings: Any) -> None:
    """The deployment of tests and the demo: the fake endpoint on this machine, over plain http."""
    settings.FLOWS_INTEGRATION_ALLOW_LOOPBACK = True
    settings.FLOWS_INTEGRATION_ALLOW_PLAIN_HTTP = True


@pytest.fixture
def endpoint(local_endpoints_allowed: None) -> Iterator[BusinessEndpoint]:
    server = BusinessEndpoint(SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    return FakeDns(monkeypatch)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def call(url: str, sleeps: list[float] | None = None, **kwargs: Any) -> IntegrationResult:
    arguments: dict[str, Any] = {"secret": SECRET, "payload": PAYLOAD, "delivery_id": "call-1"}
    arguments.update(kwargs)
    return integration_call(url=url, sleep=(sleeps if sleeps is not None else []).append, **arguments)


def test_the_endpoint_receives_the_compact_json_body_with_exactly_these_headers(endpoint: BusinessEndpoint) -> None:
    result = call(endpoint.url("/hook"), clock=lambda: NOW + 0.9)
    assert result == IntegrationResult(ok=True, status=200, data={}, error="", attempts=1)
    [received] = endpoint.requests()
    expected = hmac.new(SECRET.encode(), b"1765000000." + BODY, hashlib.sha256).hexdigest()
    assert (received.method, received.path, received.body) == ("POST", "/hook", BODY)
    assert received.headers == {
        "host": f"127.0.0.1:{endpoint.port}",
        "accept": "application/json",
        "accept-encoding": "identity",
        "connection": "keep-alive",
        "user-agent": "Helpdesk-Flows/1",
        "content-type": "application/json",
        "content-length": str(len(BODY)),
        "x-helpdesk-signature": f"t=1765000000,v1={expected}",
        "x-helpdesk-timestamp": "1765000000",
        "x-helpdesk-delivery": "call-1",
    }


def test_the_receiver_verifies_the_signature_of_a_call_made_now(endpoint: BusinessEndpoint) -> None:
    assert call(endpoint.url()).ok
    [received] = endpoint.requests()
    assert received.verified is True


def test_verify_refuses_a_tampered_body_a_stale_or_future_time_and_a_wrong_secret() -> None:
    header = sign(SECRET, NOW, BODY)
    assert verify(SECRET, header, BODY, now=NOW + 300) is True
    assert verify(SECRET, header, BODY + b" ", now=NOW) is False
    assert verify(SECRET, header, BODY.replace(b"12345678", b"12345679"), now=NOW) is False
    assert verify(SECRET, header, BODY, now=NOW + 301) is False
    assert verify(SECRET, header, BODY, now=NOW - 301) is False
    assert verify(SECRET, header, BODY, now=NOW + 1000, tolerance=1000) is True
    assert verify("another-secret", header, BODY, now=NOW) is False
    # The timestamp is signed: moving it breaks the signature.
    assert verify(SECRET, header.replace("t=1765000000", "t=1765000100"), BODY, now=NOW) is False


def test_verify_accepts_any_of_several_signatures_and_refuses_malformed_headers() -> None:
    good = sign(SECRET, NOW, BODY).split(",")[1]
    rotating = f"t={NOW},v1={sign('old-secret', NOW, BODY).split('v1=')[1]},{good},v2=future"
    assert verify(SECRET, rotating, BODY, now=NOW) is True
    for header in ("", f"t={NOW}", good, f"t=abc,{good}", f"t=-{NOW},{good}", f"t={NOW},v1=", f"t={NOW},v1=zz"):
        assert verify(SECRET, header, BODY, now=NOW) is False, header
    assert verify(SECRET, f"t={NOW},v1=ç", BODY, now=NOW) is False


def test_the_json_object_answered_is_the_result(endpoint: BusinessEndpoint) -> None:
    endpoint.queue(Reply(200, json={"balance": 1250, "holder": {"name": "Maria"}, "active": True}))
    result = call(endpoint.url())
    assert result == IntegrationResult(
        ok=True, status=200, data={"balance": 1250, "holder": {"name": "Maria"}, "active": True}, attempts=1
    )


def test_an_empty_success_is_an_empty_object(endpoint: BusinessEndpoint) -> None:
    endpoint.queue(Reply(204, body=b""))
    assert call(endpoint.url()) == IntegrationResult(ok=True, status=204, data={}, attempts=1)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"text"', b"12", b'{"balance": NaN}', b"{" * 50_000])
def test_an_answer_that_is_not_a_json_object_is_invalid_and_not_tried_again(
    endpoint: BusinessEndpoint, sleeps: list[float], body: bytes
) -> None:
    endpoint.queue(Reply(200, body=body))
    assert call(endpoint.url(), sleeps) == IntegrationResult(ok=False, status=200, error="invalid_json", attempts=1)
    assert (len(endpoint.requests()), sleeps) == (1, [])


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_server_error_or_rate_limit_is_tried_again_under_the_same_delivery_id(
    endpoint: BusinessEndpoint, sleeps: list[float], status: int
) -> None:
    endpoint.queue(Reply(status, json={"error": "busy"}), Reply(200, json={"balance": 1250}))
    result = call(endpoint.url(), sleeps, delivery_id="flow-7:step-3:1")
    assert result == IntegrationResult(ok=True, status=200, data={"balance": 1250}, attempts=2)
    received = endpoint.requests()
    assert len(received) == 2
    assert [(r.body, r.headers["x-helpdesk-delivery"], r.verified) for r in received] == [
        (BODY, "flow-7:step-3:1", True),
        (BODY, "flow-7:step-3:1", True),
    ]
    assert sleeps == [0.5]


def test_a_server_error_every_time_fails_after_the_retries(endpoint: BusinessEndpoint, sleeps: list[float]) -> None:
    endpoint.default = Reply(502)
    result = call(endpoint.url(), sleeps, retries=2)
    assert result == IntegrationResult(ok=False, status=502, error="http_5xx", attempts=3)
    assert (len(endpoint.requests()), sleeps) == (3, [0.5, 1.0])


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_a_client_error_is_final(endpoint: BusinessEndpoint, sleeps: list[float], status: int) -> None:
    endpoint.queue(Reply(status, json={"error": "unknown card"}), Reply(200, json={"balance": 1}))
    result = call(endpoint.url(), sleeps)
    assert result == IntegrationResult(ok=False, status=status, error="http_4xx", attempts=1)
    assert (len(endpoint.requests()), sleeps) == (1, [])


def test_a_slow_endpoint_times_out_on_every_attempt(endpoint: BusinessEndpoint, sleeps: list[float]) -> None:
    endpoint.default = Reply(200, json={"late": True}, hold=True)
    result = call(endpoint.url(), sleeps, timeout=0.3, retries=1)
    endpoint.release()
    assert result == IntegrationResult(ok=False, status=0, error="timeout", attempts=2)
    assert (len(endpoint.requests()), sleeps) == (2, [0.5])


def test_an_endpoint_that_cannot_be_reached_is_a_network_error(
    local_endpoints_allowed: None, sleeps: list[float]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = call(f"http://127.0.0.1:{port}/hook", sleeps)
    assert result == IntegrationResult(ok=False, status=0, error="network", attempts=3)
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_over_64_kib_is_too_large(endpoint: BusinessEndpoint, sleeps: list[float], stream: bool) -> None:
    endpoint.queue(Reply(200, json={"blob": "x" * 65_536}, stream=stream))
    assert call(endpoint.url(), sleeps) == IntegrationResult(ok=False, status=0, error="too_large", attempts=1)
    assert (len(endpoint.requests()), sleeps) == (1, [])


def test_an_answer_of_exactly_64_kib_is_read(endpoint: BusinessEndpoint) -> None:
    filler = "x" * (65_536 - len(b'{"blob":""}'))
    endpoint.queue(Reply(200, body=json.dumps({"blob": filler}, separators=(",", ":")).encode()))
    result = call(endpoint.url())
    assert (result.ok, len(result.data["blob"])) == (True, len(filler))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_refused_and_never_followed_even_to_loopback_allowed(
    endpoint: BusinessEndpoint, sleeps: list[float], status: int
) -> None:
    endpoint.queue(Reply(status, headers={"Location": f"http://127.0.0.1:{endpoint.port}/internal"}))
    assert call(endpoint.url("/hook"), sleeps) == IntegrationResult(ok=False, status=0, error="refused", attempts=1)
    assert ([r.path for r in endpoint.requests()], sleeps) == (["/hook"], [])


def test_a_loopback_address_is_refused_when_the_deployment_does_not_allow_it(endpoint: BusinessEndpoint) -> None:
    with override_settings(FLOWS_INTEGRATION_ALLOW_LOOPBACK=False):
        for url in (endpoint.url(), f"http://localhost:{endpoint.port}/hook", f"http://[::1]:{endpoint.port}/hook"):
            assert call(url) == IntegrationResult(ok=False, error="refused", attempts=0), url
    assert endpoint.requests() == []


def test_a_name_resolving_to_loopback_is_refused_on_connecting(endpoint: BusinessEndpoint, dns: FakeDns) -> None:
    dns.set("hooks.example.com", ["127.0.0.1"])
    with override_settings(FLOWS_INTEGRATION_ALLOW_LOOPBACK=False):
        result = call(f"http://hooks.example.com:{endpoint.port}/hook")
    assert result == IntegrationResult(ok=False, error="refused", attempts=1)
    assert (dns.lookups, endpoint.requests()) == (["hooks.example.com"], [])


@pytest.mark.parametrize("address", ["10.0.0.7", "192.168.1.20", "169.254.169.254", "fd00:ec2::254"])
def test_a_name_resolving_to_a_private_address_is_refused_even_with_loopback_allowed(
    endpoint: BusinessEndpoint, dns: FakeDns, address: str
) -> None:
    dns.set("hooks.example.com", [address])
    assert call(f"http://hooks.example.com:{endpoint.port}/hook") == IntegrationResult(
        ok=False, error="refused", attempts=1
    )
    assert endpoint.requests() == []


def test_plain_http_is_refused_unless_the_deployment_allows_it(endpoint: BusinessEndpoint) -> None:
    with override_settings(FLOWS_INTEGRATION_ALLOW_PLAIN_HTTP=False):
        assert call(endpoint.url()) == IntegrationResult(ok=False, error="refused", attempts=0)
        with pytest.raises(ValidationFailed) as refused:
            integration_url_check(endpoint.url())
    assert refused.value.message == "The address of the endpoint must start with https://."
    assert endpoint.requests() == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "Enter the address of the endpoint."),
        ("https://hooks.example.com/" + "a" * 475, "The address of the endpoint is longer than 500 characters."),
        ("ftp://hooks.example.com/x", "The address of the endpoint must start with https://."),
        ("hooks.example.com/x", "The address of the endpoint must start with https://."),
        (
            "https://user:pw@hooks.example.com/x",
            "The address of the endpoint must not contain a user name or password.",
        ),
        ("https://hooks example.com/x", "The address of the endpoint is not a valid URL."),
        ("https:///x", "The address of the endpoint is not a valid URL."),
    ],
)
def test_an_unusable_address_is_refused_with_a_clear_message(url: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        integration_url_check(url)
    assert (refused.value.message, refused.value.details) == (message, {"field": "url"})


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f.0.0.1",
        "[::1]",
        "localhost",
        "api.localhost",
        "10.1.2.3",
        "192.168.0.1",
        "169.254.169.254",
        "[::ffff:10.0.0.1]",
        "[fe80::1]",
        "0.0.0.0",
    ],
)
def test_an_address_that_is_not_public_is_refused_before_any_call(host: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        integration_url_check(f"https://{host}/hook")
    assert refused.value.message == (
        "The address of the endpoint must be public: not a loopback, private or link-local network address."
    )


def test_a_public_https_address_is_accepted_trimmed() -> None:
    assert (
        integration_url_check("  https://hooks.example.com:8443/flows?x=1 ")
        == "https://hooks.example.com:8443/flows?x=1"
    )
    assert integration_url_check("https://157.240.0.35/hook") == "https://157.240.0.35/hook"
    assert integration_url_check("https://bücher.example/hook") == "https://bücher.example/hook"


def test_the_message_is_translated() -> None:
    with translation.override("pt-br"), pytest.raises(ValidationFailed) as refused:
        integration_url_check("http://hooks.example.com/x")
    assert refused.value.message == "O endereço do endpoint deve começar com https://."


def test_neither_the_secret_nor_the_body_is_logged(
    endpoint: BusinessEndpoint, caplog: pytest.LogCaptureFixture, sleeps: list[float]
) -> None:
    endpoint.queue(Reply(500), Reply(200, json={"balance": 1250}))
    with caplog.at_level(logging.DEBUG):
        assert call(endpoint.url(), sleeps).ok
    text = caplog.text
    assert (SECRET in text, "12345678" in text, "João" in text, "1250" in text) == (False, False, False, False)
    flows_records = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "flows.integrations"]
    assert flows_records == [
        ("INFO", "Flow integration call to 127.0.0.1: attempt 1 failed (http_5xx, HTTP 500); trying again."),
        ("INFO", "Flow integration call to 127.0.0.1 answered HTTP 200 (2 attempt(s))."),
    ]


def test_a_malformed_delivery_id_or_a_missing_secret_is_a_programming_error(endpoint: BusinessEndpoint) -> None:
    with pytest.raises(ValueError):
        call(endpoint.url(), delivery_id="a\r\nX-Injected: 1")
    with pytest.raises(ValueError):
        call(endpoint.url(), secret="")
    assert endpoint.requests() == []
