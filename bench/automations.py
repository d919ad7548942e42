"""Ingest with automations: the same load into a workspace with automations on and into one without.

Processes: the fake Cloud API, uvicorn (the product, ASGI), one Celery worker, PostgreSQL and Redis.
Two workspaces of one run, each with its own WhatsApp number:

- ``plain``: no automation set up (the product's subscribers still receive its events and find
  nothing to do: what a workspace with automations off costs);
- ``automated``: a business hours calendar closed at the time of the run (the hours of every day
  are six to eight hours from now, in São Paulo, with Brazil's and São Paulo's holidays), a
  greeting on the customer's first message and an away message with ``{{next_open}}``, in
  Portuguese and English, auto-resolve after 24 hours (it never fires during the run), 20 active
  automation rules on "message received" (``setup_rules``: keywords, regular expressions, AND/OR
  groups, labels and priorities; none sends a message), two SLA policies (``setup_sla``) and
  auto-assignment among its online agents (``setup_assignment``: least open conversations, two each).

Each customer writes about four messages, 20% of the posts are exact replays of an earlier one (as
Meta retries), and each customer's window is opened in the fake (their first message is written
through it), so every automated reply is accepted and its ``sent`` and ``delivered`` status webhooks
come back into the product. A customer's first message calls for a greeting and an away message;
the later ones call for nothing (the away message is sent at most once per conversation every 4
hours), but the automations still decide so for each.

    python bench/automations.py [--quick]

1. **Throughput**: bursts of webhooks at full speed (32 connections), plain then automated (fresh
   customers each time); a burst's rate is its stored messages over the time from its first post
   until everything it caused is done: messages stored, webhooks and event deliveries processed,
   and, when automated, every greeting and away message handed to the fake with its ``delivered``
   status back in the product. ``processed_ratio`` = automated / plain, from the sums over the
   bursts (target ≥ 0.80). A burst not done within ``--settle-cap`` seconds counts what is done
   (``processed``) and ends the bursts (what it left would slow the next one down).
2. **Latency**, once the bursts drained: signed webhooks into the automated workspace at 50 per
   second, open loop; ``automation_p95_ms`` is the time from the customer's message stored (its row's
   ``created_at``) to the automated reply's request arriving at the fake (the fake stamps each
   request when it comes in), over every greeting and away message of the stage (two per customer;
   target ≤ 500 ms). ``reply_p95_ms`` counts from the webhook's scheduled post instead (what the
   customer waits for, Meta aside). Replies still missing when the stage stops waiting count as
   having waited since the posting ended, and ``latency_lower_bound`` is true.
3. **Assignment**: 200 agents of the automated workspace online (``--agents``) and members of its
   inbox; ``assign_p95_ms`` over the latency stage's conversations (the bursts' are closed before it,
   so the agents have room), ``double_assigned`` and ``over_capacity`` over the whole run, from
   ``assignment_figures``.
4. **Integrity**, counted from the database and from what the fake received after the run:
   ``duplicate_automated_messages`` (automated sends beyond one per customer message and kind,
   beyond one per customer and kind for greeting and away, or one message handed to the fake
   twice), ``missing_automated_messages`` (customers of the automated workspace without their
   greeting or away message at the fake), ``lost`` / ``duplicated`` customer messages.

The last line printed is one JSON object with these figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    REDIS_BASE,
    VENV_BIN,
    RawHttpPool,
    django_setup,
    flush_redis,
    migrated_database,
    percentile,
    process_env,
    report,
    start,
    start_web,
    start_worker,
    stop_children_on_sigterm,
    text_message_payload,
    wait_until,
)
from tests.e2e.harness import free_port, url_returns_ok

WABA_ID = "920000000000000"
APP_SECRET = "bench-automations-secret"
TOKEN = "bench-automations-token"
ZONE = "America/Sao_Paulo"
GREETING = {
    "pt-br": "Olá {{contact.first_name}}, boas-vindas ao {{inbox.name}}!",
    "en": "Hi {{contact.first_name}}, welcome to {{inbox.name}}!",
}
AWAY = {
    "pt-br": "Estamos fechados agora. Abrimos {{next_open}}.",
    "en": "We are closed now. We open {{next_open}}.",
}
# How the fake tells the two apart in what it received (the workspace writes Portuguese).
KIND_BY_PREFIX = {"Olá ": "greeting", "Hi ": "greeting", "Estamos fechados": "away", "We are closed": "away"}


# --- the workspaces ------------------------------------------------------------------------------


@dataclass
class Workspace:
    name: str
    tenant: Any
    channel: Any
    phone_number_id: str
    automated: bool
    agents: list[Any] = field(default_factory=list)
    assignment: str = "not set up"
    assignment_on: bool = False

    def webhook_path(self) -> str:
        return f"/webhooks/whatsapp/{self.channel.webhook_key}/"


def workspace_create(*, name: str, index: int, owner: Any, automated: bool, agents: int) -> Workspace:
    from tenants.services import tenant_create
    from tests.factories import owner_of
    from whatsapp.services import channel_create

    phone_number_id = f"92000000000{index:04d}"
    tenant = tenant_create(name=f"Bench {name}", owner=owner)
    channel = channel_create(
        actor=owner_of(tenant),
        name="Suporte",
        display_phone_number=f"55119000{index:05d}",
        phone_number_id=phone_number_id,
        waba_id=WABA_ID,
        access_token=TOKEN,
        app_secret=APP_SECRET,
        verify=False,
    )
    workspace = Workspace(name, tenant, channel, phone_number_id, automated)
    if automated:
        setup_automations(workspace)
        setup_rules(workspace.tenant)
        setup_sla(workspace.tenant)
        workspace.agents = setup_agents(workspace, agents)
        workspace.assignment_on, workspace.assignment = setup_assignment(workspace)
    return workspace


def closed_hours(now: datetime) -> tuple[Any, ...]:
    """Every day open from six to eight hours after ``now`` (São Paulo time): closed for the whole run,
    and ``{{next_open}}`` names a time later today or tomorrow."""
    from datetime import time as clock

    from automations.services import WeeklySpec

    local = now.astimezone(ZoneInfo(ZONE))
    opens, closes = (local.hour + 6) % 24, (local.hour + 8) % 24
    return tuple(WeeklySpec(day, clock(opens), clock(closes)) for day in range(7))


def setup_automations(workspace: Workspace) -> None:
    """What main has: a calendar closed now, greeting on the first message ever, away message, auto-resolve."""
    from django.utils import timezone

    from automations.auto_resolve import AutoResolveSpec, auto_resolve_update
    from automations.greeting_services import GreetingSpec, greeting_settings_update
    from automations.services import CalendarSpec, calendar_create
    from tests.factories import owner_of

    owner = owner_of(workspace.tenant)
    inbox = workspace.channel.inbox
    calendar_create(
        actor=owner,
        spec=CalendarSpec(
            name="Atendimento",
            time_zone=ZONE,
            weekly=closed_hours(timezone.now()),
            holidays_enabled=True,
            holiday_country="BR",
            holiday_subdivision="SP",
            inbox_ids=(inbox.pk,),
        ),
    )
    greeting_settings_update(
        actor=owner,
        inbox=inbox,
        spec=GreetingSpec(greeting_enabled=True, greeting_texts=GREETING, away_enabled=True, away_texts=AWAY),
    )
    auto_resolve_update(
        actor=owner,
        inbox=inbox,
        spec=AutoResolveSpec(enabled=True, after_hours=24, closing_message={"pt-br": "Conversa encerrada."}),
    )


# Topics a customer writes about: a rule each adds its label when the message names it.
RULE_TOPICS = (
    ("Pedido", ["pedido", "encomenda"]),
    ("Entrega", ["entrega", "rastreio", "correios"]),
    ("Cancelamento", ["cancelar", "cancelamento"]),
    ("Reembolso", ["reembolso", "estorno", "devolução"]),
    ("Boleto", ["boleto", "segunda via"]),
    ("Pix", ["pix", "chave pix"]),
    ("Acesso", ["senha", "login", "acesso"]),
    ("Cartão", ["cartão", "crédito", "débito"]),
    ("Troca", ["troca", "trocar"]),
    ("Garantia", ["garantia", "defeito", "quebrado"]),
)


def setup_rules(tenant: Any) -> None:
    """20 active automation rules on "message received", in the product's order, none stopping the others:
    ten keyword rules adding a topic's label (every message of the load names "pedido"), five text rules
    (contains, regular expressions) setting a priority under AND/OR groups with the inbox and the business
    hours, and five on the contact (first message, language, attributes, labels). None sends a message:
    the fake's count of automated messages stays the greeting's and the away message's."""
    from automations.models import AutomationRule
    from automations.rules_services import RuleSpec, rule_create
    from conversations.models import Inbox
    from conversations.services.library import label_create
    from tests.factories import owner_of

    owner = owner_of(tenant)
    inbox_id = Inbox.objects.filter(tenant=tenant).values_list("pk", flat=True).get()
    received = AutomationRule.Event.MESSAGE_RECEIVED
    labels = {
        name: label_create(membership=owner, name=name, color="#1f6feb").pk
        for name in [topic for topic, _words in RULE_TOPICS] + ["Novo cliente", "English", "VIP", "Urgente"]
    }

    def group(op: str, *items: dict[str, Any]) -> dict[str, Any]:
        return {"op": op, "items": list(items)}

    in_inbox = {"type": "inbox", "operator": "is", "inbox_ids": [inbox_id]}
    out_of_hours = {"type": "business_hours", "value": "out"}
    specs = [
        RuleSpec(
            name=f"Etiqueta {topic}",
            event=received,
            conditions=group("and", {"type": "keywords", "values": words}),
            actions=[{"type": "add_label", "label_ids": [labels[topic]]}],
        )
        for topic, words in RULE_TOPICS
    ]

    def contains(value: str) -> dict[str, Any]:
        return {"type": "text_contains", "value": value}

    def regex(pattern: str) -> dict[str, Any]:
        return {"type": "text_regex", "pattern": pattern}

    thanks = {"type": "keywords", "values": ["obrigado", "obrigada", "valeu"]}
    text_rules = [
        ("Urgente: procon", group("or", contains("procon"), contains("reclame aqui")), "urgent"),
        ("Alta: número de pedido", group("and", in_inbox, regex(r"pedido n[ºo°]? ?\d{3,}")), "high"),
        ("Alta: fora do horário", group("and", out_of_hours, regex(r"urgente|agora")), "high"),
        ("Média: CPF", group("and", in_inbox, regex(r"\d{3}\.\d{3}\.\d{3}-\d{2}")), "medium"),
        ("Baixa: agradecimento", group("or", thanks, group("and", out_of_hours, contains("boa noite"))), "low"),
    ]
    for name, conditions, priority in text_rules:
        actions = [{"type": "set_priority", "priority": priority}]
        specs.append(RuleSpec(name=name, event=received, conditions=conditions, actions=actions))
    english = {"type": "contact_language", "operator": "is", "values": ["en"]}
    vip_plan = {"type": "contact_attribute", "key": "plano", "operator": "equals", "value": "vip"}
    vip_label = {"type": "contact_label", "operator": "has", "label_id": labels["VIP"]}
    urgent = {"type": "priority", "operator": "is", "values": ["urgent"]}
    contact_rules = [
        ("Novo cliente", group("and", {"type": "first_message", "value": True}, in_inbox), "Novo cliente"),
        ("Cliente em inglês", group("and", english), "English"),
        ("Cliente VIP", group("and", vip_plan), "VIP"),
        ("VIP fora do horário", group("and", vip_label, out_of_hours), "Urgente"),
        ("Conversa urgente", group("and", urgent, in_inbox), "Urgente"),
    ]
    for name, conditions, label in contact_rules:
        actions = [{"type": "add_label", "label_ids": [labels[label]]}]
        specs.append(RuleSpec(name=name, event=received, conditions=conditions, actions=actions))
    for spec in specs:
        rule_create(actor=owner, spec=spec)


def active_rules(workspace: Workspace) -> int:
    from automations.models import AutomationRule

    return AutomationRule.objects.filter(tenant=workspace.tenant, active=True).count()


def setup_sla(tenant: Any) -> None:
    """Two SLA policies over the inbox, in business hours: urgent conversations (first response 5 minutes,
    next 15, resolution 2 hours) first, then every other one (15 minutes, 30, 8 hours). Each conversation of
    the run gets its clocks, counted in the calendar's business hours: none runs out during the run."""
    from automations.sla_policies import SlaPolicySpec, sla_policy_create
    from conversations.models import Inbox
    from tests.factories import owner_of

    owner = owner_of(tenant)
    inbox_ids = tuple(Inbox.objects.filter(tenant=tenant).values_list("pk", flat=True))
    for position, (name, targets, priorities) in enumerate(
        (("Urgente", (5, 15, 120), ("urgent",)), ("Padrão", (15, 30, 480), ()))
    ):
        first, following, resolution = targets
        spec = SlaPolicySpec(
            name=name,
            position=position,
            first_response_minutes=first,
            next_response_minutes=following,
            resolution_minutes=resolution,
            business_hours_only=True,
            inbox_ids=inbox_ids,
            priorities=priorities,
        )
        sla_policy_create(actor=owner, spec=spec)


def sla_figures(workspace: Workspace) -> dict[str, Any]:
    """The SLA state the run left: conversations with an SLA and clocks, and breaches (none expected)."""
    from automations.models import ConversationSla, SlaBreach, SlaClock

    tenant = workspace.tenant
    return {
        "sla_conversations": ConversationSla.objects.filter(tenant=tenant, policy__isnull=False).count(),
        "sla_clocks": SlaClock.objects.filter(tenant=tenant).count(),
        "sla_breaches": SlaBreach.objects.filter(tenant=tenant).count(),
    }


def setup_agents(workspace: Workspace, count: int) -> list[Any]:
    """``count`` agents, online, members of the inbox (users with no password: nobody signs in)."""
    from tenants.models import Membership, User
    from tenants.permissions import BuiltinRole
    from tenants.services import role_builtin

    users = User.objects.bulk_create(
        [
            User(email=f"agente{n}@{workspace.name}.bench.example", name=f"Agente {n}", password="!")
            for n in range(count)
        ]
    )
    role = role_builtin(tenant=workspace.tenant, key=BuiltinRole.AGENT)
    agents = Membership.objects.bulk_create(
        [
            Membership(tenant=workspace.tenant, user=user, role=role, availability=Membership.Availability.ONLINE)
            for user in users
        ]
    )
    workspace.channel.inbox.members.add(*users)
    return agents


# Open conversations each agent may hold in the inbox: 200 agents hold 400, fewer than a full run's
# conversations, so the queue and the capacities are exercised too.
ASSIGN_CAPACITY = 2


def setup_assignment(workspace: Workspace) -> tuple[bool, str]:
    """Auto-assignment on the inbox (least open conversations, ``ASSIGN_CAPACITY`` per agent) among its
    online agents; returns whether it is on, and what was set up."""
    from automations.assignment_settings import PolicySpec, policy_update
    from tests.factories import owner_of

    spec = PolicySpec(enabled=True, method="least_open", capacity=ASSIGN_CAPACITY)
    policy_update(actor=owner_of(workspace.tenant), inbox=workspace.channel.inbox, spec=spec)
    return True, f"least open conversations, capacity {ASSIGN_CAPACITY}, {len(workspace.agents)} agents online"


def assignment_figures(workspace: Workspace, wamids: list[str]) -> dict[str, Any]:
    """From the database after the run, for the automated workspace's conversations:

    - ``assign_p50_ms`` / ``assign_p95_ms``: the conversation's first customer message stored (``created_at``)
      → its first ``conversation.assigned`` event (``occurred_at``) naming an agent, over the conversations
      of the messages ``wamids`` (the latency stage's, at its steady rate; the bursts are an overload by
      design) that were assigned (``assigned`` of ``conversations``; the others wait, all agents full);
    - ``double_assigned``: conversations given an agent more than once (no agent went offline nor
      resolved anything during the run, so any second assignment is one too many);
    - ``over_capacity``: agents holding more open conversations of the inbox than ``ASSIGN_CAPACITY``."""
    empty = {"assign_p50_ms": None, "assign_p95_ms": None, "double_assigned": None, "over_capacity": None}
    if not workspace.assignment_on:
        return empty
    from django.db.models import Count, Min

    from conversations.models import Conversation, Message, OutboxEvent

    tenant, inbox = workspace.tenant, workspace.channel.inbox
    stage = Message.objects.filter(tenant=tenant, inbox=inbox, external_id__in=wamids).values("conversation")
    first_stored = dict(
        Message.objects.filter(tenant=tenant, inbox=inbox, direction=Message.Direction.INBOUND, conversation__in=stage)
        .values("conversation")
        .annotate(first=Min("created_at"))
        .values_list("conversation", "first")
    )
    assigned_at: dict[int, Any] = {}
    given: Counter[int] = Counter()
    events = OutboxEvent.objects.filter(tenant=tenant, event_type="conversation.assigned").order_by("occurred_at")
    for payload, occurred_at in events.values_list("payload", "occurred_at"):
        if payload.get("assignee_id") is None:
            continue
        conversation_id = payload["conversation_id"]
        given[conversation_id] += 1
        assigned_at.setdefault(conversation_id, occurred_at)
    waits = [(at - first_stored[pk]).total_seconds() * 1000 for pk, at in assigned_at.items() if pk in first_stored]
    holding = (
        Conversation.objects.filter(tenant=tenant, inbox=inbox, status=Conversation.Status.OPEN, assignee__isnull=False)
        .values("assignee")
        .annotate(n=Count("id"))
    )
    return {
        "assign_p50_ms": round(percentile(waits, 50), 1) if waits else None,
        "assign_p95_ms": round(percentile(waits, 95), 1) if waits else None,
        "assign_max_ms": round(max(waits), 1) if waits else None,
        "conversations": len(first_stored),
        "assigned": len(assigned_at),
        "double_assigned": sum(1 for n in given.values() if n > 1),
        "over_capacity": sum(1 for row in holding if row["n"] > ASSIGN_CAPACITY),
    }


# --- the load ------------------------------------------------------------------------------------


@dataclass
class Load:
    """Signed webhook bodies of one stage: customers of its own, each writing about four messages."""

    workspace: Workspace
    bodies: list[bytes]
    signatures: dict[bytes, str]
    unique: int
    wamids: list[str]
    customers: set[str]
    # Body index → wamid, for the first post of each unique body.
    wamid_of: dict[int, str]

    def headers_for(self, body: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json", "X-Hub-Signature-256": self.signatures[body]}


async def _open_windows(fake_url: str, pnid: str, customers: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Each customer writes their first message through the fake: it opens their window there."""
    import httpx

    async with httpx.AsyncClient(base_url=fake_url, timeout=30) as client:
        semaphore = asyncio.Semaphore(16)

        async def one(customer: str, name: str) -> dict[str, Any]:
            async with semaphore:
                answer = await client.post(
                    "/_fake/inbound",
                    json={
                        "phone_number_id": pnid,
                        "from": customer,
                        "name": name,
                        "type": "text",
                        "text": "Oi, boa noite",
                    },
                )
                answer.raise_for_status()
                return answer.json()["webhook"]

        return await asyncio.gather(*(one(c, n) for c, n in customers))


def load_make(workspace: Workspace, fake_url: str, count: int, *, label: str, seed: int) -> Load:
    from whatsapp.signature import encode_like_meta, sign

    rng = random.Random(seed)
    pnid = workspace.phone_number_id
    customers = sorted({f"55119{rng.randrange(10_000_000, 99_999_999)}" for _ in range(max(1, count // 5))})
    names = {
        customer: f"{rng.choice(['Ana', 'Bruno', 'Carla', 'Diego', 'Elisa'])} {n}"
        for n, customer in enumerate(customers)
    }
    firsts = asyncio.run(_open_windows(fake_url, pnid, [(c, names[c]) for c in customers]))
    first_of = dict(zip(customers, firsts, strict=True))
    started: set[str] = set()
    bodies: list[bytes] = []
    wamids: list[str] = []
    wamid_of: dict[int, str] = {}
    now = int(time.time())
    # Replays (20%) repeat an earlier body; the rest are the customers' messages, their first as the fake wrote it.
    for i in range(count):
        if bodies and rng.random() < 0.2:
            bodies.append(rng.choice(bodies))
            continue
        customer = rng.choice(customers)
        if customer not in started:
            started.add(customer)
            payload = first_of[customer]
        else:
            payload = text_message_payload(
                waba_id=WABA_ID,
                phone_number_id=pnid,
                display_phone_number=workspace.channel.display_phone_number,
                customer=customer,
                name=names[customer],
                wamid=f"wamid.{label}-{i:06d}",
                text=f"Quero saber do meu pedido nº {i}, por favor",
                timestamp=now,
            )
        wamid = payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
        wamid_of[len(bodies)] = wamid
        wamids.append(wamid)
        bodies.append(encode_like_meta(payload))
    signatures = {body: sign(body, APP_SECRET) for body in set(bodies)}
    return Load(workspace, bodies, signatures, len(wamids), wamids, started, wamid_of)


async def open_loop(base: str, load: Load, rate: float) -> tuple[dict[str, float], int]:
    """Post the load at ``rate`` per second; returns each unique body's scheduled post time and the 200s."""
    posted: dict[str, float] = {}
    ok = 0
    async with RawHttpPool(base, 64) as pool:
        start_at = time.perf_counter()
        wall = time.time() - start_at

        async def one(i: int, body: bytes) -> None:
            nonlocal ok
            scheduled = start_at + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if i in load.wamid_of:
                posted[load.wamid_of[i]] = wall + scheduled
            status = await pool.post(load.workspace.webhook_path(), body, load.headers_for(body))
            ok += status == 200  # after the await: ``ok +=`` reads ``ok`` before evaluating its right side

        await asyncio.gather(*(one(i, b) for i, b in enumerate(load.bodies)))
    return posted, ok


async def closed_loop(base: str, load: Load, concurrency: int = 32) -> int:
    """Post the load as fast as ``concurrency`` connections allow; returns the 200s."""
    queue = list(reversed(load.bodies))
    statuses: Counter[int] = Counter()
    async with RawHttpPool(base, concurrency) as pool:

        async def worker() -> None:
            while queue:
                body = queue.pop()
                statuses[await pool.post(load.workspace.webhook_path(), body, load.headers_for(body))] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    if set(statuses) != {200}:
        print(f"statuses at full speed: {dict(statuses)}", flush=True)
    return statuses[200]


# --- what happened -------------------------------------------------------------------------------


def stored(load: Load) -> int:
    from conversations.models import Message

    return Message.objects.filter(
        inbox=load.workspace.channel.inbox, direction=Message.Direction.INBOUND, external_id__in=load.wamids
    ).count()


def automated_of(load: Load):
    """The load's automated messages (greeting and away), by the customer messages they answer."""
    from automations.models import AutomatedMessage

    return AutomatedMessage.objects.filter(tenant=load.workspace.tenant, trigger_message__external_id__in=load.wamids)


def settled(load: Load) -> bool:
    """Everything the load caused is done; when automated, every greeting and away message delivered."""
    from conversations.models import EventDelivery, Message
    from whatsapp.models import WebhookEvent

    workspace = load.workspace
    if stored(load) < load.unique:
        return False
    if WebhookEvent.objects.filter(channel=workspace.channel, status="pending").exists():
        return False
    if EventDelivery.objects.filter(tenant=workspace.tenant, state="pending").exists():
        return False
    if not workspace.automated:
        return True
    automated = automated_of(load)
    if automated.count() < 2 * len(load.customers):
        return False
    waiting = [Message.Status.QUEUED, Message.Status.SENDING, Message.Status.SENT]
    return not automated.filter(message__status__in=waiting).exists()


def fake_sends(fake_url: str) -> list[dict[str, Any]]:
    """The message sends the fake received (read receipts aside), each with the moment it came in."""
    import httpx

    rows = httpx.get(f"{fake_url}/_fake/requests", params={"method": "POST", "path_contains": "/messages"}, timeout=60)
    data = rows.json()
    data = data.get("data", data) if isinstance(data, dict) else data
    return [r for r in data if (r.get("json") or {}).get("status") != "read"]


def latency_figures(load: Load, posted: dict[str, float], fake_url: str, *, posting_ended: float) -> dict[str, Any]:
    """Stored → handed to the fake, for every greeting and away message the stage called for (two per
    customer). Replies the fake had not received when the stage stopped waiting count as lower bounds."""
    from whatsapp.processing import callback_data_for

    stopped = time.time()
    arrived: dict[str, float] = {}
    for request in fake_sends(fake_url):
        callback = (request.get("json") or {}).get("biz_opaque_callback_data")
        if request.get("status_code") == 200 and callback and callback not in arrived:
            arrived[callback] = request["at"]
    from_stored: dict[str, list[float]] = {"greeting": [], "away": []}
    from_post: list[float] = []
    rows = automated_of(load).values_list(
        "kind", "message_id", "trigger_message__created_at", "trigger_message__external_id"
    )
    for kind, message_id, stored_at, wamid in rows:
        at = arrived.get(callback_data_for(message_id)) if message_id else None
        if at is None:
            continue
        from_stored[kind].append((at - stored_at.timestamp()) * 1000)
        if wamid in posted:
            from_post.append((at - posted[wamid]) * 1000)
    both = from_stored["greeting"] + from_stored["away"]
    expected = 2 * len(load.customers)
    unsent = expected - len(both)
    # Each reply still missing answers a message posted before ``posting_ended``: it waited at least this long.
    waited_at_least = max(0.0, (stopped - posting_ended) * 1000)
    bounded = both + [waited_at_least] * max(0, unsent)
    return {
        "automated_replies": len(both),
        "automated_replies_expected": expected,
        "automated_unsent_at_stop": unsent,
        # With replies missing, the percentiles are lower bounds (the true value is at least this).
        "latency_lower_bound": unsent > 0,
        "automation_p50_ms": round(percentile(bounded, 50), 1),
        "automation_p95_ms": round(percentile(bounded, 95), 1),
        "automation_max_ms": round(max(bounded, default=0.0), 1),
        "greeting_p95_ms": round(percentile(from_stored["greeting"], 95), 1),
        "away_p95_ms": round(percentile(from_stored["away"], 95), 1),
        "reply_p50_ms": round(percentile(from_post, 50), 1),
        "reply_p95_ms": round(percentile(from_post, 95), 1),
    }


def processed(load: Load) -> int:
    """The load's customer messages whose handling is over: every delivery of their ``message.received``
    event done and, when they called for a greeting or away message, that message delivered."""
    from django.db import connection

    workspace = load.workspace
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH received AS (
                SELECT id FROM conversations_message
                WHERE inbox_id = %(inbox)s AND direction = 'in' AND external_id = ANY(%(wamids)s)
            ), handled AS (
                SELECT (o.payload->>'message_id')::bigint AS message_id FROM conversations_outboxevent o
                JOIN conversations_eventdelivery d ON d.event_id = o.id
                WHERE o.tenant_id = %(tenant)s AND o.event_type = 'message.received'
                GROUP BY 1 HAVING bool_and(d.state = 'done')
            ), waiting AS (
                SELECT a.trigger_message_id AS message_id FROM automations_automatedmessage a
                JOIN conversations_message s ON s.id = a.message_id
                WHERE a.tenant_id = %(tenant)s AND s.status IN ('queued', 'sending', 'sent')
            )
            SELECT count(*) FROM received r JOIN handled h ON h.message_id = r.id
            WHERE NOT EXISTS (SELECT 1 FROM waiting w WHERE w.message_id = r.id)
            """,
            {"inbox": workspace.channel.inbox.pk, "wamids": load.wamids, "tenant": workspace.tenant.pk},
        )
        return int(cursor.fetchone()[0])


def integrity_figures(
    workspaces: list[Workspace], loads: list[Load], automated_customers: set[str], fake_url: str
) -> dict[str, Any]:
    """Duplicates and losses, from the database and from what the fake received, after the run."""
    from django.db.models import Count

    from automations.models import AutomatedMessage
    from conversations.models import Message

    tenants = [w.tenant for w in workspaces]
    inbound = Message.objects.filter(tenant__in=tenants, direction=Message.Direction.INBOUND)
    distinct = inbound.values("inbox", "external_id").distinct().count()
    # Per customer message and kind (the table's unique key should make this 0 by construction).
    per_trigger = sum(
        row["n"] - 1
        for row in AutomatedMessage.objects.filter(tenant__in=tenants)
        .values("trigger_message", "kind")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    # Messages the automations sent that no AutomatedMessage accounts for (a second send of one decision).
    automated_sent = Message.objects.filter(
        tenant__in=tenants, direction=Message.Direction.OUTBOUND, sender_type=Message.SenderType.BOT, private=False
    ).exclude(type=Message.Type.SYSTEM)
    recorded = set(
        AutomatedMessage.objects.filter(tenant__in=tenants, message__isnull=False).values_list("message_id", flat=True)
    )
    unaccounted = automated_sent.exclude(pk__in=recorded).count()
    # What the customers got: one greeting and one away message each (the run is shorter than 4 hours).
    sends = [r for r in fake_sends(fake_url) if r.get("status_code") == 200 and (r.get("json") or {}).get("text")]
    callbacks = Counter(r["json"].get("biz_opaque_callback_data") for r in sends)
    twice_handed = sum(n - 1 for n in callbacks.values() if n > 1)
    per_customer: Counter[tuple[str, str]] = Counter()
    for request in sends:
        body = request["json"]["text"]["body"]
        kind = next((k for prefix, k in KIND_BY_PREFIX.items() if body.startswith(prefix)), "other")
        per_customer[(request["json"]["to"], kind)] += 1
    per_customer_extra = sum(n - 1 for (_c, kind), n in per_customer.items() if kind != "other" and n > 1)
    missing = sum(
        1 for customer in automated_customers for kind in ("greeting", "away") if not per_customer.get((customer, kind))
    )
    return {
        "duplicate_automated_messages": per_trigger + unaccounted + twice_handed + per_customer_extra,
        "duplicates_per_trigger_and_kind": per_trigger,
        "duplicates_unaccounted_sends": unaccounted,
        "duplicates_handed_twice": twice_handed,
        "duplicates_per_customer_and_kind": per_customer_extra,
        "missing_automated_messages": missing,
        "automated_sends_at_fake": sum(
            1 for (_c, kind), n in per_customer.items() if kind != "other" for _ in range(n)
        ),
        "lost": sum(load.unique for load in loads) - distinct,
        "duplicated": inbound.count() - distinct,
    }


# --- the run -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller run, under 90 s")
    parser.add_argument("--rate", type=int, default=50, help="webhooks per second of the latency stage")
    parser.add_argument("--agents", type=int, default=200, help="online agents of the automated workspace")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--latency-seconds", type=int, help="length of the latency stage (quick 6, full 60)")
    parser.add_argument("--burst-posts", type=int, help="webhooks per burst (quick 300, full 2,500)")
    parser.add_argument("--rounds", type=int, help="pairs of bursts, plain then automated (quick 2, full 3)")
    parser.add_argument("--settle-cap", type=float, help="seconds a stage waits to be done (quick 8, full 600)")
    args = parser.parse_args()
    stop_children_on_sigterm()

    latency_seconds = args.latency_seconds or (6 if args.quick else 60)
    burst_posts = args.burst_posts or (300 if args.quick else 2500)
    rounds = args.rounds or (2 if args.quick else 3)
    # How long a stage waits for what it caused to be done before it counts what was done (the quick run
    # must stay under 90 s on a slow product too), and how long the next one waits for a quiet product.
    settle_cap = args.settle_cap or (8.0 if args.quick else 600.0)
    drain_cap = 4.0 if args.quick else settle_cap
    # Overridable so that two runs on one machine do not share a database or a Redis db.
    t_begin = time.perf_counter()
    redis_url = f"{REDIS_BASE}/{os.environ.get('BENCH_AUTOMATIONS_REDIS_DB', '10')}"
    database = migrated_database(os.environ.get("BENCH_AUTOMATIONS_DATABASE", "helpdesk_bench_automations"), redis_url)
    flush_redis(redis_url)
    env = process_env(database, redis_url)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-automations-"))
    fake_port = free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    env["WHATSAPP_API_BASE_URL"] = fake_url  # the servers reach the Cloud API at the fake
    django_setup(env)
    print(f"database ready in {time.perf_counter() - t_begin:.1f} s", flush=True)

    import httpx

    from tenants.models import User

    owner = User.objects.create_user(email="owner@bench.example", password="x" * 12)
    plain = workspace_create(name="plain", index=1, owner=owner, automated=False, agents=0)
    automated = workspace_create(name="automated", index=2, owner=owner, automated=True, agents=args.agents)
    workspaces = [plain, automated]
    print(f"workspaces ready in {time.perf_counter() - t_begin:.1f} s", flush=True)
    custom = any(v is not None for v in (args.latency_seconds, args.burst_posts, args.rounds, args.settle_cap))
    mode = "custom" if custom else "quick" if args.quick else "full"
    figures: dict[str, Any] = {"mode": mode, "rate": args.rate, "agents": args.agents}

    with ExitStack() as stack:
        start(
            stack,
            "fake",
            [
                str(VENV_BIN / "python"),
                "-m",
                "whatsapp.fake",
                "--host",
                "127.0.0.1",
                "--port",
                str(fake_port),
                "--log-level",
                "warning",
            ],
            env,
            log_dir,
            url_returns_ok(f"{fake_url}/_fake/health"),
        )
        base = start_web(stack, env, log_dir, workers=args.workers)
        admin = httpx.Client(base_url=fake_url, timeout=30)

        def register(workspace: Workspace, webhook_url: str | None) -> None:
            admin.post(
                "/_fake/phone_numbers",
                json={
                    "phone_number_id": workspace.phone_number_id,
                    "display_phone_number": workspace.channel.display_phone_number,
                    "waba_id": WABA_ID,
                    "access_token": TOKEN,
                    "app_secret": APP_SECRET,
                    "webhook_url": webhook_url,
                    "verified_name": "Suporte",
                },
            ).raise_for_status()

        # The customers' first messages are written through the fake (opening their windows) while it has
        # no webhook address; the benchmark posts them. Then the fake's status webhooks go to the product.
        for workspace in workspaces:
            register(workspace, None)
        latency_load = load_make(automated, fake_url, args.rate * latency_seconds, label="latency", seed=1)

        def burst_pair(n: int) -> tuple[Load, Load]:
            return (
                load_make(plain, fake_url, burst_posts, label=f"plain-{n}", seed=10 + n),
                load_make(automated, fake_url, burst_posts, label=f"automated-{n}", seed=20 + n),
            )

        def webhooks_on() -> None:
            for workspace in workspaces:
                register(workspace, f"{base}{workspace.webhook_path()}")
            admin.delete("/_fake/webhooks")

        first_pair = burst_pair(0)
        webhooks_on()
        print(f"set up in {time.perf_counter() - t_begin:.1f} s", flush=True)

        start_worker(stack, env, log_dir, concurrency=args.concurrency)

        def quiet() -> bool:
            return all(settled(load) for load in posted_loads)

        # 1. Throughput: plain and automated bursts in turn.
        rates: dict[str, list[tuple[int, float]]] = {"plain": [], "automated": []}
        posted_loads: list[Load] = []
        unsettled = 0
        for n in range(rounds):
            if n:
                # Made now, not before the first round: a round is only run after the last one was
                # all done (quiet: no status webhook of the fake can be missed while it has no address).
                for workspace in workspaces:
                    register(workspace, None)
                pair = burst_pair(n)
                webhooks_on()
            else:
                pair = first_pair
            for load in pair:
                began = time.perf_counter()
                posted_loads.append(load)
                ok = asyncio.run(closed_loop(base, load))
                done = wait_until(lambda load=load: settled(load), timeout=settle_cap, interval=0.1)
                seconds = time.perf_counter() - began
                # Stopped waiting: the messages handled so far, over the time waited.
                count = load.unique if done else processed(load)
                unsettled += not done
                rates[load.workspace.name].append((count, seconds))
                stopped = "" if done else " (stopped waiting)"
                print(
                    f"burst {load.workspace.name}: {count} of {load.unique} messages handled in {seconds:.1f} s "
                    f"({count / seconds:.1f}/s){stopped}; non-200: {len(load.bodies) - ok}",
                    flush=True,
                )
                if not done:
                    break
            if unsettled:
                # What a burst left undone would slow the next one down: the ratio is from the bursts so far.
                break

        def per_second(name: str) -> float:
            return sum(n for n, _s in rates[name]) / sum(s for _n, s in rates[name])

        figures.update(
            {
                "processed_per_s_plain": round(per_second("plain"), 1),
                "processed_per_s_automated": round(per_second("automated"), 1),
                "processed_ratio": round(per_second("automated") / per_second("plain"), 3),
                "burst_rates": {name: [round(n / s, 1) for n, s in runs] for name, runs in rates.items()},
                "bursts_unsettled": unsettled,
            }
        )

        # 2. Latency at 50 messages a second, automated workspace.
        # After the bursts, from a quiet product if the last one drained in time (else noted).
        figures["latency_after_backlog"] = not wait_until(quiet, timeout=drain_cap, interval=0.5)
        # The bursts' conversations are closed (an update: no event, no automation) so that the agents have
        # room again: the latency stage's conversations are assigned as they arrive.
        from conversations.models import Conversation

        Conversation.objects.filter(tenant=automated.tenant, status=Conversation.Status.OPEN).update(
            status=Conversation.Status.RESOLVED
        )
        posted_loads.append(latency_load)
        posted, ok = asyncio.run(open_loop(base, latency_load, args.rate))
        posting_ended = time.time()
        done = wait_until(lambda: settled(latency_load), timeout=settle_cap, interval=0.25)
        figures.update(latency_figures(latency_load, posted, fake_url, posting_ended=posting_ended))
        figures["latency_stage"] = {
            "posts": len(latency_load.bodies),
            "unique": latency_load.unique,
            "customers": len(latency_load.customers),
            "non_200": len(latency_load.bodies) - ok,
            "settled": done,
        }
        print(
            f"latency at {args.rate}/s: automation p50 {figures['automation_p50_ms']} ms, "
            f"p95 {figures['automation_p95_ms']} ms over {figures['automated_replies']} of "
            f"{figures['automated_replies_expected']} replies{'' if done else ' (stopped waiting: lower bounds)'}; "
            f"from the post p95 {figures['reply_p95_ms']} ms",
            flush=True,
        )

        # 3. Assignment.
        figures["assignment"] = automated.assignment
        figures.update(assignment_figures(automated, latency_load.wamids))

        # 4. Integrity, once everything posted is done (or the wait is over: then missing may be late).
        figures["settled_at_end"] = wait_until(quiet, timeout=drain_cap, interval=0.5)
        automated_customers = set().union(*(load.customers for load in posted_loads if load.workspace.automated))
        integrity = integrity_figures(workspaces, posted_loads, automated_customers, fake_url)
        if not figures["settled_at_end"]:
            # Not all done yet: what is missing may only be late, so it is not counted as lost.
            integrity["not_stored_at_end"] = integrity.pop("lost")
            integrity["automated_not_sent_at_end"] = integrity.pop("missing_automated_messages")
            integrity["lost"] = integrity["missing_automated_messages"] = None
        figures.update(integrity)
        admin.close()
    figures["rules_active"] = active_rules(automated)
    figures.update(sla_figures(automated))
    figures["seconds"] = round(time.perf_counter() - t_begin, 1)
    print(
        f"processed per second: plain {figures['processed_per_s_plain']}, automated "
        f"{figures['processed_per_s_automated']} (ratio {figures['processed_ratio']}); duplicate automated "
        f"messages {figures['duplicate_automated_messages']}, missing {figures['missing_automated_messages']}, "
        f"lost {figures['lost']}"
    )
    print(f"logs in {log_dir}")
    report(figures)


if __name__ == "__main__":
    main()
