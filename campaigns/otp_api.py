"""REST API of one-time codes: send a code with an authentication template, check it once.

Only API tokens (and owners and admins, to try it) with "Send message templates" may call it. The code is
never in an answer, a log or the conversation's history (campaigns/otp.py). Sends are limited per contact
and per caller: over the limit the answer is 429 with ``Retry-After``.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns import otp
from campaigns.schedule_api import FORBIDDEN, INVALID, api_contact, api_inbox
from helpdesk.api import ErrorOutput, IdField, StrictCharField, StrictIntegerField
from helpdesk.exceptions import error_body
from tenants.api_base import TenantAPIView
from tenants.permissions import Perm


class OtpChallengeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class OtpVerifiedOutput(serializers.Serializer):
    id = serializers.IntegerField()
    verified = serializers.BooleanField()
    verified_at = serializers.DateTimeField()


def _limited(exc: otp.RateLimited) -> Response:
    response = Response(error_body(exc.code, exc.message, exc.details), status=status.HTTP_429_TOO_MANY_REQUESTS)
    response["Retry-After"] = str(exc.retry_after)
    return response


class OtpSendApi(TenantAPIView):
    required_perm = Perm.SEND_TEMPLATES

    class OtpSendInput(serializers.Serializer):
        contact_id = IdField(required=False, help_text="A contact the caller may see; or give phone")
        phone = StrictCharField(required=False, max_length=32, help_text="The customer's number, e.g. +5511912345678")
        inbox_id = IdField()
        template_name = StrictCharField(max_length=512, help_text="An approved AUTHENTICATION template")
        template_language = StrictCharField(max_length=16)
        length = StrictIntegerField(required=False, min_value=otp.LENGTH_MIN, max_value=otp.LENGTH_MAX, default=6)
        ttl_seconds = StrictIntegerField(required=False, min_value=otp.TTL_MIN, max_value=otp.TTL_MAX, default=600)

    @extend_schema(
        operation_id="otp_send",
        request=OtpSendInput,
        responses={
            201: OtpChallengeOutput,
            400: INVALID,
            403: FORBIDDEN,
            429: OpenApiResponse(ErrorOutput, description="rate_limited: too many codes; see Retry-After"),
        },
        summary="Send a one-time code to a contact with an authentication template (copy-code or one-tap button)",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        otp.otp_caller_check(self.principal)
        data = self.OtpSendInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        inbox = api_inbox(self.principal, v["inbox_id"])
        contact = api_contact(self.principal, contact_id=v.get("contact_id"), phone=v.get("phone", ""), inbox=inbox)
        try:
            challenge = otp.otp_send(
                principal=self.principal,
                contact=contact,
                inbox=inbox,
                template_name=v["template_name"],
                template_language=v["template_language"],
                length=v["length"],
                ttl_seconds=v["ttl_seconds"],
            )
        except otp.RateLimited as exc:
            return _limited(exc)
        return Response(OtpChallengeOutput(challenge).data, status=status.HTTP_201_CREATED)


class OtpVerifyApi(TenantAPIView):
    required_perm = Perm.SEND_TEMPLATES

    class VerifyInput(serializers.Serializer):
        id = IdField(help_text="The id the send answered")
        code = StrictCharField(max_length=16, help_text="The code the customer typed")

    @extend_schema(
        operation_id="otp_verify",
        request=VerifyInput,
        responses={
            200: OtpVerifiedOutput,
            400: OpenApiResponse(ErrorOutput, description="otp_incorrect (details.attempts_left), validation_failed"),
            403: FORBIDDEN,
            404: OpenApiResponse(ErrorOutput, description="No such code"),
            409: OpenApiResponse(ErrorOutput, description="otp_already_used"),
            410: OpenApiResponse(ErrorOutput, description="otp_expired"),
            429: OpenApiResponse(ErrorOutput, description="otp_attempts_exhausted: 5 wrong codes"),
        },
        summary="Check a one-time code (once, before it expires, within 5 attempts)",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        otp.otp_caller_check(self.principal)
        data = self.VerifyInput(data=request.data)
        data.is_valid(raise_exception=True)
        challenge = otp.otp_verify(
            principal=self.principal, challenge_id=data.validated_data["id"], code=data.validated_data["code"]
        )
        return Response({"id": challenge.pk, "verified": True, "verified_at": challenge.verified_at})
