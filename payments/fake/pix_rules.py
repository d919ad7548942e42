"""The API Pix field rules of CONTRACT §2.2 and the spec's ``CobOperacaoInvalida`` list, applied to cob bodies.

Every spec regex is unanchored; here each is a full match. Each broken rule becomes one ``violacao`` with the dotted
path of the field (``cob.valor.original``) and, when the field was sent, its value as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from payments.fake.problems import Violacao, as_text
from payments.fake.wire import BCB_MONEY, bcb_to_cents

TXID = re.compile(r"[a-zA-Z0-9]{26,35}")
PIX_TXID = re.compile(r"[a-zA-Z0-9]{1,35}")
DEVOLUCAO_ID = re.compile(r"[a-zA-Z0-9]{1,35}")
E2EID = re.compile(r"[a-zA-Z0-9]{32}")
CPF = re.compile(r"\d{11}")
CNPJ = re.compile(r"[0-9A-Z]{14}")
DICT_KEYS = (
    CPF,
    CNPJ,
    re.compile(r"[a-z0-9.!#$&'*+/=?^_`{|}~-]+@[a-z0-9-]+(\.[a-z0-9-]+)+", re.IGNORECASE),  # e-mail
    re.compile(r"\+[1-9]\d{1,14}"),  # phone, E.164
    re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),  # EVP
)
KEY_LIMIT = 77
TEXT_LIMIT = 140
NAME_LIMIT = 200
INFO_ITEMS = 50
INFO_NAME_LIMIT = 50
INFO_VALUE_LIMIT = 200
INT32_MAX = 2**31 - 1
DEFAULT_EXPIRACAO = 86400
REMOVED_BY_RECEIVER = "REMOVIDA_PELO_USUARIO_RECEBEDOR"


def schema(path: str, value: Any = None, *, kind: str = "campo") -> Violacao:
    noun = "O objeto" if kind == "objeto" else "O campo"
    return Violacao(f"{noun} {path} não respeita o _schema_.", path, None if value is None else as_text(value))


def is_dict_key(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= KEY_LIMIT and any(p.fullmatch(value) for p in DICT_KEYS)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class CobFields:
    """What a valid cob body asks for; ``present`` names the top-level fields it carried."""

    present: set[str] = field(default_factory=set)
    expiracao: int | None = None
    original_cents: int | None = None
    modalidade: int | None = None
    chave: str | None = None
    devedor: dict[str, str] | None = None
    solicitacao: str | None = None
    info: list[dict[str, str]] | None = None
    status: str | None = None


def check_cob(body: Any, *, keys: list[str], revision: bool) -> tuple[CobFields, list[Violacao]]:
    """Validate a ``CobSolicitada`` (``revision=False``) or a ``CobRevisada`` (``revision=True``) body."""
    found = CobFields()
    if not isinstance(body, dict):
        return found, [Violacao("O corpo da requisição não é um objeto JSON.", "cob")]
    found.present = set(body)
    problems: list[Violacao] = []
    if not revision:
        for name in ("calendario", "valor", "chave"):
            if name not in body:
                problems.append(Violacao(f"O campo cob.{name} não foi informado.", f"cob.{name}"))
    checks = (
        ("calendario", _calendario),
        ("valor", _valor),
        ("chave", _chave),
        ("devedor", _devedor),
        ("solicitacaoPagador", _solicitacao),
        ("infoAdicionais", _info),
        ("loc", _loc),
    )
    for name, check in checks:
        if name in body:
            problems += check(body[name], found, keys, revision)
    if "status" in body and revision:
        if body["status"] != REMOVED_BY_RECEIVER:
            problems.append(schema("cob.status", body["status"]))
        found.status = body["status"]
    return found, problems


def _calendario(value: Any, found: CobFields, keys: list[str], revision: bool) -> list[Violacao]:
    if not isinstance(value, dict):
        return [schema("cob.calendario", value, kind="objeto")]
    expiracao = value.get("expiracao", None if revision else DEFAULT_EXPIRACAO)
    if expiracao is None:
        return []
    if not is_int(expiracao) or expiracao > INT32_MAX:
        return [schema("cob.calendario.expiracao", expiracao)]
    if expiracao <= 0:
        razao = "O campo cob.calendario.expiracao é igual ou menor que zero."
        return [Violacao(razao, "cob.calendario.expiracao", as_text(expiracao))]
    found.expiracao = expiracao
    return []


def _valor(value: Any, found: CobFields, keys: list[str], revision: bool) -> list[Violacao]:
    if not isinstance(value, dict):
        return [schema("cob.valor", value, kind="objeto")]
    problems = []
    modalidade = value.get("modalidadeAlteracao", None if revision else 0)
    if modalidade is not None and (not is_int(modalidade) or modalidade not in (0, 1)):
        problems.append(schema("cob.valor.modalidadeAlteracao", modalidade))
    else:
        found.modalidade = modalidade
    if "retirada" in value:
        problems.append(Violacao("Este PSP não oferece Pix Saque nem Pix Troco.", "cob.valor.retirada"))
    if "original" not in value:
        if not revision:
            problems.append(Violacao("O campo cob.valor.original não foi informado.", "cob.valor.original"))
        return problems
    original = value["original"]
    if not isinstance(original, str) or not BCB_MONEY.fullmatch(original):
        problems.append(schema("cob.valor.original", original))
    elif bcb_to_cents(original) == 0 and modalidade != 1:
        problems.append(Violacao("O campo cob.valor.original é zero.", "cob.valor.original", original))
    else:
        found.original_cents = bcb_to_cents(original)
    return problems


def _chave(value: Any, found: CobFields, keys: list[str], revision: bool) -> list[Violacao]:
    if not is_dict_key(value):
        return [schema("cob.chave", value)]
    if value not in keys:
        razao = "O campo cob.chave corresponde a uma conta que não pertence a este usuário recebedor."
        return [Violacao(razao, "cob.chave", value)]
    found.chave = value
    return []


def _devedor(value: Any, found: CobFields, keys: list[str], revision: bool) -> list[Violacao]:
    if not isinstance(value, dict):
        return [schema("cob.devedor", value, kind="objeto")]
    cpf, cnpj, nome = value.get("cpf"), value.get("cnpj"), value.get("nome")
    document_ok = (cpf is None) != (cnpj is None) and (
        (isinstance(cpf, str) and bool(CPF.fullmatch(cpf))) or (isinstance(cnpj, str) and bool(CNPJ.fullmatch(cnpj)))
    )
    if not document_ok or not isinstance(nome, str) or not nome or len(nome) > NAME_LIMIT:
        return [schema("cob.devedor", value, kind="objeto")]
    found.devedor = {"cpf": cpf, "nome": nome} if isinstance(cpf, str) else {"cnpj": str(cnpj), "nome": nome}
    return []


def _solicitacao(value: Any, found: CobFields, keys: list[str], revision: bool) -> list[Violacao]:
    if not isinstance(value, str) or len(value) > TEXT_LIMIT:
        return [schema("cob.solicitacaoPagador", value)]
    found.solicitacao = value
    return []


def _info(value: Any, found: CobFields, keys: list[str], revision: bool) -> list[Violacao]:
    def item_ok(item: Any) -> bool:
        return (
            isinstance(item, dict)
            and isinstance(item.get("nome"), str)
            and isinstance(item.get("valor"), str)
            and len(item["nome"]) <= INFO_NAME_LIMIT
            and len(item["valor"]) <= INFO_VALUE_LIMIT
        )

    if not isinstance(value, list) or len(value) > INFO_ITEMS or not all(item_ok(item) for item in value):
        return [schema("cob.infoAdicionais", value, kind="objeto")]
    found.info = [{"nome": item["nome"], "valor": item["valor"]} for item in value]
    return []


def _loc(value: Any, found: CobFields, keys: list[str], revision: bool) -> list[Violacao]:
    # This fake mints a location with every cob and offers no /loc endpoints, so no loc.id can exist.
    loc_id = value.get("id") if isinstance(value, dict) else None
    if not is_int(loc_id):
        return [schema("cob.loc", value, kind="objeto")]
    return [Violacao("O location referenciado por cob.loc.id inexiste.", "cob.loc.id", as_text(loc_id))]


def check_devolucao(body: Any) -> tuple[int | None, list[Violacao]]:
    """Validate a ``DevolucaoSolicitada`` body; the amount in centavos when valid."""
    if not isinstance(body, dict):
        return None, [Violacao("O corpo da requisição não é um objeto JSON.", "devolucao")]
    problems = []
    valor = body.get("valor")
    cents = None
    if not isinstance(valor, str) or not BCB_MONEY.fullmatch(valor) or bcb_to_cents(valor) == 0:
        problems.append(schema("devolucao.valor", valor))
    else:
        cents = bcb_to_cents(valor)
    natureza = body.get("natureza", "ORIGINAL")
    if natureza == "RETIRADA":
        problems.append(Violacao("A natureza RETIRADA só se aplica a Pix Saque ou Pix Troco.", "devolucao.natureza"))
    elif natureza != "ORIGINAL":
        problems.append(schema("devolucao.natureza", natureza))
    descricao = body.get("descricao")
    if descricao is not None and (not isinstance(descricao, str) or len(descricao) > TEXT_LIMIT):
        problems.append(schema("devolucao.descricao", descricao))
    return cents, problems
