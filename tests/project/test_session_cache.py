"""The session cache turns a Redis outage into misses: a signed-in member's session comes from the
database, and nothing raises; the default cache stays strict."""

from __future__ import annotations

import logging

import pytest
import redis
from django.contrib.sessions.backends.cached_db import SessionStore
from django.core.cache import caches
from django.test import override_settings

from helpdesk.cache import FailSoftRedisCache
from tests.e2e.harness import free_port
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _down_caches() -> dict:
    # A port nobody listens on: every command fails to connect, at once.
    url = f"redis://127.0.0.1:{free_port()}/0"
    options = {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}
    return {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "OPTIONS": options},
        "sessions": {"BACKEND": "helpdesk.cache.FailSoftRedisCache", "LOCATION": url, "OPTIONS": options},
    }


@pytest.fixture
def redis_down():
    with override_settings(
        CACHES=_down_caches(),
        SESSION_ENGINE="django.contrib.sessions.backends.cached_db",
        SESSION_CACHE_ALIAS="sessions",
    ):
        # Changing CACHES gives every alias a new cache object (Django's setting_changed handler).
        yield


def test_every_operation_is_a_miss_or_a_skip_and_says_so_once_each(redis_down, caplog):
    cache = caches["sessions"]
    assert isinstance(cache, FailSoftRedisCache)
    with caplog.at_level(logging.WARNING, logger="helpdesk.cache"):
        assert cache.get("k", "fallback") == "fallback"
        assert cache.get_many(["a", "b"]) == {}
        assert cache.has_key("k") is False
        assert cache.add("k", 1) is False
        cache.set("k", 1)  # skipped, not raised
        assert cache.touch("k") is False
        assert cache.delete("k") is False
    assert [r.getMessage() for r in caplog.records] == [
        "Session cache unavailable, read skipped: ConnectionError",
        "Session cache unavailable, read skipped: ConnectionError",
        "Session cache unavailable, read skipped: ConnectionError",
        "Session cache unavailable, write skipped: ConnectionError",
        "Session cache unavailable, write skipped: ConnectionError",
        "Session cache unavailable, write skipped: ConnectionError",
        "Session cache unavailable, delete skipped: ConnectionError",
    ]
    # The address of the server is not in the log (only the exception's class).
    assert "127.0.0.1" not in caplog.text


def test_a_session_saved_while_redis_is_down_is_read_back_from_the_database(redis_down):
    user = make_user("ana@example.com")
    store = SessionStore()
    store["_auth_user_id"] = str(user.pk)
    store.create()
    again = SessionStore(session_key=store.session_key)
    assert again["_auth_user_id"] == str(user.pk)
    again.delete()
    assert SessionStore(session_key=store.session_key).get("_auth_user_id") is None


def test_the_default_cache_still_fails_loudly(redis_down):
    # Login throttles count in it: an outage must not quietly stop them counting.
    with pytest.raises(redis.ConnectionError):
        caches["default"].get("throttle")
