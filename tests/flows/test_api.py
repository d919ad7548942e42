"""The bot flows API as an integrator uses it (create, edit the draft, publish, install the ready-made flow, keep
the keys, start a flow for a contact, read its sessions), and the abuse cases: an agent's token (403, nothing
done), another workspace's flow or contact (404, nothing done), oversized or invalid definitions (400, the draft
or the running version as they were) and junk input (400, never 500)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from conversations.models import Message
from flows.definitions import definition_problems
from flows.models import Flow, FlowSession, FlowSettings, FlowVersion
from flows.services import FlowSpec, draft_save, flow_create, flow_publish
from tenants.models import AuditLogEntry
from tenants.permissions import BuiltinRole, Perm
from tenants.services import api_token_create, role_builtin
from tests.automations.factories import signed_in, token_client
from tests.factories import make_tenant, owner_of
from tests.whatsapp.conftest import make_channel

pytestmark = pytest.mark.django_db

API = "/api/v1/t/acme/flows/"

CHOOSE = {
    "start": "hello",
    "steps": [
        {
            "id": "hello",
            "name": "Hello",
            "type": "ask",
            "input": "buttons",
            "text": "Hi {{contact.first_name}}! Sales or support?",
            "choices": [
                {"id": "sales", "title": "Sales", "next": "bye"},
                {"id": "support", "title": "Support", "next": "person"},
            ],
        },
        {"id": "bye", "name": "Bye", "type": "end", "text": "Thanks!"},
        {"id": "person", "name": "Person", "type": "handover", "text": "A person will answer."},
    ],
}
# A contact_id the junk test replaces with its customer's.
CONTACT = -1
BROKEN = {
    "start": "hello",
    "steps": [{"id": "hello", "name": "Hello", "type": "message", "text": "Hi", "next": "gone"}],
}


def send(client: Client, method: str, url: str, body: Any = None):
    return getattr(client, method)(url, json.dumps(body) if body is not None else "", content_type="application/json")


def agent_token(tenant) -> Client:
    _token, raw = api_token_create(
        actor=owner_of(tenant), name="Agent bot", role=role_builtin(tenant=tenant, key=BuiltinRole.AGENT)
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def make_flow(tenant, *, name: str = "Sales or support", definition: dict | None = None, publish: bool = True) -> Flow:
    owner = owner_of(tenant)
    flow = flow_create(membership=owner, spec=FlowSpec(name=name), definition=definition or CHOOSE)
    if publish:
        flow_publish(membership=owner, flow=flow)
    return Flow.objects.get(pk=flow.pk)


def flow_rows() -> list[tuple]:
    """Everything a refused request must leave as it was."""
    return [
        list(
            Flow.objects.order_by("id").values_list("tenant_id", "name", "enabled", "published_id", "trigger_keywords")
        ),
        list(FlowVersion.objects.order_by("id").values_list("flow_id", "number", "status", "definition")),
        list(FlowSession.objects.order_by("id").values_list("flow_id", "status", "step")),
        AuditLogEntry.objects.filter(action__startswith="flow.").count(),
    ]


def test_the_choose_definition_is_valid():
    assert definition_problems(CHOOSE) == []


# --- flows ------------------------------------------------------------------------------------------------


def test_an_admin_creates_reads_changes_lists_and_deletes_a_flow(tenant, admin):
    inbox = make_channel(tenant).inbox
    client = signed_in(admin)
    created = send(
        client,
        "post",
        API,
        {
            "name": "  Sales   or support ",
            "inbox_id": inbox.pk,
            "trigger_keywords": ["menu", " ", "ajuda"],
            "timeout_minutes": 15,
            "definition": CHOOSE,
        },
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    flow = Flow.objects.get()
    assert {k: v for k, v in body.items() if k not in ("created_at", "updated_at")} == {
        "id": flow.pk,
        "name": "Sales or support",
        "description": "",
        "inbox_id": inbox.pk,
        "enabled": False,
        "position": 0,
        "trigger_keywords": ["menu", "ajuda"],
        "trigger_regex": "",
        "trigger_first_message": False,
        "trigger_outside_hours": False,
        "trigger_payloads": [],
        "handover_keywords": ["atendente", "humano", "agent"],
        "handover_team_id": None,
        "timeout_minutes": 15,
        "timeout_message": "",
        "template": "",
        "published_version": None,
        "has_draft": True,
    }
    assert FlowVersion.objects.get(flow=flow).definition == CHOOSE

    assert client.get(f"{API}{flow.pk}/").json() == body
    changed = send(client, "patch", f"{API}{flow.pk}/", {"name": "Menu", "inbox_id": None, "position": 3})
    assert changed.status_code == 200
    assert (changed.json()["name"], changed.json()["inbox_id"], changed.json()["position"]) == ("Menu", None, 3)
    assert changed.json()["trigger_keywords"] == ["menu", "ajuda"]
    second = make_flow(tenant, name="Another")
    listed = client.get(API).json()
    assert [row["name"] for row in listed["results"]] == ["Another", "Menu"]
    assert (listed["next"], listed["previous"]) == (None, None)

    assert client.delete(f"{API}{flow.pk}/").status_code == 204
    assert list(Flow.objects.values_list("pk", flat=True)) == [second.pk]
    assert list(
        AuditLogEntry.objects.filter(tenant=tenant, action__startswith="flow.", target_id=str(flow.pk))
        .order_by("id")
        .values_list("action", "actor_id")
    ) == [("flow.created", admin.user_id), ("flow.changed", admin.user_id), ("flow.deleted", admin.user_id)]


def test_a_flow_is_turned_on_only_once_published(tenant, admin):
    flow = make_flow(tenant, publish=False)
    client = signed_in(admin)
    refused = send(client, "patch", f"{API}{flow.pk}/", {"enabled": True})
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "code": "validation_failed",
        "message": "Publish the flow before turning it on.",
        "details": {"field": "enabled"},
    }
    assert Flow.objects.get(pk=flow.pk).enabled is False
    assert send(client, "post", API, {"name": "On at once", "enabled": True}).status_code == 400
    assert Flow.objects.count() == 1

    assert client.post(f"{API}{flow.pk}/publish/").status_code == 200
    turned_on = send(client, "patch", f"{API}{flow.pk}/", {"enabled": True})
    assert (turned_on.status_code, turned_on.json()["enabled"], turned_on.json()["published_version"]) == (200, True, 1)


def test_a_token_with_manage_automations_builds_and_publishes_a_flow_audited_as_the_token(tenant):
    client = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])
    created = send(client, "post", API, {"name": "Robot's", "definition": CHOOSE})
    assert created.status_code == 201
    flow_id = created.json()["id"]

    published = client.post(f"{API}{flow_id}/publish/")
    assert published.status_code == 200, published.content
    version = FlowVersion.objects.get(flow_id=flow_id, status="published")
    assert (version.number, version.published_by_id) == (1, None)
    installed = send(client, "post", f"{API}templates/", {"template": "transit_recharge"})
    assert installed.status_code == 201
    labels = set(
        AuditLogEntry.objects.filter(tenant=tenant, action__in=["flow.created", "flow.published"]).values_list(
            "actor_id", "actor_label"
        )
    )
    assert labels == {(None, "API token Robot")}


def test_deleting_a_flow_customers_are_in_is_refused(tenant, admin, recharge, write, sent):
    write("quero recarregar")
    before = flow_rows()
    refused = signed_in(admin).delete(f"{API}{recharge.pk}/")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "conflict"
    assert flow_rows() == before


# --- the draft, publishing and versions -------------------------------------------------------------------


def test_the_draft_is_read_saved_and_published_and_the_versions_kept(tenant, admin):
    flow = make_flow(tenant, definition={"start": "", "steps": []}, publish=False)
    client = signed_in(admin)
    draft = client.get(f"{API}{flow.pk}/draft/").json()
    assert {k: v for k, v in draft.items() if k != "updated_at"} == {
        "number": 1,
        "definition": {"start": "", "steps": []},
        "problems": [{"step": "", "field": "steps", "message": "Add at least one step."}],
    }
    saved = send(client, "put", f"{API}{flow.pk}/draft/", {"definition": CHOOSE})
    assert (saved.status_code, saved.json()["number"], saved.json()["problems"]) == (200, 1, [])

    published = client.post(f"{API}{flow.pk}/publish/")
    assert published.status_code == 200
    assert {k: published.json()[k] for k in ("number", "status", "definition")} == {
        "number": 1,
        "status": "published",
        "definition": CHOOSE,
    }
    flow.refresh_from_db()
    assert flow.published.number == 1
    # No draft now: the published steps are shown, and nothing is created by reading them.
    shown = client.get(f"{API}{flow.pk}/draft/").json()
    assert (shown["number"], shown["definition"], shown["updated_at"]) == (None, CHOOSE, None)
    assert FlowVersion.objects.filter(flow=flow).count() == 1
    assert client.post(f"{API}{flow.pk}/publish/").json()["error"] == {
        "code": "validation_failed",
        "message": "There is no draft to publish: edit the flow first.",
        "details": {"field": "definition"},
    }

    changed = {
        **CHOOSE,
        "steps": [*CHOOSE["steps"][:1], {**CHOOSE["steps"][1], "text": "Obrigado!"}, CHOOSE["steps"][2]],
    }
    assert send(client, "put", f"{API}{flow.pk}/draft/", {"definition": changed}).json()["number"] == 2
    assert client.get(f"{API}{flow.pk}/").json()["has_draft"] is True
    versions = client.get(f"{API}{flow.pk}/versions/").json()
    assert [(v["number"], v["status"], v["definition"]) for v in versions["results"]] == [
        (2, "draft", changed),
        (1, "published", CHOOSE),
    ]
    assert client.post(f"{API}{flow.pk}/publish/").json()["number"] == 2
    assert [v["status"] for v in client.get(f"{API}{flow.pk}/versions/").json()["results"]] == ["published", "retired"]
    assert list(
        AuditLogEntry.objects.filter(action="flow.published").order_by("id").values_list("extra", flat=True)
    ) == [{"version": 1}, {"version": 2}]


def test_publishing_an_invalid_draft_is_refused_with_its_problems_and_the_running_version_stays(tenant, admin):
    flow = make_flow(tenant)
    client = signed_in(admin)
    assert send(client, "put", f"{API}{flow.pk}/draft/", {"definition": BROKEN}).status_code == 200
    before = flow_rows()

    refused = client.post(f"{API}{flow.pk}/publish/")
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "code": "flow_invalid",
        "message": "The flow cannot be published: 1 problem(s).",
        "details": {"problems": [{"step": "hello", "field": "next", "message": "There is no step gone."}]},
    }
    assert flow_rows() == before
    flow.refresh_from_db()
    assert (flow.published.number, flow.published.status, flow.published.definition) == (1, "published", CHOOSE)
    assert FlowVersion.objects.get(flow=flow, status="draft").definition == BROKEN
    assert client.get(f"{API}{flow.pk}/draft/").json()["problems"] == [
        {"step": "hello", "field": "next", "message": "There is no step gone."}
    ]


def _steps(n: int, text: str = "Hi") -> dict:
    steps = [
        {"id": f"s{i}", "name": f"Step {i}", "type": "message", "text": text, "next": f"s{i + 1}"} for i in range(n)
    ]
    steps[-1] = {"id": f"s{n - 1}", "name": "End", "type": "end"}
    return {"start": "s0", "steps": steps}


def test_a_definition_of_250_steps_or_300_kb_is_refused_and_the_draft_kept(tenant, admin):
    flow = make_flow(tenant)
    client = signed_in(admin)
    assert send(client, "put", f"{API}{flow.pk}/draft/", {"definition": CHOOSE}).status_code == 200
    before = flow_rows()

    many = send(client, "put", f"{API}{flow.pk}/draft/", {"definition": _steps(250)})
    assert many.status_code == 400
    assert many.json()["error"] == {
        "code": "validation_failed",
        "message": "At most 200 steps.",
        "details": {"field": "definition"},
    }
    large = _steps(3, text="x" * 150_000)
    assert len(json.dumps({"definition": large})) > 300_000
    heavy = send(client, "put", f"{API}{flow.pk}/draft/", {"definition": large})
    assert heavy.status_code == 400
    assert heavy.json()["error"] == {
        "code": "validation_failed",
        "message": "The flow is too large.",
        "details": {"field": "definition"},
    }
    assert send(client, "post", API, {"name": "Huge", "definition": _steps(250)}).status_code == 400
    assert flow_rows() == before
    # 200 steps is the limit, not a step fewer.
    assert send(client, "put", f"{API}{flow.pk}/draft/", {"definition": _steps(200)}).status_code == 200


# --- the ready-made flow and the keys ---------------------------------------------------------------------


def test_the_ready_made_flow_is_listed_and_installed_published_and_off(tenant, admin, other_tenant):
    inbox = make_channel(tenant).inbox
    foreign = make_channel(other_tenant, phone_number_id="999000111", waba_id="999000112").inbox
    client = signed_in(admin)
    assert client.get(f"{API}templates/").json() == [
        {
            "key": "transit_recharge",
            "name": "Transit card recharge",
            "description": "Card number, amount, Pix or card, payment in the chat, credit and receipt: no person "
            "needed.",
        }
    ]

    refused = send(client, "post", f"{API}templates/", {"template": "transit_recharge", "inbox_id": foreign.pk})
    assert refused.json()["error"] == {
        "code": "validation_failed",
        "message": "No such inbox.",
        "details": {"field": "inbox_id"},
    }
    unknown = send(client, "post", f"{API}templates/", {"template": "pizza"})
    assert (unknown.status_code, list(unknown.json()["error"]["details"])) == (400, ["template"])
    assert Flow.objects.count() == 0

    installed = send(client, "post", f"{API}templates/", {"template": "transit_recharge", "inbox_id": inbox.pk})
    assert installed.status_code == 201
    body = installed.json()
    assert {k: body[k] for k in ("name", "inbox_id", "enabled", "template", "published_version", "has_draft")} == {
        "name": "Transit card recharge",
        "inbox_id": inbox.pk,
        "enabled": False,
        "template": "transit_recharge",
        "published_version": 1,
        "has_draft": False,
    }
    assert body["trigger_keywords"] == ["recarregar", "recarga", "recharge", "top up"]
    assert Flow.objects.get().published.definition["start"] == "ask_card"


def test_the_ready_made_flow_is_written_in_the_workspaces_language(db):
    tenant = make_tenant("Recarga", slug="recarga", locale="pt-br")
    client = signed_in(owner_of(tenant))
    installed = send(client, "post", "/api/v1/t/recarga/flows/templates/", {"template": "transit_recharge"})
    assert installed.json()["name"] == "Recarga de cartão de transporte"


def test_the_keys_are_write_only(tenant, admin):
    client = signed_in(admin)
    assert client.get(f"{API}keys/").json() == {"integration_secret_set": False, "transit_api_key_set": False}

    saved = send(client, "put", f"{API}keys/", {"transit_api_key": " transit-secret-1 "})
    assert saved.status_code == 200
    assert saved.json() == {"integration_secret_set": False, "transit_api_key_set": True}
    assert b"transit-secret-1" not in saved.content
    stored = FlowSettings.objects.get(tenant=tenant)
    assert stored.secrets == {"transit_api_key": "transit-secret-1"}
    assert "transit-secret-1" not in stored.secrets_encrypted

    both = send(client, "put", f"{API}keys/", {"integration_secret": "sign-me"})
    assert both.json() == {"integration_secret_set": True, "transit_api_key_set": True}
    removed = send(client, "put", f"{API}keys/", {"transit_api_key": ""})
    assert removed.json() == {"integration_secret_set": True, "transit_api_key_set": False}
    assert client.get(f"{API}keys/").json() == {"integration_secret_set": True, "transit_api_key_set": False}
    assert FlowSettings.objects.get(tenant=tenant).secrets == {"integration_secret": "sign-me"}
    assert b"sign-me" not in client.get(f"{API}keys/").content


# --- starting a flow and its sessions ---------------------------------------------------------------------


def test_an_agent_token_starts_a_flow_for_a_contact_and_an_admin_reads_its_session(
    tenant, admin, recharge, write, sent
):
    conversation = write("bom dia").conversation
    started = send(
        agent_token(tenant),
        "post",
        f"{API}{recharge.pk}/start/",
        {"contact_id": conversation.contact_id, "variables": {"origin": "site", "_step": "x", "contact": "x"}},
    )
    assert started.status_code == 201, started.json()
    session = FlowSession.objects.get()
    body = started.json()
    assert {k: v for k, v in body.items() if k not in ("started_at", "last_activity_at", "log")} == {
        "id": session.pk,
        "flow_id": recharge.pk,
        "version": 1,
        "status": "active",
        "trigger": "api",
        "conversation_id": conversation.display_id,
        "contact_id": conversation.contact_id,
        "link_id": None,
        "order_number": None,
        "step": "ask_card",
        "variables": {
            "contact": {"name": "Maria", "first_name": "Maria", "phone": "+5511987650001"},
            "origin": "site",
        },
        "ended_at": None,
        "ended_step": "",
    }
    assert [(row["step"], row["step_name"], row["kind"], row["value"]) for row in body["log"]] == [
        ("ask_card", "Card number", "entered", None)
    ]
    bot = Message.objects.filter(conversation=conversation, sender_type="bot").exclude(type="system").get()
    assert bot.text.startswith("Hi! Let's recharge your transit card.")

    write("1234 5678 9012")
    client = signed_in(admin)
    listed = client.get(f"{API}{recharge.pk}/sessions/").json()
    assert [(s["id"], s["step"], s["variables"]["card_number"]) for s in listed["results"]] == [
        (session.pk, "ask_amount", "123456789012")
    ]
    assert [(row["step"], row["kind"]) for row in listed["results"][0]["log"]][:2] == [
        ("ask_card", "entered"),
        ("ask_card", "answer"),
    ]
    assert client.get(f"{API}{recharge.pk}/sessions/?status=active").json()["results"][0]["id"] == session.pk
    assert client.get(f"{API}{recharge.pk}/sessions/?status=completed").json()["results"] == []
    started_at = session.started_at.isoformat()
    assert len(client.get(f"{API}{recharge.pk}/sessions/", {"since": started_at}).json()["results"]) == 1
    later = (session.started_at + timedelta(seconds=1)).isoformat()
    assert client.get(f"{API}{recharge.pk}/sessions/", {"since": later}).json()["results"] == []


def test_a_second_start_while_the_bot_runs_there_is_a_conflict(tenant, recharge, write, sent):
    contact_id = write("bom dia").conversation.contact_id
    client = agent_token(tenant)
    assert send(client, "post", f"{API}{recharge.pk}/start/", {"contact_id": contact_id}).status_code == 201
    before = flow_rows()
    again = send(client, "post", f"{API}{recharge.pk}/start/", {"contact_id": contact_id})
    assert again.status_code == 409
    assert again.json()["error"] == {
        "code": "conflict",
        "message": "Another bot flow is running in this conversation.",
        "details": {},
    }
    assert flow_rows() == before


def test_a_flow_that_is_off_is_not_started(tenant, channel, write, sent):
    flow = make_flow(tenant)
    contact_id = write("bom dia").conversation.contact_id
    refused = send(agent_token(tenant), "post", f"{API}{flow.pk}/start/", {"contact_id": contact_id})
    assert refused.json()["error"] == {
        "code": "validation_failed",
        "message": "Publish the flow and turn it on first.",
        "details": {"field": "flow"},
    }
    assert FlowSession.objects.count() == 0


# --- abuse ------------------------------------------------------------------------------------------------


def test_an_agent_token_cannot_manage_flows(tenant, recharge):
    client = agent_token(tenant)
    before = flow_rows()
    calls = [
        ("get", API, None),
        ("post", API, {"name": "Mine", "definition": CHOOSE}),
        ("get", f"{API}{recharge.pk}/", None),
        ("patch", f"{API}{recharge.pk}/", {"enabled": False}),
        ("delete", f"{API}{recharge.pk}/", None),
        ("get", f"{API}{recharge.pk}/draft/", None),
        ("put", f"{API}{recharge.pk}/draft/", {"definition": BROKEN}),
        ("post", f"{API}{recharge.pk}/publish/", None),
        ("get", f"{API}{recharge.pk}/versions/", None),
        ("get", f"{API}{recharge.pk}/sessions/", None),
        ("get", f"{API}templates/", None),
        ("post", f"{API}templates/", {"template": "transit_recharge"}),
        ("get", f"{API}keys/", None),
        ("put", f"{API}keys/", {"transit_api_key": "stolen"}),
    ]
    for method, url, body in calls:
        answer = send(client, method, url, body)
        assert (method, url, answer.status_code) == (method, url, 403)
        assert answer.json()["error"]["code"] == "permission_denied"
    assert flow_rows() == before
    assert FlowSettings.objects.get(tenant=tenant).secrets["transit_api_key"] != "stolen"


def test_another_workspaces_flow_and_contact_are_404_and_left_alone(tenant, admin, recharge, write, sent):
    other = make_tenant("Globex", slug="globex")
    theirs = make_flow(other)
    make_channel(other, phone_number_id="999000111", waba_id="999000112")
    own_contact = write("bom dia").conversation.contact_id
    client = signed_in(admin)
    before = flow_rows()
    for method, url, body in [
        ("get", f"{API}{theirs.pk}/", None),
        ("patch", f"{API}{theirs.pk}/", {"name": "Taken"}),
        ("delete", f"{API}{theirs.pk}/", None),
        ("get", f"{API}{theirs.pk}/draft/", None),
        ("put", f"{API}{theirs.pk}/draft/", {"definition": BROKEN}),
        ("post", f"{API}{theirs.pk}/publish/", None),
        ("get", f"{API}{theirs.pk}/versions/", None),
        ("get", f"{API}{theirs.pk}/sessions/", None),
        ("post", f"{API}{theirs.pk}/start/", {"contact_id": own_contact}),
    ]:
        answer = send(client, method, url, body)
        assert (method, url, answer.status_code, answer.json()["error"]["code"]) == (method, url, 404, "not_found")
    assert flow_rows() == before

    # Their contact, with our flow: as unknown as a contact that never was.
    their_contact = _their_contact(other)
    for contact_id in (their_contact, 2_000_000_000):
        answer = send(agent_token(tenant), "post", f"{API}{recharge.pk}/start/", {"contact_id": contact_id})
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found")
    assert send(agent_token(tenant), "post", f"{API}{theirs.pk}/start/", {"contact_id": own_contact}).status_code == 404
    assert flow_rows() == before


def _their_contact(other) -> int:
    from django.utils import timezone

    from conversations.services.inbound import InboundSpec, message_receive
    from whatsapp.models import WhatsAppChannel

    inbox = WhatsAppChannel.objects.get(tenant=other).inbox
    message, _created = message_receive(
        inbox=inbox,
        spec=InboundSpec(
            source_id="5511955550000", external_id="wamid.other-1", occurred_at=timezone.now(), type="text", text="oi"
        ),
    )
    return message.conversation.contact_id


def test_a_contact_the_agent_cannot_see_is_404(tenant, recharge, write, sent, admin):
    conversation = write("bom dia").conversation
    # A token that may reply but sees no conversation (no "view unassigned", nothing assigned to a token).
    client = token_client(tenant, [Perm.REPLY])
    answer = send(client, "post", f"{API}{recharge.pk}/start/", {"contact_id": conversation.contact_id})
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found")
    assert FlowSession.objects.count() == 0


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "", {"name": 0}),
        ("post", "", {"name": "x", "inbox_id": "one"}),
        ("post", "", {"name": "x", "inbox_id": True}),
        ("post", "", {"name": "x", "trigger_keywords": "menu"}),
        ("post", "", {"name": "x", "trigger_keywords": ["w"] * 21}),
        ("post", "", {"name": "x", "trigger_regex": "(unclosed"}),
        ("post", "", {"name": "x", "timeout_minutes": 0}),
        ("post", "", {"name": "x", "handover_team_id": 2_000_000_000}),
        ("post", "", {"name": "x", "definition": ["not", "an", "object"]}),
        ("post", "", {"name": "x", "definition": {"steps": "many"}}),
        ("post", "", {"name": "bad\u0000name"}),
        ("post", "", ["a list"]),
        ("patch", "{flow}/", {"position": -1}),
        ("patch", "{flow}/", {"enabled": "yes"}),
        ("put", "{flow}/draft/", {}),
        ("put", "{flow}/draft/", {"definition": "steps"}),
        ("put", "{flow}/draft/", {"definition": {"steps": [{"id": "a\u0000"}]}}),
        ("post", "templates/", {}),
        ("post", "templates/", {"template": "transit_recharge", "inbox_id": -5}),
        ("put", "keys/", {"transit_api_key": 42}),
        ("put", "keys/", {"transit_api_key": "k" * 501}),
        ("post", "{flow}/start/", {}),
        ("post", "{flow}/start/", {"contact_id": "one"}),
        ("post", "{flow}/start/", {"contact_id": CONTACT, "variables": []}),
        ("post", "{flow}/start/", {"contact_id": CONTACT, "variables": {"big": "x" * 20_000}}),
        ("post", "{flow}/start/", {"contact_id": CONTACT, "variables": {"nul": "a\u0000"}}),
        ("post", "{flow}/start/", {"contact_id": CONTACT, "variables": {f"v{i}": i for i in range(51)}}),
        ("get", "{flow}/sessions/?status=done", None),
        ("get", "{flow}/sessions/?status=", None),
        ("get", "{flow}/sessions/?since=yesterday", None),
        ("get", "{flow}/sessions/?since=2026-12-01T10:00:00", None),
        ("get", "{flow}/sessions/?page_size=0", None),
        ("get", "{flow}/sessions/?cursor=junk", None),
        ("get", "{flow}/versions/?page_size=x", None),
        ("get", "?cursor=junk", None),
    ],
)
def test_junk_input_is_a_400_that_changes_nothing(tenant, admin, recharge, write, sent, method, path, body):
    contact_id = write("bom dia").conversation.contact_id
    if isinstance(body, dict) and body.get("contact_id") == CONTACT:
        body = {**body, "contact_id": contact_id}
    client = signed_in(admin)
    before = flow_rows()
    answer = send(client, method, API + path.format(flow=recharge.pk), body)
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["code"] == "validation_failed"
    assert flow_rows() == before


# The body's object is a level: 32 objects inside it make 33.
@pytest.mark.parametrize("levels", [32, 5000])
def test_json_nested_too_deeply_is_a_400_that_changes_nothing(tenant, admin, recharge, write, sent, levels):
    contact_id = write("bom dia").conversation.contact_id
    client = signed_in(admin)
    deep = '{"a":' * levels + "1" + "}" * levels
    before = flow_rows()
    for method, url, body in [
        ("post", API, '{"name": "Deep", "definition": ' + deep + "}"),
        ("put", f"{API}{recharge.pk}/draft/", '{"definition": ' + deep + "}"),
        ("post", f"{API}{recharge.pk}/start/", f'{{"contact_id": {contact_id}, "variables": ' + deep + "}"),
    ]:
        answer = getattr(client, method)(url, body, content_type="application/json")
        assert (url, answer.status_code) == (url, 400)
        assert answer.json()["error"] == {
            "code": "parse_error",
            "message": "The JSON is nested too deeply (32 levels at most).",
            "details": {},
        }
    assert flow_rows() == before
    # 32 levels are read.
    fine = '{"a":' * 31 + "1" + "}" * 31
    answer = client.put(f"{API}{recharge.pk}/draft/", '{"definition": ' + fine + "}", content_type="application/json")
    assert answer.status_code == 200


def test_a_body_that_is_not_json_is_415(tenant, admin):
    make_flow(tenant)
    answer = signed_in(admin).post(API, "name=x", content_type="application/x-www-form-urlencoded")
    assert (answer.status_code, answer.json()["error"]["code"]) == (415, "unsupported_media_type")
    assert Flow.objects.count() == 1


def test_draft_save_of_the_service_keeps_what_the_api_saved(tenant, admin):
    # The API and the pages share the one draft: a save by either is what the other reads.
    flow = make_flow(tenant)
    draft_save(membership=owner_of(tenant), flow=flow, definition=BROKEN)
    assert signed_in(admin).get(f"{API}{flow.pk}/draft/").json()["definition"] == BROKEN
