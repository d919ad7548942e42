"""Flows at work: the core's events drive the sessions (a customer's message is one step, a payment confirmed
resumes the one waiting for it, an agent who writes stops the bot), and the bot acts through the core's and the
payments app's services as an automation actor.

Exactly once per customer message: the message is claimed (``FlowInput``, unique per message) in the transaction
that runs the step, with the session locked, so a webhook repeated or redelivered takes no second step and two
messages of one conversation run one after the other. A message older than the last one the session took (the
channel's webhooks came out of order) is recorded as late and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from conversations import events
from conversations.actors import AutomationActor, SystemActor
from conversations.content import ReplyContent, content_read
from conversations.customer_texts import contact_language
from conversations.models import Conversation, Label, Message, Team
from conversations.services.actions import (
    conversation_activity_record,
    conversation_labels_change,
    conversation_status_set,
    conversation_team_set,
)
from conversations.services.contacts import contact_update
from conversations.services.outbound import OutboundSpec, ReplyWindowClosed, message_send, note_create
from flows import arming, engine
from flows.cards import sessions_seen
from flows.links import conversation_sources_record, refs_in
from flows.models import Flow, FlowInput, FlowSession, FlowSettings, FlowStepLog, FlowVersion
from flows.triggers import has_words, inbox_closed, trigger_of
from helpdesk.exceptions import ApplicationError

logger = logging.getLogger(__name__)

SUBSCRIBER_INPUTS = "flows.inputs"
SUBSCRIBER_PAID = "flows.paid"
SUBSCRIBER_AGENT = "flows.agent_replied"
ACTOR_KIND = "flow"
PIX_KINDS = ("bcb_pix", "static_pix")
CARD_KINDS = ("mercadopago", "stripe")


def flow_actor(flow: Flow, step_name: str = "") -> AutomationActor:
    """The flow as the sender of its messages; the step's name is in the label the history shows."""
    name = f"{flow.name} · {step_name}" if step_name else flow.name
    return AutomationActor(tenant_id=flow.tenant_id, automation_id=flow.pk, name=name[:120], kind=ACTOR_KIND)


# --- ports: what a step does to the world ---------------------------------------------------------------


class SessionPorts:
    def __init__(self, session: FlowSession, conversation: Conversation) -> None:
        self.session = session
        self.flow = session.flow
        self.conversation = conversation
        self.tenant = conversation.tenant
        self.language = contact_language(contact=conversation.contact, tenant=self.tenant)
        self.actor = flow_actor(self.flow)

    def _spec(self, message: engine.Outgoing) -> OutboundSpec:
        if message.buttons:
            return OutboundSpec(
                type=Message.Type.INTERACTIVE,
                content={
                    "interactive_type": "button",
                    "body": message.text,
                    "buttons": [{"id": i, "title": t} for i, t in message.buttons],
                },
            )
        if message.rows:
            rows = [{"id": i, "title": t, **({"description": d} if d else {})} for i, t, d in message.rows]
            return OutboundSpec(
                type=Message.Type.INTERACTIVE,
                content={
                    "interactive_type": "list",
                    "body": message.text,
                    "button": message.list_button,
                    "sections": [{"rows": rows}],
                },
            )
        if message.cta:
            return OutboundSpec(
                type=Message.Type.INTERACTIVE,
                content={
                    "interactive_type": "cta_url",
                    "body": message.text,
                    "display_text": message.cta[0],
                    "url": message.cta[1],
                },
            )
        if message.media:
            return OutboundSpec(type=message.media[0], text=message.text, content={"link": message.media[1]})
        if len(message.skus) == 1:
            return OutboundSpec(type=Message.Type.PRODUCT, content={"sku": message.skus[0], "body": message.text})
        if message.skus:
            return OutboundSpec(
                type=Message.Type.PRODUCT_LIST,
                content={
                    "header": message.header,
                    "body": message.text or message.header,
                    "sections": [{"title": message.header[:24], "skus": list(message.skus)}],
                },
            )
        return OutboundSpec(type=Message.Type.TEXT, text=message.text)

    def send(self, step: Mapping[str, Any], message: engine.Outgoing) -> bool:
        self.session.sent += 1
        key = f"flow-{self.session.pk}-{self.session.sent}"
        try:
            with transaction.atomic():
                message_send(
                    actor=flow_actor(self.flow, str(step.get("name", ""))),
                    conversation=self.conversation,
                    spec=self._spec(message),
                    idempotency_key=key,
                )
        except ReplyWindowClosed:
            logger.info("Flow session %s: the reply window is closed, nothing sent", self.session.pk)
            return False
        except ApplicationError as exc:
            logger.warning("Flow session %s: a message was refused: %s (%s)", self.session.pk, exc.message, exc.code)
            return False
        return True

    def set_attribute(self, name: str, value: str) -> None:
        contact = self.conversation.contact
        attributes = dict(contact.custom_attributes or {})
        attributes[name] = value
        try:
            with transaction.atomic():
                contact_update(actor=self.actor, contact=contact, custom_attributes=attributes)
        except ApplicationError as exc:
            logger.warning("Flow session %s: attribute %s not set: %s", self.session.pk, name, exc.message)

    def add_label(self, name: str) -> None:
        label = Label.objects.filter(tenant_id=self.tenant.pk, name__iexact=name).first()
        if label is None:
            logger.warning("Flow session %s: no label %r in the workspace", self.session.pk, name)
            return
        with transaction.atomic():
            conversation_labels_change(actor=self.actor, conversation=self.conversation, add=[label])

    def has_label(self, name: str) -> bool:
        return self.conversation.labels.filter(name__iexact=name).exists()

    def attribute(self, name: str) -> Any:
        attributes = self.conversation.contact.custom_attributes or {}
        return attributes.get(name) if isinstance(attributes, dict) else None

    def business_open(self) -> bool:
        return not inbox_closed(self.conversation.inbox_id)

    def catalog_find(self, text: str) -> str | None:
        from payments.models import Product

        products = Product.objects.filter(tenant_id=self.tenant.pk, visible=True)
        match = products.filter(Q(retailer_id__iexact=text.strip()) | Q(name__iexact=text.strip())).first()
        return match.retailer_id if match is not None else None

    def _secrets(self) -> dict[str, Any]:
        found = FlowSettings.objects.filter(tenant_id=self.tenant.pk).first()
        return found.secrets if found is not None else {}

    def _transit(self) -> Any:
        from flows.transit import client_kept

        base_url = getattr(settings, "TRANSIT_OPERATOR_BASE_URL", "")
        api_key = self._secrets().get("transit_api_key", "")
        if not base_url or not api_key:
            return None
        return client_kept(base_url, api_key)

    def transit_lookup(self, card: str) -> tuple[dict[str, Any] | None, str]:
        from flows.transit import TransitCardNotFound, TransitError

        client = self._transit()
        if client is None:
            return None, "not_configured"
        try:
            found = client.card_lookup(card)
        except TransitCardNotFound:
            return None, "card_not_found"
        except TransitError as exc:
            logger.warning("Flow session %s: card lookup failed: %s", self.session.pk, type(exc).__name__)
            return None, "unavailable"
        if not found.active:
            return None, "card_blocked"
        return {
            "number": found.number,
            "holder_name": found.holder_name,
            "balance": found.balance,
            "currency": found.currency,
        }, ""

    def transit_credit(self, card: str, amount: int, reference: str) -> tuple[dict[str, Any] | None, str]:
        from flows.transit import TransitCardBlocked, TransitCardNotFound, TransitError, TransitRefused

        client = self._transit()
        if client is None:
            return None, "not_configured"
        key = f"flow-{self.tenant.pk}-{self.session.pk}-{self.session.order_id or reference}"
        try:
            credit = client.card_credit(card, amount=amount, reference=reference, idempotency_key=key)
        except TransitCardNotFound:
            return None, "card_not_found"
        except TransitCardBlocked:
            return None, "card_blocked"
        except TransitRefused:
            return None, "refused"
        except TransitError as exc:
            logger.warning("Flow session %s: credit failed: %s", self.session.pk, type(exc).__name__)
            return None, "unavailable"
        return {"id": credit.id, "amount": credit.amount, "balance": credit.balance}, ""

    def integration(self, step: Mapping[str, Any], variables: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
        from flows.integrations import integration_call

        payload = {
            "flow": {"id": self.flow.pk, "name": self.flow.name, "version": self.session.version.number},
            "step": {"id": step.get("id"), "name": step.get("name")},
            "conversation": {"id": self.conversation.display_id},
            "contact": {
                "name": self.conversation.contact.name or self.conversation.contact.profile_name,
                "phone": self.conversation.contact.phone_e164,
            },
            "variables": {k: v for k, v in variables.items() if not k.startswith("_")},
        }
        secret = str(self._secrets().get("integration_secret", ""))
        if not secret:
            return None, "not_configured"  # nothing is sent unsigned
        result = integration_call(
            url=str(step.get("url", "")),
            secret=secret,
            payload=payload,
            delivery_id=f"{self.session.pk}-{step.get('id')}-{self.session.sent}",
        )
        if result.ok:
            return dict(result.data or {}), ""
        return None, result.error or "error"

    def payment_request(
        self, step: Mapping[str, Any], *, amount: int, description: str, method: str, minutes: int
    ) -> str:
        from payments.models import PaymentAccount
        from payments.orders import order_create
        from payments.requests import payment_request_create

        kinds = PIX_KINDS if method == "pix" else CARD_KINDS
        enabled = set(
            PaymentAccount.objects.filter(tenant_id=self.tenant.pk, enabled=True, kind__in=kinds).values_list(
                "kind", flat=True
            )
        )
        kind = next((k for k in kinds if k in enabled), None)
        if kind is None:
            return "method_unavailable"
        actor = flow_actor(self.flow, str(step.get("name", "")))
        try:
            with transaction.atomic():
                order = order_create(
                    actor=actor, conversation=self.conversation, amount=amount, description=description[:120]
                )
            self.session.order = order
            payment_request_create(actor=actor, order=order, kind=kind, minutes=minutes)
        except ReplyWindowClosed:
            return "window_closed"
        except ApplicationError as exc:
            logger.warning("Flow session %s: payment request refused: %s (%s)", self.session.pk, exc.message, exc.code)
            return exc.code or "refused"
        return ""

    def refund(self, reason: str) -> bool:
        from payments.refunds import order_refund_undelivered

        if self.session.order is None:
            return False
        try:
            refunds = order_refund_undelivered(actor=self.actor, order=self.session.order, reason=reason)
        except ApplicationError as exc:
            logger.warning("Flow session %s: refund refused: %s", self.session.pk, exc.message)
            return False
        return bool(refunds)

    def handover(self, team_id: int | None, collected: list[tuple[str, str]]) -> None:
        with translation.override(self.tenant.locale):
            lines = [_("The bot “%(flow)s” handed this conversation over.") % {"flow": self.flow.name}]
            if collected:
                lines.append(_("What the customer answered:"))
                lines.extend(f"• {name}: {value}" for name, value in collected)
            else:
                lines.append(_("The customer had not answered any question yet."))
            note_create(actor=self.actor, conversation=self.conversation, text="\n".join(lines))
        team = None
        chosen = team_id or self.flow.handover_team_id
        if chosen:
            team = Team.objects.filter(tenant_id=self.tenant.pk, pk=chosen).first()
        if team is not None and self.conversation.team_id != team.pk:
            conversation_team_set(actor=self.actor, conversation=self.conversation, team=team)
        self.conversation.refresh_from_db()
        if self.conversation.status != Conversation.Status.OPEN:
            conversation_status_set(actor=self.actor, conversation=self.conversation, status=Conversation.Status.OPEN)

    def csat(self) -> None:
        self.conversation.refresh_from_db()
        if self.conversation.status != Conversation.Status.RESOLVED:
            conversation_status_set(
                actor=self.actor, conversation=self.conversation, status=Conversation.Status.RESOLVED
            )


# --- state in and out ----------------------------------------------------------------------------------


def _state(session: FlowSession) -> engine.State:
    return engine.State(
        step=session.step, status=session.status, retries=session.retries, variables=dict(session.variables or {})
    )


def _store(session: FlowSession, state: engine.State, *, now: datetime) -> None:
    was_waiting = session.status == FlowSession.Status.WAITING
    session.step = state.step
    session.retries = state.retries
    session.variables = state.variables
    session.last_activity_at = now
    session.status = state.status
    if state.status == FlowSession.Status.WAITING and not was_waiting:
        session.wait_until = now + timedelta(minutes=state.wait_minutes)
        session.remind_at = now + timedelta(minutes=state.remind_minutes) if state.remind_minutes else None
    elif state.status != FlowSession.Status.WAITING:
        session.wait_until = None
        session.remind_at = None
    if not state.running and session.ended_at is None:
        session.ended_at = now
        session.ended_step = state.step
    session.save()
    FlowStepLog.objects.bulk_create(
        FlowStepLog(
            tenant_id=session.tenant_id,
            session=session,
            step=step[:40],
            step_name=name[:80],
            kind=kind[:20],
            value=value if isinstance(value, int | str | None) else str(value),
        )
        for step, name, kind, value in state.log
    )
    state.log.clear()


def _machine(session: FlowSession, conversation: Conversation) -> tuple[engine.Machine, SessionPorts]:
    ports = SessionPorts(session, conversation)
    return engine.Machine(session.version.definition, _state(session), ports), ports


def _history(session: FlowSession, conversation: Conversation, text: str) -> None:
    conversation_activity_record(actor=flow_actor(session.flow), conversation=conversation, text=text)


# --- starting --------------------------------------------------------------------------------------------


def session_start(
    *,
    flow: Flow,
    conversation: Conversation,
    trigger: str,
    variables: Mapping[str, Any] | None = None,
    message: Message | None = None,
    version: FlowVersion | None = None,
    source: Any = None,
) -> FlowSession | None:
    """Start ``flow`` (its published version, or ``version``: a draft tested in the simulator) in the conversation.
    None when a session already runs there. ``message`` is the customer message that started it (claimed)."""
    version = version or flow.published
    if version is None:
        return None
    now = timezone.now()
    contact = conversation.contact
    base = {
        "contact": {
            "name": contact.name or contact.profile_name,
            "first_name": (contact.name or contact.profile_name or "").split(" ")[0],
            "phone": contact.phone_e164,
        }
    }
    try:
        with transaction.atomic():
            session = FlowSession.objects.create(
                tenant_id=flow.tenant_id,
                flow=flow,
                version=version,
                conversation=conversation,
                contact_id=conversation.contact_id,
                trigger=trigger,
                source=source,
                started_at=now,
                last_activity_at=now,
                last_input_at=message.occurred_at if message is not None else None,
                variables={**base, **dict(variables or {})},
            )
            if message is not None:
                FlowInput.objects.create(
                    tenant_id=flow.tenant_id, session=session, message=message, step="", outcome="started"
                )
    except IntegrityError:
        return None
    sessions_seen(flow.tenant_id)
    with translation.override(conversation.tenant.locale):
        _history(
            session,
            conversation,
            _("Bot flow “%(flow)s” (version %(version)s) started.") % {"flow": flow.name, "version": version.number},
        )
    if conversation.status == Conversation.Status.OPEN and conversation.assignee_id is None:
        # The bot has it: auto-assignment leaves pending conversations alone until it hands over.
        conversation_status_set(actor=flow_actor(flow), conversation=conversation, status=Conversation.Status.PENDING)
        conversation.refresh_from_db()
    machine, _ports = _machine(session, conversation)
    _store(session, machine.start(), now=now)
    _ended_history(session, conversation)
    return session


def _ended_history(session: FlowSession, conversation: Conversation) -> None:
    if session.running:
        return
    texts: dict[str, str] = {
        FlowSession.Status.COMPLETED: _("Bot flow “%(flow)s” completed."),
        FlowSession.Status.HANDED_OVER: _("Bot flow “%(flow)s” handed the conversation over to the team."),
        FlowSession.Status.ABANDONED: _("Bot flow “%(flow)s” ended: the customer did not finish."),
        FlowSession.Status.FAILED: _("Bot flow “%(flow)s” stopped on an error at step %(step)s."),
    }
    text = texts.get(session.status)
    if text:
        with translation.override(conversation.tenant.locale):
            _history(session, conversation, text % {"flow": session.flow.name, "step": session.ended_step})


# --- triggers --------------------------------------------------------------------------------------------


def _text_of(message: Message) -> tuple[str, str]:
    """(text, chosen button or row id) of a customer message."""
    content = content_read(message.content)
    if isinstance(content, ReplyContent):
        return content.title or message.text, content.id
    return message.text or "", ""


def _first_inbound(message: Message) -> bool:
    first = (
        Message.objects.filter(conversation_id=message.conversation_id, direction=Message.Direction.INBOUND)
        .order_by("occurred_at", "pk")
        .values_list("pk", flat=True)
        .first()
    )
    return first == message.pk


def _trigger(flows: Sequence[Flow], message: Message, conversation: Conversation) -> tuple[Flow, str] | None:
    text, choice = _text_of(message)
    first: list[bool] = []
    closed: list[bool] = []

    def is_first() -> bool:
        if not first:
            first.append(_first_inbound(message))
        return first[0]

    def is_closed() -> bool:
        if not closed:
            closed.append(inbox_closed(conversation.inbox_id))
        return closed[0]

    for flow in flows:
        if flow.inbox_id not in (None, conversation.inbox_id):
            continue
        trigger = trigger_of(flow, text, choice, first=is_first, closed=is_closed)
        if trigger is not None:
            return flow, trigger
    return None


# --- the subscribers -------------------------------------------------------------------------------------


def message_received(event: events.MessageReceived) -> None:
    if not Flow.objects.filter(tenant_id=event.tenant_id).exists():
        return  # most workspaces: one statement (a session needs a flow)
    message = (
        Message.objects.select_related("conversation__tenant", "conversation__contact", "conversation__inbox")
        .filter(tenant_id=event.tenant_id, pk=event.message_id, direction=Message.Direction.INBOUND)
        .first()
    )
    if message is None:
        return
    input_take(message)


def _linked_flow(message: Message) -> tuple[Flow, Any] | None:
    """The flow bound to the wa.me link this message came through (its source just recorded), if any."""
    if not refs_in(message.text) and not message.referral:
        return None  # most messages: nothing to attribute, no query
    recorded = conversation_sources_record([message])
    source = recorded.get(message.conversation_id)
    link = getattr(source, "link", None)
    if link is None or link.flow_id is None:
        return None
    flow = Flow.objects.filter(pk=link.flow_id, enabled=True, published__isnull=False).first()
    return (flow, link) if flow is not None else None


def input_take(message: Message) -> str:
    """Run the step this customer message calls for; returns what became of it (for logs and tests)."""
    conversation = message.conversation
    with transaction.atomic():
        linked = _linked_flow(message)
        session = (
            FlowSession.objects.select_for_update()
            .select_related("flow", "version")
            .filter(conversation_id=conversation.pk, status__in=FlowSession.RUNNING)
            .first()
        )
        if session is None:
            return _maybe_start(message, conversation, linked)
        try:
            with transaction.atomic():
                claim = FlowInput.objects.create(
                    tenant_id=session.tenant_id, session=session, message=message, step=session.step, outcome="taken"
                )
        except IntegrityError:
            return "duplicate"
        if session.last_input_at is not None and message.occurred_at < session.last_input_at:
            claim.outcome = "late"
            claim.save(update_fields=["outcome"])
            return "late"
        session.last_input_at = message.occurred_at
        machine, _ports = _machine(session, conversation)
        text, choice = _text_of(message)
        now = timezone.now()
        if text and has_words(text, session.flow.handover_keywords or []):
            claim.outcome = "handover"
            state = machine.hand_over(text[:200])
        elif session.status == FlowSession.Status.WAITING:
            claim.outcome = "waiting"
            session.save(update_fields=["last_input_at", "updated_at"])
            claim.save(update_fields=["outcome"])
            return "waiting"
        else:
            state = machine.answer(engine.Input(text=text, choice_id=choice))
        claim.save(update_fields=["outcome"])
        _store(session, state, now=now)
        _ended_history(session, conversation)
        return claim.outcome


def _maybe_start(message: Message, conversation: Conversation, linked: tuple[Flow, Any] | None) -> str:
    if linked is not None:
        flow, link = linked
        started = session_start(
            flow=flow, conversation=conversation, trigger=FlowSession.Trigger.LINK, message=message, source=link
        )
        return "started" if started is not None else "not_started"
    flows = list(
        Flow.objects.filter(tenant_id=conversation.tenant_id, published__isnull=False).select_related("published")
    )
    armed = arming.armed_version(conversation.tenant_id, conversation.contact.phone_e164)
    if armed is not None:
        started = session_start(
            flow=armed.flow, conversation=conversation, trigger=FlowSession.Trigger.TEST, message=message, version=armed
        )
        return "started" if started is not None else "not_started"
    if conversation.assignee_id is not None:
        return "assigned"  # a person has the conversation: keywords do not start the bot
    flows = [flow for flow in flows if flow.enabled]
    if not flows:
        _release(message, conversation)
        return "no_flow"
    found = _trigger(flows, message, conversation)
    if found is None:
        _release(message, conversation)
        return "no_trigger"
    flow, trigger = found
    started = session_start(flow=flow, conversation=conversation, trigger=trigger, message=message)
    if started is None:
        _release(message, conversation)
    return "started" if started is not None else "not_started"


def _release(message: Message, conversation: Conversation) -> None:
    """A conversation opened pending for a bot (its first message matched a flow as it came in) that no flow took
    after all (turned off meanwhile): it goes to the agents, open."""
    if (
        conversation.status != Conversation.Status.PENDING
        or conversation.assignee_id is not None
        or FlowSession.objects.filter(conversation=conversation).exists()
        or not _first_inbound(message)
    ):
        return
    conversation_status_set(
        actor=SystemActor(tenant_id=conversation.tenant_id), conversation=conversation, status=Conversation.Status.OPEN
    )


def payment_confirmed(event: events.PaymentConfirmed) -> None:
    with transaction.atomic():
        session = (
            FlowSession.objects.select_for_update()
            .select_related("flow", "version", "conversation__tenant", "conversation__contact", "conversation__inbox")
            .filter(tenant_id=event.tenant_id, order_id=event.order_id)
            .order_by("-pk")
            .first()
        )
        if session is None:
            return
        conversation = session.conversation
        waited_at = str((session.variables or {}).get("_waiting_on", ""))
        gave_up = (FlowSession.Status.ABANDONED, FlowSession.Status.COMPLETED, FlowSession.Status.HANDED_OVER)
        if session.status in gave_up and waited_at:
            # Paid after the bot gave up waiting: it goes on all the same (the customer paid).
            if FlowSession.objects.filter(conversation=conversation, status__in=FlowSession.RUNNING).exists():
                logger.warning("Flow session %s: order %s paid late, another session runs", session.pk, event.order_id)
                return
            session.status = FlowSession.Status.WAITING
            session.step = waited_at
            session.ended_at = None
            session.ended_step = ""
        if session.status != FlowSession.Status.WAITING:
            return
        machine, _ports = _machine(session, conversation)
        state = machine.paid(engine.Paid(amount=event.amount, reference=event.reference))
        _store(session, state, now=timezone.now())
        _ended_history(session, conversation)


def agent_replied(event: events.MessageSent) -> None:
    if event.sender_type != Message.SenderType.AGENT:
        return
    with transaction.atomic():
        session = (
            FlowSession.objects.select_for_update()
            .select_related("flow")
            .filter(tenant_id=event.tenant_id, conversation_id=event.conversation_id, status__in=FlowSession.RUNNING)
            .first()
        )
        if session is None:
            return
        now = timezone.now()
        session.status = FlowSession.Status.STOPPED
        session.ended_at = now
        session.ended_step = session.step
        session.wait_until = session.remind_at = None
        session.save()
        FlowStepLog.objects.create(
            tenant_id=session.tenant_id, session=session, step=session.step, kind="stopped", value=None
        )
        conversation = Conversation.objects.select_related("tenant").get(pk=event.conversation_id)
        with translation.override(conversation.tenant.locale):
            _history(
                session,
                conversation,
                _("Bot flow “%(flow)s” stopped: an agent wrote in the conversation.") % {"flow": session.flow.name},
            )


# --- the sweeper ---------------------------------------------------------------------------------------


def sessions_sweep(*, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """End the sessions silent past their flow's timeout, give up payments past their expiry, send the
    payment reminders that are due."""
    now = now or timezone.now()
    counts = {"timed_out": 0, "expired": 0, "reminded": 0}
    # Which running sessions are due, read without a lock (each flow has its own silence timeout).
    silent = [
        pk
        for pk, at, minutes in FlowSession.objects.filter(status=FlowSession.Status.ACTIVE)
        .order_by("last_activity_at")
        .values_list("pk", "last_activity_at", "flow__timeout_minutes")
        if at <= now - timedelta(minutes=max(minutes, 1))
    ]
    waiting = FlowSession.objects.filter(
        Q(wait_until__lte=now) | Q(remind_at__lte=now), status=FlowSession.Status.WAITING
    ).values_list("pk", flat=True)
    candidates = (silent + list(waiting[:limit]))[: limit * 2]
    for pk in candidates:
        with transaction.atomic():
            session = (
                FlowSession.objects.select_for_update(skip_locked=True)
                .select_related(
                    "flow", "version", "conversation__tenant", "conversation__contact", "conversation__inbox"
                )
                .filter(pk=pk, status__in=FlowSession.RUNNING)
                .first()
            )
            if session is None:
                continue
            conversation = session.conversation
            if session.status == FlowSession.Status.ACTIVE:
                if session.last_activity_at > now - timedelta(minutes=max(session.flow.timeout_minutes, 1)):
                    continue
                ports = SessionPorts(session, conversation)
                if session.flow.timeout_message:
                    ports.send({"name": session.step}, engine.Outgoing(text=session.flow.timeout_message))
                session.status = FlowSession.Status.ABANDONED
                session.ended_at = now
                session.ended_step = session.step
                session.save()
                FlowStepLog.objects.create(
                    tenant_id=session.tenant_id, session=session, step=session.step, kind="timed_out", value=None
                )
                _ended_history(session, conversation)
                counts["timed_out"] += 1
                continue
            machine, _ports = _machine(session, conversation)
            if session.wait_until is not None and session.wait_until <= now:
                state = machine.payment_expired()
                counts["expired"] += 1
            else:
                state = machine.remind()
                session.remind_at = None
                counts["reminded"] += 1
            was_waiting = state.status == FlowSession.Status.WAITING
            _store(session, state, now=session.last_activity_at if was_waiting else now)
            _ended_history(session, conversation)
    return counts
