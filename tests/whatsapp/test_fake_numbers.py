"""How the fake tells that two ids are one person, as WhatsApp does for Brazilian mobiles."""

from __future__ import annotations

import pytest

from whatsapp.fake.state import FakeState, brazilian_mobile_twin


@pytest.mark.parametrize(
    ("wa_id", "twin"),
    [
        ("551187654321", "5511987654321"),  # an old 8-digit mobile gains its ninth digit
        ("5511987654321", "551187654321"),  # and loses it
        ("551133334444", None),  # a landline (local number starting 2-5)
        ("5511933334444", None),  # 9 + a landline-looking number is not a mobile's other form
        ("550187654321", None),  # no area code has a zero
        ("16505551234", None),  # not Brazilian
    ],
)
def test_brazilian_mobile_twin(wa_id, twin):
    assert brazilian_mobile_twin(wa_id) == twin


def test_a_customer_is_found_under_either_form():
    state = FakeState()
    first = state.customer("pnid", "551187654321")
    assert state.customer("pnid", "5511987654321") is first
    assert state.known_wa_id("pnid", "5511987654321") == "551187654321"
    assert state.known_wa_id("other-number", "5511987654321") == "5511987654321"
    assert len(state.customers) == 1
