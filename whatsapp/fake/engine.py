"""The fake Cloud API's behaviour, independent of HTTP: sends, limits, statuses, inbound messages, media, templates.

Handlers in ``app.py`` translate HTTP to these calls; tests may also call them directly through ``server.engine``.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import dataclasses
import hashlib
import threading
from collections import deque
from typing import Any

from whatsapp.fake import errors, ids, payloads, templates, validation
from whatsapp.fake.catalogs import CatalogStore
from whatsapp.fake.clock import Clock
from whatsapp.fake.encoding import encode_like_meta, webhook_headers
from whatsapp.fake.runtime import Scheduler, WebhookDispatcher
from whatsapp.fake.state import (
    STATUS_RANK,
    Customer,
    FakeState,
    Faults,
    Media,
    MediaUrl,
    Message,
    PhoneNumber,
    Template,
    UploadSession,
    WebhookDelivery,
)

UPLOAD_TTL_S = 30 * 24 * 3600
# What the Resumable Upload API takes (Graph API "Application Uploads": file_type values), with the limits of
# a template header's sample of that kind.
RESUMABLE_UPLOAD_LIMITS = {
    "application/pdf": 100 * 1024 * 1024,
    "image/jpeg": 5 * 1024 * 1024,
    "image/jpg": 5 * 1024 * 1024,
    "image/png": 5 * 1024 * 1024,
    "video/mp4": 16 * 1024 * 1024,
}
INBOUND_MEDIA_TTL_S = 7 * 24 * 3600
TYPING_S = 25
MEDIA_LIMITS = {
    "image": 5 * 1024 * 1024,
    "audio": 16 * 1024 * 1024,
    "video": 16 * 1024 * 1024,
    "document": 100 * 1024 * 1024,
    "sticker": 500 * 1024,
}
SUPPORTED_MIME = {
    "audio/aac": "audio",
    "audio/amr": "audio",
    "audio/mpeg": "audio",
    "audio/mp4": "audio",
    "audio/ogg": "audio",
    "audio/opus": "audio",
    "text/plain": "document",
    "application/pdf": "document",
    "application/vnd.ms-powerpoint": "document",
    "application/msword": "document",
    "application/vnd.ms-excel": "document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "document",
    "image/jpeg": "image",
    "image/png": "image",
    "image/webp": "sticker",
    "video/mp4": "video",
    "video/3gpp": "video",
}
NUMBER_DEFAULTS = {
    "webhook_url": None,
    "verified_name": "Fake Business",
    "throughput_per_s": 80,
    "pair_burst": 45,
    "pair_interval_s": 6.0,
    "auto_read": False,
}
FAULT_KEYS = {
    "latency_ms",
    "fail_next_5xx",
    "timeout_after_accept_next",
    "timeout_hang_s",
    "hang_after_accept_ms",
    "duplicate_webhooks",
    "reorder_statuses",
    "error_next",
}


class AdminError(Exception):
    """A bad request to the fake's own admin API (not a Graph error)."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def media_kind(mime_type: str) -> str | None:
    return SUPPORTED_MIME.get(mime_type.split(";")[0].strip().lower())


class FakeEngine:
    def __init__(self, state: FakeState, clock: Clock) -> None:
        self.state = state
        self.clock = clock
        self.scheduler = Scheduler()
        self.dispatcher = WebhookDispatcher(state)
        self.stopping = threading.Event()
        self._hang_epoch = 0
        self.catalogs = CatalogStore(
            state,
            check_token=self.check_token,
            waba_numbers=self.waba_numbers,
            now=self.now,
            call_later=self.scheduler.call_later,
        )

    # ------------------------------------------------------------------ lifecycle

    def now(self) -> float:
        return float(self.clock())

    def stop(self) -> None:
        self.stopping.set()
        self.abort_hangs()
        self.scheduler.stop()
        self.dispatcher.stop()

    def reset(self) -> None:
        self.scheduler.clear()
        self.dispatcher.clear()
        self.abort_hangs()
        self.state.clear()

    def pending_work(self) -> dict[str, int]:
        return {"scheduled_jobs": self.scheduler.pending(), "pending_webhooks": self.dispatcher.pending()}

    def abort_hangs(self) -> None:
        with self.state.lock:
            self._hang_epoch += 1

    def hang_epoch(self) -> int:
        with self.state.lock:
            return self._hang_epoch

    # ------------------------------------------------------------------ phone numbers

    def register_number(self, data: Any) -> PhoneNumber:
        if not isinstance(data, dict):
            raise AdminError("phone number registration must be a JSON object")
        missing = [k for k in ("phone_number_id", "display_phone_number", "waba_id", "access_token") if not data.get(k)]
        if missing:
            raise AdminError(f"missing fields: {', '.join(missing)}")
        display = validation.normalise_phone(str(data["display_phone_number"]))
        if display is None:
            raise AdminError("display_phone_number must be a phone number")
        values: dict[str, Any] = dict(NUMBER_DEFAULTS)
        for key in (*NUMBER_DEFAULTS, "quality_rating", "code_verification_status", "throughput_level"):
            if data.get(key) is not None:
                values[key] = data[key]
        try:
            number = PhoneNumber(
                phone_number_id=str(data["phone_number_id"]),
                display_phone_number=display,
                waba_id=str(data["waba_id"]),
                access_token=str(data["access_token"]),
                app_secret=str(data.get("app_secret") or ""),
                webhook_url=values["webhook_url"] or None,
                verified_name=str(values["verified_name"]),
                throughput_per_s=int(values["throughput_per_s"]),
                pair_burst=int(values["pair_burst"]),
                pair_interval_s=float(values["pair_interval_s"]),
                auto_read=bool(values["auto_read"]),
                quality_rating=str(values.get("quality_rating", "GREEN")),
                code_verification_status=str(values.get("code_verification_status", "VERIFIED")),
                throughput_level=str(values.get("throughput_level", "STANDARD")),
            )
        except (TypeError, ValueError) as exc:
            raise AdminError(f"invalid phone number registration: {exc}") from None
        with self.state.lock:
            previous = self.state.numbers.get(number.phone_number_id)
            if previous is not None:
                number.business_profile = previous.business_profile
            self.state.numbers[number.phone_number_id] = number
            if data.get("seed_templates"):
                self.seed_templates(number.waba_id)
        return number

    def seed_templates(self, waba_id: str) -> list[Template]:
        created = []
        with self.state.lock:
            existing = {(t.name, t.language) for t in self.state.templates.values() if t.waba_id == waba_id}
            for definition in templates.seed_definitions():
                if (definition["name"], definition["language"]) in existing:
                    continue
                template = Template(id=ids.object_id(), waba_id=waba_id, status="APPROVED", **definition)
                self.state.templates[template.id] = template
                created.append(template)
        return created

    # ------------------------------------------------------------------ authorisation

    def _token_known(self, token: str | None) -> bool:
        return bool(token) and any(n.access_token == token for n in self.state.numbers.values())

    def check_token(self, token: str | None) -> None:
        with self.state.lock:
            if not self._token_known(token):
                raise errors.invalid_token()

    def number_for(self, node_id: str, token: str | None, method: str) -> PhoneNumber:
        with self.state.lock:
            if not self._token_known(token):
                raise errors.invalid_token()
            number = self.state.numbers.get(node_id)
            if number is None or number.access_token != token:
                raise errors.unknown_object(node_id, method)
            return number

    def waba_numbers(self, waba_id: str, token: str | None, method: str) -> list[PhoneNumber]:
        with self.state.lock:
            if not self._token_known(token):
                raise errors.invalid_token()
            numbers = self.state.numbers_in_waba(waba_id)
            if not any(n.access_token == token for n in numbers):
                raise errors.unknown_object(waba_id, method)
            return numbers

    def media_for(self, media_id: str, token: str | None, method: str) -> Media:
        with self.state.lock:
            if not self._token_known(token):
                raise errors.invalid_token()
            media = self._live_media(media_id)
            owner = self.state.numbers.get(media.phone_number_id) if media else None
            if media is None or owner is None or owner.access_token != token:
                raise errors.unknown_object(media_id, method)
            return media

    def template_for(self, template_id: str, token: str | None, method: str) -> Template:
        with self.state.lock:
            if not self._token_known(token):
                raise errors.invalid_token()
            template = self.state.templates.get(template_id)
            if template is None or not any(
                n.access_token == token for n in self.state.numbers_in_waba(template.waba_id)
            ):
                raise errors.unknown_object(template_id, method)
            return template

    def node_kind(self, node_id: str) -> str | None:
        with self.state.lock:
            if node_id in self.state.numbers:
                return "phone_number"
            if node_id in self.state.media:
                return "media"
            if node_id in self.state.templates:
                return "template"
            if self.state.numbers_in_waba(node_id):
                return "waba"
            if node_id in self.state.catalogs:
                return "catalog"
            if node_id in self.state.product_items:
                return "product_item"
            return None

    # ------------------------------------------------------------------ catalogs (read accessors)

    def catalog_product(self, catalog_id: str, retailer_id: str) -> dict[str, Any] | None:
        """One product of a catalog as the phone would show it (see ``FakeState.catalog_product``), or None."""
        return self.state.catalog_product(catalog_id, retailer_id)

    def catalog_products(self, catalog_id: str) -> list[dict[str, Any]]:
        """Every product of a catalog (see ``FakeState.catalog_products``)."""
        return self.state.catalog_products(catalog_id)

    # ------------------------------------------------------------------ sending

    def send(
        self, *, version: str, number: PhoneNumber, body: Any, arrived_at: float | None = None
    ) -> tuple[dict[str, Any], float | None]:
        """Handle ``POST /{pnid}/messages``; returns the response body and, for the hang faults, a hang time.

        The throughput limit counts a send when it arrived (``arrived_at``, as Meta's edge would), not
        when this process got round to it.
        """
        request = validation.parse_send(body, media_exists=lambda media_id: self._media_usable(media_id, number))
        if request.kind == "read":
            self._business_read(number, request)
            return {"success": True}, None
        with self.state.lock:
            now = self.now()
            # The person as this number knows them (a Brazilian mobile, with or without its ninth digit).
            wa_id = self.state.known_wa_id(number.phone_number_id, request.wa_id)
            template = None
            if request.type == "template":
                node = request.node
                waba_templates = [t for t in self.state.templates.values() if t.waba_id == number.waba_id]
                template = templates.find_for_send(waba_templates, node["name"], node["language"]["code"])
                templates.check_parameters(template, node)
            if request.type == "interactive" and self.state.settings.check_catalog_products:
                self._check_catalog_products(number, request.node)
            if wa_id == number.display_phone_number:
                raise errors.sync_error(131021)
            arrival = now if arrived_at is None else arrived_at
            if not self._throughput_ok(number, arrival):
                error = errors.sync_error(130429)
                error.http_status = self.state.settings.throughput_error_http_status
                raise error
            bucket = self._pair_bucket(number, wa_id, now)
            if bucket[0] < 1:
                raise errors.sync_error(131056)
            injected = self._pop_error_next()
            if injected is not None and not errors.spec_for(injected).asynchronous:
                raise errors.sync_error(injected)
            bucket[0] -= 1
            bisect.insort(self.state.throughput_log.setdefault(number.phone_number_id, deque()), arrival)

            customer = self.state.customer(number.phone_number_id, wa_id)
            window_open = self._window_open(customer, now)
            async_code = injected
            if request.type != "template" and not window_open:
                async_code = async_code or 131047
            category, pricing_type = "service", "free_customer_service"
            if template is not None:
                category = template.category.lower()
                free = category == "utility" and window_open
                pricing_type = "free_customer_service" if free else "regular"
            payload = {k: v for k, v in body.items() if k != "messaging_product"}
            message = Message(
                wamid=ids.wamid(wa_id, inbound=False),
                phone_number_id=number.phone_number_id,
                direction="out",
                wa_id=wa_id,
                type=request.type,
                payload=payload,
                created_at=now,
                to_input=request.to_input,
                api_version=version,
                biz_opaque_callback_data=request.biz_opaque_callback_data,
                async_error_code=async_code,
                pricing_category=category,
                pricing_type=pricing_type,
                rendered=templates.render(template, request.node) if template is not None else None,
            )
            message.status_history.append({"status": "accepted", "timestamp": int(now)})
            self.state.messages[message.wamid] = message
            customer.typing_until = None
            hang = None
            faults = self.state.faults
            if faults.timeout_after_accept_next > 0:
                faults.timeout_after_accept_next -= 1
                hang = faults.timeout_hang_s
            elif faults.hang_after_accept_ms:
                hang = faults.hang_after_accept_ms / 1000
            reorder = faults.reorder_statuses
        self._schedule_statuses(message.wamid, reorder=reorder)
        response: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": request.to_input, "wa_id": wa_id}],
            "messages": [{"id": message.wamid}],
        }
        if template is not None:
            response["messages"][0]["message_status"] = "accepted"
        return response, hang

    def _check_catalog_products(self, number: PhoneNumber, node: dict[str, Any]) -> None:
        """A product or product list naming a catalog not linked to the number's WABA, or a product the catalog
        does not hold (or holds as ``staging``): 131009, as COMMERCE §2.6 assumes."""
        kind = node.get("type")
        if kind not in {"product", "product_list"}:
            return
        action = node.get("action") or {}
        catalog_id = str(action.get("catalog_id") or "")
        if self.state.waba_catalog(number.waba_id) != catalog_id:
            raise errors.sync_error(
                131009, details=f"Catalog {catalog_id} is not connected to this WhatsApp Business Account."
            )
        if kind == "product":
            wanted = [str(action.get("product_retailer_id") or "")]
        else:
            wanted = [
                str(item.get("product_retailer_id") or "")
                for section in action.get("sections") or []
                for item in section.get("product_items") or []
            ]
        for retailer_id in wanted:
            product = self.state.catalog_product(catalog_id, retailer_id)
            if product is None or product.get("visibility") == "staging":
                raise errors.sync_error(
                    131009, details=f"Product {retailer_id} is not available in catalog {catalog_id}."
                )

    def _pop_error_next(self) -> int | None:
        pending = self.state.faults.error_next
        for code in sorted(pending):
            if pending[code] > 0:
                pending[code] -= 1
                if pending[code] == 0:
                    del pending[code]
                return code
        return None

    def _throughput_ok(self, number: PhoneNumber, now: float) -> bool:
        # A sliding one-second log: no window of one second ever holds more than throughput_per_s sends.
        accepted = self.state.throughput_log.setdefault(number.phone_number_id, deque())
        while accepted and accepted[0] <= now - 1.0:
            accepted.popleft()
        return len(accepted) < number.throughput_per_s

    def _pair_bucket(self, number: PhoneNumber, wa_id: str, now: float) -> list[float]:
        # Token bucket: pair_burst tokens, refilled one per pair_interval_s.
        key = (number.phone_number_id, wa_id)
        tokens, last = self.state.pair_buckets.get(key, [float(number.pair_burst), now])
        refill = max(now - last, 0.0) / number.pair_interval_s if number.pair_interval_s > 0 else float("inf")
        bucket = [min(float(number.pair_burst), tokens + refill), now]
        self.state.pair_buckets[key] = bucket
        return bucket

    def _window_open(self, customer: Customer, now: float) -> bool:
        last = customer.last_inbound_at
        return last is not None and now < last + self.state.settings.window_s

    def _media_usable(self, media_id: str, number: PhoneNumber) -> bool:
        with self.state.lock:
            media = self._live_media(media_id)
            return media is not None and media.phone_number_id == number.phone_number_id

    def _live_media(self, media_id: str) -> Media | None:
        media = self.state.media.get(media_id)
        if media is None or media.deleted or self.now() >= media.expires_at:
            return None
        return media

    def _business_read(self, number: PhoneNumber, request: validation.SendRequest) -> None:
        with self.state.lock:
            message = self.state.messages.get(request.message_id or "")
            if message is not None and message.direction == "in" and message.phone_number_id == number.phone_number_id:
                message.status = "read"
                message.status_history.append({"status": "read", "timestamp": int(self.now())})
                if request.typing_indicator:
                    customer = self.state.customer(number.phone_number_id, message.wa_id)
                    customer.typing_until = self.now() + TYPING_S

    # ------------------------------------------------------------------ statuses

    def _schedule_statuses(self, wamid: str, *, reorder: bool) -> None:
        with self.state.lock:
            settings = self.state.settings
            sent_delay, delivered_delay = settings.sent_delay_s, settings.delivered_delay_s
            message = self.state.messages[wamid]
        if message.async_error_code is not None:
            self.scheduler.call_later(sent_delay, self._emit_failed, wamid)
        elif reorder:
            self.scheduler.call_later(delivered_delay, self._emit_reordered, wamid)
        else:
            self.scheduler.call_later(sent_delay, self._emit_status, wamid, "sent")
            self.scheduler.call_later(delivered_delay, self._emit_delivered, wamid)

    def _emit_failed(self, wamid: str) -> None:
        with self.state.lock:
            message = self.state.messages.get(wamid)
            if message is None or message.async_error_code is None:
                return
            error = errors.status_error(message.async_error_code)
            message.errors = [error]
            self._emit_status(wamid, "failed", errors_=[error])

    def _emit_delivered(self, wamid: str) -> None:
        with self.state.lock:
            self._emit_status(wamid, "delivered")
            message = self.state.messages.get(wamid)
            number = self.state.numbers.get(message.phone_number_id) if message else None
            if message is not None and number is not None and (number.auto_read or message.read_requested):
                self._emit_status(wamid, "read")

    def _emit_reordered(self, wamid: str) -> None:
        with self.state.lock:
            message = self.state.messages.get(wamid)
            number = self.state.numbers.get(message.phone_number_id) if message else None
            if message is None or number is None:
                return
            sequence = ["sent", "delivered"]
            if number.auto_read or message.read_requested:
                sequence.append("read")
            # Deterministically out of order: the last status first, "sent" last.
            for status in reversed(sequence):
                self._emit_status(wamid, status)

    def _emit_status(self, wamid: str, status: str, *, errors_: list[dict[str, Any]] | None = None) -> None:
        with self.state.lock:
            message = self.state.messages.get(wamid)
            if message is None:
                return
            number = self.state.numbers.get(message.phone_number_id)
            if number is None:
                return
            now = self.now()
            if STATUS_RANK[status] > STATUS_RANK.get(message.status, 0):
                message.status = status
            message.status_history.append({"status": status, "timestamp": int(now)})
            pricing = conversation = None
            if status in {"sent", "delivered"}:
                pricing = {
                    "billable": message.pricing_type == "regular",
                    "pricing_model": "PMP",
                    "type": message.pricing_type,
                    "category": message.pricing_category,
                }
                if _api_major(message.api_version) < 24:
                    conversation = self._conversation(message, now, with_expiration=status == "sent")
            payload = payloads.status(
                number,
                wamid=wamid,
                status=status,
                timestamp=int(now),
                recipient_id=message.wa_id,
                biz_opaque_callback_data=message.biz_opaque_callback_data,
                conversation=conversation,
                pricing=pricing,
                errors=errors_,
            )
            self.emit_webhook(number, payload, field="messages")

    def _conversation(self, message: Message, now: float, *, with_expiration: bool) -> dict[str, Any]:
        key = (message.phone_number_id, message.wa_id, message.pricing_category)
        current = self.state.conversations.get(key)
        if current is None or current[1] <= now:
            current = (ids.conversation_id(), now + 24 * 3600)
            self.state.conversations[key] = current
        conversation: dict[str, Any] = {"id": current[0]}
        if with_expiration:
            conversation["expiration_timestamp"] = str(int(current[1]))
        conversation["origin"] = {"type": message.pricing_category}
        return conversation

    def customer_read(self, phone_number_id: str, wa_id: str, wamids: list[str] | None = None) -> list[str]:
        """The customer opens the chat: their business messages become ``read`` (after ``delivered``)."""
        read_now = []
        with self.state.lock:
            for message in list(self.state.messages.values()):
                if message.direction != "out" or message.phone_number_id != phone_number_id:
                    continue
                if message.wa_id != wa_id or (wamids is not None and message.wamid not in wamids):
                    continue
                if message.status == "delivered":
                    self._emit_status(message.wamid, "read")
                    read_now.append(message.wamid)
                elif message.status in {"accepted", "sent"}:
                    message.read_requested = True
        return read_now

    # ------------------------------------------------------------------ webhooks

    def emit_webhook(self, number: PhoneNumber, payload: dict[str, Any], *, field: str) -> None:
        body = encode_like_meta(payload)
        with self.state.lock:
            copies = 2 if self.state.faults.duplicate_webhooks else 1
            for _ in range(copies):
                self.state.webhook_seq += 1
                delivery = WebhookDelivery(
                    id=self.state.webhook_seq,
                    phone_number_id=number.phone_number_id,
                    url=number.webhook_url or "",
                    event_field=field,
                    body=body,
                    headers=webhook_headers(number.app_secret, body),
                )
                self.state.webhooks.append(delivery)
                if number.webhook_url:
                    self.dispatcher.enqueue(delivery)
                else:
                    delivery.state = "no_webhook_url"

    # ------------------------------------------------------------------ inbound (customer → business)

    def inbound(self, data: Any, *, base_url: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise AdminError("inbound message must be a JSON object")
        with self.state.lock:
            number = self.state.numbers.get(str(data.get("phone_number_id", "")))
            if number is None:
                raise AdminError("unknown phone_number_id", 404)
            wa_id = validation.normalise_phone(str(data.get("from", "")))
            if wa_id is None:
                raise AdminError("from must be the customer's phone number (digits)")
            now = self.now()
            customer = self.state.customer(number.phone_number_id, wa_id)
            if data.get("name"):
                customer.name = str(data["name"])
            message_type, node, extra = self._inbound_node(number, data, base_url, now)
            wamid = ids.wamid(wa_id, inbound=True)
            message: dict[str, Any] = {}
            context_id = data.get("context_message_id") or extra.pop("context_message_id", None)
            if context_id:
                message["context"] = {"from": number.display_phone_number, "id": str(context_id)}
                referred = data.get("referred_product")
                if isinstance(referred, dict) and referred.get("product_retailer_id"):
                    # "Message business" on a product (COMMERCE §3.2): a text about the product being viewed.
                    message["context"]["referred_product"] = {
                        "catalog_id": str(referred.get("catalog_id") or ""),
                        "product_retailer_id": str(referred["product_retailer_id"]),
                    }
            message.update({"from": wa_id, "id": wamid, "timestamp": str(int(now)), "type": message_type})
            message[message_type] = node
            customer.last_inbound_at = now
            customer.typing_until = None
            record = Message(
                wamid=wamid,
                phone_number_id=number.phone_number_id,
                direction="in",
                wa_id=wa_id,
                type=message_type,
                payload=message,
                created_at=now,
                status="delivered",
            )
            record.status_history.append({"status": "delivered", "timestamp": int(now)})
            self.state.messages[wamid] = record
            payload = payloads.inbound(number, profile_name=customer.name, wa_id=wa_id, message=message)
            self.emit_webhook(number, payload, field="messages")
        return {"wamid": wamid, "webhook": payload, **extra}

    def _inbound_node(
        self, number: PhoneNumber, data: dict[str, Any], base_url: str, now: float
    ) -> tuple[str, Any, dict[str, Any]]:
        kind = data.get("type") or next(
            (k for k in ("text", "image", "location", "reaction", "button_reply", "list_reply") if k in data), None
        )
        extra: dict[str, Any] = {}
        if kind == "text":
            text = data.get("text")
            body = text.get("body") if isinstance(text, dict) else text
            if not isinstance(body, str) or not body:
                raise AdminError("text must be a non-empty string")
            return "text", {"body": body}, extra
        if kind in validation.MEDIA_TYPES:
            node, media_id = self._inbound_media(number, kind, data.get(kind), base_url, now)
            extra["media_id"] = media_id
            return kind, node, extra
        if kind == "location":
            location = data.get("location")
            if not isinstance(location, dict) or "latitude" not in location or "longitude" not in location:
                raise AdminError("location needs latitude and longitude")
            node = {"latitude": float(location["latitude"]), "longitude": float(location["longitude"])}
            for key in ("name", "address", "url"):
                if location.get(key):
                    node[key] = str(location[key])
            return "location", node, extra
        if kind == "reaction":
            reaction = data.get("reaction")
            if not isinstance(reaction, dict) or not reaction.get("message_id"):
                raise AdminError("reaction needs message_id (and emoji; empty removes)")
            return (
                "reaction",
                {"message_id": str(reaction["message_id"]), "emoji": str(reaction.get("emoji", ""))},
                extra,
            )
        if kind in {"button_reply", "list_reply"} or (
            kind == "interactive" and isinstance(data.get("interactive"), dict)
        ):
            if kind == "interactive":
                return "interactive", data["interactive"], extra
            reply = data.get(kind)
            if not isinstance(reply, dict) or not reply.get("id") or not reply.get("title"):
                raise AdminError(f"{kind} needs id and title")
            if reply.get("context_message_id"):
                extra["context_message_id"] = reply["context_message_id"]
            node = {"id": str(reply["id"]), "title": str(reply["title"])}
            if kind == "list_reply" and reply.get("description"):
                node["description"] = str(reply["description"])
            return "interactive", {"type": kind, kind: node}, extra
        if kind == "button":
            button = data.get("button")
            if not isinstance(button, dict) or "text" not in button:
                raise AdminError("button needs payload and text")
            if button.get("context_message_id"):
                extra["context_message_id"] = button["context_message_id"]
            return "button", {"payload": str(button.get("payload", button["text"])), "text": str(button["text"])}, extra
        if kind == "contacts":
            contacts = data.get("contacts")
            if not isinstance(contacts, list) or not contacts:
                raise AdminError("contacts must be a non-empty list")
            return "contacts", contacts, extra
        if kind == "order":
            order = data.get("order")
            if not isinstance(order, dict) or not order.get("product_items"):
                raise AdminError("order needs catalog_id and product_items")
            return "order", order, extra
        raise AdminError(f"unsupported inbound type: {kind!r}")

    def _inbound_media(
        self, number: PhoneNumber, kind: str, spec: Any, base_url: str, now: float
    ) -> tuple[dict[str, Any], str]:
        if not isinstance(spec, dict):
            raise AdminError(f"{kind} must be an object with data (base64) and mime_type")
        if spec.get("media_id"):
            media = self._live_media(str(spec["media_id"]))
            if media is None:
                raise AdminError("unknown media_id")
        else:
            try:
                content = base64.b64decode(spec.get("data") or spec.get("bytes") or "", validate=True)
            except (binascii.Error, ValueError):
                raise AdminError(f"{kind}.data must be base64") from None
            default_mime = {"image": "image/jpeg", "sticker": "image/webp", "audio": "audio/ogg; codecs=opus"}
            mime = str(spec.get("mime_type") or spec.get("mime") or default_mime.get(kind, "application/octet-stream"))
            media = self.store_media(number, content, mime, spec.get("filename"), ttl_s=INBOUND_MEDIA_TTL_S)
        node: dict[str, Any] = {}
        if kind in validation.CAPTIONED and spec.get("caption"):
            node["caption"] = str(spec["caption"])
        if kind == "document":
            node["filename"] = str(spec.get("filename") or media.filename or "document")
        node["mime_type"] = media.mime_type
        node["sha256"] = base64.b64encode(bytes.fromhex(media.sha256_hex)).decode("ascii")
        node["id"] = media.id
        if kind == "audio":
            node["voice"] = bool(spec.get("voice", False))
        if kind == "sticker":
            node["animated"] = bool(spec.get("animated", False))
        if self.state.settings.media_url_in_webhooks:
            public = self.state.settings.public_base_url or base_url
            node["url"] = self.media_url(media, public, source="webhook")
        return node, media.id

    # ------------------------------------------------------------------ media

    def store_media(
        self, number: PhoneNumber, content: bytes, mime_type: str, filename: str | None, *, ttl_s: float
    ) -> Media:
        with self.state.lock:
            now = self.now()
            media = Media(
                id=ids.object_id(),
                phone_number_id=number.phone_number_id,
                data=content,
                mime_type=mime_type,
                sha256_hex=hashlib.sha256(content).hexdigest(),
                created_at=now,
                expires_at=now + ttl_s,
                filename=filename,
            )
            self.state.media[media.id] = media
            return media

    def upload_media(self, number: PhoneNumber, content: bytes, mime_type: str, filename: str | None) -> Media:
        kind = media_kind(mime_type)
        if kind is None:
            allowed = ", ".join(sorted(SUPPORTED_MIME))
            raise errors.invalid_parameter(f"Param file must be a file with one of the following types: {allowed}")
        if not content:
            raise errors.invalid_parameter("Param file must not be empty.")
        if len(content) > MEDIA_LIMITS[kind]:
            raise errors.invalid_parameter(f"Param file must be at most {MEDIA_LIMITS[kind]} bytes for {kind}.")
        return self.store_media(number, content, mime_type, filename, ttl_s=UPLOAD_TTL_S)

    def media_url(self, media: Media, base_url: str, *, source: str | None = None) -> str:
        with self.state.lock:
            expires = self.now() + self.state.settings.media_url_ttl_s
            token = ids.url_token()
            self.state.media_urls[token] = MediaUrl(token=token, media_id=media.id, expires_at=expires)
        query = f"mid={media.id}" + (f"&source={source}" if source else "") + f"&ext={int(expires)}"
        return f"{base_url.rstrip('/')}/_media/{token}?{query}&hash={ids.url_token()}"

    def download(self, token: str, bearer: str | None) -> Media:
        with self.state.lock:
            url = self.state.media_urls.get(token)
            media = self.state.media.get(url.media_id) if url else None
            owner = self.state.numbers.get(media.phone_number_id) if media else None
            if not bearer or not self._token_known(bearer) or (owner is not None and owner.access_token != bearer):
                raise errors.invalid_token()
            if url is None or media is None or self.now() >= url.expires_at or self._live_media(media.id) is None:
                raise AdminError("media URL not found or expired", 404)
            return media

    def delete_media(self, media: Media) -> None:
        with self.state.lock:
            media.deleted = True

    # ------------------------------------------------------------------ templates

    def create_template(self, waba_id: str, body: Any, *, seeding: bool = False) -> Template:
        fields = templates.validate_create(body, self.upload_handle_type, seeding=seeding)
        with self.state.lock:
            for template in self.state.templates.values():
                if (template.waba_id, template.name, template.language) == (
                    waba_id,
                    fields["name"],
                    fields["language"],
                ):
                    raise errors.GraphError(
                        http_status=400,
                        code=100,
                        message="(#100) Invalid parameter",
                        details=f"Content in this language already exists for template {fields['name']}.",
                        subcode=2388024,
                        extra={"is_transient": False, "error_user_title": "Message template already exists"},
                    )
            template = Template(id=ids.object_id(), waba_id=waba_id, status="PENDING", **fields)
            self.state.templates[template.id] = template
            delay = self.state.settings.review_delay_s
        if delay is not None:
            self.scheduler.call_later(delay, self._auto_review, template.id)
        return template

    def edit_template(self, template: Template, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("components"), list):
            raise errors.missing_parameter("components")
        if not all(isinstance(c, dict) for c in body["components"]):
            raise errors.invalid_parameter("Param components must be an array of objects.")
        if body.get("category") and str(body["category"]).upper() not in templates.CATEGORIES:
            raise errors.invalid_parameter(
                f'Param category must be one of {{AUTHENTICATION, MARKETING, UTILITY}} - got "{body["category"]}".'
            )
        with self.state.lock:
            # Meta edits only approved, rejected and paused templates (CONTRACT §4), never their name or language.
            if template.status not in {"APPROVED", "REJECTED", "PAUSED"}:
                raise errors.invalid_parameter(
                    f"Message templates can only be edited when they are approved, rejected or paused; "
                    f"this one is {template.status}."
                )
            category = str(body.get("category") or template.category).upper()
            templates.check_components(body["components"], category, self.upload_handle_type)
            template.components = body["components"]
            template.category = category
            template.status = "PENDING"
            template.rejected_reason = None
            delay = self.state.settings.review_delay_s
        if delay is not None:
            self.scheduler.call_later(delay, self._auto_review, template.id)

    def _auto_review(self, template_id: str) -> None:
        with self.state.lock:
            template = self.state.templates.get(template_id)
            if template is not None and template.status == "PENDING":
                self.review_template(template_id, approve=True)

    def review_template(
        self,
        template_id: str,
        *,
        approve: bool,
        reason: str | None = None,
        rejection_info: dict[str, Any] | None = None,
    ) -> Template:
        with self.state.lock:
            template = self.state.templates.get(template_id)
            if template is None:
                raise AdminError("unknown template id", 404)
            template.status = "APPROVED" if approve else "REJECTED"
            reason = "NONE" if approve else (reason or "INVALID_FORMAT")
            template.rejected_reason = None if approve else reason
            payload = payloads.template_status(
                template,
                event=template.status,
                time=int(self.now()),
                reason=reason,
                rejection_info=None if approve else rejection_info,
            )
            self._emit_waba_webhook(template.waba_id, payload)
            return template

    def pause_template(
        self, template_id: str, *, title: str = "FIRST_PAUSE", description: str | None = None
    ) -> Template:
        """Meta pausing a template for its quality (or lifting the pause: ``title`` UNPAUSE)."""
        with self.state.lock:
            template = self.state.templates.get(template_id)
            if template is None:
                raise AdminError("unknown template id", 404)
            if template.status not in {"APPROVED", "PAUSED"}:
                raise AdminError(f"only approved or paused templates can be paused or unpaused, not {template.status}")
            unpause = title == "UNPAUSE"
            template.status = "APPROVED" if unpause else "PAUSED"
            payload = payloads.template_status(
                template,
                event="REINSTATED" if unpause else "PAUSED",
                time=int(self.now()),
                reason="NONE",
                other_info={"title": title, "description": description or payloads.PAUSE_DESCRIPTIONS.get(title, "")},
            )
            self._emit_waba_webhook(template.waba_id, payload)
            return template

    def set_template_quality(self, template_id: str, score: str) -> Template:
        """A new quality rating for a template, announced with ``message_template_quality_update``."""
        if score not in {"GREEN", "YELLOW", "RED", "UNKNOWN"}:
            raise AdminError("score must be GREEN, YELLOW, RED or UNKNOWN")
        with self.state.lock:
            template = self.state.templates.get(template_id)
            if template is None:
                raise AdminError("unknown template id", 404)
            previous, template.quality_score = template.quality_score, score
            payload = payloads.template_quality(template, previous=previous, time=int(self.now()))
            self._emit_waba_webhook(template.waba_id, payload, field="message_template_quality_update")
            return template

    def _emit_waba_webhook(
        self, waba_id: str, payload: dict[str, Any], *, field: str = "message_template_status_update"
    ) -> None:
        # WABA-level events go once to each distinct (callback URL, app) of the account's numbers.
        seen: set[tuple[str | None, str]] = set()
        for number in self.state.numbers_in_waba(waba_id):
            target = (number.webhook_url, number.app_secret)
            if target in seen:
                continue
            seen.add(target)
            self.emit_webhook(number, payload, field=field)

    def delete_templates(self, waba_id: str, name: str, hsm_id: str | None) -> int:
        with self.state.lock:
            doomed = [
                t.id
                for t in self.state.templates.values()
                if t.waba_id == waba_id and t.name == name and (hsm_id is None or t.id == hsm_id)
            ]
            for template_id in doomed:
                del self.state.templates[template_id]
            return len(doomed)

    # ------------------------------------------------------------------ resumable uploads

    def upload_session_create(self, app_id: str, token: str | None, query: Any) -> UploadSession:
        """``POST /{app-id}/uploads?file_name=&file_length=&file_type=``: a session for one file."""
        self.check_token(token)
        if not app_id.isdigit():
            raise errors.unknown_object(app_id, "POST")
        file_type = str(query.get("file_type") or "")
        if not file_type:
            raise errors.missing_parameter("file_type")
        if file_type not in RESUMABLE_UPLOAD_LIMITS:
            raise errors.invalid_parameter(
                f'Param file_type must be one of {{{", ".join(sorted(RESUMABLE_UPLOAD_LIMITS))}}} - got "{file_type}".'
            )
        raw_length = str(query.get("file_length") or "")
        if not raw_length:
            raise errors.missing_parameter("file_length")
        if not raw_length.isdigit() or int(raw_length) <= 0:
            raise errors.invalid_parameter("Param file_length must be a positive integer.")
        length = int(raw_length)
        if length > RESUMABLE_UPLOAD_LIMITS[file_type]:
            raise errors.invalid_parameter(
                f"The file is too large: {file_type} files may have at most {RESUMABLE_UPLOAD_LIMITS[file_type]} bytes."
            )
        session_key = ids.upload_session()
        session = UploadSession(
            id=f"upload:{session_key}?sig={ids.url_token()[:20]}",
            app_id=app_id,
            access_token=token or "",
            file_name=str(query.get("file_name") or "file"),
            file_length=length,
            file_type=file_type,
        )
        with self.state.lock:
            self.state.upload_sessions[session_key] = session
        return session

    def upload_session_for(self, node_id: str, token: str | None, method: str) -> UploadSession:
        self.check_token(token)
        with self.state.lock:
            session = self.state.upload_sessions.get(node_id.removeprefix("upload:"))
            if session is None or session.access_token != token:
                raise errors.unknown_object(node_id, method)
            return session

    def upload_session_write(self, session: UploadSession, offset: str | None, content: bytes) -> str:
        """``POST /upload:<session>`` with ``file_offset`` and the bytes; returns the file handle ``h``."""
        if offset is None or not offset.strip().isdigit():
            raise errors.invalid_parameter("The file_offset header is required (0 for a new upload).")
        with self.state.lock:
            if int(offset) != len(session.data):
                raise errors.invalid_parameter(
                    f"The file_offset {offset} does not match the upload session's offset {len(session.data)}."
                )
            if len(session.data) + len(content) > session.file_length:
                raise errors.invalid_parameter(
                    f"The upload is longer than the file_length ({session.file_length}) announced for the session."
                )
            session.data += content
            if len(session.data) == session.file_length and session.handle is None:
                session.handle = ids.upload_handle(session.file_type, session.app_id, int(self.now()))
                self.state.upload_handles[session.handle] = session
            return session.handle or ""

    def upload_handle_type(self, handle: str) -> str | None:
        """The MIME type of the file a header_handle names, or None when no finished upload has that handle."""
        with self.state.lock:
            session = self.state.upload_handles.get(handle)
            return session.file_type if session is not None else None

    # ------------------------------------------------------------------ faults

    def set_faults(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise AdminError("faults must be a JSON object")
        unknown = set(data) - FAULT_KEYS
        if unknown:
            raise AdminError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        with self.state.lock:
            # Work on a copy so that a bad value leaves the current faults untouched.
            faults = dataclasses.replace(self.state.faults, error_next=dict(self.state.faults.error_next))
            try:
                for key in ("latency_ms", "fail_next_5xx", "timeout_after_accept_next", "hang_after_accept_ms"):
                    if key in data:
                        setattr(faults, key, max(int(data[key]), 0))
                if "timeout_hang_s" in data:
                    faults.timeout_hang_s = max(float(data["timeout_hang_s"]), 0.0)
                for key in ("duplicate_webhooks", "reorder_statuses"):
                    if key in data:
                        setattr(faults, key, bool(data[key]))
                if "error_next" in data:
                    if not isinstance(data["error_next"], dict):
                        raise AdminError('error_next must map error codes to counts, e.g. {"131026": 1}')
                    for code, count in data["error_next"].items():
                        faults.error_next[int(code)] = max(int(count), 0)
                    faults.error_next = {c: n for c, n in faults.error_next.items() if n > 0}
            except (TypeError, ValueError) as exc:
                raise AdminError(f"invalid faults: {exc}") from None
            self.state.faults = faults

    def clear_faults(self) -> None:
        with self.state.lock:
            self.state.faults = Faults()
        self.abort_hangs()

    def take_5xx(self) -> bool:
        with self.state.lock:
            if self.state.faults.fail_next_5xx > 0:
                self.state.faults.fail_next_5xx -= 1
                return True
            return False


def _api_major(version: str) -> int:
    try:
        return int(version.lstrip("v").split(".")[0])
    except ValueError:
        return 0
