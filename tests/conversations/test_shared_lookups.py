"""The lookups the inbox views and the API share: the quoted message, the assignee and label ids."""

from __future__ import annotations

import pytest

from conversations.selectors import assignee_get, labels_from_ids, reply_to_get
from helpdesk.exceptions import NotFound, ValidationFailed
from tenants.permissions import BuiltinRole
from tests.conversations.factories import make_conversation, make_inbox, make_label, make_message
from tests.factories import add_member, make_user

pytestmark = pytest.mark.django_db


# --- the message a reply quotes -----------------------------------------------------------------


def test_reply_to_get_returns_a_message_of_the_conversation(tenant):
    conversation = make_conversation(make_inbox(tenant))
    quoted = make_message(conversation, "Oi")

    assert reply_to_get(conversation=conversation, message_id=quoted.pk) == quoted


@pytest.mark.parametrize("where", ["other_conversation", "other_tenant", "no_id"])
def test_reply_to_get_refuses_a_message_outside_the_conversation_as_not_found(tenant, other_tenant, where):
    conversation = make_conversation(make_inbox(tenant))
    elsewhere = {
        "other_conversation": lambda: make_message(make_conversation(make_inbox(tenant)), "Outra").pk,
        "other_tenant": lambda: make_message(make_conversation(make_inbox(other_tenant)), "Alheia").pk,
        "no_id": lambda: None,
    }[where]()

    with pytest.raises(NotFound) as refused:
        reply_to_get(conversation=conversation, message_id=elsewhere)

    assert refused.value.message == "The message to reply to is not in this conversation."
    assert refused.value.status_code == 404


# --- the assignee -------------------------------------------------------------------------------


def test_assignee_get_returns_the_user_of_an_active_member(tenant):
    agent = add_member(tenant, BuiltinRole.AGENT)

    assert assignee_get(tenant=tenant, user_id=agent.user_id) == agent.user
    assert assignee_get(tenant=tenant.pk, user_id=agent.user_id) == agent.user


@pytest.mark.parametrize("who", ["stranger", "other_tenant_member", "inactive_member"])
def test_assignee_get_refuses_anyone_but_an_active_member_naming_the_field(tenant, other_tenant, who):
    if who == "stranger":
        user_id = make_user().pk
    elif who == "other_tenant_member":
        user_id = add_member(other_tenant, BuiltinRole.AGENT).user_id
    else:
        gone = add_member(tenant, BuiltinRole.AGENT)
        gone.active = False
        gone.save(update_fields=["active"])
        user_id = gone.user_id

    with pytest.raises(ValidationFailed) as refused:
        assignee_get(tenant=tenant, user_id=user_id, field="assignee")

    assert refused.value.message == "That person is not a member of this workspace."
    assert refused.value.details == {"assignee": user_id}


# --- label ids ----------------------------------------------------------------------------------


def test_labels_from_ids_keeps_the_order_given_once_each(tenant):
    vip, late = make_label(tenant, "VIP"), make_label(tenant, "Atrasado")

    assert labels_from_ids(tenant=tenant, ids=[vip.pk, late.pk, vip.pk], field="label_ids") == [vip, late]
    assert labels_from_ids(tenant=tenant, ids=[], field="label_ids") == []


def test_labels_from_ids_refuses_another_workspaces_and_unknown_ids_naming_them(tenant, other_tenant):
    ours = make_label(tenant, "VIP")
    theirs = make_label(other_tenant, "VIP")

    with pytest.raises(ValidationFailed) as refused:
        labels_from_ids(tenant=tenant, ids=[ours.pk, theirs.pk, 987654], field="add")

    assert refused.value.message == "Unknown label."
    assert refused.value.details == {"field": "add", "ids": sorted([theirs.pk, 987654])}
