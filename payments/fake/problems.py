"""API Pix errors as RFC 7807 problems (``application/problem+json``), with BCB's types, titles and texts.

The texts follow the spec's error section and examples (``bcb_pix_spec_examples.json``) word for word where they
exist, so the adapters are tested against what a PSP really writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

TYPE_BASE = "https://pix.bcb.gov.br/api/v2/error/"
MEDIA_TYPE = "application/problem+json"

COB_DETAIL = (
    "A requisição que busca alterar ou criar uma cobrança para pagamento imediato não respeita o _schema_ ou está "
    "semanticamente errada."
)
DEVOLUCAO_DETAIL = "A presente requisição de devolução não respeita o _schema_ ou não faz sentido semanticamente."
WEBHOOK_DETAIL = (
    "A presente requisição busca criar um webhook sem respeitar o _schema_ ou, ainda, com sentido semanticamente "
    "inválido."
)


@dataclass(frozen=True)
class Violacao:
    razao: str
    propriedade: str
    valor: str | None = None

    def body(self) -> dict[str, str]:
        data = {"razao": self.razao, "propriedade": self.propriedade}
        if self.valor is not None:
            data["valor"] = self.valor
        return data


def as_text(value: Any) -> str:
    """How a violation shows the offending value: strings as they are, anything else as its JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@dataclass
class Problem(Exception):
    status: int
    kind: str
    title: str
    detail: str | None = None
    violacoes: list[Violacao] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": TYPE_BASE + self.kind, "title": self.title, "status": self.status}
        if self.detail:
            data["detail"] = self.detail
        if self.violacoes:
            data["violacoes"] = [v.body() for v in self.violacoes]
        return data

    def response(self) -> Response:
        content = json.dumps(self.body(), ensure_ascii=False).encode()
        return Response(content, status_code=self.status, media_type=MEDIA_TYPE, headers=self.headers)


def cob_invalida(violacoes: list[Violacao]) -> Problem:
    return Problem(400, "CobOperacaoInvalida", "Cobrança inválida.", COB_DETAIL, violacoes)


def cob_operacao_invalida(razao: str) -> Problem:
    return Problem(400, "CobOperacaoInvalida", "Operação inválida.", COB_DETAIL, [Violacao(razao, "cob")])


def cob_nao_encontrada() -> Problem:
    return Problem(
        404, "CobNaoEncontrado", "Cobrança não encontrada.", "Cobrança não encontrada para o txid informado."
    )


def consulta_invalida(kind: str, violacoes: list[Violacao]) -> Problem:
    detail = "Os parâmetros de consulta não respeitam o _schema_ ou não fazem sentido semanticamente."
    return Problem(400, kind, "Consulta inválida.", detail, violacoes)


def pix_nao_encontrado() -> Problem:
    return Problem(404, "PixNaoEncontrado", "Pix não encontrado.", "Pix não encontrado para o e2eid informado.")


def devolucao_invalida(violacoes: list[Violacao]) -> Problem:
    return Problem(400, "PixDevolucaoInvalida", "Devolução inválida.", DEVOLUCAO_DETAIL, violacoes)


def devolucao_nao_encontrada() -> Problem:
    detail = "Devolução não encontrada para o e2eid e o id informados."
    return Problem(404, "PixDevolucaoNaoEncontrada", "Devolução não encontrada.", detail)


def webhook_invalido(violacoes: list[Violacao]) -> Problem:
    return Problem(400, "WebhookOperacaoInvalida", "Webhook inválido.", WEBHOOK_DETAIL, violacoes)


def webhook_nao_encontrado() -> Problem:
    detail = "O webhook associado à chave informada não se encontra estabelecido."
    return Problem(404, "WebhookNaoEncontrado", "Webhook não encontrado.", detail)


def acesso_negado() -> Problem:
    detail = "Requisição de participante autenticado que viola alguma regra de autorização."
    return Problem(403, "AcessoNegado", "Acesso Negado", detail)


def nao_autorizado(detail: str) -> Problem:
    # 401 is not among the spec's errors; the RFC 6750 header says why the token was refused.
    return Problem(
        401,
        "NaoAutorizado",
        "Não autorizado",
        detail,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def requisicao_invalida(detail: str) -> Problem:
    return Problem(400, "RequisicaoInvalida", "Requisição inválida.", detail)


def servico_indisponivel() -> Problem:
    detail = (
        "Serviço não está disponível no momento. Serviço solicitado pode estar em manutenção ou fora da janela de "
        "funcionamento."
    )
    return Problem(503, "ServicoIndisponivel", "Serviço Indisponível", detail)


def tempo_esgotado() -> Problem:
    detail = "O serviço não respondeu dentro do tempo esperado."
    return Problem(504, "IndisponibilidadePorTempoEsgotado", "Indisponibilidade por tempo esgotado", detail)


def erro_interno() -> Problem:
    return Problem(500, "ErroInternoDoServidor", "Erro Interno do Servidor", "Erro inesperado no servidor.")
