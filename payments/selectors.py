"""Reading the catalog: one product of a workspace, and its products found by words and visibility."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from payments.models import Product

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
