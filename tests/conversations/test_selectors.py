"""The inbox list's reads: query parsing, filters, search, keyset paging, messages, members, quick replies."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from conversations.models import Conversation, ConversationLabel, Message, QuickReply
from conversations.selectors import (
    ConversationFilters,
    assignable_members,
    conversation_inbox_page,
    message_page,
    quick_reply_list,
)
from helpdesk.exceptions import ValidationFailed
from tenants.permissions import BuiltinRole
from tests.conversations.factories import make_conversation, make_inbox, make_label, make_message
from tests.factories import add_member, make_user, owner_of

pytestmark = pytest.mark.django_db

POSTGRES = connection.vendor == "postgresql"


def _page(membership, cursor=None, limit=25, **filters):
    return conversation_inbox_page(
        membership=membership, filters=ConversationFilters(**filters), cursor=cursor, limit=limit
    )


def _all_pages(membership, limit=25, **filters) -> list[list[int]]:
    pages, cursor = [], None
    while True:
        rows, cursor = _page(membership, cursor=cursor, limit=limit, **filters)
        pages.append([c.pk for c in rows])
        if cursor is None:
            return pages


def _cursor(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


# --- ConversationFilters.from_query -------------------------------------------------------------


def test_from_query_defaults_to_open_conversations_of_all_tabs_by_activity():
    assert ConversationFilters.from_query({}) == ConversationFilters(
        tab="all", status="open", inbox_id=None, label_id=None, assignee_id=None, q="", sort="activity"
    )


def test_from_query_parses_every_parameter():
    params = {
        "tab": "mine",
        "status": "",
        "inbox": "7",
        "label": " 8 ",
        "assignee": "9",
        "q": "  Maria  ",
        "sort": "waiting",
    }
    assert ConversationFilters.from_query(params) == ConversationFilters(
        tab="mine", status="", inbox_id=7, label_id=8, assignee_id=9, q="Maria", sort="waiting"
    )


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"tab": "everything"}, "tab"),
        ({"status": "closed"}, "status"),
        ({"sort": "name"}, "sort"),
        ({"inbox": "abc"}, "inbox"),
        ({"label": "-1"}, "label"),
        ({"assignee": "9" * 19}, "assignee"),
        ({"q": "x" * 101}, "q"),
    ],
)
def test_from_query_names_the_bad_parameter(params, param):
    with pytest.raises(ValidationFailed) as excinfo:
        ConversationFilters.from_query(params)
    assert excinfo.value.details["param"] == param


def test_from_query_accepts_a_search_of_100_characters():
    assert ConversationFilters.from_query({"q": "x" * 100}).q == "x" * 100


def test_from_query_refuses_a_superscript_digit_as_an_id():
    with pytest.raises(ValidationFailed):
        ConversationFilters.from_query({"inbox": "²"})


# --- filters ------------------------------------------------------------------------------------


@pytest.fixture
def owner(tenant):
    return owner_of(tenant)


def test_status_inbox_label_and_assignee_filters(tenant, owner):
    agent = add_member(tenant, BuiltinRole.AGENT)
    inbox_a = make_inbox(tenant, members=[agent])
    inbox_b = make_inbox(tenant)
    open_a = make_conversation(inbox_a)
    pending_a = make_conversation(inbox_a, status="pending")
    assigned_b = make_conversation(inbox_b, assignee=agent)
    resolved_b = make_conversation(inbox_b, status="resolved")
    vip = make_label(tenant, "vip")
    ConversationLabel.objects.create(tenant=tenant, conversation=assigned_b, label=vip)
    ConversationLabel.objects.create(tenant=tenant, conversation=resolved_b, label=vip)

    def listed(**filters):
        rows, _cursor = _page(owner, **filters)
        return {c.pk for c in rows}

    assert listed() == {open_a.pk, assigned_b.pk}  # status "open" by default
    assert listed(status="") == {open_a.pk, pending_a.pk, assigned_b.pk, resolved_b.pk}
    assert listed(status="pending") == {pending_a.pk}
    assert listed(status="", inbox_id=inbox_b.pk) == {assigned_b.pk, resolved_b.pk}
    assert listed(status="", label_id=vip.pk) == {assigned_b.pk, resolved_b.pk}
    assert listed(status="", assignee_id=agent.user_id) == {assigned_b.pk}
    assert listed(status="", label_id=vip.pk, inbox_id=inbox_a.pk) == set()


def test_a_label_of_another_tenant_filters_everything_out(tenant, other_tenant, owner):
    conversation = make_conversation(make_inbox(tenant))
    foreign_label = make_label(other_tenant, "vip")
    ConversationLabel.objects.create(tenant=tenant, conversation=conversation, label=make_label(tenant, "vip"))
    rows, _cursor = _page(owner, label_id=foreign_label.pk)
    assert rows == []


# --- search -------------------------------------------------------------------------------------


@pytest.fixture
def searchable(tenant):
    inbox = make_inbox(tenant)
    maria = make_conversation(inbox, name="Maria Souza", phone="+5511912345678")
    joao = make_conversation(inbox, profile_name="João WhatsApp", phone="+5521988887777")
    make_message(maria, "Preciso do reembolso, por favor")
    make_message(joao, "Onde está meu pedido?")
    return {"maria": maria, "joao": joao}


def _search(owner, q, searchable) -> set[str]:
    rows, _cursor = _page(owner, q=q)
    names = {c.pk: k for k, c in searchable.items()}
    return {names[c.pk] for c in rows}


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("maria", {"maria"}),  # name, case-insensitive
        ("SOUZA", {"maria"}),
        ("joão", {"joao"}),  # profile name
        ("(11) 91234-5678", {"maria"}),  # a number as typed in Brazil
        ("+55 21 98888", {"joao"}),
        ("912345", {"maria"}),
        ("reembolso", {"maria"}),  # message text
        ("pedido", {"joao"}),
        ("nada disso", set()),
    ],
)
def test_search_by_name_phone_and_message_text(owner, searchable, q, found):
    assert _search(owner, q, searchable) == found


def test_search_of_part_of_a_word_in_messages_depends_on_the_database(owner, searchable):
    # PostgreSQL uses full-text search (whole words, the "simple" configuration); SQLite a substring.
    assert _search(owner, "reembols", searchable) == (set() if POSTGRES else {"maria"})


def test_search_by_words_of_a_message_matches_regardless_of_order_on_postgres(owner, searchable):
    expected = {"maria"} if POSTGRES else set()
    assert _search(owner, "favor reembolso", searchable) == expected


@pytest.mark.parametrize("q", ["reembolso", "pedido", "maria"])
def test_common_word_search_plan_finds_the_same_conversations(owner, searchable, q, monkeypatch):
    # With many estimated matches the search probes each conversation instead of collecting matches.
    from conversations import selectors

    expected = _search(owner, q, searchable)
    monkeypatch.setattr(selectors, "SEARCH_HASH_MAX", -1)
    assert _search(owner, q, searchable) == expected
    assert expected


def test_a_search_shorter_than_three_characters_is_refused():
    with pytest.raises(ValidationFailed) as excinfo:
        ConversationFilters.from_query({"q": "ab"})
    assert excinfo.value.code == "search_too_short"


def test_search_of_punctuation_only_matches_nothing(owner, searchable):
    assert _search(owner, "...", searchable) == set()


# --- keyset paging ------------------------------------------------------------------------------


def test_sixty_ties_are_paged_exactly_once_in_id_order(tenant, owner):
    inbox = make_inbox(tenant)
    at = timezone.now() - timedelta(hours=1)
    ids = [make_conversation(inbox, last_activity_at=at).pk for _ in range(60)]
    pages = _all_pages(owner)
    assert [len(p) for p in pages] == [25, 25, 10]
    assert [pk for page in pages for pk in page] == sorted(ids, reverse=True)


def test_paging_orders_by_activity_then_id_across_groups_of_ties(tenant, owner):
    inbox = make_inbox(tenant)
    base = timezone.now() - timedelta(hours=3)
    expected = []
    for hour in range(3):
        at = base + timedelta(hours=hour)
        expected = [make_conversation(inbox, last_activity_at=at).pk for _ in range(7)][::-1] + expected
    pages = _all_pages(owner, limit=5)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 1]
    assert [pk for page in pages for pk in page] == expected


def test_a_conversation_updated_between_pages_is_neither_repeated_nor_shown_twice(tenant, owner):
    """Documented behaviour: rows that move up while paging are not repeated further down; a row
    that moves from a later page to the top is not shown by the later pages (the live updates add it
    to the top of the list), and a row inserted meanwhile appears only at the top."""
    inbox = make_inbox(tenant)
    at = timezone.now() - timedelta(hours=1)
    conversations = [make_conversation(inbox, last_activity_at=at) for _ in range(60)]
    expected_order = sorted((c.pk for c in conversations), reverse=True)
    first, cursor = _page(owner)
    first_ids = [c.pk for c in first]
    shown_then_bumped = first_ids[3]
    bumped_from_later_page = expected_order[40]
    Conversation.objects.filter(pk__in=[shown_then_bumped, bumped_from_later_page]).update(
        last_activity_at=timezone.now()
    )
    inserted = make_conversation(inbox).pk
    rest = []
    while cursor is not None:
        rows, cursor = _page(owner, cursor=cursor)
        rest += [c.pk for c in rows]
    seen = first_ids + rest
    assert len(seen) == len(set(seen))
    assert rest == [pk for pk in expected_order[25:] if pk != bumped_from_later_page]
    assert inserted not in seen
    # A fresh first page shows the moved and the new rows at the top.
    top, _cursor = _page(owner, limit=3)
    assert [c.pk for c in top] == [inserted, *sorted([bumped_from_later_page, shown_then_bumped], reverse=True)]


def test_every_conversation_has_an_activity_time_so_the_keyset_is_total(tenant):
    from django.db import IntegrityError, transaction

    inbox = make_inbox(tenant)
    created = make_conversation(inbox, last_activity_at=timezone.now() - timedelta(hours=1))
    assert created.last_activity_at is not None
    with pytest.raises(IntegrityError), transaction.atomic():
        make_conversation(inbox, last_activity_at=None)


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 at all!",
        _cursor([]),
        _cursor(["yesterday", 5]),
        _cursor(["2024-01-01T00:00:00+00:00", "five"]),
        _cursor({"a": 1}),
        _cursor(7),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_an_invalid_cursor_is_a_validation_error(owner, cursor):
    with pytest.raises(ValidationFailed) as excinfo:
        _page(owner, cursor=cursor)
    assert excinfo.value.code == "validation_failed"


def test_a_cursor_without_a_value_is_refused_for_the_waiting_sort(owner):
    with pytest.raises(ValidationFailed):
        _page(owner, cursor=_cursor([None, 5]), sort="waiting")


def test_waiting_sort_lists_the_longest_waiting_first_and_pages_through_ties(tenant, owner):
    inbox = make_inbox(tenant)
    now = timezone.now()
    recent = make_conversation(inbox, waiting_since=now - timedelta(minutes=5))
    tied = [make_conversation(inbox, waiting_since=now - timedelta(hours=2)) for _ in range(3)]
    oldest = make_conversation(inbox, waiting_since=now - timedelta(days=1))
    make_conversation(inbox, waiting_since=None)  # answered: not waiting
    pages = _all_pages(owner, limit=2, sort="waiting")
    assert pages == [[oldest.pk, tied[0].pk], [tied[1].pk, tied[2].pk], [recent.pk]]


# --- messages -----------------------------------------------------------------------------------


def test_message_page_newest_before_after_and_ids(tenant):
    conversation = make_conversation(make_inbox(tenant))
    other = make_conversation(conversation.inbox)
    ids = [make_message(conversation, f"m{n}").pk for n in range(120)]
    stranger = make_message(other, "elsewhere").pk

    rows, more = message_page(conversation=conversation)
    assert ([m.pk for m in rows], more) == (ids[70:], True)
    rows, more = message_page(conversation=conversation, before_id=ids[70])
    assert ([m.pk for m in rows], more) == (ids[20:70], True)
    rows, more = message_page(conversation=conversation, before_id=ids[20])
    assert ([m.pk for m in rows], more) == (ids[:20], False)
    rows, more = message_page(conversation=conversation, after_id=ids[9])
    assert ([m.pk for m in rows], more) == (ids[10:60], True)
    rows, more = message_page(conversation=conversation, after_id=ids[69])
    assert ([m.pk for m in rows], more) == (ids[70:], False)
    rows, more = message_page(conversation=conversation, ids=[ids[5], stranger, ids[2]])
    assert ([m.pk for m in rows], more) == ([ids[2], ids[5]], False)


def test_message_page_follows_each_messages_own_time_and_pages_across_equal_times_by_arrival(tenant):
    conversation = make_conversation(make_inbox(tenant))
    start = timezone.now() - timedelta(hours=1)
    # Stored in this order; written in the order of their seconds, five of them in the same second.
    plan = [("a", 3), ("b", 1), ("c", 2), ("d", 2), ("e", 2), ("f", 2), ("g", 2), ("h", 0), ("i", 4)]
    ids = {}
    for name, seconds in plan:
        ids[name] = make_message(conversation, name).pk
        Message.objects.filter(pk=ids[name]).update(occurred_at=start + timedelta(seconds=seconds))
    elsewhere = make_message(make_conversation(conversation.inbox), "elsewhere").pk

    def page(**kwargs) -> tuple[str, bool]:
        rows, more = message_page(conversation=conversation, limit=3, **kwargs)
        return "".join(m.text for m in rows), more

    assert page() == ("gai", True)
    assert page(before_id=ids["g"]) == ("def", True)  # the boundary falls inside the shared second
    assert page(before_id=ids["d"]) == ("hbc", False)
    assert page(before_id=ids["h"]) == ("", False)
    assert page(before_id=elsewhere) == ("", False)  # another conversation's message places nothing
    # Catching up goes by arrival (ids), each page shown in history order.
    assert page(after_id=ids["c"]) == ("def", True)
    assert page(after_id=ids["f"]) == ("hgi", False)
    assert page(ids=[ids["i"], ids["h"], ids["e"], elsewhere]) == ("hei", False)


def test_message_page_of_an_empty_conversation(tenant):
    conversation = make_conversation(make_inbox(tenant))
    assert message_page(conversation=conversation) == ([], False)
    assert Message.objects.count() == 0


# --- assignable members and quick replies -------------------------------------------------------


def test_assignable_members_are_active_inbox_members_and_those_who_see_everything(tenant, other_tenant):
    owner = owner_of(tenant)
    owner.user.name = "Zé Dono"
    owner.user.save(update_fields=["name"])
    in_inbox = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Ana"))
    supervisor = add_member(tenant, BuiltinRole.SUPERVISOR, user=make_user(name="Bruno"))
    elsewhere = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Carla"))
    inactive = add_member(tenant, BuiltinRole.AGENT, user=make_user(name="Davi"))
    inactive.active = False
    inactive.save(update_fields=["active"])
    foreign = add_member(other_tenant, BuiltinRole.OWNER, user=make_user(name="Eva"))
    inbox = make_inbox(tenant, members=[in_inbox, inactive, foreign])
    make_inbox(tenant, members=[elsewhere])
    conversation = make_conversation(inbox)
    names = [m.user.name for m in assignable_members(conversation=conversation)]
    assert names == ["Ana", "Bruno", "Zé Dono"]
    assert supervisor.user_id in {m.user_id for m in assignable_members(conversation=conversation)}


def test_quick_replies_are_the_tenants_my_inboxes_and_my_own(tenant, other_tenant):
    agent = add_member(tenant, BuiltinRole.AGENT)
    colleague = add_member(tenant, BuiltinRole.AGENT)
    mine = make_inbox(tenant, members=[agent])
    not_mine = make_inbox(tenant, members=[colleague])

    def reply(shortcut, scope, **kw):
        return QuickReply.objects.create(
            tenant=kw.pop("t", tenant), shortcut=shortcut, text=shortcut, scope=scope, **kw
        )

    reply("hello", "tenant")
    reply("inbox-mine", "inbox", inbox=mine)
    reply("inbox-other", "inbox", inbox=not_mine)
    reply("personal-mine", "personal", owner=agent.user)
    reply("personal-colleague", "personal", owner=colleague.user)
    reply("foreign", "tenant", t=other_tenant)

    def shortcuts(**kw):
        return sorted(q.shortcut for q in quick_reply_list(membership=agent, **kw))

    assert shortcuts() == ["hello", "inbox-mine", "personal-mine"]
    assert shortcuts(inbox=mine) == ["hello", "inbox-mine", "personal-mine"]
    assert shortcuts(inbox=not_mine) == ["hello", "inbox-other", "personal-mine"]


def test_who_may_be_assigned_agrees_with_the_list_of_assignable_members(tenant, other_tenant):
    from conversations.selectors import assignable, assignable_members

    member = add_member(tenant, BuiltinRole.AGENT)
    outsider = add_member(tenant, BuiltinRole.AGENT)  # not a member of the inbox
    sees_all = add_member(tenant, BuiltinRole.ADMIN)  # sees every conversation without being in the inbox
    gone = add_member(tenant, BuiltinRole.AGENT)
    gone.active = False
    gone.save(update_fields=["active"])
    foreign = add_member(other_tenant, BuiltinRole.AGENT)
    inbox = make_inbox(tenant, members=[member, gone])
    conversation = make_conversation(inbox)

    listed = {m.user_id for m in assignable_members(conversation=conversation)}
    assert {member.user_id, sees_all.user_id} <= listed
    assert not listed & {outsider.user_id, gone.user_id, foreign.user_id}
    for person in (member, outsider, sees_all, gone, foreign):
        assert assignable(conversation=conversation, user_id=person.user_id) is (person.user_id in listed)
