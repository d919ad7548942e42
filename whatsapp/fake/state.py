"""In-memory state of the fake Cloud API. Everything lives in one ``FakeState`` guarded by one re-entrant lock.

Handlers run on uvicorn's event loop while the scheduler, webhook workers and test threads touch the same objects;
every read or write of shared state happens inside ``with state.lock`` and never awaits while holding it.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

DEFAULT_RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # 8 tries in all, compressed from Meta's 7 days

STATUS_RANK = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}


@dataclass
class PhoneNumber:
    phone_number_id: str
    display_phone_number: str
    waba_id: str
    access_token: str
    app_secret: str
    webhook_url: str | None = None
    verified_name: str = "Fake Business"
    throughput_per_s: int = 80
    pair_burst: int = 45
    pair_interval_s: float = 6.0
    auto_read: bool = False
    quality_rating: str = "GREEN"
    code_verification_status: str = "VERIFIED"
    throughput_level: str = "STANDARD"
    messaging_limit_tier: str = "TIER_2K"
    business_profile: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Template:
    id: str
    waba_id: str
    name: str
    language: str
    category: str
    components: list[dict[str, Any]]
    status: str = "PENDING"
    parameter_format: str | None = None
    rejected_reason: str | None = None
    quality_score: str = "UNKNOWN"

    def graph(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "components": self.components,
            "language": self.language,
            "status": self.status,
            "category": self.category,
        }
        if self.parameter_format:
            data["parameter_format"] = self.parameter_format
        if self.status == "REJECTED":
            data["rejected_reason"] = self.rejected_reason or "NONE"
        data["id"] = self.id
        return data


@dataclass
class UploadSession:
    """A Resumable Upload API session (``POST /{app-id}/uploads``): what was announced and what arrived."""

    id: str  # "upload:<session>?sig=<signature>", as Meta returns it
    app_id: str
    access_token: str
    file_name: str
    file_length: int
    file_type: str
    data: bytes = b""
    handle: str | None = None


@dataclass
class Media:
    id: str
    phone_number_id: str
    data: bytes
    mime_type: str
    sha256_hex: str
    created_at: float
    expires_at: float
    filename: str | None = None
    deleted: bool = False


@dataclass
class MediaUrl:
    token: str
    media_id: str
    expires_at: float


@dataclass
class Message:
    """A message in a chat, either direction: ``out`` = business → customer, ``in`` = customer → business."""

    wamid: str
    phone_number_id: str
    direction: str
    wa_id: str
    type: str
    payload: dict[str, Any]
    created_at: float
    status: str = "accepted"
    to_input: str | None = None
    api_version: str = "v23.0"
    biz_opaque_callback_data: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    status_history: list[dict[str, Any]] = field(default_factory=list)
    async_error_code: int | None = None
    pricing_category: str = "service"
    pricing_type: str = "free_customer_service"
    read_requested: bool = False
    rendered: dict[str, Any] | None = None

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("read_requested")
        return data


@dataclass
class Customer:
    phone_number_id: str
    wa_id: str
    name: str = ""
    last_inbound_at: float | None = None
    typing_until: float | None = None


@dataclass
class Faults:
    latency_ms: int = 0
    fail_next_5xx: int = 0
    timeout_after_accept_next: int = 0
    timeout_hang_s: float = 30.0
    # Every send is accepted and recorded (its statuses follow), then its answer is held this long.
    hang_after_accept_ms: int = 0
    duplicate_webhooks: bool = False
    reorder_statuses: bool = False
    error_next: dict[int, int] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["error_next"] = {str(code): n for code, n in self.error_next.items()}
        return data


@dataclass
class Settings:
    review_delay_s: float | None = 2.0  # None: templates stay PENDING until approved through the admin API
    sent_delay_s: float = 0.05
    delivered_delay_s: float = 0.15
    webhook_retry_delays_s: tuple[float, ...] = DEFAULT_RETRY_DELAYS_S
    webhook_timeout_s: float = 5.0
    public_base_url: str | None = None  # host written into media URLs of inbound webhooks
    media_url_in_webhooks: bool = True
    throughput_error_http_status: int = 400  # Meta's error-code table says 400; some observe 429
    window_s: float = 24 * 3600
    media_url_ttl_s: float = 300
    catalog_batch_delay_s: float = 0.5  # items_batch: applied this long after it was accepted (0 = at once)
    # product / product_list sends naming a catalog or a product the fake's store lacks (or a staging product):
    # refused with 131009 (COMMERCE §2.6; Meta's wording unverified), else accepted and shown by their SKU.
    check_catalog_products: bool = False
    max_recorded: int = 10_000

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["webhook_retry_delays_s"] = list(self.webhook_retry_delays_s)
        return data


# Catalog management (COMMERCE.md §4): catalogs made in Commerce Manager (here: the admin API), at most one linked
# to a WABA, products keyed by retailer_id holding Graph ProductItem fields, batches applied after a delay.
PRODUCT_AVAILABILITY = (
    "in stock",
    "out of stock",
    "preorder",
    "available for order",
    "discontinued",
    "pending",
    "mark_as_sold",
    "mark_as_expired",
)
PRODUCT_CONDITION = ("new", "refurbished", "used", "used_like_new", "used_good", "used_fair", "cpo", "open_box_new")
PRODUCT_VISIBILITY = ("published", "staging")
CURRENCY_SYMBOLS = {"BRL": "R$", "USD": "$", "EUR": "€"}


def price_display(minor: int, currency: str) -> str:
    """``price`` as Graph reads it back (a display string): ``5990`` BRL as ``R$59,90`` (format unverified)."""
    whole, cents = divmod(minor, 100)
    if currency == "BRL":
        return f"R${whole:,}".replace(",", ".") + f",{cents:02d}"
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{whole:,}.{cents:02d}" if symbol else f"{whole:,}.{cents:02d} {currency}"


@dataclass
class CatalogProduct:
    """A Graph ``ProductItem`` of a catalog; ``price`` in minor units as written, shown as a string when read."""

    id: str
    retailer_id: str
    name: str
    price: int
    currency: str
    description: str = ""
    image_url: str = ""
    url: str = ""
    brand: str = ""
    availability: str = "in stock"
    condition: str = "new"
    visibility: str = "published"
    category: str = ""
    inventory: int | None = None
    review_status: str = "approved"

    def graph(self) -> dict[str, Any]:
        data = asdict(self)
        data["price"] = price_display(self.price, self.currency)
        if data["inventory"] is None:
            del data["inventory"]
        return data

    def public(self) -> dict[str, Any]:
        return {**asdict(self), "price_display": price_display(self.price, self.currency)}


@dataclass
class Catalog:
    id: str
    name: str
    owner_waba_id: str | None = None  # the business's account; None: any token of the fake may use it
    products: dict[str, CatalogProduct] = field(default_factory=dict)  # by retailer_id
    # Injected rejections (admin API): retailer_id -> {"message", "stage": "validation" | "ingestion"}.
    item_errors: dict[str, dict[str, str]] = field(default_factory=dict)

    def public(self, linked_wabas: list[str]) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "waba_id": self.owner_waba_id,
            "linked_waba_ids": linked_wabas,
            "products": [p.public() for p in self.products.values()],
            "item_errors": dict(self.item_errors),
        }


@dataclass
class CatalogBatch:
    handle: str
    catalog_id: str
    requests: list[dict[str, Any]]  # the valid requests, applied in order
    allow_upsert: bool
    created_at: float
    status: str = "in_progress"  # in_progress | finished
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    ids_of_invalid_requests: list[str] = field(default_factory=list)

    def graph(self) -> dict[str, Any]:
        return {
            "handle": self.handle,
            "status": self.status,
            "errors": list(self.errors),
            "errors_total_count": len(self.errors),
            "warnings": list(self.warnings),
            "warnings_total_count": len(self.warnings),
            "ids_of_invalid_requests": list(self.ids_of_invalid_requests),
        }


@dataclass
class CommerceSettings:
    id: str
    is_cart_enabled: bool = True  # COMMERCE.md §1: cart on, catalog hidden by default
    is_catalog_visible: bool = False


@dataclass
class WebhookDelivery:
    id: int
    phone_number_id: str
    url: str
    event_field: str  # the change's "field": messages, message_template_status_update, ...
    body: bytes
    headers: dict[str, str]
    state: str = "pending"  # pending | delivered | failed
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "phone_number_id": self.phone_number_id,
            "url": self.url,
            "field": self.event_field,
            "body": self.body.decode("ascii"),
            "state": self.state,
            "attempts": list(self.attempts),
        }


class FakeState:
    def __init__(self, settings: Settings | None = None) -> None:
        self.lock = threading.RLock()
        self.settings = settings or Settings()
        self.clear()

    def clear(self) -> None:
        """Forget everything except settings (the admin ``/_fake/reset``)."""
        with self.lock:
            self.numbers: dict[str, PhoneNumber] = {}
            self.templates: dict[str, Template] = {}
            self.upload_sessions: dict[str, UploadSession] = {}  # by the session part of "upload:<session>"
            self.upload_handles: dict[str, UploadSession] = {}  # by the handle ("h") of a finished upload
            self.media: dict[str, Media] = {}
            self.media_urls: dict[str, MediaUrl] = {}
            self.messages: dict[str, Message] = {}
            self.customers: dict[tuple[str, str], Customer] = {}
            self.conversations: dict[tuple[str, str, str], tuple[str, float]] = {}
            self.throughput_log: dict[str, deque[float]] = {}
            self.pair_buckets: dict[tuple[str, str], list[float]] = {}
            self.requests: deque[dict[str, Any]] = deque(maxlen=self.settings.max_recorded)
            self.webhooks: deque[WebhookDelivery] = deque(maxlen=self.settings.max_recorded)
            self.faults = Faults()
            self.request_seq = 0
            self.webhook_seq = 0
            self.hang_generation = 0
            self.catalogs: dict[str, Catalog] = {}
            self.waba_catalogs: dict[str, str] = {}  # waba_id -> the one linked catalog_id
            self.product_items: dict[str, tuple[str, str]] = {}  # product item id -> (catalog_id, retailer_id)
            self.catalog_batches: dict[str, CatalogBatch] = {}  # by handle
            self.commerce_settings: dict[str, CommerceSettings] = {}  # by phone_number_id

    def catalog_product(self, catalog_id: str, retailer_id: str) -> dict[str, Any] | None:
        """A copy of one product of a catalog (Graph fields, ``price`` in minor units, ``price_display``), or None."""
        with self.lock:
            catalog = self.catalogs.get(catalog_id)
            product = catalog.products.get(retailer_id) if catalog else None
            return product.public() if product else None

    def catalog_products(self, catalog_id: str) -> list[dict[str, Any]]:
        """Copies of every product of a catalog, in the order they were added (empty for an unknown catalog)."""
        with self.lock:
            catalog = self.catalogs.get(catalog_id)
            return [p.public() for p in catalog.products.values()] if catalog else []

    def waba_catalog(self, waba_id: str) -> str | None:
        """The id of the catalog linked to a WABA (at most one), or None."""
        with self.lock:
            return self.waba_catalogs.get(waba_id)

    def commerce_settings_of(self, phone_number_id: str) -> dict[str, bool]:
        """A number's commerce settings (defaults when never set): ``is_cart_enabled``, ``is_catalog_visible``."""
        with self.lock:
            found = self.commerce_settings.get(phone_number_id)
            found = found or CommerceSettings(id="")
            return {"is_cart_enabled": found.is_cart_enabled, "is_catalog_visible": found.is_catalog_visible}

    def numbers_in_waba(self, waba_id: str) -> list[PhoneNumber]:
        with self.lock:
            return [n for n in self.numbers.values() if n.waba_id == waba_id]

    def known_wa_id(self, phone_number_id: str, wa_id: str) -> str:
        """The id this person already has here: as WhatsApp does, a Brazilian mobile is one person with
        or without its ninth digit (``55 11 9xxxx-xxxx`` and the older ``55 11 xxxx-xxxx``)."""
        with self.lock:
            if (phone_number_id, wa_id) in self.customers:
                return wa_id
            other = brazilian_mobile_twin(wa_id)
            if other and (phone_number_id, other) in self.customers:
                return other
            return wa_id

    def customer(self, phone_number_id: str, wa_id: str) -> Customer:
        with self.lock:
            key = (phone_number_id, self.known_wa_id(phone_number_id, wa_id))
            if key not in self.customers:
                self.customers[key] = Customer(phone_number_id=phone_number_id, wa_id=wa_id)
            return self.customers[key]


def brazilian_mobile_twin(wa_id: str) -> str | None:
    """The other form of a Brazilian mobile number (with the ninth digit added or removed), if it is one."""
    if not wa_id.startswith("55") or "0" in wa_id[2:4]:
        return None
    if len(wa_id) == 12 and wa_id[4] in "6789":
        return f"{wa_id[:4]}9{wa_id[4:]}"
    if len(wa_id) == 13 and wa_id[4] == "9" and wa_id[5] in "6789":
        return f"{wa_id[:4]}{wa_id[5:]}"
    return None
