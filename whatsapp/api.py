"""REST API of the WhatsApp channel."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.api_base import TenantAPIView
from whatsapp import selectors
from whatsapp.models import WhatsAppChannel


class ChannelStatusApi(TenantAPIView):
    class ChannelStatusSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        inbox_id = serializers.IntegerField()
        name = serializers.CharField(source="inbox.name")
        type = serializers.SerializerMethodField()
        display_phone_number = serializers.CharField()
        phone_number_id = serializers.CharField()
        health = serializers.ChoiceField(choices=WhatsAppChannel.Health.choices)
        health_detail = serializers.CharField()
        health_checked_at = serializers.DateTimeField(allow_null=True)
        throughput_per_second = serializers.IntegerField()
        templates_synced_at = serializers.DateTimeField(allow_null=True)
        failed_webhook_events = serializers.IntegerField()

        def get_type(self, obj: WhatsAppChannel) -> str:
            return "whatsapp"

    @extend_schema(
        operation_id="channels_list",
        summary="Connected channels and their health",
        responses=inline_serializer("ChannelStatusList", {"results": ChannelStatusSerializer(many=True)}),
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        channels = selectors.channel_list_with_failures(tenant=self.tenant)
        return Response({"results": self.ChannelStatusSerializer(channels, many=True).data})
