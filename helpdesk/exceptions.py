"""The application error tree. Services raise these; views and the API render them."""

from __future__ import annotations

from typing import Any


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The body of every error answered as JSON: ``{"error": {"code", "message", "details"}}``.

    The only place that builds it; the API's exception handler, the error pages under /api/, the inbox's
    fragments and the webhook receiver all answer through it.
    """
    return {"error": {"code": code, "message": message, "details": details or {}}}


class ApplicationError(Exception):
    """A request the product understood and refuses, with a message meant for people."""

    code = "invalid"
    status_code = 400

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class ValidationFailed(ApplicationError):
    code = "validation_failed"


class PermissionDenied(ApplicationError):
    code = "permission_denied"
    status_code = 403


class NotFound(ApplicationError):
    code = "not_found"
    status_code = 404


class Conflict(ApplicationError):
    code = "conflict"
    status_code = 409


class MfaRequired(ApplicationError):
    code = "mfa_required"
    status_code = 403
