"""The API Pix adapter against the fake API Pix (and, for exact parsing of the contract's fixtures, against canned
answers): request bodies as the fixtures, answers read field by field, tokens per bank, mutual TLS, errors typed."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from payments.brcode import parse
from payments.fake import FakePspServer, ServerTls, pem_thumbprint
from payments.fake.state import Receiver
from payments.gateways import (
    BcbPixConfig,
    BcbPixGateway,
    Charge,
    ChargeStatus,
    Notification,
    NotificationMalformed,
    PaymentStatus,
    PermanentGatewayError,
    ReceivedPayment,
    Refund,
    RefundStatus,
    TlsConfig,
    TokenRequest,
    TransientGatewayError,
    Violation,
)
from payments.gateways import http as gateway_http

if TYPE_CHECKING:
    from tests.payments.fake_psp_fixtures import Certificates, PspSetup

pytest_plugins = ["tests.payments.fake_psp_fixtures"]

E2EID = "E12345678202611051433Xk9Lp4Vb8Nc"
CANNED_API = "https://pix.example.com/api/v2"
CANNED_TOKEN_URL = "https://pix.example.com/oauth/token"


def canned(answers: dict[tuple[str, str], httpx.Response | Callable[[httpx.Request], httpx.Response]]):
    """A transport answering the token request with the fixture's token and each (method, path) as given."""
    token = {"access_token": "tok", "token_type": "Bearer", "expires_in": 3600, "scope": "cob.read"}
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json=token)
        answer = answers[(request.method, request.url.path)]
        return answer(request) if callable(answer) else answer

    transport = httpx.MockTransport(handle)
    transport.seen = seen  # type: ignore[attr-defined]
    return transport


def canned_gateway(psp: PspSetup, transport: httpx.BaseTransport) -> BcbPixGateway:
    return psp.pix_gateway(transport=transport, api_url=CANNED_API, token_url=CANNED_TOKEN_URL)


def token_requests(psp: PspSetup) -> list[dict[str, Any]]:
    return psp.admin.requests("pix", path_contains="/oauth/token")


# --- Creating a charge ------------------------------------------------------------------------------------------------


def test_create_charge_puts_the_fixtures_cob_and_reads_the_charge(psp: PspSetup):
    with psp.pix_gateway() as gateway:
        charge = gateway.create_charge(psp.pix_request())

    put = psp.admin.requests("pix", method="PUT")[0]
    assert put["path"] == f"/pix/api/v2/cob/{psp.txid}"
    assert put["json"] == psp.fixture("bcb_pix_cob_put_request.json")
    assert put["headers"]["content-type"] == "application/json"
    assert charge == Charge(
        gateway="bcb_pix",
        psp_reference=psp.txid,
        status=ChargeStatus.ACTIVE,
        amount=2500,
        currency="BRL",
        expires_at=datetime(2026, 11, 5, 14, 47, tzinfo=UTC),
        pix_copy_paste=charge.pix_copy_paste,
        pix_key=psp.pix_key,
        reference=psp.reference,
    )
    code = parse(charge.pix_copy_paste or "")
    (cob,) = psp.admin.pix_cobs()
    assert code.location is not None and code.merchant_name == "TRANSPORTE EXEMPLO"
    assert psp.admin.pix_lookup(charge.pix_copy_paste or "")["txid"] == cob["txid"] == psp.txid


def test_a_retried_create_updates_the_same_cob_instead_of_making_a_second(psp: PspSetup):
    with psp.pix_gateway() as gateway:
        first = gateway.create_charge(psp.pix_request())
        again = gateway.create_charge(psp.pix_request())

    assert again.pix_copy_paste == first.pix_copy_paste
    assert len(psp.admin.pix_cobs()) == 1


def test_long_texts_are_cut_to_the_api_limits_rather_than_refused(psp: PspSetup):
    request = psp.pix_request(description="d" * 200, extra_info=(("n" * 60, "v" * 250),), reference="r" * 60)

    body = psp.pix_gateway().cob_body(request)

    assert len(body["solicitacaoPagador"]) == 140
    assert body["infoAdicionais"] == [{"nome": "n" * 50, "valor": "v" * 200}, {"nome": "Pedido", "valor": "r" * 60}]


def test_a_payer_without_cpf_or_cnpj_is_not_named_as_devedor(psp: PspSetup):
    from payments.gateways import Payer

    body = psp.pix_gateway().cob_body(psp.pix_request(payer=Payer(name="Francisco")))

    assert "devedor" not in body


def test_a_charge_id_that_is_not_a_txid_or_already_expired_is_refused_before_any_call(psp: PspSetup):
    with psp.pix_gateway() as gateway:
        with pytest.raises(ValueError, match="26 to 35"):
            gateway.create_charge(psp.pix_request(charge_id="wa-ord-000123-link-1"))
        with pytest.raises(ValueError, match="already be expired"):
            gateway.create_charge(psp.pix_request(expires_at=psp.now() - timedelta(seconds=1)))

    assert psp.admin.requests("pix") == []


def test_a_cob_answer_without_pix_copia_e_cola_fails_loudly(psp: PspSetup):
    answer = psp.fixture("bcb_pix_cob_put_response_201.json")
    del answer["pixCopiaECola"]
    transport = canned({("PUT", f"/api/v2/cob/{psp.txid}"): httpx.Response(201, json=answer)})

    with canned_gateway(psp, transport) as gateway, pytest.raises(PermanentGatewayError) as error:
        gateway.create_charge(psp.pix_request())

    assert error.value.code == "unexpected_response"
    assert error.value.message == "PUT /cob answered without pixCopiaECola"


def test_a_cob_answer_with_money_as_a_number_is_unexpected(psp: PspSetup):
    answer = psp.fixture("bcb_pix_cob_put_response_201.json")
    answer["valor"]["original"] = 25.0
    transport = canned({("GET", f"/api/v2/cob/{psp.txid}"): httpx.Response(200, json=answer)})

    with canned_gateway(psp, transport) as gateway, pytest.raises(PermanentGatewayError) as error:
        gateway.get_charge(psp.txid)

    assert error.value.code == "unexpected_response"


# --- Reading a charge -------------------------------------------------------------------------------------------------


def test_the_concluida_fixture_is_read_field_by_field(psp: PspSetup):
    answer = psp.fixture("bcb_pix_cob_get_concluida_response_200.json")
    transport = canned({("GET", f"/api/v2/cob/{psp.txid}"): httpx.Response(200, json=answer)})

    with canned_gateway(psp, transport) as gateway:
        charge = gateway.get_charge(psp.txid)

    assert charge == Charge(
        gateway="bcb_pix",
        psp_reference=psp.txid,
        status=ChargeStatus.PAID,
        amount=2500,
        expires_at=datetime(2026, 11, 5, 14, 47, tzinfo=UTC),
        pix_copy_paste=answer["pixCopiaECola"],
        pix_key=psp.pix_key,
        reference=psp.reference,
        payments=(
            ReceivedPayment(
                psp_payment_id=E2EID,
                amount=2500,
                status=PaymentStatus.PAID,
                paid_at=datetime(2026, 11, 5, 14, 33, 41, 127000, tzinfo=UTC),
                psp_reference=psp.txid,
            ),
        ),
    )
    assert charge.paid_amount == 2500


def test_a_payment_at_the_fake_makes_the_charge_paid(psp: PspSetup):
    with psp.pix_gateway() as gateway:
        gateway.create_charge(psp.pix_request())
        (pix,) = psp.admin.pix_pay(psp.txid)["pix"]
        charge = gateway.get_charge(psp.txid)
        payment = gateway.get_payment(pix["endToEndId"])

    assert charge.status is ChargeStatus.PAID
    assert charge.payments == (payment,)
    assert (payment.amount, payment.status, payment.paid_at, payment.psp_reference) == (
        2500,
        PaymentStatus.PAID,
        psp.start,
        psp.txid,
    )


def test_an_unpaid_charge_is_expired_by_the_clock_though_the_psp_keeps_it_ativa(psp: PspSetup):
    with psp.pix_gateway() as gateway:
        gateway.create_charge(psp.pix_request())
        psp.advance(900)
        at_expiry = gateway.get_charge(psp.txid)
        psp.advance(1)
        after = gateway.get_charge(psp.txid)

    assert at_expiry.status is ChargeStatus.ACTIVE
    assert after.status is ChargeStatus.EXPIRED


def test_a_wrong_amount_is_a_payment_on_a_charge_that_stays_active(psp: PspSetup):
    with psp.pix_gateway() as gateway:
        gateway.create_charge(psp.pix_request())
        psp.admin.pix_pay(psp.txid, amount=2000, force=True)
        charge = gateway.get_charge(psp.txid)

    assert charge.status is ChargeStatus.ACTIVE
    assert [(p.amount, p.status) for p in charge.payments] == [(2000, PaymentStatus.PAID)]
    assert charge.paid_amount == 2000


def test_received_pix_are_listed_page_by_page(psp: PspSetup):
    with psp.pix_gateway() as gateway:
        for index in range(3):
            txid = f"page{index}0000000000000000000000000"
            gateway.create_charge(psp.pix_request(charge_id=txid))
            psp.admin.pix_pay(txid)
        found = list(gateway.list_payments(start=psp.start, end=psp.start + timedelta(hours=1), page_size=2))

    assert [p.psp_reference for p in found] == [f"page{i}0000000000000000000000000" for i in range(3)]
    pages = [r["query"]["paginacao.paginaAtual"] for r in psp.admin.requests("pix", method="GET")]
    assert pages == ["0", "1"]


# --- Cancelling -------------------------------------------------------------------------------------------------------


def test_cancel_patches_the_fixtures_body_and_the_charge_is_canceled(psp: PspSetup):
    with psp.pix_gateway() as gateway:
        gateway.create_charge(psp.pix_request())
        charge = gateway.cancel_charge(psp.txid)

    patch = psp.admin.requests("pix", method="PATCH")[0]
    assert patch["json"] == psp.fixture("bcb_pix_cob_patch_cancel_request.json")
    assert charge.status is ChargeStatus.CANCELED


def test_cancelling_a_charge_the_payer_just_paid_returns_it_paid(psp: PspSetup):
    with psp.pix_gateway() as gateway:
        gateway.create_charge(psp.pix_request())
        psp.admin.pix_pay(psp.txid)
        charge = gateway.cancel_charge(psp.txid)

    assert charge.status is ChargeStatus.PAID
    assert len(charge.payments) == 1


# --- Refunds ----------------------------------------------------------------------------------------------------------


def paid(psp: PspSetup, gateway: BcbPixGateway) -> str:
    gateway.create_charge(psp.pix_request())
    return psp.admin.pix_pay(psp.txid)["pix"][0]["endToEndId"]


def test_a_refund_puts_the_fixtures_devolucao_and_settles_done(psp: PspSetup):
    with psp.pix_gateway() as gateway:
        e2eid = paid(psp, gateway)
        refund = gateway.refund(
            psp_payment_id=e2eid,
            amount=2500,
            refund_id="dev1rcg20261105143200a1b2",
            reason="Recarga não concluída; valor devolvido",
        )
        psp.advance(2)
        psp.admin.pix_settle_refund(e2eid, "dev1rcg20261105143200a1b2")
        settled = gateway.get_refund(psp_payment_id=e2eid, psp_refund_id="dev1rcg20261105143200a1b2")
        charge = gateway.get_charge(psp.txid)

    put = psp.admin.requests("pix", method="PUT")[-1]
    assert put["path"] == f"/pix/api/v2/pix/{e2eid}/devolucao/dev1rcg20261105143200a1b2"
    assert put["json"] == psp.fixture("bcb_pix_devolucao_put_request.json")
    assert refund == Refund(
        refund_id="dev1rcg20261105143200a1b2",
        psp_refund_id="dev1rcg20261105143200a1b2",
        psp_payment_id=e2eid,
        amount=2500,
        status=RefundStatus.PROCESSING,
        requested_at=psp.start,
    )
    assert (settled.status, settled.settled_at) == (RefundStatus.DONE, psp.start + timedelta(seconds=2))
    (payment,) = charge.payments
    assert (payment.status, payment.refunded_amount, payment.refunds) == (PaymentStatus.REFUNDED, 2500, (settled,))


def test_partial_refunds_add_up_and_never_exceed_the_pix(psp: PspSetup):
    with psp.pix_gateway() as gateway:
        e2eid = paid(psp, gateway)
        gateway.refund(psp_payment_id=e2eid, amount=1000, refund_id="part1")
        with pytest.raises(PermanentGatewayError) as error:
            gateway.refund(psp_payment_id=e2eid, amount=3000, refund_id="part2")
        gateway.refund(psp_payment_id=e2eid, amount=1500, refund_id="part3")
        for refund_id in ("part1", "part3"):
            psp.admin.pix_settle_refund(e2eid, refund_id)
        payment = gateway.get_payment(e2eid)

    expected = psp.fixture("bcb_pix_error_devolucao_excede_valor_400.json")
    assert (error.value.http_status, error.value.code) == (400, "PixDevolucaoInvalida")
    assert error.value.message == f"{expected['title']}: {expected['detail']}"
    assert error.value.violations == (
        Violation(reason=expected["violacoes"][0]["razao"], property="devolucao.valor", value="30.00"),
    )
    assert (payment.refunded_amount, payment.status) == (2500, PaymentStatus.REFUNDED)


def test_a_refund_retried_after_a_lost_answer_returns_the_devolucao_already_made(psp: PspSetup):
    with psp.pix_gateway() as gateway:
        e2eid = paid(psp, gateway)
        first = gateway.refund(psp_payment_id=e2eid, amount=1000, refund_id="retry1")
        again = gateway.refund(psp_payment_id=e2eid, amount=1000, refund_id="retry1")
        with pytest.raises(PermanentGatewayError):
            gateway.refund(psp_payment_id=e2eid, amount=500, refund_id="retry1")

    assert again == first
    assert len(psp.admin.requests("pix", method="PUT", path_contains="/devolucao/")) == 3


# --- Tokens -----------------------------------------------------------------------------------------------------------


def test_the_standard_token_request_is_the_fixtures_exchange_to_the_byte(psp: PspSetup):
    exchange = psp.fixture("bcb_pix_oauth_token_exchange.json")["request"]
    config = psp.pix_config(client_id=exchange["client_id"], client_secret=exchange["client_secret"])

    request = BcbPixGateway(config).token_request()

    assert request == {
        "content": exchange["body_raw"].encode(),
        "headers": exchange["headers"],
    }


@pytest.mark.parametrize(
    ("style", "authorization", "recorded"),
    [
        (
            TokenRequest.FORM_BASIC,
            "Basic",
            {"form": {"grant_type": "client_credentials", "scope": "cob.write cob.read"}},
        ),
        (
            TokenRequest.JSON_BASIC,
            "Basic",
            {"json": {"grant_type": "client_credentials", "scope": "cob.write cob.read"}},
        ),
        (
            TokenRequest.FORM_CLIENT_ID,
            None,
            {"form": {"grant_type": "client_credentials", "client_id": "sicoob-client", "scope": "cob.write cob.read"}},
        ),
    ],
)
def test_each_banks_token_shape_gets_a_token_from_the_fake(psp: PspSetup, style, authorization, recorded):
    psp.admin.add_pix_receiver(
        id="bank",
        client_id="sicoob-client",
        client_secret="bank-secret",
        keys=["+5511999990000"],
        cert_thumbprint="bank-cert",
    )
    config = {
        "client_id": "sicoob-client",
        "client_secret": "bank-secret",
        "pix_key": "+5511999990000",
        "token_request": style,
        "scope": "cob.write cob.read",
        "extra_headers": {"X-Client-Cert-Thumbprint": "bank-cert"},  # the plain-HTTP stand-in for mutual TLS
    }

    with psp.pix_gateway(**config) as gateway:
        charge = gateway.create_charge(psp.pix_request())

    (token_request,) = token_requests(psp)
    assert charge.status is ChargeStatus.ACTIVE
    assert token_request["authorization"] == authorization
    assert {key: token_request[key] for key in recorded} == recorded


def test_the_token_is_fetched_once_and_reused(psp: PspSetup):
    with psp.pix_gateway() as gateway:
        gateway.create_charge(psp.pix_request())
        gateway.get_charge(psp.txid)
        gateway.cancel_charge(psp.txid)

    assert len(token_requests(psp)) == 1


def test_a_token_the_psp_no_longer_takes_is_replaced_once(psp: PspSetup):
    with psp.pix_gateway() as gateway:
        gateway.create_charge(psp.pix_request())
        psp.advance(3600)  # the fake's tokens last an hour of its time
        charge = gateway.get_charge(psp.txid)

    assert charge.psp_reference == psp.txid
    assert len(token_requests(psp)) == 2


def test_a_401_that_persists_is_permanent_after_one_new_token(psp: PspSetup):
    transport = canned({("GET", f"/api/v2/cob/{psp.txid}"): httpx.Response(401, json={"title": "Não autorizado"})})

    with canned_gateway(psp, transport) as gateway, pytest.raises(PermanentGatewayError) as error:
        gateway.get_charge(psp.txid)

    assert error.value.http_status == 401
    assert [r.url.path for r in transport.seen] == ["/oauth/token", f"/api/v2/cob/{psp.txid}"] * 2


def test_wrong_client_credentials_are_permanent_invalid_client(psp: PspSetup):
    with psp.pix_gateway(client_secret="wrong") as gateway, pytest.raises(PermanentGatewayError) as error:
        gateway.get_charge(psp.txid)

    assert (error.value.http_status, error.value.code) == (401, "invalid_client")


def test_a_scope_not_granted_is_permanent(psp: PspSetup):
    with psp.pix_gateway(scope="cob.read cobv.write") as gateway, pytest.raises(PermanentGatewayError) as asked:
        gateway.get_charge(psp.txid)
    with psp.pix_gateway(scope="cob.read") as gateway, pytest.raises(PermanentGatewayError) as denied:
        gateway.create_charge(psp.pix_request())

    assert (asked.value.http_status, asked.value.code) == (400, "invalid_scope")
    assert (denied.value.http_status, denied.value.code) == (403, "AcessoNegado")
    assert (
        denied.value.message
        == "Acesso Negado: Requisição de participante autenticado que viola alguma regra de autorização."
    )


# --- Errors -----------------------------------------------------------------------------------------------------------


def test_a_400_problem_is_permanent_with_its_violacoes(psp: PspSetup):
    with psp.pix_gateway(pix_key="12345678000195") as gateway, pytest.raises(PermanentGatewayError) as error:
        gateway.create_charge(psp.pix_request())

    assert (error.value.http_status, error.value.code) == (400, "CobOperacaoInvalida")
    assert error.value.violations == (
        Violation(
            reason="O campo cob.chave corresponde a uma conta que não pertence a este usuário recebedor.",
            property="cob.chave",
            value="12345678000195",
        ),
    )


def test_the_fixtures_expiracao_problem_is_read_into_its_violation(psp: PspSetup):
    problem = psp.fixture("bcb_pix_error_cob_expiracao_invalida_400.json")
    transport = canned({("PUT", f"/api/v2/cob/{psp.txid}"): httpx.Response(400, json=problem)})

    with canned_gateway(psp, transport) as gateway, pytest.raises(PermanentGatewayError) as error:
        gateway.create_charge(psp.pix_request())

    assert error.value.violations == (
        Violation(
            reason="O campo cob.calendario.expiracao é igual ou menor que zero.",
            property="cob.calendario.expiracao",
            value="0",
        ),
    )


def test_an_unknown_cob_is_permanent_404(psp: PspSetup):
    with psp.pix_gateway() as gateway, pytest.raises(PermanentGatewayError) as error:
        gateway.get_charge(psp.txid)

    assert (error.value.http_status, error.value.code) == (404, "CobNaoEncontrado")
    assert str(error.value) == (
        "bcb_pix: Cobrança não encontrada.: Cobrança não encontrada para o txid informado. "
        "[CobNaoEncontrado] (HTTP 404)"
    )


@pytest.mark.parametrize(("status", "code"), [(503, "ServicoIndisponivel"), (504, "IndisponibilidadePorTempoEsgotado")])
def test_503_and_504_are_transient(psp: PspSetup, status, code):
    with psp.pix_gateway() as gateway:
        gateway.create_charge(psp.pix_request())
        psp.admin.add_fault("pix", status=status)
        with pytest.raises(TransientGatewayError) as error:
            gateway.get_charge(psp.txid)
        after = gateway.get_charge(psp.txid)

    assert (error.value.http_status, error.value.code) == (status, code)
    assert after.status is ChargeStatus.ACTIVE


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("x"),
    ],
)
def test_network_failures_and_timeouts_are_transient(psp: PspSetup, failure):
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    gateway = canned_gateway(psp, canned({("GET", f"/api/v2/cob/{psp.txid}"): fail}))
    with gateway, pytest.raises(TransientGatewayError) as error:
        gateway.get_charge(psp.txid)

    assert error.value.http_status is None
    assert type(failure).__name__ in error.value.message


def test_a_call_slower_than_the_configured_timeout_is_transient(psp: PspSetup):
    with psp.pix_gateway(timeout=httpx.Timeout(0.2)) as gateway:
        gateway.create_charge(psp.pix_request())
        psp.admin.add_fault("pix", delay_ms=1000)
        with pytest.raises(TransientGatewayError, match="timed out"):
            gateway.get_charge(psp.txid)


# --- Webhook ----------------------------------------------------------------------------------------------------------


def test_register_get_and_delete_the_webhook(psp: PspSetup):
    url = psp.fixture("bcb_pix_webhook_put_request.json")["webhookUrl"]
    with psp.pix_gateway() as gateway:
        gateway.register_webhook(url)
        registered = gateway.get_webhook()
        gateway.delete_webhook()
        gone = gateway.get_webhook()

    put = psp.admin.requests("pix", method="PUT")[0]
    assert (put["path"], put["json"]) == (f"/pix/api/v2/webhook/{psp.pix_key}", {"webhookUrl": url})
    assert registered is not None
    assert (registered.url, registered.key, registered.created_at) == (url, psp.pix_key, psp.start)
    assert gone is None


def test_the_callback_names_the_charges_and_pix_to_read_again(psp: PspSetup):
    callback = psp.fixture("bcb_pix_webhook_callback_devolucao_final.json")["request"]

    notification = psp.pix_gateway().parse_notification(
        headers=callback["headers"], query={}, raw_body=callback["body_raw"].encode(), now=0
    )

    assert notification == Notification(
        gateway="bcb_pix", topic="pix", psp_references=(psp.txid,), psp_payment_ids=(E2EID,)
    )


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"pix": []}', b'{"pix": [1]}', b'{"cob": []}'])
def test_a_callback_of_another_shape_is_malformed(psp: PspSetup, body):
    with pytest.raises(NotificationMalformed):
        psp.pix_gateway().parse_notification(headers={}, query={}, raw_body=body, now=0)


def test_the_fakes_callback_after_a_payment_parses_into_what_to_read(psp: PspSetup):
    psp.register_webhook()
    with psp.pix_gateway() as gateway:
        e2eid = paid(psp, gateway)
        (post,) = psp.receiver.wait_for_posts(1)
        notification = gateway.parse_notification(headers=post.headers, query=post.query, raw_body=post.body, now=0)
        charges = [gateway.get_charge(txid) for txid in notification.psp_references]

    assert notification.psp_payment_ids == (e2eid,)
    assert [c.status for c in charges] == [ChargeStatus.PAID]


# --- Mutual TLS -------------------------------------------------------------------------------------------------------


def test_the_tls_context_loads_our_certificate_and_trusts_only_the_given_ca(certificates: Certificates):
    context = gateway_http.tls_context(
        TlsConfig(str(certificates.client_cert), str(certificates.client_key), str(certificates.ca))
    )

    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert [ca["subject"] for ca in context.get_ca_certs()] == [((("commonName", "ca"),),)]


def test_a_key_that_does_not_match_the_certificate_fails_when_the_gateway_is_built(psp: PspSetup, certificates):
    tls = TlsConfig(str(certificates.client_cert), str(certificates.other_key), str(certificates.ca))

    with pytest.raises(ssl.SSLError):
        psp.pix_gateway(tls=tls)


def test_the_tls_files_reach_httpx_as_its_ssl_context(psp: PspSetup, certificates, monkeypatch):
    made: list[dict[str, Any]] = []
    real_client = httpx.Client

    def spy(**kwargs: Any) -> httpx.Client:
        made.append(kwargs)
        return real_client(**kwargs)

    monkeypatch.setattr(gateway_http.httpx, "Client", spy)
    tls = TlsConfig(str(certificates.client_cert), str(certificates.client_key), str(certificates.ca))

    psp.pix_gateway(tls=tls, timeout=httpx.Timeout(7.0, connect=2.0)).close()

    (options,) = made
    assert isinstance(options["verify"], ssl.SSLContext)
    assert options["verify"].get_ca_certs()[0]["subject"] == ((("commonName", "ca"),),)
    assert options["timeout"] == httpx.Timeout(7.0, connect=2.0)
    assert "cert" not in options  # httpx 0.28 takes the certificate inside the context


def tls_fake(make_psp_server: Callable[..., FakePspServer], certificates: Certificates) -> FakePspServer:
    server = make_psp_server(
        tls=ServerTls(str(certificates.server_cert), str(certificates.server_key), str(certificates.ca))
    )
    with server.state.lock:
        server.state.pix.receivers["tenant-42"] = Receiver(
            id="tenant-42",
            client_id="psp-client-id-tenant-42",
            client_secret="psp-client-secret-0123456789",
            keys=["2a5c4f1e-9b3d-4c7a-8e6f-1d2b3c4d5e6f"],
            cert_thumbprint=pem_thumbprint(certificates.client_cert),
        )
    return server


def tls_gateway(server: FakePspServer, psp: PspSetup, certificates: Certificates, cert: str, key: str) -> BcbPixGateway:
    config = BcbPixConfig(
        api_url=server.pix_api_url,
        token_url=server.pix_token_url,
        client_id=psp.client_id,
        client_secret=psp.client_secret,
        pix_key=psp.pix_key,
        tls=TlsConfig(cert, key, str(certificates.ca)),
    )
    return BcbPixGateway(config, clock=psp.now)


def test_over_mutual_tls_the_receivers_certificate_gets_a_charge_made(psp, make_psp_server, certificates):
    server = tls_fake(make_psp_server, certificates)

    with tls_gateway(server, psp, certificates, str(certificates.client_cert), str(certificates.client_key)) as gateway:
        charge = gateway.create_charge(psp.pix_request())

    assert server.base_url.startswith("https://")
    assert charge.status is ChargeStatus.ACTIVE
    (token,) = server.state.pix.tokens.values()
    assert token.thumbprint == pem_thumbprint(certificates.client_cert)


def test_over_mutual_tls_another_certificate_of_the_same_ca_gets_no_token(psp, make_psp_server, certificates):
    server = tls_fake(make_psp_server, certificates)

    gateway = tls_gateway(server, psp, certificates, str(certificates.other_cert), str(certificates.other_key))
    with gateway, pytest.raises(PermanentGatewayError) as error:
        gateway.create_charge(psp.pix_request())

    assert (error.value.http_status, error.value.code) == (401, "invalid_client")


def test_over_mutual_tls_a_certificate_no_ca_signed_fails_the_handshake(psp, make_psp_server, certificates):
    server = tls_fake(make_psp_server, certificates)

    gateway = tls_gateway(server, psp, certificates, str(certificates.rogue_cert), str(certificates.rogue_key))
    with gateway, pytest.raises(TransientGatewayError):
        gateway.create_charge(psp.pix_request())

    assert server.state.pix.tokens == {}


def test_over_mutual_tls_a_token_presented_with_another_certificate_is_refused(psp, make_psp_server, certificates):
    server = tls_fake(make_psp_server, certificates)

    def client(cert: str, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=server.base_url,
            verify=gateway_http.tls_context(TlsConfig(cert, key, str(certificates.ca))),
            timeout=10,
            trust_env=False,
        )

    with client(str(certificates.client_cert), str(certificates.client_key)) as own:
        token = own.post(
            "/pix/oauth/token", data={"grant_type": "client_credentials"}, auth=(psp.client_id, psp.client_secret)
        ).json()["access_token"]
        mine = own.get(f"/pix/api/v2/cob/{psp.txid}", headers={"Authorization": f"Bearer {token}"})
        spoofed = own.get(
            f"/pix/api/v2/cob/{psp.txid}",
            headers={"Authorization": f"Bearer {token}", "X-Client-Cert-Thumbprint": "ignored-over-tls"},
        )
    with client(str(certificates.other_cert), str(certificates.other_key)) as other:
        theirs = other.get(f"/pix/api/v2/cob/{psp.txid}", headers={"Authorization": f"Bearer {token}"})

    assert mine.status_code == spoofed.status_code == 404
    assert theirs.status_code == 401
    assert json.loads(theirs.content)["detail"] == "O token de acesso está vinculado a outro certificado."


@pytest.mark.parametrize(
    ("answer", "works"),
    [
        ({"access_token": "t", "token_type": "bearer", "expires_in": "3600"}, True),
        ({"access_token": "t", "token_type": "Bearer"}, True),
        ({"access_token": "t", "token_type": "MAC", "expires_in": 3600}, False),
        ({"token_type": "Bearer", "expires_in": 3600}, False),
    ],
)
def test_token_answers_are_read_leniently_where_psps_differ_and_strictly_where_it_matters(psp: PspSetup, answer, works):
    cob = psp.fixture("bcb_pix_cob_get_concluida_response_200.json")

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json=answer)
        return httpx.Response(200, json=cob)

    with canned_gateway(psp, httpx.MockTransport(handle)) as gateway:
        if works:
            assert gateway.get_charge(psp.txid).status is ChargeStatus.PAID
        else:
            with pytest.raises(PermanentGatewayError, match="without a Bearer access_token"):
                gateway.get_charge(psp.txid)
