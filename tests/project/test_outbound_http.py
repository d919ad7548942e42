"""The guarded outbound client against a real local server: hosts, addresses, DNS, redirects, size, deadline."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from helpdesk.outbound_http import (
    BodyTooLarge,
    GuardedClient,
    OutboundPolicy,
    OutboundRefused,
    address_refusal,
)
from tests.local_http import Answer, FakeDns, LocalServer, Seen


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    return FakeDns(monkeypatch)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    routes: dict[str, Answer] = {}

    def answer(seen: Seen) -> Answer:
        return routes.get(seen.path.split("?")[0], Answer(404, b"not here"))

    with LocalServer(answer) as local:
        local.routes = routes  # type: ignore[attr-defined]
        yield local


def routes(server: LocalServer) -> dict[str, Answer]:
    return server.routes  # type: ignore[attr-defined]


def client(*hosts: str, allow_loopback: bool = False, **kwargs: Any) -> GuardedClient:
    return GuardedClient(OutboundPolicy.of(hosts, allow_loopback=allow_loopback, **kwargs))


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("168.63.129.16", "metadata"),
        ("100.100.100.200", "metadata"),
        ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 around 169.254.169.254
        ("169.254.1.1", "link_local"),
        ("fe80::1", "link_local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "reserved"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not_global"),
        ("157.240.0.35", None),
        ("2a03:2880:f10c:83:face:b00c:0:25de", None),
    ],
)
def test_address_refusal_names_every_non_public_address(address: str, reason: str | None) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    ("address", "reason"),
    [("127.0.0.1", None), ("::1", None), ("10.1.2.3", "private"), ("169.254.169.254", "metadata")],
)
def test_allowing_loopback_allows_loopback_only(address: str, reason: str | None) -> None:
    assert address_refusal(ipaddress.ip_address(address), allow_loopback=True) == reason


def test_a_listed_host_on_loopback_is_fetched_when_the_deployment_allows_loopback(server: LocalServer) -> None:
    routes(server)["/file"] = Answer(200, b"hello", {"Content-Type": "text/plain"})
    with client("127.0.0.1", allow_loopback=True) as guarded:
        fetched = guarded.get(f"{server.url}/file", max_bytes=5, headers={"Authorization": "Bearer t"})
    assert (fetched.status_code, fetched.content, fetched.url) == (200, b"hello", f"{server.url}/file")
    assert [(r.path, r.headers["authorization"], r.headers["accept-encoding"]) for r in server.requests] == [
        ("/file", "Bearer t", "identity")
    ]


def test_a_host_off_the_allow_list_is_never_contacted(server: LocalServer) -> None:
    with client("lookaside.fbsbx.com", allow_loopback=True) as guarded, pytest.raises(OutboundRefused) as refused:
        guarded.get(f"{server.url}/file", max_bytes=100)
    assert refused.value.reason == "host_not_allowed"
    assert server.requests == []


@pytest.mark.parametrize("url", ["http://lookaside.fbsbx.com/x", "ftp://lookaside.fbsbx.com/x", "file:///etc/passwd"])
def test_only_https_is_fetched_unless_loopback_is_allowed(url: str) -> None:
    with client("lookaside.fbsbx.com") as guarded, pytest.raises(OutboundRefused) as refused:
        guarded.get(url, max_bytes=100)
    assert refused.value.reason == "scheme_not_allowed"


def test_a_url_with_credentials_is_refused() -> None:
    with client("lookaside.fbsbx.com") as guarded, pytest.raises(OutboundRefused) as refused:
        guarded.get("https://user:pw@lookaside.fbsbx.com/x", max_bytes=100)
    assert refused.value.reason == "bad_url"


def test_any_host_still_means_public_addresses_only(dns: FakeDns, server: LocalServer) -> None:
    dns.set("anything.example", ["10.0.0.7"])
    with client("*") as guarded:
        assert guarded.policy.host_allowed("anything.example")
        with pytest.raises(OutboundRefused) as refused:
            guarded.get(f"https://anything.example:{server.port}/file", max_bytes=100)
        assert refused.value.reason == "address_not_allowed"
        with pytest.raises(OutboundRefused) as insecure:
            guarded.get("http://anything.example/file", max_bytes=100)
        assert insecure.value.reason == "scheme_not_allowed"
    assert server.requests == []


def test_subdomain_wildcards_match_subdomains_only() -> None:
    policy = OutboundPolicy.of(["*.fbsbx.com", "Graph.Example."])
    assert [policy.host_allowed(h) for h in ("lookaside.fbsbx.com", "fbsbx.com", "evilfbsbx.com", "graph.example")] == [
        True,
        False,
        False,
        True,
    ]


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.7", "169.254.169.254", "::ffff:127.0.0.1"])
def test_a_listed_host_whose_dns_answers_a_non_public_address_is_refused_before_connecting(
    dns: FakeDns, server: LocalServer, address: str
) -> None:
    # The name is listed, but its DNS answer points inside: the local server must see nothing.
    dns.set("lookaside.fbsbx.com", [address])
    with client("lookaside.fbsbx.com") as guarded, pytest.raises(OutboundRefused) as refused:
        guarded.get(f"https://lookaside.fbsbx.com:{server.port}/file", max_bytes=100)
    assert refused.value.reason == "address_not_allowed"
    assert server.requests == []


def test_one_non_public_address_among_public_ones_refuses_the_host(dns: FakeDns, server: LocalServer) -> None:
    dns.set("lookaside.fbsbx.com", ["157.240.0.35", "127.0.0.1"])
    with client("lookaside.fbsbx.com") as guarded, pytest.raises(OutboundRefused) as refused:
        guarded.get(f"https://lookaside.fbsbx.com:{server.port}/file", max_bytes=100)
    assert refused.value.reason == "address_not_allowed"
    assert server.requests == []


def test_the_connection_goes_to_the_address_checked_so_a_rebinding_dns_cannot_win(
    dns: FakeDns, server: LocalServer
) -> None:
    # First answer: loopback (allowed here); any later lookup would answer a private address.
    routes(server)["/file"] = Answer(200, b"checked")
    dns.set("media.test", ["127.0.0.1"], ["10.0.0.7"])
    with client("media.test", allow_loopback=True) as guarded:
        fetched = guarded.get(f"http://media.test:{server.port}/file", max_bytes=100)
    assert fetched.content == b"checked"
    assert dns.lookups == ["media.test"]
    assert server.requests[0].headers["host"] == f"media.test:{server.port}"


def test_a_redirect_to_a_host_off_the_list_is_not_followed(server: LocalServer) -> None:
    routes(server)["/start"] = Answer(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    with client("127.0.0.1", allow_loopback=True) as guarded, pytest.raises(OutboundRefused) as refused:
        guarded.get(f"{server.url}/start", max_bytes=100)
    assert refused.value.reason == "host_not_allowed"
    assert [r.path for r in server.requests] == ["/start"]


def test_a_redirect_to_a_listed_host_resolving_inside_is_refused(dns: FakeDns, server: LocalServer) -> None:
    routes(server)["/start"] = Answer(302, headers={"Location": f"http://inside.test:{server.port}/secret"})
    routes(server)["/secret"] = Answer(200, b"secret")
    dns.set("inside.test", ["10.0.0.7"])
    with client("127.0.0.1", "inside.test", allow_loopback=True) as guarded, pytest.raises(OutboundRefused) as refused:
        guarded.get(f"{server.url}/start", max_bytes=100)
    assert refused.value.reason == "address_not_allowed"
    assert [r.path for r in server.requests] == ["/start"]


def test_redirects_are_followed_a_bounded_number_of_times(server: LocalServer) -> None:
    routes(server)["/loop"] = Answer(302, headers={"Location": "/loop"})
    with (
        client("127.0.0.1", allow_loopback=True, max_redirects=3) as guarded,
        pytest.raises(OutboundRefused) as refused,
    ):
        guarded.get(f"{server.url}/loop", max_bytes=100)
    assert refused.value.reason == "too_many_redirects"
    assert len(server.requests) == 4


def test_credentials_are_not_carried_to_another_origin(dns: FakeDns, server: LocalServer) -> None:
    routes(server)["/start"] = Answer(302, headers={"Location": f"http://other.test:{server.port}/file"})
    routes(server)["/file"] = Answer(200, b"ok")
    dns.set("other.test", ["127.0.0.1"])
    with client("127.0.0.1", "other.test", allow_loopback=True) as guarded:
        fetched = guarded.get(f"{server.url}/start", max_bytes=100, headers={"Authorization": "Bearer t"})
    assert fetched.content == b"ok"
    assert [(r.path, r.headers.get("authorization")) for r in server.requests] == [
        ("/start", "Bearer t"),
        ("/file", None),
    ]


def test_a_body_announced_over_the_cap_is_refused_unread(server: LocalServer) -> None:
    routes(server)["/big"] = Answer(200, b"x" * 2_000_000)
    with client("127.0.0.1", allow_loopback=True) as guarded, pytest.raises(BodyTooLarge) as refused:
        guarded.get(f"{server.url}/big", max_bytes=1_000_000)
    assert (refused.value.reason, refused.value.limit, refused.value.size) == ("too_large", 1_000_000, 2_000_000)


def test_a_body_without_a_length_is_cut_off_at_the_cap(server: LocalServer) -> None:
    routes(server)["/stream"] = Answer(200, b"x" * 2_000_000, length=False)
    routes(server)["/small"] = Answer(200, b"x" * 1_000_000, length=False)
    with client("127.0.0.1", allow_loopback=True) as guarded:
        with pytest.raises(BodyTooLarge) as refused:
            guarded.get(f"{server.url}/stream", max_bytes=1_000_000)
        assert (refused.value.limit, refused.value.size) == (1_000_000, None)
        assert len(guarded.get(f"{server.url}/small", max_bytes=1_000_000).content) == 1_000_000


def test_an_error_answer_is_returned_with_a_bounded_body(server: LocalServer) -> None:
    routes(server)["/gone"] = Answer(404, b"e" * 200_000)
    with client("127.0.0.1", allow_loopback=True) as guarded:
        fetched = guarded.get(f"{server.url}/gone", max_bytes=10_000_000)
    assert (fetched.status_code, len(fetched.content), fetched.is_success) == (404, 65536, False)


def test_every_fetch_has_timeouts() -> None:
    policy = OutboundPolicy.of(["lookaside.fbsbx.com"])
    assert (policy.timeout.connect, policy.timeout.read, policy.deadline_seconds) == (5.0, 15.0, 120.0)
    assert GuardedClient(policy)._http.timeout == httpx.Timeout(connect=5.0, read=15.0, write=15.0, pool=5.0)


def test_a_post_sends_its_body_and_headers_once_and_returns_the_answer(server: LocalServer) -> None:
    routes(server)["/hook"] = Answer(200, b'{"ok":true}', {"Content-Type": "application/json"})
    with client("127.0.0.1", allow_loopback=True) as guarded:
        fetched = guarded.post(
            f"{server.url}/hook", content=b'{"a":1}', max_bytes=100, headers={"Content-Type": "application/json"}
        )
    assert (fetched.status_code, fetched.content) == (200, b'{"ok":true}')
    assert [
        (r.method, r.path, r.body, r.headers["content-type"], r.headers["accept-encoding"]) for r in server.requests
    ] == [("POST", "/hook", b'{"a":1}', "application/json", "identity")]


def test_a_post_is_never_redirected_even_to_an_allowed_address(server: LocalServer) -> None:
    routes(server)["/hook"] = Answer(307, headers={"Location": "/elsewhere"})
    routes(server)["/elsewhere"] = Answer(200, b"{}")
    with client("127.0.0.1", allow_loopback=True) as guarded, pytest.raises(OutboundRefused) as refused:
        guarded.post(f"{server.url}/hook", content=b"{}", max_bytes=100)
    assert refused.value.reason == "redirect_not_followed"
    assert [r.path for r in server.requests] == ["/hook"]


def test_a_post_to_a_host_resolving_inside_is_refused_before_connecting(dns: FakeDns, server: LocalServer) -> None:
    dns.set("hooks.example", ["127.0.0.1"])
    with client("*") as guarded, pytest.raises(OutboundRefused) as refused:
        guarded.post(f"https://hooks.example:{server.port}/hook", content=b"{}", max_bytes=100)
    assert refused.value.reason == "address_not_allowed"
    assert server.requests == []


def test_a_post_answer_over_the_cap_is_refused(server: LocalServer) -> None:
    routes(server)["/hook"] = Answer(200, b"x" * 1000, length=False)
    with client("127.0.0.1", allow_loopback=True) as guarded, pytest.raises(BodyTooLarge) as refused:
        guarded.post(f"{server.url}/hook", content=b"{}", max_bytes=999)
    assert (refused.value.limit, refused.value.size) == (999, None)


def test_plain_http_allowed_still_reaches_public_addresses_only(dns: FakeDns, server: LocalServer) -> None:
    dns.set("hooks.example", ["127.0.0.1"])
    with client("*", allow_plain_http=True) as guarded, pytest.raises(OutboundRefused) as refused:
        guarded.post(f"http://hooks.example:{server.port}/hook", content=b"{}", max_bytes=100)
    assert refused.value.reason == "address_not_allowed"
    assert server.requests == []
