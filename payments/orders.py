"""Orders: made from a customer's WhatsApp cart (a subscriber to ``MessageReceived``), or put together by
an agent from the catalog or as a free amount. An order's status moves only through these services,
each change checked against the allowed transitions and audited. Money is integers of centavos."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations import events
from conversations.actors import Actor, SystemActor, actor_audit_record, actor_type, actor_user
from conversations.content import OrderContent, content_read
from conversations.models import Conversation, Message
from conversations.services.events import publish_message_event
from helpdesk.exceptions import ValidationFailed
from payments.models import (
    ORDER_DESCRIPTION_MAX,
    ORDER_LINES_MAX,
    ORDER_NOTE_MAX,
    PRICE_MAX,
    QUANTITY_MAX,
    Order,
    OrderCounter,
    OrderLine,
    Product,
)
from tenants.models import AuditLogEntry, Tenant
from tenants.permissions import Perm, require_perm

Status = Order.Status
SUBSCRIBER = "payments.orders_from_carts"

# Where an order may go from each status. "Paid" comes from a confirmed payment or an admin's "mark as
# paid", "awaiting payment" (and back to "pending") from payment requests, "refunded" from refunds.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.AWAITING_PAYMENT, Status.PAID, Status.CANCELED}),
    Status.AWAITING_PAYMENT: frozenset({Status.PENDING, Status.PAID, Status.CANCELED}),
    Status.PAID: frozenset({Status.PROCESSING, Status.SHIPPED, Status.COMPLETED, Status.REFUNDED}),
    Status.PROCESSING: frozenset({Status.SHIPPED, Status.COMPLETED, Status.REFUNDED}),
    Status.SHIPPED: frozenset({Status.COMPLETED, Status.REFUNDED}),
    Status.COMPLETED: frozenset({Status.REFUNDED}),
    Status.CANCELED: frozenset(),
    Status.REFUNDED: frozenset(),
}
# What a person moves an order to by hand (fulfilment, or calling it off before it is paid).
MANUAL_STATUSES = (Status.PROCESSING, Status.SHIPPED, Status.COMPLETED, Status.CANCELED)
# A WhatsApp cart takes 1 to 99 units of an item.
CART_QUANTITY_MAX = 99


@dataclass(frozen=True)
class LineSpec:
    """A line an agent asks for: ``quantity`` of the product with SKU ``retailer_id``."""

    retailer_id: str
    quantity: int


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={field: [message]})


def _next_number(tenant_id: int) -> int:
    """The workspace's next order number (the counter row's lock serialises concurrent orders)."""
    counter, _created = OrderCounter.objects.get_or_create(tenant_id=tenant_id)
    OrderCounter.objects.filter(pk=counter.pk).update(last_number=F("last_number") + 1)
    return OrderCounter.objects.values_list("last_number", flat=True).get(pk=counter.pk)


def _amount(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= PRICE_MAX:
        raise _invalid(field, _("Enter an amount from R$ 0,00 to R$ 99.999.999,99."))
    return value


def _audit_created(actor: Actor, order: Order, request: HttpRequest | None) -> None:
    actor_audit_record(
        actor,
        action=AuditLogEntry.Action.ORDER_CREATED,
        tenant=order.tenant,
        target=order,
        target_label=str(order),
        request=request,
        extra={"source": order.source, "total": order.total, "currency": order.currency},
    )


def _save(order: Order, lines: list[OrderLine]) -> Order:
    order.subtotal = sum(line.subtotal for line in lines)
    order.total = order.subtotal + order.tax + order.shipping - order.discount
    order.price_warning = any(line.differs for line in lines)
    order.number = _next_number(order.tenant_id)
    order.status_changed_at = timezone.now()
    order.save()
    for position, line in enumerate(lines):
        line.order, line.tenant_id, line.position = order, order.tenant_id, position
    OrderLine.objects.bulk_create(lines)
    return order


# -- from the customer's cart ------------------------------------------------------------------------------


def _cart_lines(tenant_id: int, content: OrderContent, currency: str) -> list[OrderLine]:
    """The cart's lines priced as the customer saw them, with our catalog's price beside each (a line in
    another currency, or without a price, takes the catalog's; one we cannot price at all is left out)."""
    skus = {item.sku for item in content.items if item.sku}
    products = {p.retailer_id: p for p in Product.objects.filter(tenant_id=tenant_id, retailer_id__in=skus)}
    lines = []
    for item in content.items[:ORDER_LINES_MAX]:
        if not item.sku or not 1 <= item.quantity <= CART_QUANTITY_MAX:
            continue
        product = products.get(item.sku)
        catalog_price = product.price if product is not None and product.currency == currency else None
        cart_price = item.unit_price if item.currency == currency else None
        unit_price = cart_price if cart_price is not None else catalog_price
        if unit_price is None or unit_price > PRICE_MAX:
            continue
        lines.append(
            OrderLine(
                product=product,
                retailer_id=item.sku,
                name=product.name if product is not None else item.sku,
                quantity=item.quantity,
                unit_price=unit_price,
                catalog_price=catalog_price,
            )
        )
    return lines


def order_from_cart(*, message: Message) -> Order | None:
    """The order of a cart the customer sent (made once: a repeated webhook or event finds it); None
    when the message is no cart or has no line we can price."""
    content = content_read(message.content)
    if message.direction != Message.Direction.INBOUND or not isinstance(content, OrderContent):
        return None
    existing = Order.objects.filter(tenant_id=message.tenant_id, cart_message=message).first()
    if existing is not None:
        return existing
    lines = _cart_lines(message.tenant_id, content, "BRL")
    if not lines:
        return None
    conversation = message.conversation
    order = Order(
        tenant_id=message.tenant_id,
        source=Order.Source.CART,
        contact_id=conversation.contact_id,
        conversation=conversation,
        cart_message=message,
        currency="BRL",
        note=content.note[:ORDER_NOTE_MAX],
    )
    try:
        with transaction.atomic():
            _save(order, lines)
            _audit_created(SystemActor(tenant_id=message.tenant_id), order, None)
    except IntegrityError:  # made meanwhile by another delivery of the same cart
        return Order.objects.filter(tenant_id=message.tenant_id, cart_message=message).first()
    publish_message_event("message.updated", message)  # the cart's bubble shows its order
    return order


def orders_from_carts(received: Sequence[events.MessageReceived]) -> None:
    """Subscriber: the carts among the customers' messages become orders."""
    ids = [event.message_id for event in received if event.message_type == Message.Type.ORDER]
    if not ids:
        return
    for message in Message.objects.filter(pk__in=ids).select_related("conversation", "tenant").order_by("pk"):
        order_from_cart(message=message)


# -- by an agent (or the API) ------------------------------------------------------------------------------


def _agent_lines(tenant: Tenant, specs: Sequence[LineSpec]) -> list[OrderLine]:
    if not specs:
        raise _invalid("lines", _("Add at least one product."))
    if len(specs) > ORDER_LINES_MAX:
        raise _invalid("lines", _("An order takes at most %(max)s lines.") % {"max": ORDER_LINES_MAX})
    products = {
        p.retailer_id: p
        for p in Product.objects.filter(tenant=tenant, retailer_id__in=[spec.retailer_id for spec in specs])
    }
    lines = []
    for spec in specs:
        product = products.get(spec.retailer_id)
        if product is None or not product.visible:
            raise _invalid("lines", _("No product with the SKU %(sku)s in the catalog.") % {"sku": spec.retailer_id})
        if product.availability != Product.Availability.IN_STOCK:
            raise _invalid("lines", _("%(name)s is out of stock.") % {"name": product.name})
        quantity = spec.quantity
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= QUANTITY_MAX:
            raise _invalid("lines", _("A quantity goes from 1 to %(max)s.") % {"max": QUANTITY_MAX})
        lines.append(
            OrderLine(
                product=product,
                retailer_id=product.retailer_id,
                name=product.name,
                quantity=quantity,
                unit_price=product.price,
                catalog_price=product.price,
            )
        )
    return lines


def _free_line(amount: int, description: str) -> OrderLine:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= PRICE_MAX:
        raise _invalid("amount", _("The amount must be above zero and at most R$ 99.999.999,99."))
    return OrderLine(name=description, quantity=1, unit_price=amount)


@transaction.atomic
def order_create(
    *,
    actor: Actor,
    conversation: Conversation,
    lines: Sequence[LineSpec] = (),
    amount: int | None = None,
    description: str = "",
    shipping: int = 0,
    discount: int = 0,
    request: HttpRequest | None = None,
) -> Order:
    """An order for the conversation's customer: products of the catalog at their prices (``lines``), or
    one free ``amount`` with a ``description`` of what it is for. The caller has checked that the actor
    sees the conversation."""
    require_perm(actor, Perm.REPLY, tenant_id=conversation.tenant_id)
    description = " ".join(description.split())
    if len(description) > ORDER_DESCRIPTION_MAX:
        raise _invalid("description", _("At most %(max)s characters.") % {"max": ORDER_DESCRIPTION_MAX})
    if amount is not None:
        if lines:
            raise _invalid("amount", _("Give products or an amount, not both."))
        if not description:
            raise _invalid("description", _("Say what the amount is for."))
        order_lines = [_free_line(amount, description)]
    else:
        order_lines = _agent_lines(conversation.tenant, lines)
    order = Order(
        tenant_id=conversation.tenant_id,
        source=_source(actor),
        contact_id=conversation.contact_id,
        conversation=conversation,
        currency="BRL",
        description=description,
        shipping=_amount(shipping, "shipping"),
        discount=_amount(discount, "discount"),
        created_by=actor_user(actor),
    )
    subtotal = sum(line.subtotal for line in order_lines)
    if order.discount > subtotal + order.shipping:
        raise _invalid("discount", _("The discount cannot be more than the order."))
    if subtotal + order.shipping - order.discount > PRICE_MAX:
        raise _invalid("lines", _("The order's total cannot pass R$ 99.999.999,99."))
    _save(order, order_lines)
    _audit_created(actor, order, request)
    return order


def _source(actor: Actor) -> str:
    return {
        "member": Order.Source.AGENT,
        "api_token": Order.Source.API,
        "automation": Order.Source.AUTOMATION,
    }.get(actor_type(actor), Order.Source.AUTOMATION)


# -- status ------------------------------------------------------------------------------------------------


def order_locked(order_id: int, tenant_id: int, *, related: tuple[str, ...] = ()) -> Order:
    """The order, locked until the transaction ends (its workspace and ``related`` read with it, not locked)."""
    orders = Order.objects.select_for_update(of=("self",)).select_related("tenant", *related)
    return orders.get(pk=order_id, tenant_id=tenant_id)


def move_order(
    actor: Actor, order: Order, status: str, request: HttpRequest | None, note: str = "", *, locked: bool = False
) -> Order:
    """Move the order (locked here, unless the caller says it holds ``order`` from ``order_locked``) to
    ``status`` if its current status allows it; audited, and shown live on the cart's bubble. The caller has
    checked the actor's permission (payments' own services)."""
    locked_order = order if locked else order_locked(order.pk, order.tenant_id)
    return _move(actor, locked_order, status, request, note)


def _move(actor: Actor, locked: Order, status: str, request: HttpRequest | None, note: str) -> Order:
    if status == locked.status:
        return locked
    if status not in TRANSITIONS[locked.status]:
        raise _invalid(
            "status",
            _("An order that is %(current)s cannot become %(new)s.")
            % {"current": locked.get_status_display().lower(), "new": Status(status).label.lower()},
        )
    previous = locked.status
    now = timezone.now()
    locked.status, locked.status_changed_at = status, now
    fields = ["status", "status_changed_at", "updated_at"]
    if status == Status.PAID:
        locked.paid_at = now
        fields.append("paid_at")
    locked.save(update_fields=fields)
    extra: dict[str, object] = {"status": {"from": previous, "to": status}}
    if note:
        extra["note"] = note
    actor_audit_record(
        actor,
        action=AuditLogEntry.Action.ORDER_STATUS_CHANGED,
        tenant=locked.tenant,
        target=locked,
        target_label=str(locked),
        request=request,
        extra=extra,
    )
    if locked.cart_message_id is not None:
        message = Message.objects.select_related("conversation").filter(pk=locked.cart_message_id).first()
        if message is not None:
            publish_message_event("message.updated", message)
    return locked


@transaction.atomic
def order_status_set(*, actor: Actor, order: Order, status: str, request: HttpRequest | None = None) -> Order:
    """An agent moves the order on (processing, shipped, completed) or calls it off before it is paid."""
    require_perm(actor, Perm.REPLY, tenant_id=order.tenant_id)
    if status not in MANUAL_STATUSES:
        raise _invalid("status", _("Choose processing, shipped, completed or canceled."))
    return move_order(actor, order, status, request)


@transaction.atomic
def order_mark_paid(*, actor: Actor, order: Order, note: str = "", request: HttpRequest | None = None) -> Order:
    """An admin records a payment made outside a payment provider (a static Pix, cash): audited with
    their note."""
    require_perm(actor, Perm.MANAGE_PAYMENTS, tenant_id=order.tenant_id)
    note = " ".join(note.split())
    if len(note) > ORDER_DESCRIPTION_MAX:
        raise _invalid("note", _("At most %(max)s characters.") % {"max": ORDER_DESCRIPTION_MAX})
    if Order.objects.filter(pk=order.pk, status=Status.PAID).exists():
        raise _invalid("status", _("This order is already paid."))
    return move_order(actor, order, Status.PAID, request, note=note)
