"""Variables in the text of a quick reply (and of any message the business writes ahead), and filling
them in for one conversation: ``{{contact.first_name}}`` or ``{{ contact.first_name }}``.

The result is plain text, like the rest of a message: a value is put in as it is (HTML included) and
escaped where the text is shown, never here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from conversations.models import Conversation
from tenants.models import Tenant, User

# The same spacing on both sides: {{key}} or {{ key }}.
_VARIABLE_RE = re.compile(r"\{\{( ?)([a-z_]+\.[a-z_]+)\1\}\}")


def _first_word(name: str) -> str:
    return (name.split() or [""])[0]


def text_variables(*, conversation: Conversation, workspace: Tenant, agent: User | None = None) -> dict[str, str]:
    """Every variable's value for this conversation; the agent's are empty when no person writes
    (an automation, the system). ``workspace`` is the conversation's, passed in because the caller
    holds it already."""
    contact = conversation.contact
    agent_name = agent.display_name if agent is not None else ""
    return {
        "contact.name": contact.display_name,
        "contact.first_name": _first_word(contact.display_name),
        "contact.phone": contact.phone_e164,
        "agent.name": agent_name,
        "agent.first_name": _first_word(agent_name),
        "conversation.id": str(conversation.display_id),
        "inbox.name": conversation.inbox.name,
        "workspace.name": workspace.name,
    }


def text_fill(text: str, variables: Mapping[str, str]) -> str:
    """``text`` with each known variable replaced by its value, in one pass (a value that itself looks
    like a variable stays as written); an unknown variable is left as it is."""

    def value(match: re.Match[str]) -> str:
        return variables.get(match.group(2), match.group(0))

    return _VARIABLE_RE.sub(value, text)
