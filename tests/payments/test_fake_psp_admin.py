"""The fake PSP as a program: its admin API, its clock, fault injection, an injected delivery transport, and
``python -m payments.fake`` as a process of its own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from payments.fake import FakeAdminError, FakePspAdminClient, wait_for

if TYPE_CHECKING:
    from collections.abc import Callable

    from payments.fake import FakePspServer
    from tests.payments.fake_psp_fixtures import PspSetup

pytest_plugins = ["tests.payments.fake_psp_fixtures"]

ROOT = Path(__file__).resolve().parents[2]


def test_reset_forgets_accounts_charges_and_logs_but_keeps_settings(psp: PspSetup):
    with psp.pix_gateway() as gateway:
        gateway.create_charge(psp.pix_request())
    psp.admin.settings(token_ttl_s=60)

    psp.admin.reset()

    assert psp.admin.pix_cobs() == []
    assert psp.admin.requests() == []
    assert psp.http.get("/_fake/pix/receivers").json() == {"data": []}
    assert psp.admin.settings()["token_ttl_s"] == 60


def test_unknown_settings_are_refused(psp: PspSetup):
    with pytest.raises(FakeAdminError) as error:
        psp.admin.settings(colour="blue")

    assert (error.value.status, error.value.message) == (400, "unknown settings: colour")


def test_the_clock_moves_by_advance_and_set(psp: PspSetup):
    start = psp.admin.now()

    advanced = psp.admin.advance_clock(90)
    set_to = psp.admin.set_clock(1_800_000_000)

    assert (start, advanced, set_to) == (psp.start.timestamp(), psp.start.timestamp() + 90, 1_800_000_000)


def test_faults_are_listed_used_up_and_cleared(psp: PspSetup):
    psp.admin.add_fault("mercadopago", status=500, times=2)
    psp.admin.add_fault("pix", delay_ms=10)

    listed = psp.admin.faults()
    first = psp.http.get("/mercadopago/v1/payments/1", headers={"Authorization": f"Bearer {psp.mp_token}"})
    psp.admin.clear_faults()

    assert listed == [
        {"provider": "mercadopago", "status": 500, "delay_ms": 0, "times": 2},
        {"provider": "pix", "status": None, "delay_ms": 10, "times": 1},
    ]
    assert first.status_code == 500
    assert psp.admin.faults() == []
    with pytest.raises(FakeAdminError):
        psp.admin.add_fault("boleto", status=500)


def test_the_admin_api_and_the_pages_are_not_recorded_nor_faulted(psp: PspSetup):
    psp.admin.add_fault("stripe", status=500)

    page = psp.http.get("/stripe/c/pay/cs_test_unknown")
    psp.admin.health()

    assert page.status_code == 200
    assert psp.admin.requests() == []
    assert psp.admin.faults()[0]["times"] == 1


def test_callbacks_can_go_through_an_injected_transport_instead_of_a_socket(
    psp: PspSetup, make_psp_server: Callable[..., FakePspServer]
):
    received: list[httpx.Request] = []
    lock = threading.Lock()

    def handle(request: httpx.Request) -> httpx.Response:
        with lock:
            received.append(request)
        return httpx.Response(200)

    server = make_psp_server(delivery_transport=httpx.MockTransport(handle))
    with FakePspAdminClient(server.base_url) as admin:
        admin.add_pix_receiver(id="t", client_id="c", client_secret="s", keys=[psp.pix_key])
        token = httpx.post(
            f"{server.base_url}/pix/oauth/token", data={"grant_type": "client_credentials"}, auth=("c", "s")
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        httpx.put(
            f"{server.pix_api_url}/webhook/{psp.pix_key}",
            json={"webhookUrl": "https://hooks.example.com/p"},
            headers=headers,
        )
        httpx.put(
            f"{server.pix_api_url}/cob/{psp.txid}", json=psp.fixture("bcb_pix_cob_put_request.json"), headers=headers
        )
        admin.pix_pay(psp.txid)
        wait_for(lambda: received)

    (callback,) = received
    assert str(callback.url) == "https://hooks.example.com/p/pix"
    assert callback.headers["content-type"] == "application/json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_python_m_payments_fake_runs_as_its_own_process_with_demo_accounts():
    port = free_port()
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "payments.fake", "--port", str(port), "--demo", "--log-level", "warning"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{base}/_fake/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return process.poll() is not None  # stop waiting if it died

    try:
        wait_for(healthy, 20, interval=0.05, message="the fake did not start")
        assert process.poll() is None
        receivers = httpx.get(f"{base}/_fake/pix/receivers").json()["data"]
        token = httpx.post(
            f"{base}/pix/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("demo-pix-client", "demo-pix-secret"),
        )
        payer_page = httpx.get(f"{base}/payer/")
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)

    assert [r["id"] for r in receivers] == ["demo"]
    assert token.status_code == 200
    assert payer_page.status_code == 200
    assert f"Fake PSP on {base}/" in stderr.decode()
