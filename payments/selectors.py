"""Reading the catalog and the orders: one product of a workspace, its products found by words and
visibility; the orders a member may see (all of them with "Manage payments and catalog", otherwise those
of the conversations they see), found by status, customer and day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from conversations.selectors import conversation_list
from payments.models import Order, Product
from tenants.models import ApiToken, Membership
from tenants.permissions import Perm

SEARCH_MAX = 100


def product_get(*, tenant_id: int, product_id: int) -> Product:
    """The workspace's product with this id; any other id (another workspace's product) is a 404."""
    product = Product.objects.filter(tenant_id=tenant_id, pk=product_id).select_related("tenant").first()
    if product is None:
        raise Http404("No such product.")
    return product


def products_found(*, tenant_id: int, query: str = "", visible: bool | None = None) -> QuerySet[Product]:
    """The workspace's products whose name or SKU holds ``query`` (any case), visible or hidden or both
    (``None``). The caller checks the query (no NUL character, at most ``SEARCH_MAX`` characters)."""
    products = Product.objects.filter(tenant_id=tenant_id)
    if query:
        products = products.filter(Q(name__icontains=query) | Q(retailer_id__icontains=query))
    if visible is not None:
        products = products.filter(visible=visible)
    return products


def orders_visible(*, membership: Membership | ApiToken) -> QuerySet[Order]:
    """The orders ``membership`` may see: every one of the workspace with "Manage payments and catalog",
    otherwise those of the conversations it sees."""
    orders = Order.objects.filter(tenant_id=membership.tenant_id)
    if not membership.active:
        return orders.none()
    if not membership.has_perm(Perm.MANAGE_PAYMENTS):
        orders = orders.filter(conversation_id__in=conversation_list(membership=membership).values("pk"))
    return orders


def order_get(*, membership: Membership | ApiToken, number: int) -> Order:
    """The order with this number, if ``membership`` may see it; otherwise (or another workspace's) a 404."""
    order = (
        orders_visible(membership=membership)
        .filter(number=number)
        .select_related("tenant", "contact", "conversation", "created_by")
        .first()
    )
    if order is None:
        raise Http404("No such order.")
    return order


@dataclass(frozen=True)
class OrderFilter:
    status: str = ""
    query: str = ""  # an order number ("12" or "#12"), or words of the customer's name or phone
    since: date | None = None  # days in the workspace's time zone, both included
    until: date | None = None


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def orders_found(*, membership: Membership | ApiToken, found: OrderFilter) -> QuerySet[Order]:
    """The visible orders that match, newest first. The caller checks the query (no NUL character, at
    most ``SEARCH_MAX`` characters) and activates the workspace's time zone."""
    orders = orders_visible(membership=membership)
    if found.status:
        orders = orders.filter(status=found.status)
    query = found.query.strip()
    if query:
        number = query.removeprefix("#")
        if number.isdigit() and len(number) <= 9:
            orders = orders.filter(number=int(number))
        else:
            orders = orders.filter(
                Q(contact__name__icontains=query)
                | Q(contact__profile_name__icontains=query)
                | Q(contact__phone_e164__icontains=query)
            )
    if found.since is not None:
        orders = orders.filter(created_at__gte=_day_start(found.since))
    if found.until is not None:
        orders = orders.filter(created_at__lt=_day_start(found.until + timedelta(days=1)))
    return orders.select_related("contact").order_by("-created_at", "-id")


def orders_totals(orders: QuerySet[Order]) -> dict[str, int]:
    """How many orders, and the sum of their totals (centavos)."""
    totals = orders.order_by().aggregate(count=Count("id"), amount=Sum("total"))
    return {"count": totals["count"] or 0, "amount": totals["amount"] or 0}
