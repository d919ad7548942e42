"""The range of an id, checked wherever one is parsed from a request."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from helpdesk.exceptions import ValidationFailed

# Every primary key is a PostgreSQL bigint: a larger number names nothing and cannot even be queried.
ID_MIN = 1
ID_MAX = 2**63 - 1


def parse_id(raw: Any, *, name: str) -> int:
    """An id given as text (a query parameter, a form field), or ``ValidationFailed`` naming it."""
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(ID_MAX)) or not ID_MIN <= int(text) <= ID_MAX:
        raise ValidationFailed(
            _("%(name)s must be an id: a whole number from %(min)s to %(max)s.")
            % {"name": name, "min": ID_MIN, "max": ID_MAX},
            details={"param": name},
        )
    return int(text)
