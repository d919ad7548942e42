"""The fake's control plane (``/_fake/``), its isolation between instances, and ``python -m whatsapp.fake``."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from whatsapp.fake import AdjustableClock, FakeAdminClient, create_app, wait_for

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.whatsapp.fake_fixtures import FakeSetup
    from whatsapp.fake import FakeCloudApiServer

pytest_plugins = ["tests.whatsapp.fake_fixtures"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_requests_are_recorded_without_the_authorization_value(fake: FakeSetup):
    fake.graph.get(f"/{fake.pnid}", params={"fields": "throughput"})
    fake.http.get(f"/v23.0/{fake.pnid}")

    recorded = fake.admin.requests(method="GET")

    assert [(r["method"], r["path"], r["query"]) for r in recorded] == [
        ("GET", f"/v23.0/{fake.pnid}", "fields=throughput"),
        ("GET", f"/v23.0/{fake.pnid}", ""),
    ]
    assert [r["authorization_present"] for r in recorded] == [True, False]
    assert [r["status_code"] for r in recorded] == [200, 401]
    assert all("authorization" not in r["headers"] for r in recorded)
    assert fake.token not in json.dumps(recorded)
    fake.admin.clear_requests()
    assert fake.admin.requests() == []


def test_admin_and_simulator_calls_are_not_recorded(fake: FakeSetup):
    fake.admin.messages()
    fake.http.get("/simulator/")

    assert fake.admin.requests() == []


def test_registering_numbers_lists_and_replaces_them(fake: FakeSetup):
    fake.admin.register_number(
        phone_number_id="200000000000001", display_phone_number="+55 11 90000-0002", waba_id="3", access_token="t2"
    )
    replaced = fake.admin.register_number(
        phone_number_id="200000000000001",
        display_phone_number="5511900000002",
        waba_id="3",
        access_token="t3",
        throughput_per_s=5,
    )

    numbers = {n["phone_number_id"]: n for n in fake.admin.phone_numbers()}
    assert set(numbers) == {fake.pnid, "200000000000001"}
    assert replaced["display_phone_number"] == "5511900000002"
    assert (replaced["access_token"], replaced["throughput_per_s"]) == ("t3", 5)
    assert (replaced["pair_burst"], replaced["pair_interval_s"]) == (45, 6.0)
    missing = fake.http.post("/_fake/phone_numbers", json={"phone_number_id": "9"})
    assert missing.status_code == 400
    assert "display_phone_number" in missing.json()["error"]


def test_reset_forgets_numbers_messages_and_faults(fake: FakeSetup):
    fake.open_window()
    fake.send_text("x")
    fake.admin.set_faults(fail_next_5xx=3)

    fake.admin.reset()

    assert fake.admin.phone_numbers() == []
    assert fake.admin.messages(direction="all") == []
    assert fake.http.get("/_fake/faults").json()["fail_next_5xx"] == 0


def test_clock_can_be_moved_through_the_admin_api(fake: FakeSetup):
    before = fake.http.get("/_fake/clock").json()["now"]

    moved = fake.admin.advance_clock(3600)
    fake.admin.set_clock(2_000_000_000)

    assert moved == before + 3600
    assert fake.clock() == 2_000_000_000


def test_settings_can_be_changed_and_unknown_ones_are_refused(fake: FakeSetup):
    updated = fake.admin.settings(review_delay_s=None, webhook_retry_delays_s=[0.1, 0.2])

    assert updated["review_delay_s"] is None
    assert updated["webhook_retry_delays_s"] == [0.1, 0.2]
    assert fake.http.post("/_fake/settings", json={"bogus": 1}).status_code == 400


def test_two_fakes_in_one_process_do_not_share_state(make_fake_cloud_api: Callable[..., FakeCloudApiServer]):
    first, second = make_fake_cloud_api(), make_fake_cloud_api(clock=AdjustableClock(1_000, frozen=True))

    with FakeAdminClient(first.base_url) as a, FakeAdminClient(second.base_url) as b:
        a.register_number(phone_number_id="1", display_phone_number="15550000001", waba_id="9", access_token="x")

        assert [n["phone_number_id"] for n in a.phone_numbers()] == ["1"]
        assert b.phone_numbers() == []
        assert b.health()["now"] == 1_000
    assert create_app().state.engine is not create_app().state.engine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_command_line_starts_the_fake_with_numbers_from_a_config_file(tmp_path: Path):
    config = tmp_path / "numbers.json"
    config.write_text(
        json.dumps(
            [
                {
                    "phone_number_id": "111",
                    "display_phone_number": "15550001111",
                    "waba_id": "222",
                    "access_token": "cli-token",
                    "app_secret": "s",
                    "seed_templates": True,
                }
            ]
        )
    )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "whatsapp.fake", "--port", str(port), "--config", str(config), "--review-delay", "0"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, trust_env=False, verify=False, timeout=2) as client:

            def healthy() -> bool:
                try:
                    return client.get("/_fake/health").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(lambda: healthy() or process.poll() is not None, 20, message="fake did not start")
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            numbers = client.get("/_fake/phone_numbers").json()["data"]
            templates = client.get("/v21.0/222/message_templates", headers={"Authorization": "Bearer cli-token"})
            assert [n["phone_number_id"] for n in numbers] == ["111"]
            assert templates.status_code == 200 and len(templates.json()["data"]) == 3
            assert client.get("/simulator/").status_code == 200
    finally:
        process.terminate()
        process.wait(10)
