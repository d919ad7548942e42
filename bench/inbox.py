"""Agent inbox on a large tenant: server time of the list, deep pages, opening and search.

Seeds one tenant on PostgreSQL (its own database, kept between runs): 3 inboxes, 20 agents, a
supervisor-less admin, 100,000 contacts with Brazilian numbers, 100,000 conversations and
1,000,000 messages whose words follow a Zipf-like distribution (``--quick``: 10,000 and 100,000),
written with COPY. Then, in this process (``django.test.Client`` and the selectors, no network),
times each request and counts its queries:

- the first page of each tab (mine, unassigned, all) as an agent without "view all" (member of 2
  of the 3 inboxes), and "all" as an admin;
- a page about 40 pages deep, reached by following cursors;
- opening a conversation (its newest 50 messages);
- search by a partial number (the last 8 digits of a customer's number) and by a word.

What is measured is a small table (``build_probes``): the HTML views of the inbox when their
routes exist (``/t/<slug>/inbox/list/``, ``/t/<slug>/inbox/c/<display_id>/pane/``), otherwise the
JSON API, and the selectors directly (full runs; ``--quick --selectors``). Each key is the worst
p95 over its probes. ``--explain`` prints EXPLAIN (ANALYZE, BUFFERS) of each selector probe's
slowest query.

    python bench/inbox.py [--quick] [--reseed] [--explain] [--selectors]

The last line printed is one JSON object: list_p95_ms, deep_page_p95_ms, open_p95_ms,
search_phone_p95_ms, search_text_p95_ms, max_queries, conversations, messages (and per-probe
details). Target: every p95 <= 50 ms, max_queries <= 10.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    PG_ADMIN_URL,
    REDIS_BASE,
    django_setup,
    fresh_database,
    migrate,
    percentile,
    process_env,
    report,
)

SEED_VERSION = 1
SIZES = {"full": (100_000, 1_000_000), "quick": (10_000, 100_000)}
DATABASES = {"full": "hd_bench_inbox", "quick": "hd_bench_inbox_quick"}
SLUG = "bench-inbox"
AGENTS = 20
INBOX_PAIRS = [(0, 1), (1, 2), (0, 2)]  # agent k belongs to the inboxes INBOX_PAIRS[k % 3]
DEEP_PAGE = 40
PAGE = 25
RARE_WORD, RARE_RANK = "reembolso", 220  # about 0.4% of messages
COMMON_WORD, COMMON_RANK = "pedido", 12  # about 10% of messages

# --- Seeding -------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


STOPWORDS = _words(
    "de o a que e do da em um para é com não uma os no se na por mais as dos como mas ao ele das "
    "à seu sua ou quando muito nos já eu também só pelo pela até isso ela entre depois sem mesmo aos "
    "seus quem nas me esse eles você essa num nem suas meu às minha numa pelos elas qual nós lhe"
)
HELPDESK_WORDS = _words(
    "olá oi bom dia tarde noite obrigado obrigada entrega produto preço pagamento pix boleto "
    "cartão frete prazo troca devolução cancelamento cancelar nota fiscal endereço rastreio código "
    "atendimento problema ajuda loja compra valor desconto cupom estoque tamanho cor modelo garantia "
    "defeito site aplicativo senha cadastro conta cobrança fatura parcela juros promoção horário "
    "funcionamento retirada transportadora correios sedex chegou atrasado aguardando confirmação "
    "comprovante enviado recebi quero gostaria saber preciso consegue pode poderia verificar informar "
    "quanto custa tem disponível ainda hoje amanhã semana mês favor certo beleza ok entendi aguardo "
    "retorno resposta urgente número protocolo cliente vendedor atendente gerente humano falar ligar "
    "telefone email whatsapp mensagem foto imagem vídeo áudio arquivo documento cpf cnpj dados "
    "nome sobrenome rua bairro cidade estado cep apartamento casa trabalho caixa embalagem "
    "quebrado errado faltando veio diferente novo usado original tamanhos numeração grande pequeno "
    "médio azul preto branco vermelho verde rosa cinza amarelo tênis camisa calça vestido bolsa "
    "relógio celular capinha fone carregador notebook geladeira fogão sofá mesa cadeira colchão"
)
FIRST_NAMES = _words(
    "Maria Ana Francisca Antônia Adriana Juliana Márcia Fernanda Patrícia Aline Sandra Camila Amanda "
    "Bruna Jéssica Letícia Júlia Luciana Vanessa Mariana Gabriela Beatriz Larissa Rafaela José João "
    "Antônio Francisco Carlos Paulo Pedro Lucas Luiz Marcos Luís Gabriel Rafael Daniel Marcelo Bruno "
    "Eduardo Felipe Raimundo Rodrigo Manoel Mateus André Fernando Fábio Leonardo Gustavo Guilherme "
    "Leandro Tiago Anderson Ricardo Márcio Jorge Sebastião Alexandre Roberto Diego Thiago Vinícius"
)
SURNAMES = _words(
    "Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes Costa Ribeiro Martins "
    "Carvalho Almeida Lopes Soares Fernandes Vieira Barbosa Rocha Dias Nascimento Andrade Moreira "
    "Nunes Marques Machado Mendes Freitas Cardoso Ramos Gonçalves Santana Teixeira Araújo Pinto "
    "Moraes Correia Cavalcanti Monteiro Batista Campos Castro Moura Azevedo Melo Barros Reis"
)
DDDS = [11] * 12 + [21] * 5 + [31] * 3 + [41, 51, 61, 71, 81, 85, 19, 27, 48, 62, 91, 92, 13, 12, 15, 16, 17]
LABELS = ["vip", "financeiro", "troca", "entrega", "reclamação", "novo-cliente", "b2b", "urgente", "pós-venda", "spam"]


def vocabulary(rng: random.Random) -> list[str]:
    """Words by rank: stopwords and helpdesk words, then pseudo-words (the long tail)."""
    syllables = "ba be bi ca co cu da de di fa fe fi ga go la le li lo ma me mi mo na ne no pa pe pi po "
    syllables += "ra re ri ro sa se si so ta te ti to va ve vi xa zu gu ju"
    parts = syllables.split()
    words = [w for w in STOPWORDS + HELPDESK_WORDS if w not in (RARE_WORD, COMMON_WORD)]
    seen = set(words) | {RARE_WORD, COMMON_WORD}
    while len(words) < 4250:
        w = "".join(rng.choice(parts) for _ in range(rng.randint(2, 4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    words.insert(COMMON_RANK, COMMON_WORD)
    words.insert(RARE_RANK, RARE_WORD)
    return words


def _ts(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()


def _copy(cursor: Any, table: str, columns: list[str], lines: list[str]) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        buf = io.StringIO()
        for line in lines:
            buf.write(line)
            if buf.tell() > 4_000_000:
                copy.write(buf.getvalue())
                buf = io.StringIO()
        copy.write(buf.getvalue())


BULK_TABLES = [
    "conversations_contact",
    "conversations_contactidentity",
    "conversations_contactinbox",
    "conversations_conversation",
    "conversations_conversationlabel",
    "conversations_message",
]


def seed(database_url: str, n_conv: int, n_msg: int) -> dict[str, Any]:
    """Small objects through the services and ORM, the large tables with COPY. Returns seed facts."""
    import psycopg
    from django.contrib.auth.hashers import make_password

    from conversations.models import Inbox, Label
    from tenants.models import Membership, Role, User
    from tenants.services import tenant_create
    from tests.factories import owner_of
    from whatsapp.services import channel_create

    t0 = time.perf_counter()
    rng = random.Random(20261122)
    password = make_password("bench-password-123")
    owner = User.objects.create(email="owner@bench.example", name="Owner", password=password)
    tenant = tenant_create(name="Bench Inbox", owner=owner, slug=SLUG)
    owner_m = owner_of(tenant)
    inboxes = []
    for k, name in enumerate(["Vendas", "Suporte", "Financeiro"]):
        channel = channel_create(
            actor=owner_m,
            name=name,
            display_phone_number=f"551140000{k:04d}",
            phone_number_id=f"90000000000{k:04d}",
            waba_id="900000000000999",
            access_token="bench-token",
            app_secret="bench-secret",
            verify=False,
        )
        inboxes.append(channel.inbox)
    roles = {r.key: r for r in Role.objects.filter(tenant=tenant)}
    admin = User.objects.create(email="admin@bench.example", name="Admin", password=password)
    Membership.objects.create(tenant=tenant, user=admin, role=roles["admin"])
    agents = User.objects.bulk_create(
        [
            User(email=f"agent{k:02d}@bench.example", name=f"{FIRST_NAMES[k]} {SURNAMES[k]}", password=password)
            for k in range(AGENTS)
        ]
    )
    Membership.objects.bulk_create(
        [Membership(tenant=tenant, user=u, role=roles["agent"], availability="online") for u in agents]
    )
    through = Inbox.members.through
    through.objects.filter(inbox__in=inboxes).delete()
    links = [through(inbox_id=inboxes[i].pk, user_id=owner.pk) for i in range(3)]
    links += [through(inbox_id=inboxes[i].pk, user_id=admin.pk) for i in range(3)]
    agents_of: list[list[int]] = [[], [], []]
    for k, u in enumerate(agents):
        for i in INBOX_PAIRS[k % 3]:
            links.append(through(inbox_id=inboxes[i].pk, user_id=u.pk))
            agents_of[i].append(u.pk)
    through.objects.bulk_create(links)
    labels = Label.objects.bulk_create([Label(tenant=tenant, name=n) for n in LABELS])
    t_small = time.perf_counter()

    now = time.time()
    start = now - 90 * 86400
    tid = tenant.pk
    vocab = vocabulary(rng)
    cum: list[float] = []
    acc = 0.0
    for r in range(len(vocab)):
        acc += 1.0 / (r + 1)
        cum.append(acc)

    # Conversations: created in order over 90 days (display_id follows), recent ones mostly open.
    conv_created = sorted(start + rng.random() * 90 * 86400 for _ in range(n_conv))
    conv_inbox = rng.choices(range(3), weights=[5, 3, 2], k=n_conv)
    conv_status: list[str] = []
    conv_end: list[float] = []
    conv_assignee: list[int | None] = []
    conv_count: list[int] = []
    for c in range(n_conv):
        recent = conv_created[c] > now - 15 * 86400
        weights = [60, 10, 5, 25] if recent else [12, 5, 2, 81]
        status = rng.choices(["open", "pending", "snoozed", "resolved"], weights=weights)[0]
        conv_status.append(status)
        mean = 2 * 86400 if status != "resolved" else 8 * 3600
        conv_end.append(min(now - 60, conv_created[c] + rng.expovariate(1 / mean)))
        unassigned = {"open": 0.35, "pending": 0.2, "snoozed": 0.1, "resolved": 0.05}[status]
        conv_assignee.append(None if rng.random() < unassigned else rng.choice(agents_of[conv_inbox[c]]))
        # 5% long conversations (50-200 messages), the rest short.
        if rng.random() < 0.05:
            conv_count.append(rng.randint(50, 200))
        else:
            conv_count.append(1 + int(rng.expovariate(1 / 3.0)))
    diff = n_msg - sum(conv_count)
    while diff:
        c = rng.randrange(n_conv)
        if diff > 0:
            conv_count[c] += 1
            diff -= 1
        elif conv_count[c] > 1:
            conv_count[c] -= 1
            diff += 1

    # Messages in time order across conversations, so ids interleave as in a real inbox.
    stamps: list[tuple[float, int]] = []
    for c in range(n_conv):
        a, b = conv_created[c], conv_end[c]
        k = conv_count[c]
        stamps.append((a, c))
        if k > 1:
            stamps.append((b, c))
        stamps.extend((a + rng.random() * (b - a), c) for _ in range(k - 2))
    stamps.sort()
    last_inbound_wanted = [s in ("open", "pending") and rng.random() < 0.7 for s in conv_status]
    n_words = [2 + min(38, int(rng.expovariate(1 / 6.0))) for _ in range(len(stamps))]
    words = rng.choices(vocab, cum_weights=cum, k=sum(n_words))
    seen = [0] * n_conv
    last_msg = [0] * n_conv
    last_msg_at = [""] * n_conv
    last_in: list[float | None] = [None] * n_conv
    waiting: list[float | None] = [None] * n_conv
    unread = [0] * n_conv
    conv_id0 = 1
    msg_lines: list[str] = []
    pos = 0
    for mid, (ts, c) in enumerate(stamps, start=1):
        j = seen[c]
        seen[c] += 1
        n = n_words[mid - 1]
        text = " ".join(words[pos : pos + n])
        pos += n
        if rng.random() < 0.08:
            text += f" {rng.randrange(1_000_000, 9_999_999)}"
        if j == 0:
            inbound = True
        elif j == conv_count[c] - 1:
            inbound = last_inbound_wanted[c] or (conv_status[c] == "resolved" and rng.random() < 0.3)
        else:
            inbound = rng.random() < 0.5
        private = not inbound and rng.random() < 0.02
        mtype = "text" if rng.random() < 0.92 else "image"
        if mtype == "image":
            text = ""
        # Neutral content (conversations.content), as stored since the content migration.
        content = (
            f'{{"v": 1, "kind": "text", "body": "{text}"}}'
            if mtype == "text"
            else '{"v": 1, "kind": "media", "media_kind": "image"}'
        )
        stamp = _ts(ts)
        inbox_id = inboxes[conv_inbox[c]].pk
        if inbound:
            row = (
                f"{mid}\t{tid}\t{stamp}\t{stamp}\t{conv_id0 + c}\t{inbox_id}\tin\tcontact\t\\N\t{mtype}\t{text}"
                f"\t{content}\tf\twamid.in.{mid}\t\tf\tf\treceived\t\t\t{stamp}\t\\N\t\\N\t\\N\t0\t{stamp}\t\n"
            )
            last_in[c] = ts
            if waiting[c] is None:
                waiting[c] = ts
            unread[c] += 1
        else:
            sender = conv_assignee[c] or agents_of[conv_inbox[c]][mid % len(agents_of[conv_inbox[c]])]
            ext = "\\N" if private else f"wamid.out.{mid}"
            status = "sent" if private else ("read" if rng.random() < 0.7 else "delivered")
            read_at = stamp if status == "read" else "\\N"
            row = (
                f"{mid}\t{tid}\t{stamp}\t{stamp}\t{conv_id0 + c}\t{inbox_id}\tout\tagent\t{sender}\t{mtype}\t{text}"
                f"\t{content}\t{'t' if private else 'f'}\t{ext}\t\tf\tf\t{status}\t\t\t\\N\t{stamp}\t{stamp}"
                f"\t{read_at}\t0\t{stamp}\t\n"
            )
            if not private:
                waiting[c] = None
                unread[c] = 0
        msg_lines.append(row)
        last_msg[c], last_msg_at[c] = mid, stamp
    del stamps, words

    contact_lines, identity_lines, ci_lines, conv_lines, label_lines = [], [], [], [], []
    used_wa: set[str] = set()
    lid = 0
    for c in range(n_conv):
        while True:
            wa = f"55{rng.choice(DDDS)}9{rng.randrange(10_000_000, 99_999_999)}"
            if wa not in used_wa:
                used_wa.add(wa)
                break
        full = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
        if rng.random() < 0.4:
            full += f" {rng.choice(SURNAMES)}"
        name = full if rng.random() < 0.6 else ""
        profile = full.split()[0] if rng.random() < 0.9 else ""
        created = _ts(conv_created[c])
        end = _ts(conv_end[c])
        contact_lines.append(f"{c + 1}\t{tid}\t{created}\t{created}\t{name}\t{profile}\t+{wa}\t{{}}\tunknown\n")
        identity_lines.append(f"{c + 1}\t{tid}\t{created}\t{created}\t{c + 1}\twhatsapp\t{wa}\n")
        ci_lines.append(f"{c + 1}\t{tid}\t{created}\t{created}\t{c + 1}\t{inboxes[conv_inbox[c]].pk}\t{wa}\n")
        status = conv_status[c]
        assignee = conv_assignee[c] if conv_assignee[c] is not None else "\\N"
        snoozed = _ts(now + 86400) if status == "snoozed" else "\\N"
        resolved = end if status == "resolved" else "\\N"
        unresolved = status in ("open", "pending")
        wait = _ts(waiting[c]) if unresolved and waiting[c] is not None else "\\N"
        unread_n = unread[c] if unresolved else 0
        priority = rng.choices(["none", "low", "medium", "high", "urgent"], weights=[85, 4, 5, 4, 2])[0]
        last_in_s = _ts(last_in[c]) if last_in[c] is not None else "\\N"
        conv_lines.append(
            f"{conv_id0 + c}\t{tid}\t{created}\t{end}\t{c + 1}\t{status}\t{priority}\t{snoozed}\t{last_in_s}"
            f"\t{end}\t{resolved}\t{assignee}\t{c + 1}\t{c + 1}\t{inboxes[conv_inbox[c]].pk}\t{last_msg[c]}"
            f"\t{unread_n}\t{wait}\t{last_msg_at[c]}\n"
        )
        r = rng.random()
        for label in rng.sample(labels, 2 if r < 0.1 else 1 if r < 0.4 else 0):
            lid += 1
            label_lines.append(f"{lid}\t{tid}\t{created}\t{created}\t{conv_id0 + c}\t{label.pk}\n")
    t_gen = time.perf_counter()

    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # no FK triggers while loading
        cur.execute("SET maintenance_work_mem = '512MB'")
        # Load without secondary indexes, then build them (much faster than maintaining them row by row).
        cur.execute(
            """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
               FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
               WHERE t.relname = ANY(%s) AND NOT i.indisprimary
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""",
            [BULK_TABLES],
        )
        index_defs = cur.fetchall()
        for name, _definition in index_defs:
            cur.execute(f"DROP INDEX {name}")
        common = ["id", "tenant_id", "created_at", "updated_at"]
        _copy(
            cur,
            "conversations_contact",
            [*common, "name", "profile_name", "phone_e164", "custom_attributes", "marketing_consent"],
            contact_lines,
        )
        _copy(cur, "conversations_contactidentity", [*common, "contact_id", "channel_type", "address"], identity_lines)
        _copy(cur, "conversations_contactinbox", [*common, "contact_id", "inbox_id", "source_id"], ci_lines)
        conv_columns = [*common, "display_id", "status", "priority", "snoozed_until", "last_inbound_at"]
        conv_columns += ["last_activity_at", "resolved_at", "assignee_id", "contact_id", "contact_inbox_id"]
        conv_columns += ["inbox_id", "last_message_id", "unread_count", "waiting_since", "last_message_at"]
        _copy(cur, "conversations_conversation", conv_columns, conv_lines)
        _copy(cur, "conversations_conversationlabel", [*common, "conversation_id", "label_id"], label_lines)
        msg_columns = [*common, "conversation_id", "inbox_id", "direction", "sender_type", "sender_user_id", "type"]
        msg_columns += ["text", "content", "private", "external_id", "reply_to_external_id", "forwarded"]
        msg_columns += ["frequently_forwarded", "status", "error_title", "error_details", "external_timestamp"]
        msg_columns += ["sent_at", "delivered_at", "read_at", "send_attempts", "occurred_at", "idempotency_fingerprint"]
        _copy(cur, "conversations_message", msg_columns, msg_lines)
        t_copy = time.perf_counter()
        for _name, definition in index_defs:
            cur.execute(definition)
        for table in BULK_TABLES:
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        cur.execute(
            "UPDATE conversations_conversationcounter SET last_display_id = %s WHERE tenant_id = %s", [n_conv, tid]
        )
        conn.commit()
    t_index = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        facts: dict[str, Any] = {}
        for key, word in (("rare", RARE_WORD), ("common", COMMON_WORD)):
            facts[f"{key}_word"] = word
            facts[f"{key}_messages"] = conn.execute(
                "SELECT count(*) FROM conversations_message "
                "WHERE to_tsvector('simple', COALESCE(text, '')) @@ plainto_tsquery('simple', %s)",
                [word],
            ).fetchone()[0]
    t_end = time.perf_counter()
    facts["seed_seconds"] = {
        "small_objects": round(t_small - t0, 1),
        "generate": round(t_gen - t_small, 1),
        "copy": round(t_copy - t_gen, 1),
        "indexes": round(t_index - t_copy, 1),
        "vacuum_analyze": round(t_end - t_index, 1),
        "total": round(t_end - t0, 1),
    }
    return facts


def read_marker(database_url: str) -> dict[str, Any] | None:
    import psycopg

    try:
        with psycopg.connect(database_url, connect_timeout=5) as conn:
            row = conn.execute("SELECT version, facts FROM bench_inbox_seed").fetchone()
    except psycopg.Error:
        return None
    if row is None or row[0] != SEED_VERSION:
        return None
    return row[1]


def write_marker(database_url: str, facts: dict[str, Any]) -> None:
    import psycopg

    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TABLE bench_inbox_seed (version int NOT NULL, facts jsonb NOT NULL)")
        conn.execute("INSERT INTO bench_inbox_seed VALUES (%s, %s)", [SEED_VERSION, json.dumps(facts)])


# --- Measuring -----------------------------------------------------------------------------------


@dataclass
class Probe:
    """One kind of request, timed ``iterations`` times after a warm-up; ``call(i)`` does request i."""

    key: str  # the figure it counts towards: list, deep_page, open, search_phone, search_text, search_common
    name: str
    layer: str  # html, api or selector
    call: Callable[[int], Any]
    times: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    parts: dict[str, list[float]] = field(default_factory=dict)


def run_probe(probe: Probe, iterations: int, warmup: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for values in probe.parts.values():
        values.clear()
    for i in range(warmup + iterations):
        connection.queries_log.clear()  # a full log (9,000 entries) would make the capture empty
        with CaptureQueriesContext(connection) as ctx:
            t = time.perf_counter()
            probe.call(i)
            elapsed = (time.perf_counter() - t) * 1000
        if i >= warmup:
            probe.times.append(elapsed)
            probe.queries.append(len(ctx.captured_queries))


def html_routes_exist() -> bool:
    from django.urls import Resolver404, resolve

    try:
        resolve(f"/t/{SLUG}/inbox/list/")
        resolve(f"/t/{SLUG}/inbox/c/1/pane/")
    except Resolver404:
        return False
    return True


def build_probes(quick: bool, facts: dict[str, Any], selector_layer: bool) -> tuple[list[Probe], dict[str, Any]]:
    """The measured requests. Switch layers here: HTML views when routed, else the JSON API; plus the
    selectors directly (``selector_layer``). ``quick`` leaves out the common-word search."""
    from django.db import connection
    from django.test import Client

    from conversations import selectors
    from conversations.selectors import ConversationFilters
    from tenants.models import User
    from tenants.selectors import membership_for

    rng = random.Random(5)
    n_targets = 200
    html = html_routes_exist()
    info: dict[str, Any] = {"layer": "html" if html else "api", "deep_page": {}}
    probes: list[Probe] = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conversation_id FROM conversations_message GROUP BY conversation_id HAVING count(*) >= 50"
        )
        long_ids = [r[0] for r in cursor.fetchall()]

    principals = {
        "agent": User.objects.get(email="agent00@bench.example"),
        "admin": User.objects.get(email="admin@bench.example"),
    }
    for who, user in principals.items():
        membership = membership_for(user=user, tenant_slug=SLUG)
        client = Client(HTTP_HX_REQUEST="true")
        client.force_login(user)
        visible = selectors.conversation_list(membership=membership)
        open_targets = list(visible.filter(id__in=long_ids).values_list("display_id", flat=True)[:2000])
        rng.shuffle(open_targets)
        phones = list(visible.order_by("?").values_list("contact__phone_e164", flat=True)[:n_targets])
        phone_q = [p[-8:] for p in phones]
        tabs = ["mine", "unassigned", "all"] if who == "agent" else ["all"]

        def get(url: str, client: Client = client) -> Any:
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"GET {url}: {response.status_code} {response.content[:300]!r}")
            return response

        def fragment(filters: ConversationFilters, cursor: str | None = None, m: Any = membership) -> tuple[Any, dict]:
            """The list fragment at selector level: a page of rows plus the tab counts, timed separately."""
            parts: dict[str, list[float]] = {"page": [], "counts": []}

            def list_call(i: int) -> None:
                t = time.perf_counter()
                rows, _next = selectors.conversation_inbox_page(membership=m, filters=filters, cursor=cursor)
                for row in rows:  # what a row template reads
                    (row.contact.display_name, row.last_message and row.last_message.text, list(row.labels.all()))
                t2 = time.perf_counter()
                selectors.conversation_tab_counts(membership=m)
                parts["page"].append((t2 - t) * 1000)
                parts["counts"].append((time.perf_counter() - t2) * 1000)

            return list_call, parts

        def add(
            key: str, name: str, layer: str, call: Callable[[int], Any], parts: dict | None = None, who: str = who
        ) -> None:
            if layer == "selector" and not selector_layer:
                return
            if key == "search_common" and quick:
                return
            probes.append(Probe(key, f"{who} {name}", layer, call, parts=parts or {}))

        # The first page of each tab.
        for tab in tabs:
            filters = ConversationFilters(tab=tab, status="open")
            call, parts = fragment(filters)
            add("list", f"tab={tab}", "selector", call, parts)
            if html:
                add(
                    "list",
                    f"tab={tab}",
                    "html",
                    lambda i, tab=tab, get=get: get(f"/t/{SLUG}/inbox/list/?tab={tab}&status=open"),
                )
        if not html:
            url = f"/api/v1/t/{SLUG}/conversations/?status=open&page_size={PAGE}"
            add("list", "visible open", "api", lambda i, url=url, get=get: get(url))

        # A page deep in the list, reached by following cursors (open conversations; any status when
        # the open ones are fewer than DEEP_PAGE pages).
        status = "open"
        filters = ConversationFilters(tab="all", status=status)
        cursor, page = None, 1
        while page < DEEP_PAGE:
            _rows, next_cursor = selectors.conversation_inbox_page(
                membership=membership, filters=filters, cursor=cursor
            )
            if next_cursor is None:
                if status == "open":
                    status, cursor, page = "", None, 1
                    filters = ConversationFilters(tab="all", status=status)
                    continue
                break
            cursor, page = next_cursor, page + 1
        info["deep_page"][who] = {"page": page, "status": status or "any"}
        call, parts = fragment(filters, cursor)
        add("deep_page", f"page {page} status={status or 'any'}", "selector", call, parts)
        if html:
            deep_url = f"/t/{SLUG}/inbox/list/?tab=all&status={status}&cursor={cursor}"
            add("deep_page", f"page {page} status={status or 'any'}", "html", lambda i, u=deep_url, get=get: get(u))
        else:
            url = f"/api/v1/t/{SLUG}/conversations/?page_size={PAGE}" + (f"&status={status}" if status else "")
            for _ in range(page - 1):
                url = get(url).json()["next"] or url
            add("deep_page", f"page {page} status={status or 'any'}", "api", lambda i, url=url, get=get: get(url))

        # Opening a conversation: its newest 50 messages (conversations with 50 or more).
        def open_selector(i: int, m: Any = membership, targets: list[int] = open_targets) -> None:
            conversation = selectors.conversation_get(membership=m, display_id=targets[i % len(targets)])
            rows, _more = selectors.message_page(conversation=conversation)
            for message in rows:
                (message.text, list(message.attachments.all()), list(message.reactions.all()))

        add("open", "conversation (50 messages)", "selector", open_selector)
        if html:
            add(
                "open",
                "pane",
                "html",
                lambda i, t=open_targets, get=get: get(f"/t/{SLUG}/inbox/c/{t[i % len(t)]}/pane/"),
            )
        else:
            add(
                "open",
                "messages",
                "api",
                lambda i, t=open_targets, get=get: get(
                    f"/api/v1/t/{SLUG}/conversations/{t[i % len(t)]}/messages/?page_size=50"
                ),
            )

        # Search: a partial number (different customers) and a word, over conversations of any status.
        searches = [
            ("search_phone", "phone (last 8 digits)", lambda i, q=phone_q: q[i % len(q)]),
            ("search_text", f"word {facts['rare_word']!r}", lambda i: facts["rare_word"]),
            ("search_common", f"word {facts['common_word']!r}", lambda i: facts["common_word"]),
        ]
        for key, label, query in searches:
            parts = {"page": [], "counts": []}

            def search_call(i: int, query=query, parts=parts, m: Any = membership) -> None:
                filters = ConversationFilters(tab="all", status="", q=query(i))
                t = time.perf_counter()
                rows, _next = selectors.conversation_inbox_page(membership=m, filters=filters)
                for row in rows:
                    (row.contact.display_name, row.last_message and row.last_message.text, list(row.labels.all()))
                t2 = time.perf_counter()
                selectors.conversation_tab_counts(membership=m)
                parts["page"].append((t2 - t) * 1000)
                parts["counts"].append((time.perf_counter() - t2) * 1000)

            add(key, label, "selector", search_call, parts)
            if html:
                add(
                    key,
                    label,
                    "html",
                    lambda i, q=query, get=get: get(f"/t/{SLUG}/inbox/list/?tab=all&status=&q={q(i)}"),
                )
    return probes, info


def explain(probes: list[Probe]) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the slowest query of each selector probe."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for probe in probes:
        if probe.layer != "selector":
            continue
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as ctx:
            probe.call(7)
        slowest = max(ctx.captured_queries, key=lambda q: float(q["time"]))
        print(f"\n=== {probe.key}: {probe.name} — slowest of {len(ctx.captured_queries)} ({slowest['time']} s)")
        print(slowest["sql"])
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
            print("\n".join(r[0] for r in cursor.fetchall()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 conversations / 100,000 messages, under 60 s")
    parser.add_argument("--reseed", action="store_true", help="drop and seed the database again")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of each probe's slowest query")
    parser.add_argument(
        "--selectors", action="store_true", help="with --quick, also time the selectors directly (full runs always do)"
    )
    parser.add_argument("--iterations", type=int, default=0, help="timed requests per probe (default 60, quick 20)")
    args = parser.parse_args()
    t_start = time.perf_counter()
    mode = "quick" if args.quick else "full"
    n_conv, n_msg = SIZES[mode]
    iterations = args.iterations or (20 if args.quick else 60)
    warmup = 2 if args.quick else 5
    load_before = os.getloadavg()[0]

    database_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASES[mode]}"
    facts = None if args.reseed else read_marker(database_url)
    reused = facts is not None and facts.get("conversations") == n_conv and facts.get("messages") == n_msg
    env = process_env(database_url, f"{REDIS_BASE}/12", DJANGO_ALLOWED_HOSTS="testserver,127.0.0.1,localhost")
    if not reused:
        fresh_database(DATABASES[mode])
    migrate(env)  # on a kept database this applies only migrations added since it was seeded
    django_setup(env)
    if reused:
        print(f"reusing {DATABASES[mode]} (seed version {SEED_VERSION}; --reseed to seed again)", flush=True)
    else:
        print(f"seeding {DATABASES[mode]}: {n_conv:,} conversations, {n_msg:,} messages ...", flush=True)
        facts = seed(database_url, n_conv, n_msg)
        facts.update(conversations=n_conv, messages=n_msg)
        write_marker(database_url, facts)
        print(f"seeded in {facts['seed_seconds']['total']} s: {facts['seed_seconds']}", flush=True)
    assert facts is not None

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM conversations_conversation), (SELECT count(*) FROM conversations_message)"
        )
        conversations, messages = cursor.fetchone()

    probes, info = build_probes(args.quick, facts, selector_layer=not args.quick or args.selectors)
    if args.explain:
        explain(probes)
    for probe in probes:
        run_probe(probe, iterations, warmup)
        parts = "".join(
            f", {name} p95 {percentile(values[warmup:], 95):.1f}" for name, values in probe.parts.items() if values
        )
        print(
            f"{probe.key:<13} {probe.layer:<8} {probe.name:<40} p50 {percentile(probe.times, 50):6.1f} ms"
            f"  p95 {percentile(probe.times, 95):6.1f} ms  queries {max(probe.queries)}{parts}",
            flush=True,
        )

    def worst(key: str) -> float | None:
        values = [percentile(p.times, 95) for p in probes if p.key == key]
        return round(max(values), 1) if values else None

    figures: dict[str, Any] = {
        "mode": mode,
        "seeded": "quick: 10,000 conversations / 100,000 messages (the full run seeds 100,000 / 1,000,000)"
        if args.quick
        else "full: 100,000 conversations / 1,000,000 messages",
        "reused_seed": reused,
        "layer": info["layer"],
        "iterations": iterations,
        "conversations": conversations,
        "messages": messages,
        "list_p95_ms": worst("list"),
        "deep_page_p95_ms": worst("deep_page"),
        "open_p95_ms": worst("open"),
        "search_phone_p95_ms": worst("search_phone"),
        "search_text_p95_ms": worst("search_text"),
        "search_common_p95_ms": worst("search_common"),
        "max_queries": max(max(p.queries) for p in probes),
        "search_text_word": facts["rare_word"],
        "search_text_word_messages": facts["rare_messages"],
        "search_common_word": facts["common_word"],
        "search_common_word_messages": facts["common_messages"],
        "deep_page": info["deep_page"],
        "seed_seconds": facts["seed_seconds"],
        "probes": {
            f"{p.key} {p.layer} {p.name}": {
                "p50_ms": round(percentile(p.times, 50), 1),
                "p95_ms": round(percentile(p.times, 95), 1),
                "queries": max(p.queries),
            }
            for p in probes
        },
        # The machine is shared: a busy one (load above its 2 cores) inflates every figure.
        "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "elapsed_s": round(time.perf_counter() - t_start, 1),
    }
    failing = [k for k in figures if k.endswith("_p95_ms") and k != "search_common_p95_ms" and (figures[k] or 0) > 50]
    print(
        f"{conversations:,} conversations, {messages:,} messages; word {facts['rare_word']!r} in "
        f"{facts['rare_messages']:,} messages, {facts['common_word']!r} in {facts['common_messages']:,}; "
        f"over 50 ms p95: {', '.join(failing) or 'none'}; max queries {figures['max_queries']}"
    )
    report(figures)


if __name__ == "__main__":
    main()
