"""Whether a customer's message starts a flow: its button payloads, keywords, regular expression, or any first
message (while the business is open or closed). Read by the runtime when the message is in, and by the core's bot
hold when the message opens a conversation (so the conversation opens pending, kept from auto-assignment)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from django.db.models import Q
from django.utils import timezone

from automations.business_hours import is_open
from automations.rules_schema import REGEX_INPUT_MAX
from automations.selectors import calendar_load, inbox_calendar
from conversations.models import Inbox
from flows.answers import normalised
from flows.links import refs_in
from flows.models import EntryLink, Flow, FlowSession


def has_words(text: str, words: Sequence[str]) -> bool:
    """One of ``words`` in ``text`` as a whole word, whatever the case and accents."""
    norm = normalised(text)
    return any(
        isinstance(w, str) and w.strip() and re.search(rf"(?<!\w){re.escape(normalised(w))}(?!\w)", norm) for w in words
    )


def trigger_of(
    flow: Flow, text: str, choice: str, *, first: Callable[[], bool], closed: Callable[[], bool]
) -> str | None:
    """The trigger by which this message starts ``flow``, or None. ``first``: it is the conversation's first
    customer message; ``closed``: the inbox is outside business hours now (both asked only when needed)."""
    if choice and choice in (flow.trigger_payloads or []):
        return FlowSession.Trigger.PAYLOAD
    if text and has_words(text, flow.trigger_keywords or []):
        return FlowSession.Trigger.KEYWORD
    if text and flow.trigger_regex:
        try:
            if re.search(flow.trigger_regex, text[:REGEX_INPUT_MAX], re.IGNORECASE):
                return FlowSession.Trigger.REGEX
        except re.error:
            pass
    if flow.trigger_first_message and first():
        return FlowSession.Trigger.FIRST_MESSAGE
    if flow.trigger_outside_hours and first() and closed():
        return FlowSession.Trigger.OUTSIDE_HOURS
    return None


def inbox_closed(inbox_id: int) -> bool:
    calendar = inbox_calendar(inbox=Inbox.objects.get(pk=inbox_id))
    return calendar is not None and not is_open(calendar_load(calendar), timezone.now())


def bot_hold(tenant_id: int, inbox_id: int, firsts: Mapping[int, tuple[str, str]]) -> set[int]:
    """The customers whose first message starts one of the inbox's flows (``conversations.extensions``)."""
    flows = list(
        Flow.objects.filter(tenant_id=tenant_id, enabled=True, published__isnull=False).filter(
            Q(inbox__isnull=True) | Q(inbox_id=inbox_id)
        )
    )
    if not flows:
        return set()
    held: set[int] = set()
    refs = {ref: ci for ci, (text, _choice) in firsts.items() for ref in refs_in(text)}
    if refs:
        # A wa.me link's token bound to a flow that is on (``flows.links``).
        linked = EntryLink.objects.filter(
            tenant_id=tenant_id, inbox_id=inbox_id, ref__in=list(refs), archived=False, flow__in=flows
        ).values_list("ref", flat=True)
        held.update(refs[ref] for ref in linked)
    closed: list[bool] = []

    def is_closed() -> bool:
        if not closed:
            closed.append(inbox_closed(inbox_id))
        return closed[0]

    return held | {
        contact_inbox_id
        for contact_inbox_id, (text, choice) in firsts.items()
        if any(trigger_of(flow, text, choice, first=lambda: True, closed=is_closed) for flow in flows)
    }
