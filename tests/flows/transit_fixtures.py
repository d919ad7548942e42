"""Pytest fixtures for the transit operator: the fake operator in-process (real HTTP over a socket) on a frozen clock,
one workspace's API key and the scenario's cards, raw HTTP to it and the product's client wired to it.

tests/flows/conftest.py gives them to every flows test; take everything through the
``transit`` fixture; the scenario's values are its attributes (importing this module from a test module would stop
pytest from rewriting its asserts).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from flows.fake import AdjustableClock, FakeTransitAdminClient, FakeTransitServer
from flows.transit import TransitOperatorClient

START = datetime(2026, 11, 5, 14, 32, tzinfo=UTC)
API_KEY = "transit-key-tenant-42"
OTHER_KEY = "transit-key-tenant-7"
MARIA = "123456789012"  # Maria Souza, R$ 12,50
JOAO = "987654321098"  # João Lima, R$ 0,00
BLOCKED = "111122223333"  # Ana Costa, R$ 5,00, blocked
UNKNOWN = "555566667777"  # no such card
REFERENCE = "wa-ord-000123"


@dataclass
class TransitSetup:
    server: FakeTransitServer
    clock: AdjustableClock
    http: httpx.Client  # the fake's base URL, with the scenario's API key
    api_key: str = API_KEY
    other_key: str = OTHER_KEY
    maria: str = MARIA
    joao: str = JOAO
    blocked: str = BLOCKED
    unknown: str = UNKNOWN
    reference: str = REFERENCE
    start: datetime = START
    _clients: list[TransitOperatorClient] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def admin(self) -> FakeTransitAdminClient:
        return self.server.admin

    def client(self, **options: Any) -> TransitOperatorClient:
        """The product's adapter, pointed at the fake with the scenario's API key (closed at teardown)."""
        options.setdefault("base_url", self.base_url)
        options.setdefault("api_key", API_KEY)
        client = TransitOperatorClient(**options)
        self._clients.append(client)
        return client

    def lookup(self, number: str, **headers: str) -> httpx.Response:
        return self.http.get(f"/v1/cards/{number}", headers=headers)

    def credit(self, number: str, key: str | None = "key-1", body: Any = None, **headers: str) -> httpx.Response:
        """A raw credit call: R$ 20,00 for the scenario's order unless ``body`` says otherwise."""
        if key is not None:
            headers["Idempotency-Key"] = key
        if body is None:
            body = {"amount": 2000, "currency": "BRL", "reference": REFERENCE}
        return self.http.post(f"/v1/cards/{number}/credits", json=body, headers=headers)

    def card(self, number: str) -> dict[str, Any]:
        """The card as the fake keeps it (full name, balance, credits)."""
        return self.admin.card(number)

    def balance(self, number: str) -> int:
        return self.card(number)["balance"]

    def credits(self, number: str) -> list[dict[str, Any]]:
        return self.card(number)["credits"]

    def close(self) -> None:
        for client in self._clients:
            client.close()


def set_up_scenario(admin: FakeTransitAdminClient) -> None:
    admin.add_key(API_KEY, "Transporte Exemplo")
    admin.add_key(OTHER_KEY, "Outra Empresa")
    admin.add_card(MARIA, "Maria Souza", balance=1250)
    admin.add_card(JOAO, "João Lima", balance=0)
    admin.add_card(BLOCKED, "Ana Costa", balance=500, status="blocked")


@pytest.fixture(scope="session")
def _transit_clock() -> AdjustableClock:
    return AdjustableClock(START.timestamp(), frozen=True)


@pytest.fixture(scope="session")
def _transit_server(_transit_clock: AdjustableClock) -> Iterator[FakeTransitServer]:
    server = FakeTransitServer(clock=_transit_clock).start()
    yield server
    server.stop()


@pytest.fixture
def transit(_transit_server: FakeTransitServer, _transit_clock: AdjustableClock) -> Iterator[TransitSetup]:
    """The fake emptied, on its clock at the scenario's instant, with the scenario's keys and cards."""
    _transit_server.admin.reset()
    _transit_clock.set(START.timestamp())
    set_up_scenario(_transit_server.admin)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=_transit_server.base_url, headers=headers, timeout=10, trust_env=False) as http:
        setup = TransitSetup(server=_transit_server, clock=_transit_clock, http=http)
        yield setup
        setup.close()
    _transit_server.admin.reset()
