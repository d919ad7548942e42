"""The reconciliation: two days of a workspace's payments made through the services against the fake PSP
(``tests.payments.scenario``), each kind of difference with its exact figures, the totals per way of payment
and per day of the workspace's time zone, the page, its CSV file (cells a spreadsheet would run are
prefixed) and the API; another workspace's payments never show; without "Manage payments and catalog" it is
a 403; a range that cannot be read is a 400 that says why; the queries do not grow with the rows."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.services.inbound import InboundSpec, message_receive
from payments.orders import order_create, order_mark_paid
from payments.reconciliation import reconciliation
from tenants.permissions import BuiltinRole
from tenants.services import api_token_create, role_builtin
from tests.factories import add_member, make_tenant, owner_of
from tests.payments import scenario
from tests.whatsapp.conftest import make_channel

pytest_plugins = ["tests.payments.fake_psp_fixtures"]
pytestmark = pytest.mark.django_db

PAGE = "/t/acme/payments/reconciliation/"
CSV = "/t/acme/payments/reconciliation/export.csv"
API = "/api/v1/t/acme/payments/reconciliation/"
TWO_DAYS = {"since": "2026-11-04", "until": "2026-11-05"}
TOTALS = {"payments": 5, "received": 14000, "refunded": 1000, "net": 13000, "unmatched": 5000, "by_hand": 1500,
          "orders_paid": 4, "orders_amount": 10500}  # fmt: skip


@pytest.fixture
def seeded(tenant, conversation, psp, settings, sent, capture) -> scenario.Scenario:
    scenario.pix_settings(settings, psp)
    return scenario.build(tenant, conversation, psp, capture)


def _client(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def _api(tenant, role: str) -> Client:
    _token, raw = api_token_create(actor=owner_of(tenant), name=f"t-{role}", role=role_builtin(tenant=tenant, key=role))
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _other_workspace_paid_by_hand():
    """Another workspace with an order of R$ 99,00 marked paid today."""
    other = make_tenant("Globex", slug="globex")
    channel = make_channel(other, phone_number_id="999000111")
    spec = InboundSpec(source_id="5511900000099", external_id="wamid.other-1", occurred_at=timezone.now(),
                       type="text", text="Oi", profile_name="Zé")  # fmt: skip
    message, _created = message_receive(inbox=channel.inbox, spec=spec)
    order = order_create(actor=owner_of(other), conversation=message.conversation, amount=9900, description="x")
    order_mark_paid(actor=owner_of(other), order=order, note='=HYPERLINK("http://evil")')
    return other


def test_each_difference_of_the_two_days_is_listed_with_its_figures(seeded):
    report = reconciliation(tenant=seeded.tenant, since=date(2026, 11, 4), until=date(2026, 11, 5))
    owner = seeded.owner.user.display_name
    payments, refunds = seeded.payments, seeded.refunds
    rows = [
        (r.kind, r.order_number, r.at.isoformat(), r.account_kind, r.amount, r.expected, r.refunded, r.problem,
         r.psp_payment_id, r.who, r.note)
        for r in report.rows
    ]  # fmt: skip
    assert rows == [
        ("unmatched_payment", 2, "2026-11-05T14:32:00+00:00", "bcb_pix", 2000, 4000, 0, "wrong_amount",
         payments[2].psp_payment_id, "", ""),
        ("unmatched_payment", 3, "2026-11-05T14:32:00+00:00", "bcb_pix", 3000, 3000, 0, "late",
         payments[3].psp_payment_id, "", ""),
        ("paid_by_hand", 4, "2026-11-05T02:00:00+00:00", "", 1000, None, 0, "", "", owner, "Dinheiro no balcão"),
        ("paid_by_hand", 5, "2026-11-05T15:00:00+00:00", "static_pix", 1500, None, 0, "", "", owner, ""),
        ("amount_mismatch", 6, "2026-11-05T14:40:00+00:00", "bcb_pix", 5000, 5500, 0, "", "", "", ""),
        ("refund_open", 1, "2026-11-05T16:00:00+00:00", "bcb_pix", 1000, 2500, 0, "processing",
         payments[1].psp_payment_id, "", ""),
        ("refund_open", 2, "2026-11-05T16:00:00+00:00", "bcb_pix", 1000, 2000, 0, "failed",
         payments[2].psp_payment_id, "", "Conta encerrada"),
        ("unconfirmed", 7, "2026-11-05T17:00:00+00:00", "bcb_pix", 1200, 1200, 0, "unconfirmed", "", "", ""),
    ]  # fmt: skip
    assert [r.explanation for r in report.rows] == [
        "Paid R$20.00 where R$40.00 was asked.",
        "Paid after the payment request was closed.",
        f"Marked paid by {owner}.",
        f"Marked paid by {owner}.",
        "Paid R$50.00 for a total of R$55.00.",
        "Still processing at the provider.",
        "Refused by the provider: nothing was given back.",
        "Not read back from the provider since it expired; a payment may be waiting there.",
    ]
    assert report.counts == {"unmatched_payment": 2, "paid_by_hand": 2, "amount_mismatch": 1, "refund_open": 2,
                             "unconfirmed": 1}  # fmt: skip
    assert refunds[1].status == "processing" and refunds[2].status == "failed"

    # Every payment of the days (the two that paid nothing too), by way of payment and by day of São Paulo.
    assert {kind: t.as_dict() for kind, t in report.by_kind.items()} == {
        "static_pix": {"payments": 1, "received": 1500, "refunded": 0, "net": 1500, "unmatched": 0, "by_hand": 1500,
                       "orders_paid": 0, "orders_amount": 0},
        "bcb_pix": {"payments": 4, "received": 12500, "refunded": 1000, "net": 11500, "unmatched": 5000,
                    "by_hand": 0, "orders_paid": 0, "orders_amount": 0},
    }  # fmt: skip
    assert {day.isoformat(): t.as_dict() for day, t in report.by_day.items()} == {
        # Order #4 was marked paid at 02:00 UTC on the 5th: 23:00 on the 4th in the workspace.
        "2026-11-04": {"payments": 0, "received": 0, "refunded": 0, "net": 0, "unmatched": 0, "by_hand": 0,
                       "orders_paid": 1, "orders_amount": 1000},
        "2026-11-05": {"payments": 5, "received": 14000, "refunded": 1000, "net": 13000, "unmatched": 5000,
                       "by_hand": 1500, "orders_paid": 3, "orders_amount": 9500},
    }  # fmt: skip
    assert report.totals.as_dict() == TOTALS

    # The 5th alone leaves out the order paid late on the 4th; the 4th alone has only it.
    fifth = reconciliation(tenant=seeded.tenant, since=date(2026, 11, 5), until=date(2026, 11, 5))
    assert [r.order_number for r in fifth.differences["paid_by_hand"]] == [5]
    fourth = reconciliation(tenant=seeded.tenant, since=date(2026, 11, 4), until=date(2026, 11, 4))
    assert [(r.kind, r.order_number) for r in fourth.rows] == [("paid_by_hand", 4)]
    assert fourth.totals.as_dict()["received"] == 0


def test_the_page_shows_every_difference_linked_to_its_order_and_the_totals(seeded):
    _other_workspace_paid_by_hand()
    response = _client(seeded.owner).get(PAGE, TWO_DAYS)
    assert response.status_code == 200
    html = response.content.decode()
    for kind, numbers in {"unmatched_payment": [2, 3], "paid_by_hand": [4, 5], "amount_mismatch": [6],
                          "refund_open": [1, 2], "unconfirmed": [7]}.items():  # fmt: skip
        section = html.split(f'data-difference-kind="{kind}"', 1)[1].split("</section>", 1)[0]
        assert [int(part.split('"', 1)[0]) for part in section.split('data-order="')[1:]] == numbers, kind
        for number in numbers:
            assert f'href="/t/acme/orders/{number}/"' in section
    assert "Dinheiro no balcão" in html and "Conta encerrada" in html
    assert "Paid R$20.00 where R$40.00 was asked." in html
    assert "5 payments received, R$140.00, of which R$50.00 paid no order." in html
    assert "4 orders marked paid, R$105.00." in html
    days = html.split("data-totals-by-day", 1)[1]
    fifth = days.split('data-day="2026-11-05"', 1)[1].split("</tr>", 1)[0]
    assert [cell.split("</td>", 1)[0] for cell in fifth.split('class="num">')[1:]] == [
        "5", "R$140.00", "R$50.00", "R$10.00", "R$130.00", "3", "R$95.00",
    ]  # fmt: skip
    by_kind = html.split("data-totals-by-kind", 1)[1].split("</section>", 1)[0]
    assert "Pix through the bank&#x27;s API" in by_kind and "R$115.00" in by_kind
    # The other workspace's order (R$ 99,00, and its note) is not here.
    assert "HYPERLINK" not in html and "R$99.00" not in html


def test_the_api_gives_the_differences_and_the_totals(seeded):
    api = _api(seeded.tenant, "admin")
    response = api.get(API, TWO_DAYS)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["since"], body["until"], body["currency"], body["truncated"]) == ("2026-11-04", "2026-11-05", "BRL",
                                                                                    False)  # fmt: skip
    assert body["totals"] == TOTALS
    assert [(k["kind"], k["received"], k["net"]) for k in body["by_kind"]] == [("static_pix", 1500, 1500),
                                                                               ("bcb_pix", 12500, 11500)]  # fmt: skip
    days = [(d["day"], d["orders_paid"], d["received"]) for d in body["by_day"]]
    assert days == [("2026-11-04", 1, 0), ("2026-11-05", 3, 14000)]
    assert [(d["kind"], d["order_number"], d["amount"], d["expected"], d["problem"]) for d in body["differences"]] == [
        ("unmatched_payment", 2, 2000, 4000, "wrong_amount"),
        ("unmatched_payment", 3, 3000, 3000, "late"),
        ("paid_by_hand", 4, 1000, None, ""),
        ("paid_by_hand", 5, 1500, None, ""),
        ("amount_mismatch", 6, 5000, 5500, ""),
        ("refund_open", 1, 1000, 2500, "processing"),
        ("refund_open", 2, 1000, 2000, "failed"),
        ("unconfirmed", 7, 1200, 1200, "unconfirmed"),
    ]
    assert body["differences"][2]["note"] == "Dinheiro no balcão"
    assert body["counts"]["refund_open"] == 2
    # In the caller's language.
    portuguese = api.get(API, TWO_DAYS, HTTP_ACCEPT_LANGUAGE="pt-BR").json()
    assert portuguese["differences"][0]["explanation"] == "Pagou R$\xa020,00 quando R$\xa040,00 foi pedido."


def test_the_csv_file_holds_the_rows_and_never_a_formula(tenant, conversation):
    owner = owner_of(tenant)
    order = order_create(actor=owner, conversation=conversation, amount=2500, description="Recarga")
    order_mark_paid(actor=owner, order=order, note='=HYPERLINK("http://evil.example","x")')
    response = _client(owner).get(CSV)  # the last seven days by default: today's order is there
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="reconciliation-')
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["difference", "order", "when", "way of payment", "amount", "expected", "reference",
                       "provider's payment id", "customer", "what is wrong", "by", "note"]  # fmt: skip
    [row] = rows[1:]
    assert row[:2] == ["Orders marked paid without a provider's payment", "1"]
    assert row[4] == "R$25.00" and row[8] == "Maria"
    assert row[11] == '\'=HYPERLINK("http://evil.example","x")'


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "2026-11-06", "until": "2026-11-05"}, "The first day comes after the last."),
        ({"since": "2026-01-01", "until": "2026-12-31"}, "Choose at most 92 days at once."),
        ({"since": "2026-13-45"}, "Enter a valid date."),
        ({"until": "yesterday"}, "Enter a valid date."),
    ],
)
def test_a_range_that_cannot_be_read_is_a_400_that_says_why(tenant, query, message):
    client = _client(owner_of(tenant))
    page = client.get(PAGE, query)
    assert page.status_code == 400
    assert message in page.content.decode() and "data-difference-kind" not in page.content.decode()
    exported = client.get(CSV, query)
    assert (exported.status_code, exported.content.decode()) == (400, message)


@pytest.mark.parametrize(
    "query",
    [{"since": ""}, {"until": ""}, {"since": "2026-13-45"}, {"since": "05/11/2026"}, {"since": "2026-11-06",
     "until": "2026-11-05"}, {"since": "2025-01-01", "until": "2026-01-01"}],
)  # fmt: skip
def test_the_api_refuses_a_range_it_cannot_read(tenant, query):
    response = _api(tenant, "admin").get(API, query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"


def test_without_manage_payments_the_reconciliation_is_refused(tenant):
    for role in (BuiltinRole.AGENT, BuiltinRole.SUPERVISOR):
        client = _client(add_member(tenant, role))
        assert client.get(PAGE).status_code == 403
        assert client.get(CSV).status_code == 403
        assert 'href="/t/acme/payments/"' not in client.get("/t/acme/orders/").content.decode()
    assert 'href="/t/acme/payments/"' in _client(owner_of(tenant)).get("/t/acme/orders/").content.decode()
    assert _api(tenant, "agent").get(API).status_code == 403
    assert _api(tenant, "supervisor").get(API).status_code == 403


def test_another_workspace_sees_none_of_it_and_cannot_reach_it(tenant, conversation):
    owner = owner_of(tenant)
    order_mark_paid(
        actor=owner, order=order_create(actor=owner, conversation=conversation, amount=2500, description="x"), note="ok"
    )
    other = _other_workspace_paid_by_hand()
    stranger = _client(owner_of(other))
    assert stranger.get(PAGE).status_code == 404
    assert stranger.get(CSV).status_code == 404
    theirs = stranger.get("/t/globex/payments/reconciliation/").content.decode()
    assert 'data-order="1"' in theirs and "R$99.00" in theirs and "R$25.00" not in theirs
    token = _api(other, "admin")
    assert token.get(API).status_code == 404
    assert [d["amount"] for d in token.get("/api/v1/t/globex/payments/reconciliation/").json()["differences"]] == [9900]


def _paid_by_hand(tenant, conversation, count: int) -> None:
    owner = owner_of(tenant)
    for _ in range(count):
        order = order_create(actor=owner, conversation=conversation, amount=1000, description="x")
        order_mark_paid(actor=owner, order=order, note="conferido")


def test_the_page_makes_as_many_queries_for_thirty_differences_as_for_one(tenant, conversation):
    client = _client(owner_of(tenant))
    _paid_by_hand(tenant, conversation, 1)
    client.get(PAGE)  # the session and caches warm up
    with CaptureQueriesContext(connection) as one:
        assert client.get(PAGE).status_code == 200
    _paid_by_hand(tenant, conversation, 29)
    with CaptureQueriesContext(connection) as thirty:
        response = client.get(PAGE)
    assert response.content.decode().count('data-difference="paid_by_hand"') == 30
    assert len(thirty) == len(one)


def test_a_long_list_is_cut_and_says_so(tenant, conversation, monkeypatch):
    monkeypatch.setattr("payments.reconciliation.ROWS_MAX", 2)
    _paid_by_hand(tenant, conversation, 3)
    html = _client(owner_of(tenant)).get(PAGE).content.decode()
    assert html.count('data-difference="paid_by_hand"') == 2
    assert "Only the first 2 are shown: choose fewer days." in html
    body = _api(tenant, "admin").get(API).json()
    assert (body["truncated"], body["counts"]["paid_by_hand"], len(body["differences"])) == (True, 3, 2)
    assert body["totals"]["orders_paid"] == 3


def test_the_page_and_the_csv_file_in_portuguese(tenant, conversation):
    from tenants.services import tenant_settings_update

    owner = owner_of(tenant)
    tenant_settings_update(actor=owner, locale="pt-br")
    order_mark_paid(actor=owner, order=order_create(actor=owner, conversation=conversation, amount=2500,
                                                    description="Recarga"), note="Pix conferido")  # fmt: skip
    client = _client(owner)
    page = client.get(PAGE).content.decode()
    assert "Pedidos marcados como pagos sem pagamento de um provedor" in page
    assert f"Marcado como pago por {owner.user.display_name}." in page
    assert "1 pedido marcado como pago, R$\xa025,00." in page
    rows = list(csv.reader(io.StringIO(client.get(CSV).content.decode())))
    assert rows[0] == ["diferença", "pedido", "quando", "forma de pagamento", "valor", "esperado", "referência",
                       "id do pagamento no provedor", "cliente", "o que está errado", "por", "observação"]  # fmt: skip
    assert (rows[1][0], rows[1][4], rows[1][9], rows[1][11]) == (
        "Pedidos marcados como pagos sem pagamento de um provedor",
        "R$\xa025,00",
        f"Marcado como pago por {owner.user.display_name}.",
        "Pix conferido",
    )
