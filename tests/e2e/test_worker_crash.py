"""A Celery worker killed with SIGKILL mid-stream loses nothing and duplicates nothing.

Real processes: the ASGI server, a Celery worker and beat on Redis, PostgreSQL, and the fake Cloud
API. Customers write through the fake (signed webhooks into the server) while replies are sent
through the REST API; the worker is killed while it holds sends in flight, some of which the fake
has already accepted (it holds its answers: ``hang_after_accept_ms``), and started again. Every
message then reached the fake exactly once.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from django.db.models import QuerySet

from conversations.models import Message
from helpdesk.settings.test import redis_database_of_test_process
from tests.e2e.conftest import skip_or_fail
from tests.e2e.harness import VENV_BIN, ServerProcess, celery_worker, free_port
from tests.factories import make_tenant, owner_of
from whatsapp.fake import FakeAdminClient, wait_for
from whatsapp.models import WebhookEvent

pytestmark = pytest.mark.e2e

PNID = "106540352242999"
WABA = "102290129340999"
TOKEN = "crash-token"
SECRET = "crash-secret"
INBOUND = 60
OUTBOUND = 40
# The fake accepts each send (it is Meta's from then on) and holds its answer this long: a worker
# killed meanwhile has sends that reached "Meta" but were never recorded as sent — the case where a
# careless retry would send them twice.
SEND_HANG_MS = 1000


def _redis_url() -> str | None:
    url = os.environ.get("REDIS_URL")
    return url.rsplit("/", 1)[0] + f"/{redis_database_of_test_process(14)}" if url else None


@pytest.fixture
def crash_env(server_env: dict[str, str]) -> dict[str, str]:
    from django.db import connection

    if connection.vendor != "postgresql" or not _redis_url():
        skip_or_fail("The worker crash test needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).")
    import redis

    redis.Redis.from_url(_redis_url()).flushdb()
    env = dict(server_env)
    env.update(
        {
            "REDIS_URL": _redis_url(),
            "CELERY_BROKER_URL": _redis_url(),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            # Compressed timings: jobs of a dead worker come back after 5 s, sweeps run every second.
            "CELERY_VISIBILITY_TIMEOUT": "5",
            "WHATSAPP_SEND_LEASE_SECONDS": "3",
            "WHATSAPP_AMBIGUOUS_SEND_WAIT_SECONDS": "3",
            "WHATSAPP_QUEUED_SWEEP_AFTER_SECONDS": "2",
            "WHATSAPP_WEBHOOK_SWEEP_AFTER_SECONDS": "2",
            "WHATSAPP_SWEEP_INTERVAL_SECONDS": "1",
            "DELIVERY_SWEEP_INTERVAL_SECONDS": "1",
        }
    )
    return env


def _worker(workers: list[ServerProcess], env: dict[str, str], name: str, log_dir: Path) -> ServerProcess:
    """A worker outside ``start_process``: this test kills one on purpose."""
    worker = celery_worker(name, app="helpdesk", options=["--concurrency=2"], env=env, log_dir=log_dir)
    workers.append(worker)
    return worker.start()


def _accepted(admin: FakeAdminClient, messages: QuerySet[Message]) -> dict[int, str]:
    """Of ``messages``, those the fake accepted: message id -> the wamid it gave."""
    pks = set(messages.values_list("pk", flat=True))
    accepted = {m["biz_opaque_callback_data"]: m["wamid"] for m in admin.messages(direction="out")}
    return {pk: accepted[f"hd:{pk}"] for pk in pks if f"hd:{pk}" in accepted}


@pytest.fixture
def workers():
    started: list[ServerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def test_killed_worker_loses_and_duplicates_nothing(crash_env, start_process, workers, tmp_path):
    log_dir = tmp_path / "logs"
    tenant = make_tenant("Acme", slug="acme")
    from tenants.services import api_token_create, role_builtin
    from whatsapp.services import channel_create

    fake_port, web_port = free_port(), free_port()
    fake_url, web_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{web_port}"
    crash_env = {**crash_env, "WHATSAPP_API_BASE_URL": fake_url}
    channel = channel_create(
        actor=owner_of(tenant),
        name="Support",
        display_phone_number="+55 11 90000-0009",
        phone_number_id=PNID,
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=SECRET,
        verify=False,
    )
    _token, raw_token = api_token_create(
        actor=owner_of(tenant), name="ci", role=role_builtin(tenant=tenant, key="admin")
    )
    start_process(
        name="fake",
        command=[VENV_BIN / "python", "-m", "whatsapp.fake", "--host", "127.0.0.1", "--port", str(fake_port)],
        env=crash_env,
        ready=f"{fake_url}/_fake/health",
    )
    start_process(
        name="web",
        command=[
            VENV_BIN / "uvicorn",
            "helpdesk.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(web_port),
            "--lifespan",
            "off",
        ],
        env=crash_env,
        ready=f"{web_url}/healthz/",
    )
    start_process(
        name="beat",
        command=[
            VENV_BIN / "celery",
            "-A",
            "helpdesk",
            "beat",
            "--loglevel=INFO",
            "-s",
            str(tmp_path / "beat-schedule"),
        ],
        env=crash_env,
        ready=lambda: (log_dir / "beat.log").exists(),
    )
    admin = FakeAdminClient(fake_url)
    admin.settings(sent_delay_s=0.05, delivered_delay_s=0.1)
    admin.set_faults(hang_after_accept_ms=SEND_HANG_MS)
    admin.register_number(
        phone_number_id=PNID,
        display_phone_number="5511900000009",
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=SECRET,
        webhook_url=f"{web_url}/webhooks/whatsapp/{channel.webhook_key}/",
        verified_name="Acme",
    )
    worker = _worker(workers, crash_env, "worker-1", log_dir)
    customers = [f"5511988{i:06d}" for i in range(INBOUND)]
    # Every customer writes once first, so each reply has an open conversation and window.
    for i, customer in enumerate(customers[:OUTBOUND]):
        admin.inbound(phone_number_id=PNID, **{"from": customer}, name=f"Cliente {i}", type="text", text=f"Oi {i}")
    wait_for(lambda: Message.objects.filter(inbox=channel.inbox, direction="in").count() == OUTBOUND, timeout=60)

    api = httpx.Client(base_url=web_url, headers={"Authorization": f"Bearer {raw_token}"}, timeout=10)
    displays = list(
        Message.objects.filter(inbox=channel.inbox, direction="in").values_list("conversation__display_id", flat=True)
    )
    outbound = Message.objects.filter(inbox=channel.inbox, direction="out")
    in_flight: list[int] = []
    accepted_in_flight: dict[int, str] = {}
    for i, display_id in enumerate(displays):
        response = api.post(
            f"/api/v1/t/acme/conversations/{display_id}/messages/",
            json={"type": "text", "text": f"Resposta {i}"},
            headers={"Idempotency-Key": f"crash-{i}"},
        )
        assert response.status_code == 201, response.text
        customer = customers[OUTBOUND + (i % (INBOUND - OUTBOUND))]
        admin.inbound(phone_number_id=PNID, **{"from": customer}, name="Novo", type="text", text=f"Mais uma {i}")
        if i == OUTBOUND // 2:
            # Killed only once it holds a send the fake accepted and has not answered yet.
            wait_for(
                lambda: _accepted(admin, outbound.filter(status="sending")),
                timeout=30,
                interval=0.05,
                message="the worker had no accepted send in flight",
            )
            dead = worker
            os.killpg(dead.pid, signal.SIGKILL)  # the worker and its pool, mid-send
            wait_for(lambda dead=dead: not dead.running, timeout=10)
            # Only a worker moves a send out of "sending" (status webhooks wait for one too): these
            # rows are the sends the dead worker had in flight when it was killed, and some of them
            # had already reached "Meta".
            in_flight = list(outbound.filter(status="sending").values_list("pk", flat=True))
            accepted_in_flight = _accepted(admin, outbound.filter(pk__in=in_flight))
            assert accepted_in_flight, "the worker was killed with no accepted send in flight"
            worker = _worker(workers, crash_env, "worker-2", log_dir)
    api.close()

    expected_in = OUTBOUND + OUTBOUND  # the first messages plus one more per reply
    # The killed send job holds its inbox's drain key until the key expires (60 s): recovery can take that long.
    wait_for(
        lambda: (
            Message.objects.filter(inbox=channel.inbox, direction="in").count() >= expected_in
            and not outbound.exclude(status__in=["delivered", "read"]).exists()
        ),
        timeout=120,
        interval=0.5,
        message="the stream did not settle after the restart",
    )
    inbound = Message.objects.filter(inbox=channel.inbox, direction="in")
    assert inbound.count() == expected_in
    assert inbound.values("external_id").distinct().count() == expected_in
    assert outbound.count() == OUTBOUND
    assert set(outbound.values_list("status", flat=True)) == {"delivered"}
    sends = [m for m in admin.messages(direction="out")]
    callbacks = [m["payload"]["biz_opaque_callback_data"] for m in sends]
    assert len(sends) == OUTBOUND
    assert sorted(callbacks) == sorted(f"hd:{pk}" for pk in outbound.values_list("pk", flat=True))
    assert [callbacks.count(f"hd:{pk}") for pk in in_flight] == [1] * len(in_flight)
    # Each send "Meta" had accepted when its worker died is recorded with the id "Meta" gave it then.
    assert dict(outbound.filter(pk__in=accepted_in_flight).values_list("pk", "external_id")) == accepted_in_flight
    assert not WebhookEvent.objects.filter(channel=channel).exclude(status="processed").exists()
    admin.close()
