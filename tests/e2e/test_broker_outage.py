"""Redis (the broker) stopped while replies and a broadcast are sent: nobody sees an error, and every
message reaches the fake Cloud API exactly once after Redis is back.

Real processes: a redis-server this test starts on a free port (and stops and starts again), the
ASGI server, a Celery worker and beat, PostgreSQL, and the fake Cloud API. Replies (text) and a
broadcast (template messages) go in through the REST API, and an agent signed in to the inbox
replies from it, before and during the outage.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conversations.models import Message
from tests.e2e.conftest import skip_or_fail
from tests.e2e.harness import VENV_BIN, ServerProcess, celery_worker, free_port
from tests.factories import PASSWORD, make_tenant, owner_of
from whatsapp.fake import FakeAdminClient, wait_for
from whatsapp.models import MessageTemplate

pytestmark = pytest.mark.e2e

PNID = "106540352242777"
WABA = "102290129340777"
TOKEN = "outage-token"
SECRET = "outage-secret"
CUSTOMERS = 24
REPLIES_BEFORE = 4  # sent while Redis is up
REPLIES_DURING = 8  # sent while it is down, and as many broadcast templates
INBOX_REPLIES = 4  # sent from the inbox by a signed-in agent while it is down
TEMPLATE = "aviso_entrega"
COMPONENTS = [
    {"type": "BODY", "text": "Olá {{1}}, sua entrega sai hoje.", "example": {"body_text": [["Maria"]]}},
]
REDIS_SERVER = "/usr/bin/redis-server"


class Redis:
    """A redis-server of this test alone, on a fixed port, that can be stopped and started again."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_dir = log_dir
        self.process: ServerProcess | None = None

    def start(self) -> None:
        import redis

        def ready() -> bool:
            try:
                return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping())
            except redis.RedisError:
                return False

        self.process = ServerProcess(
            name="redis",
            command=[REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            env={"PATH": os.environ.get("PATH", "")},
            log_path=self.log_dir / "redis.log",
            ready=ready,
        ).start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Redis]:
    if not Path(REDIS_SERVER).exists():
        skip_or_fail("The broker outage test starts its own redis-server (/usr/bin/redis-server).")
    server = Redis(tmp_path / "logs")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def outage_env(server_env: dict[str, str], redis_server: Redis) -> dict[str, str]:
    from django.db import connection

    if connection.vendor != "postgresql":
        skip_or_fail("The broker outage test needs PostgreSQL (DATABASE_URL): a real worker shares the database.")
    env = dict(server_env)
    env.update(
        {
            "REDIS_URL": redis_server.url,
            "CELERY_BROKER_URL": redis_server.url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            # Sessions cached in Redis, as in production.
            "DJANGO_SETTINGS_MODULE": "tests.e2e.redis_sessions_settings",
            # Compressed timings: the sweepers run every second and hand over what waited a second.
            "DELIVERY_QUEUED_SWEEP_AFTER_SECONDS": "1",
            "DELIVERY_SWEEP_INTERVAL_SECONDS": "1",
            "DELIVERY_SEND_LEASE_SECONDS": "5",
            "WHATSAPP_WEBHOOK_SWEEP_AFTER_SECONDS": "2",
            "WHATSAPP_SWEEP_INTERVAL_SECONDS": "1",
            "EVENTS_SWEEP_AFTER_SECONDS": "2",
        }
    )
    return env


@pytest.fixture
def workers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def test_replies_and_a_broadcast_sent_while_redis_is_down_are_answered_201_and_delivered_once(
    outage_env, redis_server, start_process, workers, tmp_path
):
    from tenants.services import api_token_create, role_builtin
    from whatsapp.services import channel_create

    log_dir = tmp_path / "logs"
    tenant = make_tenant("Acme", slug="acme")
    fake_port, web_port = free_port(), free_port()
    fake_url, web_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{web_port}"
    env = {**outage_env, "WHATSAPP_API_BASE_URL": fake_url}
    channel = channel_create(
        actor=owner_of(tenant),
        name="Support",
        display_phone_number="+55 11 90000-0007",
        phone_number_id=PNID,
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=SECRET,
        verify=False,
    )
    MessageTemplate.objects.create(
        tenant=tenant,
        waba_id=WABA,
        name=TEMPLATE,
        language="pt_BR",
        category="UTILITY",
        status=MessageTemplate.Status.APPROVED,
        components=COMPONENTS,
        meta_id="1",
    )
    _token, raw_token = api_token_create(
        actor=owner_of(tenant), name="ci", role=role_builtin(tenant=tenant, key="admin")
    )
    start_process(
        name="fake",
        command=[VENV_BIN / "python", "-m", "whatsapp.fake", "--host", "127.0.0.1", "--port", str(fake_port)],
        env=env,
        ready=f"{fake_url}/_fake/health",
    )
    start_process(
        name="web",
        command=[
            *(VENV_BIN / "uvicorn", "helpdesk.asgi:application", "--host", "127.0.0.1", "--port", str(web_port)),
            *("--lifespan", "off"),
        ],
        env=env,
        ready=f"{web_url}/healthz/",
    )
    start_process(
        name="beat",
        command=[VENV_BIN / "celery", "-A", "helpdesk", "beat", "--loglevel=INFO", "-s", str(tmp_path / "beat")],
        env=env,
        ready=lambda: (log_dir / "beat.log").exists(),
    )

    def start_worker() -> None:
        name = "worker" if not workers else f"worker{len(workers) + 1}"
        workers.append(
            celery_worker(name, app="helpdesk", options=["--concurrency=2"], env=env, log_dir=log_dir).start()
        )

    def supervise() -> None:
        # As the deployment does (docker-compose: restart: unless-stopped): Celery's worker may exit when
        # the broker's connection is lost at the wrong moment (celery/celery#10205); a new one takes over.
        if not workers[-1].running:
            start_worker()

    start_worker()

    admin = FakeAdminClient(fake_url)
    admin.settings(sent_delay_s=0.05, delivered_delay_s=0.1)
    admin.register_number(
        phone_number_id=PNID,
        display_phone_number="5511900000007",
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=SECRET,
        webhook_url=f"{web_url}/webhooks/whatsapp/{channel.webhook_key}/",
        verified_name="Acme",
    )
    admin.add_template(
        waba_id=WABA, name=TEMPLATE, language="pt_BR", category="UTILITY", components=COMPONENTS, status="APPROVED"
    )
    for i in range(CUSTOMERS):
        admin.inbound(phone_number_id=PNID, **{"from": f"5511977{i:06d}"}, name=f"Cliente {i}", type="text", text="Oi")
    inbound = Message.objects.filter(inbox=channel.inbox, direction="in")
    wait_for(lambda: inbound.count() == CUSTOMERS, timeout=60)
    displays = sorted(inbound.values_list("conversation__display_id", flat=True))

    api = httpx.Client(base_url=web_url, headers={"Authorization": f"Bearer {raw_token}"}, timeout=30)

    def post(display_id: int, body: dict) -> httpx.Response:
        return api.post(f"/api/v1/t/acme/conversations/{display_id}/messages/", json=body)

    def reply(display_id: int, text: str) -> httpx.Response:
        return post(display_id, {"type": "text", "text": text})

    def broadcast(display_id: int) -> httpx.Response:
        template = {"name": TEMPLATE, "language": "pt_BR", "params": {"body": [f"Cliente {display_id}"]}}
        return post(display_id, {"type": "template", "template": template})

    # The agent signs in while Redis is up (the login throttle counts in Redis).
    browser = httpx.Client(base_url=web_url, timeout=30)
    browser.get("/accounts/login/")
    signed_in = browser.post(
        "/accounts/login/",
        data={
            "login": owner_of(tenant).user.email,
            "password": PASSWORD,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        headers={"Referer": f"{web_url}/accounts/login/"},
    )
    assert signed_in.status_code == 302, signed_in.text

    def inbox_reply(display_id: int, text: str) -> httpx.Response:
        return browser.post(
            f"/t/acme/inbox/c/{display_id}/send/",
            data={"text": text},
            headers={"X-CSRFToken": browser.cookies["csrftoken"], "Referer": f"{web_url}/t/acme/inbox/"},
        )

    answers = [reply(d, f"Antes {d}") for d in displays[:REPLIES_BEFORE]]
    redis_server.stop()
    during = displays[REPLIES_BEFORE : REPLIES_BEFORE + REPLIES_DURING]
    answers += [reply(d, f"Durante {d}") for d in during]
    answers += [broadcast(d) for d in displays[-REPLIES_DURING:]]
    from_inbox = displays[REPLIES_BEFORE + REPLIES_DURING : REPLIES_BEFORE + REPLIES_DURING + INBOX_REPLIES]
    answers += [inbox_reply(d, f"Pela caixa de entrada {d}") for d in from_inbox]
    stored_while_down = set(Message.objects.filter(inbox=channel.inbox, direction="out").values_list("pk", flat=True))
    redis_server.start()  # empty: whatever the broker held is gone too
    api.close()
    browser.close()

    assert [r.status_code for r in answers] == [201] * (REPLIES_BEFORE + 2 * REPLIES_DURING + INBOX_REPLIES), [
        r.text for r in answers if r.status_code != 201
    ]
    ids = [r.json()["id"] for r in answers]
    assert stored_while_down == set(ids)
    outbound = Message.objects.filter(pk__in=ids)

    def sends() -> Counter[str]:
        return Counter(m["payload"]["biz_opaque_callback_data"] for m in admin.messages(direction="out"))

    wait_for(
        lambda: (
            supervise() is None
            and set(sends()) == {f"hd:{pk}" for pk in ids}
            and not outbound.exclude(status__in=["sent", "delivered", "read"]).exists()
        ),
        timeout=90,
        interval=0.5,
        message="not every message reached the fake after Redis came back",
    )
    assert sends() == Counter({f"hd:{pk}": 1 for pk in ids})
    templates = ids[REPLIES_BEFORE + REPLIES_DURING : REPLIES_BEFORE + 2 * REPLIES_DURING]
    assert sorted(outbound.filter(type="template").values_list("pk", flat=True)) == sorted(templates)
    assert sorted(outbound.filter(sender_type="agent").values_list("pk", flat=True)) == sorted(ids[-INBOX_REPLIES:])
    admin.close()
