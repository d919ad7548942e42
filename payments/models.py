"""The catalog: a workspace's products, each the item of its WhatsApp catalog with the same SKU
(``retailer_id``). Money is an integer in the currency's minor units (centavos), never a float."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tenants.models import TenantOwnedModel

# WhatsApp's catalog takes a SKU of up to 100 characters; ours are also safe in URLs and CSV files.
RETAILER_ID_MAX = 100
NAME_MAX = 200
DESCRIPTION_MAX = 5000
CATEGORY_MAX = 100
IMAGE_URL_MAX = 2000
# R$ 99.999.999,99: far above any product, far below what a 64-bit integer holds.
PRICE_MAX = 9_999_999_999
CURRENCIES = ("BRL",)


class Product(TenantOwnedModel):
    class Availability(models.TextChoices):
        IN_STOCK = "in stock", pgettext_lazy("product availability", "In stock")
        OUT_OF_STOCK = "out of stock", pgettext_lazy("product availability", "Out of stock")

    retailer_id = models.CharField(_("SKU"), max_length=RETAILER_ID_MAX)
    name = models.CharField(_("name"), max_length=NAME_MAX)
    description = models.TextField(_("description"), max_length=DESCRIPTION_MAX, blank=True)
    price = models.PositiveBigIntegerField(_("price"), help_text=_("In centavos."))
    currency = models.CharField(_("currency"), max_length=3, default="BRL")
    image_url = models.URLField(_("image address"), max_length=IMAGE_URL_MAX, blank=True)
    availability = models.CharField(
        _("availability"), max_length=20, choices=Availability.choices, default=Availability.IN_STOCK
    )
    # Hidden: kept here (and in past orders) but not shown in the WhatsApp catalog nor offered to agents.
    visible = models.BooleanField(_("visible"), default=True)
    category = models.CharField(_("category"), max_length=CATEGORY_MAX, blank=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "retailer_id"], name="product_unique_retailer_id"),
            models.CheckConstraint(condition=Q(price__lte=PRICE_MAX), name="product_price_in_range"),
            models.CheckConstraint(condition=Q(currency__in=CURRENCIES), name="product_currency_known"),
        ]
        indexes = [models.Index(fields=["tenant", "visible", "name", "id"], name="product_tenant_visible_name")]

    def __str__(self) -> str:
        return f"{self.retailer_id}: {self.name}"


class ProductImport(TenantOwnedModel):
    """A CSV file of products imported in the background: its rows create or change the products with their
    SKUs (so importing the same file again duplicates nothing), with a progress count and each refused row's
    reason for the report."""

    class Status(models.TextChoices):
        QUEUED = "queued", pgettext_lazy("import status", "Queued")
        RUNNING = "running", pgettext_lazy("import status", "Importing")
        DONE = "done", pgettext_lazy("import status", "Done")
        FAILED = "failed", pgettext_lazy("import status", "Failed")

    created_by = models.ForeignKey(
        "tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("by")
    )
    filename = models.CharField(_("file"), max_length=255, blank=True)
    # The file's text (a few MB at most), read again by the job; cleared once the import is done.
    content = models.TextField(blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    total_rows = models.PositiveIntegerField(default=0)
    done_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    # The refused rows, in order: [{"row": 3, "cells": [...]}] (row 1 is the header), and "duplicate" when
    # the database refused the SKU. Why each was refused is said again when shown, in the reader's language.
    errors = models.JSONField(default=list, blank=True)
    # Which column holds which field ({"retailer_id": 0, ...}), read from the header.
    columns = models.JSONField(default=dict, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("product import")
        verbose_name_plural = _("product imports")
        indexes = [models.Index(fields=["tenant", "-created_at"], name="product_import_tenant_recent")]


class OrderCounter(models.Model):
    """Hands out per-workspace order numbers (#1, #2…), the number agents and customers speak of."""

    tenant = models.OneToOneField("tenants.Tenant", on_delete=models.CASCADE, primary_key=True, related_name="+")
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("order counter")
        verbose_name_plural = _("order counters")

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.last_number}"


# A cart line takes 1 to 99 units on WhatsApp; an agent's order up to 999.
QUANTITY_MAX = 999
ORDER_LINES_MAX = 100
ORDER_DESCRIPTION_MAX = 200
ORDER_NOTE_MAX = 1000


class Order(TenantOwnedModel):
    """What a customer buys: from the cart they sent on WhatsApp, or put together by an agent (products
    or a free amount). Its status moves only through the services in ``payments.orders``, each change
    audited. Amounts are integers of the currency's minor units, and ``total`` is always
    ``subtotal + tax + shipping - discount`` (the database checks it)."""

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("order status", "Pending")
        AWAITING_PAYMENT = "awaiting_payment", pgettext_lazy("order status", "Awaiting payment")
        PAID = "paid", pgettext_lazy("order status", "Paid")
        PROCESSING = "processing", pgettext_lazy("order status", "Processing")
        SHIPPED = "shipped", pgettext_lazy("order status", "Shipped")
        COMPLETED = "completed", pgettext_lazy("order status", "Completed")
        CANCELED = "canceled", pgettext_lazy("order status", "Canceled")
        REFUNDED = "refunded", pgettext_lazy("order status", "Refunded")

    class Source(models.TextChoices):
        CART = "cart", pgettext_lazy("order source", "Customer's cart")
        AGENT = "agent", pgettext_lazy("order source", "Agent")
        API = "api", pgettext_lazy("order source", "API")
        AUTOMATION = "automation", pgettext_lazy("order source", "Automation")

    number = models.PositiveIntegerField(_("number"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    # Kept when the customer's data is erased: the order stays, without whom it was for.
    contact = models.ForeignKey(
        "conversations.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversation = models.ForeignKey(
        "conversations.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The customer's cart message the order was made from: one order per cart, however often it arrives.
    cart_message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    currency = models.CharField(_("currency"), max_length=3, default="BRL")
    subtotal = models.PositiveBigIntegerField(_("subtotal"), default=0)
    discount = models.PositiveBigIntegerField(_("discount"), default=0)
    shipping = models.PositiveBigIntegerField(_("shipping"), default=0)
    tax = models.PositiveBigIntegerField(_("tax"), default=0)
    total = models.PositiveBigIntegerField(_("total"), default=0)
    # What the customer wrote with the cart, or what an agent's free amount is for.
    note = models.TextField(_("note"), max_length=ORDER_NOTE_MAX, blank=True)
    description = models.CharField(_("description"), max_length=ORDER_DESCRIPTION_MAX, blank=True)
    # Some line's price is not our catalog's (or its product is not in the catalog): check before charging.
    price_warning = models.BooleanField(_("prices differ from the catalog"), default=False)
    created_by = models.ForeignKey(
        "tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("by")
    )
    status_changed_at = models.DateTimeField(_("status changed"), null=True, blank=True)
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)

    class Meta:
        verbose_name = pgettext_lazy("sale", "order")
        verbose_name_plural = pgettext_lazy("sale", "orders")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="order_unique_number"),
            models.UniqueConstraint(
                fields=["cart_message"], condition=Q(cart_message__isnull=False), name="order_unique_cart_message"
            ),
            models.CheckConstraint(
                condition=Q(total=F("subtotal") + F("tax") + F("shipping") - F("discount")), name="order_total_adds_up"
            ),
            models.CheckConstraint(condition=Q(total__lte=PRICE_MAX * QUANTITY_MAX), name="order_total_in_range"),
            models.CheckConstraint(condition=Q(currency__in=CURRENCIES), name="order_currency_known"),
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at", "-id"], name="order_tenant_recent"),
            models.Index(fields=["tenant", "status", "-created_at"], name="order_tenant_status_recent"),
            models.Index(fields=["tenant", "contact", "-created_at"], name="order_tenant_contact_recent"),
        ]

    def __str__(self) -> str:
        return f"#{self.number}"


class OrderLine(TenantOwnedModel):
    """One line of an order: a product (its SKU and name as they were when ordered) or a free amount."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    retailer_id = models.CharField(_("SKU"), max_length=RETAILER_ID_MAX, blank=True)
    name = models.CharField(_("name"), max_length=NAME_MAX)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.PositiveBigIntegerField(_("unit price"))
    # Our catalog's price when the order was made; None when the SKU is not in the catalog (or no product).
    catalog_price = models.PositiveBigIntegerField(_("catalog price"), null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["order", "position"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1, quantity__lte=QUANTITY_MAX), name="order_line_quantity_in_range"
            ),
            models.CheckConstraint(condition=Q(unit_price__lte=PRICE_MAX), name="order_line_price_in_range"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.name}"

    @property
    def subtotal(self) -> int:
        return self.quantity * self.unit_price

    @property
    def differs(self) -> bool:
        """The customer's price is not our catalog's (or the product is not in it)."""
        return bool(self.retailer_id) and self.catalog_price != self.unit_price
