"""Pytest fixtures for the payment gateways and the fake PSP: the fake in-process on a frozen clock, accounts of the
contract's scenario (tenant-42, R$ 25,00, order wa-ord-000123), a webhook receiver that keeps raw bytes, gateways
wired to the fake, and certificates for mutual TLS.

Use from a test module with ``pytest_plugins = ["tests.payments.fake_psp_fixtures"]`` and take everything through
the fixtures (``psp.fixture("...")``, ``psp.charge_request()``): importing this module from a test module would stop
pytest from rewriting its asserts.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from payments.fake import AdjustableClock, FakePspServer, Settings, wait_for
from payments.gateways import (
    BcbPixConfig,
    BcbPixGateway,
    ChargeItem,
    ChargeRequest,
    MercadoPagoConfig,
    MercadoPagoGateway,
    Payer,
    StripeConfig,
    StripeGateway,
)
from tests.fake_servers import RecordingServer, shape

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "payments"

# The contract's scenario.
START = datetime(2026, 11, 5, 14, 32, tzinfo=UTC)
PIX_KEY = "2a5c4f1e-9b3d-4c7a-8e6f-1d2b3c4d5e6f"
OTHER_KEY = "fin@transporte.example.com"
TXID = "rcg20261105143200a1b2c3d4e5f6"
REFERENCE = "wa-ord-000123"
CLIENT_ID = "psp-client-id-tenant-42"
CLIENT_SECRET = "psp-client-secret-0123456789"
MP_TOKEN = "TEST-0123456789-tenant-42"
MP_SECRET = "mp-test-webhook-secret-0123456789abcdef"
STRIPE_KEY = "sk_test_fake"
STRIPE_SECRET = "whsec_test_0123456789abcdefghijklmnopqrstuv"
STRIPE_VERSION = "2026-06-24.dahlia"
NOTIFICATION_URL = "https://helpdesk.example.com/webhooks/mercadopago/tenant-42?source_news=webhooks"

# Compressed delivery timings: a whole retry chain takes well under a second.
FAST = {"delivery_retry_delays_s": (0.02, 0.05, 0.1), "delivery_timeout_s": 2.0}


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES_DIR / name).read_text(encoding="utf-8"))


# --- A webhook receiver -----------------------------------------------------------------------------------------------


@dataclass
class WebhookReceiver(RecordingServer):
    """A tiny HTTP server standing in for the product's webhook endpoints (``tests.fake_servers``)."""

    def clear(self) -> None:
        super().clear()
        self.reset_responses()


# --- Certificates -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    """A test CA, the fake's server certificate for 127.0.0.1, two client certificates it signed, and a client
    certificate nobody signed."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_cert: Path
    other_key: Path
    rogue_cert: Path
    rogue_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    directory: Path,
    stem: str,
    *,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    ca: bool = False,
    server: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(stem))
        .issuer_name(issuer[0].subject if issuer else _name(stem))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), critical=False
        )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    certificate = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    (directory / f"{stem}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / f"{stem}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return certificate, key


def make_certificates(directory: Path) -> Certificates:
    ca = _certificate(directory, "ca", issuer=None, ca=True)
    _certificate(directory, "server", issuer=ca, server=True)
    _certificate(directory, "client", issuer=ca)
    _certificate(directory, "other", issuer=ca)
    _certificate(directory, "rogue", issuer=None)
    return Certificates(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        other_cert=directory / "other.pem",
        other_key=directory / "other.key",
        rogue_cert=directory / "rogue.pem",
        rogue_key=directory / "rogue.key",
    )


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certificates"))


# --- The fake and its setup -------------------------------------------------------------------------------------------


@dataclass
class PspSetup:
    """The running fake with the scenario's accounts, a webhook receiver, and the adapters wired to both."""

    server: FakePspServer
    clock: AdjustableClock
    receiver: WebhookReceiver
    http: httpx.Client  # the fake's base URL, no credentials
    start: datetime = START
    pix_key: str = PIX_KEY
    other_key: str = OTHER_KEY
    txid: str = TXID
    reference: str = REFERENCE
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    mp_token: str = MP_TOKEN
    mp_secret: str = MP_SECRET
    stripe_key: str = STRIPE_KEY
    stripe_secret: str = STRIPE_SECRET

    @property
    def admin(self) -> Any:
        return self.server.admin

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @staticmethod
    def fixture(name: str) -> Any:
        return load_fixture(name)

    @staticmethod
    def fixture_text(name: str) -> str:
        return (FIXTURES_DIR / name).read_text(encoding="utf-8")

    @staticmethod
    def shape(value: Any) -> Any:
        return shape(value)

    # Gateways ---------------------------------------------------------------------------------------------------

    def pix_config(self, **overrides: Any) -> BcbPixConfig:
        options: dict[str, Any] = {
            "api_url": self.server.pix_api_url,
            "token_url": self.server.pix_token_url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "pix_key": PIX_KEY,
        }
        return BcbPixConfig(**{**options, **overrides})

    def pix_gateway(self, transport: httpx.BaseTransport | None = None, **overrides: Any) -> BcbPixGateway:
        return BcbPixGateway(self.pix_config(**overrides), transport=transport, clock=self.now)

    def mercadopago_gateway(self, **overrides: Any) -> MercadoPagoGateway:
        options: dict[str, Any] = {
            "access_token": MP_TOKEN,
            "webhook_secret": MP_SECRET,
            "api_url": self.server.mercadopago_url,
            "statement_descriptor": "TRANSPEXEMPLO",
        }
        return MercadoPagoGateway(MercadoPagoConfig(**{**options, **overrides}), clock=self.now)

    def stripe_gateway(self, **overrides: Any) -> StripeGateway:
        options: dict[str, Any] = {
            "secret_key": STRIPE_KEY,
            "webhook_secret": STRIPE_SECRET,
            "api_url": self.server.stripe_url,
            "api_version": STRIPE_VERSION,
        }
        return StripeGateway(StripeConfig(**{**options, **overrides}), clock=self.now)

    # Requests ---------------------------------------------------------------------------------------------------

    def pix_request(self, **overrides: Any) -> ChargeRequest:
        """The charge of ``bcb_pix_cob_put_request.json``: R$ 25,00 for 15 minutes."""
        options: dict[str, Any] = {
            "reference": REFERENCE,
            "charge_id": TXID,
            "amount": 2500,
            "description": "Recarga do cartão de transporte 0012345678",
            "expires_at": self.now() + timedelta(seconds=900),
            "payer": Payer(name="Francisco da Silva", tax_id="12345678909"),
            "extra_info": (("Cartão", "0012345678"),),
        }
        return ChargeRequest(**{**options, **overrides})

    def card_request(self, **overrides: Any) -> ChargeRequest:
        """The link of ``mp_preference_create_request.json``; ``notification_url`` points at the receiver."""
        options: dict[str, Any] = {
            "reference": REFERENCE,
            "charge_id": "wa-ord-000123-link-1",
            "amount": 2500,
            "description": "Recarga cartão de transporte",
            "expires_at": self.now() + timedelta(minutes=15),
            "items": (ChargeItem("recarga-transporte", "Recarga cartão de transporte", 1, 2500, "Cartão 0012345678"),),
            "payer": Payer(name="Francisco da Silva", tax_id="12345678909", email="cliente@example.com"),
            "notification_url": f"{self.receiver.base_url}/webhooks/mercadopago/tenant-42?source_news=webhooks",
            "success_url": "https://helpdesk.example.com/pay/return/success",
            "failure_url": "https://helpdesk.example.com/pay/return/failure",
            "pending_url": "https://helpdesk.example.com/pay/return/pending",
            "metadata": {"tenant_id": "tenant-42", "order_id": REFERENCE},
        }
        return ChargeRequest(**{**options, **overrides})

    # The fake ---------------------------------------------------------------------------------------------------

    def token(self, **form: str) -> str:
        """A token of the scenario's receiver, straight from the fake."""
        data = {"grant_type": "client_credentials", **form}
        response = self.http.post("/pix/oauth/token", data=data, auth=(CLIENT_ID, CLIENT_SECRET))
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def pix_api(self, token: str | None = None) -> httpx.Client:
        """A raw client of the fake API Pix with a token of the scenario's receiver."""
        headers = {"Authorization": f"Bearer {token or self.token()}"}
        return httpx.Client(base_url=self.server.pix_api_url, headers=headers, timeout=10, trust_env=False)

    def register_webhook(self, key: str = PIX_KEY) -> str:
        url = f"{self.receiver.base_url}/webhooks/pix/tenant-42"
        with self.pix_gateway() as gateway:
            gateway.register_webhook(url)
        return url

    def idle(self) -> bool:
        return self.server.pending_deliveries() == 0


def register_scenario(server: FakePspServer, receiver: WebhookReceiver) -> None:
    """The scenario's accounts at the fake: the Pix receiver with two keys, a Mercado Pago and a Stripe account."""
    admin = server.admin
    admin.add_pix_receiver(
        id="tenant-42",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        keys=[PIX_KEY, OTHER_KEY],
        merchant_name="TRANSPORTE EXEMPLO",
        merchant_city="SAO PAULO",
    )
    admin.add_pix_receiver(
        id="tenant-7", client_id="psp-client-id-tenant-7", client_secret="other-secret", keys=["12345678000195"]
    )
    admin.add_mercadopago_account(
        access_token=MP_TOKEN,
        webhook_secret=MP_SECRET,
        name="Transporte Exemplo",
        webhook_url=f"{receiver.base_url}/webhooks/mercadopago/panel",
    )
    admin.add_stripe_account(
        secret_key=STRIPE_KEY,
        webhook_secret=STRIPE_SECRET,
        webhook_url=f"{receiver.base_url}/webhooks/stripe/tenant-42",
    )


@pytest.fixture(scope="session")
def _psp_clock() -> AdjustableClock:
    return AdjustableClock(START.timestamp(), frozen=True)


@pytest.fixture(scope="session")
def _psp_server(_psp_clock: AdjustableClock) -> Iterator[FakePspServer]:
    server = FakePspServer(clock=_psp_clock, settings=Settings(**FAST)).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _psp_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def psp(_psp_server: FakePspServer, _psp_clock: AdjustableClock, _psp_receiver: WebhookReceiver) -> Iterator[PspSetup]:
    """The usual starting point: the fake emptied, on its clock at the scenario's instant, with the accounts set up."""
    _psp_server.admin.reset()
    wait_for(lambda: _psp_server.pending_deliveries() == 0, 10, message="deliveries idle")
    _psp_server.state.settings = Settings(**FAST)
    _psp_clock.set(START.timestamp())
    _psp_receiver.clear()
    register_scenario(_psp_server, _psp_receiver)
    with httpx.Client(base_url=_psp_server.base_url, timeout=10, trust_env=False) as http:
        yield PspSetup(server=_psp_server, clock=_psp_clock, receiver=_psp_receiver, http=http)
    _psp_server.admin.reset()


@pytest.fixture
def make_psp_server() -> Iterator[Callable[..., FakePspServer]]:
    """Factory for a dedicated fake (TLS, an injected delivery transport...); stopped at teardown."""
    started: list[FakePspServer] = []

    def make(**options: Any) -> FakePspServer:
        options.setdefault("clock", AdjustableClock(START.timestamp(), frozen=True))
        options.setdefault("settings", Settings(**FAST))
        server = FakePspServer(**options).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
