"""A webhook event's summary is stored in one English form and said again with the viewer's plurals."""

from __future__ import annotations

from whatsapp.summary import summary_display, summary_text


def test_the_stored_summary_counts_each_kind_with_its_plural_and_lists_ignored_fields_once():
    stored = summary_text(
        [("message", 1), ("status", 2), ("template update", 0), ("error", 3)],
        ["account_update", "account_update", "flows"],
    )
    assert stored == "1 message; 2 statuses; 3 errors; ignored: account_update, flows"


def test_a_summary_with_nothing_in_it_is_stored_as_empty():
    assert summary_text([("message", 0)], []) == "empty"


def test_the_summary_is_shown_with_singular_and_plural_forms():
    assert summary_display("1 message; 2 statuses; 1 template update; 4 preferences") == (
        "1 message; 2 statuses; 1 template update; 4 preferences"
    )
    assert summary_display("ignored: statuses:payment") == "ignored: statuses:payment"
    assert summary_display("empty") == "empty"
    assert summary_display("") == ""


def test_a_summary_stored_before_statuses_had_their_plural_is_still_read():
    assert summary_display("2 statuss; 1 error") == "2 statuses; 1 error"


def test_a_part_it_does_not_know_is_shown_as_stored():
    assert summary_display("1 message; 7 widgets") == "1 message; 7 widgets"
