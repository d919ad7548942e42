from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.factories import add_member, make_tenant, owner_of


@pytest.fixture(autouse=True)
def _clear_cache():
    # Rate limits, TOTP replay marks and the real-time audience live in caches; every test starts clean.
    from conversations.selectors import audience_cache_clear
    from conversations.services.events import variants_cache_clear

    cache.clear()
    audience_cache_clear()
    variants_cache_clear()
    yield
    cache.clear()
    audience_cache_clear()
    variants_cache_clear()


@pytest.fixture(autouse=True)
def _no_network_to_cloud_api():
    """Tests never call out: the Cloud API is reachable only through a transport a test installs."""
    import httpx

    from whatsapp import client

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"No network in tests ({request.url.host})", request=request)

    client._transport_override["transport"] = httpx.MockTransport(refuse)
    yield
    client._transport_override.pop("transport", None)


@pytest.fixture(autouse=True)
def _event_subscribers_restored():
    """A subscriber a test registers (directly or by importing a module that subscribes) is gone after it,
    so later tests see only the project's own subscribers."""
    from conversations.events import registry

    saved = {name: dict(handlers) for name, handlers in registry._subscribers.items()}
    filters = dict(registry._filters)
    yield
    registry._subscribers.clear()
    registry._subscribers.update(saved)
    registry._filters.clear()
    registry._filters.update(filters)


@pytest.fixture
def tenant(db):
    return make_tenant("Acme", slug="acme")


@pytest.fixture
def other_tenant(db):
    return make_tenant("Globex", slug="globex")


@pytest.fixture
def owner(tenant):
    return owner_of(tenant)


@pytest.fixture
def admin(tenant):
    return add_member(tenant, "admin")


@pytest.fixture
def supervisor(tenant):
    return add_member(tenant, "supervisor")


@pytest.fixture
def agent(tenant):
    return add_member(tenant, "agent")


@pytest.fixture(autouse=True)
def _language_restored():
    """A request in another language (the test client's LocaleMiddleware activates it for the thread and
    leaves it there) does not change the language of the tests that follow."""
    from django.utils import translation

    language = translation.get_language()
    yield
    if language:
        translation.activate(language)
    else:
        translation.deactivate()
