"""What the inbox shows of catalogue products and what its composer offers (``conversations.extensions``): the
cards of the products messages show or ask about, and the products an agent may send (visible, in stock)."""

from __future__ import annotations

from collections.abc import Collection

from django.http import HttpRequest

from conversations.extensions import ProductCard
from conversations.models import Conversation
from payments.models import Product
from payments.selectors import SEARCH_MAX, products_found
from tenants.permissions import Perm

# The composer's picker lists at most this many products (the agent searches for the others).
PICKER_LIMIT = 50
# A render never asks for more SKUs than a product list holds per message; this bounds a hostile history.
CARDS_LIMIT = 1000
FIELDS = ("retailer_id", "name", "price", "currency", "image_url", "category")


def _card(product: Product) -> ProductCard:
    return ProductCard(
        sku=product.retailer_id,
        name=product.name,
        price=product.price,
        currency=product.currency,
        image_url=product.image_url,
        category=product.category,
    )


def product_cards(tenant_id: int, skus: Collection[str]) -> dict[str, ProductCard]:
    """The workspace's products among ``skus``, hidden or not (a message sent earlier still names them): one query."""
    wanted = sorted(set(skus))[:CARDS_LIMIT]
    found = Product.objects.filter(tenant_id=tenant_id, retailer_id__in=wanted).only(*FIELDS)
    return {product.retailer_id: _card(product) for product in found}


def composer_product_search(
    request: HttpRequest, conversation: Conversation, q: str, skus: Collection[str] | None
) -> list[ProductCard]:
    """The products a member who may reply can send in ``conversation`` (its workspace's, visible and in stock),
    whose name or SKU holds ``q``, by category and name; with ``skus``, those of them on offer."""
    membership = getattr(request, "membership", None)
    if membership is None or membership.tenant_id != conversation.tenant_id or not membership.has_perm(Perm.REPLY):
        return []
    query = q.replace("\x00", "").strip()[:SEARCH_MAX]
    products = products_found(tenant_id=conversation.tenant_id, query=query, visible=True).filter(
        availability=Product.Availability.IN_STOCK
    )
    limit = PICKER_LIMIT
    if skus is not None:
        wanted = sorted(set(skus))[:CARDS_LIMIT]
        products = products.filter(retailer_id__in=wanted)
        limit = len(wanted)
    return [_card(product) for product in products.only(*FIELDS).order_by("category", "name", "id")[:limit]]
