"""Catalog management of the fake (COMMERCE.md §4): the catalog linked to a WABA, a number's commerce settings,
products addressed by ``retailer_id``, and ``items_batch`` applied asynchronously with a status to check.

Independent of HTTP like ``engine.py``; ``catalog_api.py`` translates requests to these calls. State lives in
``FakeState`` (``catalogs``, ``waba_catalogs``, ``product_items``, ``catalog_batches``, ``commerce_settings``);
other fake code reads products through ``FakeState.catalog_product`` / ``catalog_products``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import fields as dataclass_fields
from typing import Any
from urllib.parse import urlsplit

from whatsapp.fake import errors, ids
from whatsapp.fake.state import (
    PRODUCT_AVAILABILITY,
    PRODUCT_CONDITION,
    PRODUCT_VISIBILITY,
    Catalog,
    CatalogBatch,
    CatalogProduct,
    CommerceSettings,
    FakeState,
    PhoneNumber,
)

BATCH_MAX = 5000
RETAILER_ID_MAX = 100
NAME_MAX = 200
DESCRIPTION_MAX = 9999
PRICE_MAX = 2**63 - 1
# items_batch's feed-style price: "59.90 BRL" (COMMERCE.md §4.4, community usage).
FEED_PRICE = re.compile(r"^\s*(\d{1,16})(?:\.(\d{1,2}))?\s+([A-Z]{3})\s*$")
# Feed field names of items_batch ``data`` -> Graph ProductItem fields.
FEED_FIELDS = {
    "title": "name",
    "description": "description",
    "availability": "availability",
    "condition": "condition",
    "link": "url",
    "image_link": "image_url",
    "brand": "brand",
    "visibility": "visibility",
    "product_type": "category",
    "category": "category",
    "inventory": "inventory",
}
GRAPH_WRITABLE = {
    "retailer_id",
    "name",
    "description",
    "price",
    "currency",
    "image_url",
    "url",
    "brand",
    "availability",
    "condition",
    "visibility",
    "category",
    "inventory",
}


CATALOG_ERRORS = {
    200: lambda: errors.GraphError(
        http_status=403,
        code=200,
        message="(#200) Requires catalog_management permission to manage the object",
    ),
    80008: lambda: errors.GraphError(
        http_status=400,
        code=80008,
        message="(#80008) There have been too many calls to this WhatsApp Business account. Wait a bit and try again.",
        extra={"is_transient": True},
    ),
    80014: lambda: errors.GraphError(
        http_status=400,
        code=80014,
        message="(#80014) There have been too many calls for this catalog. Wait a bit and try again.",
        extra={"is_transient": True},
    ),
}


class CatalogAdminError(Exception):
    """A bad request to the admin API's catalogs (``catalog_api`` answers it as the admin API's errors)."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class ItemInvalid(Exception):
    """One product's values refused; the message is what Meta would say about the item."""


def _bool_param(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1"}:
        return True
    if text in {"false", "0"}:
        return False
    raise errors.invalid_parameter(f"Param {name} must be a boolean (true or false).")


def _url(name: str, value: Any) -> str:
    text = str(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ItemInvalid(f"Invalid {name}: must be an http(s) URL.")
    return text


def clean_graph_fields(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Graph ProductItem fields as ``POST /{catalog_id}/products`` or ``POST /{product_item_id}`` take them."""
    values: dict[str, Any] = {}
    for key in GRAPH_WRITABLE & set(data):
        value = data[key]
        if key == "price":
            if isinstance(value, bool):
                raise ItemInvalid("Param price must be an unsigned integer (minor units, e.g. 5990).")
            try:
                price = int(str(value).strip()) if not isinstance(value, int) else value
            except ValueError:
                raise ItemInvalid("Param price must be an unsigned integer (minor units, e.g. 5990).") from None
            if not 0 <= price <= PRICE_MAX:
                raise ItemInvalid("Param price must be an unsigned integer (minor units, e.g. 5990).")
            values["price"] = price
        elif key == "inventory":
            try:
                values["inventory"] = max(int(value), 0)
            except (TypeError, ValueError):
                raise ItemInvalid("Param inventory must be an unsigned integer.") from None
        elif key in {"image_url", "url"}:
            values[key] = _url(key, value) if str(value).strip() else ""
        else:
            values[key] = str(value)
    _check_values(values)
    if creating:
        missing = [k for k in ("retailer_id", "name", "price", "currency") if values.get(k) in (None, "")]
        if missing:
            raise ItemInvalid(f"The parameter {missing[0]} is required.")
    return values


def _check_values(values: dict[str, Any]) -> None:
    if "retailer_id" in values:
        retailer_id = values["retailer_id"].strip()
        if not retailer_id or len(retailer_id) > RETAILER_ID_MAX:
            raise ItemInvalid(f"Param retailer_id must be 1 to {RETAILER_ID_MAX} characters.")
        values["retailer_id"] = retailer_id
    if "name" in values and not 1 <= len(values["name"].strip()) <= NAME_MAX:
        raise ItemInvalid(f"Param name must be 1 to {NAME_MAX} characters.")
    if len(values.get("description", "")) > DESCRIPTION_MAX:
        raise ItemInvalid(f"Param description must be at most {DESCRIPTION_MAX} characters.")
    if "currency" in values and not re.fullmatch(r"[A-Z]{3}", values["currency"]):
        raise ItemInvalid("Param currency must be an ISO 4217 currency code.")
    for key, allowed in (
        ("availability", PRODUCT_AVAILABILITY),
        ("condition", PRODUCT_CONDITION),
        ("visibility", PRODUCT_VISIBILITY),
    ):
        if key in values and values[key] not in allowed:
            raise ItemInvalid(f"Param {key} must be one of {{{', '.join(allowed)}}}.")


def feed_values(data: dict[str, Any]) -> dict[str, Any]:
    """An items_batch ``data`` object (feed field names) as Graph fields; ``id`` is the retailer_id."""
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "id":
            continue
        if key == "price":
            match = FEED_PRICE.match(str(value))
            if not match:
                raise ItemInvalid('Invalid price: write the amount and the currency, e.g. "59.90 BRL".')
            whole, cents, currency = match.groups()
            values["price"] = int(whole) * 100 + int((cents or "0").ljust(2, "0"))
            values["currency"] = currency
        elif key in FEED_FIELDS:
            target = FEED_FIELDS[key]
            if target == "inventory":
                try:
                    values[target] = max(int(value), 0)
                except (TypeError, ValueError):
                    raise ItemInvalid("Invalid inventory: must be an unsigned integer.") from None
            elif target in {"url", "image_url"}:
                values[target] = _url(key, value) if str(value).strip() else ""
            else:
                values[target] = str(value)
    _check_values(values)
    return values


class CatalogStore:
    """The catalog part of the engine (one per ``FakeEngine``, which hands over its token checks, clock and timer)."""

    def __init__(
        self,
        state: FakeState,
        *,
        check_token: Callable[[str | None], None],
        waba_numbers: Callable[[str, str | None, str], list[PhoneNumber]],
        now: Callable[[], float],
        call_later: Callable[..., None],
    ) -> None:
        self.state = state
        self.check_token = check_token
        self.waba_numbers_of = waba_numbers
        self.now = now
        self.call_later = call_later

    # ------------------------------------------------------------------ injected errors

    def injected_error(self, *codes: int) -> None:
        """Raise the first of ``codes`` that ``error_next`` (admin faults) holds, spending it: 200 (permission),
        80008 (the WABA's rate limit), 80014 (the catalog batch API's rate limit). Other codes stay for sends."""
        with self.state.lock:
            pending = self.state.faults.error_next
            code = next((c for c in codes if pending.get(c)), None)
            if code is None:
                return
            pending[code] -= 1
            if not pending[code]:
                del pending[code]
        raise CATALOG_ERRORS[code]()

    # ------------------------------------------------------------------ admin

    def create(self, data: Any) -> Catalog:
        if not isinstance(data, dict):
            raise CatalogAdminError("a catalog must be a JSON object")
        catalog_id = str(data.get("id") or data.get("catalog_id") or ids.object_id())
        if not catalog_id.isdigit():
            raise CatalogAdminError("a catalog id is a string of digits")
        name = str(data.get("name") or f"Catalog {catalog_id}")
        waba_id = data.get("waba_id")
        with self.state.lock:
            existing = self.state.catalogs.get(catalog_id)
            if existing is not None:
                existing.name = name
                existing.owner_waba_id = str(waba_id) if waba_id else existing.owner_waba_id
                return existing
            if catalog_id in self.state.product_items:
                raise CatalogAdminError("that id is a product item's")
            catalog = Catalog(id=catalog_id, name=name, owner_waba_id=str(waba_id) if waba_id else None)
            self.state.catalogs[catalog_id] = catalog
            return catalog

    def delete(self, catalog_id: str) -> bool:
        with self.state.lock:
            catalog = self.state.catalogs.pop(catalog_id, None)
            if catalog is None:
                return False
            for product in catalog.products.values():
                self.state.product_items.pop(product.id, None)
            for waba_id in [w for w, c in self.state.waba_catalogs.items() if c == catalog_id]:
                del self.state.waba_catalogs[waba_id]
            return True

    def linked_wabas(self, catalog_id: str) -> list[str]:
        with self.state.lock:
            return sorted(w for w, c in self.state.waba_catalogs.items() if c == catalog_id)

    def set_item_errors(self, catalog_id: str, data: Any) -> dict[str, dict[str, str]]:
        if not isinstance(data, dict):
            raise CatalogAdminError('item errors map retailer ids to a message (null removes): {"SKU-1": "..."}')
        with self.state.lock:
            catalog = self.state.catalogs.get(catalog_id)
            if catalog is None:
                raise CatalogAdminError("unknown catalog", 404)
            for retailer_id, spec in data.items():
                if spec is None:
                    catalog.item_errors.pop(str(retailer_id), None)
                    continue
                if isinstance(spec, str):
                    spec = {"message": spec}
                if not isinstance(spec, dict) or not spec.get("message"):
                    raise CatalogAdminError("each item error needs a message")
                stage = str(spec.get("stage") or "ingestion")
                if stage not in {"validation", "ingestion"}:
                    raise CatalogAdminError("stage is validation or ingestion")
                catalog.item_errors[str(retailer_id)] = {"message": str(spec["message"]), "stage": stage}
            return dict(catalog.item_errors)

    # ------------------------------------------------------------------ access

    def _tokens_wabas(self, token: str | None) -> set[str]:
        return {n.waba_id for n in self.state.numbers.values() if n.access_token == token}

    def catalog_for(self, catalog_id: str, token: str | None, method: str) -> Catalog:
        """The catalog, if the token's business may use it: it owns it, or one of its WABAs is linked to it."""
        with self.state.lock:
            self.check_token(token)
            catalog = self.state.catalogs.get(catalog_id)
            if catalog is None:
                raise errors.unknown_object(catalog_id, method)
            if catalog.owner_waba_id is None:
                return catalog
            allowed = {catalog.owner_waba_id} | {w for w, c in self.state.waba_catalogs.items() if c == catalog_id}
            if not self._tokens_wabas(token) & allowed:
                raise errors.unknown_object(catalog_id, method)
            return catalog

    def product_for(self, item_id: str, token: str | None, method: str) -> tuple[Catalog, CatalogProduct]:
        with self.state.lock:
            self.check_token(token)
            where = self.state.product_items.get(item_id)
            if where is None:
                raise errors.unknown_object(item_id, method)
            try:
                catalog = self.catalog_for(where[0], token, method)
            except errors.GraphError:
                raise errors.unknown_object(item_id, method) from None
            return catalog, catalog.products[where[1]]

    # ------------------------------------------------------------------ WABA link and commerce settings

    def waba_catalogs(self, waba_id: str, token: str | None, method: str) -> list[Catalog]:
        with self.state.lock:
            self.waba_numbers_of(waba_id, token, method)
            linked = self.state.waba_catalogs.get(waba_id)
            return [self.state.catalogs[linked]] if linked in self.state.catalogs else []

    def link(self, waba_id: str, catalog_id: str, token: str | None) -> None:
        with self.state.lock:
            self.waba_numbers_of(waba_id, token, "POST")
            if not catalog_id:
                raise errors.missing_parameter("catalog_id")
            if not catalog_id.isdigit():
                raise errors.invalid_parameter("Param catalog_id must be a valid ID string (e.g., '123').")
            catalog = self.state.catalogs.get(catalog_id)
            if catalog is None or (
                catalog.owner_waba_id is not None
                and catalog.owner_waba_id != waba_id
                and catalog.owner_waba_id not in self._tokens_wabas(token)
            ):
                raise errors.unknown_object(catalog_id, "POST")
            current = self.state.waba_catalogs.get(waba_id)
            if current is not None and current != catalog_id:
                raise errors.invalid_parameter(
                    f"WhatsApp Business Account {waba_id} is already connected to catalog {current}; "
                    "only one catalog can be connected. Disconnect it first."
                )
            self.state.waba_catalogs[waba_id] = catalog_id

    def unlink(self, waba_id: str, catalog_id: str, token: str | None) -> None:
        with self.state.lock:
            self.waba_numbers_of(waba_id, token, "DELETE")
            if not catalog_id:
                raise errors.missing_parameter("catalog_id")
            if self.state.waba_catalogs.get(waba_id) != catalog_id:
                raise errors.invalid_parameter(
                    f"Catalog {catalog_id} is not connected to WhatsApp Business Account {waba_id}."
                )
            del self.state.waba_catalogs[waba_id]

    def settings_of(self, number: PhoneNumber) -> CommerceSettings:
        with self.state.lock:
            found = self.state.commerce_settings.get(number.phone_number_id)
            if found is None:
                found = CommerceSettings(id=ids.object_id())
                self.state.commerce_settings[number.phone_number_id] = found
            return found

    def update_settings(self, number: PhoneNumber, params: dict[str, Any]) -> None:
        wanted = {k: params[k] for k in ("is_cart_enabled", "is_catalog_visible") if k in params}
        if not wanted:
            raise errors.missing_parameter("is_cart_enabled or is_catalog_visible")
        values = {k: _bool_param(k, v) for k, v in wanted.items()}
        with self.state.lock:
            found = self.settings_of(number)
            for key, value in values.items():
                setattr(found, key, value)

    # ------------------------------------------------------------------ products

    def _add(self, catalog: Catalog, values: dict[str, Any]) -> CatalogProduct:
        allowed = {f.name for f in dataclass_fields(CatalogProduct)} - {"id", "review_status"}
        product = CatalogProduct(id=ids.object_id(), **{k: v for k, v in values.items() if k in allowed})
        catalog.products[product.retailer_id] = product
        self.state.product_items[product.id] = (catalog.id, product.retailer_id)
        return product

    def _change(self, catalog: Catalog, product: CatalogProduct, values: dict[str, Any]) -> None:
        new_id = values.get("retailer_id", product.retailer_id)
        if new_id != product.retailer_id:
            if new_id in catalog.products:
                raise ItemInvalid(f"Duplicate retailer_id {new_id} in this catalog.")
            del catalog.products[product.retailer_id]
            catalog.products[new_id] = product
            self.state.product_items[product.id] = (catalog.id, new_id)
        for key, value in values.items():
            setattr(product, key, value)

    def _remove(self, catalog: Catalog, retailer_id: str) -> bool:
        product = catalog.products.pop(retailer_id, None)
        if product is None:
            return False
        self.state.product_items.pop(product.id, None)
        return True

    def create_product(self, catalog: Catalog, data: Any) -> CatalogProduct:
        if not isinstance(data, dict):
            raise errors.invalid_parameter("Request body must be a JSON object.")
        upsert = _bool_param("allow_upsert", data.get("allow_upsert", False))
        try:
            values = clean_graph_fields(data, creating=True)
        except ItemInvalid as exc:
            raise errors.invalid_parameter(str(exc)) from None
        with self.state.lock:
            existing = catalog.products.get(values["retailer_id"])
            if existing is not None:
                if not upsert:
                    raise errors.invalid_parameter(
                        f"A product with retailer_id {values['retailer_id']} already exists in this catalog "
                        f"(product item {existing.id})."
                    )
                self._change(catalog, existing, values)
                return existing
            return self._add(catalog, values)

    def update_product(self, catalog: Catalog, product: CatalogProduct, data: Any) -> None:
        if not isinstance(data, dict):
            raise errors.invalid_parameter("Request body must be a JSON object.")
        try:
            values = clean_graph_fields(data, creating=False)
            with self.state.lock:
                self._change(catalog, product, values)
        except ItemInvalid as exc:
            raise errors.invalid_parameter(str(exc)) from None

    def delete_product(self, catalog: Catalog, product: CatalogProduct) -> None:
        with self.state.lock:
            self._remove(catalog, product.retailer_id)

    # ------------------------------------------------------------------ items_batch

    def batch(self, catalog: Catalog, body: Any) -> dict[str, Any]:
        """Validate a batch now (``validation_status``), apply its valid requests later; Meta's answer."""
        if not isinstance(body, dict):
            raise errors.invalid_parameter("Request body must be a JSON object.")
        if not body.get("item_type"):
            raise errors.missing_parameter("item_type")
        if body["item_type"] != "PRODUCT_ITEM":
            raise errors.invalid_parameter("Param item_type must be one of {PRODUCT_ITEM}.")
        requests = body.get("requests")
        if requests is None:
            raise errors.missing_parameter("requests")
        if not isinstance(requests, list) or not requests:
            raise errors.invalid_parameter("Param requests must be a non-empty array.")
        if len(requests) > BATCH_MAX:
            raise errors.invalid_parameter(f"Param requests must have at most {BATCH_MAX} items.")
        allow_upsert = _bool_param("allow_upsert", body.get("allow_upsert", True))
        with self.state.lock:
            self.injected_error(80014)
            statuses: list[dict[str, Any]] = []
            valid: list[dict[str, Any]] = []
            for line, request in enumerate(requests):
                status, parsed = self._validate(catalog, request, allow_upsert)
                statuses.append(status)
                if parsed is not None:
                    valid.append({**parsed, "line": line})
            handles: list[str] = []
            if valid:
                handle = secrets.token_urlsafe(66).replace("-", "A").replace("_", "B")
                self.state.catalog_batches[handle] = CatalogBatch(
                    handle=handle,
                    catalog_id=catalog.id,
                    requests=valid,
                    allow_upsert=allow_upsert,
                    created_at=self.now(),
                )
                handles.append(handle)
            delay = self.state.settings.catalog_batch_delay_s
        if handles:
            if delay and delay > 0:
                self.call_later(delay, self.apply_batch, handles[0])
            else:
                self.apply_batch(handles[0])
        return {"handles": handles, "validation_status": statuses}

    def _validate(
        self, catalog: Catalog, request: Any, allow_upsert: bool
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        data = request.get("data") if isinstance(request, dict) else None
        retailer_id = str(data.get("id", "")).strip() if isinstance(data, dict) else ""
        status: dict[str, Any] = {"retailer_id": retailer_id, "errors": [], "warnings": []}

        def refuse(message: str) -> tuple[dict[str, Any], None]:
            status["errors"].append({"message": message})
            return status, None

        method = request.get("method") if isinstance(request, dict) else None
        if method not in {"CREATE", "UPDATE", "DELETE"}:
            return refuse("Invalid method: must be one of CREATE, UPDATE, DELETE.")
        if not isinstance(data, dict):
            return refuse("Missing data object.")
        if not retailer_id:
            return refuse("Missing required field: id.")
        if len(retailer_id) > RETAILER_ID_MAX:
            return refuse(f"Invalid id: at most {RETAILER_ID_MAX} characters.")
        injected = catalog.item_errors.get(retailer_id)
        if injected and injected["stage"] == "validation":
            return refuse(injected["message"])
        if method == "DELETE":
            return status, {"method": method, "retailer_id": retailer_id, "values": {}}
        try:
            values = feed_values(data)
        except ItemInvalid as exc:
            return refuse(str(exc))
        creating = method == "CREATE" or (allow_upsert and retailer_id not in catalog.products)
        if creating:
            for feed_name, graph_name in (("title", "name"), ("price", "price")):
                if graph_name not in values:
                    return refuse(f"Missing required field: {feed_name}.")
        return status, {"method": method, "retailer_id": retailer_id, "values": values}

    def apply_batch(self, handle: str) -> None:
        with self.state.lock:
            batch = self.state.catalog_batches.get(handle)
            catalog = self.state.catalogs.get(batch.catalog_id) if batch else None
            if batch is None or batch.status == "finished":
                return
            for request in batch.requests:
                line, retailer_id = request["line"], request["retailer_id"]
                method, values = request["method"], request["values"]

                def fail(message: str, line: int = line, retailer_id: str = retailer_id) -> None:
                    batch.errors.append({"line": line, "id": retailer_id, "message": message})
                    batch.ids_of_invalid_requests.append(retailer_id)

                if catalog is None:
                    fail("The catalog no longer exists.")
                    continue
                injected = catalog.item_errors.get(retailer_id)
                if injected and injected["stage"] == "ingestion" and method != "DELETE":
                    fail(injected["message"])
                    continue
                existing = catalog.products.get(retailer_id)
                if method == "DELETE":
                    if not self._remove(catalog, retailer_id):
                        batch.warnings.append(
                            {"line": line, "id": retailer_id, "message": "Item not found: nothing to delete."}
                        )
                elif method == "CREATE" and existing is not None:
                    fail(f"Duplicate retailer_id {retailer_id}: the item already exists.")
                elif existing is not None:
                    self._change(catalog, existing, values)
                elif method == "UPDATE" and not batch.allow_upsert:
                    fail(f"Item not found: no product with retailer_id {retailer_id} in this catalog.")
                else:
                    self._add(catalog, {"retailer_id": retailer_id, "currency": "", **values})
            batch.status = "finished"

    def batch_status(self, catalog: Catalog, handle: str) -> dict[str, Any]:
        if not handle:
            raise errors.missing_parameter("handle")
        with self.state.lock:
            batch = self.state.catalog_batches.get(handle)
            if batch is None or batch.catalog_id != catalog.id:
                raise errors.invalid_parameter(f"Invalid handle {handle} for catalog {catalog.id}.")
            return batch.graph()
