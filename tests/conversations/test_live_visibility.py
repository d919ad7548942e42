"""Live events through audience groups: each member's socket receives exactly what the visibility rule
lets them see (frames captured from real sockets through the ASGI application), also right after an
assignment, after an inbox membership changes and when access is removed.

The principals and conversations are those of ``test_visibility`` (the rule's table); only members
hold sockets (API tokens have none).
"""

# ruff: noqa: F811  (the tests take the ``world`` fixture imported from test_visibility)
from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.db import transaction

from conversations.models import Conversation, Team, TeamMember
from conversations.selectors import conversation_live_groups, member_live_groups
from conversations.services.actions import conversation_assign, conversation_team_set
from conversations.services.events import publish_conversation_updated
from helpdesk.realtime import members_group, publish_on_commit
from tenants.models import Membership
from tests.conversations.test_consumer import TIMEOUT, Socket, logged_in
from tests.conversations.test_visibility import EXPECTED, KEYS, World, world  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)

MEMBERS = ("agent_a", "agent_a2", "agent_b", "restricted", "supervisor", "owner")


class Reader:
    """One member's socket, and the events it received (frames of one event or a batch)."""

    def __init__(self, who: str, membership: Membership) -> None:
        self.who = who
        self.socket = Socket(membership.tenant.slug, logged_in(membership.user))
        self.events: list[dict[str, Any]] = []
        self.closed: int | None = None

    async def open(self) -> None:
        assert await self.socket.connect() == (True, None)
        await self.read_until(lambda e: e["type"] == "hello")

    async def read_until(self, done: Any) -> list[dict[str, Any]]:
        """Events up to and including the first for which ``done`` is true."""
        got: list[dict[str, Any]] = []
        while True:
            answer = await self.socket.receive_output(TIMEOUT)
            if answer["type"] == "websocket.close":
                self.closed = answer.get("code")
                return got
            frame = json.loads(answer["text"])
            for event in frame["events"] if frame["type"] == "batch" else [frame]:
                got.append(event)
                self.events.append(event)
                if done(event):
                    return got


@database_sync_to_async
def touch(conversations: list[Conversation]) -> None:
    """A change to each conversation, published as the services publish it."""
    with transaction.atomic():
        for conversation in conversations:
            fresh = Conversation.objects.get(pk=conversation.pk)
            fresh.priority = "high" if fresh.priority != "high" else "low"
            fresh.save(update_fields=["priority", "updated_at"])
            publish_conversation_updated(fresh)


@database_sync_to_async
def sentinel(tenant_id: int, n: int) -> None:
    with transaction.atomic():
        publish_on_commit(tenant_id=tenant_id, groups=[members_group(tenant_id)], event={"type": "sentinel", "n": n})


async def round_of(readers: list[Reader], tenant_id: int, n: int) -> dict[str, list[dict[str, Any]]]:
    """What each socket received up to sentinel ``n`` (published last, to every socket of the workspace)."""
    await sentinel(tenant_id, n)
    return {r.who: await r.read_until(lambda e: e == {"type": "sentinel", "n": n}) for r in readers}


def seen(world: World, events: list[dict[str, Any]], kind: str = "conversation.updated") -> set[str]:
    ids = {e["conversation"]["id"] for e in events if e["type"] == kind}
    return {key for key, c in world.conversations.items() if c.pk in ids} | (
        {"foreign"} if world.foreign.pk in ids else set()
    )


def test_each_socket_receives_exactly_the_events_of_the_conversations_its_member_sees(world):
    tenant_id = world.principals["owner"].tenant_id

    readers = [Reader(who, world.principals[who]) for who in MEMBERS]

    async def scenario() -> dict[str, set[str]]:
        for reader in readers:
            await reader.open()
        await touch([*world.conversations.values(), world.foreign])
        got = await round_of(readers, tenant_id, 1)
        for reader in readers:
            await reader.socket.disconnect()
        return {who: seen(world, events) for who, events in got.items()}

    received = async_to_sync(scenario)()

    assert received == {who: EXPECTED[who] for who in MEMBERS}
    assert set(KEYS) == EXPECTED["owner"]


def test_groups_are_the_visibility_rule(world):
    # Each member's groups and each conversation's groups meet exactly where the rule says they see it.
    for who in MEMBERS:
        mine = set(member_live_groups(membership=world.principals[who]))
        for key, conversation in world.conversations.items():
            theirs = conversation_live_groups(
                tenant_id=conversation.tenant_id,
                inbox_id=conversation.inbox_id,
                assignee_id=conversation.assignee_id,
                team_id=conversation.team_id,
            )
            assert bool(mine.intersection(theirs)) == (key in EXPECTED[who]), (who, key)
            # At most one of a member's groups matches a conversation: no socket gets an event twice.
            assert len(mine.intersection(theirs)) <= 1, (who, key)


def test_after_an_assignment_the_old_audience_is_told_and_the_new_one_receives(world):
    tenant_id = world.principals["owner"].tenant_id
    owner, agent_a2 = world.principals["owner"], world.principals["agent_a2"]
    conversation = world.conversations["a_unassigned"]

    readers = [Reader(who, world.principals[who]) for who in MEMBERS]

    async def scenario() -> dict[str, list[dict[str, Any]]]:
        for reader in readers:
            await reader.open()
        await database_sync_to_async(conversation_assign)(
            actor=owner, conversation=conversation, assignee=agent_a2.user
        )
        got = await round_of(readers, tenant_id, 1)
        await touch([conversation])
        got_after = await round_of(readers, tenant_id, 2)
        for reader in readers:
            await reader.socket.disconnect()
        return {who: [*got[who], {"type": "--"}, *got_after[who]] for who in got}

    got = async_to_sync(scenario)()

    def kinds(who: str) -> list[str]:
        return [e["type"] for e in got[who] if e["type"] not in ("sentinel", "notification.created")]

    # Agent A saw it unassigned: told it is gone, then hears nothing more of it.
    assert kinds("agent_a") == ["conversation.hidden", "--"]
    # Agent A2 saw it unassigned and is the new assignee: keeps it (no "hidden"), and its later changes.
    assert kinds("agent_a2") == ["message.created", "conversation.updated", "--", "conversation.updated"]
    assert kinds("supervisor") == ["message.created", "conversation.updated", "--", "conversation.updated"]
    assert kinds("restricted") == ["--"] and kinds("agent_b") == ["--"]
    hidden = next(e for e in got["agent_a"] if e["type"] == "conversation.hidden")
    assert hidden["conversation"] == {"id": conversation.pk, "display_id": conversation.display_id}
    assert hidden["counts"]["before"]["assignee_id"] is None and hidden["counts"]["after"] is None


def test_moving_a_conversation_out_of_the_team_hides_it_from_who_saw_it_only_there(world):
    tenant_id = world.principals["owner"].tenant_id
    owner = world.principals["owner"]
    conversation = world.conversations["a_team"]

    readers = [Reader(who, world.principals[who]) for who in MEMBERS]

    async def scenario() -> dict[str, list[dict[str, Any]]]:
        for reader in readers:
            await reader.open()
        await database_sync_to_async(conversation_team_set)(actor=owner, conversation=conversation, team=None)
        got = await round_of(readers, tenant_id, 1)
        for reader in readers:
            await reader.socket.disconnect()
        return got

    got = async_to_sync(scenario)()

    def kinds(who: str) -> list[str]:
        return [e["type"] for e in got[who] if e["type"] != "sentinel"]

    # Restricted saw it through the team only: told it is gone. Those who see unassigned ones keep it,
    # each socket once.
    assert kinds("restricted") == ["conversation.hidden"]
    for who in ("agent_a", "agent_a2", "supervisor", "owner"):
        assert kinds(who) == ["message.created", "conversation.updated"], who
    assert kinds("agent_b") == []


def test_a_member_added_to_a_team_receives_its_queue_at_once(world):
    tenant_id = world.principals["owner"].tenant_id
    agent_a2 = world.principals["agent_a2"]
    restricted = world.principals["restricted"]
    reader = Reader("restricted", restricted)
    other_team = Team.objects.create(tenant_id=tenant_id, name="U")
    Conversation.objects.filter(pk=world.conversations["a_unassigned"].pk).update(team=other_team)

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        await reader.open()

        @database_sync_to_async
        def join() -> None:
            with transaction.atomic():
                TeamMember.objects.create(tenant_id=tenant_id, team=other_team, user=restricted.user)

        await join()
        access = await reader.read_until(lambda e: e["type"] == "resync")
        await touch([world.conversations["a_unassigned"]])
        after = await round_of([reader], tenant_id, 1)
        await reader.socket.disconnect()
        return access, after["restricted"]

    access, after = async_to_sync(scenario)()

    inbox_a = world.conversations["a_mine"].inbox_id
    assert access[0]["type"] == "hello"
    assert f"t{tenant_id}.i{inbox_a}.team{other_team.pk}" in access[0]["groups"]
    assert [e["type"] for e in after] == ["conversation.updated", "sentinel"]
    assert agent_a2.user_id != restricted.user_id


def test_a_member_removed_from_an_inbox_stops_receiving_its_events_at_once(world):
    tenant_id = world.principals["owner"].tenant_id
    agent_a = world.principals["agent_a"]
    inbox_a = world.conversations["a_mine"].inbox
    reader = Reader("agent_a", agent_a)

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        await reader.open()

        @database_sync_to_async
        def leave() -> None:
            with transaction.atomic():
                inbox_a.members.remove(agent_a.user)

        await leave()
        access = await reader.read_until(lambda e: e["type"] == "resync")
        await touch([world.conversations["a_mine"], world.conversations["a_unassigned"]])
        after = await round_of([reader], tenant_id, 1)
        await reader.socket.disconnect()
        return access, after["agent_a"]

    access, after = async_to_sync(scenario)()

    assert access == [
        {"type": "hello", "tenant": "acme", "groups": []},
        {"type": "resync", "reason": "access"},
    ]
    assert after == [{"type": "sentinel", "n": 1}]


def test_a_deactivated_member_is_disconnected_at_once(world):
    restricted = world.principals["restricted"]
    reader = Reader("restricted", restricted)

    async def scenario() -> Reader:
        await reader.open()

        @database_sync_to_async
        def deactivate() -> None:
            with transaction.atomic():
                membership = Membership.objects.get(pk=restricted.pk)
                membership.active = False
                membership.save(update_fields=["active"])

        await deactivate()
        await reader.read_until(lambda e: False)  # until the socket is closed
        return reader

    reader = async_to_sync(scenario)()

    assert reader.closed == 4403


def test_a_role_losing_view_all_narrows_its_members_sockets(world):
    from tenants.services import membership_change_role

    tenant_id = world.principals["owner"].tenant_id
    owner, supervisor = world.principals["owner"], world.principals["supervisor"]
    agent_role = world.principals["agent_b"].role
    reader = Reader("supervisor", supervisor)

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        await reader.open()
        await database_sync_to_async(membership_change_role)(actor=owner, membership=supervisor, role=agent_role)
        access = await reader.read_until(lambda e: e["type"] == "resync")
        await touch(list(world.conversations.values()))
        after = await round_of([reader], tenant_id, 1)
        await reader.socket.disconnect()
        return access, after["supervisor"]

    access, after = async_to_sync(scenario)()

    # The supervisor, now an agent, belongs to no inbox: no audience group, nothing more about conversations.
    assert access[0] == {"type": "hello", "tenant": "acme", "groups": []}
    assert after == [{"type": "sentinel", "n": 1}]


def test_only_the_socket_watching_a_conversation_gets_its_message_bubbles(world):
    from conversations.services.events import publish_message_event
    from tests.conversations.factories import make_message

    tenant_id = world.principals["owner"].tenant_id
    conversation = world.conversations["a_unassigned"]
    watcher, other = Reader("owner", world.principals["owner"]), Reader("supervisor", world.principals["supervisor"])

    @database_sync_to_async
    def new_message() -> int:
        with transaction.atomic():
            message = make_message(conversation, "Chegou a segunda via?")
            publish_message_event("message.created", message)
        return message.pk

    async def watch(reader: Reader, value: Any) -> dict[str, Any]:
        await reader.socket.send_input({"type": "websocket.receive", "text": json.dumps({"type": "watch", **value})})
        [ack] = await reader.read_until(lambda e: e["type"] == "watching")
        return ack

    async def scenario() -> tuple[list[dict[str, Any]], ...]:
        for reader in (watcher, other):
            await reader.open()
        acks = [
            await watch(other, {"conversation": "1; DROP TABLE"}),  # not an id: watches nothing
            await watch(watcher, {"conversation": conversation.pk}),
        ]
        message_id = await new_message()
        got = await round_of([watcher, other], tenant_id, 1)
        for reader in (watcher, other):
            await reader.socket.disconnect()
        return acks, got["owner"], got["supervisor"], message_id

    acks, watched, unwatched, message_id = async_to_sync(scenario)()

    assert acks == [{"type": "watching", "conversation": None}, {"type": "watching", "conversation": conversation.pk}]
    [mine] = [e for e in watched if e["type"] == "message.created"]
    [theirs] = [e for e in unwatched if e["type"] == "message.created"]
    assert mine["message"]["id"] == theirs["message"]["id"] == message_id
    assert "Chegou a segunda via?" in next(iter(mine["message"]["html"].values()))
    assert "html" not in theirs["message"]
    # Both get the row, and everything else alike.
    assert {k: v for k, v in mine["message"].items() if k != "html"} == theirs["message"]
    assert mine["row"] == theirs["row"] and mine["row"]["id"] == conversation.pk
