"""HTTP client for Meta's WhatsApp Cloud API (Graph API), the only code that talks to it over the network.

Every call has explicit timeouts and ends in a typed result or a typed error (``whatsapp.errors``).
The access token lives only in the ``Authorization`` header of the underlying httpx client: it is never
put in URLs, log lines, exception messages or ``repr``.

``base_url`` is ``https://graph.facebook.com`` in production and the fake Cloud API's address in
development and tests (the ``WHATSAPP_API_BASE_URL`` setting, never a tenant's input); ``api_version``
is the ``vNN.N`` path prefix. Media URLs come from Meta's answers, so they are fetched only through the
guarded client (``helpdesk.outbound_http``): listed hosts, public addresses, a size cap per media kind.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from conversations.channels import CatalogItem
from helpdesk.outbound_http import BodyTooLarge, GuardedClient, OutboundPolicy, OutboundRefused
from whatsapp import outbound_payloads
from whatsapp.errors import (
    AmbiguousSendError,
    CloudApiError,
    MediaRefused,
    PermanentError,
    TransientError,
    classify,
)
from whatsapp.limits import MEDIA_MAX_BYTES
from whatsapp.types import MediaInfo, SendResult

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=15.0, pool=5.0)
USER_AGENT = "helpdesk-whatsapp/1.0"
# Meta's media host; media URLs pointing anywhere else are refused unless a deployment lists more.
META_MEDIA_HOSTS = ("lookaside.fbsbx.com",)


# Raised before any byte of the request reached Meta: always safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
# Raised after the request (or part of it) went out: Meta may have acted on it.
_MAYBE_SENT = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
# Our own mistakes (bad URL scheme, malformed request): retrying cannot help.
_OUR_FAULT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL)


# A Resumable Upload API session id as Meta returns it: "upload:<base64 session>?sig=<signature>".
UPLOAD_SESSION_ID = re.compile(r"^upload:[A-Za-z0-9+/=_-]+(\?sig=[A-Za-z0-9_=-]+)?$")

# items_batch takes at most this many requests per call (COMMERCE.md §4.4).
CATALOG_BATCH_MAX = 5000


@dataclass(frozen=True)
class CommerceSettings:
    """A number's commerce settings: the cart, and the catalog (storefront) icon in chats and its profile."""

    cart_enabled: bool
    catalog_visible: bool


@dataclass(frozen=True)
class CatalogBatchResult:
    """Meta's answer to one ``items_batch``: the handle of what it took (none: nothing), and what it refused
    or warned about at once, by SKU (``retailer_id``)."""

    handles: tuple[str, ...]
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class CatalogBatchStatus:
    """How a batch is getting on: ``finished`` or not, and the items it could not apply, by SKU."""

    handle: str
    status: str
    finished: bool
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)


def _feed_price(minor: int, currency: str) -> str:
    # Feed style, two decimals (our currencies have two): 5990 BRL -> "59.90 BRL".
    whole, cents = divmod(minor, 100)
    return f"{whole}.{cents:02d} {currency}"


def catalog_feed_data(item: CatalogItem) -> dict[str, Any]:
    """One product as items_batch ``data`` (feed field names, COMMERCE.md §4.4). A hidden product stays in the
    catalog as ``staging`` (hidden from customers, kept with its Meta id and review); Meta requires a
    description, so the name stands in for a missing one."""
    data: dict[str, Any] = {
        "id": item.retailer_id,
        "title": item.name,
        "description": item.description or item.name,
        "availability": item.availability,
        "condition": "new",
        "price": _feed_price(item.price, item.currency),
        "visibility": "published" if item.visible else "staging",
    }
    if item.image_url:
        data["image_link"] = item.image_url
    if item.category:
        data["product_type"] = item.category
    return data


def _validation_issues(entries: Any, kind: str) -> dict[str, list[str]]:
    """``{retailer_id: [message, ...]}`` of the ``errors`` or ``warnings`` of ``validation_status`` items."""
    found: dict[str, list[str]] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get(kind), list):
            continue
        messages = [str(e.get("message") or "") for e in entry[kind] if isinstance(e, dict)]
        if any(messages):
            found.setdefault(str(entry.get("retailer_id") or ""), []).extend(m for m in messages if m)
    return found


def _status_issues(entries: Any) -> dict[str, list[str]]:
    """``{retailer_id: [message, ...]}`` of a batch status' ``errors`` or ``warnings`` (``{line, id, message}``)."""
    found: dict[str, list[str]] = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("message"):
            found.setdefault(str(entry.get("id") or ""), []).append(str(entry["message"]))
    return found


def _segment(value: str, what: str) -> str:
    """One URL path segment from an id; refuses empty ids and escapes everything else."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} is empty.")
    return quote(value, safe="")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None when absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


class CloudApiClient:
    """A synchronous Cloud API client for one access token. Close it (or use ``with``) when done."""

    def __init__(
        self,
        base_url: str,
        api_version: str,
        access_token: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        media_policy: OutboundPolicy | None = None,
    ) -> None:
        if not access_token:
            raise ValueError("A Cloud API access token is required.")
        version = api_version.strip().strip("/")
        if not version:
            raise ValueError("A Cloud API version such as 'v23.0' is required.")
        self.base_url = base_url.rstrip("/")
        self.api_version = version if version.startswith("v") else f"v{version}"
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"Bearer {access_token}", "User-Agent": USER_AGENT},
        )
        media_timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._media = GuardedClient(
            media_policy or OutboundPolicy.of(META_MEDIA_HOSTS, timeout=media_timeout), transport=transport
        )

    def __repr__(self) -> str:
        return f"<CloudApiClient {self.base_url}/{self.api_version}>"

    def close(self) -> None:
        self._http.close()
        self._media.close()

    def __enter__(self) -> CloudApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------------------

    def _path(self, *segments: str) -> str:
        return "/" + "/".join([self.api_version, *segments])

    def _send(self, method: str, url: str, *, idempotent: bool, **kwargs: Any) -> httpx.Response:
        what = f"{method} {urlsplit(url).path}"
        try:
            response = self._http.request(method, url, **kwargs)
        except _NOT_SENT as exc:
            raise TransientError(f"Could not reach the Cloud API for {what}: {type(exc).__name__}.") from exc
        except _OUR_FAULT as exc:
            raise PermanentError(f"Could not build the request {what}: {type(exc).__name__}.") from exc
        except (*_MAYBE_SENT, httpx.RequestError) as exc:
            if idempotent:
                raise TransientError(f"The Cloud API did not answer {what}: {type(exc).__name__}.") from exc
            raise AmbiguousSendError(
                f"The request {what} was sent but no answer came back ({type(exc).__name__}); "
                "Meta may have accepted it, so do not resend without checking."
            ) from exc
        if response.is_success:
            return response
        try:
            body = response.json()
        except ValueError:
            body = None
        raise classify(response.status_code, body, retry_after=parse_retry_after(response.headers.get("Retry-After")))

    def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise PermanentError(
                f"{what}: the Cloud API answered HTTP {response.status_code} with no JSON body."
            ) from exc
        if not isinstance(body, dict):
            raise PermanentError(f"{what}: the Cloud API answered with JSON that is not an object.")
        return body

    # -- messages ---------------------------------------------------------------------------------------

    def send_message(self, phone_number_id: str, payload: dict[str, Any]) -> SendResult:
        """POST a message body (see ``whatsapp.outbound_payloads``); returns the wamid Meta assigned.

        Raises ``AmbiguousSendError`` when the body may have reached Meta without an answer we can read.
        """
        url = self._path(_segment(phone_number_id, "phone_number_id"), "messages")
        response = self._send("POST", url, idempotent=False, json=payload)
        try:
            body = response.json()
            message = body["messages"][0]
            wamid = message["id"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise AmbiguousSendError(
                f"The Cloud API accepted the message (HTTP {response.status_code}) but its answer has no message id."
            ) from exc
        contacts = body.get("contacts")
        wa_id = (
            contacts[0].get("wa_id")
            if isinstance(contacts, list) and contacts and isinstance(contacts[0], dict)
            else None
        )
        return SendResult(wamid=str(wamid), wa_id=wa_id, message_status=message.get("message_status"))

    def mark_read(self, phone_number_id: str, wamid: str, typing_indicator: bool = False) -> None:
        """Blue ticks for an inbound message (optionally with a typing indicator). Safe to repeat."""
        url = self._path(_segment(phone_number_id, "phone_number_id"), "messages")
        self._send("POST", url, idempotent=True, json=outbound_payloads.mark_read(wamid, typing=typing_indicator))

    # -- media ------------------------------------------------------------------------------------------

    def upload_media(self, phone_number_id: str, content: bytes, mime_type: str, filename: str) -> str:
        """Upload a file for sending (multipart: messaging_product, file, type); returns the media id."""
        url = self._path(_segment(phone_number_id, "phone_number_id"), "media")
        response = self._send(
            "POST",
            url,
            idempotent=True,
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
        )
        body = self._json(response, "Media upload")
        media_id = body.get("id")
        if not media_id:
            raise PermanentError("Media upload: the Cloud API answer has no media id.")
        return str(media_id)

    def get_media(self, media_id: str) -> MediaInfo:
        """Short-lived (5 minutes) download URL and metadata of a media id."""
        response = self._send("GET", self._path(_segment(media_id, "media_id")), idempotent=True)
        body = self._json(response, "Media lookup")
        if not body.get("url"):
            raise PermanentError(f"Media lookup: the Cloud API answer for media {media_id} has no URL.")
        file_size = body.get("file_size")
        try:
            size = int(file_size) if file_size is not None else None
        except (TypeError, ValueError):
            size = None
        return MediaInfo(
            url=str(body["url"]),
            mime_type=str(body.get("mime_type") or ""),
            sha256=str(body.get("sha256") or ""),
            file_size=size,
        )

    def download_media(self, url: str, *, max_bytes: int = MEDIA_MAX_BYTES["document"]) -> bytes:
        """Download a media URL from ``get_media`` (Meta requires the bearer token here too).

        The URL is Meta's answer, so it is fetched through the guarded client: a host off the allow-list,
        an address that is not public, too many redirects or a body over ``max_bytes`` raise
        ``MediaRefused`` and nothing is returned. An expired URL answers 404, raised as ``PermanentError``:
        look the media id up again.
        """
        if urlsplit(url).scheme not in ("http", "https"):
            raise PermanentError("Media download: the URL must be http(s).")
        headers = {"Authorization": self._http.headers["Authorization"], "User-Agent": USER_AGENT}
        try:
            fetched = self._media.get(url, max_bytes=max_bytes, headers=headers)
        except BodyTooLarge as exc:
            raise MediaRefused(f"Media download: {exc}", reason=exc.reason, limit=exc.limit) from exc
        except OutboundRefused as exc:
            raise MediaRefused(f"Media download refused: {exc}", reason=exc.reason) from exc
        except (*_MAYBE_SENT, *_NOT_SENT) as exc:
            raise TransientError(f"The media host did not answer: {type(exc).__name__}.") from exc
        except httpx.HTTPError as exc:
            raise PermanentError(f"Media download failed: {type(exc).__name__}.") from exc
        if fetched.is_success:
            return fetched.content
        try:
            body = json.loads(fetched.content)
        except ValueError:
            body = None
        raise classify(fetched.status_code, body, retry_after=parse_retry_after(fetched.headers.get("Retry-After")))

    def delete_media(self, media_id: str) -> None:
        self._send("DELETE", self._path(_segment(media_id, "media_id")), idempotent=True)

    # -- phone numbers and templates --------------------------------------------------------------------

    def get_phone_number(self, phone_number_id: str, fields: Sequence[str] | None = None) -> dict[str, Any]:
        params = {"fields": ",".join(fields)} if fields else None
        response = self._send(
            "GET", self._path(_segment(phone_number_id, "phone_number_id")), idempotent=True, params=params
        )
        return self._json(response, "Phone number lookup")

    def list_templates(self, waba_id: str, limit: int = 100) -> Iterator[dict[str, Any]]:
        """Every message template of a WhatsApp Business Account, following the cursor pages lazily."""
        url = self._path(_segment(waba_id, "waba_id"), "message_templates")
        params: dict[str, Any] = {"limit": limit}
        seen_cursors: set[str] = set()
        while True:
            body = self._json(self._send("GET", url, idempotent=True, params=params), "Template list")
            data = body.get("data") or []
            if not isinstance(data, list):
                raise PermanentError("Template list: 'data' is not a list.")
            yield from (item for item in data if isinstance(item, dict))
            paging = body.get("paging")
            paging = paging if isinstance(paging, dict) else {}
            next_url = paging.get("next")
            if not next_url:
                return
            cursors = paging.get("cursors")
            cursors = cursors if isinstance(cursors, dict) else {}
            # Follow the cursor rather than the absolute "next" URL, so requests never leave base_url.
            after = cursors.get("after") or next(iter(parse_qs(urlsplit(str(next_url)).query).get("after", [])), None)
            if not after or after in seen_cursors:
                raise PermanentError("Template list: the Cloud API announced a next page without a usable cursor.")
            seen_cursors.add(after)
            params = {"limit": limit, "after": after}

    def create_template(self, waba_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Submit a template for review; returns ``{"id", "status", "category"}``.

        A lost answer is reported as ``TransientError``: a retry at worst gets Meta's "already exists" error.
        """
        url = self._path(_segment(waba_id, "waba_id"), "message_templates")
        return self._json(self._send("POST", url, idempotent=True, json=body), "Template creation")

    def edit_template(self, template_id: str, body: dict[str, Any]) -> None:
        """Edit a template (``{"components"[, "category"]}``); Meta reviews it again. Repeating it changes nothing."""
        url = self._path(_segment(template_id, "template_id"))
        answer = self._json(self._send("POST", url, idempotent=True, json=body), "Template edit")
        if answer.get("success") is not True:
            raise PermanentError("Template edit: the Cloud API did not confirm the edit.")

    def delete_template(self, waba_id: str, name: str, template_id: str = "") -> None:
        """Delete a template: one language when ``template_id`` (``hsm_id``) is given, else every language of
        ``name``."""
        url = self._path(_segment(waba_id, "waba_id"), "message_templates")
        params = {"name": name}
        if template_id:
            params["hsm_id"] = template_id
        answer = self._json(self._send("DELETE", url, idempotent=True, params=params), "Template deletion")
        if answer.get("success") is not True:
            raise PermanentError("Template deletion: the Cloud API did not confirm the deletion.")

    # -- Resumable Upload API (a template's media header sample) ----------------------------------------

    def upload_session_create(self, app_id: str, *, file_name: str, file_length: int, file_type: str) -> str:
        """Step 1: ``POST /{app-id}/uploads`` announcing the file; returns the session id ``upload:<...>``."""
        url = self._path(_segment(app_id, "app_id"), "uploads")
        params = {"file_name": file_name, "file_length": str(file_length), "file_type": file_type}
        answer = self._json(self._send("POST", url, idempotent=True, params=params), "Upload session")
        session_id = str(answer.get("id") or "")
        if not UPLOAD_SESSION_ID.match(session_id):
            raise PermanentError("Upload session: the Cloud API answer has no upload session id.")
        return session_id

    def upload_session_send(self, session_id: str, content: bytes, *, file_offset: int = 0) -> str:
        """Step 2: ``POST /upload:<...>`` with the bytes from ``file_offset``; returns the file handle (``h``).

        Meta takes the token here as ``Authorization: OAuth <token>`` and the offset only as a header.
        """
        if not UPLOAD_SESSION_ID.match(session_id):
            raise ValueError("Not an upload session id.")
        # The session id is Meta's opaque "upload:<session>?sig=<signature>": sent as it came.
        url = f"/{self.api_version}/{session_id}"
        token = str(self._http.headers["Authorization"]).removeprefix("Bearer ")
        headers = {"Authorization": f"OAuth {token}", "file_offset": str(file_offset)}
        answer = self._json(
            self._send("POST", url, idempotent=True, content=content, headers=headers), "Upload of the file"
        )
        handle = str(answer.get("h") or "")
        if not handle:
            raise PermanentError("Upload of the file: the Cloud API answer has no file handle.")
        return handle

    def upload_file(self, app_id: str, content: bytes, *, file_name: str, file_type: str) -> str:
        """Both steps of the Resumable Upload API for one file; returns the handle a template header takes."""
        session_id = self.upload_session_create(
            app_id, file_name=file_name, file_length=len(content), file_type=file_type
        )
        return self.upload_session_send(session_id, content)

    # -- catalog (COMMERCE.md §1, §4) -------------------------------------------------------------------

    def list_catalogs(self, waba_id: str) -> list[dict[str, str]]:
        """The catalogs connected to a WhatsApp Business Account (at most one): ``[{"id", "name"}]``."""
        url = self._path(_segment(waba_id, "waba_id"), "product_catalogs")
        body = self._json(self._send("GET", url, idempotent=True, params={"fields": "id,name"}), "Catalog list")
        data = body.get("data") or []
        if not isinstance(data, list):
            raise PermanentError("Catalog list: 'data' is not a list.")
        return [
            {"id": str(item["id"]), "name": str(item.get("name") or "")}
            for item in data
            if isinstance(item, dict) and item.get("id")
        ]

    def link_catalog(self, waba_id: str, catalog_id: str) -> None:
        """Connect a catalog to the account (its numbers then show it). Connecting it again changes nothing."""
        url = self._path(_segment(waba_id, "waba_id"), "product_catalogs")
        self._send("POST", url, idempotent=True, data={"catalog_id": catalog_id})

    def unlink_catalog(self, waba_id: str, catalog_id: str) -> None:
        url = self._path(_segment(waba_id, "waba_id"), "product_catalogs")
        self._send("DELETE", url, idempotent=True, params={"catalog_id": catalog_id})

    def commerce_settings(self, phone_number_id: str) -> CommerceSettings:
        url = self._path(_segment(phone_number_id, "phone_number_id"), "whatsapp_commerce_settings")
        body = self._json(self._send("GET", url, idempotent=True), "Commerce settings")
        data = body.get("data")
        item = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        # Meta's defaults (COMMERCE.md §1) when the answer leaves a setting out: cart on, catalog hidden.
        return CommerceSettings(
            cart_enabled=item.get("is_cart_enabled", True) is not False,
            catalog_visible=item.get("is_catalog_visible", False) is True,
        )

    def set_commerce_settings(
        self, phone_number_id: str, *, cart_enabled: bool | None = None, catalog_visible: bool | None = None
    ) -> None:
        """Turn the cart and the catalog icon on or off (query parameters, as Meta documents them)."""
        params = {}
        if cart_enabled is not None:
            params["is_cart_enabled"] = "true" if cart_enabled else "false"
        if catalog_visible is not None:
            params["is_catalog_visible"] = "true" if catalog_visible else "false"
        if not params:
            raise ValueError("Nothing to change.")
        url = self._path(_segment(phone_number_id, "phone_number_id"), "whatsapp_commerce_settings")
        self._send("POST", url, idempotent=True, params=params)

    def catalog_items_batch(
        self, catalog_id: str, *, upserts: Sequence[CatalogItem] = (), deletes: Sequence[str] = ()
    ) -> CatalogBatchResult:
        """Create or update ``upserts`` (``UPDATE`` with ``allow_upsert``) and delete the SKUs ``deletes``, in one
        ``items_batch`` of at most ``CATALOG_BATCH_MAX`` requests. Safe to repeat: an upsert of the same values
        and the delete of a missing item change nothing."""
        requests = [{"method": "UPDATE", "data": catalog_feed_data(item)} for item in upserts]
        requests += [{"method": "DELETE", "data": {"id": retailer_id}} for retailer_id in deletes]
        if not requests:
            raise ValueError("An items batch needs at least one request.")
        if len(requests) > CATALOG_BATCH_MAX:
            raise ValueError(f"An items batch takes at most {CATALOG_BATCH_MAX} requests.")
        url = self._path(_segment(catalog_id, "catalog_id"), "items_batch")
        body = {"item_type": "PRODUCT_ITEM", "allow_upsert": True, "requests": requests}
        answer = self._json(self._send("POST", url, idempotent=True, json=body), "Catalog batch")
        handles = answer.get("handles")
        validation = answer.get("validation_status")
        return CatalogBatchResult(
            handles=tuple(str(h) for h in handles if h) if isinstance(handles, list) else (),
            errors=_validation_issues(validation, "errors"),
            warnings=_validation_issues(validation, "warnings"),
        )

    def catalog_batch_status(self, catalog_id: str, handle: str) -> CatalogBatchStatus:
        """Where an items batch is: Meta applies it after answering (``check_batch_request_status``)."""
        url = self._path(_segment(catalog_id, "catalog_id"), "check_batch_request_status")
        answer = self._json(self._send("GET", url, idempotent=True, params={"handle": handle}), "Batch status")
        # A Graph edge holding the one status; a bare object is read the same way.
        data = answer.get("data")
        item = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else answer
        status = str(item.get("status") or "")
        errors = _status_issues(item.get("errors"))
        for retailer_id in item.get("ids_of_invalid_requests") or []:
            errors.setdefault(str(retailer_id), [])
        return CatalogBatchStatus(
            handle=handle,
            status=status,
            finished=status.lower() in {"finished", "complete", "completed"},
            errors=errors,
            warnings=_status_issues(item.get("warnings")),
        )


__all__ = [
    "CATALOG_BATCH_MAX",
    "DEFAULT_TIMEOUT",
    "AmbiguousSendError",
    "CatalogBatchResult",
    "CatalogBatchStatus",
    "CloudApiClient",
    "CloudApiError",
    "CommerceSettings",
    "PermanentError",
    "TransientError",
    "parse_retry_after",
]
