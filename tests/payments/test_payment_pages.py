"""The payments page and its API: every payment received (``tests.payments.scenario``: bank Pix, a static Pix
recorded by hand, two that paid no order), found by way of payment, refund state, problem, day of the
workspace and words, with the totals received, refunded and net in the reader's language, 50 a page; another
workspace's payments never show; without "Manage payments and catalog" it is a 403; a filter that cannot be
read is a 400 that says why (the API refuses an empty one); the queries do not grow with the rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.services.inbound import InboundSpec, message_receive
from payments.models import Order, Payment, PaymentAccount, PaymentRequest
from payments.orders import order_create
from tenants.permissions import BuiltinRole
from tenants.services import api_token_create, role_builtin, tenant_settings_update
from tests.factories import add_member, make_tenant, owner_of
from tests.payments import scenario
from tests.whatsapp.conftest import make_channel

pytest_plugins = ["tests.payments.fake_psp_fixtures"]
pytestmark = pytest.mark.django_db

PAGE = "/t/acme/payments/"
API = "/api/v1/t/acme/payments/"


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


def _orders(response) -> list[int]:
    """The order numbers of the rows, top to bottom."""
    html = response.content.decode()
    return [int(row.split('href="/t/', 1)[1].split("/orders/", 1)[1].split("/", 1)[0]) for row in
            html.split("data-payment=")[1:]]  # fmt: skip


def _many(tenant, conversation, count: int, *, start: int = 0) -> None:
    """``count`` payments by hand for as many orders (rows made directly: only their number matters here)."""
    account, _created = PaymentAccount.objects.get_or_create(tenant=tenant, kind="static_pix")
    owner = owner_of(tenant)
    for n in range(start, start + count):
        order = order_create(actor=owner, conversation=conversation, amount=1000 + n, description=f"Pedido {n}")
        request = PaymentRequest.objects.create(tenant=tenant, order=order, account=account, charge_id=f"c{n:031d}",
                                                reference=f"{order.number}-1", amount=order.total, status="paid",
                                                expires_at=timezone.now())  # fmt: skip
        Payment.objects.create(tenant=tenant, request=request, account=account, psp_payment_id=f"manual-{request.pk}",
                               amount=order.total, paid_at=timezone.now())  # fmt: skip


def test_every_payment_with_its_filters_and_totals(seeded):
    client = _client(seeded.owner)
    everything = client.get(PAGE)
    assert everything.status_code == 200
    # Newest first: the static Pix recorded at 15:00, then the bank's four at 14:32 (the last recorded first).
    assert _orders(everything) == [5, 6, 3, 2, 1]
    html = everything.content.decode()
    assert "5 payments: R$140.00 received, R$10.00 refunded, R$130.00 net." in html
    assert html.count('data-payment-problem="wrong_amount"') == 1 and html.count('data-payment-problem="late"') == 1
    assert "Paid R$20.00 where R$40.00 was asked." in html and "Paid after the payment request was closed." in html
    assert "Pix through the bank&#x27;s API · Fake PSP" in html and seeded.payments[1].psp_payment_id in html
    assert 'href="/t/acme/orders/6/"' in html and "Maria" in html
    assert html.count('data-payment-status="partly_refunded"') == 1  # #1: R$ 10,00 of 25,00 (still processing)

    assert _orders(client.get(PAGE, {"kind": "static_pix"})) == [5]
    assert _orders(client.get(PAGE, {"kind": "stripe"})) == []
    assert _orders(client.get(PAGE, {"status": "partly_refunded"})) == [1]
    assert _orders(client.get(PAGE, {"status": "received"})) == [5, 6, 3, 2]
    assert _orders(client.get(PAGE, {"status": "refunded"})) == []
    flagged = client.get(PAGE, {"flagged": "on"})
    assert _orders(flagged) == [3, 2]
    assert "2 payments: R$50.00 received, R$0.00 refunded, R$50.00 net." in flagged.content.decode()
    assert _orders(client.get(PAGE, {"q": "#6"})) == [6]
    assert _orders(client.get(PAGE, {"q": "6"})) == [6]  # a number is the order's, not part of a Pix id
    assert _orders(client.get(PAGE, {"q": seeded.payments[2].psp_payment_id[-8:].lower()})) == [2]
    assert _orders(client.get(PAGE, {"q": "mari"})) == [5, 6, 3, 2, 1]
    assert _orders(client.get(PAGE, {"q": "nobody"})) == []
    # Days of the workspace (São Paulo): every payment is of the 5th there.
    assert _orders(client.get(PAGE, {"since": "2026-11-05", "until": "2026-11-05"})) == [5, 6, 3, 2, 1]
    assert _orders(client.get(PAGE, {"until": "2026-11-04"})) == []
    assert _orders(client.get(PAGE, {"since": "2026-11-06"})) == []
    combined = client.get(PAGE, {"kind": "bcb_pix", "flagged": "1", "q": "maria", "since": "2026-11-05"})
    assert _orders(combined) == [3, 2]


def test_the_days_are_the_workspaces(seeded):
    client = _client(seeded.owner)
    # In Tokyo (UTC+9) the bank's payments at 14:32 UTC are of 23:32 on the 5th; the one recorded by hand at
    # 15:00 UTC is of midnight on the 6th.
    tenant_settings_update(actor=seeded.owner, timezone_name="Asia/Tokyo")
    assert _orders(client.get(PAGE, {"since": "2026-11-05", "until": "2026-11-05"})) == [6, 3, 2, 1]
    assert _orders(client.get(PAGE, {"since": "2026-11-06", "until": "2026-11-06"})) == [5]


@pytest.mark.parametrize(
    ("query", "message", "rows"),
    [
        ({"since": "2026-13-45"}, "Enter a valid date.", 2),
        ({"kind": "paypal"}, "Select a valid choice.", 2),
        ({"status": "lost"}, "Select a valid choice.", 2),
        ({"q": "x" * 101}, "Ensure this value has at most 100 characters", 2),
        ({"q": "a\x00b"}, "Null characters are not allowed.", 2),
        # The last day alone is kept: both payments are of today.
        ({"since": "2099-01-02", "until": "2099-01-01"}, "The first day comes after the last.", 2),
    ],
)
def test_a_filter_that_cannot_be_read_is_said_with_a_400(tenant, conversation, query, message, rows):
    _many(tenant, conversation, 2)
    response = _client(owner_of(tenant)).get(PAGE, query)
    assert response.status_code == 400
    html = response.content.decode()
    assert "data-filter-errors" in html and message in html
    assert html.count("data-payment=") == rows  # what could be read still filters; the rest is left out


def test_fifty_a_page(tenant, conversation):
    _many(tenant, conversation, 51)
    client = _client(owner_of(tenant))
    first = client.get(PAGE, {"kind": "static_pix"}).content.decode()
    assert first.count("data-payment=") == 50
    assert "51 payments: R$522.75 received, R$0.00 refunded, R$522.75 net." in first
    assert 'href="?kind=static_pix&amp;page=2"' in first
    assert client.get(PAGE, {"kind": "static_pix", "page": "2"}).content.decode().count("data-payment=") == 1
    assert client.get(PAGE, {"page": "abc"}).status_code == 200


def test_the_page_makes_as_many_queries_for_thirty_payments_as_for_one(tenant, conversation):
    client = _client(owner_of(tenant))
    _many(tenant, conversation, 1)
    client.get(PAGE)
    with CaptureQueriesContext(connection) as one:
        assert client.get(PAGE).status_code == 200
    _many(tenant, conversation, 29, start=1)
    with CaptureQueriesContext(connection) as thirty:
        response = client.get(PAGE)
    assert response.content.decode().count("data-payment=") == 30
    assert len(thirty) == len(one)


def _other_workspace():
    other = make_tenant("Globex", slug="globex")
    channel = make_channel(other, phone_number_id="999000111")
    spec = InboundSpec(source_id="5511900000099", external_id="wamid.other-1", occurred_at=timezone.now(),
                       type="text", text="Oi", profile_name="Zé")  # fmt: skip
    message, _created = message_receive(inbox=channel.inbox, spec=spec)
    _many(other, message.conversation, 1)
    return other


def test_another_workspaces_payments_never_show(tenant, conversation):
    _many(tenant, conversation, 1)
    other = _other_workspace()
    theirs = Order.objects.get(tenant=other)
    owner = _client(owner_of(tenant))
    assert "Zé" not in owner.get(PAGE).content.decode()
    assert owner.get(f"/t/acme/orders/{theirs.number + 100}/").status_code == 404
    stranger = _client(owner_of(other))
    assert stranger.get(PAGE).status_code == 404
    assert stranger.get("/t/acme/orders/1/").status_code == 404
    mine = stranger.get("/t/globex/payments/").content.decode()
    assert mine.count("data-payment=") == 1 and "Zé" in mine and "Maria" not in mine
    assert _api(other, "admin").get(API).status_code == 404
    assert [p["contact_id"] for p in _api(tenant, "admin").get(API).json()["results"]] == [conversation.contact_id]


def test_without_manage_payments_the_page_and_the_api_are_refused(tenant, conversation):
    _many(tenant, conversation, 1)
    for role in (BuiltinRole.AGENT, BuiltinRole.SUPERVISOR):
        member = add_member(tenant, role)
        conversation.inbox.members.add(member.user)
        client = _client(member)
        assert client.get(PAGE).status_code == 403
        assert client.get("/t/acme/orders/1/").status_code == 200  # the order itself they may see
        assert _api(tenant, role).get(API).status_code == 403


def test_the_api_lists_payments_with_the_pages_filters(seeded):
    api = _api(seeded.tenant, "admin")
    response = api.get(API)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [p["order_number"] for p in results] == [6, 5, 3, 2, 1]  # newest recorded first
    second = next(p for p in results if p["order_number"] == 2)
    assert {k: second[k] for k in ("reference", "kind", "provider", "amount", "refunded_amount", "currency", "status",
                                   "problem")} == {
        "reference": "2-1", "kind": "bcb_pix", "provider": "fake", "amount": 2000, "refunded_amount": 0,
        "currency": "BRL", "status": "received", "problem": "wrong_amount",
    }  # fmt: skip
    assert second["paid_at"] == "2026-11-05T14:32:00Z"  # the bank's moment, in UTC as every API moment
    assert second["psp_payment_id"] == seeded.payments[2].psp_payment_id
    manual = next(p for p in results if p["order_number"] == 5)
    assert (manual["kind"], manual["psp_payment_id"].startswith("manual-"), manual["problem"]) == (
        "static_pix",
        True,
        "",
    )

    def numbers(**params):
        answer = api.get(API, params)
        assert answer.status_code == 200, answer.json()
        return [p["order_number"] for p in answer.json()["results"]]

    assert numbers(kind="static_pix") == [5]
    assert numbers(status="partly_refunded") == [1]
    assert numbers(flagged="true") == [3, 2]
    assert numbers(flagged="false") == [6, 5, 1]
    assert numbers(q="#3") == [3]
    assert numbers(since="2026-11-05", until="2026-11-05") == [6, 5, 3, 2, 1]
    assert numbers(until="2026-11-04") == []
    assert numbers(page_size="2") == [6, 5]


@pytest.mark.parametrize(
    "query",
    [{"kind": ""}, {"status": ""}, {"flagged": ""}, {"since": ""}, {"until": ""}, {"kind": "paypal"},
     {"status": "lost"}, {"flagged": "yes"}, {"since": "2026-13-45"}, {"until": "05/11/2026"}, {"q": "x" * 101},
     {"q": "a\x00b"}],
)  # fmt: skip
def test_the_api_refuses_a_filter_it_cannot_read(tenant, query):
    response = _api(tenant, "admin").get(API, query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"


def test_the_page_in_portuguese(seeded):
    tenant_settings_update(actor=seeded.owner, locale="pt-br")
    html = _client(seeded.owner).get(PAGE).content.decode()
    assert "5 pagamentos: R$\xa0140,00 recebidos, R$\xa010,00 devolvidos, R$\xa0130,00 líquidos." in html
    assert "Pagou R$\xa020,00 quando R$\xa040,00 foi pedido." in html
    reconciliation = _client(seeded.owner).get(f"{PAGE}reconciliation/", {"since": "2026-11-04", "until": "2026-11-05"})
    text = reconciliation.content.decode()
    assert "Pagamentos que não pagaram nenhum pedido" in text and "Marcado como pago por" in text


# --- the payment requests' tab --------------------------------------------------------------------------------

REQUESTS = "/t/acme/payments/requests/"


def _references(response) -> list[str]:
    html = response.content.decode()
    return [part.split('"', 1)[0] for part in html.split('data-payment-request="')[1:]]


def test_the_payment_requests_tab_lists_every_request_with_its_filters(seeded):
    client = _client(seeded.owner)
    everything = client.get(REQUESTS)
    assert everything.status_code == 200
    # Newest first; #7's was moved to the 5th of November, before the others (made today).
    assert _references(everything) == ["6-1", "5-1", "3-1", "2-1", "1-1", "7-1"]
    html = everything.content.decode()
    assert 'href="/t/acme/orders/7/"' in html and "R$12.00" in html
    assert _references(client.get(REQUESTS, {"status": "expired"})) == ["3-1", "2-1"]
    assert _references(client.get(REQUESTS, {"status": "open"})) == ["7-1"]
    assert _references(client.get(REQUESTS, {"q": "#5"})) == ["5-1"]
    assert _references(client.get(REQUESTS, {"q": "2-1"})) == ["2-1"]
    assert _references(client.get(REQUESTS, {"since": "2026-11-05", "until": "2026-11-05"})) == ["7-1"]
    refused = client.get(REQUESTS, {"status": "lost", "since": "2026-02-30"})
    assert refused.status_code == 400 and "data-filter-errors" in refused.content.decode()
    assert len(_references(refused)) == 6


def test_the_payment_requests_tab_is_for_who_manages_payments_in_their_workspace(tenant, conversation):
    _many(tenant, conversation, 1)
    other = _other_workspace()
    assert _client(add_member(tenant, BuiltinRole.AGENT)).get(REQUESTS).status_code == 403
    assert _client(owner_of(other)).get(REQUESTS).status_code == 404
    assert _references(_client(owner_of(other)).get("/t/globex/payments/requests/")) == ["1-1"]
    assert _references(_client(owner_of(tenant)).get(REQUESTS)) == ["1-1"]
    mine = _client(owner_of(tenant)).get(REQUESTS).content.decode()
    assert "Maria" in mine and "Zé" not in mine
