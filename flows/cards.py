"""Under each customer message a bot flow took, a line saying what it was to the bot: the answer to which
step of which flow (or the message that started it, asked for a person, or came while it waited for a payment)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.core.cache import cache
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from conversations.models import Message
from flows.definitions import steps_by_id
from flows.models import FlowInput

SESSIONS_KEY = "flows:has-sessions:{tenant}"


def sessions_seen(tenant_id: int) -> None:
    """A workspace's first session: its renders look for the bot's answers from now on (a workspace without bot
    flows pays nothing for them, not even a query)."""
    cache.set(SESSIONS_KEY.format(tenant=tenant_id), True, timeout=None)


def answer_cards(messages: Sequence[Message]) -> Mapping[int, SafeString]:
    inbound = [m.pk for m in messages if m.direction == Message.Direction.INBOUND]
    if not inbound or not cache.get(SESSIONS_KEY.format(tenant=messages[0].tenant_id)):
        return {}
    taken = FlowInput.objects.filter(tenant_id=messages[0].tenant_id, message_id__in=inbound).select_related(
        "session__flow", "session__version"
    )
    cards: dict[int, SafeString] = {}
    for claim in taken:
        session = claim.session
        flow = session.flow.name
        step = steps_by_id(session.version.definition).get(claim.step) or {}
        step_name = str(step.get("name") or claim.step)
        if claim.outcome == "started":
            text = _("Started the bot flow “%(flow)s”") % {"flow": flow}
        elif claim.outcome == "handover":
            text = _("Asked for a person (bot flow “%(flow)s”, at “%(step)s”)") % {"flow": flow, "step": step_name}
        elif claim.outcome == "waiting":
            text = _("Written while the bot flow “%(flow)s” waited for the payment") % {"flow": flow}
        elif claim.outcome == "late":
            text = _("Arrived late: the bot flow “%(flow)s” had already gone on") % {"flow": flow}
        else:
            text = _("Answer to “%(step)s” (bot flow “%(flow)s”)") % {"step": step_name, "flow": flow}
        cards[claim.message_id] = format_html(
            '<div class="msg-card flow-card" data-flow-session="{}" data-flow-step="{}">↳ {}</div>',
            session.pk,
            claim.step,
            text,
        )
    return cards
