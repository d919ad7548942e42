"""What the inbox shows of orders (``conversations.extensions``): a card under the customer's cart with its
order's number, status and total, and the contact panel's "Orders" section."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from conversations.models import Conversation, Message
from payments.models import Order
from payments.selectors import orders_visible
from tenants.permissions import Perm

CONTACT_ORDERS_SHOWN = 5


def order_cards(messages: Sequence[Message]) -> Mapping[int, SafeString]:
    """The order card of each cart among ``messages`` that became an order (one query, none without carts)."""
    carts = [m.pk for m in messages if m.type == Message.Type.ORDER and m.direction == Message.Direction.INBOUND]
    if not carts:
        return {}
    tenant_id = messages[0].tenant_id
    found = Order.objects.filter(tenant_id=tenant_id, cart_message_id__in=carts).select_related("tenant")
    return {
        order.cart_message_id: SafeString(render_to_string("payments/_order_card.html", {"order": order}))
        for order in found
        if order.cart_message_id is not None
    }


def contact_orders_section(request: HttpRequest, conversation: Conversation) -> SafeString | None:
    """The contact's latest orders the member may see, and a link to make a new one."""
    membership = getattr(request, "membership", None)
    if membership is None or not membership.has_perm(Perm.REPLY) or conversation.contact_id is None:
        return None
    orders = orders_visible(membership=membership).filter(contact_id=conversation.contact_id)
    latest = list(orders.order_by("-created_at", "-id")[:CONTACT_ORDERS_SHOWN])
    context = {"orders": latest, "conversation": conversation, "current_tenant": membership.tenant}
    return SafeString(render_to_string("payments/_contact_orders.html", context, request=request))
