"""The agent inbox: one page, and the fragments and actions its script asks for.

The page is server-rendered; the script fetches rendered fragments (list rows, messages, the
conversation pane) as JSON-wrapped HTML. Real-time events are only hints: the script always reads
the server's state by cursor, so a lost event or a reconnect never loses a message.
"""

from __future__ import annotations

import json
import mimetypes
import os
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import get_template, render_to_string
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from conversations import channels, extensions, selectors
from conversations.media import upload_kind
from conversations.models import Contact, Conversation, Label, Message
from conversations.product_picker import catalog_notice, picker_products, picker_spec, products_offered
from conversations.services import actions
from conversations.services.contacts import contact_update
from conversations.services.events import live_variant, row_window
from conversations.services.outbound import (
    OutboundSpec,
    message_react,
    message_send,
    note_create,
)
from conversations.services.variables import text_fill, text_variables
from helpdesk.exceptions import ApplicationError, NotFound, ValidationFailed, error_body
from helpdesk.ids import parse_id
from tenants.models import Membership
from tenants.permissions import Perm
from tenants.templatetags.dates import local_day


def json_fragment(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    """Application errors become ``{"error": {...}}`` with their status, never a 500 or an HTML page."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        try:
            return view(request, *args, **kwargs)
        except ApplicationError as exc:
            return JsonResponse(error_body(exc.code, exc.message, exc.details), status=exc.status_code)

    return wrapped


def _membership(request: HttpRequest) -> Membership:
    return request.membership  # type: ignore[attr-defined,no-any-return]


def _row_context(request: HttpRequest, rows: list[Conversation]) -> dict[str, Any]:
    now = timezone.now()
    return {
        "rows": [(c, row_window(c, now)) for c in rows],
        "current_tenant": request.tenant,  # type: ignore[attr-defined]
        "now": now,
    }


def _jinja(name: str, context: dict[str, Any]) -> SafeString:
    """A hot inbox fragment rendered by Jinja2 (several times cheaper than a Django template)."""
    return mark_safe(get_template(name, using="jinja2").render(context))  # noqa: S308 - autoescaped


def _counts(membership: Membership) -> dict[str, Any]:
    """The tab badges, and when they were read: the page skips the count changes of live events built
    before that moment (already in them)."""
    counts_at = timezone.now().timestamp()
    return {"counts": selectors.conversation_tab_counts(membership=membership), "counts_at": counts_at}


def _hidden_response(membership: Membership, pk: int, display_id: int) -> JsonResponse:
    """A conversation now out of the member's sight: the page drops it and its row, and sets the tab
    counts from this answer."""
    return JsonResponse({"hidden": True, "conversation": {"id": pk, "display_id": display_id}, **_counts(membership)})


def _rows_html(request: HttpRequest, rows: list[Conversation], context: dict[str, Any] | None = None) -> SafeString:
    return _jinja("conversations/list_rows.html", context or _row_context(request, rows))


def _filters(request: HttpRequest) -> selectors.ConversationFilters:
    return selectors.ConversationFilters.from_query(request.GET.dict())


def _conversation(request: HttpRequest, display_id: int) -> Conversation:
    return selectors.conversation_get(membership=_membership(request), display_id=display_id)


def _history_page(
    conversation: Conversation, *, before_id: int | None = None
) -> tuple[list[Message], bool, str | None]:
    """A page of the history back from ``before_id`` (or the newest), whether older messages remain,
    and the day of the message just before the page (its first day separator depends on it). That
    message comes with the page's own query: one row more, then set aside."""
    rows, _more = selectors.message_page(
        conversation=conversation, before_id=before_id, limit=selectors.MESSAGE_PAGE + 1
    )
    if len(rows) <= selectors.MESSAGE_PAGE:
        return rows, False, None
    return rows[1:], True, local_day(rows[0].occurred_at)


def _day_of(conversation: Conversation, message_id: int) -> str | None:
    """The day of one of the conversation's messages (``None`` if it has no such message)."""
    moment = (
        Message.objects.filter(tenant_id=conversation.tenant_id, conversation=conversation, pk=message_id)
        .values_list("occurred_at", flat=True)
        .first()
    )
    return local_day(moment) if moment is not None else None


def _messages_html(
    request: HttpRequest,
    messages: list[Message],
    conversation: Conversation | None = None,
    previous_day: str | None = None,
) -> SafeString:
    """Message bubbles; the pane's ``conversation`` saves a contact query per inbound message.
    ``previous_day`` places the first day separator of a page (``None``: the history starts here)."""
    can_reply = _membership(request).has_perm(Perm.REPLY)
    context = {
        "messages": messages,
        "previous_day": previous_day,
        "conversation": conversation,
        "current_tenant": request.tenant,  # type: ignore[attr-defined]
        "can_reply": can_reply,
        "can_retry": can_reply,
    }
    return _jinja("conversations/message.html", context)


def _header_context(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    membership = _membership(request)
    now = timezone.now()
    labels = selectors.labels_for_conversation(conversation=conversation)
    conversation_labels = [lb for lb in labels if getattr(lb, "on_conversation", False)]
    return {
        "conversation": conversation,
        "window": row_window(conversation, now),
        "labels": labels,
        "conversation_label_ids": {lb.pk for lb in conversation_labels},
        "conversation_labels": conversation_labels,
        "assignable": selectors.assignable_members(conversation=conversation),
        "teams": list(selectors.team_list(tenant=conversation.tenant_id)),
        "statuses": Conversation.Status.choices,
        "priorities": Conversation.Priority.choices,
        "can_reply": membership.has_perm(Perm.REPLY),
        "can_send_templates": membership.has_perm(Perm.SEND_TEMPLATES),
        "can_send_products": membership.has_perm(Perm.REPLY) and products_offered(conversation),
        "current_tenant": membership.tenant,
        "now": now,
    }


def _pane_context(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    messages, more, previous_day = _history_page(conversation)
    return {
        **_header_context(request, conversation),
        "messages": messages,
        "messages_html": _messages_html(request, messages, conversation, previous_day),
        "more_before": more,
        "composer_actions": extensions.composer_actions(request, conversation),
    }


def _sidebar_context(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    membership = _membership(request)
    contact = conversation.contact
    history = list(
        selectors.contact_conversations(membership=membership, contact=contact).exclude(pk=conversation.pk)[:10]
    )
    notes = list(
        Message.objects.filter(
            tenant_id=membership.tenant_id,
            conversation__in=selectors.contact_conversations(membership=membership, contact=contact),
            private=True,
            sender_type=Message.SenderType.AGENT,
        )
        .select_related("sender_user", "conversation")
        .order_by("-id")[:10]
    )
    labels = selectors.labels_for_conversation(conversation=conversation)
    return {
        "conversation": conversation,
        "contact": contact,
        "identities": selectors.contact_identities(contact=contact),
        "contact_label_ids": {lb.pk for lb in labels if getattr(lb, "on_contact", False)},
        "labels": labels,
        "history": history,
        "notes": notes,
        "can_manage_contacts": membership.has_perm(Perm.MANAGE_CONTACTS),
        "current_tenant": membership.tenant,
        "sections": extensions.contact_sections(request, conversation),
    }


def _conversation_state(conversation: Conversation, window: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "display_id": conversation.display_id,
        "status": conversation.status,
        "assignee_id": conversation.assignee_id,
        "team_id": conversation.team_id,
        "priority": conversation.priority,
        "window_open": window["open"],
        "window_closes_at": window["closes_at"].isoformat() if window["closes_at"] else None,
        "contact_name": conversation.contact.display_name,
    }


# --- the page -----------------------------------------------------------------------------------------


@require_GET
def inbox(request: HttpRequest, tenant_slug: str, display_id: int | None = None) -> HttpResponse:
    membership = _membership(request)
    try:
        filters = _filters(request)
    except ValidationFailed:
        filters = selectors.ConversationFilters()
    rows, next_cursor = selectors.conversation_inbox_page(membership=membership, filters=filters)
    conversation = _conversation(request, display_id) if display_id is not None else None
    row_context = _row_context(request, rows)
    context: dict[str, Any] = {
        **row_context,
        "rows_html": _rows_html(request, rows, row_context),
        "filters": filters,
        "next_cursor": next_cursor,
        "counts": selectors.conversation_tab_counts(membership=membership),
        "notifications_unread": selectors.notification_unread_count(membership=membership),
        "inboxes": selectors.inboxes_for(membership=membership),
        "labels": list(selectors.label_list(tenant=membership.tenant_id)),
        "teams": list(selectors.team_list(tenant=membership.tenant_id)),
        "members": list(
            Membership.objects.filter(tenant_id=membership.tenant_id, active=True)
            .select_related("user")
            .order_by("user__name", "user__email")
        ),
        "statuses": Conversation.Status.choices,
        "can_view_all": membership.has_perm(Perm.VIEW_ALL_CONVERSATIONS),
        "can_view_unassigned": membership.has_perm(Perm.VIEW_UNASSIGNED),
        "me": membership,
        "can_reply": membership.has_perm(Perm.REPLY),
        # Live events carry rows and messages rendered per time zone: the page picks its own.
        "live_variant": live_variant(timezone.get_current_timezone_name(), translation.get_language()),
        "open_conversation": conversation,
        "sla_soon_minutes": settings.SLA_BREACHING_SOON_MINUTES,
    }
    if conversation is not None:
        context["pane"] = _pane_context(request, conversation)
        context["sidebar"] = _sidebar_context(request, conversation)
    return render(request, "conversations/inbox.html", context)


@require_GET
@json_fragment
def inbox_list(request: HttpRequest, tenant_slug: str) -> JsonResponse:
    membership = _membership(request)
    cursor = request.GET.get("cursor") or None
    rows, next_cursor = selectors.conversation_inbox_page(
        membership=membership, filters=_filters(request), cursor=cursor
    )
    data: dict[str, Any] = {"html": _rows_html(request, rows), "ids": [c.pk for c in rows], "next": next_cursor}
    if cursor is None:  # the tab badges come with the first page; scrolling further does not change them
        data.update(_counts(membership))
    return JsonResponse(data)


@require_GET
@json_fragment
def inbox_rows(request: HttpRequest, tenant_slug: str) -> JsonResponse:
    """Re-render the given rows (after a live event). Ids no longer visible come back in ``missing``."""
    raw = request.GET.get("ids", "")
    ids = [parse_id(x, name="ids") for x in raw.split(",") if x.strip()][:100]
    membership = _membership(request)
    rows = selectors.conversation_rows(membership=membership, ids=ids, filters=_filters(request))
    found = {c.pk for c in rows}
    return JsonResponse(
        {
            "rows": {c.pk: _rows_html(request, [c]) for c in rows},
            "missing": [i for i in ids if i not in found],
            **_counts(membership),
        }
    )


@require_GET
@json_fragment
def conversation_pane(request: HttpRequest, tenant_slug: str, display_id: int) -> JsonResponse:
    conversation = _conversation(request, display_id)
    pane = _pane_context(request, conversation)
    # The contact sidebar is its own request (``inbox_sidebar``), fetched beside this one.
    return JsonResponse(
        {
            "html": render_to_string("conversations/_pane.html", pane, request=request),
            "conversation": _conversation_state(conversation, pane["window"]),
            "message_ids": [m.pk for m in pane["messages"]],
        }
    )


@require_GET
@json_fragment
def conversation_messages(request: HttpRequest, tenant_slug: str, display_id: int) -> JsonResponse:
    conversation = _conversation(request, display_id)

    def as_id(name: str) -> int | None:
        raw = request.GET.get(name)
        if raw is None or raw == "":
            return None
        return parse_id(raw, name=name)

    ids_raw = request.GET.get("ids")
    ids = None
    if ids_raw:
        ids = [parse_id(x, name="ids") for x in ids_raw.split(",") if x.strip()]
    after_id = as_id("after")
    previous_day = None
    if ids is None and after_id is None:
        messages, more, previous_day = _history_page(conversation, before_id=as_id("before"))
    else:
        messages, more = selectors.message_page(conversation=conversation, after_id=after_id, ids=ids)
        if after_id is not None and ids is None and messages:
            # Catching up: the page follows the reader's newest message, so it continues that one's day.
            previous_day = _day_of(conversation, after_id)
    window = row_window(conversation, timezone.now())
    return JsonResponse(
        {
            "html": _messages_html(request, messages, conversation, previous_day),
            "ids": [m.pk for m in messages],
            "more": more,
            "conversation": _conversation_state(conversation, window),
        }
    )


@require_GET
@json_fragment
def conversation_sidebar(request: HttpRequest, tenant_slug: str, display_id: int) -> JsonResponse:
    conversation = _conversation(request, display_id)
    html = render_to_string("conversations/_sidebar.html", _sidebar_context(request, conversation), request=request)
    return JsonResponse({"html": html})


# --- composing --------------------------------------------------------------------------------------


def _sent_response(request: HttpRequest, conversation: Conversation, message: Message, created: bool) -> JsonResponse:
    [message], _more = selectors.message_page(conversation=conversation, ids=[message.pk])
    return JsonResponse(
        {"id": message.pk, "created": created, "html": _messages_html(request, [message], conversation)},
        status=201 if created else 200,
    )


def _quick_reply_file(membership: Membership, conversation: Conversation, quick_reply_id: int) -> Any:
    """A copy of a quick reply's file for sending (the message keeps its own copy)."""
    reply = (
        selectors.quick_reply_list(membership=membership, inbox=conversation.inbox).filter(pk=quick_reply_id).first()
    )
    if reply is None:
        raise NotFound(_("No such quick reply."))
    if not reply.attachment:
        return None
    name = os.path.basename(reply.attachment.name or "file")
    with reply.attachment.open("rb") as handle:
        content = handle.read()
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return SimpleUploadedFile(name, content, content_type=content_type)


@require_POST
@json_fragment
def conversation_send(request: HttpRequest, tenant_slug: str, display_id: int) -> JsonResponse:
    membership = _membership(request)
    conversation = _conversation(request, display_id)
    text = request.POST.get("text", "")
    upload = request.FILES.get("file")
    if upload is None and request.POST.get("quick_reply", "").isdigit():
        upload = _quick_reply_file(membership, conversation, parse_id(request.POST["quick_reply"], name="quick_reply"))
    reply_to = None
    if raw_reply_to := request.POST.get("reply_to", ""):
        # Not a number: it names no message of this conversation, the same 404 as an unknown id.
        digits = raw_reply_to.isascii() and raw_reply_to.isdigit()
        reply_to_id = parse_id(raw_reply_to, name="reply_to") if digits else None
        reply_to = selectors.reply_to_get(conversation=conversation, message_id=reply_to_id)
    if request.POST.get("products_kind"):
        spec = picker_spec(request, conversation, request.POST)
    elif request.POST.get("template"):
        try:
            params = json.loads(request.POST.get("params") or "{}")
        except json.JSONDecodeError:
            raise ValidationFailed(_("The template's values could not be read.")) from None
        spec = OutboundSpec(
            type=Message.Type.TEMPLATE,
            content={"name": request.POST["template"], "language": request.POST.get("language", ""), "params": params},
        )
    elif upload is not None:
        spec = OutboundSpec(
            type=upload_kind(upload.content_type or ""), text=text.strip(), upload=upload, reply_to=reply_to
        )
    else:
        if not text.strip():
            raise ValidationFailed(_("Write a message first."))
        if len(text) > 4096:
            raise ValidationFailed(_("A message can be 4096 characters long at most."))
        spec = OutboundSpec(type=Message.Type.TEXT, text=text, reply_to=reply_to)
    message, created = message_send(
        actor=membership,
        conversation=conversation,
        spec=spec,
        idempotency_key=request.POST.get("idempotency_key") or None,
    )
    return _sent_response(request, conversation, message, created)


@require_POST
@json_fragment
def conversation_note(request: HttpRequest, tenant_slug: str, display_id: int) -> JsonResponse:
    membership = _membership(request)
    conversation = _conversation(request, display_id)
    mentions = [int(x) for x in request.POST.getlist("mention") if x.isdigit()]
    message = note_create(
        actor=membership, conversation=conversation, text=request.POST.get("text", ""), mention_user_ids=mentions
    )
    return _sent_response(request, conversation, message, True)


@require_POST
@json_fragment
def message_reaction(request: HttpRequest, tenant_slug: str, display_id: int, message_id: int) -> JsonResponse:
    membership = _membership(request)
    conversation = _conversation(request, display_id)
    target = Message.objects.filter(tenant_id=membership.tenant_id, conversation=conversation, pk=message_id).first()
    if target is None:
        raise NotFound(_("No such message in this conversation."))
    message_react(membership=membership, message=target, emoji=request.POST.get("emoji", ""))
    messages, _more = selectors.message_page(conversation=conversation, ids=[target.pk])
    return JsonResponse({"id": target.pk, "html": _messages_html(request, messages, conversation)})


@require_GET
@json_fragment
def conversation_quick_replies(request: HttpRequest, tenant_slug: str, display_id: int) -> JsonResponse:
    """The quick replies usable here, variables already filled in for this conversation."""
    membership = _membership(request)
    conversation = _conversation(request, display_id)
    values = text_variables(conversation=conversation, workspace=membership.tenant, agent=membership.user)
    items = []
    for reply in selectors.quick_reply_list(membership=membership, inbox=conversation.inbox):
        items.append(
            {
                "id": reply.pk,
                "shortcut": reply.shortcut,
                "text": text_fill(reply.text, values),
                "scope": reply.scope,
                "has_file": bool(reply.attachment),
            }
        )
    return JsonResponse({"quick_replies": items})


@require_GET
@json_fragment
def conversation_templates(request: HttpRequest, tenant_slug: str, display_id: int) -> JsonResponse:
    conversation = _conversation(request, display_id)
    templates = channels.backend_for(conversation.inbox).templates_for(conversation.inbox)
    if conversation.contact.marketing_consent != Contact.MarketingConsent.OPTED_IN:
        # Shown, but not offered: the sender refuses a marketing template to a contact without an opt-in.
        reason = _("%(contact)s has not agreed to receive marketing messages.") % {
            "contact": conversation.contact.display_name
        }
        templates = [{**t, "unavailable": reason} if t.get("category") == "MARKETING" else t for t in templates]
    return JsonResponse({"templates": templates})


@require_GET
@json_fragment
def conversation_products(request: HttpRequest, tenant_slug: str, display_id: int) -> JsonResponse:
    """The products the member may send here (the composer's picker), searched by name or SKU with ``q``."""
    conversation = _conversation(request, display_id)
    products = picker_products(request, conversation, request.GET.get("q", ""))
    return JsonResponse({"products": products, "notice": catalog_notice(conversation)})


@require_GET
@json_fragment
def mention_candidates(request: HttpRequest, tenant_slug: str, display_id: int) -> JsonResponse:
    """Members who can see this conversation (the only ones a note can notify)."""
    conversation = _conversation(request, display_id)
    audience = selectors.conversation_audience(conversation=conversation)
    users = get_user_model().objects.filter(pk__in=audience).order_by("name", "email")
    return JsonResponse({"members": [{"id": u.pk, "name": u.display_name, "email": u.email} for u in users]})


# --- actions ----------------------------------------------------------------------------------------


def _header_response(request: HttpRequest, conversation: Conversation) -> JsonResponse:
    conversation = _conversation(request, conversation.display_id)
    header = _header_context(request, conversation)
    return JsonResponse(
        {
            "header": render_to_string("conversations/_pane_header.html", header, request=request),
            "conversation": _conversation_state(conversation, header["window"]),
        }
    )


@require_GET
@json_fragment
def conversation_header(request: HttpRequest, tenant_slug: str, display_id: int) -> JsonResponse:
    """The pane's header alone (status, assignee, labels, window), after a live change.

    A conversation of the workspace that the member no longer sees (assigned away while the request
    was on its way) answers as the assign action does, ``{"hidden": true}``: the page closes it with
    the same toast as on the live event. Any other id is a 404."""
    membership = _membership(request)
    try:
        return _header_response(request, _conversation(request, display_id))
    except Http404:
        gone = (
            Conversation.objects.filter(tenant_id=membership.tenant_id, display_id=display_id)
            .values("pk", "display_id")
            .first()
        )
        if gone is None:
            raise
        return _hidden_response(membership, gone["pk"], gone["display_id"])


def _posted_labels(request: HttpRequest, name: str) -> list[Label]:
    """The workspace's labels whose ids were posted as ``name``; an unknown id is an error, not ignored."""
    raw = request.POST.getlist(name)
    if any(not (x.isascii() and x.isdigit()) for x in raw):
        raise ValidationFailed(_("Unknown label."))
    ids = [parse_id(x, name=name) for x in raw]
    return selectors.labels_from_ids(tenant=_membership(request).tenant_id, ids=ids, field=name)


@require_POST
@json_fragment
def conversation_action(request: HttpRequest, tenant_slug: str, display_id: int, action: str) -> JsonResponse:
    membership = _membership(request)
    conversation = _conversation(request, display_id)
    if action == "assign":
        raw = request.POST.get("assignee", "")
        assignee = None
        if raw == "me":
            assignee = membership.user
        elif raw:
            if not raw.isdigit():
                raise ValidationFailed(_("Choose someone to assign."))
            assignee = selectors.assignee_get(
                tenant=membership.tenant_id, user_id=parse_id(raw, name="assignee"), field="assignee"
            )
        actions.conversation_assign(actor=membership, conversation=conversation, assignee=assignee)
        if not selectors.conversation_is_visible(membership=membership, conversation=conversation):
            return _hidden_response(membership, conversation.pk, conversation.display_id)
    elif action == "team":
        raw = request.POST.get("team", "")
        team = None
        if raw:
            if not (raw.isascii() and raw.isdigit()):
                raise ValidationFailed(_("Unknown team."))
            team = selectors.team_for_field(
                tenant=membership.tenant_id, team_id=parse_id(raw, name="team"), field="team"
            )
        actions.conversation_team_set(actor=membership, conversation=conversation, team=team)
        if not selectors.conversation_is_visible(membership=membership, conversation=conversation):
            return _hidden_response(membership, conversation.pk, conversation.display_id)
    elif action == "status":
        until = None
        if request.POST.get("snoozed_until"):
            until = parse_datetime(request.POST["snoozed_until"])
            if until is None:
                raise ValidationFailed(_("The snooze time could not be read."))
            if timezone.is_naive(until):
                until = timezone.make_aware(until)
        actions.conversation_status_set(
            actor=membership, conversation=conversation, status=request.POST.get("status", ""), snoozed_until=until
        )
    elif action == "mute":
        muted = request.POST.get("muted", "")
        if muted not in ("0", "1"):
            raise ValidationFailed(_("Say whether to mute the conversation."))
        actions.conversation_mute_set(actor=membership, conversation=conversation, muted=muted == "1")
    elif action == "priority":
        actions.conversation_priority_set(
            actor=membership, conversation=conversation, priority=request.POST.get("priority", "")
        )
    elif action == "labels":
        actions.conversation_labels_change(
            actor=membership,
            conversation=conversation,
            add=_posted_labels(request, "add"),
            remove=_posted_labels(request, "remove"),
        )
    elif action == "read":
        actions.conversation_mark_read(membership=membership, conversation=conversation)
        return JsonResponse({"ok": True})
    else:
        raise NotFound(_("Unknown action."))
    return _header_response(request, conversation)


@require_POST
@json_fragment
def contact_edit(request: HttpRequest, tenant_slug: str, display_id: int) -> JsonResponse:
    membership = _membership(request)
    conversation = _conversation(request, display_id)
    keys = request.POST.getlist("attr_key")
    values = request.POST.getlist("attr_value")
    attributes = {k.strip(): v for k, v in zip(keys, values, strict=False) if k.strip()}
    contact_labels = _posted_labels(request, "label")
    contact: Contact = conversation.contact
    contact_update(
        actor=membership,
        contact=contact,
        name=request.POST.get("name", contact.name),
        phone=request.POST.get("phone", contact.phone_e164),
        custom_attributes=attributes,
        labels=contact_labels,
    )
    conversation = _conversation(request, display_id)
    html = render_to_string("conversations/_sidebar.html", _sidebar_context(request, conversation), request=request)
    return JsonResponse({"html": html, "saved": True})


@require_GET
@json_fragment
def notifications(request: HttpRequest, tenant_slug: str) -> JsonResponse:
    """The member's newest mentions and assignments, with how many are unread."""
    membership = _membership(request)
    items = selectors.notification_list(membership=membership)
    html = render_to_string(
        "conversations/_notifications.html",
        {"notifications": items, "current_tenant": membership.tenant},
        request=request,
    )
    return JsonResponse({"html": html, "unread": selectors.notification_unread_count(membership=membership)})


@require_POST
@json_fragment
def notifications_read(request: HttpRequest, tenant_slug: str) -> JsonResponse:
    actions.notifications_mark_read(membership=_membership(request))
    return JsonResponse({"unread": 0})
