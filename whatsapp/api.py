"""REST API of the WhatsApp channel."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.api_base import TenantAPIView
from whatsapp.models import WebhookEvent, WhatsAppChannel


class ChannelStatusApi(TenantAPIView):
    @extend_schema(operation_id="channels_list", summary="Connected channels and their health")
    def get(self, request: Request, tenant_slug: str) -> Response:
        rows = []
        for ch in WhatsAppChannel.objects.filter(tenant=self.tenant).select_related("inbox").order_by("id"):
            rows.append(
                {
                    "id": ch.pk,
                    "inbox_id": ch.inbox_id,
                    "name": ch.inbox.name,
                    "type": "whatsapp",
                    "display_phone_number": ch.display_phone_number,
                    "phone_number_id": ch.phone_number_id,
                    "health": ch.health,
                    "health_detail": ch.health_detail,
                    "health_checked_at": ch.health_checked_at,
                    "throughput_per_second": ch.throughput_per_second,
                    "failed_webhook_events": WebhookEvent.objects.filter(
                        channel=ch, status=WebhookEvent.Status.FAILED
                    ).count(),
                }
            )
        return Response({"results": rows})
