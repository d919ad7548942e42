"""Automation rules' pages and API as an admin uses them, and the abuse cases: another workspace's ids in
conditions or actions (400, nothing saved), no permission (403), another workspace's rule (404), unsafe
regular expressions and malformed trees (400 naming the place)."""

from __future__ import annotations

import json

import pytest

from automations.models import AutomationRule, RuleRun
from automations.rules_schema import regex_check, rule_definition_clean
from conversations.services.library import quick_reply_create
from helpdesk.exceptions import ValidationFailed
from tenants.models import AuditLogEntry
from tenants.permissions import Perm
from tests.automations.factories import signed_in, token_client
from tests.automations.rules_helpers import make_rule
from tests.conversations.factories import make_inbox, make_label
from tests.factories import add_member, owner_of

pytestmark = pytest.mark.django_db

LIST = "/t/acme/settings/rules/"
API = "/api/v1/t/acme/rules/"


def _rows() -> tuple:
    """Everything a refused request must leave as it was."""
    return (
        list(
            AutomationRule.objects.order_by("id").values_list("tenant_id", "name", "position", "conditions", "actions")
        ),
        AuditLogEntry.objects.filter(action__startswith="automation_rule.").count(),
    )


def _form(name="Billing", event="message_received", conditions=None, actions=None, **extra) -> dict:
    return {
        "name": name,
        "event": event,
        "active": "on",
        "conditions": json.dumps(conditions or {"op": "and", "items": []}),
        "actions": json.dumps(actions if actions is not None else []),
        **extra,
    }


# --- pages -----------------------------------------------------------------------------------------------


def test_the_list_shows_the_rules_in_order_with_links(tenant, admin):
    label = make_label(tenant, "billing")
    make_rule(admin, name="First", actions=[{"type": "add_label", "label_ids": [label.pk]}])
    make_rule(admin, name="Second", event="conversation_resolved", actions=[{"type": "resolve"}], active=False)
    page = signed_in(admin).get(LIST).content.decode()
    assert page.index("First") < page.index("Second")
    assert "A conversation is resolved" in page
    assert 'href="/t/acme/settings/rules/new/"' in page
    assert "Automation rules" in signed_in(admin).get("/t/acme/settings/business-hours/").content.decode()


def test_the_form_offers_rows_built_from_the_workspaces_options(tenant, admin, other_tenant):
    make_label(tenant, "billing")
    make_label(other_tenant, "secret")
    page = signed_in(admin).get(f"{LIST}new/").content.decode()
    assert 'src="/static/js/rules.js"' in page
    assert "data-rule-conditions" in page and "data-rule-actions" in page
    options = json.loads(page.split('id="rule-options" type="application/json">')[1].split("</script>")[0])
    assert [label["label"] for label in options["labels"]] == ["billing"]
    assert {c["value"] for c in options["conditions"]} >= {"keywords", "business_hours", "first_message"}
    assert {a["value"] for a in options["actions"]} >= {"send_message", "snooze", "send_quick_reply"}


def test_creating_editing_moving_and_deleting_through_the_pages(tenant, admin):
    label = make_label(tenant, "billing")
    client = signed_in(admin)
    actions = [{"type": "add_label", "label_ids": [label.pk]}]
    conditions = {"op": "or", "items": [{"type": "keywords", "values": ["boleto"]}]}

    response = client.post(f"{LIST}new/", _form(conditions=conditions, actions=actions))
    assert response.status_code == 302
    first = AutomationRule.objects.get(name="Billing")
    assert (first.tenant_id, first.position, first.conditions, first.actions, first.active) == (
        tenant.pk,
        0,
        conditions,
        actions,
        True,
    )
    client.post(f"{LIST}new/", _form(name="Second", actions=[{"type": "resolve"}]))
    second = AutomationRule.objects.get(name="Second")
    assert second.position == 1

    response = client.post(f"{LIST}{first.pk}/", _form(name="Billing 2", actions=actions, stop_processing="on"))
    assert response.status_code == 302
    first.refresh_from_db()
    assert (first.name, first.stop_processing) == ("Billing 2", True)

    assert client.post(f"{LIST}{second.pk}/move/", {"direction": "up"}).status_code == 302
    assert list(AutomationRule.objects.order_by("position").values_list("name", flat=True)) == ["Second", "Billing 2"]

    assert client.post(f"{LIST}{first.pk}/delete/").status_code == 302
    assert list(AutomationRule.objects.values_list("name", flat=True)) == ["Second"]
    assert list(
        AuditLogEntry.objects.filter(action__startswith="automation_rule.")
        .order_by("id")
        .values_list("action", flat=True)
    ) == [
        "automation_rule.created",
        "automation_rule.created",
        "automation_rule.changed",
        "automation_rule.changed",
        "automation_rule.deleted",
    ]


def test_a_bad_form_is_refused_with_the_reason_and_nothing_saved(tenant, admin, other_tenant):
    foreign = make_label(other_tenant, "secret")
    client = signed_in(admin)
    before = _rows()
    response = client.post(f"{LIST}new/", _form(actions=[{"type": "add_label", "label_ids": [foreign.pk]}]))
    assert response.status_code == 400
    assert "actions[0].label_ids[0]: No such item in this workspace." in response.content.decode()
    response = client.post(f"{LIST}new/", {**_form(actions=[{"type": "resolve"}]), "conditions": "{not json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.content.decode()
    assert _rows() == before


def test_the_run_log_and_the_dry_run_pages(tenant, admin, customer_writes, clock):
    label = make_label(tenant, "billing")
    rule = make_rule(
        admin,
        name="Billing",
        items=[{"type": "keywords", "values": ["boleto"]}],
        actions=[{"type": "add_label", "label_ids": [label.pk]}],
    )
    conversation = customer_writes("Quero o boleto").conversation
    client = signed_in(admin)
    runs = client.get(f"{LIST}{rule.pk}/runs/").content.decode()
    assert f"#{conversation.display_id}" in runs and 'data-outcome="matched"' in runs and "Add labels: done" in runs
    dry = client.get(f"{LIST}{rule.pk}/dry-run/").content.decode()
    assert f'data-conversation="{conversation.pk}"' in dry and "Quero o boleto" in dry
    assert RuleRun.objects.filter(rule=rule).count() == 1  # the dry-run logged nothing


def test_without_manage_automations_the_pages_are_refused(tenant, admin, agent):
    rule = make_rule(admin, actions=[{"type": "resolve"}])
    client = signed_in(agent)
    before = _rows()
    for url in (LIST, f"{LIST}new/", f"{LIST}{rule.pk}/", f"{LIST}{rule.pk}/runs/", f"{LIST}{rule.pk}/dry-run/"):
        assert client.get(url).status_code == 403
    assert client.post(f"{LIST}{rule.pk}/delete/").status_code == 403
    assert client.post(f"{LIST}{rule.pk}/move/", {"direction": "up"}).status_code == 403
    assert client.post(f"{LIST}new/", _form(actions=[{"type": "resolve"}])).status_code == 403
    assert _rows() == before


def test_another_workspaces_rule_is_not_found(tenant, admin, other_tenant):
    foreign = make_rule(owner_of(other_tenant), name="Theirs", actions=[{"type": "resolve"}])
    client = signed_in(admin)
    before = _rows()
    for url in (f"{LIST}{foreign.pk}/", f"{LIST}{foreign.pk}/runs/", f"{LIST}{foreign.pk}/dry-run/"):
        assert client.get(url).status_code == 404
    assert client.post(f"{LIST}{foreign.pk}/", _form(actions=[{"type": "resolve"}])).status_code == 404
    assert client.post(f"{LIST}{foreign.pk}/delete/").status_code == 404
    assert client.post(f"{LIST}{foreign.pk}/move/", {"direction": "up"}).status_code == 404
    for url in (f"{API}{foreign.pk}/", f"{API}{foreign.pk}/runs/", f"{API}{foreign.pk}/dry-run/"):
        assert client.get(url).status_code == 404
    assert client.patch(f"{API}{foreign.pk}/", {"name": "Mine"}, content_type="application/json").status_code == 404
    assert client.delete(f"{API}{foreign.pk}/").status_code == 404
    moved = client.post(f"{API}{foreign.pk}/move/", {"direction": "up"}, content_type="application/json")
    assert moved.status_code == 404
    assert _rows() == before


# --- API -------------------------------------------------------------------------------------------------


def test_the_api_creates_reads_changes_and_deletes_a_rule(tenant, admin):
    label = make_label(tenant, "billing")
    client = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])
    body = {
        "name": "Billing",
        "event": "message_received",
        "conditions": {"op": "and", "items": [{"type": "text_contains", "value": "boleto"}]},
        "actions": [{"type": "add_label", "label_ids": [label.pk]}, {"type": "snooze", "mode": "next_opening"}],
    }
    created = client.post(API, body, content_type="application/json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert {
        k: data[k] for k in ("name", "event", "active", "position", "stop_processing", "conditions", "actions")
    } == {
        "name": "Billing",
        "event": "message_received",
        "active": True,
        "position": 0,
        "stop_processing": False,
        "conditions": body["conditions"],
        "actions": body["actions"],
    }
    rule_id = data["id"]
    assert [r["id"] for r in client.get(API).json()] == [rule_id]
    changed = client.patch(
        f"{API}{rule_id}/", {"active": False, "stop_processing": True}, content_type="application/json"
    )
    assert (changed.status_code, changed.json()["active"], changed.json()["stop_processing"]) == (200, False, True)
    assert client.get(f"{API}{rule_id}/runs/").json() == []
    assert client.get(f"{API}{rule_id}/dry-run/").json() == []
    assert client.delete(f"{API}{rule_id}/").status_code == 204
    assert not AutomationRule.objects.exists()
    entry = AuditLogEntry.objects.filter(action="automation_rule.created").get()
    assert entry.actor_label == "API token Robot"


def test_the_api_moves_a_rule_up_and_down_and_audits_it(tenant, admin):
    first, second, third = (make_rule(admin, name=n, actions=[{"type": "resolve"}]) for n in ("A", "B", "C"))
    client = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])

    def move(rule, direction):
        return client.post(f"{API}{rule.pk}/move/", {"direction": direction}, content_type="application/json")

    answer = move(third, "up")
    assert answer.status_code == 200, answer.content
    assert [(r["name"], r["position"]) for r in answer.json()] == [("A", 0), ("C", 1), ("B", 2)]
    entry = AuditLogEntry.objects.filter(action="automation_rule.changed").get()
    assert (entry.actor_label, entry.extra["changes"]) == ("API token Robot", {"position": {"from": 3, "to": 2}})
    # The first one up stays first: the same order, nothing audited.
    assert [r["name"] for r in move(first, "up").json()] == ["A", "C", "B"]
    assert AuditLogEntry.objects.filter(action="automation_rule.changed").count() == 1
    assert [r["name"] for r in move(first, "down").json()] == ["C", "A", "B"]
    # A direction that is neither: 400 naming the field, nothing moved.
    before = _rows()
    bad = move(second, "sideways")
    assert bad.status_code == 400
    assert "direction" in json.dumps(bad.json())
    assert _rows() == before


def test_the_api_runs_and_dry_run_report_what_happened(tenant, admin, customer_writes, clock):
    label = make_label(tenant, "billing")
    rule = make_rule(
        admin,
        name="Billing",
        items=[{"type": "keywords", "values": ["boleto"]}],
        actions=[{"type": "add_label", "label_ids": [label.pk]}],
    )
    message = customer_writes("boleto!")
    client = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])
    (run,) = client.get(f"{API}{rule.pk}/runs/").json()
    assert {k: run[k] for k in ("event_type", "conversation_id", "outcome", "depth", "actions", "error")} == {
        "event_type": "message_received",
        "conversation_id": message.conversation_id,
        "outcome": "matched",
        "depth": 0,
        "actions": [{"type": "add_label", "result": "done", "detail": "billing"}],
        "error": "",
    }
    (match,) = client.get(f"{API}{rule.pk}/dry-run/").json()
    assert (match["conversation_id"], match["message_id"]) == (message.conversation_id, message.pk)


@pytest.mark.parametrize(
    "bad",
    [
        {
            "conditions": {
                "op": "and",
                "items": [{"type": "conversation_label", "operator": "has", "label_id": "FOREIGN_LABEL"}],
            }
        },
        {"conditions": {"op": "and", "items": [{"type": "inbox", "operator": "is", "inbox_ids": ["FOREIGN_INBOX"]}]}},
        {"actions": [{"type": "assign_agent", "user_id": "FOREIGN_USER"}]},
        {"actions": [{"type": "add_label", "label_ids": ["FOREIGN_LABEL"]}]},
        {"actions": [{"type": "send_quick_reply", "quick_reply_id": "FOREIGN_REPLY"}]},
    ],
)
def test_another_workspaces_ids_in_a_rule_are_refused(tenant, admin, other_tenant, bad):
    theirs = owner_of(other_tenant)
    ids = {
        "FOREIGN_LABEL": make_label(other_tenant, "secret").pk,
        "FOREIGN_INBOX": make_inbox(other_tenant, name="Theirs").pk,
        "FOREIGN_USER": theirs.user_id,
        "FOREIGN_REPLY": quick_reply_create(membership=theirs, shortcut="x", text="x").pk,
    }
    body = json.loads(
        json.dumps({"name": "Sneaky", "event": "message_received", "actions": [{"type": "resolve"}], **bad})
    )
    text = json.dumps(body)
    for placeholder, value in ids.items():
        text = text.replace(f'"{placeholder}"', str(value))
    before = _rows()
    response = signed_in(admin).post(API, json.loads(text), content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert "No such item in this workspace." in error["message"]
    assert _rows() == before


def test_the_api_without_the_permission_is_refused(tenant, admin):
    rule = make_rule(admin, actions=[{"type": "resolve"}])
    client = token_client(tenant, [Perm.REPLY])
    before = _rows()
    assert client.get(API).status_code == 403
    assert (
        client.post(
            API,
            {"name": "x", "event": "message_received", "actions": [{"type": "resolve"}]},
            content_type="application/json",
        ).status_code
        == 403
    )
    assert client.patch(f"{API}{rule.pk}/", {"name": "x"}, content_type="application/json").status_code == 403
    assert client.delete(f"{API}{rule.pk}/").status_code == 403
    assert client.get(f"{API}{rule.pk}/runs/").status_code == 403
    moved = client.post(f"{API}{rule.pk}/move/", {"direction": "up"}, content_type="application/json")
    assert moved.status_code == 403
    assert _rows() == before


# --- validation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "actions", "path"),
    [
        ({"op": "xor", "items": []}, [{"type": "resolve"}], "conditions.op"),
        ({"op": "and", "items": [{"type": "nope"}]}, [{"type": "resolve"}], "conditions.items[0].type"),
        (
            {"op": "and", "items": [{"type": "text_regex", "pattern": "(a+)+$"}]},
            [{"type": "resolve"}],
            "conditions.items[0].pattern",
        ),
        (
            {"op": "and", "items": [{"type": "keywords", "values": []}]},
            [{"type": "resolve"}],
            "conditions.items[0].values",
        ),
        (
            {"op": "and", "items": [{"op": "or", "items": [{"op": "and", "items": [{"op": "and", "items": []}]}]}]},
            [{"type": "resolve"}],
            "conditions.items[0].items[0].items[0]",
        ),
        ({}, [], "actions"),
        ({}, [{"type": "snooze", "mode": "hours", "hours": 0}], "actions[0].hours"),
        ({}, [{"type": "send_message", "text": ""}], "actions[0].text"),
        (
            {},
            [{"type": "send_message", "text": "x", "template": {"name": "nope", "language": "pt_BR"}}],
            "actions[0].template",
        ),
        ({}, [{"type": "resolve", "extra": 1}], "actions[0].extra"),
        (
            {"op": "and", "items": [{"type": "contact_language", "operator": "is", "values": ["klingon!"]}]},
            [{"type": "resolve"}],
            "conditions.items[0].values[0]",
        ),
    ],
)
def test_malformed_rules_are_refused_naming_the_place(tenant, conditions, actions, path):
    with pytest.raises(ValidationFailed) as caught:
        rule_definition_clean(tenant_id=tenant.pk, event="message_received", conditions=conditions, actions=actions)
    assert caught.value.details["path"] == path


def test_text_conditions_need_a_message_event(tenant):
    with pytest.raises(ValidationFailed) as caught:
        rule_definition_clean(
            tenant_id=tenant.pk,
            event="conversation_resolved",
            conditions={"op": "and", "items": [{"type": "keywords", "values": ["x"]}]},
            actions=[{"type": "resolve"}],
        )
    assert caught.value.details["path"] == "conditions.items[0].type"


@pytest.mark.parametrize(
    "pattern",
    ["(a+)+b", "(a|aa)*c", "(x*)*", ".*.*.*x", r"(\w)\1", "(?=a)a", "a" * 101, "[unclosed"],
)
def test_patterns_that_could_take_long_or_do_not_compile_are_refused(pattern):
    with pytest.raises(ValueError):
        regex_check(pattern)


@pytest.mark.parametrize(
    "pattern", [r"pedido\s+\d{4,8}", r"^(oi|olá)\b", r"(ab)+c", r".*boleto.*", r"[a-z]+@[a-z]+\.com"]
)
def test_ordinary_patterns_are_accepted(pattern):
    assert regex_check(pattern).pattern == pattern


def test_members_of_other_workspaces_and_removed_members_cannot_be_assigned(tenant, other_tenant):
    gone = add_member(tenant, "agent")
    gone.active = False
    gone.save()
    with pytest.raises(ValidationFailed) as caught:
        rule_definition_clean(
            tenant_id=tenant.pk,
            event="message_received",
            conditions={},
            actions=[{"type": "assign_agent", "user_id": gone.user_id}],
        )
    assert caught.value.details["path"] == "actions[0].user_id"


def test_another_workspaces_team_is_refused_in_conditions_and_actions(tenant, other_tenant):
    from conversations.models import Team

    theirs = Team.objects.create(tenant=other_tenant, name="Vendas")
    for conditions, actions, path in (
        (
            {"op": "and", "items": [{"type": "team", "operator": "is", "team_ids": [theirs.pk]}]},
            [{"type": "resolve"}],
            "conditions.items[0].team_ids[0]",
        ),
        ({}, [{"type": "assign_team", "team_id": theirs.pk}], "actions[0].team_id"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            rule_definition_clean(tenant_id=tenant.pk, event="message_received", conditions=conditions, actions=actions)
        assert caught.value.details["path"] == path
