"""Answers of one contact recorded at the same time (PostgreSQL): the state is the latest answer whatever order the
writers commit in, and a source replayed by several workers at once is one row."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections

from campaigns.consent import consent_record, marketing_purpose
from campaigns.models import ConsentEvent, ConsentState
from conversations.actors import SystemActor
from conversations.models import Contact
from tests.conversations.factories import make_conversation, make_inbox
from tests.prerequisites import require_postgresql

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def run_together(calls: list[Callable[[], object]]) -> list[BaseException]:
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            call()
        except BaseException as exc:  # reported by the caller
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_concurrent_answers_leave_the_latest_as_the_state(tenant):
    require_postgresql("SQLite serialises writers: there is no race to lose")
    contact = make_conversation(make_inbox(tenant)).contact
    purpose = marketing_purpose(tenant_id=tenant.pk)
    system = SystemActor(tenant_id=tenant.pk)
    # Eight answers, alternating; the latest (by when the customer gave it) is an opt-out at T0 + 7 min.
    answers = [("opt_in" if n % 2 == 0 else "opt_out", T0 + timedelta(minutes=n)) for n in range(8)]
    calls = [
        (lambda kind=kind, at=at: consent_record(
            actor=system, contact=contact, purpose=purpose, kind=kind, source="web_form", occurred_at=at,
            evidence={"form": "site"},
        ))
        for kind, at in reversed(answers)
    ]  # fmt: skip

    assert run_together(calls) == []

    assert ConsentEvent.objects.filter(contact=contact).count() == 8
    assert ConsentState.objects.values_list("kind", "occurred_at").get(contact=contact) == (
        "opt_out",
        T0 + timedelta(minutes=7),
    )
    assert Contact.objects.values_list("marketing_consent", "marketing_consent_at").get(pk=contact.pk) == (
        "opted_out",
        T0 + timedelta(minutes=7),
    )


def test_a_source_replayed_by_workers_at_once_records_one_row(tenant):
    require_postgresql("SQLite serialises writers: there is no race to lose")
    contact = make_conversation(make_inbox(tenant)).contact
    purpose = marketing_purpose(tenant_id=tenant.pk)
    system = SystemActor(tenant_id=tenant.pk)
    created: list[bool] = []

    def record() -> None:
        _event, new = consent_record(
            actor=system, contact=contact, purpose=purpose, kind="opt_out", source="whatsapp", occurred_at=T0,
            dedupe_key="whatsapp:1:5511900000001:1731705000:stop",
        )  # fmt: skip
        created.append(new)

    assert run_together([record] * 4) == []

    assert sorted(created) == [False, False, False, True]
    assert ConsentEvent.objects.filter(contact=contact).count() == 1
    assert Contact.objects.values_list("marketing_consent", flat=True).get(pk=contact.pk) == "opted_out"
