"""The error answers the automations API documents, shared by its views."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse

from helpdesk.api import ErrorOutput

FORBIDDEN = OpenApiResponse(ErrorOutput, description="The caller lacks Manage automations")
INBOX_NOT_FOUND = OpenApiResponse(ErrorOutput, description="No such inbox in this workspace")
INVALID = OpenApiResponse(ErrorOutput, description="validation_failed: details name the field")
UNSUPPORTED = OpenApiResponse(ErrorOutput, description="unsupported_media_type: the body is not JSON")
