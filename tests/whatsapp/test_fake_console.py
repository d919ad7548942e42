"""The fake's console: the simulator's once-a-second polling is not logged, other requests are."""

from __future__ import annotations

import logging
import os
import sys
import urllib.request
from pathlib import Path

from tests.e2e.harness import PROJECT_ROOT, ServerProcess, free_port
from whatsapp.fake.__main__ import QuietPolling


def access_record(path: str) -> logging.LogRecord:
    """A record as uvicorn's access logger makes it: (client, method, path with query, HTTP version, status)."""
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", path, "1.1", 200),
        None,
    )


def test_quiet_polling_drops_only_the_simulator_state_requests():
    quiet = QuietPolling()
    assert quiet.filter(access_record("/_fake/simulator/state")) is False
    assert quiet.filter(access_record("/_fake/simulator/state?pnid=1&customer=5511")) is False
    assert quiet.filter(access_record("/_fake/health")) is True
    assert quiet.filter(access_record("/simulator/")) is True
    assert quiet.filter(access_record("/v23.0/106540352243001/messages")) is True


def test_fake_server_console_shows_requests_but_not_the_simulator_polling(tmp_path: Path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "fake.log"
    command = [sys.executable, "-m", "whatsapp.fake", "--host", "127.0.0.1", "--port", str(port)]
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(PROJECT_ROOT), "PYTHONUNBUFFERED": "1"}
    with ServerProcess(name="fake", command=command, env=env, log_path=log, ready=f"{url}/_fake/health"):
        for _ in range(3):
            with urllib.request.urlopen(f"{url}/_fake/simulator/state", timeout=5) as answer:
                assert answer.status == 200
        urllib.request.urlopen(f"{url}/simulator/", timeout=5).close()
    text = log.read_text(errors="replace")
    assert '"GET /simulator/ HTTP/1.1" 200' in text
    assert "/_fake/health" in text
    assert "/_fake/simulator/state" not in text
