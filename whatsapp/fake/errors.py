"""Graph API error objects exactly as Meta returns them, and the catalogue of WhatsApp error codes the fake knows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from whatsapp.fake.ids import fbtrace_id

ERROR_CODES_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"


class GraphError(Exception):
    """Raised by the fake's handlers; rendered as ``{"error": {...}}`` with the matching HTTP status."""

    def __init__(
        self,
        *,
        http_status: int,
        code: int,
        message: str,
        type_: str = "OAuthException",
        details: str | None = None,
        subcode: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message
        self.type = type_
        self.details = details
        self.subcode = subcode
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error.update(self.extra)
        error["fbtrace_id"] = fbtrace_id()
        return {"error": error}


@dataclass(frozen=True)
class ErrorSpec:
    code: int
    title: str
    details: str
    http_status: int = 400
    asynchronous: bool = False  # Cloud API reports it as a `failed` status webhook after a 200
    subcode: int | None = None
    href: str | None = ERROR_CODES_HREF


CATALOGUE: dict[int, ErrorSpec] = {
    spec.code: spec
    for spec in (
        ErrorSpec(2, "Service temporarily unavailable", "An unexpected error occurred. Please retry your request", 503),
        ErrorSpec(4, "Application request limit reached", "Application request limit reached", 400, subcode=2446079),
        ErrorSpec(80007, "Rate limit issues", "The WhatsApp Business Account has reached its rate limit."),
        ErrorSpec(
            130429,
            "Rate limit hit",
            "Cloud API message throughput has been reached.",
            subcode=2494055,
        ),
        ErrorSpec(
            130472,
            "User's number is part of an experiment",
            "Failed to send message because this user's phone number is part of an experiment",
            asynchronous=True,
        ),
        ErrorSpec(131000, "Something went wrong", "Something went wrong", 500),
        ErrorSpec(131005, "Access denied", "Permission is either not granted or has been removed.", 403),
        ErrorSpec(131008, "Required parameter is missing", "Required parameter is missing"),
        ErrorSpec(131009, "Parameter value is not valid", "Parameter value is not valid"),
        ErrorSpec(131016, "Service unavailable", "A service is temporarily unavailable.", 500),
        ErrorSpec(131021, "Recipient cannot be sender", "Sender and recipient phone number is the same."),
        ErrorSpec(131026, "Message undeliverable", "Message Undeliverable.", asynchronous=True),
        ErrorSpec(131031, "Account has been locked", "Business Account locked.", 403),
        ErrorSpec(
            131047,
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this "
            "number.",
            asynchronous=True,
        ),
        ErrorSpec(
            131048,
            "Spam rate limit hit",
            "Message failed to send because there are restrictions on how many "
            "messages can be sent from this phone number.",
        ),
        ErrorSpec(
            131049,
            "This message was not delivered to maintain healthy ecosystem engagement.",
            "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
            asynchronous=True,
        ),
        ErrorSpec(
            131050,
            "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on "
            "WhatsApp from your business",
            "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on "
            "WhatsApp from your business",
            asynchronous=True,
        ),
        ErrorSpec(131051, "Message type unknown", "Message type is currently not supported."),
        ErrorSpec(131053, "Media upload error", "Media upload error", asynchronous=True),
        ErrorSpec(
            131056,
            "(Business Account, Consumer Account) pair rate limit hit",
            "Message failed to send because there were too many messages sent from this phone number to the same "
            "phone number in a short period of time.",
        ),
        ErrorSpec(131057, "Account in maintenance mode", "Business Account is in maintenance mode", 500),
        ErrorSpec(
            132000,
            "Number of parameters does not match the expected number of params",
            "Number of parameters does not match the expected number of params",
        ),
        ErrorSpec(
            132001,
            "Template name does not exist in the translation",
            "Template name does not exist in the translation",
            404,
        ),
        ErrorSpec(132005, "Translated text too long", "Translated text too long"),
        ErrorSpec(132007, "Template Format Character Policy Violated", "Template Format Character Policy Violated"),
        ErrorSpec(
            132012,
            "Parameter format does not match format in the created template",
            "Parameter format does not match format in the created template",
        ),
        ErrorSpec(132015, "Template is Paused", "Template is paused due to low quality so it cannot be sent."),
        ErrorSpec(132016, "Template is Disabled", "Template has been paused too many times due to low quality."),
        ErrorSpec(133010, "Phone number Not Registered", "Phone number Not Registered"),
        ErrorSpec(
            368, "Temporarily blocked for policies violations", "Temporarily blocked for policies violations", 403
        ),
    )
}


def spec_for(code: int) -> ErrorSpec:
    return CATALOGUE.get(code) or ErrorSpec(code, "Error", f"Simulated error {code}")


def sync_error(code: int, *, details: str | None = None) -> GraphError:
    spec = spec_for(code)
    if code == 2:
        return GraphError(
            http_status=503,
            code=2,
            message=spec.details,
            type_="GraphMethodException",
            extra={"is_transient": True},
        )
    if code == 4:
        return GraphError(
            http_status=spec.http_status,
            code=4,
            message=spec.title,
            subcode=spec.subcode,
            extra={"is_transient": True},
        )
    return GraphError(
        http_status=spec.http_status,
        code=code,
        message=f"(#{code}) {spec.title}",
        details=details if details is not None else spec.details,
        subcode=spec.subcode,
    )


def status_error(code: int, *, details: str | None = None) -> dict[str, Any]:
    """The ``errors[]`` item of a ``failed`` status webhook (title == message)."""
    spec = spec_for(code)
    error: dict[str, Any] = {
        "code": code,
        "title": spec.title,
        "message": spec.title,
        "error_data": {"details": details if details is not None else spec.details},
    }
    if spec.href:
        error["href"] = spec.href
    return error


def invalid_parameter(details: str) -> GraphError:
    return GraphError(http_status=400, code=100, message="(#100) Invalid parameter", details=details)


def missing_parameter(name: str) -> GraphError:
    text = f"The parameter {name} is required."
    return GraphError(http_status=400, code=100, message=f"(#100) {text}", details=text)


def invalid_token() -> GraphError:
    return GraphError(http_status=401, code=190, message="Invalid OAuth access token", subcode=463)


def unknown_object(object_id: str, method: str) -> GraphError:
    verb = method.lower() if method.upper() in {"GET", "POST", "DELETE"} else "post"
    return GraphError(
        http_status=400,
        code=100,
        type_="GraphMethodException",
        subcode=33,
        message=(
            f"Unsupported {verb} request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
            "missing permissions, or does not support this operation. Please read the Graph API documentation at "
            "https://developers.facebook.com/docs/graph-api"
        ),
    )
