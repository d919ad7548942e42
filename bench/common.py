"""What the benchmarks share: a fresh PostgreSQL database, real processes, and figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.harness import VENV_BIN, ServerProcess, free_port, url_returns_ok  # noqa: E402

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def fresh_database(name: str) -> str:
    """Drop and create ``name``; returns its DATABASE_URL."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def migrations_fingerprint() -> str:
    """What a migrated database depends on: the project's migration files and the installed packages."""
    import hashlib
    from importlib import metadata

    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    for name, version in sorted((d.metadata["Name"] or "", d.version) for d in metadata.distributions()):
        digest.update(f"{name}=={version}\n".encode())
    return digest.hexdigest()[:32]


def migrated_database(name: str, redis_url: str) -> str:
    """Drop and create ``name`` as a copy of a migrated template (``<name>_template``); returns its URL.

    The template is migrated again only when the migrations or the installed packages changed (its
    fingerprint is the database's comment): on a busy two-core machine ``migrate`` alone takes most of
    a minute, a copy of the template about a second."""
    import psycopg

    template = f"{name}_template"
    fingerprint = migrations_fingerprint()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [template]
        ).fetchone()
    if row is None or row[0] != fingerprint:
        migrate(process_env(fresh_database(template), redis_url))
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"COMMENT ON DATABASE \"{template}\" IS '{fingerprint}'")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def process_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    # Tuning settings given to the benchmark reach its servers (e.g. DELIVERY_SEND_PARTS=4).
    prefixes = ("WHATSAPP_", "DELIVERY_", "UVICORN_", "LIVE_", "EVENTS_")
    env.update({k: v for k, v in os.environ.items() if k.startswith(prefixes)})
    env.update(extra)
    return env


def django_setup(env: dict[str, str]) -> None:
    """Configure this process like the servers (same database and Redis) and set Django up."""
    os.environ.update({k: v for k, v in env.items() if k not in ("PATH", "HOME")})
    import django

    django.setup()


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )


def start(
    stack: ExitStack,
    name: str,
    command: list[str],
    env: dict[str, str],
    log_dir: Path,
    ready: str | Callable[[], bool],
) -> ServerProcess:
    proc = ServerProcess(
        name=name, command=command, env=env, log_path=log_dir / f"{name}.log", ready=ready, startup_timeout=60
    )
    proc.start()
    stack.callback(proc.stop)
    return proc


def start_web(
    stack: ExitStack, env: dict[str, str], log_dir: Path, *, workers: int = 1, port: int | None = None
) -> str:
    """uvicorn serving the product on ``port`` (a free one by default); returns its base URL."""
    port = port or free_port()
    start(
        stack,
        "web",
        [
            str(VENV_BIN / "uvicorn"),
            "helpdesk.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--no-access-log",
            "--workers",
            str(workers),
        ],
        env,
        log_dir,
        url_returns_ok(f"http://127.0.0.1:{port}/healthz/"),
    )
    return f"http://127.0.0.1:{port}"


def start_worker(
    stack: ExitStack,
    env: dict[str, str],
    log_dir: Path,
    *,
    concurrency: int = 2,
    name: str = "worker",
    nice: int = 10,
    app: str = "helpdesk",
    queues: str = "",
) -> ServerProcess:
    def ready() -> bool:
        log = (log_dir / f"{name}.log").read_text(errors="replace") if (log_dir / f"{name}.log").exists() else ""
        return " ready." in log

    return start(
        stack,
        name,
        [
            # Co-located with the web processes on two cores: the latency-sensitive web side goes first.
            "nice",
            "-n",
            str(nice),
            str(VENV_BIN / "celery"),
            "-A",
            app,
            "worker",
            "--loglevel=INFO",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"{name}@%h",
            *(["-Q", queues] if queues else []),
        ],
        env,
        log_dir,
        ready,
    )


def cpu_seconds(process_group: int) -> float:
    """CPU time (user + system) used so far by the living processes of a process group (Linux /proc)."""
    return _cpu_seconds(lambda pid, fields: int(fields[2]) == process_group)


def database_cpu_seconds(database: str) -> float:
    """CPU time used so far by the living PostgreSQL backends connected to ``database`` (same machine)."""

    def serves(pid: str, fields: list[str]) -> bool:
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return False
        return title.startswith("postgres: ") and f" {database} " in title

    return _cpu_seconds(serves)


def _cpu_seconds(include: Callable[[str, list[str]], bool]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        # The fields after the name: state, ppid, pgrp, ..., utime (11), stime (12).
        if include(stat.parent.name, fields):
            total += int(fields[11]) + int(fields[12])
    return total / tick


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def stop_children_on_sigterm() -> None:
    """Let SIGTERM (e.g. from ``timeout``) unwind the ExitStack, so no server process outlives the run."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def report(figures: dict[str, Any]) -> None:
    """Benchmarks print their figures; the last line is one JSON object."""
    print(json.dumps(figures, sort_keys=True))


class RawHttpPool:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams.

    A load generator written with a full HTTP client library spends more CPU per request than the
    server under test on this 2-core machine; this one only writes the request bytes and reads
    the status line, headers and body, so the figures measure the server.
    """

    def __init__(self, base_url: str, size: int) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.size = size
        self._idle: Any = None

    async def __aenter__(self) -> RawHttpPool:
        import asyncio

        self._idle = asyncio.Queue()
        for _ in range(self.size):
            self._idle.put_nowait(await asyncio.open_connection(self.host, self.port))
        return self

    async def __aexit__(self, *exc: object) -> None:
        while not self._idle.empty():
            _reader, writer = self._idle.get_nowait()
            writer.close()

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        """POST and return the status code (0 when the connection failed)."""
        import asyncio

        reader, writer = await self._idle.get()
        head = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        try:
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            status_line = await reader.readline()
            status = int(status_line.split(b" ", 2)[1])
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            writer.close()
            reader, writer = await asyncio.open_connection(self.host, self.port)
            status = 0
        self._idle.put_nowait((reader, writer))
        return status


def text_message_payload(
    *,
    waba_id: str,
    phone_number_id: str,
    display_phone_number: str,
    customer: str,
    name: str,
    wamid: str,
    text: str,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A customer's text message as Meta's webhook delivers it (one entry, one change, one message)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": display_phone_number,
                                "phone_number_id": phone_number_id,
                            },
                            "contacts": [{"profile": {"name": name}, "wa_id": customer}],
                            "messages": [
                                {
                                    "from": customer,
                                    "id": wamid,
                                    "timestamp": str(int(time.time()) if timestamp is None else timestamp),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
