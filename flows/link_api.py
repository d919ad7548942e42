"""REST API of wa.me links (list, create, change, archive or restore, the QR code) and of the Sources report.
Links need "Manage automations", the report "View reports"; another workspace's link is 404, like one that never
was. Revenue is in the currency's minor units (centavos)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import HttpResponse
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from conversations.models import Inbox
from flows.links import (
    NAME_MAX,
    QR_FORMATS,
    REF_MAX,
    SOURCE_KINDS,
    TEXT_MAX,
    SourceRow,
    entry_link_archive,
    entry_link_create,
    entry_link_get,
    entry_link_list,
    entry_link_update,
    flow_choices,
    link_qr,
    link_text,
    sources_report,
    wa_me_urls,
)
from flows.models import EntryLink, Flow
from helpdesk.api import CursorPagination, ErrorOutput, IdField, StrictBooleanField, StrictCharField
from helpdesk.exceptions import ValidationFailed
from helpdesk.parsers import JsonParser
from tenants.api_base import TenantAPIView
from tenants.models import Tenant
from tenants.permissions import Perm

FORBIDDEN = OpenApiResponse(ErrorOutput, description="The caller lacks Manage automations")
REPORTS_FORBIDDEN = OpenApiResponse(ErrorOutput, description="The caller lacks View reports")
INVALID = OpenApiResponse(ErrorOutput, description="validation_failed: details name the field or parameter")
UNSUPPORTED = OpenApiResponse(ErrorOutput, description="unsupported_media_type: the body is not JSON")
NOT_FOUND = OpenApiResponse(ErrorOutput, description="No such link in this workspace")
NO_NUMBER = OpenApiResponse(ErrorOutput, description="conflict (no_phone_number): the link's inbox has no number")


class EntryLinkOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=EntryLink.Kind.choices, help_text="Where the link is shown")
    inbox_id = serializers.IntegerField()
    ref = serializers.CharField(help_text="The link's reference: its token in the text is [#ref]")
    text = serializers.CharField(help_text="The prefilled text as written, without the token")
    prefilled_text = serializers.CharField(help_text="The text the chat opens with: the text and [#ref]")
    url = serializers.CharField(
        allow_null=True, help_text="https://wa.me/<number>?text=...; null while the inbox has no phone number"
    )
    flow_id = serializers.IntegerField(allow_null=True, help_text="The bot flow its first message starts")
    archived = serializers.BooleanField(help_text="true: its token no longer attributes conversations")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class EntryLinkInput(serializers.Serializer):
    """On a change, fields left out keep their value; the inbox and the reference cannot change."""

    name = StrictCharField(max_length=NAME_MAX)
    kind = serializers.ChoiceField(choices=EntryLink.Kind.choices, required=False)
    inbox_id = IdField(help_text="Only when creating: the inbox whose number the link opens")
    text = StrictCharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    flow_id = IdField(required=False, allow_null=True, help_text="A bot flow of the workspace; null for none")
    ref = StrictCharField(
        max_length=REF_MAX,
        required=False,
        help_text="Only when creating: 6 to 32 lowercase letters or digits, unique in the workspace; a new one "
        "when left out",
    )
    archived = StrictBooleanField(required=False, help_text="Only when changing: false restores an archived link")


def _outputs(links: list[EntryLink]) -> list[dict[str, Any]]:
    urls = wa_me_urls(links)
    return [
        {
            "id": link.pk,
            "name": link.name,
            "kind": link.kind,
            "inbox_id": link.inbox_id,
            "ref": link.ref,
            "text": link.text,
            "prefilled_text": link_text(link),
            "url": urls[link.pk],
            "flow_id": link.flow_id,
            "archived": link.archived,
            "created_at": link.created_at,
            "updated_at": link.updated_at,
        }
        for link in links
    ]


def _output(link: EntryLink) -> dict[str, Any]:
    return EntryLinkOutput(_outputs([link])[0]).data  # type: ignore[return-value]


def _flow(tenant: Tenant, flow_id: int | None) -> Flow | None:
    if flow_id is None:
        return None
    flow = flow_choices(tenant=tenant).filter(pk=flow_id).first()
    if flow is None:
        raise ValidationFailed(_("Unknown bot flow."), details={"field": "flow_id"})
    return flow


class EntryLinkPagination(CursorPagination):
    ordering = "-id"


class EntryLinkListCreateApi(TenantAPIView):
    """The workspace's wa.me links."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]
    pagination_class = EntryLinkPagination

    @extend_schema(
        operation_id="links_list",
        parameters=[OpenApiParameter("archived", bool, description="Archived links (true) or those in use (false)")],
        responses={200: EntryLinkOutput(many=True), 400: INVALID, 403: FORBIDDEN},
        summary="The workspace's wa.me links, newest first, a page at a time",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        archived = request.query_params.get("archived")
        if archived not in (None, "true", "false"):
            raise ValidationFailed(_("archived is true or false."), details={"param": "archived"})
        links = entry_link_list(tenant=self.tenant, archived=None if archived is None else archived == "true")
        paginator = EntryLinkPagination()
        page = paginator.paginate_queryset(links.order_by("-id"), request, view=self)
        return paginator.get_paginated_response(EntryLinkOutput(_outputs(list(page or [])), many=True).data)

    @extend_schema(
        operation_id="links_create",
        request=EntryLinkInput,
        responses={201: EntryLinkOutput, 400: INVALID, 403: FORBIDDEN, 415: UNSUPPORTED},
        summary="Create a wa.me link to an inbox's number",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        data = EntryLinkInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if "archived" in values:
            raise ValidationFailed(_("A new link is not archived."), details={"field": "archived"})
        inbox = Inbox.objects.filter(tenant=self.tenant, pk=values["inbox_id"]).first()
        if inbox is None:
            raise ValidationFailed(_("Unknown inbox."), details={"field": "inbox_id"})
        link = entry_link_create(
            actor=self.principal,
            inbox=inbox,
            name=values["name"],
            kind=values.get("kind", EntryLink.Kind.OTHER),
            text=values.get("text", ""),
            flow=_flow(self.tenant, values.get("flow_id")),
            ref=values.get("ref"),
            request=request,
        )
        return Response(_output(link), status=status.HTTP_201_CREATED)


class EntryLinkDetailApi(TenantAPIView):
    """One wa.me link."""

    required_perm = Perm.MANAGE_AUTOMATIONS
    parser_classes = [JsonParser]

    @extend_schema(
        operation_id="links_retrieve",
        responses={200: EntryLinkOutput, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="One wa.me link",
    )
    def get(self, request: Request, tenant_slug: str, link_id: int) -> Response:
        return Response(_output(entry_link_get(tenant=self.tenant, link_id=link_id)))

    @extend_schema(
        operation_id="links_update",
        request=EntryLinkInput(partial=True),
        responses={200: EntryLinkOutput, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 415: UNSUPPORTED},
        summary="Change a wa.me link (name, kind, text, flow) or archive or restore it; fields left out keep "
        "their value",
    )
    def patch(self, request: Request, tenant_slug: str, link_id: int) -> Response:
        link = entry_link_get(tenant=self.tenant, link_id=link_id)
        data = EntryLinkInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        for fixed in ("inbox_id", "ref"):
            if fixed in values and values[fixed] != getattr(link, fixed):
                raise ValidationFailed(
                    _("The inbox and the reference of a link cannot change; create another link."),
                    details={"field": fixed},
                )
        if {"name", "kind", "text", "flow_id"} & values.keys():
            link = entry_link_update(
                actor=self.principal,
                link=link,
                name=values.get("name", link.name),
                kind=values.get("kind", link.kind),
                text=values.get("text", link.text),
                flow=_flow(self.tenant, values["flow_id"]) if "flow_id" in values else link.flow,
                request=request,
            )
        if "archived" in values:
            link = entry_link_archive(actor=self.principal, link=link, archived=values["archived"], request=request)
        return Response(_output(link))

    @extend_schema(
        operation_id="links_archive",
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Archive a wa.me link: its token no longer attributes conversations, its figures stay",
    )
    def delete(self, request: Request, tenant_slug: str, link_id: int) -> Response:
        entry_link_archive(
            actor=self.principal, link=entry_link_get(tenant=self.tenant, link_id=link_id), request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class EntryLinkQrApi(TenantAPIView):
    """A link's QR code."""

    required_perm = Perm.MANAGE_AUTOMATIONS

    @extend_schema(
        operation_id="links_qr",
        parameters=[
            OpenApiParameter("format", str, enum=sorted(QR_FORMATS), description="png (the default) or svg"),
        ],
        responses={
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="The QR code of the link's url"),
            (200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.BINARY, description="The same, as SVG"),
            400: INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: NO_NUMBER,
        },
        summary="The QR code of a wa.me link: it encodes exactly the link's url",
    )
    def get(self, request: Request, tenant_slug: str, link_id: int) -> HttpResponse:
        link = entry_link_get(tenant=self.tenant, link_id=link_id)
        fmt = request.query_params.get("format", "png")
        if fmt not in QR_FORMATS:
            raise ValidationFailed(_("The format is png or svg."), details={"param": "format"})
        response = HttpResponse(link_qr(link, fmt), content_type=QR_FORMATS[fmt])  # type: ignore[arg-type]
        response["Content-Disposition"] = f'inline; filename="wa-me-{link.ref}.{fmt}"'
        return response

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # "format" names the image, not one of DRF's renderers; errors are still rendered as JSON.
        return super().perform_content_negotiation(request, force=True)


class SourceOutput(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=SOURCE_KINDS, help_text="none: the conversations of the days without a known source"
    )
    link_id = serializers.IntegerField(allow_null=True, help_text="null for an ad, none, or links since deleted")
    name = serializers.CharField(help_text="The link's name or the ad's headline")
    ad_id = serializers.CharField(help_text="The ad's id as WhatsApp gave it (ads only)")
    conversations = serializers.IntegerField(help_text="Conversations started in the days with this source")
    flows_completed = serializers.IntegerField(
        help_text="Bot flows completed in them (for a link: those the link started)"
    )
    revenue = serializers.DictField(
        child=serializers.IntegerField(), help_text='Their orders paid: minor units by currency, {"BRL": 7290}'
    )


class SourcesReportOutput(serializers.Serializer):
    since = serializers.DateField(allow_null=True)
    until = serializers.DateField(allow_null=True)
    sources = SourceOutput(many=True)


def _source(row: SourceRow) -> dict[str, Any]:
    return {
        "kind": row.kind,
        "link_id": row.link.pk if row.link is not None else None,
        "name": row.link.name if row.link is not None else row.ad_headline,
        "ad_id": row.ad_id,
        "conversations": row.conversations,
        "flows_completed": row.flows_completed,
        "revenue": row.revenue,
    }


def _day(request: Request, name: str) -> date | None:
    """A day of the query string (YYYY-MM-DD), None when left out; anything else is refused."""
    text = request.query_params.get(name)
    if text is None:
        return None
    try:
        day = parse_date(text)
    except ValueError:
        day = None
    if day is None:
        raise ValidationFailed(_("Write the day as YYYY-MM-DD."), details={"param": name})
    return day


class SourcesReportApi(TenantAPIView):
    """Where conversations came from, with what they brought."""

    required_perm = Perm.VIEW_REPORTS

    @extend_schema(
        operation_id="sources_report",
        parameters=[
            OpenApiParameter(
                "since", OpenApiTypes.DATE, description="First day (a day of the workspace); none: from the start"
            ),
            OpenApiParameter("until", OpenApiTypes.DATE, description="Last day, included; none: up to now"),
        ],
        responses={200: SourcesReportOutput, 400: INVALID, 403: REPORTS_FORBIDDEN},
        summary="Each wa.me link and click-to-WhatsApp ad: conversations started, flows completed, revenue paid",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        if empty := sorted(name for name in ("since", "until") if request.query_params.get(name) == ""):
            raise ValidationFailed(_("A filter cannot be empty; leave it out instead."), details={"params": empty})
        since, until = _day(request, "since"), _day(request, "until")
        if since is not None and until is not None and since > until:
            raise ValidationFailed(_("The first day comes after the last."), details={"param": "since"})
        rows = sources_report(tenant=self.tenant, since=since, until=until)
        body = {"since": since, "until": until, "sources": [_source(row) for row in rows]}
        return Response(SourcesReportOutput(body).data)
