"""The reconciliation of a range of days (in the workspace's time zone): what the providers say was paid
(the payments recorded from them) beside the orders marked paid, and where the two part:

- ``unmatched_payment``: money received that paid no order (a wrong amount, paid after its request closed, or
  an order that could no longer take it): to give back;
- ``paid_by_hand``: an order paid with no payment from a provider (a static Pix or "mark as paid"): who did it
  and their note, to check against the bank statement;
- ``amount_mismatch``: an order whose payments add up to other than its total;
- ``refund_open``: a refund still processing at the provider, or refused by it;
- ``unconfirmed``: a payment request still open after its expiry: the provider has not been asked again, and
  a payment may be waiting there (nothing we keep says whether the charge was paid until it is read back).

Every list and total is a fixed number of queries, however many rows there are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from conversations.actors import actor_audit_label_display
from helpdesk.exceptions import ValidationFailed
from helpdesk.money import format_money
from payments.models import CURRENCIES, Order, Payment, PaymentAccount, PaymentRequest, Refund
from payments.selectors import day_bounds, payments_annotated, workspace_zone
from tenants.models import AuditLogEntry, Tenant

# A quarter and a day: the longest range asked at once (a row per day in the totals).
RANGE_MAX_DAYS = 92
# Of each kind of difference, the oldest first; how many there are in all is counted apart.
ROWS_MAX = 500
MANUAL_PREFIX = "manual-"

KINDS = {
    "unmatched_payment": gettext_lazy("Payments that paid no order"),
    "paid_by_hand": gettext_lazy("Orders marked paid without a provider's payment"),
    "amount_mismatch": gettext_lazy("Orders paid a different amount than their total"),
    "refund_open": gettext_lazy("Refunds still processing or refused"),
    "unconfirmed": gettext_lazy("Payment requests still open after their expiry"),
}
PROBLEM_TEXTS = {
    "late": gettext_lazy("Paid after the payment request was closed."),
    "order_closed": gettext_lazy("The order could no longer take a payment."),
    "processing": gettext_lazy("Still processing at the provider."),
    "failed": gettext_lazy("Refused by the provider: nothing was given back."),
    "unconfirmed": gettext_lazy("Not read back from the provider since it expired; a payment may be waiting there."),
}


@dataclass(frozen=True)
class Difference:
    """One row of the reconciliation; amounts in the currency's minor units."""

    kind: str  # a key of KINDS
    order_number: int
    at: datetime  # paid (payments, orders), asked (refunds) or opened (requests)
    amount: int  # the money in question: received, refunded, or asked
    currency: str
    account_kind: str = ""  # a PaymentAccount.Kind; "" for an order marked paid with no request
    expected: int | None = None  # what was asked (a payment) or the order's total
    refunded: int = 0  # given back already (or being given back) of a payment
    reference: str = ""  # the payment request's reference ("12-1")
    psp_payment_id: str = ""
    problem: str = ""  # wrong_amount, late, order_closed; processing, failed; unconfirmed
    customer: str = ""
    who: str = ""  # who marked the order paid
    note: str = ""  # what they wrote, or why the provider refused a refund

    @property
    def explanation(self) -> str:
        """What is wrong, in the active language."""
        if self.problem == "wrong_amount":
            return _("Paid %(paid)s where %(asked)s was asked.") % {
                "paid": format_money(self.amount, self.currency),
                "asked": format_money(self.expected or 0, self.currency),
            }
        if self.kind == "amount_mismatch":
            return _("Paid %(paid)s for a total of %(total)s.") % {
                "paid": format_money(self.amount, self.currency),
                "total": format_money(self.expected or 0, self.currency),
            }
        if self.kind == "paid_by_hand":
            return _("Marked paid by %(who)s.") % {"who": self.who} if self.who else _("Marked paid by hand.")
        text = PROBLEM_TEXTS.get(self.problem)
        return str(text) if text is not None else ""

    @property
    def account_label(self) -> str:
        return str(PaymentAccount.Kind(self.account_kind).label) if self.account_kind else ""


@dataclass
class Totals:
    """Payments (all of them, flagged or not) and the orders paid, of one day, one kind of account, or all."""

    payments: int = 0
    received: int = 0
    refunded: int = 0
    unmatched: int = 0  # received that paid no order
    by_hand: int = 0  # recorded by hand, not by a provider
    orders_paid: int = 0
    orders_amount: int = 0

    @property
    def net(self) -> int:
        return self.received - self.refunded

    def add(self, other: Totals) -> None:
        for name in ("payments", "received", "refunded", "unmatched", "by_hand", "orders_paid", "orders_amount"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {
            "payments": self.payments,
            "received": self.received,
            "refunded": self.refunded,
            "net": self.net,
            "unmatched": self.unmatched,
            "by_hand": self.by_hand,
            "orders_paid": self.orders_paid,
            "orders_amount": self.orders_amount,
        }


@dataclass
class Reconciliation:
    since: date
    until: date
    currency: str
    differences: dict[str, list[Difference]]
    counts: dict[str, int]  # of each kind, all of them (the lists hold ROWS_MAX at most)
    by_kind: dict[str, Totals]  # PaymentAccount.Kind → its payments
    by_day: dict[date, Totals]  # every day of the range, oldest first
    totals: Totals = field(default_factory=Totals)

    @property
    def rows(self) -> list[Difference]:
        return [row for kind in KINDS for row in self.differences[kind]]

    @property
    def truncated(self) -> bool:
        return any(self.counts[kind] > len(self.differences[kind]) for kind in KINDS)


def reconciliation_range(*, since: date | None, until: date | None, tenant: Tenant) -> tuple[date, date]:
    """The days asked for: ``until`` defaults to today (in the workspace's time zone), ``since`` to the week
    before it; a range backwards or longer than ``RANGE_MAX_DAYS`` is refused."""
    if until is None:
        until = timezone.localtime(timezone.now(), workspace_zone(tenant)).date()
    if since is None:
        since = until - timedelta(days=6)
    if since > until:
        raise ValidationFailed(_("The first day comes after the last."), details={"since": [_("After the last day.")]})
    if (until - since).days + 1 > RANGE_MAX_DAYS:
        message = _("Choose at most %(days)s days at once.") % {"days": RANGE_MAX_DAYS}
        raise ValidationFailed(message, details={"since": [message]})
    return since, until


def _between(field_name: str, since: date, until: date, tenant: Tenant) -> Q:
    return day_bounds(since, until, workspace_zone(tenant), field=field_name)


def _customer(order: Order) -> str:
    return order.contact.display_name if order.contact is not None else ""


def _unmatched(tenant: Tenant, in_range: Q) -> tuple[list[Difference], int]:
    found = Payment.objects.filter(in_range, tenant_id=tenant.pk).exclude(flagged="")
    rows = [
        Difference(
            kind="unmatched_payment",
            order_number=payment.request.order.number,
            at=payment.paid_at,
            amount=payment.amount,
            currency=payment.request.currency,
            account_kind=payment.account.kind,
            expected=payment.request.amount,
            refunded=payment.refunded_amount,
            reference=payment.request.reference,
            psp_payment_id=payment.psp_payment_id,
            problem=payment.problem,  # type: ignore[attr-defined]  # annotated
            customer=_customer(payment.request.order),
        )
        for payment in payments_annotated(found)
        .select_related("request__order__contact", "account")
        .order_by("paid_at", "id")[:ROWS_MAX]
    ]
    return rows, found.count()


def _orders_paid(tenant: Tenant, in_range: Q) -> QuerySet[Order]:
    """The orders paid in the range, with what their payments (those that paid them) add up to, whether a
    provider recorded one, and the kind of account of their first payment."""
    paying = Payment.objects.filter(request__order=OuterRef("pk"), flagged="")
    total_paid = paying.order_by().values("request__order").annotate(sum=Sum("amount")).values("sum")
    return Order.objects.filter(in_range, tenant_id=tenant.pk).annotate(
        paid_amount=Coalesce(Subquery(total_paid, output_field=IntegerField()), Value(0)),
        has_payment=Exists(paying),
        from_provider=Exists(paying.exclude(psp_payment_id__startswith=MANUAL_PREFIX)),
        first_kind=Subquery(paying.order_by("id").values("account__kind")[:1]),
    )


def _marked_paid_by(tenant: Tenant, orders: list[Order]) -> dict[str, tuple[str, str]]:
    """Who moved each order to paid, and their note (the last such audit entry of each order)."""
    entries = (
        AuditLogEntry.objects.filter(
            tenant_id=tenant.pk,
            action=AuditLogEntry.Action.ORDER_STATUS_CHANGED,
            target_type=Order._meta.label_lower,
            target_id__in=[str(order.pk) for order in orders],
            extra__status__to=Order.Status.PAID,
        )
        .select_related("actor")
        .order_by("id")
    )
    found = {}
    for entry in entries:
        who = entry.actor.display_name if entry.actor is not None else ""
        who = who or actor_audit_label_display(entry.actor_label) or entry.actor_label
        note = entry.extra.get("note", "") if isinstance(entry.extra, dict) else ""
        found[entry.target_id] = (who, note if isinstance(note, str) else "")
    return found


def _by_hand(tenant: Tenant, orders: QuerySet[Order]) -> tuple[list[Difference], int]:
    found = orders.filter(Q(from_provider=False))  # annotated by _orders_paid
    listed = list(found.select_related("contact").order_by("paid_at", "id")[:ROWS_MAX])
    marked = _marked_paid_by(tenant, listed)
    rows = []
    for order in listed:
        who, note = marked.get(str(order.pk), ("", ""))
        rows.append(
            Difference(
                kind="paid_by_hand",
                order_number=order.number,
                at=order.paid_at,  # type: ignore[arg-type]  # filtered on it
                amount=order.total,
                currency=order.currency,
                account_kind=order.first_kind or "",  # type: ignore[attr-defined]  # annotated
                customer=_customer(order),
                who=who,
                note=note,
            )
        )
    return rows, found.count()


def _mismatched(orders: QuerySet[Order]) -> tuple[list[Difference], int]:
    found = orders.filter(Q(has_payment=True)).exclude(Q(paid_amount=F("total")))  # annotated by _orders_paid
    rows = [
        Difference(
            kind="amount_mismatch",
            order_number=order.number,
            at=order.paid_at,  # type: ignore[arg-type]
            amount=order.paid_amount,  # type: ignore[attr-defined]
            currency=order.currency,
            account_kind=order.first_kind or "",  # type: ignore[attr-defined]
            expected=order.total,
            customer=_customer(order),
        )
        for order in found.select_related("contact").order_by("paid_at", "id")[:ROWS_MAX]
    ]
    return rows, found.count()


def _refunds(tenant: Tenant, since: date, until: date) -> tuple[list[Difference], int]:
    found = Refund.objects.filter(
        _between("created_at", since, until, tenant),
        tenant_id=tenant.pk,
        status__in=[Refund.Status.PROCESSING, Refund.Status.FAILED],
    )
    rows = [
        Difference(
            kind="refund_open",
            order_number=refund.payment.request.order.number,
            at=refund.created_at,
            amount=refund.amount,
            currency=refund.payment.request.currency,
            account_kind=refund.payment.account.kind,
            expected=refund.payment.amount,
            reference=refund.payment.request.reference,
            psp_payment_id=refund.payment.psp_payment_id,
            problem=refund.status,
            customer=_customer(refund.payment.request.order),
            note=refund.failure,
        )
        for refund in found.select_related("payment__request__order__contact", "payment__account").order_by(
            "created_at", "id"
        )[:ROWS_MAX]
    ]
    return rows, found.count()


def _unconfirmed(tenant: Tenant, since: date, until: date, now: datetime) -> tuple[list[Difference], int]:
    found = PaymentRequest.objects.filter(
        _between("created_at", since, until, tenant),
        tenant_id=tenant.pk,
        status=PaymentRequest.Status.OPEN,
        expires_at__lt=now,
    )
    rows = [
        Difference(
            kind="unconfirmed",
            order_number=request.order.number,
            at=request.created_at,
            amount=request.amount,
            currency=request.currency,
            account_kind=request.account.kind,
            expected=request.order.total,
            reference=request.reference,
            problem="unconfirmed",
            customer=_customer(request.order),
        )
        for request in found.select_related("order__contact", "account").order_by("created_at", "id")[:ROWS_MAX]
    ]
    return rows, found.count()


def _payment_sums() -> dict[str, Any]:
    return {
        "payments": Count("id"),
        "received": Sum("amount"),
        "refunded": Sum("refunded_amount"),
        "unmatched": Sum(Case(When(~Q(flagged=""), then=F("amount")), default=0)),
        "by_hand": Sum(Case(When(psp_payment_id__startswith=MANUAL_PREFIX, then=F("amount")), default=0)),
    }


def _totals(row: Mapping[str, Any]) -> Totals:
    return Totals(**{name: row.get(name) or 0 for name in Totals.__dataclass_fields__ if name in row})


def reconciliation(*, tenant: Tenant, since: date, until: date, now: datetime | None = None) -> Reconciliation:
    """The differences and totals of the days ``since`` to ``until`` (checked by ``reconciliation_range``)."""
    now = now or timezone.now()
    zone = workspace_zone(tenant)
    paid_in_range = _between("paid_at", since, until, tenant)
    payments = Payment.objects.filter(paid_in_range, tenant_id=tenant.pk).order_by()
    orders = _orders_paid(tenant, paid_in_range)

    differences, counts = {}, {}
    for kind, (rows, count) in (
        ("unmatched_payment", _unmatched(tenant, paid_in_range)),
        ("paid_by_hand", _by_hand(tenant, orders)),
        ("amount_mismatch", _mismatched(orders)),
        ("refund_open", _refunds(tenant, since, until)),
        ("unconfirmed", _unconfirmed(tenant, since, until, now)),
    ):
        differences[kind], counts[kind] = rows, count

    by_kind = {
        row["account__kind"]: _totals(row)
        for row in payments.values("account__kind").annotate(**_payment_sums()).order_by("account__kind")
    }
    days = [since + timedelta(days=n) for n in range((until - since).days + 1)]
    by_day = {day: Totals() for day in days}
    for row in payments.annotate(day=TruncDate("paid_at", tzinfo=zone)).values("day").annotate(**_payment_sums()):
        if row["day"] in by_day:
            by_day[row["day"]].add(_totals(row))
    paid_orders = Order.objects.filter(paid_in_range, tenant_id=tenant.pk).order_by()
    for row in (
        paid_orders.annotate(day=TruncDate("paid_at", tzinfo=zone))
        .values("day")
        .annotate(orders_paid=Count("id"), orders_amount=Sum("total"))
    ):
        if row["day"] in by_day:
            by_day[row["day"]].add(_totals(row))
    totals = Totals()
    for day_totals in by_day.values():
        totals.add(day_totals)
    return Reconciliation(
        since=since,
        until=until,
        currency=CURRENCIES[0],
        differences=differences,
        counts=counts,
        by_kind={kind: by_kind[kind] for kind in PaymentAccount.Kind.values if kind in by_kind},
        by_day=by_day,
        totals=totals,
    )
