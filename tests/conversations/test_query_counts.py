"""Query counts of the inbox API, pinned: a list costs the same for 5 rows as for 25, and each action a fixed number.

A changed number here is a decision to review, not a value to update blindly: a count that grows
with the rows is an N+1.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from conversations.models import Attachment, Conversation, ConversationLabel, Reaction
from tenants.permissions import BuiltinRole
from tests.conversations.factories import make_conversation, make_inbox, make_label, make_message
from tests.factories import add_member, make_user, owner_of

pytestmark = pytest.mark.django_db

API = "/api/v1/t/acme"


@pytest.fixture
def desk(tenant):
    """An owner's client, an inbox with two agents, two labels."""
    ana = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Ana"))
    bia = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Bia"))
    inbox = make_inbox(tenant, name="A", members=[ana, bia])
    labels = [make_label(tenant, "vip"), make_label(tenant, "billing")]
    client = Client()
    client.force_login(owner_of(tenant).user)
    return {"client": client, "inbox": inbox, "ana": ana, "bia": bia, "labels": labels}


def _conversations(tenant, desk, n: int) -> list[Conversation]:
    rows = []
    for i in range(n):
        conversation = make_conversation(desk["inbox"], name=f"Cli{i}", assignee=desk["ana"] if i % 2 else desk["bia"])
        message = make_message(conversation, f"hello {i}")
        Conversation.objects.filter(pk=conversation.pk).update(
            last_message=message, unread_count=1, waiting_since=timezone.now() - timedelta(minutes=i)
        )
        ConversationLabel.objects.bulk_create(
            [ConversationLabel(tenant=tenant, conversation=conversation, label=label) for label in desk["labels"]]
        )
        rows.append(conversation)
    return rows


# User, membership (with tenant and role; the session comes from the cache), the page, its labels,
# assignees and last messages.
LIST_QUERIES = 6
# On PostgreSQL a word search first asks the planner how many messages match (an EXPLAIN).
ESTIMATE = 1 if connection.vendor == "postgresql" else 0


@pytest.mark.parametrize("rows", [5, 25])
def test_conversation_list_costs_the_same_for_5_and_25_rows(tenant, desk, rows, django_assert_num_queries):
    _conversations(tenant, desk, rows)
    with django_assert_num_queries(LIST_QUERIES):
        body = desk["client"].get(f"{API}/conversations/").json()
    assert len(body["results"]) == rows
    assert {len(r["labels"]) for r in body["results"]} == {2}
    assert all(r["last_message"] and r["assignee"] and r["contact"] for r in body["results"])


ALL = ["Cli4", "Cli3", "Cli2", "Cli1", "Cli0"]


@pytest.mark.parametrize(
    ("query", "queries", "rows"),
    # The unassigned tab's rows have no assignee to read. "Free" waits for nobody and has no label.
    [
        ("sort=waiting", LIST_QUERIES, ALL),
        ("tab=unassigned", LIST_QUERIES - 1, ["Free"]),
        ("q=Cli1", LIST_QUERIES + ESTIMATE, ["Cli1"]),
        ("label={label}", LIST_QUERIES, ALL),
    ],
)
def test_filtered_conversation_lists_cost_the_same_as_the_plain_one(
    tenant, desk, query, queries, rows, django_assert_num_queries
):
    _conversations(tenant, desk, 5)
    free = make_conversation(desk["inbox"], name="Free")  # one row for the "unassigned" tab
    Conversation.objects.filter(pk=free.pk).update(last_message=make_message(free, "hi"))
    query = query.format(label=desk["labels"][0].pk)
    with django_assert_num_queries(queries):
        response = desk["client"].get(f"{API}/conversations/?{query}")
    assert response.status_code == 200, response.content
    assert [r["contact"]["name"] for r in response.json()["results"]] == rows


def test_message_list_of_50_messages_with_attachments_and_reactions(tenant, desk, django_assert_num_queries):
    [conversation] = _conversations(tenant, desk, 1)
    for i in range(50):
        message = make_message(conversation, f"m{i}")
        Attachment.objects.create(tenant=tenant, message=message, kind="image", mime_type="image/png", filename="a.png")
        Reaction.objects.create(tenant=tenant, message=message, contact=conversation.contact, emoji="👍")
    # User, membership, the conversation, the page, its attachments, its reactions.
    with django_assert_num_queries(6):
        body = desk["client"].get(f"{API}/conversations/{conversation.display_id}/messages/").json()
    assert len(body["results"]) == 50
    assert {(len(m["attachments"]), len(m["reactions"])) for m in body["results"]} == {(1, 1)}


# (method, path under the conversation or the tenant, body, queries). Each action: the caller (2),
# the conversation, the service's reads, locks and writes, its audit entry and history line, and
# the row read again for the answer. Who sees the change is not read: events go to audience groups
# and are built after the commit, only for a workspace with a socket open. Assigning, changing the
# status and changing a contact also write their domain event to the outbox (one insert each).
ACTIONS = [
    # Assigning also reads the assignee and who may be assigned, and notifies the assignee. An assignment
    # and a status change each write their event's deliveries (automation rules subscribe to both).
    ("put", "c/assignee/", {"assignee_id": "ana"}, 16),
    ("put", "c/assignee/", {"assignee_id": None}, 13),
    ("put", "c/status/", {"status": "resolved"}, 13),
    ("put", "c/priority/", {"priority": "high"}, 11),
    ("get", "c/labels/", None, 4),
    ("post", "c/labels/", {"label_id": "vip"}, 13),
    ("delete", "c/labels/billing/", None, 13),
    ("post", "c/notes/", {"text": "hi", "mention_user_ids": ["ana"]}, 10),
    # Marking read also finds the latest message to acknowledge to the customer.
    ("post", "c/read/", None, 7),
    ("get", "labels/", None, 3),
    ("get", "quick-replies/", None, 4),
    # A contact is shown with its channel identities (one prefetch, read again after a change).
    ("get", "contact/", None, 5),
    ("patch", "contact/", {"name": "Maria", "label_ids": ["vip"]}, 19),
]


@pytest.mark.parametrize(("method", "path", "body", "queries"), ACTIONS)
def test_each_action_endpoint_runs_a_fixed_number_of_queries(
    tenant, desk, method, path, body, queries, django_assert_num_queries
):
    [conversation] = _conversations(tenant, desk, 1)
    vip, billing = desk["labels"]
    ConversationLabel.objects.filter(conversation=conversation, label=vip).delete()
    names = {"ana": desk["ana"].user_id, "vip": vip.pk, "billing": billing.pk}

    def resolve(value):
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return names.get(value, value) if isinstance(value, str) else value

    if body is not None:
        body = {key: resolve(value) for key, value in body.items()}
    url = f"{API}/" + (
        path.replace("c/", f"conversations/{conversation.display_id}/")
        .replace("contact/", f"contacts/{conversation.contact_id}/")
        .replace("billing", str(billing.pk))
    )
    client = desk["client"]
    with django_assert_num_queries(queries):
        if body is None:
            response = getattr(client, method)(url)
        else:
            response = getattr(client, method)(url, body, content_type="application/json")
    assert response.status_code in (200, 201, 204), response.content
