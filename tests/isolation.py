"""The tenant isolation matrix: every route under /t/<slug>/ and /api/ must hide another tenant's data.

``find_isolation_leaks`` walks the URL conf, fills each route with the slug and object ids of
tenant A, calls it with every HTTP method as a member (or API token) of tenant B with every
permission, and reports each route that does not answer 404 — both with A's slug and with B's own
slug plus A's object ids — and each route whose calls changed any of A's data.
A new route whose URL takes an object id needs a sample in ``SAMPLES`` or the matrix fails.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db.models import Model, QuerySet
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tenants.models import Membership, Role, Tenant
from tenants.permissions import BuiltinRole
from tests.factories import add_member, make_user

# Routes under /api/ that are not tenant data (documentation, the caller's own profile).
GLOBAL_API_ROUTES = {"api/v1/me/", "api/schema/", "api/docs/"}


def _sample_membership(tenant: Tenant) -> int:
    return add_member(tenant, BuiltinRole.AGENT).pk


def _sample_invitation(tenant: Tenant) -> int:
    from tenants.services import invitation_create
    from tests.factories import owner_of

    invitation, _raw = invitation_create(
        actor=owner_of(tenant), email=f"invitee-{tenant.slug}@example.com", role=_agent_role(tenant)
    )
    return invitation.pk


def _agent_role(tenant: Tenant) -> Role:
    return Role.objects.get(tenant=tenant, key=BuiltinRole.AGENT)


def _sample_role(tenant: Tenant) -> int:
    n = Role.objects.filter(tenant=tenant).count()
    return Role.objects.create(tenant=tenant, key=f"custom-{n}", name=f"Custom {n}", permissions=[]).pk


def _sample_token(tenant: Tenant) -> int:
    from tenants.services import api_token_create
    from tests.factories import owner_of

    token, _raw = api_token_create(actor=owner_of(tenant), name="Sample", role=_agent_role(tenant))
    return token.pk


def _sample_channel_obj(tenant: Tenant):
    from tests.factories import owner_of
    from whatsapp.models import WhatsAppChannel
    from whatsapp.services import channel_create

    existing = WhatsAppChannel.objects.filter(tenant=tenant).first()
    if existing is not None:
        return existing
    n = 700000000000 + tenant.pk
    return channel_create(
        actor=owner_of(tenant),
        name=f"Inbox {tenant.slug}",
        display_phone_number=f"+55 11 9{tenant.pk:04d}-0000",
        phone_number_id=str(n),
        waba_id=str(n + 1),
        access_token="token",
        app_secret="secret",
        verify=False,
    )


def _sample_channel(tenant: Tenant) -> int:
    return _sample_channel_obj(tenant).pk


def _sample_event(tenant: Tenant) -> int:
    from whatsapp.models import WebhookEvent

    channel = _sample_channel_obj(tenant)
    n = WebhookEvent.objects.count()
    return WebhookEvent.objects.create(
        tenant=tenant, channel=channel, body=b"{}", body_sha256=f"{n:064d}", status=WebhookEvent.Status.FAILED
    ).pk


def _sample_template(tenant: Tenant) -> int:
    # An approved template of the sample channel's account: a call that edits or deletes it shows.
    from whatsapp.models import MessageTemplate

    channel = _sample_channel_obj(tenant)
    template, _created = MessageTemplate.objects.get_or_create(
        tenant=tenant,
        waba_id=channel.waba_id,
        name="sample_template",
        language="pt_BR",
        defaults={
            "meta_id": str(900000000000 + tenant.pk),
            "category": "UTILITY",
            "status": MessageTemplate.Status.APPROVED,
            "components": [{"type": "BODY", "text": "Olá {{1}}!", "example": {"body_text": [["Maria"]]}}],
        },
    )
    return template.pk


def _sample_conversation(tenant: Tenant) -> int:
    from django.utils import timezone

    from conversations.services.inbound import InboundSpec, message_receive

    channel = _sample_channel_obj(tenant)
    message, _created = message_receive(
        inbox=channel.inbox,
        spec=InboundSpec(
            source_id=f"55119{tenant.pk:08d}",
            external_id=f"wamid.sample-{tenant.slug}",
            occurred_at=timezone.now(),
            type="text",
            text="sample",
        ),
    )
    return message.conversation.display_id


def _sample_message(tenant: Tenant) -> int:
    from conversations.models import Message

    display_id = _sample_conversation(tenant)
    return Message.objects.filter(tenant=tenant, conversation__display_id=display_id).order_by("id").first().pk


def _sample_contact(tenant: Tenant) -> int:
    # The sample conversation's customer, so whoever sees that conversation may open the contact.
    from conversations.models import Conversation

    return Conversation.objects.get(tenant=tenant, display_id=_sample_conversation(tenant)).contact_id


def _sample_label(tenant: Tenant) -> int:
    from conversations.models import Label
    from conversations.services.library import label_create
    from tests.factories import owner_of

    n = Label.objects.filter(tenant=tenant).count()
    return label_create(membership=owner_of(tenant), name=f"Sample {n}", color="#1f6feb").pk


def _sample_quick_reply(tenant: Tenant) -> int:
    # Shared with the whole workspace, so every member can open it (read-only without "manage labels").
    from conversations.models import QuickReply
    from conversations.services.library import quick_reply_create
    from tests.factories import owner_of

    n = QuickReply.objects.filter(tenant=tenant).count()
    return quick_reply_create(membership=owner_of(tenant), shortcut=f"sample-{n}", text="Sample reply").pk


def _sample_attachment(tenant: Tenant) -> int:
    # A stored file on the sample conversation's message; one fixed file name, so runs do not pile up files.
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from conversations.models import Attachment, Message

    display_id = _sample_conversation(tenant)
    message = Message.objects.filter(tenant=tenant, conversation__display_id=display_id).order_by("id").first()
    name = "attachments/isolation-sample.png"
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(b"\x89PNG\r\n\x1a\n sample"))
    return Attachment.objects.create(
        tenant=tenant,
        message=message,
        kind="image",
        file=name,
        mime_type="image/png",
        filename="sample.png",
        download_status=Attachment.DownloadStatus.STORED,
    ).pk


def _sample_event_delivery(tenant: Tenant) -> int:
    import uuid

    from django.utils import timezone

    from conversations.models import EventDelivery, OutboxEvent

    event = OutboxEvent.objects.create(
        id=uuid.uuid4(), tenant=tenant, event_type="message.received", payload={}, occurred_at=timezone.now()
    )
    return EventDelivery.objects.create(
        tenant=tenant, event=event, subscriber="samples.failed", state=EventDelivery.State.FAILED, attempts=6
    ).pk


def _sample_calendar(tenant: Tenant) -> int:
    from datetime import time

    from automations.models import BusinessCalendar
    from automations.services import CalendarSpec, WeeklySpec, calendar_create
    from tests.factories import owner_of

    n = BusinessCalendar.objects.filter(tenant=tenant).count()
    weekly = (WeeklySpec(0, time(9), time(18)),)
    spec = CalendarSpec(name=f"Sample {n}", time_zone="America/Sao_Paulo", weekly=weekly, holiday_country="BR")
    return calendar_create(actor=owner_of(tenant), spec=spec).pk


# URL keyword -> builds an object of the given tenant and returns the value for the URL.
def _sample_inbox(tenant: Tenant) -> int:
    # An inbox with auto-resolve on and a closing message: a call that changes them shows in the snapshot.
    from automations.auto_resolve import AutoResolveSpec, auto_resolve_update
    from tests.factories import owner_of

    inbox = _sample_channel_obj(tenant).inbox
    spec = AutoResolveSpec(enabled=True, after_hours=12, closing_message={"en": "Bye!"})
    auto_resolve_update(actor=owner_of(tenant), inbox=inbox, spec=spec)
    return inbox.pk


def _sample_sla_policy(tenant: Tenant) -> int:
    from automations.models import SlaPolicy
    from automations.sla_policies import SlaPolicySpec, sla_policy_create
    from tests.factories import owner_of

    n = SlaPolicy.objects.filter(tenant=tenant).count()
    spec = SlaPolicySpec(name=f"Sample {n}", first_response_minutes=30, resolution_minutes=480)
    return sla_policy_create(actor=owner_of(tenant), spec=spec).pk


def _sample_team(tenant: Tenant) -> int:
    # A team with a member: a call that changes or deletes it shows in the snapshot.
    from conversations.models import Team
    from conversations.services.teams import TeamMemberSpec, TeamSpec, team_create
    from tests.factories import owner_of

    owner = owner_of(tenant)
    n = Team.objects.filter(tenant=tenant).count()
    spec = TeamSpec(name=f"Sample team {n}", members=(TeamMemberSpec(owner.user_id, True),))
    return team_create(actor=owner, spec=spec).pk


def _sample_product(tenant: Tenant) -> int:
    from payments.catalog import ProductSpec, product_create
    from payments.models import Product
    from tests.factories import owner_of

    n = Product.objects.filter(tenant=tenant).count()
    spec = ProductSpec(retailer_id=f"SAMPLE-{n}", name="Recarga", price=2500)
    return product_create(actor=owner_of(tenant), tenant=tenant, spec=spec).pk


def _sample_product_import(tenant: Tenant) -> int:
    from payments.imports import import_start
    from tests.factories import owner_of

    data = b"sku,name,price\nSAMPLE-IMPORT,Recarga,25.00\n"
    return import_start(actor=owner_of(tenant), tenant=tenant, filename="sample.csv", data=data).pk


def _sample_order(tenant: Tenant) -> int:
    # An order of the sample conversation (visible to every role), pending: a call that moves it shows.
    from conversations.models import Conversation
    from payments.orders import order_create
    from tests.factories import owner_of

    conversation = Conversation.objects.get(tenant=tenant, display_id=_sample_conversation(tenant))
    order = order_create(actor=owner_of(tenant), conversation=conversation, amount=2500, description="Recarga")
    return order.number


def _sample_rule(tenant: Tenant) -> int:
    # Two rules, so that moving one up or down changes the order (and shows in the snapshot).
    from automations.rules_services import RuleSpec, rule_create
    from tests.factories import owner_of

    label = _sample_label(tenant)
    owner = owner_of(tenant)
    actions = [{"type": "add_label", "label_ids": [label]}]
    rule_create(actor=owner, spec=RuleSpec(name="Sample first", event="conversation_created", actions=actions))
    spec = RuleSpec(name="Sample", event="message_received", actions=actions)
    return rule_create(actor=owner, spec=spec).pk


def _sample_link(tenant: Tenant) -> int:
    # A wa.me link to the sample channel's number, in use: a call that changes or archives it shows.
    from flows.links import entry_link_create
    from flows.models import EntryLink
    from tests.factories import owner_of

    n = EntryLink.objects.filter(tenant=tenant).count()
    inbox = _sample_channel_obj(tenant).inbox
    return entry_link_create(actor=owner_of(tenant), inbox=inbox, name=f"Sample {n}", kind="flyer", text="Hi").pk


def _sample_consent_purpose(tenant: Tenant) -> int:
    from campaigns.models import ConsentPurpose

    n = ConsentPurpose.objects.filter(tenant=tenant).count()
    return ConsentPurpose.objects.create(tenant=tenant, key=f"sample-{n}", name=f"Sample {n}").pk


def _sample_flow(tenant: Tenant) -> int:
    # A bot flow of the sample channel's inbox, published (version 1), with a valid draft (version 2): a call that
    # changes, publishes or deletes it shows.
    from flows.models import Flow
    from flows.services import FlowSpec, draft_save, flow_create, flow_publish
    from tests.factories import owner_of

    owner = owner_of(tenant)
    n = Flow.objects.filter(tenant=tenant).count()
    definition = {"start": "hi", "steps": [{"id": "hi", "name": "Hi", "type": "end", "text": "Hi!"}]}
    spec = FlowSpec(name=f"Sample {n}", inbox_id=_sample_channel_obj(tenant).inbox_id, trigger_keywords=["menu"])
    flow = flow_create(membership=owner, spec=spec, definition=definition)
    flow_publish(membership=owner, flow=flow)
    changed = {**definition, "steps": [{**definition["steps"][0], "text": "Hello!"}]}
    draft_save(membership=owner, flow=flow, definition=changed)
    return flow.pk


def _sample_broadcast(tenant: Tenant) -> int:
    # A draft broadcast of the sample channel's inbox to a segment of every contact: a call that changes,
    # starts or deletes it shows.
    from campaigns.models import Broadcast, Segment

    n = Broadcast.objects.filter(tenant=tenant).count()
    segment = Segment.objects.create(tenant=tenant, name=f"Sample broadcast {n}", filters={})
    return Broadcast.objects.create(
        tenant=tenant,
        name=f"Sample {n}",
        inbox=_sample_channel_obj(tenant).inbox,
        template_name="sample",
        template_language="en_US",
        template_category="UTILITY",
        segment=segment,
    ).pk


def _sample_scheduled_message(tenant: Tenant) -> int:
    # A text for the sample conversation's customer tomorrow: a call that cancels it shows.
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.models import ScheduledMessage
    from conversations.models import Conversation

    conversation = Conversation.objects.get(tenant=tenant, display_id=_sample_conversation(tenant))
    return ScheduledMessage.objects.create(
        tenant=tenant,
        contact_id=conversation.contact_id,
        inbox_id=conversation.inbox_id,
        conversation=conversation,
        kind="text",
        text="sample",
        send_at=timezone.now() + timedelta(days=1),
    ).pk


def _sample_contact_import(tenant: Tenant) -> int:
    # An import waiting for its columns' mapping: a call that starts it shows.
    from campaigns.models import ContactImport

    return ContactImport.objects.create(
        tenant=tenant,
        filename="sample.csv",
        columns=["phone"],
        sample=[["11987654321"]],
        mapping={"phone": "phone"},
        total_rows=1,
    ).pk


def _sample_segment(tenant: Tenant) -> int:
    from campaigns.models import Segment

    n = Segment.objects.filter(tenant=tenant).count()
    return Segment.objects.create(tenant=tenant, name=f"Sample segment {n}", filters={}).pk


SAMPLES: dict[str, Callable[[Tenant], Any]] = {
    "membership_id": _sample_membership,
    "invitation_id": _sample_invitation,
    "role_id": _sample_role,
    "token_id": _sample_token,
    "channel_id": _sample_channel,
    "event_id": _sample_event,
    "template_id": _sample_template,
    "display_id": _sample_conversation,
    "attachment_id": _sample_attachment,
    "label_id": _sample_label,
    "quick_reply_id": _sample_quick_reply,
    "contact_id": _sample_contact,
    "message_id": _sample_message,
    "action": lambda tenant: "assign",
    "delivery_id": _sample_event_delivery,
    "calendar_id": _sample_calendar,
    "inbox_id": _sample_inbox,
    "kind": lambda tenant: "greeting",
    "policy_id": _sample_sla_policy,
    "team_id": _sample_team,
    "rule_id": _sample_rule,
    "product_id": _sample_product,
    "import_id": _sample_product_import,
    "number": _sample_order,
    "link_id": _sample_link,
    "purpose_id": _sample_consent_purpose,
    "flow_id": _sample_flow,
    "broadcast_id": _sample_broadcast,
    "scheduled_id": _sample_scheduled_message,
    "contact_import_id": _sample_contact_import,
    "segment_id": _sample_segment,
    # A version's number: every sample flow has its version 1.
    "version": lambda tenant: 1,
}


@dataclass
class Route:
    pattern: str
    name: str | None
    kwargs: list[str]
    is_api: bool


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def tenant_routes(urlconf: Any = None) -> list[Route]:
    routes = []
    for pattern, p in _walk(get_resolver(urlconf).url_patterns):
        converters = _kwarg_names(pattern)
        is_tenant = pattern.startswith("t/<slug:tenant_slug>/")
        is_api = pattern.startswith("api/")
        if is_api and pattern not in GLOBAL_API_ROUTES and "tenant_slug" not in converters:
            routes.append(Route(pattern, p.name, converters, is_api=True))  # an API route with no tenant: a leak
        elif is_tenant or (is_api and "tenant_slug" in converters):
            routes.append(Route(pattern, p.name, converters, is_api=is_api))
    return routes


def _kwarg_names(pattern: str) -> list[str]:
    import re

    return [m.group(2) for m in re.finditer(r"<(?:(\w+):)?(\w+)>", pattern)]


def _fill(pattern: str, values: dict[str, Any]) -> str:
    import re

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), pattern)


def _fresh_client_for(membership: Membership) -> Client:
    # A view that raises is reported as its 500 answer, like any other answer but 404.
    client = Client(raise_request_exception=False)
    client.force_login(membership.user)
    return client


def _token_header(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


METHODS = ("get", "post", "put", "patch", "delete")


def _call(client: Client, method: str, url: str, headers: dict[str, str]) -> HttpResponse:
    if method in ("put", "patch", "delete"):
        # An empty JSON object: what an API client sends, and a body every JSON view can parse.
        return getattr(client, method)(url, data="{}", content_type="application/json", **headers)
    return getattr(client, method)(url, **headers)


# An object id that no sample reaches.
MISSING_ID = 2_000_000_000


def _missing(values: dict[str, Any]) -> dict[str, Any]:
    return {k: MISSING_ID if isinstance(v, int) else v for k, v in values.items()}


def _same_answer(answer: HttpResponse, other: HttpResponse) -> bool:
    """Whether ``answer`` (to the victim's ids) says nothing an id that does not exist would not: the
    same status and body, as for an API route that refuses API tokens whatever the id."""
    return bool(answer.status_code == other.status_code and answer.content == other.content)


def _tenant_models() -> list[type[Model]]:
    """Every table whose rows name a tenant, the join tables of many-to-many fields included."""
    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if any(f.name == "tenant" and f.related_model is Tenant for f in model._meta.concrete_fields)
    ]


def tenant_snapshot(tenant: Tenant) -> dict[str, dict[Any, tuple[Any, ...]]]:
    """Every row the tenant owns (conversations, messages, labels, quick replies, memberships, roles,
    audit entries and the rest), its own row and its members' users, each row with all its columns."""
    from tenants.models import User

    def rows(queryset: QuerySet[Any]) -> dict[Any, tuple[Any, ...]]:
        columns = [f.attname for f in queryset.model._meta.concrete_fields]
        return {row[0]: row for row in queryset.values_list("pk", *columns)}

    snapshot = {model._meta.label: rows(model._default_manager.filter(tenant=tenant)) for model in _tenant_models()}
    snapshot["tenants.Tenant"] = rows(Tenant.objects.filter(pk=tenant.pk))
    snapshot["tenants.User"] = rows(User.objects.filter(memberships__tenant=tenant).distinct())
    return snapshot


def snapshot_changes(before: dict[str, dict[Any, Any]], after: dict[str, dict[Any, Any]]) -> list[str]:
    """What differs between two snapshots, one line per table: the primary keys added, removed, changed."""
    changes = []
    for label in sorted(before.keys() | after.keys()):
        old, new = before.get(label, {}), after.get(label, {})
        parts = [
            f"{what} {sorted(pks)}"
            for what, pks in (
                ("added", new.keys() - old.keys()),
                ("removed", old.keys() - new.keys()),
                ("changed", {pk for pk in old.keys() & new.keys() if old[pk] != new[pk]}),
            )
            if pks
        ]
        if parts:
            changes.append(f"{label} {', '.join(parts)}")
    return changes


def find_isolation_leaks(
    *, victim: Tenant, attacker: Tenant, urlconf: Any = None, only: Collection[str] | None = None
) -> list[str]:
    """Call every tenant route with the victim's data as an all-powerful member of ``attacker``.

    Each route is called with every method of ``METHODS``; a leak is any answer but 404 (or, with
    the attacker's own slug, but the very answer an id that does not exist gets), an attempt
    where every method answered 405 (a route nothing reaches: the matrix tests nothing there), and
    any change to the victim's data (``tenant_snapshot``) made by the calls to a route, whatever they
    answered.
    """
    from django.test import override_settings

    from tenants.services import api_token_create

    attacker_member = add_member(attacker, BuiltinRole.OWNER, user=make_user())
    attacker_admin_role = Role.objects.get(tenant=attacker, key=BuiltinRole.ADMIN)
    _token, raw_token = api_token_create(actor=attacker_member, name="Attacker", role=attacker_admin_role)
    leaks: list[str] = []
    settings_kwargs = {"ROOT_URLCONF": urlconf} if urlconf is not None else {}
    with override_settings(**settings_kwargs):
        for route in tenant_routes(urlconf):
            if only is not None and route.pattern not in only:
                continue  # the matrix's own tests plant one route and look at it alone
            if "tenant_slug" not in route.kwargs:
                leaks.append(f"{route.pattern}: API route without a tenant in its URL")
                continue
            missing = [k for k in route.kwargs if k != "tenant_slug" and k not in SAMPLES]
            if missing:
                leaks.append(f"{route.pattern}: no isolation sample for {missing}; add one to tests/isolation.py")
                continue
            victim_values = {k: SAMPLES[k](victim) for k in route.kwargs if k != "tenant_slug"}
            before = tenant_snapshot(victim)
            attempts = [("victim slug", {**victim_values, "tenant_slug": victim.slug})]
            if victim_values:
                attempts.append(("own slug, victim ids", {**victim_values, "tenant_slug": attacker.slug}))
            for label, values in attempts:
                url = _fill(route.pattern, values)
                callers: list[tuple[str, Client, dict[str, str]]] = [
                    ("session", _fresh_client_for(attacker_member), {})
                ]
                if route.is_api:
                    callers.append(("token", Client(raise_request_exception=False), _token_header(raw_token)))
                for who, client, headers in callers:
                    answers = {method: _call(client, method, url, headers) for method in METHODS}
                    if {a.status_code for a in answers.values()} == {405}:
                        leaks.append(f"{url} ({label}, {who}): every method answered 405; is the route stale?")
                    for method, answer in answers.items():
                        if answer.status_code in (404, 405):
                            continue
                        if label != "victim slug" and _same_answer(
                            answer, _call(client, method, _fill(route.pattern, _missing(values)), headers)
                        ):
                            continue  # refused before any object is looked up: nothing told about the victim's
                        leaks.append(f"{method.upper()} {url} ({label}, {who}) -> {answer.status_code}")
            changes = snapshot_changes(before, tenant_snapshot(victim))
            if changes:
                leaks.append(f"{route.pattern}: the calls changed the victim's data: {'; '.join(changes)}")
    return leaks
