"""DRF wiring shared by every API: one error format, cursor pagination and an id field."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, pagination, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from helpdesk.exceptions import ApplicationError, ValidationFailed
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

    default_error_messages = {"nul": "Text cannot contain a NUL character (\\u0000)."}

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


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every error as ``{"error": {"code", "message", "details"}}``."""
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("validation_failed", "The request is invalid.", exc.detail)
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        message = str(detail) if not isinstance(detail, (dict, list)) else "The request failed."
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        response.data = error_body(str(code), message)
        wait = getattr(exc, "wait", None)  # set on Throttled
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            response.data["error"]["details"] = {"retry_after_seconds": int(wait)}
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


def not_found_response() -> Response:
    return Response(error_body("not_found", "Not found."), status=status.HTTP_404_NOT_FOUND)
