"""Outbound delivery against the fake Cloud API, with its status webhooks coming back through the real
endpoint of a live server. Every test runs twice: against the fake in-process (a uvicorn thread) and
against ``python -m whatsapp.fake`` as a separate process, both driven only through HTTP."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations import tasks
from conversations.models import Message
from conversations.services import delivery, delivery_jobs
from conversations.services.actions import conversation_mark_read
from conversations.services.contacts import contact_marketing_consent_set
from conversations.services.delivery import message_deliver, messages_deliver_batch, messages_deliver_parts
from conversations.services.inbound import InboundSpec, message_receive
from conversations.services.outbound import OutboundSpec, message_send
from tests.conversations.factories import make_queued_message
from tests.e2e.harness import VENV_BIN, ServerProcess, ServerProcessError, free_port
from tests.factories import make_tenant, owner_of
from tests.prerequisites import require_postgresql, require_redis
from tests.whatsapp.openapi import assert_valid_send_request
from whatsapp import client as wa_client
from whatsapp import coordination, limiter, processing, webhooks
from whatsapp.cloud_api import CloudApiClient
from whatsapp.errors import AmbiguousSendError, TransientError
from whatsapp.fake import AdjustableClock, FakeAdminClient, FakeCloudApiServer, wait_for
from whatsapp.models import MessageTemplate, WebhookEvent
from whatsapp.services import channel_create, templates_sync

pytestmark = pytest.mark.django_db(transaction=True)

PNID = "106540352242922"
WABA = "102290129340398"
TOKEN = "fake-token"
SECRET = "fake-app-secret"
CUSTOMER = "5511987650001"


def _fake_process(log_dir: Path) -> tuple[ServerProcess, str]:
    """``python -m whatsapp.fake`` started on a free port, as ``make run`` and the browser tests start it."""
    for attempt in range(3):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = ServerProcess(
            name=f"fake-cloud-api-{port}",
            command=[str(VENV_BIN / "python"), "-m", "whatsapp.fake", "--host", "127.0.0.1", "--port", str(port),
                     "--log-level", "warning"],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            log_path=log_dir / f"fake-{port}.log",
            ready=f"{url}/_fake/health",
        )  # fmt: skip
        try:
            return process.start(), url
        except ServerProcessError as exc:
            # Another process may take the free port before the fake binds it; try another.
            if "address already in use" not in str(exc).lower() or attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="module", params=["in-process", "process"])
def fake_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of the fake Cloud API, in this process or in its own; either is reached only over HTTP."""
    if request.param == "in-process":
        with FakeCloudApiServer(clock=AdjustableClock()) as server:
            yield server.base_url
        return
    process, url = _fake_process(tmp_path_factory.mktemp("fake-cloud-api"))
    try:
        yield url
    finally:
        process.stop()


def _pacing_reset() -> None:
    """Forget the pace of earlier tests' sends: they all go from one number, mostly to one customer."""
    limiter.reset_local_state()
    if django_settings.REDIS_URL:
        redis = limiter._redis()
        for key in redis.keys(f"helpdesk:wa:*:{PNID}*"):
            redis.delete(key)


@pytest.fixture
def setup(fake_url, live_server, settings):
    settings.WHATSAPP_HTTP_TIMEOUT = 1.0
    settings.WHATSAPP_API_BASE_URL = fake_url
    wa_client._transport_override.pop("transport", None)  # this module talks to the local fake over HTTP
    coordination.DEFERRED.clear()
    _pacing_reset()
    admin = FakeAdminClient(fake_url)
    admin.reset()
    admin.set_clock(time.time())  # a reset keeps the clock: a test that moved it must not move the next one's
    admin.settings(sent_delay_s=0.01, delivered_delay_s=0.02, webhook_retry_delays_s=[0.05, 0.1, 0.2])
    tenant = make_tenant("Acme", slug="acme")
    channel = channel_create(
        actor=owner_of(tenant),
        name="Support",
        display_phone_number="+55 11 90000-0001",
        phone_number_id=PNID,
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=SECRET,
        verify=False,
    )
    admin.register_number(
        phone_number_id=PNID,
        display_phone_number="5511900000001",
        waba_id=WABA,
        access_token=TOKEN,
        app_secret=SECRET,
        webhook_url=f"{live_server.url}/webhooks/whatsapp/{channel.webhook_key}/",
        verified_name="Acme",
        seed_templates=True,
    )
    yield admin, channel, tenant
    admin.reset()  # no webhooks of this test reach the next one
    # A webhook already on its way holds rows locked until it is answered: the flush of this test's
    # tables must not start before (it would deadlock with it).
    wait_for(lambda: not any(admin.health()[k] for k in ("pending_webhooks", "scheduled_jobs")), timeout=10)
    admin.clear_faults()
    coordination.DEFERRED.clear()
    admin.close()


def _customer_writes(admin, channel, text="Oi, preciso de ajuda"):
    """The customer writes through the fake (opening the window there too); returns our conversation."""
    admin.inbound(phone_number_id=PNID, **{"from": CUSTOMER}, name="Cliente", type="text", text=text)
    message = wait_for(lambda: Message.objects.filter(inbox=channel.inbox, direction="in").order_by("-id").first())
    # The team opens it (its read receipt goes now): a reply then sends no receipt of its own, which
    # would take a fault a test sets up for the reply.
    conversation_mark_read(membership=owner_of(channel.tenant), conversation=message.conversation)
    return message.conversation


def _send(tenant, conversation, spec):
    message, created = message_send(actor=owner_of(tenant), conversation=conversation, spec=spec)
    assert created
    return message


def _status(message, expected, timeout=5.0):
    return wait_for(
        lambda: Message.objects.filter(pk=message.pk, status=expected).first(),
        timeout=timeout,
        message=f"message {message.pk} never reached {expected}",
    )


def _sends(admin):
    return [
        r for r in admin.requests(method="POST", path_contains="/messages") if "status" not in (r.get("json") or {})
    ]


def _meta_body(message: Message, kind: str, node: Any, *, context: str | None = None) -> dict[str, Any]:
    """The whole body Meta must receive for ``message``: its envelope around ``node``."""
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": kind,
        kind: node,
        "biz_opaque_callback_data": f"hd:{message.pk}",
    }
    if context is not None:
        body["context"] = {"message_id": context}
    return body


def _accepted_bodies(admin) -> list[dict[str, Any]]:
    """The send bodies the fake accepted, in the order they arrived, as it parsed them off the wire."""
    return [r["json"] for r in _sends(admin) if r["status_code"] == 200]


def _assert_each_arrived_as(admin, expected: list[tuple[Message, dict[str, Any]]]) -> None:
    """Each message was sent once, in order, with exactly its expected body, valid per Meta's OpenAPI spec."""
    for message, _body in expected:
        _status(message, "delivered")
    received = _accepted_bodies(admin)
    assert len(_sends(admin)) == len(expected)  # nothing refused, nothing sent twice
    assert [body["biz_opaque_callback_data"] for body in received] == [f"hd:{m.pk}" for m, _body in expected]
    for body, (_message, wanted) in zip(received, expected, strict=True):
        assert body == wanted
        assert_valid_send_request(body)


def test_text_replies_reactions_locations_and_interactive_messages_arrive_exactly_in_metas_shape(setup):
    admin, channel, tenant = setup
    conversation = _customer_writes(admin, channel)
    inbound = Message.objects.get(inbox=channel.inbox, direction="in")
    quoted = inbound.external_id
    image_link = "https://cdn.example.com.br/planos.jpg"
    cases: list[tuple[OutboundSpec, str, dict[str, Any], str | None]] = [
        (
            OutboundSpec(type="text", text="Olá! Como posso ajudar?"),
            "text",
            {"body": "Olá! Como posso ajudar?", "preview_url": False},
            None,
        ),
        (
            OutboundSpec(type="text", text="Planos em https://recarga.example/planos", content={"preview_url": True}),
            "text",
            {"body": "Planos em https://recarga.example/planos", "preview_url": True},
            None,
        ),
        (
            OutboundSpec(type="text", text="Respondendo você", reply_to=inbound),
            "text",
            {"body": "Respondendo você", "preview_url": False},
            quoted,
        ),
        (
            OutboundSpec(type="reaction", content={"message_id": quoted, "emoji": "👍"}),
            "reaction",
            {"message_id": quoted, "emoji": "👍"},
            None,
        ),
        (  # an empty emoji takes the reaction back
            OutboundSpec(type="reaction", content={"message_id": quoted, "emoji": ""}),
            "reaction",
            {"message_id": quoted, "emoji": ""},
            None,
        ),
        (
            OutboundSpec(
                type="location",
                content={
                    "latitude": -23.561414,
                    "longitude": -46.655881,
                    "name": "Loja Paulista",
                    "address": "Av. Paulista, 1578 - São Paulo",
                },
            ),
            "location",
            {
                "latitude": -23.561414,
                "longitude": -46.655881,
                "name": "Loja Paulista",
                "address": "Av. Paulista, 1578 - São Paulo",
            },
            None,
        ),
        (
            OutboundSpec(
                type="interactive",
                content={
                    "interactive_type": "button",
                    "header": {"type": "image", "image": {"link": image_link}},
                    "body": "Escolha uma opção",
                    "footer": "Recarga Fácil",
                    "buttons": [{"id": "recarga", "title": "Recarga"}, {"id": "saldo", "title": "Saldo"}],
                },
            ),
            "interactive",
            {
                "type": "button",
                "header": {"type": "image", "image": {"link": image_link}},
                "body": {"text": "Escolha uma opção"},
                "footer": {"text": "Recarga Fácil"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "recarga", "title": "Recarga"}},
                        {"type": "reply", "reply": {"id": "saldo", "title": "Saldo"}},
                    ]
                },
            },
            None,
        ),
        (
            OutboundSpec(
                type="interactive",
                reply_to=inbound,
                content={
                    "interactive_type": "list",
                    "header": "Planos",
                    "body": "Valores disponíveis",
                    "footer": "Preços com impostos",
                    "button": "Ver valores",
                    "sections": [
                        {
                            "title": "Recarga",
                            "rows": [
                                {"id": "r10", "title": "R$ 10", "description": "Válida por 30 dias"},
                                {"id": "r20", "title": "R$ 20"},
                            ],
                        },
                        {"title": "Pacotes", "rows": [{"id": "p5", "title": "5 GB"}]},
                    ],
                },
            ),
            "interactive",
            {
                "type": "list",
                "header": {"type": "text", "text": "Planos"},
                "body": {"text": "Valores disponíveis"},
                "footer": {"text": "Preços com impostos"},
                "action": {
                    "button": "Ver valores",
                    "sections": [
                        {
                            "title": "Recarga",
                            "rows": [
                                {"id": "r10", "title": "R$ 10", "description": "Válida por 30 dias"},
                                {"id": "r20", "title": "R$ 20"},
                            ],
                        },
                        {"title": "Pacotes", "rows": [{"id": "p5", "title": "5 GB"}]},
                    ],
                },
            },
            quoted,
        ),
        (
            OutboundSpec(
                type="interactive",
                content={
                    "interactive_type": "cta_url",
                    "header": {"type": "text", "text": "Pagamento"},
                    "body": "Pague sua recarga aqui",
                    "footer": "Link válido por 1 hora",
                    "display_text": "Pagar",
                    "url": "https://pay.example/recarga?id=4521",
                },
            ),
            "interactive",
            {
                "type": "cta_url",
                "header": {"type": "text", "text": "Pagamento"},
                "body": {"text": "Pague sua recarga aqui"},
                "footer": {"text": "Link válido por 1 hora"},
                "action": {
                    "name": "cta_url",
                    "parameters": {"display_text": "Pagar", "url": "https://pay.example/recarga?id=4521"},
                },
            },
            None,
        ),
    ]
    messages = [_send(tenant, conversation, spec) for spec, *_rest in cases]
    _assert_each_arrived_as(
        admin,
        [
            (message, _meta_body(message, kind, node, context=context))
            for message, (_spec, kind, node, context) in zip(messages, cases, strict=True)
        ],
    )


# (type, file name, MIME type, content, caption): what an agent attaches, and what WhatsApp allows captioned.
UPLOADS = [
    ("image", "comprovante.png", "image/png", b"\x89PNG\r\n\x1a\nfake png", "Seu comprovante"),
    ("audio", "recado.ogg", "audio/ogg", b"OggS\x00fake opus", ""),
    ("video", "tutorial.mp4", "video/mp4", b"\x00\x00\x00\x18ftypmp42 fake", "Como recarregar"),
    ("document", "boleto-4521.pdf", "application/pdf", b"%PDF-1.4 fake boleto", "Boleto de março"),
    ("sticker", "obrigado.webp", "image/webp", b"RIFF\x10\x00\x00\x00WEBPVP8 fake", ""),
]
# By link (type, link, caption, extra content): a document's file name is given with its link.
LINKS = [
    ("image", "https://cdn.example.com.br/banner.jpg", "Promoção de recarga", {}),
    ("audio", "https://cdn.example.com.br/aviso.mp3", "", {}),
    ("video", "https://cdn.example.com.br/passo-a-passo.mp4", "Passo a passo", {}),
    ("document", "https://cdn.example.com.br/contrato.pdf", "Seu contrato", {"filename": "contrato-4521.pdf"}),
    ("sticker", "https://cdn.example.com.br/joinha.webp", "", {}),
]


def test_media_by_uploaded_id_and_by_link_arrive_exactly_in_metas_shape(setup):
    admin, channel, tenant = setup
    conversation = _customer_writes(admin, channel)
    uploaded = [
        _send(
            tenant,
            conversation,
            OutboundSpec(type=kind, text=caption, upload=SimpleUploadedFile(name, content, content_type=mime)),
        )
        for kind, name, mime, content, caption in UPLOADS
    ]
    linked = [
        _send(tenant, conversation, OutboundSpec(type=kind, text=caption, content={"link": link, **extra}))
        for kind, link, caption, extra in LINKS
    ]
    expected = []
    media_ids = []
    for message, (kind, name, _mime, _content, caption) in zip(uploaded, UPLOADS, strict=True):
        media_id = message.attachments.get().external_media_id
        media_ids.append(media_id)
        node = {"id": media_id} | ({"caption": caption} if caption else {})
        if kind == "document":
            node["filename"] = name
        expected.append((message, _meta_body(message, kind, node)))
    for message, (kind, link, caption, extra) in zip(linked, LINKS, strict=True):
        node = {"link": link} | ({"caption": caption} if caption else {}) | extra
        expected.append((message, _meta_body(message, kind, node)))

    _assert_each_arrived_as(admin, expected)
    # Each file was uploaded once, as Meta's media endpoint takes it, and the fake holds its very bytes.
    assert [r["form"] for r in admin.requests(method="POST", path_contains="/media")] == [
        {
            "messaging_product": "whatsapp",
            "type": mime,
            "file": {"filename": name, "content_type": mime, "size": len(content)},
        }
        for _kind, name, mime, content, _caption in UPLOADS
    ]
    assert len(set(media_ids)) == len(UPLOADS)
    for media_id, (_kind, _name, _mime, content, _caption) in zip(media_ids, UPLOADS, strict=True):
        assert admin.http.get(f"/_fake/media/{media_id}").content == content


# BCB's dynamic BR Code example (CONTRACT §8): the fake checks its CRC as Meta does.
PIX_CODE = (
    "00020101021226700014br.gov.bcb.pix2548pix.example.com/8b3da2f39a4140d1a91abd93113bd441"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***630464E4"
)


def test_a_payment_request_and_its_order_status_arrive_exactly_in_metas_shape_and_the_customer_sees_them(
    setup, fake_url
):
    admin, channel, tenant = setup
    conversation = _customer_writes(admin, channel)
    expires_at = int(time.time()) + 3600
    pix = {"code": PIX_CODE, "merchant_name": "Acme Recargas", "key": "39580525000189", "key_type": "CNPJ"}
    request = _send(
        tenant,
        conversation,
        OutboundSpec(
            type="payment_request",
            content={
                "reference": "pedido-42.1",
                "body": "Seu pedido 42: pague com Pix ou pelo link.",
                "items": [
                    {"sku": "CHIP-5G", "name": "Chip 5G", "quantity": 2, "unit_price": 1990},
                    {"sku": "", "name": "Recarga", "quantity": 1, "unit_price": 3000},
                ],
                "subtotal": 6980,
                "shipping": 1500,
                "total": 8480,
                "expires_at": expires_at,
                "expiry_description": "O Pix vence em 1 hora.",
                "pix": pix,
                "link": "https://pay.example.com/p/42",
            },
        ),
    )
    paid = _send(
        tenant,
        conversation,
        OutboundSpec(
            type="order_status",
            content={"reference": "pedido-42.1", "body": "Pagamento recebido!", "status": "processing",
                     "payment_status": "captured", "payment_at": expires_at - 1800},
        ),
    )  # fmt: skip
    amount = lambda value: {"value": value, "offset": 100}  # noqa: E731
    order_details = {
        "type": "order_details",
        "body": {"text": "Seu pedido 42: pague com Pix ou pelo link."},
        "action": {
            "name": "review_and_pay",
            "parameters": {
                "reference_id": "pedido-42.1",
                "type": "digital-goods",
                "payment_type": "br",
                "payment_settings": [
                    {"type": "pix_dynamic_code", "pix_dynamic_code": pix},
                    {"type": "payment_link", "payment_link": {"uri": "https://pay.example.com/p/42"}},
                ],
                "currency": "BRL",
                "total_amount": amount(8480),
                "order": {
                    "status": "pending",
                    "items": [
                        {"retailer_id": "CHIP-5G", "name": "Chip 5G", "amount": amount(1990), "quantity": 2},
                        {"retailer_id": "custom-2", "name": "Recarga", "amount": amount(3000), "quantity": 1},
                    ],
                    "subtotal": amount(6980),
                    "tax": amount(0),
                    "shipping": amount(1500),
                    "expiration": {"timestamp": str(expires_at), "description": "O Pix vence em 1 hora."},
                },
            },
        },
    }
    order_status = {
        "type": "order_status",
        "body": {"text": "Pagamento recebido!"},
        "action": {
            "name": "review_order",
            "parameters": {
                "reference_id": "pedido-42.1",
                "order": {"status": "processing"},
                "payment": {"status": "captured", "timestamp": expires_at - 1800},
            },
        },
    }

    delivered = [_status(message, "delivered") for message in (request, paid)]
    # Each sent once, in order, exactly so, and accepted by the fake's checks of CONTRACT §7 (Meta's OpenAPI
    # spec does not describe payments: see tests/whatsapp/openapi.py).
    assert len(_sends(admin)) == 2
    assert _accepted_bodies(admin) == [
        _meta_body(request, "interactive", order_details),
        _meta_body(paid, "interactive", order_status),
    ]
    assert [(m.type, m.error_code, m.send_attempts) for m in delivered] == [
        ("payment_request", None, 1),
        ("order_status", None, 1),
    ]
    # On the customer's phone: the order with its lines, total and ways to pay, now processing and paid.
    state = admin.http.get("/_fake/simulator/state", params={"pnid": PNID, "customer": CUSTOMER}).json()
    shown = next(m["interactive"]["order"] for m in state["messages"] if m["wamid"] == delivered[0].external_id)
    assert (shown["total"], shown["status"], shown["payment_status"]) == ("BRL 84.80", "processing", "captured")
    assert (shown["pix_code"], shown["payment_link"]) == (PIX_CODE, "https://pay.example.com/p/42")
    assert [item["name"] for item in shown["items"]] == ["Chip 5G", "Recarga"]


def messages_sweep() -> dict[str, int]:
    return delivery.messages_sweep(channel_type="whatsapp")


def test_a_contact_card_queued_for_the_sender_arrives_exactly_in_metas_shape(setup):
    # Agents cannot send contact cards (the service refuses the type), but the sender delivers one queued.
    admin, channel, _tenant = setup
    conversation = _customer_writes(admin, channel)
    card = {
        "name": {"formatted_name": "Maria Souza", "first_name": "Maria", "last_name": "Souza"},
        "phones": [{"phone": "+55 11 98765-4321", "type": "WORK", "wa_id": "5511987654321"}],
        "emails": [{"email": "maria@example.com.br", "type": "WORK"}],
        "org": {"company": "Recarga Fácil", "title": "Gerente"},
    }
    message = _queue(conversation, "Maria Souza", type=Message.Type.CONTACTS, content={"contacts": [card]})

    assert message_deliver(message_id=message.pk) == "sent"

    _assert_each_arrived_as(admin, [(message, _meta_body(message, "contacts", [card]))])


# Templates as Meta lists them once approved: text, image and document headers, positional and named
# parameters, quick reply and URL buttons.
TEMPLATES: list[dict[str, Any]] = [
    {
        "name": "pedido_enviado",
        "language": "pt_BR",
        "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Pedido {{1}}", "example": {"header_text": ["#1234"]}},
            {
                "type": "BODY",
                "text": "Olá {{1}}, seu pedido {{2}} saiu para entrega.",
                "example": {"body_text": [["Maria", "#1234"]]},
            },
            {"type": "FOOTER", "text": "Loja Exemplo"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Falar com atendente"},
                    {"type": "URL", "text": "Rastrear", "url": "https://rastreio.example/{{1}}", "example": ["x"]},
                ],
            },
        ],
    },
    {
        "name": "promocao_recarga",
        "language": "pt_BR",
        "category": "MARKETING",
        "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW..."]}},
            {
                "type": "BODY",
                "text": "{{1}}, recarregue hoje e ganhe {{2}} de bônus.",
                "example": {"body_text": [["Maria", "2 GB"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [{"type": "QUICK_REPLY", "text": "Quero"}, {"type": "QUICK_REPLY", "text": "Parar"}],
            },
        ],
    },
    {
        "name": "boleto_disponivel",
        "language": "pt_BR",
        "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "DOCUMENT", "example": {"header_handle": ["4::cGRm..."]}},
            {
                "type": "BODY",
                "text": "Olá {{1}}, seu boleto de {{2}} está anexo.",
                "example": {"body_text": [["Maria", "R$ 30"]]},
            },
        ],
    },
    {
        "name": "reserva_confirmada",
        "language": "pt_BR",
        "category": "UTILITY",
        "parameter_format": "NAMED",
        "components": [
            {
                "type": "HEADER",
                "format": "TEXT",
                "text": "Reserva {{codigo}}",
                "example": {"header_text_named_params": [{"param_name": "codigo", "example": "R-1"}]},
            },
            {
                "type": "BODY",
                "text": "Olá {{nome}}, sua mesa está reservada para {{dia}}.",
                "example": {
                    "body_text_named_params": [
                        {"param_name": "nome", "example": "Maria"},
                        {"param_name": "dia", "example": "sábado"},
                    ]
                },
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "URL", "text": "Ver reserva", "url": "https://reservas.example/{{1}}", "example": ["R-1"]}
                ],
            },
        ],
    },
]


def test_templates_arrive_exactly_in_metas_shape_with_header_body_and_button_parameters(setup):
    admin, channel, tenant = setup
    conversation = _customer_writes(admin, channel)
    # promocao_recarga is a MARKETING template: the customer agreed to marketing.
    contact_marketing_consent_set(contact=conversation.contact, consent="opted_in", at=timezone.now())
    for template in TEMPLATES:
        admin.add_template(waba_id=WABA, status="APPROVED", **template)
    templates_sync(channel=channel)
    banner = "https://cdn.example.com.br/promo.jpg"
    boleto = "https://cdn.example.com.br/boleto-4521.pdf"
    cases: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = [
        (
            "pedido_enviado",
            {"header": ["#4521"], "body": ["Ana", "#4521"], "buttons": {0: "FALAR_ATENDENTE", 1: "4521"}},
            [
                {"type": "header", "parameters": [{"type": "text", "text": "#4521"}]},
                {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "#4521"}]},
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": "FALAR_ATENDENTE"}],
                },
                {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "4521"}]},
            ],
        ),
        (
            "promocao_recarga",
            {"header": [{"type": "image", "link": banner}], "body": ["Ana", "3 GB"], "buttons": {1: "PARAR_PROMO"}},
            [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": banner}}]},
                {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "3 GB"}]},
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "1",
                    "parameters": [{"type": "payload", "payload": "PARAR_PROMO"}],
                },
            ],
        ),
        (
            "boleto_disponivel",
            {"header": [{"link": boleto, "filename": "boleto-4521.pdf"}], "body": ["Ana", "R$ 30,00"]},
            [
                {
                    "type": "header",
                    "parameters": [{"type": "document", "document": {"link": boleto, "filename": "boleto-4521.pdf"}}],
                },
                {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "R$ 30,00"}]},
            ],
        ),
        (
            "reserva_confirmada",
            {"header": {"codigo": "R-77"}, "body": {"dia": "sábado", "nome": "Ana"}, "buttons": {0: "R-77"}},
            [
                {"type": "header", "parameters": [{"type": "text", "text": "R-77", "parameter_name": "codigo"}]},
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Ana", "parameter_name": "nome"},
                        {"type": "text", "text": "sábado", "parameter_name": "dia"},
                    ],
                },
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "R-77"}]},
            ],
        ),
    ]
    messages = [
        _send(
            tenant,
            conversation,
            OutboundSpec(type="template", content={"name": name, "language": "pt_BR", "params": params}),
        )
        for name, params, _components in cases
    ]

    _assert_each_arrived_as(
        admin,
        [
            (
                message,
                _meta_body(
                    message, "template", {"name": name, "language": {"code": "pt_BR"}, "components": components}
                ),
            )
            for message, (name, _params, components) in zip(messages, cases, strict=True)
        ],
    )
    # The customer's phone shows them filled in.
    shown = {m["rendered"]["name"]: m["rendered"] for m in admin.messages(direction="out")}
    assert shown["pedido_enviado"]["header"] == {"format": "TEXT", "text": "Pedido #4521"}
    assert shown["pedido_enviado"]["body"] == "Olá Ana, seu pedido #4521 saiu para entrega."
    assert shown["reserva_confirmada"]["body"] == "Olá Ana, sua mesa está reservada para sábado."
    assert [b.get("url") for b in shown["reserva_confirmada"]["buttons"]] == ["https://reservas.example/R-77"]


def test_a_template_sent_after_the_window_arrives_with_its_parameters(setup):
    admin, channel, tenant = setup
    conversation = _customer_writes(admin, channel)
    templates_sync(channel=channel)
    template = MessageTemplate.objects.get(tenant=tenant, name="order_update", status="APPROVED")
    type(conversation).objects.filter(pk=conversation.pk).update(last_inbound_at=timezone.now() - timedelta(days=2))
    conversation.refresh_from_db()
    admin.advance_clock(2 * 24 * 3600)  # Meta's window is closed too
    params = {"body": ["Ana", "#4521"]}
    message = _send(
        tenant,
        conversation,
        OutboundSpec(type="template", content={"name": template.name, "language": template.language, "params": params}),
    )
    node = {
        "name": "order_update",
        "language": {"code": "pt_BR"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "#4521"}]}
        ],
    }
    _assert_each_arrived_as(admin, [(message, _meta_body(message, "template", node))])
    assert admin.message(Message.objects.get(pk=message.pk).external_id)["status"] == "delivered"


@pytest.mark.parametrize("fault", [{"error_next": {"130429": 1}}, {"error_next": {"131056": 1}}, {"fail_next_5xx": 1}])
def test_transient_errors_are_retried_and_then_delivered(setup, fault):
    admin, channel, tenant = setup
    conversation = _customer_writes(admin, channel)
    admin.set_faults(**fault)
    message = _send(tenant, conversation, OutboundSpec(type="text", text="Tentando de novo"))
    message.refresh_from_db()
    assert (message.status, message.send_attempts, message.external_id) == ("queued", 1, None)
    deferred = [(call[0].name, call[1]) for call in coordination.DEFERRED]
    assert deferred == [("conversations.tasks.message_deliver", message.pk)]
    # The backoff elapses (moved instead of waited for), and the retry runs.
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert message_deliver(message_id=message.pk) == "sent"
    _status(message, "delivered")
    assert len(_sends(admin)) == 2
    assert Message.objects.get(pk=message.pk).send_attempts == 2


def test_131047_outside_metas_window_fails_once_with_the_code_shown(setup):
    admin, channel, tenant = setup
    # The conversation exists only in our database: for WhatsApp the customer never wrote, so the window is closed.
    message, _created = message_receive(
        inbox=channel.inbox,
        spec=InboundSpec(
            source_id=CUSTOMER, external_id="wamid.local-only", occurred_at=timezone.now(), type="text", text="Oi"
        ),
    )
    sent = _send(tenant, message.conversation, OutboundSpec(type="text", text="Olá"))
    failed = _status(sent, "failed")
    assert failed.error_code == 131047
    assert "24 hours" in failed.error_details or "24 hours" in failed.error_title
    assert len(_sends(admin)) == 1
    assert coordination.DEFERRED == []


def test_132001_unknown_template_fails_once_without_retry(setup):
    admin, channel, tenant = setup
    conversation = _customer_writes(admin, channel)
    MessageTemplate.objects.create(
        tenant=tenant, waba_id=WABA, name="not_at_meta", language="pt_BR", status="APPROVED", components=[]
    )
    message = _send(
        tenant, conversation, OutboundSpec(type="template", content={"name": "not_at_meta", "language": "pt_BR"})
    )
    message.refresh_from_db()
    assert (message.status, message.error_code, message.send_attempts) == ("failed", 132001, 1)
    assert message.error_title
    assert len(_sends(admin)) == 1
    assert coordination.DEFERRED == []


def test_a_send_that_timed_out_after_acceptance_is_not_sent_twice(setup, settings):
    admin, channel, tenant = setup
    settings.WHATSAPP_HTTP_TIMEOUT = 0.3
    settings.WHATSAPP_AMBIGUOUS_SEND_WAIT_SECONDS = 0.0
    conversation = _customer_writes(admin, channel)
    admin.set_faults(timeout_after_accept_next=1, timeout_hang_s=3)
    message = _send(tenant, conversation, OutboundSpec(type="text", text="Chegou?"))
    # The status webhook carrying our id names the message although the response never came.
    delivered = _status(message, "delivered")
    assert delivered.external_id
    assert messages_sweep() == {"requeued": 0, "confirmed": 0, "retried": 0}
    assert len(_sends(admin)) == 1
    assert Message.objects.get(pk=message.pk).send_attempts == 1


def _reported(admin: FakeAdminClient) -> list[dict[str, Any]]:
    """The text messages the fake took, once it delivered them and posted every status webhook about them."""

    def settled() -> list[dict[str, Any]]:
        sent = [m for m in admin.messages(direction="out", phone_number_id=PNID) if m["type"] == "text"]
        done = sent and all(m["status"] == "delivered" for m in sent)
        return sent if done and not admin.webhooks(phone_number_id=PNID, state="pending") else []

    return wait_for(settled, message="the fake did not report its sends")


@pytest.fixture
def statuses_unapplied(setup, settings, monkeypatch):
    """A send Meta took whose answer never came (the worker died), and its status webhooks stored and not applied
    (the drain that would apply them died with it): the message, the fake's send and the stored events."""
    admin, channel, tenant = setup
    settings.WHATSAPP_HTTP_TIMEOUT = 0.3
    settings.WHATSAPP_AMBIGUOUS_SEND_WAIT_SECONDS = 0.0
    conversation = _customer_writes(admin, channel)
    held: list[int] = []
    monkeypatch.setattr(webhooks, "drain_request", lambda event_id, channel_id: held.append(event_id))
    admin.set_faults(timeout_after_accept_next=1, timeout_hang_s=3)
    message = _send(tenant, conversation, OutboundSpec(type="text", text="Chegou?"))
    (sent,) = _reported(admin)
    assert WebhookEvent.objects.filter(pk__in=held, status="pending").count() == len(held) == 2
    message.refresh_from_db()
    assert (message.status, message.external_id) == ("sending", None)
    return message, sent, held


def test_a_send_whose_status_waits_unapplied_is_confirmed_by_the_sweeper_not_sent_again(setup, statuses_unapplied):
    admin, _channel, _tenant = setup
    message, sent, held = statuses_unapplied

    # The sweeper applies them first: they record the send (and its delivery), and nothing is sent again.
    assert messages_sweep() == {"requeued": 0, "confirmed": 0, "retried": 0}

    message.refresh_from_db()
    assert (message.status, message.external_id, message.send_attempts) == ("delivered", sent["wamid"], 1)
    assert len(_sends(admin)) == 1
    assert list(WebhookEvent.objects.filter(pk__in=held).values_list("status", flat=True)) == ["processed"] * 2


def test_the_sweeper_does_not_send_again_while_a_status_it_could_not_apply_waits(
    setup, statuses_unapplied, monkeypatch
):
    admin, _channel, _tenant = setup
    message, _sent, _held = statuses_unapplied
    # Another job holds the events (a drain in progress): the sweeper cannot apply them, and does not guess.
    monkeypatch.setattr(processing, "_claim_and_process", lambda events, limit: [])

    assert messages_sweep() == {"requeued": 0, "confirmed": 0, "retried": 0}

    message.refresh_from_db()
    assert (message.status, message.external_id, message.send_attempts) == ("sending", None, 1)
    assert len(_sends(admin)) == 1


def test_a_send_whose_pacing_cannot_be_reached_is_queued_again_a_second_later_and_then_sent_once(setup, monkeypatch):
    admin, channel, tenant = setup
    conversation = _customer_writes(admin, channel)
    real = limiter.send_slot_acquire

    def redis_down(**kwargs):
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(limiter, "send_slot_acquire", redis_down)
    coordination.DEFERRED.clear()
    message = _send(tenant, conversation, OutboundSpec(type="text", text="Chegou?"))

    message.refresh_from_db()
    assert (message.status, message.error_title) == ("queued", "Paused: the send pacing is unavailable")
    assert _sends(admin) == []
    [(task, arg, delay, _kwargs)] = coordination.DEFERRED
    assert (task.name, arg, delay) == ("conversations.tasks.message_deliver", message.pk, 1.0)

    monkeypatch.setattr(limiter, "send_slot_acquire", real)  # Redis is back
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())  # the second has passed
    assert task.apply(args=(arg,)).result == "sent"
    _status(message, "delivered")
    assert len(_sends(admin)) == 1


def test_the_fakes_latency_holds_answers_past_a_shorter_client_timeout(setup):
    admin, channel, _tenant = setup
    _customer_writes(admin, channel)
    admin.clear_requests()
    payload = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "text",
        "text": {"body": "Demorou?", "preview_url": False},
    }
    with CloudApiClient(django_settings.WHATSAPP_API_BASE_URL, channel.api_version, TOKEN, timeout=0.5) as api:
        admin.set_faults(latency_ms=1500)
        with pytest.raises(AmbiguousSendError):
            api.send_message(PNID, payload)
        with pytest.raises(TransientError):  # a read is safe to repeat: not ambiguous
            api.get_phone_number(PNID)

        def answered() -> list[dict[str, Any]]:
            requests = admin.requests()
            return requests if all(r["status_code"] for r in requests) else []

        # The fake answered both only after the client had left, and never made the send.
        settled = wait_for(answered)
        assert [(r["method"], r["status_code"]) for r in settled] == [("POST", 499), ("GET", 200)]
        assert admin.messages(direction="out") == []

        admin.clear_faults()
        result = api.send_message(PNID, payload)
        assert api.get_phone_number(PNID)["id"] == PNID

    assert [m["wamid"] for m in admin.messages(direction="out")] == [result.wamid]


def test_a_send_held_past_the_client_timeout_is_retried_after_its_deadline_and_delivered_once(setup, settings):
    admin, channel, tenant = setup
    settings.WHATSAPP_HTTP_TIMEOUT = 0.5
    settings.WHATSAPP_AMBIGUOUS_SEND_WAIT_SECONDS = 0.0
    conversation = _customer_writes(admin, channel)
    admin.set_faults(latency_ms=1500)
    message = _send(tenant, conversation, OutboundSpec(type="text", text="Demorou?"))
    message.refresh_from_db()
    assert (message.status, message.external_id, message.error_title) == (
        "sending",
        None,
        "Waiting for WhatsApp to confirm the send",
    )
    wait_for(lambda: [r["status_code"] for r in _sends(admin)] == [499])  # the fake never made it
    admin.clear_faults()

    assert messages_sweep() == {"requeued": 0, "confirmed": 0, "retried": 1}

    delivered = _status(message, "delivered")
    assert (delivered.send_attempts, delivered.error_title) == (2, "")
    assert [r["status_code"] for r in _sends(admin)] == [499, 200]
    assert [m["wamid"] for m in admin.messages(direction="out")] == [delivered.external_id]


def test_a_send_that_never_reached_meta_is_retried_when_its_deadline_passes(setup):
    admin, channel, tenant = setup
    conversation = _customer_writes(admin, channel)
    admin.set_faults(error_next={"130429": 1})
    message = _send(tenant, conversation, OutboundSpec(type="text", text="Alô"))
    # The worker died right after claiming it: still "sending", no wamid, no status webhook will come.
    Message.objects.filter(pk=message.pk).update(status="sending", next_attempt_at=timezone.now())
    coordination.DEFERRED.clear()
    assert messages_sweep() == {"requeued": 0, "confirmed": 0, "retried": 1}
    _status(message, "delivered")
    assert [r["status_code"] for r in _sends(admin)] == [400, 200]


def test_a_send_failing_transiently_every_time_is_recorded_failed_after_the_last_attempt(setup, settings):
    admin, channel, tenant = setup
    settings.DELIVERY_MAX_SEND_ATTEMPTS = 2
    conversation = _customer_writes(admin, channel)
    admin.set_faults(fail_next_5xx=5)
    message = _send(tenant, conversation, OutboundSpec(type="text", text="Vai falhar"))
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert message_deliver(message_id=message.pk) == "failed-transient"
    message.refresh_from_db()
    assert (message.status, message.send_attempts, message.error_code) == ("failed", 2, 131000)
    assert len(_sends(admin)) == 2


def test_no_one_second_window_exceeds_the_configured_rate(setup):
    admin, channel, tenant = setup
    type(channel).objects.filter(pk=channel.pk).update(throughput_per_second=10)
    conversations = []
    for i in range(30):
        admin.inbound(phone_number_id=PNID, **{"from": f"55119876{i:05d}"}, name=f"C{i}", type="text", text="oi")
    wait_for(lambda: Message.objects.filter(inbox=channel.inbox, direction="in").count() == 30, timeout=30)
    conversations = [m.conversation for m in Message.objects.filter(inbox=channel.inbox, direction="in")]
    admin.clear_requests()
    for conversation in conversations:
        _send(tenant, conversation, OutboundSpec(type="text", text="Promoção de recarga"))
    times = sorted(r["at"] for r in _sends(admin))
    assert len(times) == 30
    worst = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert worst <= 10
    assert not any(r["status_code"] == 400 for r in _sends(admin))
    # Every status webhook has come back and been stored: none is still on its way when the test ends.
    delivered = Message.objects.filter(inbox=channel.inbox, direction="out", status="delivered")
    assert wait_for(lambda: delivered.count() == 30, timeout=30)


def test_a_send_on_its_own_paces_the_next_from_when_meta_answered_it(setup):
    admin, channel, tenant = setup
    type(channel).objects.filter(pk=channel.pk).update(throughput_per_second=1)
    conversation = _customer_writes(admin, channel)
    admin.set_faults(latency_ms=300)  # Meta answers each send 0.3 s after it arrived

    for text in ("Primeira", "Segunda"):
        _send(tenant, conversation, OutboundSpec(type="text", text=text))

    first, second = (r["at"] for r in _sends(admin))
    # A second (plus the margin) after the first answer, not after the first send started.
    assert second - first >= 1.3


def test_a_brazilian_customer_known_without_the_ninth_digit_gets_our_reply(setup):
    """WhatsApp may name a Brazilian mobile without its ninth digit; we store it with the digit and
    send there, and it reaches the same person, whose window is open."""
    admin, channel, tenant = setup
    admin.inbound(phone_number_id=PNID, **{"from": "551187654321"}, name="Cliente", type="text", text="Oi")
    inbound = wait_for(lambda: Message.objects.filter(inbox=channel.inbox, direction="in").first())
    assert inbound.conversation.contact_inbox.source_id == "5511987654321"
    message = _send(tenant, inbound.conversation, OutboundSpec(type="text", text="Olá!"))
    delivered = _status(message, "delivered")
    assert (delivered.error_code, delivered.error_title) == (None, "")
    [send] = _sends(admin)
    assert send["json"]["to"] == "5511987654321"
    assert [m["wa_id"] for m in admin.messages() if m["direction"] == "out"] == ["551187654321"]


# The send queue worked in batches: claimed and loaded together, sent in order per conversation,
# parts side by side, one job per inbox.


def _conversations(admin, channel, count: int) -> list:
    """``count`` customers write first (their windows open); their conversations, oldest first."""
    for i in range(count):
        admin.inbound(phone_number_id=PNID, **{"from": f"55119870{i:05d}"}, name=f"C{i}", type="text", text="oi")
    inbound = Message.objects.filter(inbox=channel.inbox, direction="in")
    wait_for(lambda: inbound.count() == count, timeout=10)
    admin.clear_requests()
    return [m.conversation for m in inbound.order_by("conversation_id")]


_queue = make_queued_message


def _sent_texts(admin) -> list[tuple[str, str]]:
    return [(r["json"]["to"], r["json"]["text"]["body"]) for r in _sends(admin) if r["status_code"] == 200]


def test_a_batch_sends_the_due_messages_of_its_part_in_order(setup):
    admin, channel, _tenant = setup
    first, second = _conversations(admin, channel, 2)  # consecutive ids: one in each of two parts
    mine = [_queue(first, f"Mensagem {i}") for i in range(4)]
    later = _queue(first, "Depois", next_attempt_at=timezone.now() + timedelta(minutes=5))
    other_part = _queue(second, "Outra parte")
    to = first.contact_inbox.source_id

    outcomes = messages_deliver_batch(inbox_id=channel.inbox_id, part=first.pk % 2, parts=2, limit=10)

    assert outcomes == ["sent", "sent", "sent", "sent"]
    assert _sent_texts(admin) == [(to, f"Mensagem {i}") for i in range(4)]
    accepted = {m["biz_opaque_callback_data"]: m["wamid"] for m in admin.messages() if m["direction"] == "out"}
    for message in mine:
        message.refresh_from_db()
        assert (message.status, message.send_attempts) in {("sent", 1), ("delivered", 1)}
        assert message.external_id == accepted[f"hd:{message.pk}"]
    # Not due yet, and another part's: left queued, never claimed.
    for message in (later, other_part):
        message.refresh_from_db()
        assert (message.status, message.send_attempts, message.external_id) == ("queued", 0, None)
    assert messages_deliver_batch(inbox_id=channel.inbox_id, part=first.pk % 2, parts=2, limit=10) == []


def test_a_batch_claims_and_loads_its_messages_in_a_fixed_number_of_queries(setup):
    admin, channel, _tenant = setup
    [conversation] = _conversations(admin, channel, 1)
    # No status may reach a message before its send is recorded: that path takes two more statements,
    # and whether it happens would depend on the machine's speed.
    admin.settings(sent_delay_s=3600, delivered_delay_s=3600)

    def queries_for(count: int) -> int:
        for i in range(count):
            _queue(conversation, f"Lote {count}.{i}")
        with CaptureQueriesContext(connection) as ctx:
            assert messages_deliver_batch(inbox_id=channel.inbox_id, part=0, parts=1, limit=50) == ["sent"] * count
        return len(ctx.captured_queries)

    two, six = queries_for(2), queries_for(6)
    # The only statements per message are those that record its send with its MessageStatusChanged
    # event, in one transaction: savepoint, UPDATE, the outbox's INSERT, release. The event goes to no
    # subscriber: the broadcasts' outcomes take automations' messages only, and these are an API client's.
    assert six - two == 4 * 4


def test_the_parts_of_a_queue_go_out_side_by_side_each_in_order(setup, settings):
    require_postgresql("SQLite serialises the threads' writers; PostgreSQL runs them side by side")
    admin, channel, _tenant = setup
    settings.DELIVERY_SEND_PARTS = 3
    settings.DELIVERY_SEND_BATCH = 2
    conversations = _conversations(admin, channel, 5)
    queued = [_queue(c, f"{c.pk}:{i}") for i in range(4) for c in conversations]

    assert messages_deliver_parts(inbox_id=channel.inbox_id, seconds=30) == 20

    sent = _sent_texts(admin)
    assert len(sent) == 20
    assert sorted(text for _to, text in sent) == sorted(m.text for m in queued)  # each once
    for c in conversations:
        mine = [text for to, text in sent if to == c.contact_inbox.source_id]
        assert mine == [f"{c.pk}:{i}" for i in range(4)]  # in the order written
    assert Message.objects.filter(pk__in=[m.pk for m in queued], external_id__isnull=True).count() == 0
    assert not Message.objects.filter(pk__in=[m.pk for m in queued], status__in=["queued", "sending"]).exists()


@pytest.fixture
def worker_mode(settings, monkeypatch):
    """Call it to go on as with a worker: jobs are enqueued, not run; it returns the ones enqueued."""
    require_redis("without a worker every message is sent at once")
    enqueued: list[tuple] = []

    def start() -> list[tuple]:
        settings.CELERY_TASK_ALWAYS_EAGER = False
        monkeypatch.setattr(tasks.messages_send_drain, "delay", lambda *args: enqueued.append(args))
        monkeypatch.setattr(tasks.message_deliver, "delay", lambda *args: enqueued.append(("deliver", *args)))
        return enqueued

    yield start
    for key in coordination.redis_client().keys("helpdesk:send:*"):
        coordination.redis_client().delete(key)


def test_one_job_works_an_inbox_queue_however_many_messages_are_queued(setup, worker_mode):
    admin, channel, _tenant = setup
    [conversation] = _conversations(admin, channel, 1)
    enqueued = worker_mode()
    for i in range(3):
        message = _queue(conversation, f"Campanha {i}")
        delivery_jobs.send_request(message_id=message.pk, inbox_id=channel.inbox_id)
    assert enqueued == [(channel.inbox_id,)]
    # Once that job let go (its queue was empty), the next message starts another.
    coordination.redis_client().delete(delivery_jobs.send_key(channel.inbox_id))
    delivery_jobs.send_request(message_id=message.pk, inbox_id=channel.inbox_id)
    assert enqueued == [(channel.inbox_id,), (channel.inbox_id,)]
    assert _sends(admin) == []  # nothing was sent by the requests themselves


def test_the_sweeper_leaves_a_queue_being_worked_alone_and_restarts_an_abandoned_one(setup, worker_mode, settings):
    admin, channel, _tenant = setup
    [conversation] = _conversations(admin, channel, 1)
    enqueued = worker_mode()
    stuck = _queue(conversation, "Esquecida")
    Message.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    coordination.redis_client().set(delivery_jobs.send_key(channel.inbox_id), "1", ex=60)  # a job is on it

    assert messages_sweep()["requeued"] == 1
    assert enqueued == []

    coordination.redis_client().delete(delivery_jobs.send_key(channel.inbox_id))  # that job died with its key expired
    assert messages_sweep()["requeued"] == 1
    assert enqueued == [(channel.inbox_id,)]
    stuck.refresh_from_db()
    assert (stuck.status, stuck.send_attempts) == ("queued", 0)


def test_a_part_whose_database_fails_does_not_stop_the_others(setup, settings, monkeypatch, caplog):
    require_postgresql("SQLite serialises the threads' writers; PostgreSQL runs them side by side")
    sender = delivery

    admin, channel, _tenant = setup
    settings.DELIVERY_SEND_PARTS = 2
    first, second = _conversations(admin, channel, 2)
    failing = _queue(first, "Não vai")
    fine = _queue(second, "Vai")
    batch = sender.messages_deliver_batch

    def deliver(**kwargs):
        if kwargs["part"] == first.pk % 2:
            raise sender.Message.DoesNotExist("the database went away")
        return batch(**kwargs)

    monkeypatch.setattr(sender, "messages_deliver_batch", deliver)
    assert messages_deliver_parts(inbox_id=channel.inbox_id, seconds=30) == 1
    assert _sent_texts(admin) == [(second.contact_inbox.source_id, "Vai")]
    assert f"Sending part {first.pk % 2} of inbox {channel.inbox_id} failed" in caplog.text
    failing.refresh_from_db()
    fine.refresh_from_db()
    assert (failing.status, fine.status) in {("queued", "sent"), ("queued", "delivered")}


# Read receipts: the team opening a conversation gives the customer blue ticks.


def _posts(admin) -> list[dict]:
    return admin.requests(method="POST", path_contains="/messages")


def _reads(admin) -> list[dict]:
    return [r for r in _posts(admin) if "status" in (r.get("json") or {})]


def _customer_wrote(admin, channel, texts: list[str]) -> list[Message]:
    for text in texts:
        admin.inbound(phone_number_id=PNID, **{"from": CUSTOMER}, name="Cliente", type="text", text=text)
    inbound = Message.objects.filter(inbox=channel.inbox, direction="in").order_by("id")
    wait_for(lambda: inbound.count() == len(texts), message=f"{len(texts)} inbound messages")
    return list(inbound)


def _team_opens(tenant, conversation) -> None:
    client = Client()
    client.force_login(owner_of(tenant).user)
    assert client.post(f"/t/acme/inbox/c/{conversation.display_id}/read/").json() == {"ok": True}


def _read_body(wamid: str) -> dict:
    return {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}


def test_opening_an_unread_conversation_marks_the_latest_inbound_message_read(setup):
    admin, channel, tenant = setup
    _first, latest = _customer_wrote(admin, channel, ["Oi", "Preciso de ajuda"])
    assert latest.conversation.unread_count == 2

    _team_opens(tenant, latest.conversation)

    [read] = _reads(admin)
    assert (read["path"], read["status_code"], read["json"]) == (
        f"/{channel.api_version}/{PNID}/messages",
        200,
        _read_body(latest.external_id),
    )
    assert admin.message(latest.external_id)["status"] == "read"
    assert coordination.DEFERRED == []


def test_opening_a_conversation_again_sends_no_second_receipt(setup, client):
    admin, channel, tenant = setup
    [message] = _customer_wrote(admin, channel, ["Oi"])
    _team_opens(tenant, message.conversation)
    admin.clear_requests()

    _team_opens(tenant, message.conversation)
    client.force_login(owner_of(tenant).user)
    assert client.post(f"/api/v1/t/acme/conversations/{message.conversation.display_id}/read/").status_code == 204

    assert _reads(admin) == []


def test_opening_a_conversation_with_nothing_unread_sends_no_receipt(setup):
    admin, channel, tenant = setup
    [message] = _customer_wrote(admin, channel, ["Oi"])
    reply = _send(tenant, message.conversation, OutboundSpec(type="text", text="Olá!"))  # answering reads it too
    _status(reply, "delivered")
    message.conversation.refresh_from_db()
    assert message.conversation.unread_count == 0
    receipts = wait_for(lambda: _reads(admin))
    assert [r["json"]["message_id"] for r in receipts] == [message.external_id]

    _team_opens(tenant, message.conversation)

    assert _reads(admin) == receipts
    assert admin.message(message.external_id)["status"] == "read"


def test_a_receipt_failing_transiently_is_retried_and_then_sent(setup):
    admin, channel, tenant = setup
    [message] = _customer_wrote(admin, channel, ["Oi"])
    admin.set_faults(fail_next_5xx=1)

    _team_opens(tenant, message.conversation)

    # The 5xx is answered before the fake reads the body, so the request is recorded without one.
    assert [(r["status_code"], r.get("json")) for r in _posts(admin)] == [(500, None)]
    [(task, arg, _delay, kwargs)] = coordination.DEFERRED
    assert (task.name, arg, kwargs) == ("whatsapp.tasks.message_mark_read", message.pk, {"attempt": 2})
    # The backoff elapses (run now instead of waited for).
    assert task.apply(args=(arg,), kwargs=kwargs).result == "read"
    assert [(r["status_code"], r.get("json")) for r in _posts(admin)] == [
        (500, None),
        (200, _read_body(message.external_id)),
    ]
    assert admin.message(message.external_id)["status"] == "read"
    assert len(coordination.DEFERRED) == 1


def test_a_receipt_failing_transiently_every_time_is_given_up_after_the_last_attempt(setup, caplog):
    admin, channel, tenant = setup
    [message] = _customer_wrote(admin, channel, ["Oi"])
    admin.set_faults(fail_next_5xx=10)

    _team_opens(tenant, message.conversation)
    outcomes = []
    while len(coordination.DEFERRED) > len(outcomes):
        task, arg, _delay, kwargs = coordination.DEFERRED[len(outcomes)]
        outcomes.append((kwargs["attempt"], task.apply(args=(arg,), kwargs=kwargs).result))

    assert outcomes == [(2, "retry"), (3, "retry"), (4, "failed")]
    assert [r["status_code"] for r in _posts(admin)] == [500, 500, 500, 500]
    assert f"Read receipt for message {message.pk} given up after 4 attempts" in caplog.text


def test_a_receipt_refused_permanently_is_recorded_once_and_not_retried(setup, caplog):
    admin, channel, tenant = setup
    [message] = _customer_wrote(admin, channel, ["Oi"])
    channel.access_token = "a-revoked-token"
    channel.save(update_fields=["access_token_encrypted"])

    _team_opens(tenant, message.conversation)

    # Refused for its token before the fake reads the body: recorded without one.
    assert [(r["status_code"], r.get("error_code"), r.get("json")) for r in _posts(admin)] == [(401, 190, None)]
    assert coordination.DEFERRED == []
    assert f"Read receipt for message {message.pk} refused by the Cloud API" in caplog.text
    assert admin.message(message.external_id)["status"] == "delivered"
    message.conversation.refresh_from_db()
    assert message.conversation.unread_count == 0
