from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.factories import add_member, make_tenant, owner_of


@pytest.fixture(autouse=True)
def _clear_cache():
    # Rate limits and TOTP replay marks live in the cache; every test starts clean.
    cache.clear()
    yield
    cache.clear()


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
