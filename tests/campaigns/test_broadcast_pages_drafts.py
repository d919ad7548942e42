"""Drafts of broadcasts: what a draft must hold, the messages that say what is wrong, the CSV audience, the
preview, and that only drafts change; each change audited."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from campaigns.broadcasts import (
    audience_count,
    audience_file_check,
    broadcast_create,
    broadcast_delete,
    broadcast_preview,
    broadcast_update,
    recipient_values,
    template_values,
)
from campaigns.models import Broadcast, ConsentPurpose
from helpdesk.exceptions import Conflict, PermissionDenied, ValidationFailed
from tenants.models import AuditLogEntry
from tests.campaigns.broadcasting import (
    PROMO,
    PROMO_VARIABLES,
    SHIPPED,
    fake_channel,
    make_contact,
    make_inbox,
    make_segment,
    promo_spec,
)

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _channel():
    with fake_channel() as backend:
        yield backend


@pytest.fixture
def inbox(tenant):
    return make_inbox(tenant)


@pytest.fixture
def segment(tenant):
    return make_segment(tenant)


def refused(owner, spec, *, csv=None, field=None):
    with pytest.raises(ValidationFailed) as caught:
        broadcast_create(actor=owner, tenant=owner.tenant, spec=spec, audience_csv=csv, now=NOW)
    if field is not None:
        assert caught.value.details["field"] == field
    assert not Broadcast.objects.exists()
    return caught.value.message


def test_a_draft_stores_the_template_category_the_marketing_purpose_and_is_audited(owner, inbox, segment):
    broadcast = broadcast_create(actor=owner, tenant=owner.tenant, spec=promo_spec(inbox, segment), now=NOW)

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT
    assert broadcast.template_category == "MARKETING"
    assert broadcast.consent_purpose.key == "marketing"
    assert broadcast.consent_purpose.is_marketing is True
    assert broadcast.variables == {
        "header.1": {"value": "VIP"},
        "body.1": {"attribute": "name", "fallback": "cliente"},
        "body.2": {"attribute": "attr:coupon", "fallback": "BEMVINDO"},
        "button.0": {"value": "promo-2026"},
    }
    entry = AuditLogEntry.objects.get(tenant=owner.tenant, action__startswith="broadcast.")
    assert (entry.action, entry.target_label, entry.extra) == (
        "broadcast.created",
        "Black Friday",
        {"name": "Black Friday"},
    )


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": "  "}, "name", "A name of 1 to 120 characters."),
        ({"template_name": "nope"}, "template", "The inbox has no approved template “nope” in pt_BR."),
        ({"template_language": "en_US"}, "template", "The inbox has no approved template “promo” in en_US."),
        ({"variables": {**PROMO_VARIABLES, "body.3": {"value": "x"}}}, "variables",
         "The template has no parameter “body.3”."),
        ({"variables": {k: v for k, v in PROMO_VARIABLES.items() if k != "body.2"}}, "variables.body.2",
         "Choose what fills “Value 2”."),
        ({"variables": {**PROMO_VARIABLES, "button.0": {"value": "  "}}}, "variables.button.0",
         "“Button 1 (Ver oferta)”: write the fixed text."),
        ({"variables": {**PROMO_VARIABLES, "body.1": {"attribute": "email"}}}, "variables.body.1",
         "“Value 1”: choose the contact's name, phone number, an attribute, a column or a fixed text."),
        ({"variables": {**PROMO_VARIABLES, "body.1": {"attribute": "attr:"}}}, "variables.body.1",
         "“Value 1”: name the attribute."),
        ({"variables": {**PROMO_VARIABLES, "body.1": {"attribute": "column:coupon"}}}, "variables.body.1",
         "“Value 1”: only a CSV audience has columns."),
        ({"variables": {**PROMO_VARIABLES, "body.1": {"value": "x", "fallback": "y"}}}, "variables.body.1",
         "“Value 1”: a fixed text has no fallback."),
        ({"segment_id": None}, "audience", "Choose a segment or upload a CSV file of recipients."),
        ({"scheduled_at": NOW - timedelta(minutes=1)}, "scheduled_at", "Choose a time in the future."),
        ({"quiet_start": time(21, 0)}, "quiet_hours", "Give both ends of the quiet hours, or neither."),
        ({"quiet_start": time(21, 0), "quiet_end": time(21, 0)}, "quiet_hours",
         "Quiet hours start and end at different times."),
    ],
)  # fmt: skip
def test_a_draft_that_does_not_hold_is_refused_with_what_is_wrong(owner, inbox, segment, changes, field, message):
    assert refused(owner, promo_spec(inbox, segment, **changes), field=field) == message


def test_another_workspaces_inbox_segment_or_purpose_is_refused_as_missing(owner, inbox, segment, other_tenant):
    foreign_inbox = make_inbox(other_tenant)
    foreign_segment = make_segment(other_tenant)
    foreign_purpose = ConsentPurpose.objects.create(tenant=other_tenant, key="news", name="News")

    assert refused(owner, promo_spec(foreign_inbox, segment), field="inbox_id") == "No such inbox."
    assert refused(owner, promo_spec(inbox, foreign_segment), field="segment_id") == "No such segment."
    spec = promo_spec(inbox, segment, consent_purpose_id=foreign_purpose.pk)
    assert refused(owner, spec, field="consent_purpose_id") == "No such consent purpose."


def test_a_marketing_template_needs_marketing_consent_others_any_purpose_or_none(owner, inbox, segment):
    news = ConsentPurpose.objects.create(tenant=owner.tenant, key="news", name="News")
    message = refused(owner, promo_spec(inbox, segment, consent_purpose_id=news.pk), field="consent_purpose_id")
    assert message == "A marketing template goes only to contacts who agreed to marketing."

    utility = promo_spec(
        inbox, segment, template_name="order_shipped", template_language="en_US",
        variables={"body.order": {"attribute": "attr:order", "fallback": "-"}},
    )  # fmt: skip
    plain = broadcast_create(actor=owner, tenant=owner.tenant, spec=utility, now=NOW)
    assert (plain.template_category, plain.consent_purpose_id) == ("UTILITY", None)
    utility.consent_purpose_id = news.pk
    with_news = broadcast_create(actor=owner, tenant=owner.tenant, spec=utility, now=NOW)
    assert with_news.consent_purpose_id == news.pk


def test_an_agent_may_not_create_a_draft(agent, inbox, segment):
    with pytest.raises(PermissionDenied):
        broadcast_create(actor=agent, tenant=agent.tenant, spec=promo_spec(inbox, segment), now=NOW)
    assert not Broadcast.objects.exists()
    assert not AuditLogEntry.objects.filter(action__startswith="broadcast.").exists()


# --- the CSV audience ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty: its first line names the columns."),
        (b"name,coupon\nAna,X\n", "The file has no “phone” column."),
        (b"phone,,coupon\n+5511,,X\n", "Column 2 has no name."),
        (b"phone,Coupon,coupon\n+5511,X,Y\n", "The column “coupon” appears twice."),
        (b"phone,coupon\n", "The file has no recipients."),
        ("phone;name\n+5511;Jos\xe9\n".encode("latin-1"), "The file is not a CSV file in UTF-8."),
        (b"phone\n" + b"+5511999990000\n" * 10, None),
    ],
)
def test_a_csv_audience_names_its_columns_and_has_a_phone_column(data, message):
    if message is None:
        assert audience_file_check(data).rows == 10
        return
    with pytest.raises(ValidationFailed) as caught:
        audience_file_check(data)
    assert (caught.value.message, caught.value.details) == (message, {"field": "audience_file"})


def test_a_csv_audience_is_capped_in_size(monkeypatch):
    monkeypatch.setattr("campaigns.broadcasts.AUDIENCE_MAX_BYTES", 100)
    with pytest.raises(ValidationFailed) as caught:
        audience_file_check(b"phone\n" + b"+5511999990000\n" * 10)
    assert caught.value.message == "The file is larger than 0 MB."


def test_a_csv_audience_fills_values_from_its_columns_and_counts_its_rows(owner, inbox):
    data = "\ufeffPhone;nome;cupom\n+55 11 99999-0001;Ana;A1\n5511999990002;Bruno;\n\n".encode()
    variables = {**PROMO_VARIABLES, "body.1": {"attribute": "column:nome"}, "body.2": {"attribute": "column:cupom",
                 "fallback": "BEMVINDO"}}  # fmt: skip
    spec = promo_spec(inbox, None, variables=variables)
    broadcast = broadcast_create(
        actor=owner,
        tenant=owner.tenant,
        spec=spec,
        audience_csv=data,
        audience_filename="../lista clientes.csv",
        now=NOW,
    )

    assert broadcast.audience_file.name.startswith(f"broadcasts/{owner.tenant_id}/lista-clientes")
    assert audience_count(broadcast) == 2
    preview = broadcast_preview(broadcast, PROMO)
    assert (preview.contact_label, preview.header, preview.body) == (
        "+55 11 99999-0001", "Oferta VIP", "Olá Ana, use o cupom A1!"
    )  # fmt: skip
    bad = {**variables, "body.1": {"attribute": "column:name"}}
    with pytest.raises(ValidationFailed) as caught:
        broadcast_update(actor=owner, broadcast=broadcast, spec=promo_spec(inbox, None, variables=bad), now=NOW)
    assert caught.value.message == "“Value 1”: the file has no column “name”."


def test_a_segment_and_a_file_together_are_refused(owner, inbox, segment):
    message = refused(owner, promo_spec(inbox, segment), csv=b"phone\n+5511999990000\n", field="audience")
    assert message == "Choose a segment or a CSV file of recipients, not both."


# --- values and the preview ---------------------------------------------------------------------------------------


def test_values_come_from_the_contact_with_fallbacks_and_take_the_channels_shape(tenant):
    ana = make_contact(tenant, "Ana", "+5511999990001", coupon="ANA10")
    nobody = make_contact(tenant, "", "+5511999990002")

    assert recipient_values(PROMO_VARIABLES, contact=ana) == {
        "header.1": "VIP", "body.1": "Ana", "body.2": "ANA10", "button.0": "promo-2026"
    }  # fmt: skip
    values = recipient_values(PROMO_VARIABLES, contact=nobody)
    assert values == {"header.1": "VIP", "body.1": "+5511999990002", "body.2": "BEMVINDO", "button.0": "promo-2026"}
    assert template_values(PROMO, values) == {
        "header": ["VIP"],
        "body": ["+5511999990002", "BEMVINDO"],
        "buttons": {0: "promo-2026"},
    }
    assert template_values(SHIPPED, {"body.order": "A-7"}) == {"body": {"order": "A-7"}}
    assert recipient_values({"body.1": {"attribute": "attr:city"}}, contact=ana) == {"body.1": ""}


def test_the_preview_is_the_first_contact_of_the_segment_with_their_values(owner, inbox, segment):
    make_contact(owner.tenant, "Ana", "+5511999990001", coupon="ANA10")
    make_contact(owner.tenant, "Bruno", "+5511999990002")
    broadcast = broadcast_create(actor=owner, tenant=owner.tenant, spec=promo_spec(inbox, segment), now=NOW)

    preview = broadcast_preview(broadcast, PROMO)
    assert (preview.contact_label, preview.header, preview.body, preview.footer, preview.buttons, preview.missing) == (
        "Ana", "Oferta VIP", "Olá Ana, use o cupom ANA10!", "Loja Aurora", ["Ver oferta", "Parar"], []
    )  # fmt: skip
    assert audience_count(broadcast) == 2


# --- only drafts change -------------------------------------------------------------------------------------------


def test_a_draft_changes_and_the_audit_says_what_changed(owner, inbox, segment):
    broadcast = broadcast_create(actor=owner, tenant=owner.tenant, spec=promo_spec(inbox, segment), now=NOW)
    later = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)

    broadcast_update(
        actor=owner, broadcast=broadcast, spec=promo_spec(inbox, segment, name="Natal", scheduled_at=later), now=NOW
    )

    broadcast.refresh_from_db()
    assert (broadcast.name, broadcast.scheduled_at) == ("Natal", later)
    entry = AuditLogEntry.objects.filter(action="broadcast.changed").get()
    assert entry.extra == {
        "changes": {"name": ["Black Friday", "Natal"], "scheduled_at": [None, "2026-12-08T12:00:00+00:00"]}
    }


@pytest.mark.parametrize("status", ["scheduled", "sending", "completed"])
def test_only_a_draft_changes_or_is_deleted(owner, inbox, segment, status):
    broadcast = broadcast_create(actor=owner, tenant=owner.tenant, spec=promo_spec(inbox, segment), now=NOW)
    Broadcast.objects.filter(pk=broadcast.pk).update(status=status)

    with pytest.raises(Conflict) as changed:
        broadcast_update(actor=owner, broadcast=broadcast, spec=promo_spec(inbox, segment, name="Natal"), now=NOW)
    with pytest.raises(Conflict) as deleted:
        broadcast_delete(actor=owner, broadcast=broadcast)

    assert (changed.value.message, deleted.value.message) == (
        "Only a draft can be changed.",
        "Only a draft can be deleted.",
    )
    broadcast.refresh_from_db()
    assert broadcast.name == "Black Friday"
    assert list(AuditLogEntry.objects.filter(action__startswith="broadcast.").values_list("action", flat=True)) == [
        "broadcast.created"
    ]


def test_deleting_a_draft_removes_it_and_is_audited(owner, inbox, segment):
    broadcast = broadcast_create(actor=owner, tenant=owner.tenant, spec=promo_spec(inbox, segment), now=NOW)
    broadcast_delete(actor=owner, broadcast=broadcast)
    assert not Broadcast.objects.exists()
    entry = AuditLogEntry.objects.get(action="broadcast.deleted")
    assert (entry.target_label, entry.extra) == ("Black Friday", {"name": "Black Friday"})
