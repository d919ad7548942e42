"""The content of each kind of message the core stores, as typed, validated, channel-neutral structures.

``Message.content`` holds ``to_dict()`` of one of these: a JSON object with the version marker
(``"v": CONTENT_VERSION``) and the ``kind`` that names its class. A channel adapter fills them from its
vendor's payload (and keeps that payload in ``Message.raw`` for support); templates, template tags and
the API read only these. ``content_from_dict`` raises ``ContentInvalid`` (a ``ValidationFailed``: a
400 with a message) for anything that is not one of them.

Money is an integer in the currency's minor units; coordinates are decimal strings (never floats).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from django.utils.translation import gettext as _

from conversations.media import MEDIA_KINDS
from helpdesk.exceptions import ValidationFailed

CONTENT_VERSION = 1
VERSION_KEY = "v"

# ISO 4217 currencies whose minor unit is not the hundredth; every other currency has two decimals.
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
INTERACTIVE_STYLES = ("button", "list", "cta_url")
HEADER_KINDS = ("text", "image", "video", "document")
# What a payment request or an order status names its order by (the order's reference on every channel).
PAYMENT_REFERENCE = re.compile(r"[A-Za-z0-9_.-]{1,60}")
PAYMENT_GOODS = ("digital", "physical")
PAYMENT_CURRENCIES = ("BRL",)
PIX_KEY_TYPES = ("CPF", "CNPJ", "EMAIL", "PHONE", "EVP")
ORDER_STATUSES = ("pending", "processing", "partially_shipped", "shipped", "completed", "canceled")
PAYMENT_STATUSES = ("pending", "captured", "failed")
# The amounts of a payment request, in the currency's minor units.
MONEY_KEYS = ("subtotal", "tax", "shipping", "discount", "total")
# Product messages: one product, a list of products in sections, the whole catalogue.
MAX_SKU = 100
MAX_PRODUCT_HEADER = 60
MAX_PRODUCT_BODY = 1024
MAX_PRODUCT_FOOTER = 60
MAX_PRODUCT_SECTIONS = 10
MAX_SECTION_TITLE = 24
MAX_LIST_PRODUCTS = 30


class ContentInvalid(ValidationFailed):
    code = "content_invalid"


def currency_exponent(currency: str) -> int:
    """How many decimals the currency's minor unit has (2 unless ISO 4217 says otherwise)."""
    return CURRENCY_EXPONENTS.get(currency.upper(), 2)


def minor_units(amount: Any, currency: str) -> int:
    """``amount`` in major units (a number or a decimal string) as an integer of minor units, rounded half-even."""
    if isinstance(amount, bool) or not isinstance(amount, int | float | str | Decimal):
        raise ContentInvalid(_("The price %(value)r is not a number.") % {"value": amount})
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError) as exc:
        raise ContentInvalid(_("The price %(value)r is not a number.") % {"value": amount}) from exc
    if not value.is_finite():
        raise ContentInvalid(_("The price %(value)r is not a number.") % {"value": amount})
    return int(value.scaleb(currency_exponent(currency)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def major_units(amount: int, currency: str) -> Decimal:
    """An integer of minor units as the exact decimal amount in major units (for display)."""
    return Decimal(amount).scaleb(-currency_exponent(currency))


# -- readers that validate -------------------------------------------------------------------------------


def _where(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _text(data: Mapping[str, Any], key: str, path: str, *, required: bool = False, max_length: int = 0) -> str:
    value = data.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ContentInvalid(_("%(field)s must be text.") % {"field": _where(path, key)})
    if required and not value.strip():
        raise ContentInvalid(_("%(field)s is required.") % {"field": _where(path, key)})
    if max_length and len(value) > max_length:
        raise ContentInvalid(
            _("%(field)s is %(length)s characters; at most %(limit)s are allowed.")
            % {"field": _where(path, key), "length": len(value), "limit": max_length}
        )
    return value


def _bool(data: Mapping[str, Any], key: str, path: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ContentInvalid(_("%(field)s must be true or false.") % {"field": _where(path, key)})
    return value


def _int(data: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> int | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContentInvalid(_("%(field)s must be a whole number.") % {"field": _where(path, key)})
    return value


def _objects(data: Mapping[str, Any], key: str, path: str) -> list[tuple[str, Mapping[str, Any]]]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise ContentInvalid(_("%(field)s must be a list of objects.") % {"field": _where(path, key)})
    return [(f"{_where(path, key)}[{i}]", item) for i, item in enumerate(value)]


def _texts(data: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ContentInvalid(_("%(field)s must be a list of texts.") % {"field": _where(path, key)})
    return tuple(value)


def _object(data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ContentInvalid(_("%(field)s must be an object.") % {"field": _where(path, key)})
    return value


def _json(data: Mapping[str, Any], key: str, path: str) -> Any:
    """A value kept as the customer or the caller gave it (an object, a list or text)."""
    value = data.get(key)
    if value is not None and not isinstance(value, dict | list | str):
        raise ContentInvalid(_("%(field)s must be an object, a list or text.") % {"field": _where(path, key)})
    return value


def _decimal_text(data: Mapping[str, Any], key: str, path: str, bound: int) -> str:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ContentInvalid(_("%(field)s must be a decimal number.") % {"field": _where(path, key)})
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ContentInvalid(_("%(field)s must be a decimal number.") % {"field": _where(path, key)}) from exc
    if not number.is_finite() or not -bound <= number <= bound:
        raise ContentInvalid(
            _("%(field)s must be between -%(bound)s and %(bound)s.") % {"field": _where(path, key), "bound": bound}
        )
    return str(value).strip()


def _compact(value: Any) -> Any:
    """A dataclass (or a list of them) as JSON, leaving out empty values (rows stay small)."""
    if isinstance(value, Part):
        result = {}
        for f in fields(value):  # type: ignore[arg-type]  # every Part is a dataclass
            item = _compact(getattr(value, f.name))
            if item not in (None, "", False, [], {}):
                result[f.name] = item
        return result
    if isinstance(value, tuple | list):
        return [_compact(item) for item in value]
    return value


P = TypeVar("P", bound="Part")


class Part:
    """A piece of content: ``to_dict`` leaves out empty fields; ``from_dict`` validates (see subclasses)."""

    def to_dict(self) -> dict[str, Any]:
        result = _compact(self)
        assert isinstance(result, dict)
        return result


# -- pieces shared by several kinds ------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem(Part):
    """A problem the channel reported about a message (an unknown type, a part it could not deliver)."""

    code: str = ""
    title: str = ""
    details: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> Problem:
        return cls(
            code=_text(data, "code", path), title=_text(data, "title", path), details=_text(data, "details", path)
        )


@dataclass(frozen=True)
class ProductRef(Part):
    """The catalogue product a message is about."""

    sku: str = ""
    catalog_id: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> ProductRef:
        return cls(sku=_text(data, "sku", path), catalog_id=_text(data, "catalog_id", path))


@dataclass(frozen=True, kw_only=True)
class Content(Part):
    """What every kind carries besides its own fields."""

    kind: ClassVar[str] = ""
    errors: tuple[Problem, ...] = ()
    product: ProductRef | None = None
    mentions: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {VERSION_KEY: CONTENT_VERSION, "kind": self.kind, **super().to_dict()}

    @classmethod
    def _common(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        product = _object(data, "product", "")
        mentions = data.get("mentions") or []
        if not isinstance(mentions, list) or not all(isinstance(m, int) and not isinstance(m, bool) for m in mentions):
            raise ContentInvalid(_("mentions must be a list of user ids."))
        return {
            "errors": tuple(Problem.from_dict(item, where) for where, item in _objects(data, "errors", "")),
            "product": ProductRef.from_dict(product, "product") if product is not None else None,
            "mentions": tuple(mentions),
        }

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Content:
        raise NotImplementedError


# -- the kinds ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TextContent(Content):
    kind: ClassVar[str] = "text"
    body: str = ""
    preview_url: bool = False

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> TextContent:
        return cls(body=_text(data, "body", ""), preview_url=_bool(data, "preview_url", ""), **cls._common(data))


@dataclass(frozen=True, kw_only=True)
class MediaContent(Content):
    kind: ClassVar[str] = "media"
    media_kind: str
    caption: str = ""
    filename: str = ""
    mime_type: str = ""
    link: str = ""
    voice: bool = False
    animated: bool = False

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> MediaContent:
        media_kind = _text(data, "media_kind", "", required=True)
        if media_kind not in MEDIA_KINDS:
            raise ContentInvalid(_("media_kind must be one of: %(kinds)s.") % {"kinds": ", ".join(MEDIA_KINDS)})
        return cls(
            media_kind=media_kind,
            caption=_text(data, "caption", ""),
            filename=_text(data, "filename", ""),
            mime_type=_text(data, "mime_type", ""),
            link=_text(data, "link", ""),
            voice=_bool(data, "voice", ""),
            animated=_bool(data, "animated", ""),
            **cls._common(data),
        )


@dataclass(frozen=True, kw_only=True)
class LocationContent(Content):
    kind: ClassVar[str] = "location"
    latitude: str
    longitude: str
    name: str = ""
    address: str = ""
    url: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> LocationContent:
        return cls(
            latitude=_decimal_text(data, "latitude", "", 90),
            longitude=_decimal_text(data, "longitude", "", 180),
            name=_text(data, "name", ""),
            address=_text(data, "address", ""),
            url=_text(data, "url", ""),
            **cls._common(data),
        )


@dataclass(frozen=True)
class CardPhone(Part):
    number: str = ""
    type: str = ""
    # The person's own address on the channel the card came from, when the channel gives one.
    messaging_id: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> CardPhone:
        return cls(
            number=_text(data, "number", path),
            type=_text(data, "type", path),
            messaging_id=_text(data, "messaging_id", path),
        )


@dataclass(frozen=True)
class CardEmail(Part):
    address: str = ""
    type: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> CardEmail:
        return cls(address=_text(data, "address", path), type=_text(data, "type", path))


@dataclass(frozen=True)
class ContactCard(Part):
    name: str = ""
    first_name: str = ""
    middle_name: str = ""
    last_name: str = ""
    company: str = ""
    department: str = ""
    job_title: str = ""
    birthday: str = ""
    phones: tuple[CardPhone, ...] = ()
    emails: tuple[CardEmail, ...] = ()
    urls: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> ContactCard:
        texts = ("name", "first_name", "middle_name", "last_name", "company", "department", "job_title", "birthday")
        return cls(
            **{key: _text(data, key, path) for key in texts},
            phones=tuple(CardPhone.from_dict(item, where) for where, item in _objects(data, "phones", path)),
            emails=tuple(CardEmail.from_dict(item, where) for where, item in _objects(data, "emails", path)),
            urls=_texts(data, "urls", path),
        )

    @property
    def display_name(self) -> str:
        return self.name or " ".join(part for part in (self.first_name, self.middle_name, self.last_name) if part)


@dataclass(frozen=True, kw_only=True)
class ContactsContent(Content):
    kind: ClassVar[str] = "contacts"
    cards: tuple[ContactCard, ...] = ()

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ContactsContent:
        cards = tuple(ContactCard.from_dict(item, where) for where, item in _objects(data, "cards", ""))
        return cls(cards=cards, **cls._common(data))


@dataclass(frozen=True)
class Header(Part):
    """An interactive message's header: text, or a media file by link (or by a channel's media id)."""

    type: str = "text"
    text: str = ""
    link: str = ""
    media_id: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> Header:
        kind = _text(data, "type", path) or "text"
        if kind not in HEADER_KINDS:
            raise ContentInvalid(
                _("%(field)s must be one of: %(kinds)s.") % {"field": f"{path}.type", "kinds": ", ".join(HEADER_KINDS)}
            )
        return cls(
            type=kind,
            text=_text(data, "text", path, required=kind == "text"),
            link=_text(data, "link", path),
            media_id=_text(data, "media_id", path),
        )


@dataclass(frozen=True)
class Choice(Part):
    """A reply button, or a row of a list."""

    id: str = ""
    title: str = ""
    description: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> Choice:
        return cls(
            id=_text(data, "id", path, required=True),
            title=_text(data, "title", path, required=True),
            description=_text(data, "description", path),
        )


@dataclass(frozen=True)
class Section(Part):
    title: str = ""
    rows: tuple[Choice, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> Section:
        rows = tuple(Choice.from_dict(item, where) for where, item in _objects(data, "rows", path))
        return cls(title=_text(data, "title", path), rows=rows)


@dataclass(frozen=True, kw_only=True)
class InteractiveContent(Content):
    """A message we send with choices: reply buttons, a list, or a call-to-action link."""

    kind: ClassVar[str] = "interactive"
    style: str
    body: str
    header: Header | None = None
    footer: str = ""
    buttons: tuple[Choice, ...] = ()
    list_button: str = ""
    sections: tuple[Section, ...] = ()
    cta_text: str = ""
    cta_url: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> InteractiveContent:
        style = _text(data, "style", "")
        if style not in INTERACTIVE_STYLES:
            raise ContentInvalid(_("style must be one of: %(styles)s.") % {"styles": ", ".join(INTERACTIVE_STYLES)})
        header = _object(data, "header", "")
        result = cls(
            style=style,
            body=_text(data, "body", "", required=True),
            header=Header.from_dict(header, "header") if header is not None else None,
            footer=_text(data, "footer", ""),
            buttons=tuple(Choice.from_dict(item, where) for where, item in _objects(data, "buttons", "")),
            list_button=_text(data, "list_button", "", required=style == "list"),
            sections=tuple(Section.from_dict(item, where) for where, item in _objects(data, "sections", "")),
            cta_text=_text(data, "cta_text", "", required=style == "cta_url"),
            cta_url=_text(data, "cta_url", "", required=style == "cta_url"),
            **cls._common(data),
        )
        if style == "button" and not result.buttons:
            raise ContentInvalid(_('buttons must be a list of {"id", "title"} objects.'))
        if style == "list" and not result.sections:
            raise ContentInvalid(_("A list needs at least one section."))
        return result


@dataclass(frozen=True, kw_only=True)
class ReplyContent(Content):
    """The customer's answer to an interactive message or a template button.

    ``reply_type``: button, list, flow (a form's answers in ``response``), template_button, or the
    channel's own name for a kind of answer the core has no word for (its fields then in ``details``).
    """

    kind: ClassVar[str] = "reply"
    reply_type: str
    id: str = ""
    title: str = ""
    description: str = ""
    flow_name: str = ""
    response: Any = None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ReplyContent:
        return cls(
            reply_type=_text(data, "reply_type", "", required=True),
            id=_text(data, "id", ""),
            title=_text(data, "title", ""),
            description=_text(data, "description", ""),
            flow_name=_text(data, "flow_name", ""),
            response=_json(data, "response", ""),
            details=dict(_object(data, "details", "") or {}),
            **cls._common(data),
        )


@dataclass(frozen=True, kw_only=True)
class TemplateContent(Content):
    """An approved message template as it was sent: the rendered texts and the values that filled it."""

    kind: ClassVar[str] = "template"
    name: str
    language: str
    category: str = ""
    header_text: str = ""
    # The kind of file (or "location") a media header carries; its text is then empty.
    header_media: str = ""
    body: str = ""
    footer: str = ""
    parameters: Any = None
    buttons: tuple[str, ...] = ()

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> TemplateContent:
        return cls(
            name=_text(data, "name", "", required=True),
            language=_text(data, "language", "", required=True),
            category=_text(data, "category", ""),
            header_text=_text(data, "header_text", ""),
            header_media=_text(data, "header_media", ""),
            body=_text(data, "body", ""),
            footer=_text(data, "footer", ""),
            parameters=_json(data, "parameters", ""),
            buttons=_texts(data, "buttons", ""),
            **cls._common(data),
        )


@dataclass(frozen=True, kw_only=True)
class ReactionContent(Content):
    """An emoji on another message (``target_id``: that message's id on the channel); "" takes it back."""

    kind: ClassVar[str] = "reaction"
    emoji: str = ""
    target_id: str

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ReactionContent:
        return cls(
            emoji=_text(data, "emoji", ""), target_id=_text(data, "target_id", "", required=True), **cls._common(data)
        )


@dataclass(frozen=True)
class OrderItem(Part):
    sku: str = ""
    quantity: int = 0
    # In the currency's minor units (cents); None when the channel gave no price.
    unit_price: int | None = None
    currency: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> OrderItem:
        quantity = _int(data, "quantity", path)
        if quantity is None or quantity < 0:
            raise ContentInvalid(_("%(field)s must be a whole number of 0 or more.") % {"field": f"{path}.quantity"})
        return cls(
            sku=_text(data, "sku", path, required=True),
            quantity=quantity,
            unit_price=_int(data, "unit_price", path, required=False),
            currency=_text(data, "currency", path, max_length=3),
        )

    def to_dict(self) -> dict[str, Any]:
        # A quantity of 0 or a price of 0 is a value, not an empty field.
        return {"sku": self.sku, "quantity": self.quantity, "unit_price": self.unit_price, "currency": self.currency}

    @property
    def subtotal(self) -> int | None:
        return None if self.unit_price is None else self.unit_price * self.quantity


@dataclass(frozen=True, kw_only=True)
class OrderContent(Content):
    kind: ClassVar[str] = "order"
    catalog_id: str = ""
    note: str = ""
    items: tuple[OrderItem, ...] = ()

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> OrderContent:
        return cls(
            catalog_id=_text(data, "catalog_id", ""),
            note=_text(data, "note", ""),
            items=tuple(OrderItem.from_dict(item, where) for where, item in _objects(data, "items", "")),
            **cls._common(data),
        )

    def to_dict(self) -> dict[str, Any]:
        result = super().to_dict()
        result["items"] = [item.to_dict() for item in self.items]
        return result

    def totals(self) -> dict[str, int]:
        """The sum of the priced lines, per currency, in minor units."""
        totals: dict[str, int] = {}
        for item in self.items:
            if item.subtotal is not None:
                totals[item.currency] = totals.get(item.currency, 0) + item.subtotal
        return totals


# -- payments: a request to pay an order, and the order's status -------------------------------------------


def _reference(data: Mapping[str, Any]) -> str:
    value = _text(data, "reference", "", required=True)
    if not PAYMENT_REFERENCE.fullmatch(value):
        raise ContentInvalid(
            _("%(field)s may only hold letters, digits, _ . and -, at most %(limit)s of them.")
            % {"field": "reference", "limit": 60}
        )
    return value


def _choice(data: Mapping[str, Any], key: str, path: str, choices: tuple[str, ...], *, default: str = "") -> str:
    """One of ``choices``; ``default`` when absent or empty (so "" when it may be left out)."""
    value = _text(data, key, path) or default
    if value and value not in choices:
        raise ContentInvalid(
            _("%(field)s must be one of: %(kinds)s.") % {"field": _where(path, key), "kinds": ", ".join(choices)}
        )
    return value


def _at_least(data: Mapping[str, Any], key: str, path: str, low: int, *, required: bool = True) -> int | None:
    """A whole number of ``low`` (0 or 1) or more; None when it is absent and not required."""
    value = _int(data, key, path, required=required)
    if value is not None and value < low:
        message = (
            _("%(field)s must be a whole number of 0 or more.")
            if low == 0
            else _("%(field)s must be a whole number of 1 or more.")
        )
        raise ContentInvalid(message % {"field": _where(path, key)})
    return value


def _whole(data: Mapping[str, Any], key: str, path: str, low: int) -> int:
    value = _at_least(data, key, path, low)
    assert value is not None  # required: _int refused an absent one
    return value


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _https_url(data: Mapping[str, Any], key: str, path: str) -> str:
    value = _text(data, key, path, max_length=2048).strip()
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        scheme, host = parts.scheme, parts.hostname
    except ValueError:  # e.g. a broken IPv6 address
        scheme, host = "", None
    # Plain http only to this machine: a payment provider's fake in development and tests.
    secure = scheme == "https" or (scheme == "http" and host in LOOPBACK_HOSTS)
    if not secure or not host or any(ch.isspace() or ch in "\"'<>`\\" for ch in value):
        raise ContentInvalid(_("%(field)s must be an https:// address.") % {"field": _where(path, key)})
    return value


def brcode_checksum_ok(code: str) -> bool:
    """Whether a Pix BR Code ends in ``6304`` and the CRC16/CCITT-FALSE of everything before its 4 digits."""
    if len(code) < 8 or code[-8:-4] != "6304" or not code.isascii():
        return False
    crc = 0xFFFF
    for byte in code[:-4].encode("ascii"):
        crc ^= byte << 8
        for _bit in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return f"{crc:04X}" == code[-4:].upper()


@dataclass(frozen=True)
class PaymentItem(Part):
    """A line of a payment request; an empty ``sku`` is a free amount (no catalogue product)."""

    sku: str = ""
    name: str = ""
    quantity: int = 1
    # In the currency's minor units (cents).
    unit_price: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> PaymentItem:
        return cls(
            sku=_text(data, "sku", path, max_length=100),
            name=_text(data, "name", path, required=True, max_length=60),
            quantity=_whole(data, "quantity", path, 1),
            unit_price=_whole(data, "unit_price", path, 0),
        )

    def to_dict(self) -> dict[str, Any]:
        # An empty sku (a free amount) and a price of 0 are values, not empty fields.
        return {"sku": self.sku, "name": self.name, "quantity": self.quantity, "unit_price": self.unit_price}

    @property
    def subtotal(self) -> int:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class PixSettings(Part):
    """A Pix charge: its BR Code (copy and paste) and the receiving key it was made for."""

    code: str = ""
    merchant_name: str = ""
    key: str = ""
    key_type: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> PixSettings:
        code = _text(data, "code", path, required=True, max_length=512).strip()
        if not brcode_checksum_ok(code):
            raise ContentInvalid(
                _("%(field)s is not a Pix BR Code: its checksum does not match.") % {"field": f"{path}.code"}
            )
        key_type = _text(data, "key_type", path, required=True)
        if key_type not in PIX_KEY_TYPES:
            raise ContentInvalid(
                _("%(field)s must be one of: %(kinds)s.")
                % {"field": f"{path}.key_type", "kinds": ", ".join(PIX_KEY_TYPES)}
            )
        return cls(
            code=code,
            merchant_name=_text(data, "merchant_name", path, required=True, max_length=100),
            key=_text(data, "key", path, required=True, max_length=100),
            key_type=key_type,
        )


@dataclass(frozen=True, kw_only=True)
class PaymentRequestContent(Content):
    """A request to pay an order: its lines and totals, and how to pay (a Pix code, a payment link or both).

    Money is in the currency's minor units: ``subtotal`` is the sum of the lines, ``total`` is
    ``subtotal + tax + shipping - discount``. ``expires_at`` is a Unix time in seconds.
    """

    kind: ClassVar[str] = "payment_request"
    reference: str
    body: str
    footer: str = ""
    goods: str = "digital"
    currency: str = "BRL"
    items: tuple[PaymentItem, ...] = ()
    subtotal: int = 0
    tax: int = 0
    shipping: int = 0
    discount: int = 0
    total: int = 0
    expires_at: int | None = None
    expiry_description: str = ""
    pix: PixSettings | None = None
    link: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> PaymentRequestContent:
        reference = _reference(data)
        body = _text(data, "body", "", required=True, max_length=1024)
        items = tuple(PaymentItem.from_dict(item, where) for where, item in _objects(data, "items", ""))
        if not items:
            raise ContentInvalid(_("%(field)s must have at least one item.") % {"field": "items"})
        subtotal, total = _whole(data, "subtotal", "", 0), _whole(data, "total", "", 0)
        tax, shipping, discount = (
            _at_least(data, key, "", 0, required=False) or 0 for key in ("tax", "shipping", "discount")
        )
        lines = sum(item.subtotal for item in items)
        if subtotal != lines:
            raise ContentInvalid(
                _("%(field)s is %(given)s; the items' quantities times their unit prices add up to %(expected)s.")
                % {"field": "subtotal", "given": subtotal, "expected": lines}
            )
        expected = subtotal + tax + shipping - discount
        if total != expected:
            raise ContentInvalid(
                _("%(field)s is %(given)s; subtotal + tax + shipping - discount is %(expected)s.")
                % {"field": "total", "given": total, "expected": expected}
            )
        pix = _object(data, "pix", "")
        result = cls(
            reference=reference,
            body=body,
            footer=_text(data, "footer", "", max_length=60),
            goods=_choice(data, "goods", "", PAYMENT_GOODS, default="digital"),
            currency=_choice(data, "currency", "", PAYMENT_CURRENCIES, default="BRL"),
            items=items,
            subtotal=subtotal,
            tax=tax,
            shipping=shipping,
            discount=discount,
            total=total,
            expires_at=_at_least(data, "expires_at", "", 1, required=False),
            expiry_description=_text(data, "expiry_description", "", max_length=120),
            pix=PixSettings.from_dict(pix, "pix") if pix is not None else None,
            link=_https_url(data, "link", ""),
            **cls._common(data),
        )
        if result.pix is None and not result.link:
            raise ContentInvalid(_("pix or link is required: give the customer a way to pay."))
        return result

    def to_dict(self) -> dict[str, Any]:
        result = super().to_dict()
        # Amounts of 0 are values, not empty fields.
        result.update({key: getattr(self, key) for key in MONEY_KEYS})
        result["items"] = [item.to_dict() for item in self.items]
        return result


@dataclass(frozen=True, kw_only=True)
class OrderStatusContent(Content):
    """Where an order (named by the ``reference`` of its payment request) stands: ``status`` and/or
    ``payment_status`` ("captured": paid); ``payment_at`` is a Unix time in seconds."""

    kind: ClassVar[str] = "order_status"
    reference: str
    body: str
    footer: str = ""
    status: str = ""
    description: str = ""
    payment_status: str = ""
    payment_at: int | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> OrderStatusContent:
        result = cls(
            reference=_reference(data),
            body=_text(data, "body", "", required=True, max_length=1024),
            footer=_text(data, "footer", "", max_length=60),
            status=_choice(data, "status", "", ORDER_STATUSES),
            description=_text(data, "description", "", max_length=120),
            payment_status=_choice(data, "payment_status", "", PAYMENT_STATUSES),
            payment_at=_at_least(data, "payment_at", "", 1, required=False),
            **cls._common(data),
        )
        if not result.status and not result.payment_status:
            raise ContentInvalid(_("status or payment_status is required."))
        if result.description and not result.status:
            raise ContentInvalid(_("%(field)s needs %(other)s.") % {"field": "description", "other": "status"})
        if result.payment_at is not None and not result.payment_status:
            raise ContentInvalid(_("%(field)s needs %(other)s.") % {"field": "payment_at", "other": "payment_status"})
        return result


# -- products of the workspace's catalogue, sent to the customer ------------------------------------------


def _sku(data: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> str:
    """A catalogue product's SKU (the channel's retailer id): text of at most ``MAX_SKU`` characters."""
    value = _text(data, key, path, required=required, max_length=MAX_SKU)
    if value and (value != value.strip() or any(ch.isspace() or ord(ch) < 32 for ch in value)):
        raise ContentInvalid(_("%(field)s must be a SKU without spaces.") % {"field": _where(path, key)})
    return value


def _refuse_header(data: Mapping[str, Any], kind: str) -> None:
    """A product or a catalog message has no header: the channel shows the product's image instead."""
    if data.get("header") not in (None, "", {}):
        message = (
            _("%(field)s is not allowed in a product message.")
            if kind == "product"
            else _("%(field)s is not allowed in a catalog message.")
        )
        raise ContentInvalid(message % {"field": "header"})


@dataclass(frozen=True, kw_only=True)
class ProductContent(Content):
    """One product of the catalogue (by SKU), with an optional text under it; the channel shows its image,
    name and price from its own copy of the catalogue."""

    kind: ClassVar[str] = "product"
    sku: str
    body: str = ""
    footer: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ProductContent:
        _refuse_header(data, "product")
        return cls(
            sku=_sku(data, "sku", ""),
            body=_text(data, "body", "", max_length=MAX_PRODUCT_BODY),
            footer=_text(data, "footer", "", max_length=MAX_PRODUCT_FOOTER),
            **cls._common(data),
        )


@dataclass(frozen=True)
class ProductSection(Part):
    """A titled group of a product list (the titles are what the customer sees the products under)."""

    title: str = ""
    skus: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str, *, titled: bool) -> ProductSection:
        value = data.get("skus")
        if not isinstance(value, list) or not value:
            raise ContentInvalid(_("%(field)s must be a list of at least one SKU.") % {"field": f"{path}.skus"})
        skus = tuple(_sku({f"skus[{i}]": sku}, f"skus[{i}]", path) for i, sku in enumerate(value))
        return cls(title=_text(data, "title", path, required=titled, max_length=MAX_SECTION_TITLE), skus=skus)


@dataclass(frozen=True, kw_only=True)
class ProductListContent(Content):
    """Several products of the catalogue in titled sections, under a text header and a body."""

    kind: ClassVar[str] = "product_list"
    header: str
    body: str
    footer: str = ""
    sections: tuple[ProductSection, ...] = ()

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ProductListContent:
        header = data.get("header")
        if isinstance(header, Mapping):
            # The channels' own shape, {"type": "text", "text": ...}: only a text header is allowed here.
            if header.get("type", "text") != "text":
                raise ContentInvalid(_("%(field)s must be text.") % {"field": "header"})
            header = header.get("text")
        found = _objects(data, "sections", "")
        if not found:
            raise ContentInvalid(_("%(field)s must have at least one section.") % {"field": "sections"})
        if len(found) > MAX_PRODUCT_SECTIONS:
            raise ContentInvalid(
                _("%(field)s has %(count)s sections; at most %(limit)s are allowed.")
                % {"field": "sections", "count": len(found), "limit": MAX_PRODUCT_SECTIONS}
            )
        sections = tuple(ProductSection.from_dict(item, where, titled=len(found) > 1) for where, item in found)
        total = sum(len(section.skus) for section in sections)
        if total > MAX_LIST_PRODUCTS:
            raise ContentInvalid(
                _("%(field)s hold %(count)s products in all; at most %(limit)s are allowed.")
                % {"field": "sections", "count": total, "limit": MAX_LIST_PRODUCTS}
            )
        return cls(
            header=_text({"header": header}, "header", "", required=True, max_length=MAX_PRODUCT_HEADER),
            body=_text(data, "body", "", required=True, max_length=MAX_PRODUCT_BODY),
            footer=_text(data, "footer", "", max_length=MAX_PRODUCT_FOOTER),
            sections=sections,
            **cls._common(data),
        )

    @property
    def skus(self) -> list[str]:
        return [sku for section in self.sections for sku in section.skus]


@dataclass(frozen=True, kw_only=True)
class CatalogContent(Content):
    """An invitation to browse the whole catalogue; ``thumbnail_sku`` names the product whose image heads it
    (the channel picks one when it is empty)."""

    kind: ClassVar[str] = "catalog"
    body: str
    footer: str = ""
    thumbnail_sku: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> CatalogContent:
        _refuse_header(data, "catalog")
        return cls(
            body=_text(data, "body", "", required=True, max_length=MAX_PRODUCT_BODY),
            footer=_text(data, "footer", "", max_length=MAX_PRODUCT_FOOTER),
            thumbnail_sku=_sku(data, "thumbnail_sku", "", required=False),
            **cls._common(data),
        )


def content_skus(content: Content) -> list[str]:
    """The SKUs of the catalogue products a message shows or is about (its own and the one it refers to)."""
    skus: list[str] = []
    if isinstance(content, ProductContent):
        skus.append(content.sku)
    elif isinstance(content, ProductListContent):
        skus.extend(content.skus)
    elif isinstance(content, CatalogContent) and content.thumbnail_sku:
        skus.append(content.thumbnail_sku)
    elif isinstance(content, OrderContent):
        skus.extend(item.sku for item in content.items if item.sku)
    if content.product is not None and content.product.sku:
        skus.append(content.product.sku)
    return skus


@dataclass(frozen=True, kw_only=True)
class SystemContent(Content):
    """Something that happened rather than something said.

    ``event``: number_changed (``new_number`` set), identity_changed, or the channel's own name for it.
    """

    kind: ClassVar[str] = "system"
    event: str = ""
    body: str = ""
    new_number: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> SystemContent:
        return cls(
            event=_text(data, "event", ""),
            body=_text(data, "body", ""),
            new_number=_text(data, "new_number", ""),
            **cls._common(data),
        )


@dataclass(frozen=True, kw_only=True)
class UnsupportedContent(Content):
    """A message the core cannot show; ``channel_type`` is the channel's name for its kind, if it gave one."""

    kind: ClassVar[str] = "unsupported"
    channel_type: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> UnsupportedContent:
        return cls(channel_type=_text(data, "channel_type", ""), **cls._common(data))


CONTENT_KINDS: dict[str, type[Content]] = {
    cls.kind: cls
    for cls in (
        TextContent,
        MediaContent,
        LocationContent,
        ContactsContent,
        InteractiveContent,
        ReplyContent,
        TemplateContent,
        ReactionContent,
        OrderContent,
        SystemContent,
        UnsupportedContent,
        PaymentRequestContent,
        OrderStatusContent,
        ProductContent,
        ProductListContent,
        CatalogContent,
    )
}


def is_current(data: Any) -> bool:
    """Whether stored content is already in this version's shape (the data migration skips it)."""
    return isinstance(data, Mapping) and data.get(VERSION_KEY) == CONTENT_VERSION


def content_from_dict(data: Any) -> Content:
    """The typed content of a stored or submitted JSON object; ``ContentInvalid`` says what is wrong."""
    if not isinstance(data, Mapping):
        raise ContentInvalid(_("The content must be an object."))
    if data.get(VERSION_KEY) != CONTENT_VERSION:
        raise ContentInvalid(_("The content must have version %(v)s.") % {"v": CONTENT_VERSION})
    kind = data.get("kind")
    cls = CONTENT_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ContentInvalid(_("kind must be one of: %(kinds)s.") % {"kinds": ", ".join(CONTENT_KINDS)})
    return cls.parse(data)


def content_read(data: Any) -> Content | None:
    """The typed content of a stored message, or None when it is not readable (shown as "cannot be shown")."""
    try:
        return content_from_dict(data)
    except ContentInvalid:
        return None


def content_with_problems(content: dict[str, Any], problems: Any) -> dict[str, Any]:
    """Stored content with the problems a channel reported about the message (``code``, ``title`` or
    ``message``, ``details`` each) added to its ``errors``."""
    added = [
        Problem(
            code="" if item.get("code") is None else str(item.get("code")),
            title=str(item.get("title") or item.get("message") or ""),
            details=str(item.get("details") or ""),
        ).to_dict()
        for item in problems
        if isinstance(item, Mapping)
    ]
    if not added:
        return content
    return {**content, "errors": [*content.get("errors", []), *added]}


def text_content(body: str, *, mentions: tuple[int, ...] = ()) -> dict[str, Any]:
    """The stored content of a plain text (or a note with its mentions)."""
    return TextContent(body=body, mentions=mentions).to_dict()
