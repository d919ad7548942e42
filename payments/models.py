"""The catalog: a workspace's products, each the item of its WhatsApp catalog with the same SKU
(``retailer_id``). Money is an integer in the currency's minor units (centavos), never a float."""

from __future__ import annotations

import json
import secrets

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from helpdesk import crypto
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
    # The last sync to the channels' catalogs (payments.catalog_sync) that sent this product: when, and why the
    # channel refused it (its own words), empty when it took it.
    synced_at = models.DateTimeField(_("synced"), null=True, blank=True)
    sync_error = models.TextField(_("sync error"), blank=True)

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


class CatalogSync(TenantOwnedModel):
    """One sync of the workspace's products to the catalogs of its channels (WhatsApp's): asked for by a change
    of the catalog (debounced) or from the catalog's page, with what each catalog came to."""

    class Status(models.TextChoices):
        QUEUED = "queued", pgettext_lazy("catalog sync status", "Queued")
        RUNNING = "running", pgettext_lazy("catalog sync status", "Syncing")
        PROCESSING = "processing", pgettext_lazy("catalog sync status", "WhatsApp is applying it")
        DONE = "done", pgettext_lazy("catalog sync status", "Synced")
        FAILED = "failed", pgettext_lazy("catalog sync status", "Failed")
        SKIPPED = "skipped", pgettext_lazy("catalog sync status", "Nothing to sync to")

    class Trigger(models.TextChoices):
        CHANGE = "change", pgettext_lazy("catalog sync trigger", "A product changed")
        MANUAL = "manual", pgettext_lazy("catalog sync trigger", "Asked from the catalog page")

    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(_("trigger"), max_length=12, choices=Trigger.choices, default=Trigger.CHANGE)
    requested_by = models.ForeignKey(
        "tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("by")
    )
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    item_count = models.PositiveIntegerField(default=0)
    deleted_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    # One entry per catalog: {"inboxes": [names], "channel_type", "catalog_id", "status", "reason", "detail",
    # "handles", "errors"}; the reasons are said again when shown, in the reader's language.
    outcomes = models.JSONField(default=list, blank=True)
    check_attempts = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("catalog sync")
        verbose_name_plural = _("catalog syncs")
        indexes = [models.Index(fields=["tenant", "-created_at"], name="catalog_sync_tenant_recent")]


class CatalogSyncedItem(TenantOwnedModel):
    """A SKU a sync put in a channel's catalog (``catalog``: "<channel type>:<catalog id>"): what a later sync
    deletes there when the workspace no longer has it (deleted, or its SKU changed), and nothing else."""

    catalog = models.CharField(max_length=80)
    retailer_id = models.CharField(max_length=RETAILER_ID_MAX)

    class Meta:
        verbose_name = _("synced catalog item")
        verbose_name_plural = _("synced catalog items")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "catalog", "retailer_id"], name="catalog_synced_item_unique")
        ]


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


def new_webhook_key() -> str:
    return secrets.token_urlsafe(24)


PIX_KEY_TYPES = ("CPF", "CNPJ", "EMAIL", "PHONE", "EVP")


class PaymentAccount(TenantOwnedModel):
    """How a workspace gets paid: its own Pix key (static codes an admin confirms by hand), or an account
    at a payment provider (API Pix of its bank, Mercado Pago, Stripe). Credentials are encrypted at rest and
    never shown or logged; the providers' addresses are the deployment's (``PAYMENTS_PROVIDERS``), never
    typed by a workspace."""

    class Kind(models.TextChoices):
        STATIC_PIX = "static_pix", pgettext_lazy("payment account", "Pix key (confirmed by hand)")
        BCB_PIX = "bcb_pix", pgettext_lazy("payment account", "Pix through the bank's API")
        MERCADOPAGO = "mercadopago", pgettext_lazy("payment account", "Mercado Pago card link")
        STRIPE = "stripe", pgettext_lazy("payment account", "Stripe card link")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    # Which of the deployment's providers (``PAYMENTS_PROVIDERS``) the account is at, for API Pix.
    provider = models.CharField(_("provider"), max_length=40, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    pix_key = models.CharField(_("Pix key"), max_length=77, blank=True)
    pix_key_type = models.CharField(_("Pix key type"), max_length=5, blank=True)
    merchant_name = models.CharField(_("name shown to the payer"), max_length=25, blank=True)
    merchant_city = models.CharField(_("city"), max_length=15, blank=True)
    client_id = models.CharField(_("client ID"), max_length=200, blank=True)
    # {"client_secret", "access_token", "webhook_secret", "secret_key", "cert_pem", "key_pem"}: JSON, encrypted.
    secrets_encrypted = models.TextField(blank=True)
    webhook_key = models.CharField(max_length=64, unique=True, default=new_webhook_key)
    # API Pix: when the address registered at the bank was last checked, and what went wrong ("" when it is ours).
    webhook_checked_at = models.DateTimeField(null=True, blank=True)
    webhook_problem = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("payment account")
        verbose_name_plural = _("payment accounts")
        constraints = [models.UniqueConstraint(fields=["tenant", "kind"], name="payment_account_one_per_kind")]

    def __str__(self) -> str:
        return self.get_kind_display()

    # Secrets are only ever decrypted when used; they are never shown or logged.
    @property
    def secrets(self) -> dict[str, str]:
        return json.loads(crypto.decrypt(self.secrets_encrypted)) if self.secrets_encrypted else {}

    @secrets.setter
    def secrets(self, values: dict[str, str]) -> None:
        self.secrets_encrypted = crypto.encrypt(json.dumps(values)) if values else ""


class PaymentRequest(TenantOwnedModel):
    """One way offered to pay an order: a charge at the provider (a Pix code, a card link) or a static Pix
    code, sent to the customer as a WhatsApp payment message. An order may have several over time (a new
    one after the last expired); at most one is open at once."""

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("payment request status", "Waiting for payment")
        PAID = "paid", pgettext_lazy("payment request status", "Paid")
        EXPIRED = "expired", pgettext_lazy("payment request status", "Expired")
        CANCELED = "canceled", pgettext_lazy("payment request status", "Canceled")

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="payment_requests")
    account = models.ForeignKey(PaymentAccount, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    # Ours, per attempt: the Pix txid and the providers' idempotency key (26-35 letters and digits).
    charge_id = models.CharField(max_length=35)
    # WhatsApp's reference_id of the payment message: the order's number and the attempt ("12-2").
    reference = models.CharField(_("reference"), max_length=60)
    # The provider's id of the charge (Pix txid, Mercado Pago preference, Stripe session); "" for static Pix.
    psp_reference = models.CharField(max_length=200, blank=True)
    amount = models.PositiveBigIntegerField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, default="BRL")
    pix_code = models.CharField(_("Pix copy and paste code"), max_length=512, blank=True)
    payment_url = models.URLField(_("payment link"), max_length=2000, blank=True)
    expires_at = models.DateTimeField(_("expires"))
    message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        "tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("by")
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    # When the sweeper last read the charge back: it reads the open ones in turn, the longest unread first.
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("payment request")
        verbose_name_plural = _("payment requests")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "charge_id"], name="payment_request_unique_charge"),
            models.UniqueConstraint(fields=["tenant", "reference"], name="payment_request_unique_reference"),
            models.UniqueConstraint(
                fields=["order"], condition=Q(status="open"), name="payment_request_one_open_per_order"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="payment_request_open_due"),
            models.Index(fields=["status", "checked_at"], name="payment_request_open_checked"),
            models.Index(fields=["account", "psp_reference"], name="payment_request_psp_ref"),
        ]

    def __str__(self) -> str:
        return self.reference


class Payment(TenantOwnedModel):
    """Money the provider says it received for a request: unique on (account, the provider's payment id), so
    a webhook delivered twice, late or out of order records it once."""

    request = models.ForeignKey(PaymentRequest, on_delete=models.PROTECT, related_name="payments")
    account = models.ForeignKey(PaymentAccount, on_delete=models.PROTECT, related_name="+")
    # Pix endToEndId, Mercado Pago payment id, Stripe payment intent; "manual-<request id>" for "mark as paid".
    psp_payment_id = models.CharField(max_length=200)
    amount = models.PositiveBigIntegerField(_("amount"))
    paid_at = models.DateTimeField(_("paid"))
    refunded_amount = models.PositiveBigIntegerField(_("refunded"), default=0)
    # Paid but not fulfilled: a wrong amount, or a payment after the request closed: to refund.
    flagged = models.CharField(_("problem"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [
            models.UniqueConstraint(fields=["account", "psp_payment_id"], name="payment_unique_psp_payment"),
            models.CheckConstraint(condition=Q(refunded_amount__lte=F("amount")), name="payment_refund_not_over"),
        ]

    def __str__(self) -> str:
        return self.psp_payment_id


class Refund(TenantOwnedModel):
    """Money given back from a payment, all or part of it: at the provider (Pix devolução, a card refund)
    with our ``refund_id`` as its idempotency key, or by hand for a payment recorded by hand. While it is
    processing its amount is already counted in the payment's ``refunded_amount``, so two refunds at once
    can never give back more than was paid."""

    class Status(models.TextChoices):
        PROCESSING = "processing", pgettext_lazy("refund status", "Processing")
        DONE = "done", pgettext_lazy("refund status", "Refunded")
        FAILED = "failed", pgettext_lazy("refund status", "Failed")

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    refund_id = models.CharField(max_length=35)
    psp_refund_id = models.CharField(max_length=200, blank=True)
    amount = models.PositiveBigIntegerField(_("amount"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PROCESSING)
    reason = models.CharField(_("reason"), max_length=140, blank=True)
    # What the provider said when it refused (kept for the admin); "" otherwise.
    failure = models.CharField(_("problem"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        "tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("by")
    )
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "refund_id"], name="refund_unique_id"),
            models.CheckConstraint(condition=Q(amount__gte=1), name="refund_amount_positive"),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="refund_status_recent")]

    def __str__(self) -> str:
        return self.refund_id


class UnreadNotification(TenantOwnedModel):
    """A provider's signed webhook (Mercado Pago, Stripe) whose signature was right but whose body we could not
    read: kept as it came and shown to admins on the payments settings page, never dropped."""

    BODY_MAX = 64 * 1024

    account = models.ForeignKey(PaymentAccount, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(_("why"), max_length=300)
    body = models.TextField(_("body"))
    content_type = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("unread payment notification")
        verbose_name_plural = _("unread payment notifications")
        indexes = [models.Index(fields=["tenant", "-created_at"], name="unread_notification_recent")]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.reason}"
