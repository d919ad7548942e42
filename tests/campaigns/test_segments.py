"""Segments select exactly the workspace's contacts their filters describe, in one statement."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import ConsentEvent, ConsentPurpose, ConsentState
from campaigns.segments import segment_contacts, segment_filters_clean
from conversations.models import Contact, ContactLabel, Conversation
from helpdesk.exceptions import ValidationFailed
from tests.conversations.factories import make_conversation, make_inbox, make_label

pytestmark = pytest.mark.django_db


def names(tenant, filters):
    return sorted(segment_contacts(tenant=tenant, filters=filters).values_list("name", flat=True))


@pytest.fixture
def world(tenant, other_tenant):
    """Five contacts of Acme (ana, bia, caio, duda, eli) and one of Globex (zed)."""
    now = timezone.now()
    inbox = make_inbox(tenant, name="Sales")
    support = make_inbox(tenant, name="Support")
    vip, lead, churned = (make_label(tenant, n) for n in ("vip", "lead", "churned"))
    ana = make_conversation(inbox, name="ana", last_inbound_at=now - timedelta(days=1)).contact
    bia = make_conversation(
        inbox, name="bia", status=Conversation.Status.RESOLVED, last_inbound_at=now - timedelta(days=40)
    ).contact
    caio = make_conversation(support, name="caio", status=Conversation.Status.PENDING).contact
    duda = make_conversation(
        support, name="duda", status=Conversation.Status.RESOLVED, last_inbound_at=now - timedelta(days=10)
    ).contact
    # duda wrote again later, in a second conversation (resolved as well)
    Conversation.objects.create(
        tenant=tenant,
        display_id=999,
        inbox=support,
        contact=duda,
        contact_inbox=duda.contact_inboxes.get(),
        status=Conversation.Status.RESOLVED,
        last_inbound_at=now - timedelta(days=2),
    )
    Contact.objects.create(tenant=tenant, name="eli", phone_e164="+5511900000999")
    other_inbox = make_inbox(other_tenant)
    zed = make_conversation(other_inbox, name="zed", last_inbound_at=now).contact
    other_label = make_label(other_tenant, "vip")
    for contact, labels in ((ana, [vip, lead]), (bia, [vip]), (caio, [lead]), (duda, [churned])):
        for label in labels:
            ContactLabel.objects.create(tenant=tenant, contact=contact, label=label)
    ContactLabel.objects.create(tenant=other_tenant, contact=zed, label=other_label)
    attrs = {"ana": {"plan": "gold", "city": "São Paulo"}, "bia": {"plan": "silver"}, "caio": {"plan": "Gold"}}
    for contact in (ana, bia, caio):
        contact.custom_attributes = attrs[contact.name]
        contact.save(update_fields=["custom_attributes"])
    Contact.objects.filter(pk__in=[ana.pk, caio.pk]).update(marketing_consent="opted_in")
    Contact.objects.filter(pk=bia.pk).update(marketing_consent="opted_out")
    Contact.objects.filter(pk=zed.pk).update(marketing_consent="opted_in")
    news = ConsentPurpose.objects.create(tenant=tenant, key="news", name="Newsletter")
    for contact, kind in ((ana, "opt_in"), (bia, "opt_out"), (caio, "resume")):
        event = ConsentEvent.objects.create(
            tenant=tenant, contact=contact, purpose=news, kind=kind, source="agent", occurred_at=now
        )
        ConsentState.objects.create(
            tenant=tenant, contact=contact, purpose=news, kind=kind, occurred_at=now, event=event
        )
    return {
        "inbox": inbox,
        "support": support,
        "other_inbox": other_inbox,
        "vip": vip,
        "lead": lead,
        "churned": churned,
        "other_label": other_label,
        "now": now,
    }


def test_no_filter_selects_every_contact_of_the_workspace_only(tenant, world):
    assert names(tenant, {}) == ["ana", "bia", "caio", "duda", "eli"]


def test_label_filters(tenant, world):
    vip, lead, churned = world["vip"].pk, world["lead"].pk, world["churned"].pk
    assert names(tenant, {"labels_any": [vip, churned]}) == ["ana", "bia", "duda"]
    assert names(tenant, {"labels_all": [vip, lead]}) == ["ana"]
    assert names(tenant, {"labels_none": [vip]}) == ["caio", "duda", "eli"]
    assert names(tenant, {"labels_any": [lead], "labels_none": [vip]}) == ["caio"]


def test_another_workspaces_label_selects_nobody_and_is_refused_when_cleaned(tenant, world):
    foreign = world["other_label"].pk
    assert names(tenant, {"labels_any": [foreign]}) == []
    assert names(tenant, {"labels_none": [foreign]}) == ["ana", "bia", "caio", "duda", "eli"]
    with pytest.raises(ValidationFailed) as error:
        segment_filters_clean({"labels_any": [world["vip"].pk, foreign]}, tenant=tenant)
    assert (error.value.message, error.value.details) == ("Unknown label.", {"field": "labels_any"})
    with pytest.raises(ValidationFailed, match=r"Unknown inbox\."):
        segment_filters_clean({"inbox": world["other_inbox"].pk}, tenant=tenant)


def test_attribute_filters(tenant, world):
    assert names(tenant, {"attributes": [{"key": "plan", "op": "eq", "value": "gold"}]}) == ["ana"]
    assert names(tenant, {"attributes": [{"key": "plan", "op": "neq", "value": "gold"}]}) == [
        "bia",
        "caio",
        "duda",
        "eli",
    ]
    assert names(tenant, {"attributes": [{"key": "plan", "op": "contains", "value": "GOL"}]}) == ["ana", "caio"]
    assert names(tenant, {"attributes": [{"key": "city", "op": "set"}]}) == ["ana"]
    assert names(tenant, {"attributes": [{"key": "plan", "op": "unset"}]}) == ["duda", "eli"]
    both = [{"key": "plan", "op": "contains", "value": "gold"}, {"key": "city", "op": "unset"}]
    assert names(tenant, {"attributes": both}) == ["caio"]


def test_consent_filters_for_marketing_and_other_purposes(tenant, world):
    assert names(tenant, {"consent": {"purpose": "marketing", "state": "opted_in"}}) == ["ana", "caio"]
    assert names(tenant, {"consent": {"purpose": "marketing", "state": "opted_out"}}) == ["bia"]
    assert names(tenant, {"consent": {"purpose": "marketing", "state": "unknown"}}) == ["duda", "eli"]
    assert names(tenant, {"consent": {"purpose": "news", "state": "opted_in"}}) == ["ana"]
    assert names(tenant, {"consent": {"purpose": "news", "state": "opted_out"}}) == ["bia"]
    # A lifted stop is no consent yet: unknown, like no answer at all.
    assert names(tenant, {"consent": {"purpose": "news", "state": "unknown"}}) == ["caio", "duda", "eli"]
    with pytest.raises(ValidationFailed, match=r"Unknown consent purpose\."):
        segment_filters_clean({"consent": {"purpose": "nope", "state": "opted_in"}}, tenant=tenant)


def test_inbox_and_conversation_filters(tenant, world):
    now = world["now"]
    assert names(tenant, {"inbox": world["support"].pk}) == ["caio", "duda"]
    assert names(tenant, {"inbox": world["other_inbox"].pk}) == []
    assert names(tenant, {"has_open_conversation": True}) == ["ana", "caio"]
    assert names(tenant, {"has_open_conversation": False}) == ["bia", "duda", "eli"]
    five_days_ago = (now - timedelta(days=5)).isoformat()
    # duda's latest inbound message (2 days ago) counts, not the older conversation's.
    assert names(tenant, {"last_inbound_after": five_days_ago}) == ["ana", "duda"]
    assert names(tenant, {"last_inbound_before": five_days_ago}) == ["bia"]
    window = {"last_inbound_after": (now - timedelta(days=50)).isoformat(), "last_inbound_before": five_days_ago}
    assert names(tenant, window) == ["bia"]


def test_combination_of_every_kind_of_filter(tenant, world):
    filters = {
        "labels_any": [world["vip"].pk, world["lead"].pk],
        "attributes": [{"key": "plan", "op": "set"}],
        "consent": {"purpose": "marketing", "state": "opted_in"},
        "inbox": world["inbox"].pk,
        "last_inbound_after": (world["now"] - timedelta(days=3)).isoformat(),
        "has_open_conversation": True,
    }
    assert names(tenant, filters) == ["ana"]
    assert segment_contacts(tenant=tenant, filters=filters).count() == 1


def test_every_filter_together_is_one_query(tenant, world, django_assert_max_num_queries):
    filters = {
        "labels_any": [world["vip"].pk],
        "labels_all": [world["vip"].pk, world["lead"].pk],
        "labels_none": [world["churned"].pk],
        "attributes": [{"key": "plan", "op": "eq", "value": "gold"}, {"key": "x", "op": "unset"}],
        "consent": {"purpose": "news", "state": "opted_in"},
        "inbox": world["inbox"].pk,
        "last_inbound_after": (world["now"] - timedelta(days=3)).isoformat(),
        "last_inbound_before": world["now"].isoformat(),
        "has_open_conversation": True,
    }
    with django_assert_max_num_queries(1):
        assert segment_contacts(tenant=tenant, filters=filters).count() == 1
    with django_assert_max_num_queries(3):
        assert segment_filters_clean(filters, tenant=tenant)["labels_all"] == sorted(
            [world["vip"].pk, world["lead"].pk]
        )


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ([], "The filters must be an object."),
        ({"colour": "red"}, "Unknown filter: colour."),
        ({"labels_any": "1"}, "labels_any must be a list of ids."),
        ({"labels_all": ["x"]}, "labels_all must be a list of ids."),
        ({"labels_none": [True]}, "labels_none must be a list of ids."),
        ({"attributes": [{"key": "plan", "op": "like", "value": "x"}]}, "An attribute condition is one of"),
        ({"attributes": [{"key": "", "op": "eq", "value": "x"}]}, "An attribute's name must be 1 to 50"),
        ({"attributes": [{"key": "plan", "op": "eq", "value": {"a": 1}}]}, "The value compared with plan"),
        ({"consent": {"purpose": "marketing", "state": "maybe"}}, "A consent state is one of"),
        ({"inbox": "abc"}, "inbox must be an inbox's id."),
        ({"last_inbound_after": "yesterday"}, "last_inbound_after must be a date and time"),
        ({"has_open_conversation": "yes"}, "has_open_conversation must be true or false."),
    ],
)
def test_malformed_filters_are_refused_with_a_clear_message(filters, message):
    with pytest.raises(ValidationFailed, match=re.escape(message)):
        segment_filters_clean(filters)


def test_clean_gives_a_canonical_json_safe_form(tenant):
    clean = segment_filters_clean(
        {
            "labels_any": ["3", 1, 3],
            "last_inbound_after": "2026-01-31",
            "consent": {"state": "opted_in"},
            "attributes": [{"key": " plan ", "op": "set", "value": "ignored"}],
        }
    )
    assert clean["labels_any"] == [1, 3]
    assert clean["consent"] == {"purpose": "marketing", "state": "opted_in"}
    assert clean["attributes"] == [{"key": "plan", "op": "set", "value": ""}]
    assert clean["last_inbound_after"].startswith("2026-01-31T00:00:00")
