"""The composer's "Products" picker: the products an agent may send in a conversation (offered by an app through
``conversations.extensions``), and the product message, product list or catalog message made of what they
picked. The core knows no catalogue: it asks the extension for the products on offer and checks that every SKU
picked is one of them."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from conversations import channels, extensions
from conversations.content import MAX_LIST_PRODUCTS, MAX_PRODUCT_SECTIONS, MAX_SECTION_TITLE
from conversations.extensions import ProductCard
from conversations.models import Conversation, Message
from conversations.services.outbound import OutboundSpec
from helpdesk.exceptions import PermissionDenied, ValidationFailed
from helpdesk.money import format_money
from tenants.permissions import Perm

PICKER_KINDS = ("product", "product_list", "catalog")
QUERY_MAX = 100


def products_offered(conversation: Conversation) -> bool:
    """Whether the picker is shown: an app offers products and the conversation's channel sends them."""
    channel_type = conversation.inbox.channel_type
    return extensions.composer_products_offered() and all(channels.sends(channel_type, kind) for kind in PICKER_KINDS)


def _check(request: HttpRequest, conversation: Conversation) -> None:
    membership = getattr(request, "membership", None)
    if membership is None or not membership.has_perm(Perm.REPLY):
        raise PermissionDenied(_("Your role cannot reply to customers."))
    if not products_offered(conversation):
        raise ValidationFailed(
            _("Products cannot be sent on %(channel)s.")
            % {"channel": channels.display_name(conversation.inbox.channel_type)},
            code="message_type_unsupported",
        )


def catalog_notice(conversation: Conversation) -> str:
    """Why products cannot be sent yet in this conversation ("": they can), said before the agent picks."""
    inbox = conversation.inbox
    if channels.syncs_catalog(inbox.channel_type) and not channels.catalog_backend(inbox.channel_type).catalog_of(
        inbox
    ):
        return _("This number has no catalog connected yet: products cannot be sent until it has one.")
    return ""


def picker_products(request: HttpRequest, conversation: Conversation, query: str) -> list[dict[str, Any]]:
    """The products on offer whose name or SKU holds ``query``, their prices in the reader's language."""
    _check(request, conversation)
    if "\x00" in query or len(query) > QUERY_MAX:
        raise ValidationFailed(_("Search for at most %(limit)s characters.") % {"limit": QUERY_MAX})
    return [
        {
            "sku": card.sku,
            "name": card.name,
            "price": format_money(card.price, card.currency),
            "category": card.category,
        }
        for card in extensions.composer_product_search(request, conversation, query.strip(), None)
    ]


def _sections(chosen: list[ProductCard]) -> list[dict[str, Any]]:
    """The picked products grouped by category, in the order picked; at most ten groups (the last takes the
    rest), each titled by its category (cut to WhatsApp's 24 characters) when there are several."""
    groups: dict[str, list[str]] = {}
    for card in chosen:
        groups.setdefault(card.category.strip(), []).append(card.sku)
    named = list(groups.items())
    if len(named) > MAX_PRODUCT_SECTIONS:
        rest = [sku for _category, skus in named[MAX_PRODUCT_SECTIONS - 1 :] for sku in skus]
        named = [*named[: MAX_PRODUCT_SECTIONS - 1], (pgettext("product list section", "More"), rest)]
    if len(named) == 1:
        category, skus = named[0]
        return [{"title": category[:MAX_SECTION_TITLE], "skus": skus}]
    other = pgettext("product list section", "Other")
    return [{"title": (category or other)[:MAX_SECTION_TITLE], "skus": skus} for category, skus in named]


def picker_spec(request: HttpRequest, conversation: Conversation, data: QueryDict) -> OutboundSpec:
    """The message the agent asked for: ``products_kind`` "products" (one ``sku`` picked: a product message;
    several: a product list in sections by category) or "catalog" (its thumbnail the first ``sku``, if any),
    with the ``header``, ``body`` and ``footer`` they typed."""
    _check(request, conversation)
    kind = data.get("products_kind", "")
    if kind not in ("products", "catalog"):
        raise ValidationFailed(_("Choose what to send: products or the catalog."), details={"field": "products_kind"})
    skus = [sku for sku in dict.fromkeys(data.getlist("sku")) if sku]
    if len(skus) > MAX_LIST_PRODUCTS:
        raise ValidationFailed(
            _("Pick at most %(limit)s products: WhatsApp shows no more in one list.") % {"limit": MAX_LIST_PRODUCTS}
        )
    offered = {card.sku: card for card in extensions.composer_product_search(request, conversation, "", skus)}
    missing = [sku for sku in skus if sku not in offered]
    if missing:
        raise ValidationFailed(
            _("%(sku)s is not on offer: it is hidden, out of stock or no longer in the catalog.") % {"sku": missing[0]},
            details={"field": "sku", "sku": missing[0]},
        )
    chosen = [offered[sku] for sku in skus]
    body, footer = data.get("body", "").strip(), data.get("footer", "").strip()
    content: dict[str, Any]
    if kind == "catalog":
        content = {"body": body, "footer": footer, "thumbnail_sku": skus[0] if skus else ""}
        return OutboundSpec(type=Message.Type.CATALOG, content=content)
    if not chosen:
        raise ValidationFailed(_("Pick a product first."), details={"field": "sku"})
    if len(chosen) == 1:
        return OutboundSpec(type=Message.Type.PRODUCT, content={"sku": skus[0], "body": body, "footer": footer})
    content = {"header": data.get("header", "").strip(), "body": body, "footer": footer, "sections": _sections(chosen)}
    return OutboundSpec(type=Message.Type.PRODUCT_LIST, content=content)
