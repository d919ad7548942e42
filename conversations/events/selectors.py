"""Reads of the outbox for admins: the tenant's event deliveries."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from conversations.models import EventDelivery
from tenants.models import Tenant


def event_delivery_list(*, tenant: Tenant, state: str, limit: int = 200) -> QuerySet[EventDelivery]:
    """The tenant's deliveries in ``state``, newest first, with their event."""
    return EventDelivery.objects.select_related("event").filter(tenant=tenant, state=state).order_by("-id")[:limit]


def event_delivery_get(*, tenant: Tenant, delivery_id: int) -> EventDelivery:
    try:
        return EventDelivery.objects.select_related("event").get(tenant=tenant, pk=delivery_id)
    except EventDelivery.DoesNotExist:
        raise Http404("No such event delivery.") from None
