"""View model of one chat for the customer-phone simulator page (``/simulator/``), polled as JSON."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from whatsapp.fake.state import FakeState, Message, PhoneNumber

STATIC_DIR = Path(__file__).parent / "static"
COMMERCE_TYPES = {"product", "product_list", "catalog_message"}
# ISO 4217 currencies without cents (an order's item_price is the unit price in major units, COMMERCE §3.1).
ZERO_DECIMAL_CURRENCIES = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "XAF"}


def chat_state(state: FakeState, *, phone_number_id: str, wa_id: str, now: float) -> dict[str, Any]:
    with state.lock:
        wa_id = state.known_wa_id(phone_number_id, wa_id) if phone_number_id and wa_id else wa_id
        numbers = [
            {
                "phone_number_id": n.phone_number_id,
                "display_phone_number": n.display_phone_number,
                "verified_name": n.verified_name,
            }
            for n in state.numbers.values()
        ]
        customer = state.customers.get((phone_number_id, wa_id))
        chat = [
            m
            for m in state.messages.values()
            if m.phone_number_id == phone_number_id and m.wa_id == wa_id and phone_number_id and wa_id
        ]
        reactions: dict[str, dict[str, str]] = {}
        views = []
        for message in chat:
            if message.type == "reaction":
                node = message.payload.get("reaction") or {}
                side = "business" if message.direction == "out" else "customer"
                reactions.setdefault(str(node.get("message_id")), {})[side] = str(node.get("emoji") or "")
                continue
            view = _view(message)
            number = state.numbers.get(phone_number_id)
            node = message.payload.get("interactive") or {}
            if "interactive" in view and node.get("type") in COMMERCE_TYPES and number is not None:
                view["interactive"]["commerce"] = _commerce_view(state, number, node)
            referred = (message.payload.get("context") or {}).get("referred_product")
            if message.direction == "in" and isinstance(referred, dict):
                view["referred_product"] = _product_view(
                    state, str(referred.get("catalog_id", "")), str(referred.get("product_retailer_id", ""))
                )
            views.append(view)
        for view in views:
            view["reactions"] = {k: v for k, v in reactions.get(view["wamid"], {}).items() if v}
        _orders_follow_their_status(views)
        window_until = None
        if customer is not None and customer.last_inbound_at is not None:
            window_until = int(customer.last_inbound_at + state.settings.window_s)
        return {
            "now": int(now),
            "numbers": numbers,
            "customer": {
                "wa_id": wa_id,
                "name": customer.name if customer else "",
                "typing": bool(customer and customer.typing_until and customer.typing_until > now),
                "window_open_until": window_until,
            },
            "messages": views,
        }


def _media_view(kind: str, node: dict[str, Any]) -> dict[str, Any]:
    view = {"kind": kind, "mime_type": node.get("mime_type", "")}
    if node.get("id"):
        view["src"] = f"/_fake/media/{node['id']}"
    elif node.get("link"):
        view["src"] = str(node["link"])
    for key in ("caption", "filename"):
        if node.get(key):
            view[key] = str(node[key])
    return view


def _interactive_view(node: dict[str, Any]) -> dict[str, Any]:
    kind = node.get("type")
    view: dict[str, Any] = {"type": kind, "body": (node.get("body") or {}).get("text", "")}
    header = node.get("header") or {}
    if header.get("type") == "text":
        view["header"] = {"type": "text", "text": header.get("text", "")}
    elif header.get("type"):
        view["header"] = {
            "type": header["type"],
            "media": _media_view(header["type"], header.get(header["type"]) or {}),
        }
    view["footer"] = (node.get("footer") or {}).get("text", "")
    action = node.get("action") or {}
    if kind == "button":
        view["buttons"] = [
            {"id": (b.get("reply") or {}).get("id", ""), "title": (b.get("reply") or {}).get("title", "")}
            for b in action.get("buttons") or []
        ]
    elif kind == "list":
        view["list"] = {
            "button": action.get("button", ""),
            "sections": [
                {
                    "title": s.get("title", ""),
                    "rows": [
                        {"id": r.get("id", ""), "title": r.get("title", ""), "description": r.get("description", "")}
                        for r in s.get("rows") or []
                    ],
                }
                for s in action.get("sections") or []
            ],
        }
    elif kind == "cta_url":
        params = action.get("parameters") or {}
        view["cta"] = {"display_text": params.get("display_text", ""), "url": params.get("url", "")}
    elif kind == "flow":
        view["cta"] = {"display_text": (action.get("parameters") or {}).get("flow_cta", ""), "url": ""}
    elif kind in {"order_details", "order_status"}:
        params = action.get("parameters") or {}
        view["order"] = _order_summary(kind, params)
    return view


def _product_view(state: FakeState, catalog_id: str, retailer_id: str) -> dict[str, Any]:
    """A product as the phone shows it, from the fake's catalog store; an unknown one by its SKU only."""
    found = state.catalog_product(catalog_id, retailer_id) if catalog_id else None
    if found is None:
        return {"catalog_id": catalog_id, "retailer_id": retailer_id, "known": False}
    currency = str(found.get("currency") or "")
    exponent = 0 if currency in ZERO_DECIMAL_CURRENCIES else 2
    return {
        "catalog_id": catalog_id,
        "retailer_id": retailer_id,
        "known": True,
        "name": str(found.get("name") or ""),
        "description": str(found.get("description") or ""),
        "price_display": str(found.get("price_display") or ""),
        # What the cart sends back: the unit price in major units, as a JSON number.
        "item_price": float(Decimal(int(found.get("price") or 0)).scaleb(-exponent)),
        "currency": currency,
        "image_url": str(found.get("image_url") or ""),
        "available": found.get("availability") == "in stock" and found.get("visibility", "published") == "published",
    }


def _commerce_view(state: FakeState, number: PhoneNumber, node: dict[str, Any]) -> dict[str, Any]:
    """A product, a product list or a catalog message with its products' names, prices and images."""
    kind = node.get("type")
    action = node.get("action") or {}
    cart_enabled = bool(state.commerce_settings_of(number.phone_number_id).get("is_cart_enabled", True))
    view: dict[str, Any] = {"kind": kind, "cart_enabled": cart_enabled}
    if kind == "product":
        catalog_id = str(action.get("catalog_id") or "")
        view["catalog_id"] = catalog_id
        view["product"] = _product_view(state, catalog_id, str(action.get("product_retailer_id") or ""))
    elif kind == "product_list":
        catalog_id = str(action.get("catalog_id") or "")
        view["catalog_id"] = catalog_id
        view["sections"] = [
            {
                "title": str(section.get("title") or ""),
                "products": [
                    _product_view(state, catalog_id, str(item.get("product_retailer_id") or ""))
                    for item in section.get("product_items") or []
                ],
            }
            for section in action.get("sections") or []
        ]
    else:
        # A catalog message names no catalog: it is the one linked to the number's WhatsApp Business Account.
        catalog_id = state.waba_catalog(number.waba_id) or ""
        view["catalog_id"] = catalog_id
        listed = [
            _product_view(state, catalog_id, str(p.get("retailer_id") or ""))
            for p in (state.catalog_products(catalog_id) if catalog_id else [])
            if p.get("visibility", "published") == "published"
        ]
        thumbnail = str((action.get("parameters") or {}).get("thumbnail_product_retailer_id") or "")
        view["thumbnail"] = (
            _product_view(state, catalog_id, thumbnail) if thumbnail else (listed[0] if listed else None)
        )
        view["products"] = listed
    return view


def _money(amount: Any, currency: str) -> str:
    amount = amount if isinstance(amount, dict) else {}
    value, offset = amount.get("value", 0), amount.get("offset", 100) or 100
    return f"{currency} {value / offset:.2f}"


def _order_summary(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {"reference_id": params.get("reference_id", "")}
    if kind == "order_details":
        currency = str(params.get("currency", ""))
        summary["total"] = _money(params.get("total_amount"), currency)
        order = params.get("order") or {}
        summary["items"] = [
            {
                "name": item.get("name", ""),
                "quantity": item.get("quantity", 0),
                "amount": _money(item.get("amount"), currency),
            }
            for item in order.get("items") or []
        ]
        summary["charges"] = [
            {"label": label, "amount": _money(order[key], currency)}
            for key, label in (
                ("subtotal", "Subtotal"),
                ("tax", "Tax"),
                ("shipping", "Shipping"),
                ("discount", "Discount"),
            )
            if order.get(key) and (key == "subtotal" or (order[key] or {}).get("value"))
        ]
        summary["expiration"] = (order.get("expiration") or {}).get("description", "")
        summary["status"] = order.get("status", "pending") if order else "pending"
        summary["payment_methods"] = [s.get("type", "") for s in params.get("payment_settings") or []]
        pix = next(
            (s.get("pix_dynamic_code") for s in params.get("payment_settings") or [] if s.get("pix_dynamic_code")), None
        )
        if pix:
            summary["pix_code"] = pix.get("code", "")
        link = next(
            (s.get("payment_link") for s in params.get("payment_settings") or [] if s.get("payment_link")), None
        )
        if link:
            summary["payment_link"] = link.get("uri", "")
    else:
        summary["order_status"] = (params.get("order") or {}).get("status", "")
        summary["description"] = (params.get("order") or {}).get("description", "")
        summary["payment_status"] = (params.get("payment") or {}).get("status", "")
    return summary


def _orders_follow_their_status(views: list[dict[str, Any]]) -> None:
    """As on a phone, an order's bubble shows the latest status the business sent for its reference."""
    latest: dict[str, dict[str, str]] = {}
    for view in views:
        order = (view.get("interactive") or {}).get("order")
        if order is not None and view["interactive"].get("type") == "order_status" and not view["errors"]:
            now = latest.setdefault(order["reference_id"], {})
            now.update(
                {k: v for k, v in (("status", order["order_status"]), ("payment", order["payment_status"])) if v}
            )
    for view in views:
        order = (view.get("interactive") or {}).get("order")
        if order is not None and view["interactive"].get("type") == "order_details":
            now = latest.get(order["reference_id"], {})
            order["status"] = now.get("status", order.get("status", "pending"))
            order["payment_status"] = now.get("payment", "")


def _view(message: Message) -> dict[str, Any]:
    view: dict[str, Any] = {
        "wamid": message.wamid,
        "direction": message.direction,
        "type": message.type,
        "timestamp": int(message.created_at),
        "status": message.status,
        "errors": [{"code": e.get("code"), "title": e.get("title", "")} for e in message.errors],
    }
    payload = message.payload
    node = payload.get(message.type)
    context = payload.get("context") or {}
    if context.get("message_id") or context.get("id"):
        view["context_id"] = context.get("message_id") or context.get("id")
    if message.type == "text":
        view["text"] = (node or {}).get("body", "")
    elif message.type in {"image", "audio", "video", "document", "sticker"}:
        view["media"] = _media_view(message.type, node or {})
    elif message.type == "location":
        view["location"] = {k: (node or {}).get(k) for k in ("latitude", "longitude", "name", "address")}
    elif message.type == "contacts":
        view["contacts"] = [
            {
                "name": (c.get("name") or {}).get("formatted_name", ""),
                "phones": [p.get("phone", "") for p in c.get("phones") or []],
            }
            for c in node or []
        ]
    elif message.type == "template":
        view["template"] = message.rendered or {"name": (node or {}).get("name", ""), "body": "", "buttons": []}
    elif message.type == "interactive" and message.direction == "out":
        view["interactive"] = _interactive_view(node or {})
    elif message.type == "interactive":
        reply_type = (node or {}).get("type", "")
        reply = (node or {}).get(reply_type) or {}
        view["reply"] = {
            "type": reply_type,
            "id": reply.get("id", ""),
            "title": reply.get("title", "") or reply.get("body", ""),
            "description": reply.get("description", ""),
        }
    elif message.type == "button":
        view["reply"] = {"type": "button", "id": (node or {}).get("payload", ""), "title": (node or {}).get("text", "")}
    elif message.type == "order":
        items = (node or {}).get("product_items") or []
        view["text"] = f"Order: {len(items)} item(s). {(node or {}).get('text', '')}".strip()
        view["cart"] = [
            {
                "retailer_id": str(item.get("product_retailer_id", "")),
                "quantity": item.get("quantity", 0),
                "item_price": item.get("item_price"),
                "currency": str(item.get("currency", "")),
            }
            for item in items
        ]
    return view
