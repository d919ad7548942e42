"""The browser's WebSocket to a tenant (``/ws/t/<slug>/``): who is refused, with which close code, and
what an accepted member receives.

Each socket goes through the real ASGI application (origin check, session authentication, routing)
with the session cookie a browser would send; events are published the product's only way,
``helpdesk.realtime.publish_on_commit``, on the configured channel layer (in memory, or Redis).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.test import Client

from helpdesk.asgi import application
from helpdesk.realtime import member_group, publish_on_commit
from tenants.models import Tenant
from tests.factories import add_member, make_user
from tests.tenants.helpers import enrol_totp, password_login

# The consumer reads the database from another thread: the rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10  # seconds: an upper bound on an answer, never a pause
EVENT = {"type": "conversation.updated", "conversation": {"id": 7, "status": "open"}}


class Socket(ApplicationCommunicator):
    """A browser's WebSocket to the ASGI application: the part of ``channels.testing.WebsocketCommunicator``
    these tests use (importing ``channels.testing`` needs daphne, which the project does not install)."""

    def __init__(self, slug: str, client: Client | None = None) -> None:
        # The page of the same site the socket belongs to (the default ALLOWED_HOSTS).
        headers = [(b"origin", b"http://localhost:8000"), (b"host", b"localhost:8000")]
        if client is not None:
            cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
            headers.append((b"cookie", cookie.encode()))
        path = f"/ws/t/{slug}/"
        scope = {
            "type": "websocket",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers,
            "subprotocols": [],
        }
        super().__init__(application, scope)

    async def connect(self) -> tuple[bool, int | None]:
        """(True, None) once accepted; (False, close code or None) when refused."""
        await self.send_input({"type": "websocket.connect"})
        answer = await self.receive_output(TIMEOUT)
        if answer["type"] == "websocket.close":
            return False, answer.get("code")
        assert answer["type"] == "websocket.accept", answer
        return True, None

    async def receive_json(self) -> Any:
        answer = await self.receive_output(TIMEOUT)
        assert answer["type"] == "websocket.send", answer
        return json.loads(answer["text"])

    async def disconnect(self) -> None:
        """The browser goes (after a refusal, the server reports the closed socket the same way)."""
        await self.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.wait(TIMEOUT)


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def attempt(slug: str, client: Client | None = None) -> tuple[bool, int | None]:
    """Open a socket to ``slug`` and close it again; returns what ``Socket.connect`` answered."""

    async def scenario() -> tuple[bool, int | None]:
        socket = Socket(slug, client)
        outcome = await socket.connect()
        await socket.disconnect()
        return outcome

    return async_to_sync(scenario)()


@database_sync_to_async
def publish(tenant: Tenant, user_ids: list[int], event: dict[str, Any]) -> None:
    with transaction.atomic():
        publish_on_commit(tenant_id=tenant.pk, groups=[member_group(tenant.pk, u) for u in user_ids], event=event)


# --- refusals -------------------------------------------------------------------------------------


def test_anonymous_socket_is_closed_with_4401(tenant):
    assert attempt("acme") == (False, 4401)


def test_socket_with_an_unknown_session_is_closed_with_4401(tenant, agent):
    client = logged_in(agent.user)
    client.cookies[settings.SESSION_COOKIE_NAME] = "not-a-session-key"

    assert attempt("acme", client) == (False, 4401)


def test_user_who_is_not_a_member_is_closed_with_4404(tenant):
    outsider = make_user("outsider@example.com")

    assert attempt("acme", logged_in(outsider)) == (False, 4404)


def test_member_of_one_tenant_cannot_open_another_tenants_socket(tenant, other_tenant, agent):
    client = logged_in(agent.user)

    assert attempt("globex", client) == (False, 4404)
    assert attempt("no-such-workspace", client) == (False, 4404)
    assert attempt("acme", client) == (True, None)


def test_deactivated_member_is_closed_with_4404(tenant, agent):
    agent.active = False
    agent.save(update_fields=["active"])

    assert attempt("acme", logged_in(agent.user)) == (False, 4404)


def test_member_without_the_mfa_the_tenant_requires_is_closed_with_4404_until_enrolled(tenant, owner, agent):
    from tenants.services import tenant_security_update

    tenant_security_update(actor=owner, mfa_policy=Tenant.MfaPolicy.ALL, roles=[])
    client = Client()
    assert password_login(client, agent.user.email).status_code == 302

    assert attempt("acme", client) == (False, 4404)
    assert not Authenticator.objects.filter(user=agent.user).exists()

    enrol_totp(client)
    assert attempt("acme", client) == (True, None)


def test_session_still_waiting_for_its_second_factor_is_closed_with_4401(tenant, agent):
    enrolling = Client()
    password_login(enrolling, agent.user.email)
    enrol_totp(enrolling)
    pending = Client()

    response = password_login(pending, agent.user.email)

    assert response["Location"] == "/accounts/2fa/authenticate/"  # the password alone does not log in
    assert attempt("acme", pending) == (False, 4401)


def test_socket_from_a_foreign_origin_is_refused_before_authentication(tenant, agent):
    client = logged_in(agent.user)

    async def scenario() -> tuple[bool, int | None]:
        socket = Socket("acme", client)
        socket.scope["headers"] = [
            (name, b"https://evil.example" if name == b"origin" else value) for name, value in socket.scope["headers"]
        ]
        outcome = await socket.connect()
        await socket.disconnect()
        return outcome

    # Channels' origin validator refuses the handshake without a close code (the browser gets a 403).
    assert async_to_sync(scenario)() == (False, None)


# --- an accepted member ------------------------------------------------------------------------------


def test_member_connects_and_receives_the_events_published_to_them(tenant, agent):
    client = logged_in(agent.user)

    async def scenario() -> list[Any]:
        socket = Socket("acme", client)
        assert await socket.connect() == (True, None)
        received = [await socket.receive_json()]
        await publish(tenant, [agent.user.pk], EVENT)
        received.append(await socket.receive_json())
        await socket.disconnect()
        return received

    assert async_to_sync(scenario)() == [{"type": "hello", "tenant": "acme", "groups": []}, EVENT]


def test_events_of_another_tenant_or_another_member_do_not_reach_the_socket(tenant, other_tenant, agent):
    # The same person works in both tenants; their socket is to Acme.
    add_member(other_tenant, "agent", user=agent.user)
    colleague = add_member(tenant, "agent")
    client = logged_in(agent.user)
    elsewhere = {"type": "conversation.updated", "conversation": {"id": 1, "status": "resolved"}}
    colleagues = {"type": "conversation.updated", "conversation": {"id": 2, "status": "pending"}}

    async def scenario() -> list[Any]:
        socket = Socket("acme", client)
        assert await socket.connect() == (True, None)
        received = [await socket.receive_json()]
        await publish(other_tenant, [agent.user.pk], elsewhere)
        await publish(tenant, [colleague.user.pk], colleagues)
        # Published last, on the same layer: had the others been delivered, they would come first.
        await publish(tenant, [agent.user.pk], EVENT)
        received.append(await socket.receive_json())
        await socket.disconnect()
        return received

    assert async_to_sync(scenario)() == [{"type": "hello", "tenant": "acme", "groups": []}, EVENT]
