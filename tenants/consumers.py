"""The browser's WebSocket to a tenant: only members, authenticated by session, may join."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from helpdesk.realtime import user_group
from tenants.access import membership_needs_mfa_enrolment
from tenants.selectors import membership_for


class TenantEventsConsumer(AsyncJsonWebsocketConsumer):
    """Joins the caller's per-user group of the tenant; events arrive through ``helpdesk.realtime``."""

    groups: list[str] = []

    async def connect(self) -> None:
        user = self.scope.get("user")
        slug = self.scope["url_route"]["kwargs"]["tenant_slug"]
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        membership = await self._membership(user, slug)
        if membership is None:
            await self.close(code=4404)
            return
        self.group = user_group(membership.tenant_id, user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "tenant": slug})

    @database_sync_to_async
    def _membership(self, user: Any, slug: str) -> Any:
        try:
            membership = membership_for(user=user, tenant_slug=slug)
        except Http404:
            return None
        return None if membership_needs_mfa_enrolment(membership) else membership

    async def disconnect(self, code: int) -> None:
        group = getattr(self, "group", None)
        if group:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def realtime_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])
