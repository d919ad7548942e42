"""The Sources report: for the conversations started in a range of days, how many each link and each ad started,
the bot flows completed in them (a link's: those it started) and what their orders paid, exactly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation, Message
from flows.links import SourceRow, conversation_sources_record, entry_link_archive, sources_report
from flows.models import EntryLink, Flow, FlowSession, FlowVersion
from payments.models import Order
from payments.orders import move_order, order_create, order_mark_paid, order_status_set
from payments.selectors import workspace_zone
from tests.factories import owner_of
from tests.flows.test_links import link_on, receive, whatsapp_inbox

pytestmark = pytest.mark.django_db

AD = {"source_id": "120000000000001", "source_type": "ad", "headline": "Bônus de recarga"}
OTHER_AD = {"source_id": "120000000000002", "source_type": "ad", "headline": "Cartão novo"}
_numbers = iter(range(1, 1000))


def _started(inbox, text: str = "Oi", **kwargs) -> Conversation:
    """A customer starts a conversation with ``text``; it is attributed as the flows' subscriber does."""
    message = receive(inbox, text, wa_id=f"55119800{next(_numbers):05d}", **kwargs)
    conversation_sources_record([message])
    return message.conversation


def _flow_run(conversation: Conversation, flow: Flow, *, status: str, source: EntryLink | None) -> FlowSession:
    version = flow.versions.get()
    now = timezone.now()
    return FlowSession.objects.create(
        tenant_id=conversation.tenant_id,
        flow=flow,
        version=version,
        conversation=conversation,
        contact=conversation.contact,
        status=status,
        trigger=FlowSession.Trigger.LINK if source else FlowSession.Trigger.KEYWORD,
        source=source,
        started_at=now,
        last_activity_at=now,
    )


def _paid(conversation: Conversation, amount: int, *, then: str = "") -> None:
    owner = owner_of(conversation.tenant)
    order = order_mark_paid(
        actor=owner, order=order_create(actor=owner, conversation=conversation, amount=amount, description="Recarga")
    )
    if then:
        order_status_set(actor=owner, order=order, status=then)


def _flow(tenant, name: str) -> Flow:
    flow = Flow.objects.create(tenant=tenant, name=name, enabled=True)
    FlowVersion.objects.create(tenant=tenant, flow=flow, number=1, status=FlowVersion.Status.PUBLISHED)
    return flow


def test_each_source_counts_its_conversations_completed_flows_and_paid_revenue(
    tenant, other_tenant, django_assert_num_queries
):
    inbox = whatsapp_inbox(tenant)
    recharge = _flow(tenant, "Recarga")
    survey = _flow(tenant, "Pesquisa")
    vitrine = link_on(inbox, ref="vitrine01", name="Vitrine", flow=recharge)
    flyer = link_on(inbox, ref="flyer2026", name="Flyer")
    old = link_on(inbox, ref="antigo001", name="Zona norte (antigo)")
    link_on(inbox, ref="semuso001", name="Sem uso (arquivado)")
    entry_link_archive(actor=owner_of(tenant), link=EntryLink.objects.get(ref="semuso001"))

    by_vitrine = [_started(inbox, "Oi [#vitrine01]") for _n in range(3)]
    by_flyer = _started(inbox, "[#flyer2026] quero recarregar")
    by_old = _started(inbox, "Oi [#antigo001]")
    entry_link_archive(actor=owner_of(tenant), link=old)  # archived after it brought a conversation
    by_ad = [_started(inbox, "Oi", referral=AD) for _n in range(2)]
    by_other_ad = _started(inbox, "Oi", referral=OTHER_AD)
    unknown = [_started(inbox, "Bom dia") for _n in range(2)]
    before = _started(inbox, "Oi [#vitrine01]")
    Conversation.objects.filter(pk=before.pk).update(created_at=timezone.now() - timedelta(days=40))
    foreign_inbox = whatsapp_inbox(other_tenant, phone_number_id="2002", number="+55 21 3000-0002")
    foreign = link_on(foreign_inbox, ref="vitrine01")
    _started(foreign_inbox, "Oi [#vitrine01]")

    # Flows: two runs the link started completed, one still running, one completed that a keyword started.
    _flow_run(by_vitrine[0], recharge, status="completed", source=vitrine)
    _flow_run(by_vitrine[1], recharge, status="completed", source=vitrine)
    _flow_run(by_vitrine[2], recharge, status="active", source=vitrine)
    _flow_run(by_vitrine[2], survey, status="completed", source=None)
    _flow_run(by_ad[0], survey, status="completed", source=None)
    _flow_run(by_ad[1], survey, status="abandoned", source=None)
    _flow_run(unknown[0], survey, status="completed", source=None)
    _flow_run(before, recharge, status="completed", source=vitrine)  # started before the range

    # Orders: paid (and moved on), pending, canceled, refunded; of conversations of the range only.
    _paid(by_vitrine[0], 2500)
    _paid(by_vitrine[1], 7290, then="processing")
    order_create(actor=owner_of(tenant), conversation=by_vitrine[2], amount=9900, description="Recarga")  # not paid
    order_status_set(
        actor=owner_of(tenant),
        order=order_create(actor=owner_of(tenant), conversation=by_vitrine[2], amount=1000, description="Recarga"),
        status="canceled",
    )
    refunded = order_mark_paid(
        actor=owner_of(tenant),
        order=order_create(actor=owner_of(tenant), conversation=by_vitrine[0], amount=3000, description="Recarga"),
    )
    move_order(owner_of(tenant), refunded, Order.Status.REFUNDED, None)
    _paid(by_ad[1], 4500, then="shipped")
    _paid(unknown[1], 300)
    _paid(before, 100000)
    foreign_owner = owner_of(other_tenant)
    order_mark_paid(
        actor=foreign_owner,
        order=order_create(
            actor=foreign_owner, conversation=Conversation.objects.get(tenant=other_tenant), amount=1, description="x"
        ),
    )

    today = timezone.localtime(timezone.now(), workspace_zone(tenant)).date()
    with django_assert_num_queries(5):
        rows = sources_report(tenant=tenant, since=today - timedelta(days=6), until=today)

    assert rows == [
        SourceRow(kind="link", link=flyer, conversations=1, flows_completed=0, revenue={}),
        SourceRow(kind="link", link=vitrine, conversations=3, flows_completed=2, revenue={"BRL": 9790}),
        SourceRow(kind="link", link=old, conversations=1, flows_completed=0, revenue={}),
        SourceRow(kind="ad", ad_id="120000000000001", ad_headline="Bônus de recarga", conversations=2,
                  flows_completed=1, revenue={"BRL": 4500}),
        SourceRow(kind="ad", ad_id="120000000000002", ad_headline="Cartão novo", conversations=1),
        SourceRow(kind="none", conversations=2, flows_completed=1, revenue={"BRL": 300}),
    ]  # fmt: skip
    assert foreign.tenant_id == other_tenant.pk
    assert by_flyer.pk and by_old.pk and by_other_ad.pk


def test_the_range_is_in_days_of_the_workspace_and_open_ends_count_everything(tenant):
    tenant.timezone = "America/Sao_Paulo"
    tenant.save(update_fields=["timezone"])
    inbox = whatsapp_inbox(tenant)
    vitrine = link_on(inbox, ref="vitrine01")
    late_night = _started(inbox, "[#vitrine01]")
    # 23:30 in São Paulo on 1 March is 02:30 UTC on 2 March.
    Conversation.objects.filter(pk=late_night.pk).update(created_at=datetime(2026, 3, 2, 2, 30, tzinfo=UTC))
    _started(inbox, "[#vitrine01]")
    march_first = date(2026, 3, 1)

    def vitrine_conversations(since, until) -> int:
        rows = sources_report(tenant=tenant, since=since, until=until)
        return next(row.conversations for row in rows if row.link == vitrine)

    assert vitrine_conversations(march_first, march_first) == 1
    assert vitrine_conversations(march_first + timedelta(days=1), march_first + timedelta(days=1)) == 0
    assert vitrine_conversations(None, None) == 2
    assert vitrine_conversations(None, march_first) == 1


def test_a_workspace_without_conversations_lists_its_links_with_nothing(tenant):
    link = link_on(whatsapp_inbox(tenant), ref="vitrine01")

    assert sources_report(tenant=tenant, since=None, until=None) == [
        SourceRow(kind="link", link=link),
        SourceRow(kind="none"),
    ]
    assert Message.objects.count() == 0
