"""The fake API Pix (BCB v2.9.0, CONTRACT §2 and §7 "Fake API Pix"): OAuth 2.0 client credentials with
certificate-bound tokens, immediate charges, received Pix, devoluções, the webhook and its ``{url}/pix`` callback.

Mounted under ``/pix``: token URL ``/pix/oauth/token``, API base ``/pix/api/v2``. Mutual TLS is real when the server
runs with TLS (the client certificate's SHA-256 thumbprint binds the token); in plain-HTTP test mode the thumbprint is
read from ``X-Client-Cert-Thumbprint`` instead.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import string
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from payments.brcode import dynamic_code
from payments.fake import problems
from payments.fake.delivery import Dispatcher
from payments.fake.pix_rules import (
    DEFAULT_EXPIRACAO,
    DEVOLUCAO_ID,
    E2EID,
    PIX_TXID,
    REMOVED_BY_RECEIVER,
    TXID,
    CobFields,
    check_cob,
    check_devolucao,
    is_dict_key,
)
from payments.fake.problems import Problem, Violacao
from payments.fake.state import Cob, Devolucao, FakePspState, PixWebhook, ReceivedPix, Receiver, Token
from payments.fake.wire import cents_to_bcb, compact_json, parse_time, pix_time

THUMBPRINT_HEADER = "x-client-cert-thumbprint"
REFUND_WINDOW_S = 90 * 86400
MAX_PAGE_SIZE = 1000
_ALNUM = string.ascii_letters + string.digits


class PaymentRefused(Exception):
    """The simulated payer's bank refuses to pay (the charge is paid, removed or expired, or the amount is wrong)."""


def _random_alnum(count: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(count))


def end_to_end_id(ispb: str, moment: float) -> str:
    """``E`` + ISPB(8) + ``yyyyMMddHHmm`` (UTC, the minute of ``horario``) + 11 letters and digits."""
    return "E" + ispb + datetime.fromtimestamp(moment, UTC).strftime("%Y%m%d%H%M") + _random_alnum(11)


def return_id(ispb: str, moment: float) -> str:
    """``rtrId``: the same layout with ``D``."""
    return "D" + ispb + datetime.fromtimestamp(moment, UTC).strftime("%Y%m%d%H%M") + _random_alnum(11)


class PixEngine:
    def __init__(self, state: FakePspState, dispatcher: Dispatcher) -> None:
        self.state = state
        self.dispatcher = dispatcher

    # --- OAuth ----------------------------------------------------------------------------------------------------

    def issue_token(self, params: dict[str, str], basic: tuple[str, str] | None, thumbprint: str | None) -> Token:
        """Client credentials: Basic or form ``client_secret``, or ``client_id`` alone when a known cert presents it."""
        if params.get("grant_type") != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type")
        client_id, secret = basic if basic else (params.get("client_id", ""), params.get("client_secret"))
        with self.state.lock:
            receiver = next((r for r in self.state.pix.receivers.values() if r.client_id == client_id), None)
            if receiver is None or not self._authenticates(receiver, secret, thumbprint):
                raise OAuthError(401, "invalid_client")
            requested = params.get("scope", "").split()
            if not set(requested) <= receiver.scopes:
                raise OAuthError(400, "invalid_scope")
            token = Token(
                value=secrets.token_urlsafe(32),
                receiver_id=receiver.id,
                scope=" ".join(requested or sorted(receiver.scopes)),
                thumbprint=thumbprint,
                expires_at=self.state.now() + self.state.settings.token_ttl_s,
            )
            self.state.pix.tokens[token.value] = token
            return token

    @staticmethod
    def _authenticates(receiver: Receiver, secret: str | None, thumbprint: str | None) -> bool:
        if receiver.cert_thumbprint is not None and thumbprint != receiver.cert_thumbprint:
            return False  # the token endpoint needs mTLS too, and with the receiver's own certificate
        if secret is None:
            return receiver.cert_thumbprint is not None  # Sicoob's shape: the certificate is the only proof
        return hmac.compare_digest(secret.encode(), receiver.client_secret.encode())

    def authorize(self, header: str | None, thumbprint: str | None, scope: str) -> Receiver:
        scheme, _, value = (header or "").partition(" ")
        with self.state.lock:
            token = self.state.pix.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
            if token is None:
                raise problems.nao_autorizado("O token de acesso não foi informado ou é inválido.")
            if self.state.now() >= token.expires_at:
                raise problems.nao_autorizado("O token de acesso expirou.")
            if token.thumbprint != thumbprint:
                raise problems.nao_autorizado("O token de acesso está vinculado a outro certificado.")
            if scope not in token.scopes:
                raise problems.acesso_negado()
            return self.state.pix.receivers[token.receiver_id]

    # --- Cob --------------------------------------------------------------------------------------------------------

    def put_cob(self, receiver: Receiver, txid: str, body: Any) -> dict[str, Any]:
        if not TXID.fullmatch(txid):
            raise problems.cob_invalida([Violacao("O campo cob.txid não respeita o _schema_.", "cob.txid", txid)])
        with self.state.lock:
            existing = self.state.pix.cobs.get((receiver.id, txid))
            found = self._checked(body, receiver, revision=False)
            if existing is None:
                return self.render_cob(self._create(receiver, txid, found))
            if existing.status != "ATIVA":
                razao = "A cobrança já existe, não está no status ATIVA, e a presente requisição busca alterá-la."
                raise problems.cob_operacao_invalida(razao)
            self._revise(existing, found, replace=True)
            return self.render_cob(existing)

    def post_cob(self, receiver: Receiver, body: Any) -> dict[str, Any]:
        with self.state.lock:
            found = self._checked(body, receiver, revision=False)
            return self.render_cob(self._create(receiver, uuid.uuid4().hex, found))

    def patch_cob(self, receiver: Receiver, txid: str, body: Any) -> dict[str, Any]:
        with self.state.lock:
            cob = self._cob(receiver, txid)
            found = self._checked(body, receiver, revision=True)
            if cob.status != "ATIVA":
                raise problems.cob_operacao_invalida(
                    "A cobrança não está ATIVA, e a presente requisição busca alterá-la."
                )
            if found.status is not None and found.present - {"status"}:
                raise problems.cob_operacao_invalida(
                    "A cobrança está ATIVA, e a presente requisição propõe alterar seu status para "
                    "REMOVIDA_PELO_USUARIO_RECEBEDOR juntamente com outras alterações."
                )
            if found.status == REMOVED_BY_RECEIVER:
                cob.status = REMOVED_BY_RECEIVER
                self._snapshot(cob, bump=True)
            else:
                self._revise(cob, found, replace=False)
            return self.render_cob(cob)

    def get_cob(self, receiver: Receiver, txid: str, revisao: str | None) -> dict[str, Any]:
        with self.state.lock:
            cob = self._cob(receiver, txid)
            if revisao is None:
                return self.render_cob(cob, with_pix=True)
            if not revisao.isdigit() or int(revisao) > cob.revisao:
                razao = (
                    "o parâmetro revisao corresponde a uma revisão inexistente para a cobrança apontada pelo "
                    "parâmetro txid."
                )
                raise problems.consulta_invalida("CobConsultaInvalida", [Violacao(razao, "revisao", revisao)])
            return dict(cob.revisions[int(revisao)])

    def list_cobs(self, receiver: Receiver, query: dict[str, str]) -> dict[str, Any]:
        window, page, per_page = _list_query(query, "CobConsultaInvalida")
        with self.state.lock:
            cobs = [
                cob
                for cob in self.state.pix.cobs.values()
                if cob.receiver_id == receiver.id
                and window[0] <= cob.created_at <= window[1]
                and _cob_matches(cob, query)
            ]
            cobs.sort(key=lambda cob: cob.created_at)
            rendered = [self.render_cob(cob, with_pix=True) for cob in cobs]
        return _page(query, rendered, "cobs", page, per_page)

    def _checked(self, body: Any, receiver: Receiver, *, revision: bool) -> CobFields:
        found, violacoes = check_cob(body, keys=receiver.keys, revision=revision)
        if violacoes:
            raise problems.cob_invalida(violacoes)
        return found

    def _cob(self, receiver: Receiver, txid: str) -> Cob:
        cob = self.state.pix.cobs.get((receiver.id, txid))
        if cob is None:
            raise problems.cob_nao_encontrada()
        return cob

    def _create(self, receiver: Receiver, txid: str, found: CobFields) -> Cob:
        now = self.state.now()
        location = f"{self.state.settings.location_base.strip('/')}/{uuid.uuid4().hex}"
        assert found.original_cents is not None and found.chave is not None
        cob = Cob(
            receiver_id=receiver.id,
            txid=txid,
            created_at=now,
            expiracao=found.expiracao or DEFAULT_EXPIRACAO,
            original_cents=found.original_cents,
            modalidade=found.modalidade or 0,
            chave=found.chave,
            loc_id=self.state.next_id(),
            location=location,
            copy_paste=dynamic_code(
                location=location, merchant_name=receiver.merchant_name, merchant_city=receiver.merchant_city
            ),
            devedor=found.devedor,
            solicitacao=found.solicitacao,
            info=found.info,
        )
        self.state.pix.cobs[(receiver.id, txid)] = cob
        self._snapshot(cob, bump=False)
        return cob

    def _revise(self, cob: Cob, found: CobFields, *, replace: bool) -> None:
        """Apply a PUT (``replace``: absent optional fields are removed) or a PATCH; a real change bumps ``revisao``."""
        before = self.render_cob(cob)
        present = found.present
        if found.expiracao is not None:
            cob.expiracao = found.expiracao
        if found.original_cents is not None:
            cob.original_cents = found.original_cents
        if found.modalidade is not None:
            cob.modalidade = found.modalidade
        if found.chave is not None:
            cob.chave = found.chave
        for name, attribute in (
            ("devedor", "devedor"),
            ("solicitacaoPagador", "solicitacao"),
            ("infoAdicionais", "info"),
        ):
            if name in present or replace:
                setattr(cob, attribute, getattr(found, attribute))
        if self.render_cob(cob) != before:
            self._snapshot(cob, bump=True)

    def _snapshot(self, cob: Cob, *, bump: bool) -> None:
        if bump:
            cob.revisao += 1
        cob.revisions.append(self.render_cob(cob))

    def render_cob(self, cob: Cob, *, with_pix: bool = False) -> dict[str, Any]:
        created = pix_time(cob.created_at)
        data: dict[str, Any] = {
            "calendario": {"criacao": created, "expiracao": cob.expiracao},
            "txid": cob.txid,
            "revisao": cob.revisao,
            "loc": {"id": cob.loc_id, "txid": cob.txid, "location": cob.location, "tipoCob": "cob", "criacao": created},
            "location": cob.location,
            "status": cob.status,
        }
        if cob.devedor:
            data["devedor"] = dict(cob.devedor)
        data["valor"] = {"original": cents_to_bcb(cob.original_cents), "modalidadeAlteracao": cob.modalidade}
        data["chave"] = cob.chave
        if cob.solicitacao is not None:
            data["solicitacaoPagador"] = cob.solicitacao
        if cob.info is not None:
            data["infoAdicionais"] = [dict(item) for item in cob.info]
        data["pixCopiaECola"] = cob.copy_paste
        if with_pix and cob.pix:
            data["pix"] = [render_pix(self.state.pix.pix[e2eid]) for e2eid in cob.pix]
        return data

    # --- Simulated payer ------------------------------------------------------------------------------------------

    def find_cob(self, *, txid: str | None = None, location: str | None = None) -> Cob | None:
        with self.state.lock:
            for cob in self.state.pix.cobs.values():
                if (txid and cob.txid == txid) or (location and cob.location.lower() == location.lower()):
                    return cob
        return None

    def pay(self, cob: Cob, *, cents: int | None, force: bool, info_pagador: str | None) -> ReceivedPix:
        """One payment of ``cob`` by the payer's bank; refused as a real one would be unless ``force``.

        A forced payment of another amount than a fixed (``modalidadeAlteracao`` 0) charge's is received but does
        not conclude the charge.
        """
        with self.state.lock:
            now = self.state.now()
            amount = cob.original_cents if cents is None else cents
            right_amount = cob.modalidade == 1 or amount == cob.original_cents
            if not force:
                self._check_payable(cob, now, amount, right_amount)
            pix = ReceivedPix(
                e2eid=end_to_end_id(self.state.settings.payer_ispb, now),
                receiver_id=cob.receiver_id,
                txid=cob.txid,
                cents=amount,
                chave=cob.chave,
                horario=now,
                info_pagador=info_pagador,
            )
            self.state.pix.pix[pix.e2eid] = pix
            cob.pix.append(pix.e2eid)
            if cob.status == "ATIVA" and right_amount:
                cob.status = "CONCLUIDA"
            return pix

    @staticmethod
    def _check_payable(cob: Cob, now: float, amount: int, right_amount: bool) -> None:
        if cob.status != "ATIVA":
            raise PaymentRefused(f"The charge is {cob.status}; it takes no payment.")
        if cob.expired(now):
            raise PaymentRefused("The charge has expired.")
        if amount <= 0 or not right_amount:
            raise PaymentRefused(f"The charge is for exactly {cents_to_bcb(cob.original_cents)}.")

    def notify(self, pix_list: list[ReceivedPix]) -> None:
        """``POST {webhookUrl}/pix`` for the Pix with a txid on keys that have a webhook (batched if set)."""
        with self.state.lock:
            by_url: dict[str, list[ReceivedPix]] = {}
            for pix in pix_list:
                hook = self.state.pix.webhooks.get(pix.chave)
                if pix.txid and hook is not None and hook.receiver_id == pix.receiver_id:
                    by_url.setdefault(hook.url.rstrip("/") + "/pix", []).append(pix)
            groups: list[tuple[str, list[ReceivedPix]]] = []
            for url, items in by_url.items():
                groups += [(url, items)] if self.state.settings.batch_pix_callbacks else [(url, [p]) for p in items]
            sends = [(url, compact_json({"pix": [render_pix(pix) for pix in items]})) for url, items in groups]
        for url, body in sends:
            self.dispatcher.send("pix", url, body, {"Content-Type": "application/json"})

    # --- Pix and devoluções -----------------------------------------------------------------------------------------

    def get_pix(self, receiver: Receiver, e2eid: str) -> dict[str, Any]:
        with self.state.lock:
            return render_pix(self._pix(receiver, e2eid))

    def list_pix(self, receiver: Receiver, query: dict[str, str]) -> dict[str, Any]:
        window, page, per_page = _list_query(query, "PixConsultaInvalida")
        if "txid" in query and not PIX_TXID.fullmatch(query["txid"]):
            violacao = Violacao("O parâmetro txid não respeita o _schema_.", "txid", query["txid"])
            raise problems.consulta_invalida("PixConsultaInvalida", [violacao])
        with self.state.lock:
            found = [
                pix
                for pix in self.state.pix.pix.values()
                if pix.receiver_id == receiver.id and window[0] <= pix.horario <= window[1] and _pix_matches(pix, query)
            ]
            found.sort(key=lambda pix: pix.horario)
            rendered = [render_pix(pix) for pix in found]
        return _page(query, rendered, "pix", page, per_page)

    def put_devolucao(self, receiver: Receiver, e2eid: str, devolucao_id: str, body: Any) -> dict[str, Any]:
        with self.state.lock:
            pix = self._pix(receiver, e2eid)
            cents, violacoes = check_devolucao(body)
            if not DEVOLUCAO_ID.fullmatch(devolucao_id):
                violacoes.append(
                    Violacao("O campo devolucao.id não respeita o _schema_.", "devolucao.id", devolucao_id)
                )
            if not violacoes and cents is not None:
                violacoes = self._devolucao_conflicts(pix, devolucao_id, cents, body["valor"])
            if violacoes or cents is None:
                raise problems.devolucao_invalida(violacoes)
            now = self.state.now()
            devolucao = Devolucao(
                id=devolucao_id,
                rtr_id=return_id(self.state.settings.psp_ispb, now),
                cents=cents,
                natureza=body.get("natureza", "ORIGINAL"),
                descricao=body.get("descricao"),
                requested_at=now,
            )
            pix.devolucoes.append(devolucao)
            answer = render_devolucao(devolucao)
            auto = self.state.settings.devolucao_auto_settle
        if auto:
            self.settle(pix.e2eid, devolucao_id, status=auto, motivo=None)
        return answer

    def _devolucao_conflicts(self, pix: ReceivedPix, devolucao_id: str, cents: int, valor: str) -> list[Violacao]:
        if any(d.id == devolucao_id for d in pix.devolucoes):
            razao = (
                "A presente requisição de devolução apresenta um {id} já utilizado por outra requisição de devolução "
                "para o {e2eid} em questão."
            )
            return [Violacao(razao, "devolucao.id", devolucao_id)]
        if self.state.now() - pix.horario > REFUND_WINDOW_S:
            razao = (
                "A presente requisição de devolução viola a janela de tempo permitida para solicitações de devoluções "
                "de um pix (hoje estabelecida como 90 dias desde a data de liquidação original do pix)."
            )
            return [Violacao(razao, "devolucao")]
        committed = sum(d.cents for d in pix.devolucoes if d.status != "NAO_REALIZADO")
        if committed + cents > pix.cents:
            razao = (
                "A presente requisição de devolução, em conjunto com as demais prévias devoluções, excederia o valor "
                "do pix originário."
            )
            return [Violacao(razao, "devolucao.valor", valor)]
        return []

    def get_devolucao(self, receiver: Receiver, e2eid: str, devolucao_id: str) -> dict[str, Any]:
        with self.state.lock:
            pix = self._pix(receiver, e2eid)
            devolucao = next((d for d in pix.devolucoes if d.id == devolucao_id), None)
            if devolucao is None:
                raise problems.devolucao_nao_encontrada()
            return render_devolucao(devolucao)

    def settle(self, e2eid: str, devolucao_id: str, *, status: str, motivo: str | None) -> dict[str, Any]:
        """The refund reaches a final state; the Pix is sent again with its ``devolucoes`` (B2 #354)."""
        if status not in ("DEVOLVIDO", "NAO_REALIZADO"):
            raise PaymentRefused("A devolução ends DEVOLVIDO or NAO_REALIZADO.")
        with self.state.lock:
            pix = self.state.pix.pix.get(e2eid)
            devolucao = next((d for d in pix.devolucoes if d.id == devolucao_id), None) if pix else None
            if pix is None or devolucao is None:
                raise PaymentRefused("No such devolução.")
            if devolucao.status != "EM_PROCESSAMENTO":
                raise PaymentRefused(f"The devolução is already {devolucao.status}.")
            devolucao.status = status
            if status == "DEVOLVIDO":
                devolucao.settled_at = self.state.now()
            else:
                devolucao.motivo = motivo or "Negado por timeout"
            answer = render_devolucao(devolucao)
        self.notify([pix])
        return answer

    def _pix(self, receiver: Receiver, e2eid: str) -> ReceivedPix:
        pix = self.state.pix.pix.get(e2eid) if E2EID.fullmatch(e2eid) else None
        if pix is None or pix.receiver_id != receiver.id:
            raise problems.pix_nao_encontrado()
        return pix

    # --- Webhook ----------------------------------------------------------------------------------------------------

    def put_webhook(self, receiver: Receiver, chave: str, body: Any) -> None:
        url = body.get("webhookUrl") if isinstance(body, dict) else None
        with self.state.lock:
            if not is_dict_key(chave):
                razao = "o parâmetro {chave} não corresponde a uma chave DICT válida."
                raise problems.webhook_invalido([Violacao(razao, "chave", chave)])
            if chave not in receiver.keys:
                razao = "o parâmetro {chave} não corresponde a uma chave DICT pertencente a este usuário recebedor."
                raise problems.webhook_invalido([Violacao(razao, "chave", chave)])
            if not self._webhook_url_ok(url):
                razao = "Campo webhook.webhookUrl não respeita o _schema_."
                raise problems.webhook_invalido([Violacao(razao, "webhook.webhookUrl", problems.as_text(url))])
            assert isinstance(url, str)
            self.state.pix.webhooks[chave] = PixWebhook(receiver.id, chave, url, self.state.now())

    def _webhook_url_ok(self, url: Any) -> bool:
        if not isinstance(url, str):
            return False
        parts = urlsplit(url)
        schemes = ("https",) if self.state.settings.require_https_webhooks else ("https", "http")
        return parts.scheme in schemes and bool(parts.netloc)

    def get_webhook(self, receiver: Receiver, chave: str) -> dict[str, Any]:
        with self.state.lock:
            return render_webhook(self._webhook(receiver, chave))

    def delete_webhook(self, receiver: Receiver, chave: str) -> None:
        with self.state.lock:
            self._webhook(receiver, chave)
            del self.state.pix.webhooks[chave]

    def list_webhooks(self, receiver: Receiver, query: dict[str, str]) -> dict[str, Any]:
        with self.state.lock:
            hooks = [render_webhook(h) for h in self.state.pix.webhooks.values() if h.receiver_id == receiver.id]
        page, per_page = _paging(query, "WebhookConsultaInvalida")
        data = _page(query, hooks, "webhooks", page, per_page)
        data["parametros"].pop("inicio", None)
        data["parametros"].pop("fim", None)
        return data

    def _webhook(self, receiver: Receiver, chave: str) -> PixWebhook:
        hook = self.state.pix.webhooks.get(chave)
        if hook is None or hook.receiver_id != receiver.id:
            raise problems.webhook_nao_encontrado()
        return hook


class OAuthError(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


# --- Rendering --------------------------------------------------------------------------------------------------------


def render_pix(pix: ReceivedPix) -> dict[str, Any]:
    valor = cents_to_bcb(pix.cents)
    data: dict[str, Any] = {"endToEndId": pix.e2eid}
    if pix.txid:
        data["txid"] = pix.txid
    data |= {"valor": valor, "componentesValor": {"original": {"valor": valor}}, "chave": pix.chave}
    data["horario"] = pix_time(pix.horario)
    if pix.info_pagador:
        data["infoPagador"] = pix.info_pagador
    if pix.devolucoes:
        data["devolucoes"] = [render_devolucao(d) for d in pix.devolucoes]
    return data


def render_devolucao(devolucao: Devolucao) -> dict[str, Any]:
    horario = {"solicitacao": pix_time(devolucao.requested_at)}
    if devolucao.settled_at is not None:
        horario["liquidacao"] = pix_time(devolucao.settled_at)
    data: dict[str, Any] = {
        "id": devolucao.id,
        "rtrId": devolucao.rtr_id,
        "valor": cents_to_bcb(devolucao.cents),
        "natureza": devolucao.natureza,
    }
    if devolucao.descricao:
        data["descricao"] = devolucao.descricao
    data |= {"horario": horario, "status": devolucao.status}
    if devolucao.motivo:
        data["motivo"] = devolucao.motivo
    return data


def render_webhook(hook: PixWebhook) -> dict[str, Any]:
    # The official example's shape (chave), not the schema's (cnpj): CONTRACT §2.9.
    return {"webhookUrl": hook.url, "chave": hook.chave, "criacao": pix_time(hook.created_at)}


# --- Lists ------------------------------------------------------------------------------------------------------------


def _list_query(query: dict[str, str], kind: str) -> tuple[tuple[float, float], int, int]:
    violacoes = []
    bounds = []
    for name in ("inicio", "fim"):
        moment = parse_time(query[name]) if name in query else None
        if moment is None:
            violacoes.append(Violacao(f"O parâmetro {name} não respeita o _schema_.", name, query.get(name)))
        bounds.append(moment)
    start, end = bounds
    if start is not None and end is not None and end < start:
        razao = (
            "o timestamp representado pelo parâmetro fim é anterior ao timestamp representado pelo parâmetro inicio."
        )
        violacoes.append(Violacao(razao, "fim", query["fim"]))
    if "cpf" in query and "cnpj" in query:
        violacoes.append(Violacao("ambos os parâmetros cpf e cnpj estão preenchidos.", "cpf"))
    if violacoes:
        raise problems.consulta_invalida(kind, violacoes)
    page, per_page = _paging(query, kind)
    assert start is not None and end is not None
    return (start, end), page, per_page


def _paging(query: dict[str, str], kind: str) -> tuple[int, int]:
    page_text = query.get("paginacao.paginaAtual", "0")
    size_text = query.get("paginacao.itensPorPagina", "100")
    violacoes = []
    if not page_text.isdigit():
        violacoes.append(Violacao("o parâmetro paginacao.paginaAtual é negativo.", "paginacao.paginaAtual", page_text))
    if not size_text.isdigit() or not 1 <= int(size_text) <= MAX_PAGE_SIZE:
        razao = "o parâmetro paginacao.itensPorPagina não respeita o _schema_."
        violacoes.append(Violacao(razao, "paginacao.itensPorPagina", size_text))
    if violacoes:
        raise problems.consulta_invalida(kind, violacoes)
    return int(page_text), int(size_text)


def _page(query: dict[str, str], items: list[dict[str, Any]], name: str, page: int, per_page: int) -> dict[str, Any]:
    total = len(items)
    pages = max(1, -(-total // per_page))
    paging = {
        "paginaAtual": page,
        "itensPorPagina": per_page,
        "quantidadeDePaginas": pages,
        "quantidadeTotalDeItens": total,
    }
    parametros: dict[str, Any] = {"inicio": query.get("inicio"), "fim": query.get("fim"), "paginacao": paging}
    return {"parametros": parametros, name: items[page * per_page : (page + 1) * per_page]}


def _flag(query: dict[str, str], name: str) -> bool | None:
    value = query.get(name)
    return None if value is None else value.lower() == "true"


def _cob_matches(cob: Cob, query: dict[str, str]) -> bool:
    devedor = cob.devedor or {}
    checks = [
        "cpf" not in query or devedor.get("cpf") == query["cpf"],
        "cnpj" not in query or devedor.get("cnpj") == query["cnpj"],
        "status" not in query or cob.status == query["status"],
        _flag(query, "locationPresente") in (None, True),
    ]
    return all(checks)


def _pix_matches(pix: ReceivedPix, query: dict[str, str]) -> bool:
    with_txid, with_refund = _flag(query, "txIdPresente"), _flag(query, "devolucaoPresente")
    checks = [
        "txid" not in query or pix.txid == query["txid"],
        with_txid is None or with_txid == bool(pix.txid),
        with_refund is None or with_refund == bool(pix.devolucoes),
        "cpf" not in query or pix.payer_cpf == query["cpf"],
        "cnpj" not in query or pix.payer_cpf == query["cnpj"],
    ]
    return all(checks)


# --- HTTP -------------------------------------------------------------------------------------------------------------


def presented_thumbprint(request: Request) -> str | None:
    """The client certificate's thumbprint: from the TLS handshake when served over TLS, else the test header."""
    if request.url.scheme == "https":
        tls = request.scope.get("extensions", {}).get("tls", {})
        thumbprint = tls.get("client_cert_thumbprint")
        return thumbprint if isinstance(thumbprint, str) else None
    return request.headers.get(THUMBPRINT_HEADER) or None


def engine_of(request: Request) -> PixEngine:
    return request.app.state.pix


def _basic(header: str | None) -> tuple[str, str] | None:
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return client_id, secret


async def token_endpoint(request: Request) -> Response:
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            loaded = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            loaded = None
        params = {k: str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
    else:
        params = dict(parse_qsl(raw.decode("latin-1")))
    try:
        token = engine_of(request).issue_token(
            params, _basic(request.headers.get("authorization")), presented_thumbprint(request)
        )
    except OAuthError as error:
        headers = {"WWW-Authenticate": "Basic"} if error.status == 401 else {}
        return JSONResponse({"error": error.error}, status_code=error.status, headers=headers)
    body = {
        "access_token": token.value,
        "token_type": "Bearer",
        "expires_in": engine_of(request).state.settings.token_ttl_s,
        "scope": token.scope,
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


PixHandler = Callable[[Request, PixEngine, Receiver], Awaitable[Response]]


def api(scope: str, handler: PixHandler) -> Callable[[Request], Awaitable[Response]]:
    """A resource endpoint: token, certificate and scope checked first; problems rendered as problem+json."""

    async def endpoint(request: Request) -> Response:
        engine = engine_of(request)
        try:
            receiver = engine.authorize(request.headers.get("authorization"), presented_thumbprint(request), scope)
            return await handler(request, engine, receiver)
        except Problem as problem:
            return problem.response()

    return endpoint


def pix_json(data: Any, status_code: int = 200) -> Response:
    return Response(compact_json(data), status_code=status_code, media_type="application/json")


async def request_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise problems.requisicao_invalida("O corpo da requisição não é um JSON válido.") from None


async def cob_put(request: Request, engine: PixEngine, receiver: Receiver) -> Response:
    return pix_json(engine.put_cob(receiver, request.path_params["txid"], await request_json(request)), 201)


async def cob_post(request: Request, engine: PixEngine, receiver: Receiver) -> Response:
    return pix_json(engine.post_cob(receiver, await request_json(request)), 201)


async def cob_patch(request: Request, engine: PixEngine, receiver: Receiver) -> Response:
    return pix_json(engine.patch_cob(receiver, request.path_params["txid"], await request_json(request)))


async def cob_get(request: Request, engine: PixEngine, receiver: Receiver) -> Response:
    revisao = request.query_params.get("revisao")
    return pix_json(engine.get_cob(receiver, request.path_params["txid"], revisao))


async def cob_list(request: Request, engine: PixEngine, receiver: Receiver) -> Response:
    return pix_json(engine.list_cobs(receiver, dict(request.query_params)))


async def pix_get(request: Request, engine: PixEngine, receiver: Receiver) -> Response:
    return pix_json(engine.get_pix(receiver, request.path_params["e2eid"]))


async def pix_list(request: Request, engine: PixEngine, receiver: Receiver) -> Response:
    return pix_json(engine.list_pix(receiver, dict(request.query_params)))


async def devolucao_put(request: Request, engine: PixEngine, receiver: Receiver) -> Response:
    e2eid, devolucao_id = request.path_params["e2eid"], request.path_params["id"]
    body = await request_json(request)
    return pix_json(engine.put_devolucao(receiver, e2eid, devolucao_id, body), 201)


async def devolucao_get(request: Request, engine: PixEngine, receiver: Receiver) -> Response:
    return pix_json(engine.get_devolucao(receiver, request.path_params["e2eid"], request.path_params["id"]))


async def webhook_put(request: Request, engine: PixEngine, receiver: Receiver) -> Response:
    engine.put_webhook(receiver, request.path_params["chave"], await request_json(request))
    return Response(status_code=200)


async def webhook_get(request: Request, engine: PixEngine, receiver: Receiver) -> Response:
    return pix_json(engine.get_webhook(receiver, request.path_params["chave"]))


async def webhook_delete(request: Request, engine: PixEngine, receiver: Receiver) -> Response:
    engine.delete_webhook(receiver, request.path_params["chave"])
    return Response(status_code=204)


async def webhook_list(request: Request, engine: PixEngine, receiver: Receiver) -> Response:
    return pix_json(engine.list_webhooks(receiver, dict(request.query_params)))


def routes(prefix: str = "/pix") -> list[Route]:
    v2 = f"{prefix}/api/v2"
    return [
        Route(f"{prefix}/oauth/token", token_endpoint, methods=["POST"]),
        Route(f"{v2}/cob/{{txid}}", api("cob.write", cob_put), methods=["PUT"]),
        Route(f"{v2}/cob/{{txid}}", api("cob.write", cob_patch), methods=["PATCH"]),
        Route(f"{v2}/cob/{{txid}}", api("cob.read", cob_get), methods=["GET"]),
        Route(f"{v2}/cob", api("cob.write", cob_post), methods=["POST"]),
        Route(f"{v2}/cob", api("cob.read", cob_list), methods=["GET"]),
        Route(f"{v2}/pix/{{e2eid}}/devolucao/{{id}}", api("pix.write", devolucao_put), methods=["PUT"]),
        Route(f"{v2}/pix/{{e2eid}}/devolucao/{{id}}", api("pix.read", devolucao_get), methods=["GET"]),
        Route(f"{v2}/pix/{{e2eid}}", api("pix.read", pix_get), methods=["GET"]),
        Route(f"{v2}/pix", api("pix.read", pix_list), methods=["GET"]),
        Route(f"{v2}/webhook/{{chave}}", api("webhook.write", webhook_put), methods=["PUT"]),
        Route(f"{v2}/webhook/{{chave}}", api("webhook.read", webhook_get), methods=["GET"]),
        Route(f"{v2}/webhook/{{chave}}", api("webhook.write", webhook_delete), methods=["DELETE"]),
        Route(f"{v2}/webhook", api("webhook.read", webhook_list), methods=["GET"]),
    ]
