"""Fixtures of the payments tests: a conversation whose customer just wrote (the reply window open), an
order of R$ 25,00 for it, and the messages handed to delivery (nothing is sent: no Cloud API runs here)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from django.utils import timezone

from conversations.models import Message
from conversations.services import delivery_jobs
from conversations.services.inbound import InboundSpec, message_receive
from payments.models import Order
from payments.orders import order_create
from tests.factories import owner_of
from tests.whatsapp.conftest import make_channel

_wamids = itertools.count(1)


@dataclass
class Sent:
    message_ids: list[int]

    def of_type(self, kind: str) -> list[Message]:
        return list(Message.objects.filter(pk__in=self.message_ids, type=kind).order_by("id"))


@pytest.fixture
def sent(monkeypatch) -> Sent:
    """Messages handed to delivery (not sent anywhere: the fake Cloud API is not running here)."""
    found = Sent([])
    monkeypatch.setattr(delivery_jobs, "send_ahead_request", lambda *, message_id: found.message_ids.append(message_id))
    monkeypatch.setattr(
        delivery_jobs, "send_request", lambda *, message_id, inbox_id: found.message_ids.append(message_id)
    )
    return found


@pytest.fixture
def conversation(tenant, django_capture_on_commit_callbacks):
    channel = make_channel(tenant)
    spec = InboundSpec(
        source_id="5511987650001",
        external_id=f"wamid.pay-{next(_wamids)}",
        occurred_at=timezone.now(),
        type="text",
        text="Quero recarregar",
        profile_name="Maria",
    )
    with django_capture_on_commit_callbacks(execute=True):
        message, _created = message_receive(inbox=channel.inbox, spec=spec)
    return message.conversation


@pytest.fixture
def order(tenant, conversation) -> Order:
    return order_create(actor=owner_of(tenant), conversation=conversation, amount=2500, description="Recarga")


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


# --- API Pix at the fake PSP (for modules with ``pytest_plugins = ["tests.payments.fake_psp_fixtures"]``) -----------


@pytest.fixture
def pix_provider(settings, psp):
    """The deployment's API Pix provider, Mercado Pago and Stripe are the in-process fake PSP (plain HTTP)."""
    settings.PAYMENTS_PIX_PROVIDERS = {
        "fake": {"name": "Fake PSP", "api_url": psp.server.pix_api_url, "token_url": psp.server.pix_token_url}
    }
    settings.MERCADOPAGO_API_URL = psp.server.mercadopago_url
    settings.PAYMENTS_ALLOW_PLAIN_HTTP = True
    return psp


def pix_account_values(psp, **changes: str) -> dict[str, str]:
    """The form values of an API Pix account at the fake PSP's receiver."""
    return {"provider": "fake", "pix_key": psp.pix_key, "pix_key_type": "EVP", "client_id": psp.client_id,
            "merchant_name": "Transporte Exemplo", **changes}  # fmt: skip


@pytest.fixture
def pix_account(tenant, pix_provider):
    """The workspace's API Pix account at the fake PSP."""
    from payments.accounts import payment_account_save

    return payment_account_save(
        actor=owner_of(tenant), tenant=tenant, kind="bcb_pix", values=pix_account_values(pix_provider),
        secrets={"client_secret": pix_provider.client_secret},
    )  # fmt: skip
