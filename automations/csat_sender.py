"""The satisfaction survey (CSAT) on WhatsApp: sent once per conversation, answered inside WhatsApp.

**Sending** (subscribers to the core's ``ConversationStatusChanged`` with ``change == "resolved"`` and
``ReplyWindowClosing``): for a resolved conversation of an inbox whose survey is on, one ``CsatSurvey`` row,
unique per conversation, is written in the transaction that queues the survey, so a repeated event, a job
run twice, or a resolve after a reopen sends nothing more (as the leading helpdesk does: one survey per
conversation). Inside the customer's reply window it is an interactive list of five ratings or three reply
buttons (``conversations.content.InteractiveContent``), in the contact's language; outside it, the inbox's
chosen approved template, else nothing and the survey is recorded "not sent: window closed". Each option's
id is ``csat:<survey id>:<rating>``. The conversation then waits for answers (``conversations.answers``):
the customer's answer is filed in it, which stays resolved, instead of a new conversation opening.

**Answering** (a subscriber to ``MessageReceived``): the customer's choice (a list or button reply, or a
template's quick-reply button) whose id names a survey of the same customer in the same inbox (never the id
alone: another conversation's or workspace's survey is ignored) is stored as the survey's one
``CsatResponse``; a second answer changes nothing. The thanks follow, with the comment prompt when the inbox
asks for one: the customer's next text within the inbox's minutes is the comment, then thanked.

Everything is sent through the core as ``AutomationActor(kind="csat")``, each step a line in the history.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from automations.csat import BUTTON_RATINGS, RATINGS, TEMPLATE_RATINGS, SurveyTexts, survey_texts, template_choices
from automations.models import CsatResponse, CsatSettings, CsatSurvey
from conversations import events
from conversations.actors import AutomationActor, actor_display_name
from conversations.content import Choice, InteractiveContent, ReplyContent, Section, content_read
from conversations.models import Conversation, ConversationLabel, Message
from conversations.services.actions import conversation_activity_record, conversation_answers_await
from conversations.services.inbound import InboundSpec
from conversations.services.outbound import OutboundSpec, ReplyWindowClosed, message_send, reply_window_closes_at
from helpdesk.exceptions import ApplicationError
from tenants.models import Tenant

logger = logging.getLogger(__name__)

KIND = "csat"
SUBSCRIBER_RESOLVED = "automations.csat.resolved"
SUBSCRIBER_WINDOW = "automations.csat.window_closing"
SUBSCRIBER_ANSWER = "automations.csat.answer"
KEEPER = "automations.csat"
# How long a resolved conversation takes the customer's answer to its survey instead of a new one opening.
ANSWER_DAYS = 7
COMMENT_MAX = 4096
ANSWER_ID = re.compile(r"csat:([1-9][0-9]{0,17}):([1-5])")

Status = CsatSurvey.Status
Trigger = CsatSurvey.Trigger
Style = CsatSettings.Style


def automation_actor(settings: CsatSettings) -> AutomationActor:
    """The automation as it acts and is named (in the active language: the workspace's while it runs)."""
    return AutomationActor(
        tenant_id=settings.tenant_id, automation_id=settings.pk, name=_("Satisfaction survey"), kind=KIND
    )


def answer_id(survey_id: int, rating: int) -> str:
    return f"csat:{survey_id}:{rating}"


# --- sending ---------------------------------------------------------------------------------------------


def conversation_resolved(event: events.ConversationStatusChanged) -> None:
    if event.change == "resolved":
        survey_send(tenant_id=event.tenant_id, conversation_id=event.conversation_id, trigger=Trigger.RESOLVED)


def reply_window_closing(event: events.ReplyWindowClosing) -> None:
    survey_send(tenant_id=event.tenant_id, conversation_id=event.conversation_id, trigger=Trigger.WINDOW_CLOSING)


def survey_send(*, tenant_id: int, conversation_id: int, trigger: str) -> CsatSurvey | None:
    """Send the conversation's survey if it is due; returns the survey recorded now (None: nothing done)."""
    conversation = (
        Conversation.objects.select_related("tenant", "inbox", "contact", "contact_inbox")
        .filter(tenant_id=tenant_id, pk=conversation_id, status=Conversation.Status.RESOLVED)
        .first()
    )
    if conversation is None:
        return None  # reopened (or gone) before the job ran
    settings = CsatSettings.objects.filter(tenant_id=tenant_id, inbox_id=conversation.inbox_id, enabled=True).first()
    if settings is None:
        return None
    wanted = settings.send_on_resolve if trigger == Trigger.RESOLVED else settings.send_before_window_closes
    if not wanted or CsatSurvey.objects.filter(tenant_id=tenant_id, conversation=conversation).exists():
        return None
    tenant = conversation.tenant
    with translation.override(tenant.locale):
        try:
            with transaction.atomic():
                return _survey_send(tenant, settings, conversation, trigger)
        except IntegrityError:
            logger.info("The survey of conversation %s was sent by another job", conversation.pk)
            return None


def _labels(conversation: Conversation) -> list[str]:
    return sorted(
        ConversationLabel.objects.filter(conversation=conversation).values_list("label__name", flat=True).distinct()
    )


def _survey_send(tenant: Tenant, settings: CsatSettings, conversation: Conversation, trigger: str) -> CsatSurvey:
    actor = automation_actor(settings)
    texts = survey_texts(tenant=tenant, inbox_id=conversation.inbox_id, contact=conversation.contact)
    # The claim first: its id is in the options, and a second job stops here.
    survey = CsatSurvey.objects.create(
        tenant_id=tenant.pk,
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        contact_inbox_id=conversation.contact_inbox_id,
        status=Status.SENT,
        trigger=trigger,
        style=settings.style,
        language=texts.language,
        assignee_id=conversation.assignee_id,
        team_id=conversation.team_id,
        labels=_labels(conversation),
    )
    who = actor_display_name(actor)
    closes_at = reply_window_closes_at(conversation)
    window_open = closes_at is None or timezone.now() < closes_at
    message = None
    if window_open:
        try:
            with transaction.atomic():
                message, _created = message_send(
                    actor=actor,
                    conversation=conversation,
                    spec=OutboundSpec(type=Message.Type.INTERACTIVE, content=_interactive_request(survey, texts)),
                    idempotency_key=f"csat-{survey.pk}",
                )
        except ReplyWindowClosed:
            window_open = False  # it closed between the look and the send
        except ApplicationError as exc:
            logger.warning("The survey of conversation %s was refused: %s (%s)", conversation.pk, exc.message, exc.code)
            return _not_sent(survey, actor, conversation, Status.FAILED, exc.message)
    if not window_open:
        if not settings.template_name:
            return _not_sent(survey, actor, conversation, Status.WINDOW_CLOSED, "")
        try:
            with transaction.atomic():
                message, _created = message_send(
                    actor=actor,
                    conversation=conversation,
                    spec=OutboundSpec(type=Message.Type.TEMPLATE, content=_template_request(settings, survey)),
                    idempotency_key=f"csat-{survey.pk}",
                )
        except ApplicationError as exc:
            logger.warning("The survey template of %s was refused: %s (%s)", conversation.pk, exc.message, exc.code)
            return _not_sent(survey, actor, conversation, Status.FAILED, exc.message)
        survey.status = Status.TEMPLATE
        line = _("Satisfaction survey sent by %(actor)s as the template “%(template)s”.") % {
            "actor": who,
            "template": settings.template_name,
        }
    else:
        line = _("Satisfaction survey sent by %(actor)s.") % {"actor": who}
    survey.message = message
    survey.save(update_fields=["status", "message", "updated_at"])
    conversation_activity_record(actor=actor, conversation=conversation, text=line)
    conversation_answers_await(conversation=conversation, until=timezone.now() + timedelta(days=ANSWER_DAYS))
    return survey


def _not_sent(
    survey: CsatSurvey, actor: AutomationActor, conversation: Conversation, status: str, reason: str
) -> CsatSurvey:
    survey.status = status
    survey.save(update_fields=["status", "updated_at"])
    who = actor_display_name(actor)
    if status == Status.WINDOW_CLOSED:
        line = _("No satisfaction survey sent by %(actor)s: the customer's reply window is closed.") % {"actor": who}
    else:
        line = _("No satisfaction survey sent by %(actor)s: %(reason)s") % {"actor": who, "reason": reason}
    conversation_activity_record(actor=actor, conversation=conversation, text=line)
    return survey


def survey_content(survey: CsatSurvey, texts: SurveyTexts) -> InteractiveContent:
    """The survey as the core's interactive content: five rows, or three reply buttons."""
    if survey.style == Style.BUTTONS:
        buttons = tuple(Choice(id=answer_id(survey.pk, rating), title=texts[part]) for part, rating in BUTTON_RATINGS)
        return InteractiveContent(style="button", body=texts["question"], buttons=buttons)
    rows = tuple(Choice(id=answer_id(survey.pk, rating), title=texts[f"rating_{rating}"]) for rating in RATINGS)
    return InteractiveContent(
        style="list", body=texts["question"], list_button=texts["list_button"], sections=(Section(rows=rows),)
    )


def _interactive_request(survey: CsatSurvey, texts: SurveyTexts) -> dict[str, Any]:
    """The content as a send request takes it (the channel checks WhatsApp's limits on it)."""
    content = survey_content(survey, texts)
    if content.style == "button":
        return {
            "interactive_type": "button",
            "body": content.body,
            "buttons": [{"id": b.id, "title": b.title} for b in content.buttons],
        }
    return {
        "interactive_type": "list",
        "body": content.body,
        "button": content.list_button,
        "sections": [
            {"rows": [{"id": row.id, "title": row.title} for row in section.rows]} for section in content.sections
        ],
    }


def _template_request(settings: CsatSettings, survey: CsatSurvey) -> dict[str, Any]:
    template = next(
        (
            t
            for t in template_choices(settings.inbox)
            if (t["name"], t["language"]) == (settings.template_name, settings.template_language)
        ),
        None,
    )
    buttons = template.get("buttons", []) if template is not None else []
    ratings = TEMPLATE_RATINGS.get(len(buttons), ())
    payloads = {button["index"]: answer_id(survey.pk, rating) for button, rating in zip(buttons, ratings, strict=False)}
    params: dict[str, Any] = {"buttons": payloads} if payloads else {}
    return {"name": settings.template_name, "language": settings.template_language, "params": params}


# --- answers -------------------------------------------------------------------------------------------


def _offered(survey: CsatSurvey, rating: int) -> bool:
    """Whether the survey as sent offered ``rating`` (a forged id naming another is ignored)."""
    if survey.status == Status.TEMPLATE:
        return any(rating in ratings for ratings in TEMPLATE_RATINGS.values())
    if survey.style == Style.BUTTONS:
        return rating in dict(BUTTON_RATINGS).values()
    return rating in RATINGS


def answer_keep(conversation: Conversation, spec: InboundSpec) -> bool:
    """The answer keeper (``conversations.answers``): a choice naming this conversation's survey, or the
    comment the survey's rating asked for, stays in the resolved conversation."""
    content = spec.content if isinstance(spec.content, dict) else {}
    if content.get("kind") == ReplyContent.kind:
        match = ANSWER_ID.fullmatch(str(content.get("id", "")))
        return match is not None and (
            CsatSurvey.objects.filter(tenant_id=conversation.tenant_id, pk=int(match[1]), conversation=conversation)
            .exclude(status__in=(Status.WINDOW_CLOSED, Status.FAILED))
            .exists()
        )
    if spec.type == Message.Type.TEXT:
        return CsatResponse.objects.filter(
            tenant_id=conversation.tenant_id, conversation=conversation, comment="", comment_until__gte=spec.occurred_at
        ).exists()
    return False


# The kinds of customer message that can answer a survey: a choice (list, buttons, a template's button), a comment.
ANSWER_TYPES = frozenset({Message.Type.INTERACTIVE, Message.Type.BUTTON, Message.Type.TEXT})


def messages_received(received: Sequence[events.MessageReceived]) -> None:
    """A delivery job's customer messages (``events.subscribe_many``). A button or list reply may answer a
    survey; a text only in a resolved conversation (the comment after a rating, kept there by
    ``answer_keep``): the texts of open conversations, most messages, are settled in one read."""
    answers = [e for e in received if e.message_type in ANSWER_TYPES]
    texts = {e.conversation_id for e in answers if e.message_type == Message.Type.TEXT}
    resolved = set(
        Conversation.objects.filter(pk__in=texts, status=Conversation.Status.RESOLVED).values_list("pk", flat=True)
    )
    for event in answers:
        if event.message_type != Message.Type.TEXT or event.conversation_id in resolved:
            answer_record(tenant_id=event.tenant_id, message_id=event.message_id)


def answer_record(*, tenant_id: int, message_id: int) -> CsatResponse | None:
    """Store what the customer's message answers (a rating or a comment); the response changed, or None."""
    message = (
        Message.objects.select_related("conversation__tenant", "conversation__contact", "conversation__inbox")
        .filter(tenant_id=tenant_id, pk=message_id, direction=Message.Direction.INBOUND)
        .first()
    )
    if message is None:
        return None
    content = content_read(message.content)
    if isinstance(content, ReplyContent):
        match = ANSWER_ID.fullmatch(content.id)
        if match is None:
            return None
        with translation.override(message.conversation.tenant.locale):
            return _rating_record(message, survey_id=int(match[1]), rating=int(match[2]))
    if message.type == Message.Type.TEXT and message.conversation.status == Conversation.Status.RESOLVED:
        with translation.override(message.conversation.tenant.locale):
            return _comment_record(message)
    return None


def _rating_record(message: Message, *, survey_id: int, rating: int) -> CsatResponse | None:
    conversation = message.conversation
    # The survey must be this customer's in this inbox (the same workspace, contact and inbox), sent, and
    # its conversation this one or an earlier one of theirs: never the id alone.
    survey = (
        CsatSurvey.objects.select_related("conversation")
        .filter(
            tenant_id=message.tenant_id,
            pk=survey_id,
            contact_inbox_id=conversation.contact_inbox_id,
            conversation_id__lte=conversation.pk,
            status__in=(Status.SENT, Status.TEMPLATE),
        )
        .first()
    )
    if survey is None or not _offered(survey, rating):
        logger.info("Answer %s names no survey of its customer: ignored", message.pk)
        return None
    settings = CsatSettings.objects.filter(tenant_id=message.tenant_id, inbox_id=survey.inbox_id).first()
    same = survey.conversation_id == conversation.pk
    # The comment is asked for only in the survey's own conversation (elsewhere an agent is talking).
    ask = bool(settings is not None and settings.ask_comment and same)
    now = timezone.now()
    try:
        with transaction.atomic():
            response = CsatResponse.objects.create(
                tenant_id=message.tenant_id,
                survey=survey,
                conversation_id=survey.conversation_id,
                inbox_id=survey.inbox_id,
                assignee_id=survey.assignee_id,
                team_id=survey.team_id,
                labels=survey.labels,
                rating=rating,
                responded_at=message.occurred_at,
                message=message,
                comment_until=now + timedelta(minutes=settings.comment_minutes) if ask and settings else None,
            )
            if settings is not None:
                actor = automation_actor(settings)
                conversation_activity_record(
                    actor=actor,
                    conversation=conversation,
                    text=_("Satisfaction rating %(rating)s of 5 received by %(actor)s.")
                    % {"rating": rating, "actor": actor_display_name(actor)},
                )
                texts = survey_texts(tenant=conversation.tenant, inbox_id=survey.inbox_id, contact=conversation.contact)
                reply = f"{texts['thanks']}\n\n{texts['comment_prompt']}" if ask else texts["thanks"]
                _say(actor, conversation, reply, key=f"csat-{survey.pk}-thanks")
            # A comment may come after the survey's own wait for answers: the conversation waits for it too.
            waits = conversation.answers_until
            if same and response.comment_until and (waits is None or waits < response.comment_until):
                conversation_answers_await(conversation=conversation, until=response.comment_until)
    except IntegrityError:
        logger.info("Survey %s was answered already: the answer %s changes nothing", survey.pk, message.pk)
        return None
    return response


def _comment_record(message: Message) -> CsatResponse | None:
    conversation = message.conversation
    with transaction.atomic():
        response = (
            CsatResponse.objects.select_for_update(no_key=True)
            .filter(
                tenant_id=message.tenant_id,
                conversation=conversation,
                comment="",
                comment_until__gte=message.occurred_at,
            )
            .first()
        )
        body = message.text.strip()[:COMMENT_MAX]
        if response is None or not body:
            return None
        response.comment = body
        response.comment_until = None
        response.save(update_fields=["comment", "comment_until", "updated_at"])
        settings = CsatSettings.objects.filter(tenant_id=message.tenant_id, inbox_id=response.inbox_id).first()
        if settings is not None:
            actor = automation_actor(settings)
            conversation_activity_record(
                actor=actor,
                conversation=conversation,
                text=_("Satisfaction comment received by %(actor)s.") % {"actor": actor_display_name(actor)},
            )
            texts = survey_texts(tenant=conversation.tenant, inbox_id=response.inbox_id, contact=conversation.contact)
            _say(actor, conversation, texts["comment_thanks"], key=f"csat-{response.survey_id}-comment")
    return response


def _say(actor: AutomationActor, conversation: Conversation, text: str, *, key: str) -> None:
    """A text to the customer, who just wrote (the window is open); a refusal is logged, never fatal."""
    try:
        with transaction.atomic():
            message_send(
                actor=actor,
                conversation=conversation,
                spec=OutboundSpec(type=Message.Type.TEXT, text=text),
                idempotency_key=key,
            )
    except ApplicationError as exc:
        logger.warning("CSAT message to conversation %s not sent: %s (%s)", conversation.pk, exc.message, exc.code)
