"""What feature apps add to the inbox without the core knowing them (DESIGN.md: dependencies point inward).

- **Message cards**: HTML shown under some messages of a render (an order's number and status under the
  customer's cart). A provider takes all the messages of one render and answers for those it knows, in a
  fixed number of queries; it is asked again whenever a bubble is rendered again (live updates included),
  so a feature that changes what its card shows publishes ``message.updated`` for that message.
- **Contact sections**: a section of the contact panel (the customer's orders), for the member looking.

Apps register in ``AppConfig.ready()``; what they return is HTML they rendered and escaped themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from django.http import HttpRequest
from django.utils.safestring import SafeString

from conversations.models import Conversation, Message

CardProvider = Callable[[Sequence[Message]], Mapping[int, SafeString]]
ContactSection = Callable[[HttpRequest, Conversation], SafeString | None]

_card_providers: dict[str, CardProvider] = {}
_contact_sections: dict[str, ContactSection] = {}


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
