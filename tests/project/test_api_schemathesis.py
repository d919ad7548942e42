"""Every operation of the OpenAPI schema, fuzzed with schemathesis against the app in-process (WSGI).

A bounded, reproducible run (fixed seed and example count) with an API token that holds every
permission in a seeded workspace. It fails on any 5xx, on an answer whose status, content type,
headers or body differ from the schema, and on a request the schema forbids that is accepted.
Runs on PostgreSQL (the database production uses); skipped on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import time
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.utils import timezone
from hypothesis import HealthCheck, settings

from automations.services import CalendarSpec, WeeklySpec, calendar_create
from conversations.models import Label, Message, QuickReply
from conversations.services.inbound import InboundSpec, message_receive
from flows.services import template_install
from tenants.permissions import ALL_PERMS
from tenants.services import api_token_create
from tests.conversations.factories import make_role
from tests.factories import make_tenant, owner_of
from tests.whatsapp.conftest import make_channel

SLUG = "fuzz"
SEED = 20261206
MAX_EXAMPLES = 50

config = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "parameters": {"tenant_slug": SLUG},
        # Off: ids that name nothing (an unknown label) and content that depends on the type are
        # refused with a 400 although their shape is valid; the schema cannot tell them apart.
        "checks": {"positive_data_acceptance": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler(), config=config)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the API fuzz run is made on PostgreSQL"),
]


class Workspace:
    """A workspace with one conversation (display id 1) holding a message, a label, a quick reply, a
    business hours calendar and a bot flow."""

    def __init__(self) -> None:
        tenant = make_tenant("Fuzz", slug=SLUG)
        channel = make_channel(tenant)
        message, _created = message_receive(
            inbox=channel.inbox,
            spec=InboundSpec(
                source_id="5511912345678",
                external_id="wamid.fuzz.1",
                occurred_at=timezone.now(),
                type="text",
                text="Olá",
                profile_name="Maria",
            ),
        )
        owner = owner_of(tenant)
        label = Label.objects.create(tenant=tenant, name="vip")
        quick_reply = QuickReply.objects.create(
            tenant=tenant, shortcut="oi", text="Olá!", scope=QuickReply.Scope.PERSONAL, owner=owner.user
        )
        calendar = calendar_create(
            actor=owner,
            spec=CalendarSpec(
                name="Horário",
                time_zone="America/Sao_Paulo",
                weekly=(WeeklySpec(0, time(9), time(18)), WeeklySpec(4, time(22), time(6))),
                holiday_country="BR",
                holiday_subdivision="SP",
            ),
        )
        # The ready-made bot flow, published, for the flows API's paths.
        flow = template_install(membership=owner, key="transit_recharge", inbox_id=channel.inbox_id)
        # A draft broadcast of the inbox to a segment of everyone, for the broadcasts API's paths.
        from campaigns.models import Broadcast, Segment

        segment = Segment.objects.create(tenant=tenant, name="Todos", filters={})
        broadcast = Broadcast.objects.create(
            tenant=tenant, name="Aviso", inbox=channel.inbox, template_name="aviso", template_language="pt_BR",
            template_category="UTILITY", segment=segment,
        )  # fmt: skip
        # Tokens cannot hold the owner role; this one holds every permission the owner has.
        _token, raw = api_token_create(actor=owner, name="Fuzz", role=make_role(tenant, ALL_PERMS))
        self.headers = {"Authorization": f"Bearer {raw}"}
        self.ids = {
            "display_id": message.conversation.display_id,
            "contact_id": message.conversation.contact_id,
            "label_id": label.pk,
            "quick_reply_id": quick_reply.pk,
            "calendar_id": calendar.pk,
            "inbox_id": channel.inbox_id,
            "flow_id": flow.pk,
            "broadcast_id": broadcast.pk,
        }
        self.message: Message = message


@pytest.fixture
def workspace() -> Iterator[Workspace]:
    # As Django's test client does: the test's connection (and its transaction) outlives each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield Workspace()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _aim_at_the_workspace(case: Any, workspace: Workspace) -> None:
    # An integer path id is always valid input, so it can point at a real object: the operation
    # then reaches its code instead of answering 404.
    for name, value in (case.path_parameters or {}).items():
        if name in workspace.ids and isinstance(value, int) and not isinstance(value, bool):
            case.path_parameters[name] = workspace.ids[name]


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_every_operation_answers_within_its_schema(case: Any, workspace: Workspace) -> None:
    _aim_at_the_workspace(case, workspace)
    case.call_and_validate(headers=workspace.headers)
