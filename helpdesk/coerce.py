"""Lenient reads of JSON someone else wrote (a vendor's payload, a stored message): the expected type,
or an empty one, never an exception."""

from __future__ import annotations

from typing import Any


def as_str(value: Any) -> str:
    """The value as text; nothing (None, an object, a list) is an empty string."""
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
