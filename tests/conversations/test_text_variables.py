"""Filling a quick reply's variables for a conversation: the service the inbox and automations share."""

from __future__ import annotations

import pytest

from conversations.services.variables import text_fill, text_variables
from tenants.permissions import BuiltinRole
from tests.conversations.factories import make_conversation, make_inbox
from tests.factories import add_member, make_user

pytestmark = pytest.mark.django_db

EVERY_VARIABLE = (
    "{{contact.name}}|{{contact.first_name}}|{{contact.phone}}|{{agent.name}}|{{agent.first_name}}|"
    "{{conversation.id}}|{{inbox.name}}|{{workspace.name}}"
)


@pytest.fixture
def conversation(tenant):
    return make_conversation(make_inbox(tenant, name="Vendas"), name="Maria Silva", phone="+5511912345678")


def test_every_variable_is_filled_for_the_conversation_and_the_agent(tenant, conversation):
    agent = add_member(tenant, BuiltinRole.AGENT, user=make_user("ana@example.com", name="Ana Souza"))

    values = text_variables(conversation=conversation, workspace=tenant, agent=agent.user)

    assert text_fill(EVERY_VARIABLE, values) == (
        f"Maria Silva|Maria|+5511912345678|Ana Souza|Ana|{conversation.display_id}|Vendas|{tenant.name}"
    )


def test_a_variable_with_a_space_inside_each_brace_is_filled_and_other_spacing_is_not(tenant, conversation):
    values = text_variables(conversation=conversation, workspace=tenant)

    assert text_fill("{{ contact.first_name }}, {{contact.first_name}}", values) == "Maria, Maria"
    assert text_fill("{{ contact.first_name}} {{contact.first_name  }}", values) == (
        "{{ contact.first_name}} {{contact.first_name  }}"
    )


def test_without_an_agent_the_agent_variables_are_empty(tenant, conversation):
    values = text_variables(conversation=conversation, workspace=tenant, agent=None)

    assert text_fill("[{{agent.name}}][{{agent.first_name}}]", values) == "[][]"


def test_missing_contact_values_fall_back_then_become_empty(tenant):
    nameless = make_conversation(make_inbox(tenant), phone="+5511900000001")
    values = text_variables(conversation=nameless, workspace=tenant)
    assert text_fill("{{contact.name}}|{{contact.first_name}}", values) == "+5511900000001|+5511900000001"

    assert text_fill("[{{contact.first_name}}]", {**values, "contact.first_name": ""}) == "[]"


def test_an_unknown_variable_is_left_as_written(tenant, conversation):
    values = text_variables(conversation=conversation, workspace=tenant)

    assert (
        text_fill("{{contact.cpf}} {{order.total}} {{contact}}", values)
        == "{{contact.cpf}} {{order.total}} {{contact}}"
    )


def test_html_in_a_value_stays_text_neither_escaped_nor_removed(tenant):
    hostile = make_conversation(make_inbox(tenant, name="<i>Vendas</i>"), name='<script>alert("x")</script> &amp;')
    values = text_variables(conversation=hostile, workspace=tenant)

    assert text_fill("Oi {{contact.name}} ({{inbox.name}})", values) == (
        'Oi <script>alert("x")</script> &amp; (<i>Vendas</i>)'
    )


def test_a_value_that_looks_like_a_variable_is_not_filled_again(tenant, conversation):
    values = {**text_variables(conversation=conversation, workspace=tenant), "contact.name": "{{workspace.name}}"}

    assert text_fill("Oi {{contact.name}}", values) == "Oi {{workspace.name}}"
