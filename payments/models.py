"""The catalog: a workspace's products, each the item of its WhatsApp catalog with the same SKU
(``retailer_id``). Money is an integer in the currency's minor units (centavos), never a float."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
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
