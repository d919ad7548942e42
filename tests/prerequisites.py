"""Tests that need PostgreSQL, Redis or a browser: skipped where these are missing, failed where the
run requires them (CI sets ``E2E_REQUIRED=1`` with ``DATABASE_URL``)."""

from __future__ import annotations

import os

import pytest


def skip_or_fail(message: str) -> None:
    """Skip a test whose prerequisites are missing; a run given a database with ``E2E_REQUIRED=1`` fails instead."""
    # The run with nothing configured (SQLite, no Redis) skips these; a run given a database must not.
    if os.environ.get("E2E_REQUIRED") == "1" and os.environ.get("DATABASE_URL"):
        pytest.fail(f"{message} E2E_REQUIRED=1 with DATABASE_URL set forbids skipping it.")
    pytest.skip(message)


def require_redis(why: str) -> None:
    """Go on only with Redis (``REDIS_URL``); ``why`` says what the test needs it for."""
    from django.conf import settings

    if not settings.REDIS_URL:
        skip_or_fail(f"REDIS_URL is not set: {why}.")


def require_postgresql(why: str) -> None:
    """Go on only on PostgreSQL; ``why`` says what SQLite cannot show."""
    from django.db import connection

    if connection.vendor != "postgresql":
        skip_or_fail(f"The test needs PostgreSQL: {why}.")
