"""Every page of the inbox and of the settings, as a Portuguese-speaking team sees it: no English left.

A workspace in pt-BR is filled as a real one is (customers writing through the WhatsApp webhook, agents
assigning, snoozing, resolving, labelling, writing notes; labels, quick replies, templates, roles, an
invitation, API tokens, customer texts, event deliveries, audit entries), then every GET page under
``/t/<slug>/`` and every account page, found from the URL resolver, is rendered for its owner, with the
inbox's JSON fragments. The visible text and the title/aria-label/placeholder/alt (and confirmation)
attributes must hold none of the product's English terms; an English member sees none of the Portuguese
ones.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone, translation

from conversations.models import Conversation, EventDelivery, Message, OutboxEvent
from conversations.services.actions import (
    conversation_assign,
    conversation_labels_change,
    conversation_priority_set,
    conversation_status_set,
)
from conversations.services.contacts import contact_update
from conversations.services.customer_texts import customer_text_set
from conversations.services.library import label_create, membership_availability_set, quick_reply_create
from conversations.services.outbound import note_create
from tenants.models import Invitation, Membership, Role, Tenant
from tenants.permissions import BuiltinRole, Perm
from tenants.services import (
    api_token_create,
    api_token_revoke,
    invitation_create,
    role_builtin,
    role_create,
    user_preferences_update,
)
from tests.factories import add_member, make_tenant, make_user, owner_of
from tests.languages import ENGLISH, PORTUGUESE, terms_in
from tests.tenants.helpers import enrol_totp
from tests.whatsapp.conftest import PHONE_NUMBER_ID, WABA_ID, make_channel
from whatsapp.content import neutral_from_meta
from whatsapp.models import MessageTemplate, WebhookEvent, WhatsAppChannel
from whatsapp.processing import webhook_event_process

pytestmark = pytest.mark.django_db

# Attributes a person reads (tooltips, screen readers, empty fields, images, confirmation dialogs).
READ_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt", "data-confirm", "data-copied")

# The test data, left out before looking for terms (a customer may write any word).
SLUG = "aurora"
OWNER_NAME = "Beatriz Almeida"
AGENT_NAME = "Carlos Pereira"
SUPERVISOR_NAME = "Daniela Rocha"


# --- what a page shows -----------------------------------------------------------------------------


class _Reader(HTMLParser):
    """The text a person sees or hears on a page: text outside scripts and styles, and READ_ATTRIBUTES.

    Text in ``<pre>`` and ``<code>`` is machine text (a payload as received, a token, a code) and is left out.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._hidden = 0
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "pre", "code"):
            self._hidden += 1
            if tag in ("script", "style"):
                return
        values = dict(attrs)
        if tag == "html":
            self.lang = values.get("lang")
        if _other_language(values.get("lang"), self.lang):
            return  # a field marked as being in another language (a customer text's wording in English, say)
        for name in READ_ATTRIBUTES:
            if values.get(name):
                self.texts.append(values[name] or "")
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.texts.append(values["value"] or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in ("script", "style", "pre", "code"):
            self._hidden -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "pre", "code"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.texts.append(data)


def _other_language(own: str | None, page: str | None) -> bool:
    return bool(own and page) and own.split("-")[0].lower() != (page or "").split("-")[0].lower()


def shown_texts(html: str) -> list[str]:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return [" ".join(text.split()) for text in reader.texts]


def html_lang(html: str) -> str | None:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.lang


# --- the workspace ---------------------------------------------------------------------------------


@dataclass
class Workspace:
    tenant: Tenant
    owner: Membership
    agent: Membership
    supervisor: Membership
    channel: WhatsAppChannel
    conversations: dict[str, Conversation]
    custom_role: Role
    invitation_token: str
    data: tuple[str, ...]
    ids: dict[str, list[Any]] = field(default_factory=dict)


_wamids = itertools.count(1)


def _customer_writes(channel: WhatsAppChannel, capture: Any, *, wa_id: str, name: str, when: datetime, **message: Any):
    """A customer's message, signed by Meta's shape, stored and processed as the webhook endpoint does."""
    body_message = {"from": wa_id, "id": f"wamid.PT{next(_wamids):06d}", "timestamp": str(int(when.timestamp()))}
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "5511900000001", "phone_number_id": PHONE_NUMBER_ID},
                            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
                            "messages": [body_message | message],
                        },
                    }
                ],
            }
        ],
    }
    body = json.dumps(payload).encode()
    event = WebhookEvent.objects.create(
        tenant_id=channel.tenant_id, channel=channel, body=body, body_sha256=hashlib.sha256(body).hexdigest()
    )
    with capture():  # media downloads are not run: the image stays "downloading"
        webhook_event_process(event_id=event.pk)
    return event


def _agent_message(conversation: Conversation, member: Membership, **fields: Any) -> Message:
    """A message the team sent, as the send queue leaves it after Meta's status webhooks."""
    fields = {"type": "text", "status": Message.Status.DELIVERED} | fields
    content = neutral_from_meta(
        fields["type"], fields.pop("content", None), text=fields.get("text", ""), sender_type="agent"
    )
    return Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        direction=Message.Direction.OUTBOUND,
        sender_type=Message.SenderType.AGENT,
        sender_user=member.user,
        content=content,
        **fields,
    )


def _conversation_of(channel: WhatsAppChannel, wa_id: str) -> Conversation:
    return (
        Conversation.objects.select_related("contact")
        .filter(tenant_id=channel.tenant_id, contact_inbox__source_id=wa_id)
        .latest("id")
    )


def build_workspace(capture: Any) -> Workspace:
    """A Brazilian shop's workspace with a bit of everything, made and worked in Portuguese by its team."""
    with translation.override("pt-br"):
        return _build_workspace(capture)


def _build_workspace(capture: Any) -> Workspace:
    now = timezone.now()
    owner_user = make_user("beatriz@aurora.com.br", name=OWNER_NAME)
    tenant = make_tenant("Loja Aurora", slug=SLUG, owner=owner_user, locale="pt-br")
    owner = owner_of(tenant)
    agent = add_member(tenant, BuiltinRole.AGENT, user=make_user("carlos@aurora.com.br", name=AGENT_NAME))
    supervisor = add_member(
        tenant, BuiltinRole.SUPERVISOR, user=make_user("daniela@aurora.com.br", name=SUPERVISOR_NAME)
    )
    data: list[str] = ["Loja Aurora", OWNER_NAME, AGENT_NAME, SUPERVISOR_NAME]

    channel = make_channel(tenant, name="Suporte", display_phone_number="+55 11 3000-1000")
    inbox = channel.inbox
    inbox.members.set([owner.user_id, agent.user_id, supervisor.user_id])
    shipped = MessageTemplate.objects.create(
        tenant=tenant,
        waba_id=WABA_ID,
        meta_id="1001",
        name="pedido_enviado",
        language="pt_BR",
        category="UTILITY",
        status=MessageTemplate.Status.APPROVED,
        components=[{"type": "BODY", "text": "Olá {{1}}, seu pedido {{2}} foi enviado."}],
    )
    weekly = MessageTemplate.objects.create(
        tenant=tenant,
        waba_id=WABA_ID,
        meta_id="1002",
        name="promocao_semana",
        language="pt_BR",
        category="MARKETING",
        status=MessageTemplate.Status.REJECTED,
        status_reason="INVALID_FORMAT",
        components=[{"type": "BODY", "text": "Promoção da semana!"}],
    )
    data += ["pedido_enviado", "promocao_semana", "Olá {{1}}, seu pedido {{2}} foi enviado.", "Promoção da semana!"]

    vip = label_create(membership=owner, name="VIP", color="#aabbcc", description="Clientes especiais")
    entrega = label_create(membership=owner, name="Entrega", color="#1f6feb", description="Dúvidas de frete")
    data += ["VIP", "Clientes especiais", "Entrega", "Dúvidas de frete"]
    quick_reply_create(
        membership=owner, shortcut="prazo", text="Olá {{contact.first_name}}, o prazo é de 3 dias úteis."
    )
    quick_reply_create(
        membership=owner,
        shortcut="catalogo",
        text="Segue o nosso catálogo.",
        attachment=SimpleUploadedFile("catalogo.pdf", b"%PDF-1.4 catalogo", content_type="application/pdf"),
    )
    quick_reply_create(membership=agent, shortcut="obrigado", text="Obrigado pelo contato!", scope="personal")
    data += ["prazo", "catalogo", "catalogo.pdf", "obrigado", "Obrigado pelo contato!", "Segue o nosso catálogo."]
    data += ["Olá {{contact.first_name}}, o prazo é de 3 dias úteis."]

    customer_text_set(actor=owner, key="greeting", variants={"pt-br": "Olá! Já vamos atender você."})
    custom_role = role_create(
        actor=owner,
        name="Financeiro",
        permissions=[Perm.REPLY, Perm.VIEW_ALL_CONVERSATIONS],
        description="Cuida das cobranças",
    )
    data += ["Financeiro", "Cuida das cobranças", "Olá! Já vamos atender você."]
    _invitation, invitation_token = invitation_create(
        actor=owner, email="eduardo@aurora.com.br", role=role_builtin(tenant=tenant, key=BuiltinRole.AGENT)
    )
    token, _raw = api_token_create(actor=owner, name="Integração ERP", role=custom_role)
    old_token, _raw = api_token_create(actor=owner, name="Planilha antiga", role=custom_role)
    api_token_revoke(actor=owner, token=old_token)
    data += ["eduardo@aurora.com.br", "Integração ERP", "Planilha antiga"]
    membership_availability_set(membership=agent, availability="busy")

    # Customers write: João (open, assigned to Carlos), Maria (pending), Pedro (snoozed), Ana (resolved,
    # her reply window long closed), Lucas (open, unassigned, window closed).
    people = {
        "joao": ("5511987650001", "João Silva"),
        "maria": ("5511987650002", "Maria Oliveira"),
        "pedro": ("5521987650003", "Pedro Santos"),
        "ana": ("5531987650004", "Ana Costa"),
        "lucas": ("5541987650005", "Lucas Ferreira"),
    }
    data += [name for _wa, name in people.values()]
    data += ["João", "Maria", "Pedro", "Ana", "Lucas"]
    write = lambda key, when, **message: _customer_writes(  # noqa: E731
        channel, capture, wa_id=people[key][0], name=people[key][1], when=when, **message
    )
    said = [
        "Meu pedido ainda não chegou",
        "Segue a foto da caixa",
        "Vocês entregam em Campinas?",
        "Quero trocar o tamanho",
        "Obrigada, deu tudo certo",
        "Vocês têm loja física?",
        "Loja Centro",
        "Rua Augusta, 1500, São Paulo",
        "nota_fiscal.pdf",
        "Nota fiscal",
        "Sim, pode trocar",
        "Rafael Lima",
        "Tudo certo por aqui",
    ]
    data += said
    write("ana", now - timedelta(days=3), type="text", text={"body": "Obrigada, deu tudo certo"})
    write("joao", now - timedelta(days=1, hours=1), type="text", text={"body": "Meu pedido ainda não chegou"})
    write(
        "joao",
        now - timedelta(minutes=40),
        type="image",
        image={"caption": "Segue a foto da caixa", "mime_type": "image/jpeg", "sha256": "abc=", "id": "2001"},
    )
    write(
        "joao",
        now - timedelta(minutes=35),
        type="location",
        location={
            "latitude": -23.5614,
            "longitude": -46.6559,
            "name": "Loja Centro",
            "address": "Rua Augusta, 1500, São Paulo",
        },
    )
    write("maria", now - timedelta(hours=2), type="text", text={"body": "Vocês entregam em Campinas?"})
    write(
        "maria",
        now - timedelta(hours=2),
        type="contacts",
        contacts=[
            {
                "name": {"first_name": "Rafael", "last_name": "Lima", "formatted_name": "Rafael Lima"},
                "phones": [{"phone": "+55 11 98888-7777", "wa_id": "5511988887777", "type": "CELL"}],
            }
        ],
    )
    write("pedro", now - timedelta(hours=5), type="text", text={"body": "Quero trocar o tamanho"})
    write(
        "pedro",
        now - timedelta(hours=5),
        type="document",
        document={
            "caption": "Nota fiscal",
            "filename": "nota_fiscal.pdf",
            "mime_type": "application/pdf",
            "sha256": "def=",
            "id": "2002",
        },
    )
    write("lucas", now - timedelta(days=2), type="text", text={"body": "Vocês têm loja física?"})
    write(
        "lucas",
        now - timedelta(days=2),
        type="unsupported",
        errors=[
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ],
    )
    data += ["Message type unknown", "Message type is currently not supported."]
    conversations = {key: _conversation_of(channel, wa_id) for key, (wa_id, _name) in people.items()}
    joao, maria, pedro, ana, lucas = (conversations[k] for k in ("joao", "maria", "pedro", "ana", "lucas"))

    # João: a reply, a template, a failed message, a note with a mention, labels, an assignee.
    _agent_message(joao, agent, text="Tudo certo por aqui", status=Message.Status.READ)
    _agent_message(
        joao,
        agent,
        type="template",
        text="Olá João, seu pedido 4512 foi enviado.",
        content={
            "name": "pedido_enviado",
            "language": "pt_BR",
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "João"}, {"type": "text", "text": "4512"}],
                }
            ],
        },
    )
    _agent_message(
        joao,
        agent,
        text="Pode confirmar o endereço?",
        status=Message.Status.FAILED,
        error_code=131026,
        error_title="Message undeliverable",
        error_details="Unable to deliver message.",
    )
    data += ["Olá João, seu pedido 4512 foi enviado.", "4512", "Pode confirmar o endereço?"]
    data += ["Message undeliverable", "Unable to deliver message."]
    note_create(
        actor=agent,
        conversation=joao,
        text=f"@{OWNER_NAME} pode olhar este pedido?",
        mention_user_ids=[owner.user_id],
    )
    note_create(actor=owner, conversation=joao, text="Já falei com a transportadora.")
    data += ["pode olhar este pedido?", "Já falei com a transportadora."]
    conversation_assign(actor=owner, conversation=joao, assignee=agent.user)
    conversation_labels_change(actor=owner, conversation=joao, add=[vip, entrega], remove=[])
    conversation_priority_set(actor=owner, conversation=joao, priority=Conversation.Priority.HIGH)
    contact_update(
        actor=owner,
        contact=joao.contact,
        custom_attributes={"cidade": "São Paulo", "cliente_desde": "2021"},
        labels=[vip],
    )
    data += ["cidade", "São Paulo", "cliente_desde", "2021"]

    # Maria is assigned to the owner by Carlos (a notification), then waits on the team.
    conversation_assign(actor=agent, conversation=maria, assignee=owner.user)
    conversation_status_set(actor=owner, conversation=maria, status=Conversation.Status.PENDING)
    conversation_status_set(
        actor=owner, conversation=pedro, status=Conversation.Status.SNOOZED, snoozed_until=now + timedelta(days=1)
    )
    conversation_status_set(actor=owner, conversation=ana, status=Conversation.Status.RESOLVED)
    # Ana wrote again after her first conversation was resolved: the first is a previous conversation.
    write("ana", now - timedelta(minutes=10), type="text", text={"body": "Tudo certo por aqui"})
    conversations["ana_again"] = _conversation_of(channel, people["ana"][0])
    conversations["lucas"] = lucas

    # A webhook Meta sent that could not be read, and a subscriber that failed on an event.
    broken = b'{"object": "whatsapp_business_account", "entry": "not a list"}'
    failed_event = WebhookEvent.objects.create(
        tenant=tenant, channel=channel, body=broken, body_sha256=hashlib.sha256(broken).hexdigest()
    )
    with capture():
        webhook_event_process(event_id=failed_event.pk)
    outbox = OutboxEvent.objects.create(
        tenant=tenant, id=uuid.uuid4(), event_type="conversation.resolved", payload={}, occurred_at=now
    )
    EventDelivery.objects.create(
        tenant=tenant,
        event=outbox,
        subscriber="integracoes.crm",
        state=EventDelivery.State.FAILED,
        attempts=5,
        last_error="O CRM não respondeu",
        finished_at=now,
    )
    data += ["integracoes.crm", "O CRM não respondeu", "conversation.resolved"]
    # The parser's diagnosis of Meta's payload is stored as written, in English like Meta's own errors.
    data += ["Cannot parse: The body.entry must be a list, got a string."]

    # Business hours with a lunch break, a Friday night shift, São Paulo's holidays and a half-day.
    from datetime import date as day_of
    from datetime import time as clock

    from automations.services import CalendarSpec, DateSpec, WeeklySpec, calendar_create

    week = tuple(WeeklySpec(weekday=d, start=clock(s), end=clock(e)) for d in range(5) for s, e in ((8, 12), (13, 18)))
    calendar = calendar_create(
        actor=owner,
        spec=CalendarSpec(
            name="Atendimento",
            time_zone="America/Sao_Paulo",
            weekly=(*week, WeeklySpec(weekday=4, start=clock(22), end=clock(6))),
            holiday_country="BR",
            holiday_subdivision="SP",
            dates=(
                DateSpec(date=day_of(now.year, 12, 24), name="Véspera de Natal", intervals=((clock(8), clock(12)),)),
            ),
            inbox_ids=(channel.inbox_id,),
        ),
    )
    data += ["Atendimento", "Véspera de Natal"]

    # Its greeting and away messages, in both languages (what customers read is the workspace's wording).
    from automations.greeting_services import GreetingSpec, greeting_settings_update

    greeting = {"pt-br": "Olá {{contact.first_name}}, boas-vindas!", "en": "Hi {{contact.first_name}}, welcome!"}
    away = {"pt-br": "Estamos fora do horário. Voltamos {{next_open}}.", "en": "We are away. Back {{next_open}}."}
    greeting_settings_update(
        actor=owner,
        inbox=channel.inbox,
        spec=GreetingSpec(greeting_enabled=True, greeting_texts=greeting, away_enabled=True, away_texts=away),
    )
    data += [*greeting.values(), *away.values(), "Olá Maria, boas-vindas!", "Hi Maria, welcome!"]
    data += ["Estamos fora do horário. Voltamos", "We are away. Back"]

    # Auto-resolve on the number's inbox: after 12 hours, with a label and a closing message.
    from automations.auto_resolve import AutoResolveSpec, auto_resolve_update

    closing = "Vamos encerrar esta conversa. Se precisar, é só escrever!"
    auto_resolve_update(
        actor=owner,
        inbox=channel.inbox,
        spec=AutoResolveSpec(enabled=True, after_hours=12, label_id=vip.pk, closing_message={"pt-br": closing}),
    )
    data += [closing]

    # A product of the catalog: its name and category are data, its price shows as money in Portuguese.
    from payments.catalog import ProductSpec, product_create

    product = product_create(
        actor=owner,
        tenant=tenant,
        spec=ProductSpec(retailer_id="RECARGA-25", name="Recarga do cartão", price=2500, category="Recargas"),
    )
    data += ["Recarga do cartão", "Recargas", "RECARGA-25"]
    # An import of a spreadsheet, one line of it refused (its reason shows in the report, in Portuguese).
    from payments.imports import import_run, import_start

    product_import = import_start(
        actor=owner,
        tenant=tenant,
        filename="produtos.csv",
        data="sku;nome;preço\nPASSE;Passe mensal;150,00\nRUIM;Sem preço;talvez\n".encode(),
    )
    import_run(product_import.pk)
    data += ["produtos.csv", "Passe mensal", "PASSE", "RUIM"]

    # An order of João's with a line our catalog prices otherwise (its warning shows), paid and then in
    # preparation (its history shows the status changes in words).
    from payments.accounts import payment_account_save
    from payments.models import OrderLine
    from payments.orders import LineSpec, order_create, order_mark_paid, order_status_set

    payment_account_save(
        actor=owner,
        tenant=tenant,
        kind="static_pix",
        values={
            "pix_key": "+5511912345678",
            "pix_key_type": "PHONE",
            "merchant_name": "Transporte",
            "merchant_city": "Sao Paulo",
        },
        secrets={},
    )
    order = order_create(actor=owner, conversation=joao, lines=[LineSpec("RECARGA-25", 2)], shipping=500)
    OrderLine.objects.filter(order=order).update(catalog_price=2000)
    order.price_warning = True
    order.save(update_fields=["price_warning"])
    order = order_mark_paid(actor=owner, order=order, note="Pix conferido")
    order_status_set(actor=owner, order=order, status="processing")
    data += ["Pix conferido"]

    # A team with its hours, a member and a supervisor; the inbox's auto-assignment sends new conversations
    # to its queue, with an agent's own capacity; a conversation waits in the team's queue.
    from automations.assignment_settings import PolicySpec, overall_capacities_set, policy_update, team_calendar_set
    from conversations.services.actions import conversation_team_set
    from conversations.services.teams import TeamMemberSpec, TeamSpec, team_create

    team = team_create(
        actor=owner,
        spec=TeamSpec(
            name="Vendas",
            description="Pré-venda e orçamentos",
            members=(TeamMemberSpec(agent.user_id), TeamMemberSpec(supervisor.user_id, True)),
        ),
    )
    team_calendar_set(actor=owner, team=team, calendar_id=calendar.pk)
    policy_update(
        actor=owner,
        inbox=channel.inbox,
        spec=PolicySpec(
            enabled=False, method="least_open", capacity=4, team_id=team.pk, agent_capacities={agent.user_id: 2}
        ),
    )
    overall_capacities_set(actor=owner, capacities={agent.user_id: 6})
    conversation_team_set(actor=owner, conversation=next(iter(conversations.values())), team=team)
    data += ["Vendas", "Pré-venda e orçamentos"]
    # An SLA policy for every conversation: 30 minutes to the first response, 8 hours to resolve.
    from automations.sla_policies import SlaPolicySpec, sla_policy_create

    sla_policy = sla_policy_create(
        actor=owner, spec=SlaPolicySpec(name="Padrão", first_response_minutes=30, resolution_minutes=480)
    )
    data += ["Padrão"]
    # An automation rule that tags billing questions, with a run in its log.
    from automations.rules_services import RuleSpec, rule_create

    rule = rule_create(
        actor=owner,
        spec=RuleSpec(
            name="Financeiro",
            event="message_received",
            conditions={"op": "or", "items": [{"type": "keywords", "values": ["boleto", "fatura"]}]},
            actions=[{"type": "add_label", "label_ids": [vip.pk]}, {"type": "snooze", "mode": "next_opening"}],
        ),
    )
    data += ["Financeiro", "boleto", "fatura"]

    # A wa.me link on the shop window and a conversation it started; another from a click-to-WhatsApp ad.
    from flows.links import conversation_sources_record, entry_link_create

    link = entry_link_create(
        actor=owner, inbox=inbox, name="Vitrine da loja", kind="shop_window", text="Olá! Vi a vitrine", ref="vitrine01"
    )
    _customer_writes(
        channel, capture, wa_id="5511987650006", name="Rita Souza", when=now, type="text",
        text={"body": "Olá! Vi a vitrine [#vitrine01]"},
    )  # fmt: skip
    ad = {"source_url": "https://fb.me/aurora", "source_id": "120000000001", "source_type": "ad"}
    _customer_writes(
        channel, capture, wa_id="5511987650007", name="Tiago Alves", when=now, type="text",
        text={"body": "Quero saber mais"}, referral=ad | {"headline": "Promoção de inverno", "body": "Descontos"},
    )  # fmt: skip
    conversation_sources_record(list(Message.objects.filter(tenant=tenant, direction="in").order_by("id")))
    data += ["Vitrine da loja", "Olá! Vi a vitrine", "Olá! Vi a vitrine [#vitrine01]", "vitrine01"]
    data += ["Rita Souza", "Rita", "Tiago Alves", "Tiago", "Quero saber mais", "Promoção de inverno", "Descontos"]

    # Consent: a purpose of the workspace's own, João's stop in WhatsApp and an agent's opt-in with a note.
    from campaigns.consent import consent_purpose_create, consent_record, marketing_purpose
    from conversations.actors import SystemActor

    newsletter = consent_purpose_create(actor=owner, name="Novidades da loja", description="Uma vez por mês")
    consent_record(
        actor=SystemActor(tenant_id=tenant.pk), contact=joao.contact, purpose=marketing_purpose(tenant_id=tenant.pk),
        kind="opt_out", source="whatsapp", occurred_at=now, evidence={"channel": "whatsapp", "value": "stop"},
    )  # fmt: skip
    consent_record(
        actor=owner, contact=joao.contact, purpose=newsletter, kind="opt_in", source="agent",
        note="Pediu por telefone", occurred_at=now,
    )  # fmt: skip
    data += ["Novidades da loja", "Uma vez por mês", "Pediu por telefone", "novidades-da-loja", "whatsapp", "stop"]

    # The ready-made recharge bot flow (in Portuguese, as installed here), its draft, the keys, and two sessions:
    # one that ended with a person, one a customer left at the amount. Its steps are the workspace's texts.
    from flows.library import transit_recharge
    from flows.models import FlowSession
    from flows.services import draft_save, flow_settings_save, template_install

    flow = template_install(membership=owner, key="transit_recharge", inbox_id=inbox.pk)
    draft_save(membership=owner, flow=flow, definition=flow.published.definition)
    flow_settings_save(membership=owner, integration_secret="segredo", transit_api_key="chave")
    for status, conversation in (("handed_over", joao), ("abandoned", maria)):
        FlowSession.objects.create(
            tenant=tenant, flow=flow, version=flow.published, conversation=conversation, contact=conversation.contact,
            status=status, trigger="keyword", step="ask_amount", started_at=now, last_activity_at=now, ended_at=now,
            ended_step="ask_amount",
        )  # fmt: skip
    from flows.engine import render
    from flows.pages import SAMPLE_VARIABLES, SampleVariables

    with translation.override("pt-br"):
        installed = transit_recharge()
    texts = ("name", "text", "retry_text", "description", "reminder_text")
    written = [str(v) for step in installed["steps"] for k, v in step.items() if k in texts]
    # The editor's previews show them with sample values in their variables.
    previews = [" ".join(render(text, SampleVariables(SAMPLE_VARIABLES), "pt-br").split()) for text in written]
    data += [*written, *previews]
    data += [flow.name, flow.description, *flow.trigger_keywords]
    data += [str(c["title"]) for step in installed["steps"] for c in step.get("choices", [])]

    # Broadcasts of the order template to a segment: a draft, one waiting for the messaging limit, one sending and
    # one completed with failures (Meta's titles, as it wrote them) and skipped contacts.
    from campaigns.broadcasts import BroadcastSpec, broadcast_create
    from campaigns.models import Broadcast, BroadcastRecipient, Segment

    segment = Segment.objects.create(tenant=tenant, name="Clientes VIP", filters={})
    spec = BroadcastSpec(
        name="Aviso de envio", inbox_id=inbox.pk, template_name="pedido_enviado", template_language="pt_BR",
        segment_id=segment.pk, variables={"body.1": {"attribute": "name", "fallback": "cliente"},
                                          "body.2": {"value": "A-100"}},
        quiet_start=datetime(2026, 1, 1, 21).time(), quiet_end=datetime(2026, 1, 1, 8).time(),
    )  # fmt: skip
    broadcasts = [broadcast_create(actor=owner, tenant=tenant, spec=spec) for _n in range(4)]
    for broadcast, status in zip(broadcasts[1:], ("waiting", "sending", "completed"), strict=True):
        Broadcast.objects.filter(pk=broadcast.pk).update(
            status=status, wait_reason="messaging_limit" if status == "waiting" else "",
            wait_until=now + timedelta(hours=3) if status == "waiting" else None, started_at=now,
        )  # fmt: skip
        for n, (outcome, reason, code, title) in enumerate(
            [("read", "", None, ""), ("pending", "", None, ""), ("failed", "", 131026, "Message undeliverable"),
             ("skipped", "no_consent", None, "")]
        ):  # fmt: skip
            BroadcastRecipient.objects.create(
                tenant=tenant, broadcast=broadcast, phone=f"+551198765{n:04d}", status=outcome, skip_reason=reason,
                error_code=code, error_title=title, country="BR",
            )  # fmt: skip
    data += ["Clientes VIP", "Aviso de envio", "A-100", "Message undeliverable", "131026"]

    # A reminder scheduled for João (shown in his contact panel, cancelable), by the owner.
    from campaigns.scheduling import TemplateSpec, message_schedule

    reminder, _created = message_schedule(
        actor=owner, contact=joao.contact, inbox=joao.inbox, send_at=now + timedelta(days=1),
        template=TemplateSpec(name="pedido_enviado", language="pt_BR", params={"body": ["João", "A-200"]}),
    )  # fmt: skip
    data += ["A-200", "pedido_enviado (pt_BR): João, A-200"]
    # Its preview: the template with the first contact's values.
    from campaigns.broadcasts import broadcast_preview, template_find

    data.append(broadcast_preview(broadcasts[0], template_find(inbox, "pedido_enviado", "pt_BR")).body)

    # Contacts imported from a spreadsheet (a row refused), another file waiting for its columns, and a segment.
    from campaigns.imports import contact_import_run, contact_import_start, contact_import_upload
    from campaigns.segments import segment_create

    spreadsheet = "telefone;nome;cidade\n(21) 98888-7777;Carla Dias;Niterói\n12;Sem Número;Recife\n".encode()
    imported = contact_import_upload(actor=owner, tenant=tenant, filename="clientes.csv", data=spreadsheet)
    contact_import_start(actor=owner, contact_import=imported, mapping=imported.mapping, label_ids=[vip.pk])
    contact_import_run(imported.pk)
    waiting = contact_import_upload(actor=owner, tenant=tenant, filename="novos.csv", data=spreadsheet)
    segment = segment_create(
        actor=owner, tenant=tenant, name="VIP de Niterói", description="Quem tem a etiqueta VIP",
        filters={"labels_any": [vip.pk], "attributes": [{"key": "cidade", "op": "eq", "value": "Niterói"}]},
    )  # fmt: skip
    data += ["clientes.csv", "novos.csv", "telefone", "nome", "cidade", "Carla Dias", "Niterói", "Sem Número"]
    data += ["Recife", "VIP de Niterói", "Quem tem a etiqueta VIP", "(21) 98888-7777", "12"]

    # The owner protects the account with an authenticator app.
    client = Client()
    client.force_login(owner.user)
    enrol_totp(client)

    # The history's activity lines are written once, in the language of whoever acted.
    data += list(Message.objects.filter(tenant=tenant, type=Message.Type.SYSTEM).values_list("text", flat=True))

    # Contacts' numbers as pages show them, and what Meta's broken webhook says about itself.
    data += ["+55 11 3000-1000", "(11) 3000-1000"]
    data = sorted(set(data), key=len, reverse=True)
    workspace = Workspace(
        tenant=tenant,
        owner=owner,
        agent=agent,
        supervisor=supervisor,
        channel=channel,
        conversations=conversations,
        custom_role=custom_role,
        invitation_token=invitation_token,
        data=tuple(data),
    )
    workspace.ids = {
        "display_id": [c.display_id for c in conversations.values()],
        "membership_id": [agent.pk],
        "role_id": [custom_role.pk, role_builtin(tenant=tenant, key=BuiltinRole.AGENT).pk],
        "channel_id": [channel.pk],
        "event_id": list(WebhookEvent.objects.filter(tenant=tenant).order_by("id").values_list("pk", flat=True)),
        "label_id": [vip.pk],
        "quick_reply_id": list(tenant_quick_replies(tenant)),
        "invitation_id": list(Invitation.objects.filter(tenant=tenant).values_list("pk", flat=True)),
        "token_id": [token.pk],
        "delivery_id": list(EventDelivery.objects.filter(tenant=tenant).values_list("pk", flat=True)),
        "message_id": [joao.messages.filter(direction="in").values_list("pk", flat=True).first()],
        "action": ["assign"],
        "token": [invitation_token],
        "tenant_slug": [SLUG],
        "calendar_id": [calendar.pk],
        "inbox_id": [channel.inbox_id],
        "team_id": [team.pk],
        "policy_id": [sla_policy.pk],
        "rule_id": [rule.pk],
        "product_id": [product.pk],
        "import_id": [product_import.pk],
        "number": [order.number],
        "flow_id": [flow.pk],
        "contact_id": [joao.contact_id],
        "purpose_id": [newsletter.pk],
        "version": [1, 2],
        "link_id": [link.pk],
        "template_id": [shipped.pk, weekly.pk],
        "contact_import_id": [waiting.pk, imported.pk],
        "segment_id": [segment.pk],
        "broadcast_id": [b.pk for b in broadcasts],
        "scheduled_id": [reminder.pk],
    }
    return workspace


def tenant_quick_replies(tenant: Tenant) -> list[int]:
    from conversations.models import QuickReply

    # Another member's personal replies are theirs alone.
    shared = QuickReply.objects.filter(tenant=tenant).exclude(scope=QuickReply.Scope.PERSONAL)
    return list(shared.order_by("id").values_list("pk", flat=True))


# --- the pages -------------------------------------------------------------------------------------


def _routes(resolver: URLResolver | None = None, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(route, url name) of every URL pattern, nested includes flattened."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _routes(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry.name or ""


# The pages looked at: everything in a workspace, and a person's own account pages.
PAGE_PREFIXES = ("t/<slug:tenant_slug>/", "workspaces/", "account/", "invitations/", "accounts/")
PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")
# Routes of the prefixes above that are not pages of ours: allauth's link targets from e-mails (keys we
# cannot make here), and steps that only exist in the middle of another flow.
NOT_PAGES = {
    "account_confirm_email",  # the link of a confirmation e-mail
    "account_reset_password_from_key",  # the link of a password-reset e-mail
    "account_login_by_code",
    "account_confirm_login_code",
    "account_reset_password_from_key_done",
    "attachment_download",  # a customer's file, not a page
    "mfa_download_recovery_codes",  # a text file
    "product_import_errors",  # a CSV report (its words are checked in tests/payments)
    "payment_reconciliation_csv",  # a CSV file (its words are checked in tests/payments)
    "entry_link_qr",  # an image (PNG or SVG)
    "contact_import_errors",  # a CSV report (its words are checked in tests/campaigns)
    "broadcast_recipients_csv",  # a CSV file (its columns are checked in tests/campaigns)
    # A security key's pages: only a browser can register one (tests/e2e).
    "mfa_edit_webauthn",
    "mfa_remove_webauthn",
}
# Query strings a page is also rendered with: every status and tab of the list, the rows it re-renders.
VARIANTS: dict[str, list[dict[str, str]]] = {
    "inbox": [
        {},
        {"status": ""},
        {"status": "resolved"},
        {"status": "snoozed"},
        {"tab": "mine"},
        {"tab": "unassigned"},
    ],
    "inbox_list": [{"status": status, "tab": tab} for status in ("", "open", "pending") for tab in ("all", "mine")],
    "inbox_conversation": [{"status": ""}],
    "event_delivery_list": [{}, {"state": "done"}, {"state": "pending"}],
    "webhook_event_list": [{}, {"status": "failed"}],
    "payment_account_edit": [{"kind": kind} for kind in ("static_pix", "bcb_pix", "mercadopago", "stripe")],
    "order_list": [{}, {"status": "paid"}, {"q": "nobody"}],
    "payment_list": [{}, {"flagged": "1"}, {"q": "nobody"}, {"since": "2026-13-45", "kind": "paypal"}],
    "payment_reconciliation": [{}, {"since": "2026-12-31", "until": "2026-01-01"}],
    "flow_sessions": [{}, {"version": "1", "since": "2026-12-31", "until": "2026-01-01"}],
    "entry_link_list": [{}, {"archived": "1"}],
    "sources_report": [{}, {"since": "2026-12-31", "until": "2026-01-01"}],
}


@dataclass
class Page:
    url: str
    name: str
    html: str
    document: bool  # a whole page (``<html lang>``), not a fragment of one
    status: int = 200


def _urls(route: str, ids: dict[str, list[Any]]) -> list[str] | None:
    """Every URL of a route with the workspace's ids in it; None when one of its parameters is unknown."""
    names = [m.group(2) for m in PARAMETER.finditer(route)]
    if any(name not in ids for name in names):
        return None
    urls = []
    for values in itertools.product(*(ids[name] for name in names)):
        url = route
        for value in values:
            url = PARAMETER.sub(str(value), url, count=1)
        urls.append("/" + url)
    return urls


def _fragments(data: Any) -> list[str]:
    """The HTML a JSON fragment carries (``html``, ``header``, and each of ``rows``)."""
    found = [data[key] for key in ("html", "header") if isinstance(data.get(key), str)]
    if isinstance(data.get("rows"), dict):
        found += [html for html in data["rows"].values() if isinstance(html, str)]
    return found


def render_pages(client: Client, workspace: Workspace) -> tuple[list[Page], dict[str, str]]:
    """Every GET page and HTML fragment; and what each route that gave none answered (name → why)."""
    ids = dict(workspace.ids)
    # The person comes in through the workspace, as after signing in: pages outside it then follow
    # the language of the workspace they last worked in.
    assert client.get(f"/t/{SLUG}/").status_code == 200
    pages: list[Page] = []
    others: dict[str, str] = {}
    for route, name in _routes():
        if not route.startswith(PAGE_PREFIXES) or name in NOT_PAGES:
            continue
        urls = _urls(route, ids)
        if urls is None:
            others[name] = f"unknown parameter in {route}"
            continue
        for url in urls:
            queries = VARIANTS.get(name, [{}])
            if name == "inbox_rows":
                queries = [{"ids": ",".join(str(c.pk) for c in workspace.conversations.values()), "status": ""}]
            for query in queries:
                response = client.get(url, query)
                kind = response.get("Content-Type", "")
                shown = f"{url}?{urlencode(query)}" if query else url
                if kind.startswith("text/html") and response.status_code not in (302, 404, 405, 500):
                    pages.append(Page(shown, name, response.content.decode(), True, response.status_code))
                elif response.status_code == 200 and kind.startswith("application/json"):
                    htmls = _fragments(response.json())
                    pages += [Page(shown, name, html, document=False) for html in htmls]
                    if not htmls:
                        others[name] = "JSON without HTML"
                else:
                    others[name] = str(response.status_code)
            if others.get(name) == "405":
                break  # a POST-only action: the other ids answer the same
    # An error page, as a mistyped address shows it.
    missing = client.get(f"/t/{SLUG}/settings/labels/999999/")
    pages.append(Page("(not found)", "page_not_found", missing.content.decode(), True, missing.status_code))
    return pages, others


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


# The pages every run must have looked at: the discovery above must not lose them.
EXPECTED_PAGES = {
    "rule_list",
    "rule_create",
    "rule_edit",
    "rule_runs",
    "rule_dry_run",
    "tenant_dashboard",
    "member_list",
    "role_list",
    "role_create",
    "role_edit",
    "security_settings",
    "workspace_settings",
    "api_token_list",
    "audit_log",
    "channel_list",
    "channel_create",
    "channel_detail",
    "channel_template_list",
    "channel_template_create",
    "channel_template_edit",
    "channel_template_delete",
    "webhook_event_list",
    "webhook_event_detail",
    "label_list",
    "label_edit",
    "quick_reply_list",
    "quick_reply_edit",
    "availability_settings",
    "event_delivery_list",
    "inbox",
    "inbox_conversation",
    "inbox_list",
    "inbox_rows",
    "inbox_pane",
    "inbox_messages",
    "inbox_sidebar",
    "inbox_header",
    "inbox_notifications",
    "workspaces",
    "account_preferences",
    "invitation_accept",
    "mfa_index",
    "account_change_password",
    "account_email",
    "team_list",
    "team_create",
    "team_edit",
    "auto_assignment_list",
    "auto_assignment_edit",
    "product_list",
    "product_create",
    "product_edit",
    "product_import",
    "product_import_detail",
    "order_list",
    "order_detail",
    "order_create",
    "payment_account_list",
    "payment_account_edit",
    "payment_list",
    "payment_request_list",
    "payment_reconciliation",
    "flow_list",
    "flow_create",
    "flow_install",
    "flow_keys",
    "flow_settings",
    "flow_editor",
    "flow_version",
    "flow_test",
    "flow_sessions",
    "entry_link_list",
    "entry_link_create",
    "entry_link_edit",
    "contact_consent",
    "consent_settings",
    "sources_report",
    "broadcast_list",
    "broadcast_create",
    "broadcast_detail",
    "broadcast_edit",
    "broadcast_live",
    "message_prices",
    "scheduled_message_create",
    "contact_import",
    "contact_import_detail",
    "contact_import_progress",
    "segment_list",
    "segment_create",
    "segment_edit",
    "segment_count",
}


@pytest.fixture
def workspace(django_capture_on_commit_callbacks, settings, tmp_path) -> Workspace:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return build_workspace(django_capture_on_commit_callbacks)


def test_every_page_of_a_portuguese_workspace_is_in_portuguese(workspace):
    pages, others = render_pages(_client(workspace.owner.user), workspace)

    assert EXPECTED_PAGES - {page.name for page in pages} == set(), others
    assert {name: why for name, why in others.items() if why not in ("405", "302", "JSON without HTML")} == {}
    english: dict[str, dict[str, list[str]]] = {}
    for page in pages:
        found = terms_in(shown_texts(page.html), ENGLISH, workspace.data)
        if found:
            english.setdefault(page.url, {}).update(found)
    report = "\n".join(
        f"{url}: " + "; ".join(f"{word!r} in {texts[0]!r}" for word, texts in sorted(found.items()))
        for url, found in sorted(english.items())
    )
    assert english == {}, f"English on {len(english)} Portuguese pages:\n{report}"


def test_pages_say_their_language_and_an_english_member_sees_no_portuguese(workspace):
    pt_pages, _others = render_pages(_client(workspace.owner.user), workspace)
    user_preferences_update(user=workspace.owner.user, language="en")
    en_pages, _others = render_pages(_client(workspace.owner.user), workspace)

    assert {p.url: html_lang(p.html) for p in pt_pages if p.document} == {
        p.url: "pt-br" for p in pt_pages if p.document
    }
    assert {p.url: html_lang(p.html) for p in en_pages if p.document} == {p.url: "en" for p in en_pages if p.document}
    assert [p.url for p in en_pages] == [p.url for p in pt_pages]
    portuguese = {}
    for page in en_pages:
        if found := terms_in(shown_texts(page.html), PORTUGUESE, workspace.data):
            portuguese[page.url] = found
    report = "\n".join(
        f"{url}: " + "; ".join(f"{word!r} in {texts[0]!r}" for word, texts in sorted(found.items()))
        for url, found in sorted(portuguese.items())
    )
    assert portuguese == {}, f"Portuguese on {len(portuguese)} English pages:\n{report}"


# --- counts ----------------------------------------------------------------------------------------


def _visible(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return " ".join(shown_texts(response.content.decode()))


def test_counts_on_pages_take_the_plural_of_their_number():
    tenant = make_tenant("Loja Aurora", slug=SLUG, locale="pt-br")
    owner = owner_of(tenant)
    client = _client(owner.user)
    members = f"/t/{SLUG}/settings/members/"

    def count(text: str) -> str | None:
        found = re.search(r"(?<!\d)\d+ (membros?|members?)\b", text)
        return found.group(0) if found else None

    assert count(_visible(client, members)) == "1 membro"

    add_member(tenant, BuiltinRole.AGENT)
    assert count(_visible(client, members)) == "2 membros"

    user_preferences_update(user=owner.user, language="en")
    assert count(_visible(client, members)) == "2 members"
    add_member(tenant, BuiltinRole.AGENT)
    assert count(_visible(client, members)) == "3 members"


def test_failed_webhook_events_are_counted_in_portuguese(django_capture_on_commit_callbacks):
    tenant = make_tenant("Loja Aurora", slug=SLUG, locale="pt-br")
    client = _client(owner_of(tenant).user)
    channel = make_channel(tenant, name="Suporte")
    channels_page = f"/t/{SLUG}/settings/whatsapp/"

    def fail(body: bytes) -> WebhookEvent:
        event = WebhookEvent.objects.create(
            tenant=tenant, channel=channel, body=body, body_sha256=hashlib.sha256(body).hexdigest()
        )
        with django_capture_on_commit_callbacks():
            return webhook_event_process(event_id=event.pk)

    assert fail(b'{"entry": 1}').status == WebhookEvent.Status.FAILED
    one = _visible(client, channels_page)
    assert "1 evento de webhook não pôde ser processado." in one

    fail(b'{"entry": 2}')
    assert "2 eventos de webhook não puderam ser processados." in _visible(client, channels_page)
