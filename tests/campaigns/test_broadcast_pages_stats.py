"""What the live page counts: the recipients by outcome (one query), the cost by country in integers of minor
units, and the recipients' CSV (streamed, every cell a spreadsheet would run quoted)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from campaigns.broadcasts import broadcast_recipients_csv, broadcast_stats, phone_country
from campaigns.models import Broadcast, MessagePrice
from campaigns.prices import broadcast_cost_estimate, cost_display
from conversations.models import Message
from tests.campaigns.broadcasting import add_recipient, fake_channel, make_contact, make_draft, make_inbox, make_segment
from tests.conversations.factories import make_conversation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _channel():
    with fake_channel() as backend:
        yield backend


@pytest.fixture
def broadcast(tenant):
    return make_draft(tenant, make_inbox(tenant), make_segment(tenant))


def fill(broadcast: Broadcast) -> None:
    """12 recipients: 2 waiting, 1 sending, 2 sent, 2 delivered, 1 read (replied), 2 failed (131026 twice, one
    with Meta's title), 1 failed without a code, 1 skipped for consent... and replies on a delivered one too."""
    rows = [
        ("+5511900000001", "pending", {}),
        ("+5511900000002", "pending", {}),
        ("+5511900000003", "sending", {}),
        ("+5511900000004", "sent", {}),
        ("+5511900000005", "sent", {}),
        ("+5511900000006", "delivered", {"replied_at": datetime(2026, 12, 7, 15, 0, tzinfo=UTC)}),
        ("+5511900000007", "delivered", {}),
        ("+5511900000008", "read", {"replied_at": datetime(2026, 12, 7, 15, 5, tzinfo=UTC)}),
        ("+5511900000009", "failed", {"error_code": 131026, "error_title": ""}),
        ("+5511900000010", "failed", {"error_code": 131026, "error_title": "Message undeliverable"}),
        ("+5511900000011", "failed", {"error_code": 131049, "error_title": "Healthy ecosystem engagement"}),
        ("+5511900000012", "skipped", {"skip_reason": "no_consent"}),
        ("+5511900000013", "skipped", {"skip_reason": "no_consent"}),
        ("+5511900000014", "skipped", {"skip_reason": "invalid_phone"}),
        ("+5511900000015", "canceled", {}),
    ]
    for phone, status, fields in rows:
        add_recipient(broadcast, phone, status, **fields)


def test_the_counters_are_exact_and_take_one_query(broadcast, django_assert_num_queries):
    fill(broadcast)
    with django_assert_num_queries(1):
        stats = broadcast_stats(broadcast)

    assert stats == {
        "total": 15,
        "pending": 2,
        "sending": 1,
        "processed": 12,
        "sent": 5,
        "delivered": 3,
        "read": 1,
        "replied": 2,
        "failed": 3,
        "skipped": 3,
        "canceled": 1,
        "failed_by_code": [
            {"code": 131026, "title": "Message undeliverable", "count": 2},
            {"code": 131049, "title": "Healthy ecosystem engagement", "count": 1},
        ],
        "skipped_by_reason": [
            {"reason": "no_consent", "label": "No consent", "count": 2},
            {"reason": "invalid_phone", "label": "Invalid phone number", "count": 1},
        ],
        "percent": {"processed": 80, "sent": 33, "failed": 20, "skipped": 20, "delivered": 60, "read": 20,
                    "replied": 40},
    }  # fmt: skip


def test_a_broadcast_without_recipients_counts_nothing(broadcast):
    stats = broadcast_stats(broadcast)
    assert (stats["total"], stats["percent"]["processed"], stats["failed_by_code"]) == (0, 0, [])


# --- cost -----------------------------------------------------------------------------------------------------------


def test_countries_come_from_the_phone_numbers():
    assert [phone_country(p) for p in ("+5511912345678", "5511912345678", "+12025550123", "+442071838750", "+999")] == [
        "BR", "BR", "US", "GB", ""
    ]  # fmt: skip


def test_the_estimate_is_by_country_at_the_default_prices_in_integers_before_planning(tenant, broadcast):
    for n in range(3):
        make_contact(tenant, f"BR {n}", f"+55119000000{n:02d}")
    make_contact(tenant, "US", "+12025550123")
    make_contact(tenant, "UK", "+442071838750")
    make_contact(tenant, "Nobody", "")

    estimate = broadcast_cost_estimate(broadcast)

    # Marketing: BR $62.50, US $25.00, other countries $60.40 per 1,000; each country rounded half up once.
    assert estimate == {
        "category": "marketing",
        "rows": [
            {"country": "BR", "category": "marketing", "recipients": 3, "unit_minor": 6250, "cost_minor": 19,
             "currency": "USD", "priced_as": "BR"},
            {"country": "GB", "category": "marketing", "recipients": 1, "unit_minor": 6040, "cost_minor": 6,
             "currency": "USD", "priced_as": "ZZ"},
            {"country": "US", "category": "marketing", "recipients": 1, "unit_minor": 2500, "cost_minor": 3,
             "currency": "USD", "priced_as": "US"},
        ],
        "totals": {"USD": 28},
        "unpriced": 0,
    }  # fmt: skip
    assert all(isinstance(row["cost_minor"], int) for row in estimate["rows"])
    shown = cost_display(estimate)
    assert (shown["totals"], shown["rows"][0]["unit"], shown["rows"][0]["country_label"]) == (
        ["$0.28"], "$62.50", "Brazil"
    )  # fmt: skip


def test_after_planning_the_estimate_counts_recipients_still_to_be_charged_at_the_workspaces_prices(tenant, broadcast):
    MessagePrice.objects.create(tenant=tenant, country="BR", category="marketing", price_minor=33333, currency="BRL")
    fill(broadcast)
    # A thousand more Brazilians already planned (their country stored by the planner).
    for n in range(1000):
        add_recipient(broadcast, f"+55219{n:08d}", "pending", country="BR")

    estimate = broadcast_cost_estimate(broadcast)

    # 1000 + 8 Brazilians not failed, skipped or canceled, at R$333.33 per 1,000: 336.000 → 33600 centavos.
    assert estimate["rows"] == [
        {"country": "BR", "category": "marketing", "recipients": 1008, "unit_minor": 33333, "cost_minor": 33600,
         "currency": "BRL", "priced_as": "BR"},
    ]  # fmt: skip
    assert estimate["totals"] == {"BRL": 33600}
    assert cost_display(estimate)["totals"] == ["R$336.00"]


def test_a_country_without_a_price_is_counted_apart(tenant, broadcast):
    MessagePrice.objects.create(tenant=tenant, country="BR", category="marketing", price_minor=6250)
    add_recipient(broadcast, "+12025550123", "pending")
    add_recipient(broadcast, "+5511900000001", "pending")
    estimate = broadcast_cost_estimate(broadcast)
    assert (estimate["totals"], estimate["unpriced"]) == ({"USD": 6}, 1)


# --- the recipients' CSV ---------------------------------------------------------------------------------------------


def test_the_csv_lists_every_recipient_and_its_outcome_with_formulas_quoted(tenant, broadcast):
    inbox = broadcast.inbox
    conversation = make_conversation(inbox, name='=HYPERLINK("http://evil")', phone="+5511900000001")
    ana = conversation.contact
    bia = make_contact(tenant, "@Bia", "+5511900000002")
    sent = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    message = Message.objects.create(
        tenant=tenant, conversation=conversation, inbox=inbox, direction="out", sender_type="bot", type="template",
        status="read", sent_at=sent, delivered_at=datetime(2026, 12, 7, 12, 1, tzinfo=UTC),
        read_at=datetime(2026, 12, 7, 12, 30, tzinfo=UTC),
    )  # fmt: skip
    add_recipient(broadcast, "+5511900000001", "read", contact=ana, message=message, sent_at=sent,
                  replied_at=datetime(2026, 12, 7, 13, 0, tzinfo=UTC))  # fmt: skip
    add_recipient(broadcast, "+5511900000002", "failed", contact=bia, error_code=131026, error_title="-1 undeliverable")
    add_recipient(broadcast, "5511900000003", "skipped", skip_reason="no_consent")

    text = "".join(broadcast_recipients_csv(broadcast, zone=ZoneInfo("America/Sao_Paulo")))

    assert text == (
        "phone,name,status,skip_reason,error_code,error_title,sent_at,delivered_at,read_at,replied_at\r\n"
        '\'+5511900000001,"\'=HYPERLINK(""http://evil"")",read,,,,2026-12-07T09:00:00-03:00,'
        "2026-12-07T09:01:00-03:00,2026-12-07T09:30:00-03:00,2026-12-07T10:00:00-03:00\r\n"
        "'+5511900000002,'@Bia,failed,,131026,'-1 undeliverable,,,,\r\n"
        "5511900000003,,skipped,no_consent,,,,,,\r\n"
    )


def test_the_estimate_of_many_numbers_reads_groups_of_them_in_a_few_queries(
    tenant, broadcast, django_assert_num_queries
):
    for n in range(150):
        add_recipient(broadcast, f"+5511{n:09d}", "pending")
        add_recipient(broadcast, f"+1202555{n:04d}", "sent")
        add_recipient(broadcast, f"+1416555{n:04d}", "skipped", skip_reason="no_consent")

    # The price table, whether anything is planned, the countries stored, the numbers by their first digits.
    with django_assert_num_queries(4):
        estimate = broadcast_cost_estimate(broadcast)

    assert [(r["country"], r["recipients"], r["cost_minor"]) for r in estimate["rows"]] == [("BR", 150, 938),
                                                                                          ("US", 150, 375)]  # fmt: skip
