"""Pytest fixtures for tests of the fake Cloud API: the fake in-process and a webhook sink that records raw bytes.

Use from a test module with ``pytest_plugins = ["tests.whatsapp.fake_fixtures"]`` and take everything through the
fixtures (``fake.pnid``, ``fake.fixtures.json(...)``): importing this module from a test module would stop pytest
from rewriting its asserts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from tests.fake_servers import RecordingServer, shape
from whatsapp.fake import (
    AdjustableClock,
    FakeAdminClient,
    FakeCloudApiServer,
    FakeState,
    Settings,
    wait_for,
)

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "whatsapp"

PNID = "106540352242922"
DISPLAY_NUMBER = "15550783881"
WABA_ID = "102290129340398"
TOKEN = "EAAG-test-token"
APP_SECRET = "test_app_secret"
CUSTOMER = "5511999990001"
START = 1_750_000_000.0
VERIFY_TOKEN = "meatyhamhock"

# Compressed timings so a whole status sequence or retry chain takes well under a second.
FAST = {
    "sent_delay_s": 0.01,
    "delivered_delay_s": 0.03,
    "review_delay_s": 0.05,
    "webhook_retry_delays_s": (0.02, 0.05, 0.1, 0.2),
}


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES_DIR / name).read_text(encoding="utf-8"))


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES_DIR / name).read_bytes()


# ---------------------------------------------------------------------------------------------- webhook sink


@dataclass
class WebhookSink(RecordingServer):
    """The product's WhatsApp webhook endpoint: records every request, answers Meta's verification handshake."""

    methods: ClassVar[tuple[str, ...]] = ("GET", "POST")
    verify_token: str = VERIFY_TOKEN

    @property
    def url(self) -> str:
        return f"{self.base_url}/webhooks/whatsapp/channel-key/"

    def answer(self, request: Request, status: int) -> Response:
        if request.method == "GET":
            if request.query_params.get("hub.verify_token") == self.verify_token:
                return PlainTextResponse(request.query_params.get("hub.challenge", ""))
            return PlainTextResponse("forbidden", status_code=403)
        return super().answer(request, status)

    def statuses(self, wamid: str | None = None) -> list[dict[str, Any]]:
        """Every ``statuses[]`` item received, in arrival order (duplicates included)."""
        found = []
        for post in self.posts():
            for entry in post.json().get("entry", []):
                for change in entry.get("changes", []):
                    for status in change["value"].get("statuses", []):
                        if wamid is None or status["id"] == wamid:
                            found.append(status)
        return found

    def wait_for_statuses(self, wamid: str, names: list[str], timeout: float = 5.0) -> list[dict[str, Any]]:
        def arrived() -> list[dict[str, Any]] | None:
            got = self.statuses(wamid)
            return got if all(name in [s["status"] for s in got] for name in names) else None

        return wait_for(arrived, timeout, message=f"statuses {names} for {wamid}")


# ---------------------------------------------------------------------------------------------- the fake


@dataclass
class MetaFixtures:
    """Reads Meta payload fixtures from tests/fixtures/whatsapp/ (copies of the shared contract folder)."""

    directory: Path = FIXTURES_DIR

    def json(self, name: str) -> Any:
        return load_fixture(name)

    def bytes(self, name: str) -> bytes:
        return fixture_bytes(name)

    @staticmethod
    def shape(value: Any) -> Any:
        return shape(value)


@dataclass
class FakeSetup:
    """A running fake with one registered number pointing at a running sink, plus clients for both APIs."""

    server: FakeCloudApiServer
    sink: WebhookSink
    clock: AdjustableClock
    admin: FakeAdminClient
    graph: httpx.Client  # base URL /v23.0, bearer token of the test number
    http: httpx.Client  # the fake's base URL, no credentials
    fixtures: MetaFixtures = field(default_factory=MetaFixtures)
    pnid: str = PNID
    waba_id: str = WABA_ID
    display_number: str = DISPLAY_NUMBER
    customer: str = CUSTOMER
    token: str = TOKEN
    app_secret: str = APP_SECRET

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def send(self, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return self.graph.post(f"/{self.pnid}/messages", json={"messaging_product": "whatsapp", **body}, **kwargs)

    def send_text(self, text: str = "Olá", *, to: str = CUSTOMER, **extra: Any) -> str:
        response = self.send({"to": to, "type": "text", "text": {"body": text}, **extra})
        assert response.status_code == 200, response.text
        return response.json()["messages"][0]["id"]

    def upload(
        self, content: bytes = b"\xff\xd8\xff\xe0 fake jpeg", mime_type: str = "image/jpeg", filename: str = "a.jpg"
    ) -> str:
        response = self.graph.post(
            f"/{self.pnid}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
        )
        assert response.status_code == 200, response.text
        return response.json()["id"]

    def open_window(self, customer: str = CUSTOMER, text: str = "Oi") -> dict[str, Any]:
        """The customer writes first (opening the 24-hour window); the resulting webhook is consumed."""
        result = self.admin.inbound(phone_number_id=self.pnid, from_=customer, name="Cliente", type="text", text=text)
        wait_for(lambda: any(p.json()["entry"][0]["changes"][0]["value"].get("messages") for p in self.sink.posts()))
        self.sink.clear()
        return result

    def reconfigure(self, **overrides: Any) -> dict[str, Any]:
        """Register the test number again with some fields changed (throughput, pair limits, auto_read...)."""
        return register(self.server, self.sink, **overrides)

    def idle(self) -> bool:
        work = self.server.engine.pending_work()
        return work["scheduled_jobs"] == 0 and work["pending_webhooks"] == 0


def _quiesce(server: FakeCloudApiServer) -> None:
    server.engine.reset()
    wait_for(lambda: server.engine.pending_work()["pending_webhooks"] == 0, 10, message="webhook workers idle")


@pytest.fixture(scope="session")
def _session_clock() -> AdjustableClock:
    return AdjustableClock(START, frozen=True)


@pytest.fixture(scope="session")
def _session_fake(_session_clock: AdjustableClock) -> Iterator[FakeCloudApiServer]:
    server = FakeCloudApiServer(FakeState(Settings(**FAST)), clock=_session_clock).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _session_sink() -> Iterator[WebhookSink]:
    sink = WebhookSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def meta_fixtures() -> MetaFixtures:
    return MetaFixtures()


@pytest.fixture
def fake_clock(_session_clock: AdjustableClock) -> AdjustableClock:
    """The fake's frozen clock, back at START for every test; move it with ``advance``/``set``."""
    _session_clock.set(START)
    return _session_clock


@pytest.fixture
def fake_cloud_api(_session_fake: FakeCloudApiServer, fake_clock: AdjustableClock) -> Iterator[FakeCloudApiServer]:
    """The fake Cloud API in-process (one server per session, emptied before each test), on ``fake_clock``."""
    _quiesce(_session_fake)
    _session_fake.state.settings = Settings(**FAST)
    yield _session_fake
    _quiesce(_session_fake)


@pytest.fixture
def webhook_sink(_session_sink: WebhookSink, fake_cloud_api: FakeCloudApiServer) -> WebhookSink:
    """A webhook receiver recording raw bytes and headers; emptied (and answering 200) at the start of each test."""
    _session_sink.clear()
    _session_sink.reset_responses()
    return _session_sink


@pytest.fixture
def make_fake_cloud_api() -> Iterator[Callable[..., FakeCloudApiServer]]:
    """Factory for a dedicated fake: ``make_fake_cloud_api(clock=..., **settings)``; stopped at teardown."""
    started: list[FakeCloudApiServer] = []

    def make(clock: Callable[[], float] | None = None, **settings: Any) -> FakeCloudApiServer:
        server = FakeCloudApiServer(FakeState(Settings(**{**FAST, **settings})), clock=clock).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def register(server: FakeCloudApiServer, sink: WebhookSink | None, **overrides: Any) -> dict[str, Any]:
    """Register the test number (with seed templates) on ``server``, delivering webhooks to ``sink``."""
    with FakeAdminClient(server.base_url) as admin:
        return admin.register_number(
            **{
                "phone_number_id": PNID,
                "display_phone_number": DISPLAY_NUMBER,
                "waba_id": WABA_ID,
                "access_token": TOKEN,
                "app_secret": APP_SECRET,
                "webhook_url": sink.url if sink else None,
                "verified_name": "Lucky Shrub",
                "seed_templates": True,
                **overrides,
            }
        )


@contextmanager
def setup_for(server: FakeCloudApiServer, sink: WebhookSink, clock: AdjustableClock) -> Iterator[FakeSetup]:
    admin = FakeAdminClient(server.base_url)
    graph = httpx.Client(
        base_url=f"{server.base_url}/v23.0",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
        trust_env=False,
        verify=False,
    )
    http = httpx.Client(base_url=server.base_url, timeout=10, trust_env=False, verify=False)
    try:
        yield FakeSetup(server=server, sink=sink, clock=clock, admin=admin, graph=graph, http=http)
    finally:
        graph.close()
        http.close()
        admin.close()


@pytest.fixture
def fake(fake_cloud_api: FakeCloudApiServer, webhook_sink: WebhookSink, fake_clock: AdjustableClock):
    """The usual starting point: the fake with the test number registered (seed templates) and a webhook sink."""
    register(fake_cloud_api, webhook_sink)
    with setup_for(fake_cloud_api, webhook_sink, fake_clock) as setup:
        yield setup


@pytest.fixture
def dedicated_fake(
    make_fake_cloud_api: Callable[..., FakeCloudApiServer], webhook_sink: WebhookSink
) -> Iterator[Callable[..., FakeSetup]]:
    """Factory for a FakeSetup on its own server: ``dedicated_fake(clock=..., settings={...}, **number_fields)``."""
    contexts = []

    def make(clock: AdjustableClock | None = None, settings: dict[str, Any] | None = None, **number: Any) -> FakeSetup:
        clock = clock or AdjustableClock()
        server = make_fake_cloud_api(clock=clock, **(settings or {}))
        register(server, webhook_sink, **number)
        context = setup_for(server, webhook_sink, clock)
        contexts.append(context)
        return context.__enter__()

    yield make
    for context in contexts:
        context.__exit__(None, None, None)
