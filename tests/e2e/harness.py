"""Real processes for browser tests: start one, wait until it is ready, stop it, show its log."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote, urlencode

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


class ServerProcessError(RuntimeError):
    """A child process exited early or never became ready; the message carries its log tail."""


# Servers started by tests listen on ports below the kernel's ephemeral range (32768 and up on Linux), so
# no outgoing connection can take a port between the check and the server's bind; each pytest-xdist
# process draws from a block of its own, so two processes never pick the same port either.
_PORT_BASE = 20000
_PORT_BLOCK = 1000
_port_draws = itertools.count()


def _port_block_start() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return _PORT_BASE + (index % 12) * _PORT_BLOCK


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now, from this test process's own block."""
    start = _port_block_start()
    for _ in range(_PORT_BLOCK):
        port = start + next(_port_draws) % _PORT_BLOCK
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise ServerProcessError(f"No free port between {start} and {start + _PORT_BLOCK - 1}.")


def url_returns_ok(url: str, *, timeout: float = 2.0) -> Callable[[], bool]:
    """A readiness check: true once ``url`` answers 200."""

    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    return check


def database_url(settings_dict: Mapping[str, Any]) -> str:
    """The ``DATABASE_URL`` (django-environ syntax) of a Django connection's settings."""
    engine = settings_dict["ENGINE"]
    name = str(settings_dict["NAME"])
    if engine == "django.db.backends.sqlite3":
        if name == ":memory:" or "mode=memory" in name:
            raise ValueError("An in-memory SQLite database cannot be shared with a server process.")
        return f"sqlite:///{Path(name).resolve()}"
    if engine == "django.db.backends.postgresql":
        user = quote(str(settings_dict.get("USER") or ""), safe="")
        password = quote(str(settings_dict.get("PASSWORD") or ""), safe="")
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host, port = str(settings_dict.get("HOST") or ""), settings_dict.get("PORT")
        # django-environ takes a socket directory from the path: postgres://user@//run/postgresql/name
        location = (
            f"{credentials}/{host}" if host.startswith("/") else f"{credentials}{host}{f':{port}' if port else ''}"
        )
        options = {key: value for key, value in (settings_dict.get("OPTIONS") or {}).items() if isinstance(value, str)}
        query = f"?{urlencode(options)}" if options else ""
        return f"postgres://{location}/{quote(name, safe='')}{query}"
    raise ValueError(f"Browser tests do not know how to share a {engine} database.")


class ServerProcess:
    """One child process of a browser test, e.g. the ASGI server, a Celery worker or a fake API.

    ``start()`` launches ``command`` with ``env`` (the whole environment of the child), writes
    its stdout and stderr to ``log_path`` and returns once ``ready`` (a URL that must answer 200,
    or a callable returning true) holds, or raises ``ServerProcessError`` with the log tail if the
    process exits or ``startup_timeout`` passes first. ``stop()`` sends SIGTERM to the process
    group and SIGKILL if it has not exited after ``stop_timeout``. Use it as a context manager.
    """

    def __init__(
        self,
        *,
        name: str,
        command: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        ready: str | Callable[[], bool] | None = None,
        cwd: Path = PROJECT_ROOT,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        poll_interval: float = 0.05,
    ) -> None:
        self.name = name
        self.command = [str(part) for part in command]
        self.env = dict(env)
        self.log_path = Path(log_path)
        self.ready_check: Callable[[], bool] | None = url_returns_ok(ready) if isinstance(ready, str) else ready
        self.cwd = cwd
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.poll_interval = poll_interval
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def __repr__(self) -> str:
        return f"<ServerProcess {self.name} pid={self.pid} running={self.running}>"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> ServerProcess:
        if self._process is not None:
            raise RuntimeError(f"{self.name} was already started.")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("ab")
        self._log_file.write(f"$ {' '.join(self.command)}\n".encode())
        self._log_file.flush()
        self._process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            # Its own process group, so stop() also reaches workers it forks.
            start_new_session=True,
        )
        try:
            self.wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process.poll() is not None:
                raise ServerProcessError(
                    f"{self.name} exited with code {self._process.returncode} before it was ready.\n"
                    f"{self.log_excerpt()}"
                )
            if self.ready_check is None or self.ready_check():
                return
            if time.monotonic() > deadline:
                raise ServerProcessError(
                    f"{self.name} was not ready after {self.startup_timeout:.0f} s.\n{self.log_excerpt()}"
                )
            # Waiting on the child doubles as the pause between checks and notices an exit at once.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=self.poll_interval)

    def stop(self) -> int | None:
        """Stop the process (and its group); returns its exit code, None if it was never started."""
        process = self._process
        if process is None:
            return None
        try:
            if process.poll() is None:
                self._signal_group(signal.SIGTERM)
                try:
                    process.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(signal.SIGKILL)
                    process.wait(timeout=self.stop_timeout)
            return process.returncode
        finally:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, sig)

    def log_tail(self, lines: int = 80) -> str:
        if self._log_file is not None:
            self._log_file.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_excerpt(self, lines: int = 80) -> str:
        return f"--- last {lines} lines of {self.log_path} ---\n{self.log_tail(lines)}\n--- end of {self.name} log ---"

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def celery_worker(
    name: str, *, app: str, options: Sequence[str], env: Mapping[str, str], log_dir: Path
) -> ServerProcess:
    """A Celery worker of ``app`` (not yet started), ready once its log says so; tests that kill workers
    on purpose start them this way rather than through ``start_process``."""
    log = log_dir / f"{name}.log"

    def ready() -> bool:
        return log.exists() and " ready." in log.read_text(errors="replace")

    return ServerProcess(
        name=name,
        command=[
            VENV_BIN / "celery",
            *("-A", app, "worker", "--loglevel=INFO", "-n", f"{name}@%h", "--without-gossip", "--without-mingle"),
            *options,
        ],
        env=dict(env),
        ready=ready,
        log_path=log,
    )


class RedisServer:
    """A redis-server of a test's or a benchmark's own, restartable on the same port, keeping nothing on disk."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_dir = log_dir
        self.starts = 0
        self.process: ServerProcess | None = None

    def _pings(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        self.starts += 1
        self.process = ServerProcess(
            name=f"redis-{self.starts}",
            command=[
                shutil.which("redis-server") or "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
            ],
            env={"PATH": os.environ.get("PATH", "")},
            log_path=self.log_dir / f"redis-{self.starts}.log",
            ready=self._pings,
        ).start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
        deadline = time.monotonic() + 10
        while self._pings():
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server on port {self.port} is still answering")
            time.sleep(0.05)

    def queued(self) -> int:
        """Jobs waiting in Celery's default queue."""
        import redis

        return int(redis.Redis.from_url(self.url).llen("celery"))
