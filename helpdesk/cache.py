"""A Redis cache that a Redis outage turns into misses, for data that has a durable copy elsewhere.

Sessions are stored with ``cached_db``: the database holds every session and the cache only saves
the read. When Redis is down, a read is a miss (the session comes from the database) and a write
or delete is skipped, so a signed-in agent keeps working instead of getting a 500. The default
cache stays strict: the login throttles count in it and must not silently stop counting.

What a skipped delete leaves in Redis (a logged-out session) cannot outlive the outage: Redis
comes back empty, or with keys whose expiry is the session's own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import redis
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)


def _unavailable(operation: str, exc: Exception) -> None:
    # The exception's class only: its text may name the server's address.
    logger.warning("Session cache unavailable, %s skipped: %s", operation, type(exc).__name__)


class FailSoftRedisCache(RedisCache):
    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except redis.RedisError as exc:
            _unavailable("read", exc)
            return default

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        try:
            return super().get_many(keys, version)
        except redis.RedisError as exc:
            _unavailable("read", exc)
            return {}

    def has_key(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().has_key(key, version)
        except redis.RedisError as exc:
            _unavailable("read", exc)
            return False

    def add(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> bool:
        try:
            return super().add(key, value, timeout, version)
        except redis.RedisError as exc:
            _unavailable("write", exc)
            return False

    def set(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> None:
        try:
            super().set(key, value, timeout, version)
        except redis.RedisError as exc:
            _unavailable("write", exc)

    def touch(self, key: Any, timeout: Any = None, version: int | None = None) -> bool:
        try:
            return super().touch(key, timeout, version)
        except redis.RedisError as exc:
            _unavailable("write", exc)
            return False

    def delete(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().delete(key, version)
        except redis.RedisError as exc:
            _unavailable("delete", exc)
            return False
