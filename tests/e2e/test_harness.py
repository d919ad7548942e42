"""The process harness reports a child that fails to start and stops one that ignores SIGTERM."""

from __future__ import annotations

import sys
from pathlib import Path

import environ
import pytest

from .harness import ServerProcess, ServerProcessError, database_url

pytestmark = pytest.mark.e2e


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_process_that_exits_before_ready_raises_with_its_log(tmp_path: Path) -> None:
    process = ServerProcess(
        name="crasher",
        command=_python("import sys; print('settings are broken'); sys.exit(3)"),
        env={},
        log_path=tmp_path / "crasher.log",
        ready=lambda: False,
    )

    with pytest.raises(ServerProcessError, match=r"(?s)crasher exited with code 3.*settings are broken"):
        process.start()
    assert not process.running


def test_process_never_ready_raises_after_the_startup_timeout_and_is_stopped(tmp_path: Path) -> None:
    process = ServerProcess(
        name="sleeper",
        command=_python("import signal; signal.pause()"),
        env={},
        log_path=tmp_path / "sleeper.log",
        ready=lambda: False,
        startup_timeout=0.5,
    )

    with pytest.raises(ServerProcessError, match="sleeper was not ready after"):
        process.start()
    assert not process.running


def test_process_ignoring_sigterm_is_killed_at_stop(tmp_path: Path) -> None:
    log = tmp_path / "stubborn.log"
    code = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); signal.pause()"
    process = ServerProcess(
        name="stubborn",
        command=_python(code),
        env={},
        log_path=log,
        # The log's first line is the command itself, which also contains "up".
        ready=lambda: log.read_text().splitlines()[1:] == ["up"],
        stop_timeout=0.5,
    )

    with process:
        assert process.running

    assert process.stop() == -9
    assert not process.running


def test_database_url_points_the_server_at_the_test_database(tmp_path: Path) -> None:
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "t.sqlite3")}
    postgres = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "test_helpdesk_ci",
        "USER": "postgres",
        "PASSWORD": "p@ss/word",
        "HOST": "127.0.0.1",
        "PORT": 5432,
    }

    assert database_url(sqlite) == f"sqlite:///{tmp_path / 't.sqlite3'}"
    assert database_url(postgres) == "postgres://postgres:p%40ss%2Fword@127.0.0.1:5432/test_helpdesk_ci"
    assert database_url({**postgres, "PASSWORD": ""}) == "postgres://postgres@127.0.0.1:5432/test_helpdesk_ci"
    via_socket = {**postgres, "PASSWORD": "", "HOST": "/run/postgresql", "PORT": ""}
    assert environ.Env.db_url_config(database_url(via_socket)) | {"PORT": ""} == via_socket
    with pytest.raises(ValueError, match="in-memory"):
        database_url({"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"})
