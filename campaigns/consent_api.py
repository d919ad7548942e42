"""REST API of a contact's consent: its current answer per purpose and the history (the ledger), and recording an
answer with its evidence. A contact the caller may not see (another workspace's too) is 404; recording needs
"Manage contacts" and is audited as the member or the token."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.consent import (
    NOTE_MAX,
    PurposeState,
    consent_actor_display,
    consent_history,
    consent_purpose_by_key,
    consent_record,
    consent_states,
    contact_visible,
    purpose_label,
)
from campaigns.models import ConsentEvent
from conversations.api import AwareDateTimeField
from helpdesk.api import ErrorOutput, JsonObjectField, StrictCharField
from helpdesk.parsers import JsonParser
from tenants.api_base import TenantAPIView
from tenants.permissions import Perm, require_perm

INVALID = OpenApiResponse(ErrorOutput, description="validation_failed: details name the field")
FORBIDDEN = OpenApiResponse(ErrorOutput, description="The caller lacks Manage contacts")
NOT_FOUND = OpenApiResponse(ErrorOutput, description="No such contact the caller may see")
UNSUPPORTED = OpenApiResponse(ErrorOutput, description="unsupported_media_type: the body is not JSON")
HISTORY_MAX = 200


class ConsentStateOutput(serializers.Serializer):
    purpose = serializers.CharField(source="purpose.key", help_text="The purpose's key (marketing is built in)")
    purpose_name = serializers.SerializerMethodField()
    state = serializers.SerializerMethodField(help_text="opt_in, opt_out, resume (a lifted stop) or unknown")
    since = serializers.SerializerMethodField(help_text="When the current answer was given")

    def get_purpose_name(self, obj: PurposeState) -> str:
        return purpose_label(obj.purpose)

    def get_state(self, obj: PurposeState) -> str:
        return obj.kind or "unknown"

    def get_since(self, obj: PurposeState) -> str | None:
        return serializers.DateTimeField().to_representation(obj.state.occurred_at) if obj.state is not None else None


class ConsentEventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    purpose = serializers.CharField(source="purpose.key")
    kind = serializers.ChoiceField(choices=ConsentEvent.Kind.choices)
    source = serializers.ChoiceField(choices=ConsentEvent.Source.choices)  # type: ignore[assignment]  # a field, not Field.source
    occurred_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField(source="created_at")
    recorded_by = serializers.SerializerMethodField(help_text="The member, API token, automation or the system")
    evidence = serializers.JSONField()
    note = serializers.CharField()

    def get_recorded_by(self, obj: ConsentEvent) -> str:
        return consent_actor_display(obj)


class ContactConsentOutput(serializers.Serializer):
    contact_id = serializers.IntegerField()
    marketing_consent = serializers.CharField(help_text="What marketing templates are checked against")
    states = ConsentStateOutput(many=True)
    history = ConsentEventOutput(many=True, help_text=f"Newest first, at most {HISTORY_MAX}")


class ContactConsentApi(TenantAPIView):
    parser_classes = [JsonParser]

    class RecordInput(serializers.Serializer):
        purpose = StrictCharField(max_length=40, default="marketing", help_text="A purpose's key")
        kind = serializers.ChoiceField(choices=[ConsentEvent.Kind.OPT_IN, ConsentEvent.Kind.OPT_OUT])
        occurred_at = AwareDateTimeField(required=False, help_text="When the customer answered; now if left out")
        evidence = JsonObjectField(
            help_text='What proves it, e.g. {"text": "the text they agreed to", "url": "https://…/form/77"}'
        )
        note = StrictCharField(max_length=NOTE_MAX, required=False, allow_blank=True, default="")

    def _body(self, contact_id: int) -> dict[str, Any]:
        contact = contact_visible(principal=self.principal, contact_id=contact_id)
        return {
            "contact_id": contact.pk,
            "marketing_consent": contact.marketing_consent,
            "states": consent_states(contact=contact),
            "history": list(consent_history(contact=contact, limit=HISTORY_MAX)),
        }

    @extend_schema(
        operation_id="contacts_consent_retrieve",
        responses={200: ContactConsentOutput, 404: NOT_FOUND},
        summary="A contact's current consent per purpose and its history",
    )
    def get(self, request: Request, tenant_slug: str, contact_id: int) -> Response:
        return Response(ContactConsentOutput(self._body(contact_id)).data)

    @extend_schema(
        operation_id="contacts_consent_record",
        request=RecordInput,
        responses={201: ContactConsentOutput, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 415: UNSUPPORTED},
        summary="Record a contact's opt-in or opt-out, with its evidence",
    )
    def post(self, request: Request, tenant_slug: str, contact_id: int) -> Response:
        contact = contact_visible(principal=self.principal, contact_id=contact_id)
        require_perm(self.principal, Perm.MANAGE_CONTACTS, message=_("You do not have permission to change contacts."))
        data = self.RecordInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        consent_record(
            actor=self.principal,
            contact=contact,
            purpose=consent_purpose_by_key(tenant_id=self.tenant.pk, key=values["purpose"]),
            kind=values["kind"],
            source=ConsentEvent.Source.API,
            occurred_at=values.get("occurred_at"),
            evidence=values["evidence"],
            note=values["note"],
            request=request._request,
        )
        return Response(ContactConsentOutput(self._body(contact_id)).data, status=status.HTTP_201_CREATED)
