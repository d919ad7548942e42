"""An order's history (and the audit log) shows its payments as people read them: the way of payment by its
name and amounts as money in the reader's language, never the stored key and centavos ("kind bcb_pix · total
7290")."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation

from payments.accounts import payment_account_save
from payments.models import Payment
from payments.refunds import payment_refund
from payments.requests import payment_mark_received, payment_request_create
from tenants.audit_display import audit_rows
from tenants.models import AuditLogEntry
from tests.factories import make_user, owner_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_and_partly_refunded(tenant, order, sent, capture):
    """The R$ 25,00 order charged with a static Pix, recorded as paid by an admin, R$ 10,00 given back."""
    owner = owner_of(tenant)
    values = {"pix_key": "+5511912345678", "pix_key_type": "PHONE", "merchant_name": "Loja", "merchant_city": "Recife"}
    payment_account_save(actor=owner, tenant=tenant, kind="static_pix", values=values, secrets={})
    with capture(execute=True):
        payment_request_create(actor=owner, order=order, kind="static_pix")
        payment_mark_received(actor=owner, order=order, note="Extrato")
        payment_refund(actor=owner, payment=Payment.objects.get(tenant=tenant), amount=1000, reason="Item em falta")
    return order


def _payment_details(tenant, language: str) -> list[tuple[str, list[tuple[str, str]]]]:
    entries = AuditLogEntry.objects.filter(tenant=tenant, action__startswith="payment").order_by("id")
    with translation.override(language):
        return [(row.entry.action, [(str(k), v) for k, v in row.details]) for row in audit_rows(
            tenant_id=tenant.pk, entries=entries
        )]  # fmt: skip


def test_payment_entries_name_the_way_of_payment_and_show_amounts_as_money(tenant, paid_and_partly_refunded):
    # In the order the log keeps them (by key); the labels and values are the reader's.
    assert _payment_details(tenant, "en") == [
        ("payment_account.saved", [("changed", _changed(tenant)), ("way of payment", "Pix key (confirmed by hand)")]),
        ("payment.requested", [("way of payment", "Pix key (confirmed by hand)"), ("reference", "1-1"),
                               ("total", "R$25.00")]),
        ("payment.received", [("reference", "1-1"), ("total", "R$25.00")]),
        ("payment.refunded", [("reason", "Item em falta"), ("total", "R$10.00")]),
    ]  # fmt: skip
    assert _payment_details(tenant, "pt-br")[1:] == [
        ("payment.requested", [("forma de pagamento", "Chave Pix (confirmação manual)"), ("referência", "1-1"),
                               ("total", "R$\xa025,00")]),
        ("payment.received", [("referência", "1-1"), ("total", "R$\xa025,00")]),
        ("payment.refunded", [("motivo", "Item em falta"), ("total", "R$\xa010,00")]),
    ]  # fmt: skip


def _changed(tenant) -> str:
    entry = AuditLogEntry.objects.get(tenant=tenant, action="payment_account.saved")
    [row] = audit_rows(tenant_id=tenant.pk, entries=[entry])
    return dict(row.details)["changed"]


def test_the_orders_history_shows_the_payment_request_and_refund_in_money(tenant, paid_and_partly_refunded):
    client = Client()
    client.force_login(owner_of(tenant).user)
    page = client.get(f"/t/acme/orders/{paid_and_partly_refunded.number}/").content.decode()
    history = page.split("data-order-history", 1)[1]
    assert "Payment requested" in history and "Refund requested" in history
    assert "Pix key (confirmed by hand)" in history
    assert history.count("R$25.00") == 3  # created, requested, received
    assert "R$10.00" in history
    for raw in ("static_pix", "2500", "1000"):
        assert raw not in history


def test_an_entry_holding_what_no_payment_holds_shows_it_as_written(tenant):
    """Entries are never rewritten: a kind no longer offered, or a total that is not centavos, shows as stored
    (escaped by the page like any text) instead of failing the history."""
    AuditLogEntry.objects.create(
        tenant=tenant,
        action=AuditLogEntry.Action.PAYMENT_REQUESTED,
        actor_label=make_user().email,
        extra={"kind": "bitcoin", "total": "lots", "reference": "<b>1-1</b>"},
    )
    assert _payment_details(tenant, "en") == [
        ("payment.requested", [("way of payment", "bitcoin"), ("reference", "<b>1-1</b>"), ("total", "lots")])
    ]
