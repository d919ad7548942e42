"""DRF wiring shared by every API: one error format, cursor pagination and an id field."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Q
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, pagination, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import exception_handler as drf_exception_handler

from helpdesk.exceptions import ApplicationError, ValidationFailed, error_body
from helpdesk.ids import ID_MAX, ID_MIN


class IdField(serializers.IntegerField):
    """An id in a request body: a whole number within the range of a primary key."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", ID_MIN)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        # Only ASCII digits: int() would also read other scripts' digits ("٣") and a bool as a number.
        if isinstance(data, bool) or (isinstance(data, str) and not data.strip().lstrip("-").isascii()):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """Text in a request body that must be a JSON string: DRF's CharField also takes 0 or 2.5 as "0" or "2.5"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: DRF's IntegerField also takes "2500", 25.0 and true (money never takes a decimal)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false: DRF's BooleanField also takes 0, 1, "yes" and "off"."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


class JsonObjectField(serializers.DictField):
    """A JSON object in a request body that can be stored: no NUL character in any key or text.

    PostgreSQL's jsonb (like its text) cannot hold one, so it is refused here instead of failing the write.
    """

    default_error_messages = {"nul": gettext_lazy("Text cannot contain a NUL character (\\u0000).")}

    def to_internal_value(self, data: Any) -> dict[Any, Any]:
        value = super().to_internal_value(data)
        if _holds_nul(value):
            self.fail("nul")
        return value


class ErrorDetailOutput(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs: validation_failed, not_found, ...")
    message = serializers.CharField(help_text="For people")
    details = serializers.DictField(help_text="What the code needs, e.g. the field or parameter at fault")


class ErrorOutput(serializers.Serializer):
    """The one shape of every error the API answers."""

    error = ErrorDetailOutput()


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every error as ``{"error": {"code", "message", "details"}}``."""
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(_("Not found."))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("validation_failed", _("The request is invalid."), exc.detail)
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        message = str(detail) if not isinstance(detail, (dict, list)) else _("The request failed.")
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        wait = getattr(exc, "wait", None)  # set on Throttled
        details = (
            {"retry_after_seconds": int(wait)} if isinstance(exc, exceptions.Throttled) and wait is not None else None
        )
        response.data = error_body(str(code), message, details)
    return response


class CursorPagination(pagination.CursorPagination):
    """Keyset pagination: stable under inserts and fast deep in a list."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"

    def get_page_size(self, request: Request) -> int:
        # A page size that is not a positive number is refused, not silently replaced by the default.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        digits = raw.lstrip("0") if raw.isascii() and raw.isdigit() else ""
        if not digits:
            raise ValidationFailed(
                _("page_size must be a whole number, at least 1; a page holds %(max)s at most.")
                % {"max": self.max_page_size},
                details={"param": self.page_size_query_param},
            )
        return self.max_page_size if len(digits) > 9 else min(int(digits), self.max_page_size)

    def decode_cursor(self, request: Request) -> Any:
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            # A cursor this API did not give out is a bad request, not a missing page.
            raise ValidationFailed(
                _("The cursor is not valid; start again from the first page."),
                details={"param": self.cursor_query_param},
            ) from None

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters


class KeysetPagination(CursorPagination):
    """Newest first by (``key_field``, id), in pages either way. The cursor holds the boundary row's two
    values, so ties on ``key_field`` split across pages exactly and a deep page costs what the first does
    (on an index ending in ``key_field``, id)."""

    key_field = "created_at"

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> list[Any]:
        self.request = request
        self.base_url = request.build_absolute_uri()
        size = self.get_page_size(request) or self.page_size
        raw = request.query_params.get(self.cursor_query_param)
        newer, position = self._decode(raw) if raw else (False, None)
        key = self.key_field
        if position is None:
            queryset = queryset.order_by(f"-{key}", "-id")
        else:
            at, pk = position
            # The inclusive bound alone is what the index range scan uses; the OR then drops the ties already shown.
            if newer:
                after = Q(**{f"{key}__gte": at}) & (Q(**{f"{key}__gt": at}) | Q(id__gt=pk))
                queryset = queryset.filter(after).order_by(key, "id")
            else:
                before = Q(**{f"{key}__lte": at}) & (Q(**{f"{key}__lt": at}) | Q(id__lt=pk))
                queryset = queryset.filter(before).order_by(f"-{key}", "-id")
        rows = list(queryset[: size + 1])
        beyond = len(rows) > size
        rows = rows[:size]
        if newer:
            rows.reverse()
        self.page = rows
        # "next" goes to older rows, "previous" to newer ones.
        self.has_next = bool(rows) and (newer or beyond)
        self.has_previous = bool(rows) and (beyond if newer else position is not None)
        return rows

    def get_next_link(self) -> str | None:
        return self._link(self.page[-1], newer=False) if self.has_next and self.page else None

    def get_previous_link(self) -> str | None:
        return self._link(self.page[0], newer=True) if self.has_previous and self.page else None

    def _link(self, row: Any, *, newer: bool) -> str:
        raw = json.dumps([getattr(row, self.key_field).isoformat(), row.pk, int(newer)], separators=(",", ":"))
        cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        return replace_query_param(self.base_url or "", self.cursor_query_param, cursor)

    def _decode(self, cursor: str) -> tuple[bool, tuple[datetime, int]]:
        try:
            at_raw, pk, newer = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            at = datetime.fromisoformat(at_raw)
            if at.tzinfo is None or not (isinstance(pk, int) and 0 < pk < 2**63) or newer not in (0, 1):
                raise ValueError(cursor)
            at = at.astimezone(UTC)
        except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError):
            raise ValidationFailed(
                _("The cursor is not valid; start again from the first page."),
                details={"param": self.cursor_query_param},
            ) from None
        return bool(newer), (at, pk)
