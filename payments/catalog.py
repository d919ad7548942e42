"""The catalog's services: create, change and delete products. Needs "Manage payments and catalog"; every
change is checked before anything is written and audited with what changed. Prices are integers of
centavos; a SKU (WhatsApp's ``retailer_id``) is unique in the workspace."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from conversations.actors import Actor, actor_audit_record
from helpdesk.exceptions import ValidationFailed
from payments.catalog_sync import catalog_changed
from payments.models import (
    CATEGORY_MAX,
    CURRENCIES,
    DESCRIPTION_MAX,
    IMAGE_URL_MAX,
    NAME_MAX,
    PRICE_MAX,
    RETAILER_ID_MAX,
    Product,
)
from tenants.models import AuditLogEntry, Tenant
from tenants.permissions import Perm, require_perm

RETAILER_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class ProductSpec:
    retailer_id: str
    name: str
    price: int
    description: str = ""
    currency: str = "BRL"
    image_url: str = ""
    availability: str = Product.Availability.IN_STOCK
    visible: bool = True
    category: str = ""


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={field: [message]})


def _clean(spec: ProductSpec) -> dict[str, Any]:
    retailer_id = spec.retailer_id.strip()
    if not retailer_id or len(retailer_id) > RETAILER_ID_MAX or not RETAILER_ID_RE.fullmatch(retailer_id):
        raise _invalid(
            "retailer_id",
            _(
                "The SKU takes 1 to %(max)s letters, digits, dots, dashes and underscores, "
                "starting with a letter or digit."
            )
            % {"max": RETAILER_ID_MAX},
        )
    name = " ".join(spec.name.split())
    if not name or len(name) > NAME_MAX:
        raise _invalid("name", _("The name takes 1 to %(max)s characters.") % {"max": NAME_MAX})
    description = spec.description.strip()
    if len(description) > DESCRIPTION_MAX:
        raise _invalid("description", _("At most %(max)s characters.") % {"max": DESCRIPTION_MAX})
    if isinstance(spec.price, bool) or not isinstance(spec.price, int) or not 1 <= spec.price <= PRICE_MAX:
        raise _invalid("price", _("The price must be above zero and at most R$ 99.999.999,99."))
    if spec.currency not in CURRENCIES:
        raise _invalid("currency", _("Unknown currency: %(allowed)s only.") % {"allowed": ", ".join(CURRENCIES)})
    image_url = spec.image_url.strip()
    if image_url:
        parts = urlsplit(image_url)
        if len(image_url) > IMAGE_URL_MAX or parts.scheme != "https" or not parts.hostname or parts.username:
            raise _invalid("image_url", _("The image address must be an https:// address WhatsApp can reach."))
    if spec.availability not in Product.Availability.values:
        raise _invalid("availability", _("Unknown availability."))
    category = " ".join(spec.category.split())
    if len(category) > CATEGORY_MAX:
        raise _invalid("category", _("At most %(max)s characters.") % {"max": CATEGORY_MAX})
    return {
        "retailer_id": retailer_id,
        "name": name,
        "description": description,
        "price": spec.price,
        "currency": spec.currency,
        "image_url": image_url,
        "availability": spec.availability,
        "visible": bool(spec.visible),
        "category": category,
    }


def product_clean(spec: ProductSpec) -> dict[str, Any]:
    """The spec's values as they would be saved; ``ValidationFailed`` naming the field when one cannot be."""
    return _clean(spec)


def _require(actor: Actor, tenant: Tenant) -> None:
    require_perm(actor, Perm.MANAGE_PAYMENTS, tenant_id=tenant.pk)


def _duplicate(retailer_id: str) -> ValidationFailed:
    return _invalid("retailer_id", _("Another product has the SKU %(sku)s.") % {"sku": retailer_id})


@transaction.atomic
def product_create(*, actor: Actor, tenant: Tenant, spec: ProductSpec, request: HttpRequest | None = None) -> Product:
    _require(actor, tenant)
    values = _clean(spec)
    if Product.objects.filter(tenant=tenant, retailer_id=values["retailer_id"]).exists():
        raise _duplicate(values["retailer_id"])
    try:
        with transaction.atomic():
            product = Product.objects.create(tenant=tenant, **values)
    except IntegrityError:  # created by someone else since the check
        raise _duplicate(values["retailer_id"]) from None
    actor_audit_record(
        actor,
        action=AuditLogEntry.Action.PRODUCT_CREATED,
        tenant=tenant,
        target=product,
        target_label=product.retailer_id,
        request=request,
        extra={"name": product.name, "price": product.price, "currency": product.currency},
    )
    catalog_changed(tenant_id=tenant.pk)
    return product


@transaction.atomic
def product_update(*, actor: Actor, product: Product, spec: ProductSpec, request: HttpRequest | None = None) -> Product:
    _require(actor, product.tenant)
    values = _clean(spec)
    product = Product.objects.select_for_update().get(pk=product.pk, tenant_id=product.tenant_id)
    if (
        values["retailer_id"] != product.retailer_id
        and Product.objects.filter(tenant_id=product.tenant_id, retailer_id=values["retailer_id"]).exists()
    ):
        raise _duplicate(values["retailer_id"])
    try:
        with transaction.atomic():
            changed = _apply(product, values)
    except IntegrityError:
        raise _duplicate(values["retailer_id"]) from None
    if not changed:
        return product
    actor_audit_record(
        actor,
        action=AuditLogEntry.Action.PRODUCT_CHANGED,
        tenant=product.tenant,
        target=product,
        target_label=product.retailer_id,
        request=request,
        extra={name: {"from": before, "to": after} for name, (before, after) in changed.items()},
    )
    catalog_changed(tenant_id=product.tenant_id)
    return product


@transaction.atomic
def product_delete(*, actor: Actor, product: Product, request: HttpRequest | None = None) -> None:
    _require(actor, product.tenant)
    actor_audit_record(
        actor,
        action=AuditLogEntry.Action.PRODUCT_DELETED,
        tenant=product.tenant,
        target=product,
        target_label=product.retailer_id,
        request=request,
        extra={"name": product.name},
    )
    product.delete()
    catalog_changed(tenant_id=product.tenant_id)


def _apply(product: Product, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Save the cleaned ``values`` that differ from the product's; returns each one's (before, after)."""
    changed = {
        name: (getattr(product, name), value) for name, value in values.items() if getattr(product, name) != value
    }
    if changed:
        for name, (_before, after) in changed.items():
            setattr(product, name, after)
        product.save(update_fields=[*changed, "updated_at"])
    return changed


def product_upsert(*, actor: Actor, tenant: Tenant, spec: ProductSpec, existing: Product | None) -> tuple[Product, str]:
    """Create the product, or change ``existing`` (the one with the spec's SKU) to the spec, without an audit
    entry of its own (an import is audited as a whole): the product, and "created", "updated" or
    "unchanged"."""
    _require(actor, tenant)
    values = _clean(spec)
    if existing is None:
        return Product.objects.create(tenant=tenant, **values), "created"
    return existing, "updated" if _apply(existing, values) else "unchanged"


def product_spec_of(product: Product, **changes: Any) -> ProductSpec:
    """The product as a spec, with ``changes`` (a partial change of the API)."""
    current = {f.name: getattr(product, f.name) for f in fields(ProductSpec)}
    return ProductSpec(**{**current, **changes})
