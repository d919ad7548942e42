"""Tests that need PostgreSQL or Redis skip where these are missing, and fail where the run requires them."""

from __future__ import annotations

import pytest

from tests.prerequisites import require_redis, skip_or_fail


@pytest.mark.parametrize(
    ("required", "database_url", "outcome"),
    [
        ("1", "postgres://ci/helpdesk", pytest.fail.Exception),
        ("1", None, pytest.skip.Exception),  # the run with nothing configured
        (None, "postgres://dev/helpdesk", pytest.skip.Exception),
    ],
)
def test_a_missing_prerequisite_fails_only_a_run_that_requires_it(monkeypatch, required, database_url, outcome):
    for name, value in (("E2E_REQUIRED", required), ("DATABASE_URL", database_url)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)

    with pytest.raises(outcome, match=r"^Redis is gone"):
        skip_or_fail("Redis is gone.")


def test_redis_is_required_only_where_it_is_missing(settings, monkeypatch):
    monkeypatch.setenv("E2E_REQUIRED", "1")
    monkeypatch.setenv("DATABASE_URL", "postgres://ci/helpdesk")
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    require_redis("the limiter is shared")  # goes on
    settings.REDIS_URL = ""
    with pytest.raises(pytest.fail.Exception, match=r"^REDIS_URL is not set: the limiter is shared\. E2E_REQUIRED=1"):
        require_redis("the limiter is shared")
