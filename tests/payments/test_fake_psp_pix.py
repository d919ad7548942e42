"""The fake API Pix on its own, driven with raw HTTP: what it answers must be what BCB's spec (v2.9.0) and the
contract's fixtures say, field by field, so the adapter's tests against it mean something."""

from __future__ import annotations

import copy
import json
import re
import ssl
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from payments.brcode import crc16, parse
from payments.fake import FakeAdminError, ServerTls, UvicornThread, pem_thumbprint, wait_for

if TYPE_CHECKING:
    from collections.abc import Callable

    from payments.fake import FakePspServer
    from tests.payments.fake_psp_fixtures import Certificates, PspSetup

pytest_plugins = ["tests.payments.fake_psp_fixtures"]

E2EID = re.compile(r"E12345678(\d{12})[a-zA-Z0-9]{11}")
RTRID = re.compile(r"D12345678(\d{12})[a-zA-Z0-9]{11}")


def generated(expected: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """The fixture with the values the fake mints (location, loc id, copy-and-paste code) taken from its answer."""
    expected = copy.deepcopy(expected)
    expected["loc"]["id"] = answer["loc"]["id"]
    expected["loc"]["location"] = expected["location"] = answer["location"]
    expected["pixCopiaECola"] = answer["pixCopiaECola"]
    return expected


def put_cob(psp: PspSetup, body: Any = None, txid: str | None = None) -> Any:
    with psp.pix_api() as api:
        return api.put(f"/cob/{txid or psp.txid}", json=body or psp.fixture("bcb_pix_cob_put_request.json"))


# --- OAuth and mutual TLS ---------------------------------------------------------------------------------------------


def test_token_request_of_the_fixture_gets_a_bearer_token_with_the_asked_scopes(psp: PspSetup):
    exchange = psp.fixture("bcb_pix_oauth_token_exchange.json")["request"]

    response = psp.http.post(
        "/pix/oauth/token",
        content=exchange["body_raw"],
        headers={
            "Authorization": exchange["headers"]["Authorization"],
            "Content-Type": exchange["headers"]["Content-Type"],
        },
    )

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    expected = psp.fixture("bcb_pix_oauth_token_exchange.json")["response"]["body"]
    assert set(body) == set(expected)
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 3600, expected["scope"])


def test_token_endpoint_takes_json_with_basic_as_efi_and_pagbank_send_it(psp: PspSetup):
    response = psp.http.post(
        "/pix/oauth/token", json={"grant_type": "client_credentials"}, auth=(psp.client_id, psp.client_secret)
    )

    assert response.status_code == 200
    assert response.json()["scope"] == "cob.read cob.write pix.read pix.write webhook.read webhook.write"


def test_token_endpoint_refuses_a_wrong_secret_with_invalid_client(psp: PspSetup):
    response = psp.http.post("/pix/oauth/token", data={"grant_type": "client_credentials"}, auth=(psp.client_id, "no"))

    assert (response.status_code, response.json()) == (401, {"error": "invalid_client"})
    assert response.headers["www-authenticate"] == "Basic"


def test_token_endpoint_refuses_another_grant_and_a_scope_not_granted(psp: PspSetup):
    auth = (psp.client_id, psp.client_secret)
    grant = psp.http.post("/pix/oauth/token", data={"grant_type": "password"}, auth=auth)
    scope = psp.http.post(
        "/pix/oauth/token", data={"grant_type": "client_credentials", "scope": "cobv.write"}, auth=auth
    )

    assert (grant.status_code, grant.json()) == (400, {"error": "unsupported_grant_type"})
    assert (scope.status_code, scope.json()) == (400, {"error": "invalid_scope"})


def test_a_token_is_bound_to_the_certificate_that_obtained_it(psp: PspSetup):
    token = psp.http.post(
        "/pix/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(psp.client_id, psp.client_secret),
        headers={"X-Client-Cert-Thumbprint": "thumb-A"},
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    same = psp.http.get("/pix/api/v2/cob/" + psp.txid, headers={**headers, "X-Client-Cert-Thumbprint": "thumb-A"})
    other = psp.http.get("/pix/api/v2/cob/" + psp.txid, headers={**headers, "X-Client-Cert-Thumbprint": "thumb-B"})
    none = psp.http.get("/pix/api/v2/cob/" + psp.txid, headers=headers)

    assert same.status_code == 404  # authorised; there is just no such cob
    assert other.status_code == none.status_code == 401
    assert other.json()["detail"] == "O token de acesso está vinculado a outro certificado."
    assert other.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_a_receiver_with_a_registered_certificate_needs_it_and_may_then_send_client_id_alone(psp: PspSetup):
    psp.admin.add_pix_receiver(
        id="sicoob",
        client_id="sicoob-client",
        client_secret="",
        keys=["+5511999990000"],
        cert_thumbprint="sicoob-thumb",
    )
    form = {"grant_type": "client_credentials", "client_id": "sicoob-client", "scope": "cob.write cob.read"}

    without = psp.http.post("/pix/oauth/token", data=form)
    wrong = psp.http.post("/pix/oauth/token", data=form, headers={"X-Client-Cert-Thumbprint": "another"})
    right = psp.http.post("/pix/oauth/token", data=form, headers={"X-Client-Cert-Thumbprint": "sicoob-thumb"})

    assert without.status_code == wrong.status_code == 401
    assert right.status_code == 200
    assert right.json()["scope"] == "cob.write cob.read"


def test_an_expired_token_is_refused_by_the_fake_clock(psp: PspSetup):
    with psp.pix_api() as api:
        psp.advance(3600)
        response = api.get(f"/cob/{psp.txid}")

    assert response.status_code == 401
    assert response.json()["detail"] == "O token de acesso expirou."


def test_a_scope_the_token_lacks_is_403_acesso_negado_as_the_spec_example(psp: PspSetup):
    with psp.pix_api(psp.token(scope="cob.read")) as api:
        response = api.put(f"/cob/{psp.txid}", json=psp.fixture("bcb_pix_cob_put_request.json"))

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == psp.fixture("bcb_pix_spec_examples.json")["AcessoNegadoExample1"]


# --- Cob: creation and validation -------------------------------------------------------------------------------------


def test_put_cob_answers_the_fixtures_cob_with_a_location_and_a_valid_copy_and_paste_code(psp: PspSetup):
    response = put_cob(psp)

    assert response.status_code == 201
    body = response.json()
    assert body == generated(psp.fixture("bcb_pix_cob_put_response_201.json"), body)
    assert re.fullmatch(r"pix\.example\.com/qr/v2/[0-9a-f]{32}", body["location"])
    code = parse(body["pixCopiaECola"])
    assert (code.location, code.merchant_name, code.merchant_city, code.txid) == (
        body["location"],
        "TRANSPORTE EXEMPLO",
        "SAO PAULO",
        "***",
    )
    assert code.point_of_initiation == "12"
    assert code.crc == crc16(body["pixCopiaECola"][:-4])
    assert len(body["pixCopiaECola"]) <= 512


@pytest.mark.parametrize(
    ("original", "shown"),
    [(25, "25"), (25.0, "25.0"), ("25,00", "25,00"), ("25", "25"), ("25.0", "25.0"), ("1.250,00", "1.250,00")],
)
def test_money_that_is_not_a_string_like_25_00_is_refused_naming_cob_valor_original(psp: PspSetup, original, shown):
    body = psp.fixture("bcb_pix_cob_put_request.json")
    body["valor"]["original"] = original

    response = put_cob(psp, body)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "https://pix.bcb.gov.br/api/v2/error/CobOperacaoInvalida",
        "title": "Cobrança inválida.",
        "status": 400,
        "detail": psp.fixture("bcb_pix_error_cob_expiracao_invalida_400.json")["detail"],
        "violacoes": [
            {
                "razao": "O campo cob.valor.original não respeita o _schema_.",
                "propriedade": "cob.valor.original",
                "valor": shown,
            }
        ],
    }


def test_expiracao_of_zero_is_refused_exactly_as_the_fixture(psp: PspSetup):
    body = psp.fixture("bcb_pix_cob_put_request.json")
    body["calendario"]["expiracao"] = 0

    response = put_cob(psp, body)

    assert response.status_code == 400
    assert response.json() == psp.fixture("bcb_pix_error_cob_expiracao_invalida_400.json")


def test_every_broken_rule_is_one_violation_with_its_dotted_path(psp: PspSetup):
    body = psp.fixture("bcb_pix_cob_put_request.json")
    body["valor"]["original"] = "0.00"
    body["devedor"] = {"cpf": "12345678909", "cnpj": "12345678000195", "nome": "Ambos"}
    body["chave"] = "12345678000195"  # a valid key of another receiver
    body["solicitacaoPagador"] = "x" * 141
    body["infoAdicionais"] = [{"nome": "Só nome"}]

    response = put_cob(psp, body)

    assert [(v["propriedade"], v["razao"]) for v in response.json()["violacoes"]] == [
        ("cob.valor.original", "O campo cob.valor.original é zero."),
        ("cob.chave", "O campo cob.chave corresponde a uma conta que não pertence a este usuário recebedor."),
        ("cob.devedor", "O objeto cob.devedor não respeita o _schema_."),
        ("cob.solicitacaoPagador", "O campo cob.solicitacaoPagador não respeita o _schema_."),
        ("cob.infoAdicionais", "O objeto cob.infoAdicionais não respeita o _schema_."),
    ]


@pytest.mark.parametrize(
    "txid",
    ["short", "rcg20261105143200a1b2c3d4e5f6-x", "a" * 36, "rcg2026110514320_a1b2c3d4e5f6"],
)
def test_a_txid_off_the_26_to_35_alnum_pattern_is_refused(psp: PspSetup, txid):
    response = put_cob(psp, txid=txid)

    assert response.status_code == 400
    assert response.json()["violacoes"] == [
        {"razao": "O campo cob.txid não respeita o _schema_.", "propriedade": "cob.txid", "valor": txid}
    ]


def test_a_cob_without_calendario_valor_or_chave_is_refused_naming_each(psp: PspSetup):
    response = put_cob(psp, {"solicitacaoPagador": "?"})

    assert [v["propriedade"] for v in response.json()["violacoes"]] == ["cob.calendario", "cob.valor", "cob.chave"]


def test_post_cob_mints_a_32_character_txid_and_answers_like_the_fixture(psp: PspSetup):
    with psp.pix_api() as api:
        response = api.post("/cob", json=psp.fixture("bcb_pix_cob_put_request.json"))

    body = response.json()
    assert response.status_code == 201
    assert re.fullmatch(r"[0-9a-f]{32}", body["txid"])
    expected = generated(psp.fixture("bcb_pix_cob_post_response_201.json"), body)
    expected["txid"] = expected["loc"]["txid"] = body["txid"]
    assert body == expected


# --- Cob: lifecycle ---------------------------------------------------------------------------------------------------


def test_put_again_while_ativa_updates_and_counts_a_revision_only_when_something_changed(psp: PspSetup):
    body = psp.fixture("bcb_pix_cob_put_request.json")
    put_cob(psp, body)

    same = put_cob(psp, body).json()
    body["valor"]["original"] = "30.00"
    changed = put_cob(psp, body).json()

    assert same["revisao"] == 0
    assert (changed["revisao"], changed["valor"]["original"], changed["status"]) == (1, "30.00", "ATIVA")


def test_patch_revises_a_cob_as_the_fixture_and_get_with_revisao_returns_each_revision(psp: PspSetup):
    first = put_cob(psp).json()
    with psp.pix_api() as api:
        revised = api.patch(f"/cob/{psp.txid}", json=psp.fixture("bcb_pix_cob_patch_revise_request.json"))
        revision_0 = api.get(f"/cob/{psp.txid}", params={"revisao": "0"}).json()
        revision_1 = api.get(f"/cob/{psp.txid}", params={"revisao": "1"}).json()
        missing = api.get(f"/cob/{psp.txid}", params={"revisao": "2"})

    assert revised.status_code == 200
    assert revised.json() == generated(psp.fixture("bcb_pix_cob_patch_revise_response_200.json"), first)
    assert revision_0 == first
    assert revision_1 == revised.json()
    assert missing.status_code == 400
    assert missing.json()["type"] == "https://pix.bcb.gov.br/api/v2/error/CobConsultaInvalida"


def test_patch_to_removida_cancels_as_the_fixture_and_then_no_change_is_accepted(psp: PspSetup):
    first = put_cob(psp).json()
    with psp.pix_api() as api:
        cancelled = api.patch(f"/cob/{psp.txid}", json=psp.fixture("bcb_pix_cob_patch_cancel_request.json"))
        again = api.patch(f"/cob/{psp.txid}", json={"solicitacaoPagador": "outra"})
    put_again = put_cob(psp)

    assert cancelled.json() == generated(psp.fixture("bcb_pix_cob_patch_cancel_response_200.json"), first)
    assert again.status_code == put_again.status_code == 400
    assert again.json()["violacoes"][0]["razao"] == (
        "A cobrança não está ATIVA, e a presente requisição busca alterá-la."
    )
    assert put_again.json()["violacoes"][0]["razao"] == (
        "A cobrança já existe, não está no status ATIVA, e a presente requisição busca alterá-la."
    )


def test_patch_may_not_remove_and_change_something_else_at_once(psp: PspSetup):
    put_cob(psp)
    with psp.pix_api() as api:
        response = api.patch(
            f"/cob/{psp.txid}", json={"status": "REMOVIDA_PELO_USUARIO_RECEBEDOR", "valor": {"original": "1.00"}}
        )
        still = api.get(f"/cob/{psp.txid}").json()

    assert response.status_code == 400
    assert response.json()["title"] == "Operação inválida."
    assert (still["status"], still["revisao"]) == ("ATIVA", 0)


def test_an_unknown_txid_is_404_exactly_as_the_fixture(psp: PspSetup):
    with psp.pix_api() as api:
        response = api.get(f"/cob/{psp.txid}")

    assert response.status_code == 404
    assert response.json() == psp.fixture("bcb_pix_error_cob_nao_encontrada_404.json")


def test_another_receivers_cob_is_not_found(psp: PspSetup):
    put_cob(psp)
    other = psp.http.post(
        "/pix/oauth/token", data={"grant_type": "client_credentials"}, auth=("psp-client-id-tenant-7", "other-secret")
    ).json()["access_token"]

    with psp.pix_api(other) as api:
        response = api.get(f"/cob/{psp.txid}")

    assert response.status_code == 404


# --- The payer --------------------------------------------------------------------------------------------------------


def test_a_payment_concludes_the_cob_and_get_shows_pix_as_the_fixture(psp: PspSetup):
    put_cob(psp)
    psp.advance(101.127)

    paid = psp.admin.pix_pay(psp.txid, info_pagador="Recarga cartão 0012345678")
    with psp.pix_api() as api:
        body = api.get(f"/cob/{psp.txid}").json()

    assert paid["status"] == "CONCLUIDA"
    pix = body["pix"][0]
    assert E2EID.fullmatch(pix["endToEndId"])
    assert E2EID.fullmatch(pix["endToEndId"])[1] == "202611051433"  # the minute of horario, UTC
    expected = generated(psp.fixture("bcb_pix_cob_get_concluida_response_200.json"), body)
    expected["pix"][0]["endToEndId"] = pix["endToEndId"]
    assert body == expected


def test_the_payers_bank_refuses_a_wrong_amount_a_paid_cob_and_an_expired_one(psp: PspSetup):
    put_cob(psp)

    with pytest.raises(FakeAdminError) as wrong:
        psp.admin.pix_pay(psp.txid, amount=2000)
    twice = psp.admin.pix_pay(psp.txid, times=2)
    put_cob(psp, txid="expiring0000000000000000000001")
    psp.advance(901)
    with pytest.raises(FakeAdminError) as expired:
        psp.admin.pix_pay("expiring0000000000000000000001")

    assert (wrong.value.status, wrong.value.message) == (409, "The charge is for exactly 25.00.")
    assert (len(twice["pix"]), twice["refused"]) == (1, ["The charge is CONCLUIDA; it takes no payment."])
    assert (expired.value.status, expired.value.message) == (409, "The charge has expired.")


def test_an_unpaid_cob_stays_ativa_after_its_expiry_as_the_registry_does(psp: PspSetup):
    put_cob(psp)
    psp.advance(3600)

    with psp.pix_api() as api:
        body = api.get(f"/cob/{psp.txid}").json()

    assert body["status"] == "ATIVA"


def test_a_forced_wrong_amount_is_received_but_does_not_conclude_the_cob(psp: PspSetup):
    put_cob(psp)

    paid = psp.admin.pix_pay(psp.txid, amount=2000, force=True)
    with psp.pix_api() as api:
        body = api.get(f"/cob/{psp.txid}").json()

    assert paid["status"] == "ATIVA"
    assert (body["status"], [p["valor"] for p in body["pix"]]) == ("ATIVA", ["20.00"])


def test_a_payment_fires_the_callback_at_webhook_url_slash_pix_in_compact_json(psp: PspSetup):
    url = psp.register_webhook()
    put_cob(psp)

    paid = psp.admin.pix_pay(psp.txid, info_pagador="Recarga cartão 0012345678")
    (post,) = psp.receiver.wait_for_posts(1)

    assert post.path == "/webhooks/pix/tenant-42/pix"
    assert url.endswith("/webhooks/pix/tenant-42")
    assert post.headers["content-type"] == "application/json"
    assert "x-signature" not in post.headers and "authorization" not in post.headers
    assert post.json() == {"pix": paid["pix"]}
    assert post.body == json.dumps(post.json(), ensure_ascii=False, separators=(",", ":")).encode()
    expected = psp.fixture("bcb_pix_webhook_callback_pix_received.json")["request"]["body"]
    assert psp.shape(post.json()) == psp.shape(expected)


def test_a_callback_refused_by_the_receiver_is_retried_until_acknowledged(psp: PspSetup):
    psp.register_webhook()
    put_cob(psp)
    psp.receiver.fail_next(2, status=503)

    psp.admin.pix_pay(psp.txid)
    posts = psp.receiver.wait_for_posts(3)
    wait_for(psp.idle)

    (delivery,) = psp.admin.deliveries("pix")
    assert [a["status_code"] for a in delivery["attempts"]] == [503, 503, 200]
    assert delivery["state"] == "delivered"
    assert len({post.body for post in posts}) == 1


def test_duplicate_callbacks_can_be_switched_on(psp: PspSetup):
    psp.register_webhook()
    put_cob(psp)
    psp.admin.settings(duplicate_deliveries=True)

    psp.admin.pix_pay(psp.txid)
    first, second = psp.receiver.wait_for_posts(2)

    assert first.body == second.body


def test_no_callback_without_a_webhook_on_the_key(psp: PspSetup):
    put_cob(psp)

    psp.admin.pix_pay(psp.txid)

    assert psp.admin.deliveries("pix") == []


# --- Devolução --------------------------------------------------------------------------------------------------------


def paid_e2eid(psp: PspSetup) -> str:
    put_cob(psp)
    return psp.admin.pix_pay(psp.txid, info_pagador="Recarga cartão 0012345678")["pix"][0]["endToEndId"]


def test_a_devolucao_answers_201_em_processamento_then_settles_devolvido_as_the_fixtures(psp: PspSetup):
    e2eid = paid_e2eid(psp)
    devolucao_id = "dev1rcg20261105143200a1b2"
    psp.advance(68 * 60 + 2.310)
    with psp.pix_api() as api:
        created = api.put(
            f"/pix/{e2eid}/devolucao/{devolucao_id}", json=psp.fixture("bcb_pix_devolucao_put_request.json")
        )
        psp.advance(2.574)
        psp.admin.pix_settle_refund(e2eid, devolucao_id)
        settled = api.get(f"/pix/{e2eid}/devolucao/{devolucao_id}")

    assert created.status_code == 201
    assert RTRID.fullmatch(created.json()["rtrId"])[1] == "202611051540"
    expected = psp.fixture("bcb_pix_devolucao_put_response_201.json")
    assert created.json() == {**expected, "rtrId": created.json()["rtrId"]}
    expected = psp.fixture("bcb_pix_devolucao_get_devolvido_response_200.json")
    assert settled.json() == {**expected, "rtrId": created.json()["rtrId"]}


def test_devolucoes_beyond_the_pix_value_are_refused_exactly_as_the_fixture(psp: PspSetup):
    e2eid = paid_e2eid(psp)
    with psp.pix_api() as api:
        api.put(f"/pix/{e2eid}/devolucao/a1", json={"valor": "10.00"})
        too_much = api.put(f"/pix/{e2eid}/devolucao/a2", json={"valor": "30.00"})
        rest = api.put(f"/pix/{e2eid}/devolucao/a3", json={"valor": "15.00"})
        one_cent = api.put(f"/pix/{e2eid}/devolucao/a4", json={"valor": "0.01"})

    assert too_much.status_code == 400
    assert too_much.json() == psp.fixture("bcb_pix_error_devolucao_excede_valor_400.json")
    assert rest.status_code == 201
    assert one_cent.status_code == 400


def test_a_devolucao_that_failed_frees_its_value_for_another(psp: PspSetup):
    e2eid = paid_e2eid(psp)
    with psp.pix_api() as api:
        api.put(f"/pix/{e2eid}/devolucao/a1", json={"valor": "25.00"})
        psp.admin.pix_settle_refund(e2eid, "a1", status="NAO_REALIZADO")
        failed = api.get(f"/pix/{e2eid}/devolucao/a1").json()
        again = api.put(f"/pix/{e2eid}/devolucao/a2", json={"valor": "25.00"})

    assert (failed["status"], failed["motivo"]) == ("NAO_REALIZADO", "Negado por timeout")
    assert again.status_code == 201


def test_a_devolucao_id_is_used_once_per_pix(psp: PspSetup):
    e2eid = paid_e2eid(psp)
    with psp.pix_api() as api:
        api.put(f"/pix/{e2eid}/devolucao/a1", json={"valor": "1.00"})
        reused = api.put(f"/pix/{e2eid}/devolucao/a1", json={"valor": "1.00"})

    assert reused.json()["violacoes"] == [
        {
            "razao": "A presente requisição de devolução apresenta um {id} já utilizado por outra requisição de "
            "devolução para o {e2eid} em questão.",
            "propriedade": "devolucao.id",
            "valor": "a1",
        }
    ]


def test_a_devolucao_more_than_90_days_after_the_pix_is_refused(psp: PspSetup):
    e2eid = paid_e2eid(psp)
    psp.advance(90 * 86400 + 1)
    with psp.pix_api() as api:
        response = api.put(f"/pix/{e2eid}/devolucao/a1", json={"valor": "1.00"})

    assert response.status_code == 400
    assert response.json()["violacoes"][0]["propriedade"] == "devolucao"


def test_a_settled_devolucao_sends_the_pix_again_with_its_devolucoes(psp: PspSetup):
    psp.register_webhook()
    e2eid = paid_e2eid(psp)
    psp.receiver.wait_for_posts(1)
    with psp.pix_api() as api:
        api.put(f"/pix/{e2eid}/devolucao/dev1", json=psp.fixture("bcb_pix_devolucao_put_request.json"))

    psp.admin.pix_settle_refund(e2eid, "dev1")
    second = psp.receiver.wait_for_posts(2)[1]

    (pix,) = second.json()["pix"]
    assert [(d["id"], d["status"]) for d in pix["devolucoes"]] == [("dev1", "DEVOLVIDO")]
    expected = psp.fixture("bcb_pix_webhook_callback_devolucao_final.json")["request"]["body"]
    assert psp.shape(second.json()) == psp.shape(expected)


def test_an_unknown_e2eid_is_pix_nao_encontrado(psp: PspSetup):
    with psp.pix_api() as api:
        response = api.get("/pix/E12345678202611051433Xk9Lp4Vb8Nc")

    assert (response.status_code, response.json()["type"]) == (
        404,
        "https://pix.bcb.gov.br/api/v2/error/PixNaoEncontrado",
    )


# --- Lists ------------------------------------------------------------------------------------------------------------


def test_the_pix_list_pages_and_filters_by_time(psp: PspSetup):
    for index in range(3):
        put_cob(psp, txid=f"list{index}00000000000000000000000000")
        psp.admin.pix_pay(f"list{index}00000000000000000000000000")
        psp.advance(60)
    window = {"inicio": "2026-11-05T00:00:00Z", "fim": "2026-11-05T23:59:59Z", "paginacao.itensPorPagina": "2"}

    with psp.pix_api() as api:
        first = api.get("/pix", params=window).json()
        second = api.get("/pix", params={**window, "paginacao.paginaAtual": "1"}).json()
        before = api.get("/pix", params={**window, "fim": "2026-11-05T14:32:30Z"}).json()

    assert first["parametros"] == {
        "inicio": "2026-11-05T00:00:00Z",
        "fim": "2026-11-05T23:59:59Z",
        "paginacao": {"paginaAtual": 0, "itensPorPagina": 2, "quantidadeDePaginas": 2, "quantidadeTotalDeItens": 3},
    }
    assert [p["txid"] for p in first["pix"] + second["pix"]] == [f"list{i}00000000000000000000000000" for i in range(3)]
    assert [p["txid"] for p in before["pix"]] == ["list000000000000000000000000000"]


def test_the_pix_list_of_the_fixture_has_its_shape(psp: PspSetup):
    paid_e2eid(psp)
    with psp.pix_api() as api:
        body = api.get("/pix", params={"inicio": "2026-11-05T00:00:00Z", "fim": "2026-11-05T23:59:59Z"}).json()

    assert psp.shape(body) == psp.shape(psp.fixture("bcb_pix_pix_list_response_200.json"))


@pytest.mark.parametrize(
    ("params", "propriedade"),
    [
        ({"fim": "2026-11-05T23:59:59Z"}, "inicio"),
        ({"inicio": "2026-11-06T00:00:00Z", "fim": "2026-11-05T00:00:00Z"}, "fim"),
        ({"inicio": "2026-11-05T00:00:00Z", "fim": "2026-11-06T00:00:00Z", "cpf": "1" * 11, "cnpj": "2" * 14}, "cpf"),
        (
            {"inicio": "2026-11-05T00:00:00Z", "fim": "2026-11-06T00:00:00Z", "paginacao.paginaAtual": "-1"},
            "paginacao.paginaAtual",
        ),
    ],
)
def test_bad_list_queries_are_cob_consulta_invalida(psp: PspSetup, params, propriedade):
    with psp.pix_api() as api:
        response = api.get("/cob", params=params)

    assert response.status_code == 400
    assert response.json()["type"] == "https://pix.bcb.gov.br/api/v2/error/CobConsultaInvalida"
    assert response.json()["violacoes"][0]["propriedade"] == propriedade


def test_the_cob_list_filters_by_status(psp: PspSetup):
    put_cob(psp)
    put_cob(psp, txid="second00000000000000000000000001")
    psp.admin.pix_pay(psp.txid)
    window = {"inicio": "2026-11-05T00:00:00Z", "fim": "2026-11-05T23:59:59Z"}

    with psp.pix_api() as api:
        active = api.get("/cob", params={**window, "status": "ATIVA"}).json()

    assert [c["txid"] for c in active["cobs"]] == ["second00000000000000000000000001"]
    assert active["parametros"]["paginacao"]["quantidadeTotalDeItens"] == 1


# --- Webhook CRUD -----------------------------------------------------------------------------------------------------


def test_webhook_put_get_delete_as_the_fixtures(psp: PspSetup):
    url = psp.fixture("bcb_pix_webhook_put_request.json")["webhookUrl"]
    psp.clock.set(datetime(2026, 11, 1, 12, 0, tzinfo=UTC).timestamp())  # the fixture's criacao
    with psp.pix_api() as api:
        put = api.put(f"/webhook/{psp.pix_key}", json={"webhookUrl": url})
        got = api.get(f"/webhook/{psp.pix_key}")
        listed = api.get("/webhook").json()
        deleted = api.delete(f"/webhook/{psp.pix_key}")
        gone = api.get(f"/webhook/{psp.pix_key}")

    assert (put.status_code, put.content) == (200, b"")
    assert got.json() == psp.fixture("bcb_pix_webhook_get_response_200.json")
    assert listed["webhooks"] == [got.json()]
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (gone.status_code, gone.json()["type"]) == (404, "https://pix.bcb.gov.br/api/v2/error/WebhookNaoEncontrado")


@pytest.mark.parametrize(
    ("key", "body", "razao"),
    [
        (
            "not a key",
            {"webhookUrl": "https://x.example.com"},
            "o parâmetro {chave} não corresponde a uma chave DICT válida.",
        ),
        (
            "12345678000195",
            {"webhookUrl": "https://x.example.com"},
            "o parâmetro {chave} não corresponde a uma chave DICT pertencente a este usuário recebedor.",
        ),
        (
            "2a5c4f1e-9b3d-4c7a-8e6f-1d2b3c4d5e6f",
            {"webhookUrl": "ftp://x"},
            "Campo webhook.webhookUrl não respeita o _schema_.",
        ),
    ],
)
def test_webhook_put_refuses_bad_keys_and_urls(psp: PspSetup, key, body, razao):
    with psp.pix_api() as api:
        response = api.put(f"/webhook/{key}", json=body)

    assert response.status_code == 400
    assert response.json()["type"] == "https://pix.bcb.gov.br/api/v2/error/WebhookOperacaoInvalida"
    assert response.json()["violacoes"][0]["razao"] == razao


# --- Faults and the request log ---------------------------------------------------------------------------------------


def test_a_503_fault_answers_servico_indisponivel_as_the_spec_example_once(psp: PspSetup):
    with psp.pix_api() as api:
        psp.admin.add_fault("pix", status=503)
        faulted = api.get(f"/cob/{psp.txid}")
        after = api.get(f"/cob/{psp.txid}")

    assert faulted.status_code == 503
    assert faulted.headers["content-type"] == "application/problem+json"
    assert faulted.json() == psp.fixture("bcb_pix_spec_examples.json")["ServicoIndisponivelExample1"]
    assert after.status_code == 404


def test_a_504_fault_is_indisponibilidade_por_tempo_esgotado(psp: PspSetup):
    with psp.pix_api() as api:
        psp.admin.add_fault("pix", status=504)
        response = api.get(f"/cob/{psp.txid}")

    assert response.status_code == 504
    assert response.json()["type"] == "https://pix.bcb.gov.br/api/v2/error/IndisponibilidadePorTempoEsgotado"


def test_the_request_log_keeps_bodies_but_only_the_authorization_scheme(psp: PspSetup):
    put_cob(psp)

    token_request, put = psp.admin.requests("pix")

    assert token_request["path"] == "/pix/oauth/token"
    assert token_request["authorization"] == "Basic"
    assert token_request["form"] == {"grant_type": "client_credentials"}
    assert (put["method"], put["path"], put["authorization"], put["status_code"]) == (
        "PUT",
        f"/pix/api/v2/cob/{psp.txid}",
        "Bearer",
        201,
    )
    assert put["json"] == psp.fixture("bcb_pix_cob_put_request.json")
    assert "authorization" not in put["headers"]


# --- The payer's page -------------------------------------------------------------------------------------------------


def test_the_payer_page_is_self_contained_html_with_its_three_ways_to_pay(psp: PspSetup):
    response = psp.http.get("/payer/")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    for control in ('id="code"', 'id="pay"', 'id="twice"', 'id="wrong"', 'id="force"'):
        assert control in html
    assert "http://" not in html and "https://" not in html  # no assets from elsewhere


def test_a_code_pasted_in_the_payer_page_finds_its_cob_and_pays_it(psp: PspSetup):
    code = put_cob(psp).json()["pixCopiaECola"]

    found = psp.admin.pix_lookup(code)
    paid = psp.admin.pix_pay(code=code)

    assert (found["txid"], found["amount"], found["status"], found["merchant_name"]) == (
        psp.txid,
        2500,
        "ATIVA",
        "TRANSPORTE EXEMPLO",
    )
    assert found["expires_at"] == "2026-11-05T14:47:00.000Z"
    assert paid["status"] == "CONCLUIDA"


def test_a_code_of_no_charge_here_is_404_and_a_broken_code_400(psp: PspSetup):
    code = put_cob(psp).json()["pixCopiaECola"]
    psp.admin.reset()

    with pytest.raises(FakeAdminError) as unknown:
        psp.admin.pix_lookup(code)
    with pytest.raises(FakeAdminError) as broken:
        psp.admin.pix_lookup(code[:-1] + "0")

    assert unknown.value.status == 404
    assert broken.value.status == 400


def test_horario_is_the_fake_clock_in_utc_with_milliseconds(psp: PspSetup):
    put_cob(psp)
    psp.advance(0.5)

    (pix,) = psp.admin.pix_pay(psp.txid)["pix"]

    assert pix["horario"] == "2026-11-05T14:32:00.500Z"
    assert datetime.fromisoformat(pix["horario"]) == datetime(2026, 11, 5, 14, 32, 0, 500000, tzinfo=UTC)


def test_get_pix_answers_the_received_pix_as_the_fixture(psp: PspSetup):
    put_cob(psp)
    psp.advance(101.127)
    e2eid = psp.admin.pix_pay(psp.txid, info_pagador="Recarga cartão 0012345678")["pix"][0]["endToEndId"]

    with psp.pix_api() as api:
        body = api.get(f"/pix/{e2eid}").json()

    assert body == {**psp.fixture("bcb_pix_pix_get_response_200.json"), "endToEndId": e2eid}


def test_over_mutual_tls_the_callback_presents_the_psps_certificate(
    psp: PspSetup, make_psp_server: Callable[..., FakePspServer], certificates: Certificates
):
    seen: list[str | None] = []

    async def hook(request: Request) -> Response:
        seen.append(request.scope.get("extensions", {}).get("tls", {}).get("client_cert_thumbprint"))
        return Response(status_code=200)

    receiver = UvicornThread(
        Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])]),
        tls=ServerTls(str(certificates.server_cert), str(certificates.server_key), str(certificates.ca)),
    ).start()
    psp_side = ssl.create_default_context(cafile=str(certificates.ca))
    psp_side.load_cert_chain(str(certificates.other_cert), str(certificates.other_key))
    server = make_psp_server(delivery_tls=psp_side)
    try:
        server.admin.add_pix_receiver(id="t", client_id="c", client_secret="s", keys=[psp.pix_key])
        token = httpx.post(
            f"{server.base_url}/pix/oauth/token", data={"grant_type": "client_credentials"}, auth=("c", "s")
        ).json()["access_token"]
        api = httpx.Client(base_url=server.pix_api_url, headers={"Authorization": f"Bearer {token}"})
        with api:
            api.put(f"/webhook/{psp.pix_key}", json={"webhookUrl": f"{receiver.base_url}/webhooks/pix/t"})
            api.put(f"/cob/{psp.txid}", json=psp.fixture("bcb_pix_cob_put_request.json"))
        server.admin.pix_pay(psp.txid)
        wait_for(lambda: seen)
    finally:
        receiver.stop()

    assert receiver.base_url.startswith("https://")
    assert seen == [pem_thumbprint(certificates.other_cert)]
