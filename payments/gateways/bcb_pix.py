"""BCB's API Pix (v2.9.0) for one receiver account at one PSP: immediate charges (``cob``), received Pix, refunds
(``devolução``) and the webhook, over mutual TLS with OAuth 2.0 client credentials (payments CONTRACT §2).

Every PSP speaks the same paths under its own base URL; what differs is set per workspace in :class:`BcbPixConfig`:
the token request's shape, the certificate files and extra headers some banks require. The callback carries no
signature (the PSP authenticates with its TLS client certificate), so :meth:`BcbPixGateway.parse_notification` only
says which charges and Pix to read again.
"""

from __future__ import annotations

import base64
import enum
import json
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx

from payments.gateways import ids
from payments.gateways.base import (
    Charge,
    ChargeRequest,
    ChargeStatus,
    Notification,
    NotificationMalformed,
    Payer,
    PaymentStatus,
    PermanentGatewayError,
    ReceivedPayment,
    Refund,
    RefundStatus,
    Violation,
)
from payments.gateways.http import (
    DEFAULT_TIMEOUT,
    ClosingGateway,
    ErrorDetails,
    HttpClient,
    TlsConfig,
    body_json,
    mapping,
    segment,
)
from payments.gateways.wire import (
    WireFormatError,
    bcb_amount,
    parse_bcb_amount,
    parse_timestamp,
    rfc3339,
)

KIND = "bcb_pix"
DEFAULT_SCOPE = "cob.write cob.read pix.read pix.write webhook.read webhook.write"
CANCELED_BY_US = "REMOVIDA_PELO_USUARIO_RECEBEDOR"
# Renew a token this long before the PSP says it expires, so a call never starts with a token about to lapse.
TOKEN_MARGIN_S = 30.0
# §2.2 limits, applied by cutting our texts rather than by having the PSP refuse the charge.
TEXT_LIMIT = 140
INFO_NAME_LIMIT = 50
INFO_VALUE_LIMIT = 200
INFO_ITEMS_LIMIT = 50
DEBTOR_NAME_LIMIT = 200

T = TypeVar("T")

_CHARGE_STATUS = {
    "ATIVA": ChargeStatus.ACTIVE,
    "CONCLUIDA": ChargeStatus.PAID,
    "REMOVIDA_PELO_USUARIO_RECEBEDOR": ChargeStatus.CANCELED,
    "REMOVIDA_PELO_PSP": ChargeStatus.CANCELED,
}
_REFUND_STATUS = {
    "EM_PROCESSAMENTO": RefundStatus.PROCESSING,
    "DEVOLVIDO": RefundStatus.DONE,
    "NAO_REALIZADO": RefundStatus.FAILED,
}


class TokenRequest(enum.StrEnum):
    """How a PSP wants the client-credentials token request (CONTRACT §2.1, B6)."""

    FORM_BASIC = "form_basic"  # the standard: Basic client_id:client_secret, form grant_type[&scope]
    JSON_BASIC = "json_basic"  # Efí/Gerencianet, PagBank: Basic, JSON {"grant_type": "client_credentials"}
    FORM_CLIENT_ID = "form_client_id"  # Sicoob: form client_id + scope, authenticated by the TLS certificate only


@dataclass(frozen=True)
class BcbPixConfig:
    """One workspace's receiver account at one PSP. ``api_url`` includes the PSP's path and major version
    (``https://pix.example.com/api/v2``); ``extra_headers`` go on every call (some banks want an API key header)."""

    api_url: str
    token_url: str
    client_id: str
    pix_key: str
    client_secret: str = field(default="", repr=False)
    token_request: TokenRequest = TokenRequest.FORM_BASIC
    scope: str | None = DEFAULT_SCOPE
    tls: TlsConfig | None = None
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    extra_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    # The label of the order reference among the texts the payer's bank shows (``infoAdicionais``).
    reference_label: str = "Pedido"


@dataclass(frozen=True)
class PixWebhook:
    url: str
    key: str | None
    created_at: datetime | None


@dataclass
class _Token:
    value: str
    renew_at: float  # time.monotonic()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class BcbPixGateway(ClosingGateway):
    """The API Pix adapter. ``clock`` says what time it is, to derive "expired" (the PSP keeps an unpaid cob
    ``ATIVA`` past its expiry) and to turn ``expires_at`` into ``calendario.expiracao``."""

    kind = KIND

    def __init__(
        self,
        config: BcbPixConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.config = config
        self._clock = clock
        self._http = HttpClient(
            gateway=KIND,
            base_url=config.api_url,
            error_parser=parse_problem,
            timeout=config.timeout,
            tls=config.tls,
            headers={"Accept": "application/json", **config.extra_headers},
            transport=transport,
        )
        self._token: _Token | None = None
        self._token_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<BcbPixGateway {self.config.api_url} client {self.config.client_id}>"

    # --- Charges ------------------------------------------------------------------------------------------------------

    def create_charge(self, request: ChargeRequest) -> Charge:
        """``PUT /cob/{txid}`` with ``charge_id`` as the txid: repeating it updates the same cob while it is ATIVA."""
        if not ids.is_txid(request.charge_id):
            raise ValueError(f"A Pix txid is 26 to 35 letters and digits; {request.charge_id!r} is not.")
        if request.currency != "BRL":
            raise ValueError(f"Pix charges are in BRL, not {request.currency}.")
        body = self.cob_body(request)
        response = self._call("PUT", f"/cob/{segment(request.charge_id, 'txid')}", json=body, expected=(200, 201))
        charge = self._charge(self._http.json(response))
        if charge.pix_copy_paste is None:
            # Without the code there is nothing to send the customer: a PSP that omits it is unusable, not slow.
            raise self._http.unexpected("PUT /cob answered without pixCopiaECola")
        return charge

    def cob_body(self, request: ChargeRequest) -> dict[str, Any]:
        """The ``CobSolicitada`` body for ``request``, in the field order of the contract's fixture."""
        seconds = math.ceil((request.expires_at - self._clock()).total_seconds())
        if seconds <= 0:
            raise ValueError("The charge would already be expired.")
        body: dict[str, Any] = {"calendario": {"expiracao": seconds}}
        if request.payer is not None and (debtor := _debtor(request.payer)) is not None:
            body["devedor"] = debtor
        body["valor"] = {"original": bcb_amount(request.amount)}
        body["chave"] = self.config.pix_key
        if request.description:
            body["solicitacaoPagador"] = request.description[:TEXT_LIMIT]
        info = [*request.extra_info, (self.config.reference_label, request.reference)]
        if len(info) > INFO_ITEMS_LIMIT:
            raise ValueError(f"At most {INFO_ITEMS_LIMIT} texts can be shown to the payer.")
        body["infoAdicionais"] = [
            {"nome": name[:INFO_NAME_LIMIT], "valor": value[:INFO_VALUE_LIMIT]} for name, value in info
        ]
        return body

    def get_charge(self, psp_reference: str) -> Charge:
        response = self._call("GET", f"/cob/{segment(psp_reference, 'txid')}", expected=(200,))
        return self._charge(self._http.json(response))

    def cancel_charge(self, psp_reference: str) -> Charge:
        """``PATCH`` the cob to ``REMOVIDA_PELO_USUARIO_RECEBEDOR``.

        Returns the charge as it then is: ``CANCELED``, or ``PAID`` when the payer got in first (the PSP refuses to
        change a cob that is no longer ATIVA, and the charge read again says why).
        """
        path = f"/cob/{segment(psp_reference, 'txid')}"
        try:
            response = self._call("PATCH", path, json={"status": CANCELED_BY_US}, expected=(200,))
        except PermanentGatewayError as error:
            if error.http_status != 400:
                raise
            charge = self.get_charge(psp_reference)
            if charge.status is ChargeStatus.ACTIVE:
                raise
            return charge
        return self._charge(self._http.json(response))

    # --- Received Pix and refunds -------------------------------------------------------------------------------------

    def get_payment(self, psp_payment_id: str) -> ReceivedPayment:
        response = self._call("GET", f"/pix/{segment(psp_payment_id, 'endToEndId')}", expected=(200,))
        return self._parsed(lambda: _payment(self._http.json(response)))

    def list_payments(self, *, start: datetime, end: datetime, page_size: int = 100) -> Iterator[ReceivedPayment]:
        """Every Pix received between ``start`` and ``end``, page by page: the sweep that catches lost callbacks."""
        page = 0
        while True:
            params = {
                "inicio": rfc3339(start),
                "fim": rfc3339(end),
                "paginacao.paginaAtual": str(page),
                "paginacao.itensPorPagina": str(page_size),
            }
            data = mapping(self._http.json(self._call("GET", "/pix", params=params, expected=(200,))))
            yield from self._parsed(partial(_payments, data.get("pix") or []))
            pages = mapping(mapping(data.get("parametros")).get("paginacao")).get("quantidadeDePaginas", 1)
            page += 1
            if not isinstance(pages, int) or page >= pages:
                return

    def refund(self, *, psp_payment_id: str, amount: int, refund_id: str, reason: str = "") -> Refund:
        """``PUT /pix/{e2eid}/devolucao/{refund_id}``; a retry after a lost answer finds the devolução it created."""
        if not ids.is_refund_id(refund_id):
            raise ValueError(f"A devolução id is 1 to 35 letters and digits; {refund_id!r} is not.")
        body: dict[str, Any] = {"valor": bcb_amount(amount), "natureza": "ORIGINAL"}
        if reason:
            body["descricao"] = reason[:TEXT_LIMIT]
        path = self._refund_path(psp_payment_id, refund_id)
        try:
            response = self._call("PUT", path, json=body, expected=(200, 201))
        except PermanentGatewayError as error:
            if error.code != "PixDevolucaoInvalida":
                raise
            # The PSP refuses a reused id: if it is ours with the same amount, the first attempt went through.
            existing = self._existing_refund(psp_payment_id, refund_id)
            if existing is None or existing.amount != amount:
                raise
            return existing
        return self._parsed(lambda: _refund(self._http.json(response), psp_payment_id))

    def get_refund(self, *, psp_payment_id: str, psp_refund_id: str) -> Refund:
        response = self._call("GET", self._refund_path(psp_payment_id, psp_refund_id), expected=(200,))
        return self._parsed(lambda: _refund(self._http.json(response), psp_payment_id))

    def _existing_refund(self, psp_payment_id: str, refund_id: str) -> Refund | None:
        try:
            return self.get_refund(psp_payment_id=psp_payment_id, psp_refund_id=refund_id)
        except PermanentGatewayError as error:
            if error.http_status == 404:
                return None
            raise

    @staticmethod
    def _refund_path(psp_payment_id: str, refund_id: str) -> str:
        return f"/pix/{segment(psp_payment_id, 'endToEndId')}/devolucao/{segment(refund_id, 'devolução id')}"

    # --- Webhook ------------------------------------------------------------------------------------------------------

    def register_webhook(self, url: str) -> None:
        """``PUT /webhook/{chave}``: the PSP will POST to ``{url}/pix`` (our route must accept that suffix)."""
        self._call("PUT", self._webhook_path(), json={"webhookUrl": url}, expected=(200, 201, 204))

    def get_webhook(self) -> PixWebhook | None:
        try:
            response = self._call("GET", self._webhook_path(), expected=(200,))
        except PermanentGatewayError as error:
            if error.http_status == 404:
                return None
            raise
        data = mapping(self._http.json(response))
        created = data.get("criacao")
        return self._parsed(
            lambda: PixWebhook(
                url=str(data["webhookUrl"]),
                # The official example returns "chave" where the schema requires "cnpj" (CONTRACT §2.9): accept both.
                key=data.get("chave") or data.get("cnpj"),
                created_at=parse_timestamp(created) if created else None,
            )
        )

    def delete_webhook(self) -> None:
        self._call("DELETE", self._webhook_path(), expected=(200, 204))

    def _webhook_path(self) -> str:
        return f"/webhook/{segment(self.config.pix_key, 'Pix key')}"

    def parse_notification(
        self, *, headers: Mapping[str, str], query: Mapping[str, str], raw_body: bytes, now: float
    ) -> Notification:
        """The txids and endToEndIds of a ``POST {webhookUrl}/pix`` callback ``{"pix": [...]}``.

        There is nothing to verify in the body (the PSP authenticates with mutual TLS): the caller must read each
        named charge again with :meth:`get_charge` before acting.
        """
        data = _json_object(raw_body)
        items = data.get("pix")
        if not isinstance(items, list) or not items or not all(isinstance(item, Mapping) for item in items):
            raise NotificationMalformed('A Pix callback is {"pix": [...]} with at least one Pix.')
        txids = [item["txid"] for item in items if isinstance(item.get("txid"), str)]
        e2eids = [item["endToEndId"] for item in items if isinstance(item.get("endToEndId"), str)]
        return Notification(
            gateway=KIND,
            topic="pix",
            psp_references=tuple(dict.fromkeys(txids)),
            psp_payment_ids=tuple(dict.fromkeys(e2eids)),
        )

    # --- Parsing ------------------------------------------------------------------------------------------------------

    def _charge(self, cob: Any) -> Charge:
        return self._parsed(lambda: self._charge_of(mapping(cob)))

    def _charge_of(self, cob: Mapping[str, Any]) -> Charge:
        calendar = mapping(cob["calendario"])
        expires_at = parse_timestamp(calendar["criacao"]) + timedelta(seconds=int(calendar.get("expiracao", 86400)))
        status = _CHARGE_STATUS[cob["status"]]
        if status is ChargeStatus.ACTIVE and self._clock() > expires_at:
            status = ChargeStatus.EXPIRED  # the registry keeps it ATIVA; payment is refused by then
        labels = {info.get("nome"): info.get("valor") for info in map(mapping, cob.get("infoAdicionais") or [])}
        return Charge(
            gateway=KIND,
            psp_reference=str(cob["txid"]),
            status=status,
            amount=parse_bcb_amount(mapping(cob["valor"])["original"]),
            expires_at=expires_at,
            pix_copy_paste=cob.get("pixCopiaECola") or None,
            pix_key=cob.get("chave"),
            reference=labels.get(self.config.reference_label),
            payments=tuple(_payment(pix) for pix in cob.get("pix") or []),
        )

    def _parsed(self, build: Callable[[], T]) -> T:
        """Run ``build`` over a PSP answer, turning a missing or ill-formed field into a permanent error."""
        try:
            return build()
        except (KeyError, TypeError, ValueError, WireFormatError) as exc:
            raise self._http.unexpected(f"the PSP's answer breaks the API Pix schema: {exc!r}") from None

    # --- HTTP with a token --------------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, expected: tuple[int, ...], **kwargs: Any) -> httpx.Response:
        """A call with a Bearer token; a 401 (the token expired or was revoked early) is retried once with a new one."""
        for attempt in (1, 2):
            token = self._access_token()
            headers = {"Authorization": f"Bearer {token}"}
            response = self._http.send(method, path, expected=(*expected, 401), headers=headers, **kwargs)
            if response.status_code != 401 or 401 in expected:
                return response
            self._forget_token(token)
            if attempt == 2:
                break
        raise self._http.error_for(response)

    def _access_token(self) -> str:
        with self._token_lock:
            if self._token is None or time.monotonic() >= self._token.renew_at:
                self._token = self._fetch_token()
            return self._token.value

    def _forget_token(self, value: str) -> None:
        with self._token_lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    def _fetch_token(self) -> _Token:
        response = self._http.send("POST", self.config.token_url, expected=(200, 201), **self.token_request())
        data = mapping(self._http.json(response))
        token, kind = data.get("access_token"), data.get("token_type", "Bearer")
        # Some PSPs write expires_in as a string of digits; RFC 6749 makes it optional (an hour is the common value).
        lifetime = data.get("expires_in", 3600)
        lifetime = int(lifetime) if isinstance(lifetime, str) and lifetime.isdigit() else lifetime
        if not isinstance(token, str) or not token or str(kind).lower() != "bearer" or not isinstance(lifetime, int):
            raise self._http.unexpected("the token endpoint answered without a Bearer access_token and expires_in")
        margin = min(TOKEN_MARGIN_S, lifetime / 10)
        return _Token(value=token, renew_at=time.monotonic() + lifetime - margin)

    def token_request(self) -> dict[str, Any]:
        """The keyword arguments of the token ``POST`` in this PSP's shape (headers and body)."""
        config = self.config
        scope = [("scope", config.scope)] if config.scope else []
        if config.token_request is TokenRequest.FORM_CLIENT_ID:
            form = [("grant_type", "client_credentials"), ("client_id", config.client_id), *scope]
            return {"content": _form(form), "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
        basic = base64.b64encode(f"{config.client_id}:{config.client_secret}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}"}
        if config.token_request is TokenRequest.JSON_BASIC:
            return {"json": {"grant_type": "client_credentials", **dict(scope)}, "headers": headers}
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return {"content": _form([("grant_type", "client_credentials"), *scope]), "headers": headers}


def _form(pairs: list[tuple[str, str]]) -> bytes:
    # Spaces as %20, as the contract's token exchange shows (httpx's data= would write "+").
    return urlencode(pairs, quote_via=quote).encode()


def _json_object(raw_body: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(raw_body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise NotificationMalformed("The body is not JSON.") from None
    if not isinstance(data, Mapping):
        raise NotificationMalformed("The body is not a JSON object.")
    return data


def _debtor(payer: Payer) -> dict[str, str] | None:
    """``devedor`` needs a CPF or CNPJ beside the name; without one the charge is addressed to nobody."""
    tax_id = payer.tax_id or ""
    name = payer.name[:DEBTOR_NAME_LIMIT]
    if len(tax_id) == 11 and tax_id.isdigit():
        return {"cpf": tax_id, "nome": name}
    if len(tax_id) == 14 and tax_id.isalnum() and tax_id.isascii() and tax_id == tax_id.upper():
        return {"cnpj": tax_id, "nome": name}
    return None


def _payments(items: list[Any]) -> list[ReceivedPayment]:
    return [_payment(pix) for pix in items]


def _payment(pix: Any) -> ReceivedPayment:
    pix = mapping(pix)
    e2eid = str(pix["endToEndId"])
    amount = parse_bcb_amount(pix["valor"])
    refunds = tuple(_refund(item, e2eid) for item in pix.get("devolucoes") or [])
    refunded = sum(refund.amount for refund in refunds if refund.status is RefundStatus.DONE)
    return ReceivedPayment(
        psp_payment_id=e2eid,
        amount=amount,
        status=PaymentStatus.REFUNDED if refunded >= amount else PaymentStatus.PAID,
        paid_at=parse_timestamp(pix["horario"]),
        refunded_amount=refunded,
        refunds=refunds,
        psp_reference=pix.get("txid"),
    )


def _refund(devolucao: Any, psp_payment_id: str) -> Refund:
    devolucao = mapping(devolucao)
    times = mapping(devolucao.get("horario"))
    return Refund(
        refund_id=str(devolucao["id"]),
        psp_refund_id=str(devolucao["id"]),
        psp_payment_id=psp_payment_id,
        amount=parse_bcb_amount(devolucao["valor"]),
        status=_REFUND_STATUS[devolucao["status"]],
        reason=devolucao.get("motivo"),
        requested_at=parse_timestamp(times["solicitacao"]) if times.get("solicitacao") else None,
        settled_at=parse_timestamp(times["liquidacao"]) if times.get("liquidacao") else None,
    )


def parse_problem(response: httpx.Response) -> ErrorDetails:
    """An RFC 7807 problem (``type``, ``title``, ``detail``, ``violacoes``) or an OAuth error (``error``)."""
    body = mapping(body_json(response))
    if isinstance(body.get("error"), str):
        description = body.get("error_description")
        return ErrorDetails(message=str(description or body["error"]), code=body["error"])
    kind = body.get("type")
    code = kind.rstrip("/").rsplit("/", 1)[-1] if isinstance(kind, str) and kind else None
    title, detail = body.get("title"), body.get("detail")
    message = ": ".join(str(part) for part in (title, detail) if part) or f"HTTP {response.status_code}"
    violations = tuple(
        Violation(
            reason=str(item.get("razao", "")),
            property=item.get("propriedade"),
            value=None if item.get("valor") is None else str(item.get("valor")),
        )
        for item in body.get("violacoes") or []
        if isinstance(item, Mapping)
    )
    return ErrorDetails(message=message, code=code, violations=violations)
