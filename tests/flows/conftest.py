"""A workspace with a WhatsApp number, the fake transit operator, a Pix key confirmed by hand, and customers
whose messages go through the core's ingest with the subscribers run after the commit (nothing is sent to a
channel: the deliveries asked for are recorded)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

import pytest
from django.utils import timezone

from conversations.models import Message
from conversations.services import delivery_jobs
from conversations.services.inbound import InboundSpec, message_receive
from flows.models import Flow
from flows.services import FlowSpec, flow_settings_save, flow_update, template_install
from payments.accounts import payment_account_save
from tests.factories import owner_of
from tests.flows.transit_fixtures import _transit_clock, _transit_server, transit  # noqa: F401  (the fake operator)
from tests.whatsapp.conftest import make_channel

_wamids = itertools.count(1)
CUSTOMER = "5511987650001"


@dataclass
class Sent:
    message_ids: list[int]

    def messages(self) -> list[Message]:
        return list(Message.objects.filter(pk__in=self.message_ids).order_by("id"))

    def bodies(self) -> list[str]:
        return [m.text or m.content.get("body", "") for m in self.messages()]


@pytest.fixture
def sent(monkeypatch) -> Sent:
    found = Sent([])
    monkeypatch.setattr(delivery_jobs, "send_ahead_request", lambda *, message_id: found.message_ids.append(message_id))
    monkeypatch.setattr(
        delivery_jobs, "send_request", lambda *, message_id, inbox_id: found.message_ids.append(message_id)
    )
    return found


@pytest.fixture
def channel(tenant):
    return make_channel(tenant)


@pytest.fixture
def write(channel, django_capture_on_commit_callbacks):
    """The customer writes (a text, or a button's id and title); the subscribers run after the commit."""

    def run(
        text: str = "",
        *,
        choice: str = "",
        at: datetime | None = None,
        wamid: str = "",
        source_id: str = CUSTOMER,
        name: str = "Maria",
    ) -> Message:
        values: dict = {
            "source_id": source_id,
            "external_id": wamid or f"wamid.flow-{next(_wamids)}",
            "occurred_at": at or timezone.now(),
            "profile_name": name,
            "phone_e164": f"+{source_id}",
        }
        if choice:
            values.update(
                type="interactive",
                text=text,
                content={"v": 1, "kind": "reply", "reply_type": "button", "id": choice, "title": text},
            )
        else:
            values.update(type="text", text=text)
        with django_capture_on_commit_callbacks(execute=True):
            message, _created = message_receive(inbox=channel.inbox, spec=InboundSpec(**values))
        return message

    return run


@pytest.fixture
def static_pix(tenant):
    payment_account_save(
        actor=owner_of(tenant),
        tenant=tenant,
        kind="static_pix",
        values={
            "pix_key": "+5511912345678",
            "pix_key_type": "PHONE",
            "merchant_name": "Recarga Facil",
            "merchant_city": "Sao Paulo",
        },
        secrets={},
    )


@pytest.fixture
def recharge(tenant, channel, transit, settings, static_pix) -> Flow:  # noqa: F811
    """The transit recharge flow installed, on, and the workspace's key at the fake operator."""
    settings.TRANSIT_OPERATOR_BASE_URL = transit.base_url
    owner = owner_of(tenant)
    flow_settings_save(membership=owner, transit_api_key=transit.api_key)
    flow = template_install(membership=owner, key="transit_recharge", inbox_id=channel.inbox_id)
    spec = FlowSpec(
        name=flow.name,
        inbox_id=flow.inbox_id,
        enabled=True,
        trigger_keywords=list(flow.trigger_keywords),
        timeout_minutes=flow.timeout_minutes,
        timeout_message="Ending our chat for now. Write again any time.",
    )
    return flow_update(membership=owner, flow=flow, spec=spec)
