"""Message templates synced from the WABA's list at Meta: on connect, every hour for every channel, across pages,
and templates Meta no longer lists marked deleted only after a complete sync."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings

from conversations.services.inbound import contact_inbox_get_or_create, conversation_get_or_open
from conversations.services.outbound import OutboundSpec, message_send
from helpdesk.exceptions import ValidationFailed
from tenants.models import Tenant
from tests.factories import make_tenant, owner_of
from tests.whatsapp.conftest import make_channel
from whatsapp import client as wa_client
from whatsapp import tasks
from whatsapp.backend import WhatsAppBackend
from whatsapp.fake import AdjustableClock, FakeAdminClient, FakeCloudApiServer
from whatsapp.models import MessageTemplate, WhatsAppChannel
from whatsapp.services import templates_sync

pytestmark = pytest.mark.django_db

PNID = "106540352242922"
WABA = "102290129340398"
TOKEN = "fake-token"

SYNCED_FIELDS = ["name", "language", "category", "status", "components", "parameter_format", "meta_id"]
ORDER_UPDATE = [
    {"type": "HEADER", "format": "TEXT", "text": "Pedido {{1}}", "example": {"header_text": ["#1234"]}},
    {"type": "BODY", "text": "Olá {{1}}, seu pedido saiu para entrega.", "example": {"body_text": [["Maria"]]}},
    {"type": "FOOTER", "text": "Loja Centro"},
    {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Falar com atendente"}]},
]
PAYMENT_DUE = [
    {
        "type": "BODY",
        "text": "Hi {{first_name}}, your payment of {{amount}} is due.",
        "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]},
    }
]
PROMO = [{"type": "BODY", "text": "Our Fall Sale is on!"}]


@pytest.fixture(scope="module")
def fake_server():
    with FakeCloudApiServer(clock=AdjustableClock()) as server:
        yield server


@pytest.fixture
def fake(fake_server, settings):
    """The fake Cloud API over HTTP with one number (no seed templates, no automatic review)."""
    settings.WHATSAPP_API_BASE_URL = fake_server.base_url
    wa_client._transport_override.pop("transport", None)  # this module talks to the local fake over HTTP
    admin = FakeAdminClient(fake_server.base_url)
    admin.reset()
    admin.settings(review_delay_s=None)
    admin.register_number(phone_number_id=PNID, display_phone_number="5511900000001", waba_id=WABA, access_token=TOKEN)
    yield admin
    admin.reset()
    admin.close()


def connect(tenant, fake_server, **kwargs) -> Any:
    params = {"phone_number_id": PNID, "waba_id": WABA, "access_token": TOKEN}
    return make_channel(tenant, **(params | kwargs))


def synced(tenant) -> list[dict[str, Any]]:
    rows = MessageTemplate.objects.filter(tenant=tenant).order_by("name", "language")
    return [{name: getattr(row, name) for name in SYNCED_FIELDS} for row in rows]


def template_requests(admin) -> list[tuple[str, str, str]]:
    return [(r["method"], r["path"], r["query"]) for r in admin.requests(path_contains="/message_templates")]


def add_templates(admin) -> dict[str, str]:
    """Three templates at Meta of different kinds; returns the id Meta gave each."""
    return {
        t["name"]: t["id"]
        for t in (
            admin.add_template(
                waba_id=WABA, name="order_update", language="pt_BR", category="UTILITY", components=ORDER_UPDATE
            ),
            admin.add_template(
                waba_id=WABA,
                name="payment_due",
                language="en_US",
                category="UTILITY",
                components=PAYMENT_DUE,
                parameter_format="NAMED",
            ),
            admin.add_template(
                waba_id=WABA,
                name="fall_promo",
                language="en_US",
                category="MARKETING",
                components=PROMO,
                status="REJECTED",
            ),
        )
    }


def test_connecting_a_number_syncs_its_templates_once_the_connection_is_committed(
    tenant, fake, fake_server, django_capture_on_commit_callbacks
):
    ids = add_templates(fake)

    with django_capture_on_commit_callbacks() as callbacks:
        channel = connect(tenant, fake_server)

    # The members' live sockets re-reading their access (they gained an inbox), the template sync, and the
    # read of the number's messaging limit and quality.
    assert [getattr(c, "__qualname__", "") for c in callbacks] == [
        "control_on_commit.<locals>.<lambda>",
        "_channel_insert.<locals>.<lambda>",
        "_channel_insert.<locals>.<lambda>",
    ]
    assert template_requests(fake) == []  # nothing is fetched inside the connecting transaction
    assert not MessageTemplate.objects.exists()

    callbacks[1]()

    assert synced(tenant) == [
        {
            "name": "fall_promo",
            "language": "en_US",
            "category": "MARKETING",
            "status": "REJECTED",
            "components": PROMO,
            "parameter_format": "POSITIONAL",
            "meta_id": ids["fall_promo"],
        },
        {
            "name": "order_update",
            "language": "pt_BR",
            "category": "UTILITY",
            "status": "APPROVED",
            "components": ORDER_UPDATE,
            "parameter_format": "POSITIONAL",
            "meta_id": ids["order_update"],
        },
        {
            "name": "payment_due",
            "language": "en_US",
            "category": "UTILITY",
            "status": "APPROVED",
            "components": PAYMENT_DUE,
            "parameter_format": "NAMED",
            "meta_id": ids["payment_due"],
        },
    ]
    assert template_requests(fake) == [("GET", f"/v23.0/{WABA}/message_templates", "limit=100")]
    channel.refresh_from_db()
    assert channel.templates_synced_at is not None


def test_the_hourly_job_syncs_every_channel_of_active_tenants(tenant, fake, fake_server):
    assert django_settings.CELERY_BEAT_SCHEDULE["whatsapp-templates-sync"] == {
        "task": "whatsapp.tasks.templates_sync_all",
        "schedule": 3600.0,
    }
    first = connect(tenant, fake_server)
    second = connect(
        tenant, fake_server, phone_number_id="106540352242923", waba_id="102290129340399", access_token="t2"
    )
    dormant = make_tenant("Globex", slug="globex")
    idle = connect(
        dormant, fake_server, phone_number_id="106540352242924", waba_id="102290129340400", access_token="t3"
    )
    Tenant.objects.filter(pk=dormant.pk).update(active=False)
    for pnid, waba, token, name in [
        ("106540352242923", "102290129340399", "t2", "second_number"),
        ("106540352242924", "102290129340400", "t3", "idle_number"),
    ]:
        fake.register_number(
            phone_number_id=pnid, display_phone_number=f"55119{pnid[-8:]}", waba_id=waba, access_token=token
        )
        fake.add_template(waba_id=waba, name=name, language="pt_BR", category="UTILITY", components=PROMO)
    fake.add_template(waba_id=WABA, name="first_number", language="pt_BR", category="UTILITY", components=PROMO)

    assert tasks.templates_sync_all.delay().get() == 2

    assert sorted(MessageTemplate.objects.values_list("tenant_id", "waba_id", "name", "status")) == [
        (tenant.pk, WABA, "first_number", "APPROVED"),
        (tenant.pk, "102290129340399", "second_number", "APPROVED"),
    ]
    assert sorted(path for _method, path, _query in template_requests(fake)) == [
        f"/v23.0/{WABA}/message_templates",
        "/v23.0/102290129340399/message_templates",
    ]
    synced_at = dict(WhatsAppChannel.objects.values_list("pk", "templates_synced_at"))
    assert synced_at[first.pk] is not None and synced_at[second.pk] is not None
    assert synced_at[idle.pk] is None


def test_a_sync_reads_every_page_of_the_list(tenant, fake, fake_server):
    channel = connect(tenant, fake_server)
    ids = {
        f"notice_{i:03d}": fake.add_template(
            waba_id=WABA,
            name=f"notice_{i:03d}",
            language="pt_BR",
            category="UTILITY",
            components=[{"type": "BODY", "text": f"Aviso {i}"}],
        )["id"]
        for i in range(105)
    }

    assert templates_sync(channel=channel) == 105

    assert synced(tenant) == [
        {
            "name": name,
            "language": "pt_BR",
            "category": "UTILITY",
            "status": "APPROVED",
            "components": [{"type": "BODY", "text": f"Aviso {int(name[-3:])}"}],
            "parameter_format": "POSITIONAL",
            "meta_id": meta_id,
        }
        for name, meta_id in sorted(ids.items())
    ]
    requests = template_requests(fake)
    assert [(method, path) for method, path, _query in requests] == [
        ("GET", f"/v23.0/{WABA}/message_templates"),
        ("GET", f"/v23.0/{WABA}/message_templates"),
    ]
    assert requests[0][2] == "limit=100"
    assert requests[1][2].startswith("limit=100&after=")


def test_a_complete_sync_marks_the_templates_meta_no_longer_lists_as_deleted(tenant, fake, fake_server):
    channel = connect(tenant, fake_server)
    ids = add_templates(fake)
    templates_sync(channel=channel)
    other_waba = MessageTemplate.objects.create(
        tenant=tenant, waba_id="999", name="order_update", language="pt_BR", status="APPROVED"
    )
    other_tenant = MessageTemplate.objects.create(
        tenant=make_tenant("Globex", slug="globex"),
        waba_id=WABA,
        name="gone_at_meta",
        language="pt_BR",
        status="APPROVED",
    )
    MessageTemplate.objects.create(
        tenant=tenant, waba_id=WABA, name="gone_at_meta", language="pt_BR", status="APPROVED", components=PROMO
    )
    fake_server.engine.delete_templates(WABA, "order_update", None)

    assert templates_sync(channel=channel) == 2

    assert sorted(
        MessageTemplate.objects.filter(tenant=tenant, waba_id=WABA).values_list("name", "status", "meta_id")
    ) == [
        ("fall_promo", "REJECTED", ids["fall_promo"]),
        ("gone_at_meta", "DELETED", ""),
        ("order_update", "DELETED", ids["order_update"]),
        ("payment_due", "APPROVED", ids["payment_due"]),
    ]
    other_waba.refresh_from_db()
    other_tenant.refresh_from_db()
    assert (other_waba.status, other_tenant.status) == ("APPROVED", "APPROVED")
    # A deleted template is neither offered nor sent.
    assert [t["name"] for t in WhatsAppBackend().templates_for(channel.inbox)] == ["payment_due"]
    conversation, _opened = conversation_get_or_open(
        contact_inbox=contact_inbox_get_or_create(inbox=channel.inbox, source_id="5511987650001")
    )
    with pytest.raises(ValidationFailed, match="only approved templates can be sent"):
        message_send(
            actor=owner_of(tenant),
            conversation=conversation,
            spec=OutboundSpec(
                type="template", content={"name": "order_update", "language": "pt_BR", "params": {"body": ["Ana"]}}
            ),
        )


def test_a_template_listed_again_after_it_was_deleted_is_restored(tenant, fake, fake_server):
    channel = connect(tenant, fake_server)
    MessageTemplate.objects.create(tenant=tenant, waba_id=WABA, name="order_update", language="pt_BR", status="DELETED")
    ids = add_templates(fake)

    templates_sync(channel=channel)

    row = MessageTemplate.objects.get(tenant=tenant, name="order_update")
    assert (row.status, row.meta_id, row.components) == ("APPROVED", ids["order_update"], ORDER_UPDATE)


def test_a_sync_that_fails_part_way_marks_nothing_deleted(tenant):
    channel = make_channel(tenant)
    kept = MessageTemplate.objects.create(
        tenant=tenant, waba_id=channel.waba_id, name="on_page_two", language="pt_BR", status="APPROVED"
    )
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.params))
        if "after" not in request.url.params:
            return httpx.Response(
                200,
                json={
                    "data": [
                        {"id": "1", "name": "on_page_one", "language": "pt_BR", "status": "APPROVED", "components": []}
                    ],
                    "paging": {"cursors": {"after": "QVFI"}, "next": "https://graph.facebook.com/next?after=QVFI"},
                },
            )
        return httpx.Response(
            500,
            json={
                "error": {
                    "message": "An unknown error occurred",
                    "type": "OAuthException",
                    "code": 1,
                    "is_transient": True,
                }
            },
        )

    wa_client._transport_override["transport"] = httpx.MockTransport(handler)

    assert tasks.templates_sync.delay(channel.pk).get() == -1

    assert seen == ["limit=100", "limit=100&after=QVFI"]
    assert sorted(MessageTemplate.objects.values_list("name", "status")) == [
        ("on_page_one", "APPROVED"),
        ("on_page_two", "APPROVED"),
    ]
    kept.refresh_from_db()
    assert kept.status == "APPROVED"
    channel.refresh_from_db()
    assert channel.templates_synced_at is None
