"""Reading the catalog and the orders: one product of a workspace, its products found by words and
visibility; the orders a member may see (all of them with "Manage payments and catalog", otherwise those
of the conversations they see), found by status, customer and day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from django.db.models import Case, CharField, Count, Exists, F, OuterRef, Q, QuerySet, Sum, Value, When
from django.http import Http404
from django.utils import timezone
from django.utils.translation import pgettext_lazy

from conversations.selectors import conversation_list
from payments.models import Order, Payment, PaymentRequest, Product
from tenants.models import ApiToken, Membership, Tenant
from tenants.permissions import Perm
from tenants.timezones import zone_or_none

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


# --- payments received ----------------------------------------------------------------------------------

# A payment's refund state (the ``refund_state`` annotation of ``payments_found``).
PAYMENT_STATUSES = {
    "received": pgettext_lazy("payment status", "Received"),
    "partly_refunded": pgettext_lazy("payment status", "Partly refunded"),
    "refunded": pgettext_lazy("payment status", "Refunded"),
}
# Why a flagged payment paid nothing (the ``problem`` annotation), worked out from the data so that it is
# said in the reader's language (``Payment.flagged`` keeps the words of whoever recorded it).
PROBLEMS = ("wrong_amount", "late", "order_closed")


def workspace_zone(tenant: Tenant) -> tzinfo:
    """The workspace's time zone (UTC when its stored name is no longer known): days of payments are its days."""
    return zone_or_none(tenant.timezone) or UTC


def day_bounds(since: date | None, until: date | None, zone: tzinfo, *, field: str = "paid_at") -> Q:
    """``field`` within the days ``since`` to ``until`` (both included) of ``zone``; open ends allowed."""
    bounds = Q()
    if since is not None:
        bounds &= Q(**{f"{field}__gte": timezone.make_aware(datetime.combine(since, time.min), zone)})
    if until is not None:
        end = timezone.make_aware(datetime.combine(until + timedelta(days=1), time.min), zone)
        bounds &= Q(**{f"{field}__lt": end})
    return bounds


def payments_annotated(payments: QuerySet[Payment]) -> QuerySet[Payment]:
    """``refund_state`` (a key of ``PAYMENT_STATUSES``) and ``problem`` (one of ``PROBLEMS``, "" when the payment
    paid its order) of each payment, worked out in the query."""
    earlier = Payment.objects.filter(request_id=OuterRef("request_id"), pk__lt=OuterRef("pk"))
    return payments.annotate(
        refund_state=Case(
            When(refunded_amount=0, then=Value("received")),
            When(refunded_amount__lt=F("amount"), then=Value("partly_refunded")),
            default=Value("refunded"),
            output_field=CharField(),
        ),
        problem=Case(
            When(flagged="", then=Value("")),
            When(~Q(amount=F("request__amount")), then=Value("wrong_amount")),
            # The request was closed (expired, canceled) or already paid by an earlier payment.
            When(~Q(request__status=PaymentRequest.Status.PAID), then=Value("late")),
            When(Exists(earlier), then=Value("late")),
            default=Value("order_closed"),
            output_field=CharField(),
        ),
    )


@dataclass(frozen=True)
class PaymentFilter:
    kind: str = ""  # a PaymentAccount.Kind
    status: str = ""  # a key of PAYMENT_STATUSES
    flagged: bool | None = None  # True: only payments that paid no order; False: only those that did
    query: str = ""  # an order number ("12", "#12"), the provider's payment id, the customer's name or phone
    since: date | None = None  # days in the workspace's time zone, both included
    until: date | None = None


def payments_found(*, tenant: Tenant, found: PaymentFilter) -> QuerySet[Payment]:
    """The workspace's payments that match, newest first, with their request, order, contact and account.
    The caller checks the query (no NUL character, at most ``SEARCH_MAX`` characters)."""
    payments = Payment.objects.filter(tenant_id=tenant.pk)
    if found.kind:
        payments = payments.filter(account__kind=found.kind)
    if found.status == "received":
        payments = payments.filter(refunded_amount=0)
    elif found.status == "partly_refunded":
        payments = payments.filter(refunded_amount__gt=0, refunded_amount__lt=F("amount"))
    elif found.status == "refunded":
        payments = payments.filter(refunded_amount__gt=0, refunded_amount=F("amount"))
    if found.flagged is not None:
        payments = payments.exclude(flagged="") if found.flagged else payments.filter(flagged="")
    query = found.query.strip()
    number = query.removeprefix("#")
    if number.isdigit() and len(number) <= 9:
        # A number is an order's ("#12", "12"), or a whole provider's id (Mercado Pago's are digits): a Pix id
        # holds the date's digits, so a part of one would match nearly every payment.
        by_id = Q() if query.startswith("#") else Q(psp_payment_id=query)
        payments = payments.filter(Q(request__order__number=int(number)) | by_id)
    elif query:
        payments = payments.filter(
            Q(psp_payment_id__icontains=query)
            | Q(request__order__contact__name__icontains=query)
            | Q(request__order__contact__profile_name__icontains=query)
            | Q(request__order__contact__phone_e164__icontains=query)
        )
    payments = payments.filter(day_bounds(found.since, found.until, workspace_zone(tenant)))
    return payments_annotated(payments).select_related("request__order__contact", "account").order_by("-paid_at", "-id")


def payments_totals(payments: QuerySet[Payment]) -> dict[str, int]:
    """How many payments, what they brought (``received``), what was or is being given back (``refunded``),
    and the difference (``net``), in centavos."""
    totals = payments.order_by().aggregate(count=Count("id"), received=Sum("amount"), refunded=Sum("refunded_amount"))
    received, refunded = totals["received"] or 0, totals["refunded"] or 0
    return {"count": totals["count"] or 0, "received": received, "refunded": refunded, "net": received - refunded}


@dataclass(frozen=True)
class PaymentRequestFilter:
    status: str = ""  # a PaymentRequest.Status
    query: str = ""  # an order number ("12", "#12") or a reference ("12-1")
    since: date | None = None  # days it was made, in the workspace's time zone, both included
    until: date | None = None


def payment_requests_found(*, tenant: Tenant, found: PaymentRequestFilter) -> QuerySet[PaymentRequest]:
    """The workspace's payment requests that match, newest first, with their order, customer and account."""
    requests = PaymentRequest.objects.filter(tenant_id=tenant.pk)
    if found.status:
        requests = requests.filter(status=found.status)
    query = found.query.strip()
    number = query.removeprefix("#")
    if number.isdigit() and len(number) <= 9:
        requests = requests.filter(order__number=int(number))
    elif query:
        requests = requests.filter(reference=query)
    requests = requests.filter(day_bounds(found.since, found.until, workspace_zone(tenant), field="created_at"))
    return requests.select_related("order__contact", "account").order_by("-created_at", "-id")
