"""What feature apps add to the inbox without the core knowing them (DESIGN.md: dependencies point inward).

- **Message cards**: HTML shown under some messages of a render (an order's number and status under the
  customer's cart). A provider takes all the messages of one render and answers for those it knows, in a
  fixed number of queries; it is asked again whenever a bubble is rendered again (live updates included),
  so a feature that changes what its card shows publishes ``message.updated`` for that message.
- **Contact sections**: a section of the contact panel (the customer's orders), for the member looking.
- **Product cards**: what the workspace's catalogue says of the products (by SKU) that messages show or are
  about (a product message, a customer's question about a product): name, price, image. A provider answers
  for the SKUs of one render in a fixed number of queries; an unknown SKU is left out (shown as its SKU).
- **Composer products**: the products an agent may offer in a conversation (the composer's "Products"
  picker), searched by name or SKU; only the conversation's workspace's, and only those on offer.
- **Composer actions**: a control beside the composer's Send button (scheduling a message for later), for the
  member looking; it links to or opens the feature's own page.
- **Bot holds**: which customers' new conversations a bot takes from their first message (a bot flow's keyword):
  those are opened *pending*, so that auto-assignment leaves them alone until the bot hands over. A hold is asked
  once per batch of new conversations of an inbox, with each customer's first message (its text, and the id of
  the button or row it answered); it answers with the contact inboxes it takes.

Apps register in ``AppConfig.ready()``; what they return is HTML they rendered and escaped themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.safestring import SafeString

from conversations.models import Conversation, Message


@dataclass(frozen=True)
class ProductCard:
    """A catalogue product as the inbox shows it: ``price`` in the currency's minor units; ``image_url`` an
    https address or ""."""

    sku: str
    name: str
    price: int
    currency: str
    image_url: str = ""
    category: str = ""


CardProvider = Callable[[Sequence[Message]], Mapping[int, SafeString]]
ContactSection = Callable[[HttpRequest, Conversation], SafeString | None]
# (tenant id, SKUs) -> the cards of the SKUs the workspace's catalogue has.
ProductCards = Callable[[int, Collection[str]], Mapping[str, ProductCard]]
# (request, conversation, query, SKUs or None) -> the products on offer matching the query (or among the SKUs).
ProductSearch = Callable[[HttpRequest, Conversation, str, Collection[str] | None], Sequence[ProductCard]]

ComposerAction = Callable[[HttpRequest, Conversation], SafeString | None]
# (tenant id, inbox id, {contact inbox id: (first message's text, chosen reply id)}) -> contact inbox ids held.
BotHold = Callable[[int, int, Mapping[int, tuple[str, str]]], Collection[int]]

_card_providers: dict[str, CardProvider] = {}
_bot_holds: dict[str, BotHold] = {}
_contact_sections: dict[str, ContactSection] = {}
_composer_actions: dict[str, ComposerAction] = {}
_product_cards: dict[str, ProductCards] = {}
_product_searches: dict[str, ProductSearch] = {}


def card_provider_register(name: str, provider: CardProvider) -> None:
    _card_providers[name] = provider


def card_provider_unregister(name: str) -> None:
    _card_providers.pop(name, None)


def message_cards(messages: Sequence[Message]) -> dict[int, list[SafeString]]:
    """The cards of each message of a render, by message id (providers in the order they registered)."""
    cards: dict[int, list[SafeString]] = {}
    if not messages:
        return cards
    for provider in _card_providers.values():
        for message_id, html in provider(messages).items():
            cards.setdefault(message_id, []).append(html)
    return cards


def contact_section_register(name: str, section: ContactSection) -> None:
    _contact_sections[name] = section


def contact_section_unregister(name: str) -> None:
    _contact_sections.pop(name, None)


def contact_sections(request: HttpRequest, conversation: Conversation) -> list[SafeString]:
    """The sections apps add to the contact panel of ``conversation`` for the member of ``request``."""
    return [html for section in _contact_sections.values() if (html := section(request, conversation))]


def composer_action_register(name: str, action: ComposerAction) -> None:
    _composer_actions[name] = action


def composer_action_unregister(name: str) -> None:
    _composer_actions.pop(name, None)


def composer_actions(request: HttpRequest, conversation: Conversation) -> list[SafeString]:
    """The controls apps add beside the composer's Send button of ``conversation``, for the member of ``request``."""
    return [html for action in _composer_actions.values() if (html := action(request, conversation))]


def product_cards_register(name: str, provider: ProductCards) -> None:
    _product_cards[name] = provider


def product_cards_unregister(name: str) -> None:
    _product_cards.pop(name, None)


def product_cards(tenant_id: int, skus: Collection[str]) -> dict[str, ProductCard]:
    """The cards of the SKUs the workspace's catalogue knows (none asked for: no provider is called)."""
    found: dict[str, ProductCard] = {}
    if not skus:
        return found
    for provider in _product_cards.values():
        for sku, card in provider(tenant_id, skus).items():
            found.setdefault(sku, card)
    return found


def composer_product_search_register(name: str, search: ProductSearch) -> None:
    _product_searches[name] = search


def composer_product_search_unregister(name: str) -> None:
    _product_searches.pop(name, None)


def composer_products_offered() -> bool:
    """Whether an app offers products to the composer at all."""
    return bool(_product_searches)


def composer_product_search(
    request: HttpRequest, conversation: Conversation, q: str = "", skus: Collection[str] | None = None
) -> list[ProductCard]:
    """The products the member of ``request`` may offer in ``conversation`` that match ``q`` (name or SKU), or,
    with ``skus``, those of them on offer."""
    found: list[ProductCard] = []
    seen: set[str] = set()
    for search in _product_searches.values():
        for card in search(request, conversation, q, skus):
            if card.sku not in seen:
                seen.add(card.sku)
                found.append(card)
    return found


def bot_hold_register(name: str, hold: BotHold) -> None:
    _bot_holds[name] = hold


def bot_hold_unregister(name: str) -> None:
    _bot_holds.pop(name, None)


def bot_held(tenant_id: int, inbox_id: int, firsts: Mapping[int, tuple[str, str]]) -> set[int]:
    """The contact inboxes (among ``firsts``) whose new conversation a bot takes."""
    held: set[int] = set()
    if not firsts:
        return held
    for hold in _bot_holds.values():
        held.update(hold(tenant_id, inbox_id, firsts))
    return held & set(firsts)
