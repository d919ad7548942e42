"""How the audit log shows the catalog's, orders' and payments' entries: prices and totals as money in the
viewer's language, the availability, statuses and ways of payment in words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy

from payments.models import Order, PaymentAccount, Product
from payments.money import amount_format
from tenants import audit_display
from tenants.models import AuditLogEntry

Action = AuditLogEntry.Action
ACTIONS = (Action.PRODUCT_CREATED, Action.PRODUCT_CHANGED, Action.PRODUCT_DELETED, Action.PRODUCTS_IMPORTED)
LABELS = {
    "retailer_id": gettext_lazy("SKU"),
    "price": gettext_lazy("price"),
    "currency": gettext_lazy("currency"),
    "image_url": gettext_lazy("image address"),
    "availability": gettext_lazy("availability"),
    "visible": gettext_lazy("visible"),
    "category": gettext_lazy("category"),
    "rows": gettext_lazy("rows"),
}
ORDER_ACTIONS = (Action.ORDER_CREATED, Action.ORDER_STATUS_CHANGED)
ORDER_LABELS = {
    "source": gettext_lazy("source"),
    "total": gettext_lazy("total"),
    "currency": gettext_lazy("currency"),
    "status": gettext_lazy("status"),
    "note": gettext_lazy("note"),
}
PAYMENT_ACTIONS = (Action.PAYMENT_REQUESTED, Action.PAYMENT_RECEIVED, Action.PAYMENT_REFUNDED)
PAYMENT_LABELS = {
    "kind": gettext_lazy("way of payment"),
    "total": gettext_lazy("total"),
    "reference": gettext_lazy("reference"),
    "reason": gettext_lazy("reason"),
}


def _prices(_tenant_id: int, values: set[Any]) -> Mapping[Any, str]:
    return {value: amount_format(value) for value in values if isinstance(value, int) and not isinstance(value, bool)}


def register_audit_display() -> None:
    audit_display.register_kind("product_price", _prices)
    audit_display.register_kind("product_availability", audit_display.choices_kind(Product.Availability.choices))
    for action in ACTIONS:
        audit_display.register_keys({"price": "product_price", "availability": "product_availability"}, action=action)
        audit_display.register_labels(LABELS, action=action)
    audit_display.register_kind("order_status", audit_display.choices_kind(Order.Status.choices))
    audit_display.register_kind("order_source", audit_display.choices_kind(Order.Source.choices))
    keys = {"total": "product_price", "status": "order_status", "source": "order_source"}
    for action in ORDER_ACTIONS:
        audit_display.register_keys(keys, action=action)
        audit_display.register_labels(ORDER_LABELS, action=action)
    # Amounts are stored in centavos and kinds as keys: "total 7290", "kind bcb_pix" told people nothing.
    audit_display.register_kind("payment_kind", audit_display.choices_kind(PaymentAccount.Kind.choices))
    for action in (*PAYMENT_ACTIONS, Action.PAYMENT_ACCOUNT_SAVED):
        audit_display.register_keys({"total": "product_price", "kind": "payment_kind"}, action=action)
        audit_display.register_labels(PAYMENT_LABELS, action=action)
