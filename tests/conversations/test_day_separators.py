"""Day separators in a conversation's history: in the viewer's time zone, right across pages."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone, translation

from conversations.models import Message
from conversations.selectors import MESSAGE_PAGE
from conversations.services.inbound import InboundSpec, message_receive
from tenants.templatetags.dates import local_date
from tests.factories import add_member
from tests.whatsapp.conftest import make_channel

pytestmark = pytest.mark.django_db

SEPARATOR = re.compile(r'<p class="msg-day" data-day="([\d-]+)"><time datetime="\1">([^<]*)</time></p>')


@pytest.fixture
def channel(tenant):
    return make_channel(tenant)


@pytest.fixture
def client(tenant, channel):
    member = add_member(tenant, "agent")
    channel.inbox.members.add(member.user)
    c = Client()
    c.force_login(member.user)
    return c


def sao_paulo_noon(days_ago: int) -> datetime:
    with timezone.override("America/Sao_Paulo"):
        today = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def receive(channel, text: str, when: datetime) -> Message:
    message, _ = message_receive(
        inbox=channel.inbox,
        spec=InboundSpec(
            source_id="5511912345678",
            external_id=f"wamid.{Message.objects.count()}",
            occurred_at=when,
            type="text",
            text=text,
            profile_name="Maria",
        ),
    )
    Message.objects.filter(pk=message.pk).update(created_at=when)
    return message


def separators(html: str) -> list[str]:
    return [label for _day, label in SEPARATOR.findall(html)]


def fragment(client: Client, message: Message, **params) -> str:
    url = f"/t/acme/inbox/c/{message.conversation.display_id}/messages/"
    response = client.get(url, params)
    assert response.status_code == 200
    return response.json()["html"]


def test_the_history_has_one_separator_per_day_in_order(client, channel):
    older = sao_paulo_noon(3)
    first = receive(channel, "three days ago", older)
    receive(channel, "three days ago, later", older + timedelta(hours=1))
    receive(channel, "yesterday", sao_paulo_noon(1))
    receive(channel, "today", sao_paulo_noon(0))
    receive(channel, "today, later", sao_paulo_noon(0) + timedelta(minutes=5))
    with translation.override("en"), timezone.override("America/Sao_Paulo"):
        date_label = local_date(older)
    html = fragment(client, first)
    assert separators(html) == [date_label, "Yesterday", "Today"]
    # Each separator stands right before the first message of its day.
    assert len(re.findall(r'</time></p>\n<article class="msg msg-in" id="m-\d+"', html)) == 3
    assert html.index(">yesterday<") > html.index(">Yesterday<") > html.index(">three days ago, later<")


def test_the_day_follows_the_viewers_time_zone(client, channel, tenant):
    # 23:30 yesterday in São Paulo is already the next day in UTC.
    late = sao_paulo_noon(1) + timedelta(hours=11, minutes=30)
    sao_paulo_day = timezone.localtime(late, timezone=ZoneInfo("America/Sao_Paulo")).date()
    message = receive(channel, "late evening", late)
    html = fragment(client, message)
    assert SEPARATOR.findall(html) == [(sao_paulo_day.isoformat(), "Yesterday")]
    tenant.timezone = "UTC"
    tenant.save(update_fields=["timezone"])
    [(utc_day, _label)] = SEPARATOR.findall(fragment(client, message))
    assert utc_day == (sao_paulo_day + timedelta(days=1)).isoformat()


def test_a_bubble_carries_its_full_date_and_time_in_the_tooltip(client, channel):
    moment = sao_paulo_noon(1) + timedelta(minutes=7)
    message = receive(channel, "hello", moment)
    html = fragment(client, message)
    with translation.override("en"), timezone.override("America/Sao_Paulo"):
        local = timezone.localtime(moment)
        full = f"{local_date(moment)}, 12:07"
    assert f'<time datetime="{local.isoformat()}" title="{full}">12:07</time>' in html
    assert f'data-day="{local.date().isoformat()}" data-day-label="Yesterday"' in html


def test_a_page_continuing_a_day_starts_without_a_separator(client, channel):
    today = sao_paulo_noon(0)
    first = receive(channel, "older", today - timedelta(hours=2))
    for i in range(MESSAGE_PAGE):
        receive(channel, f"newer {i}", today + timedelta(seconds=i))
    pane = client.get(f"/t/acme/inbox/c/{first.conversation.display_id}/pane/")
    newest_page = pane.json()["html"]
    # The page of the newest 50 is all today, and so is the message before it: no separator at all.
    assert separators(newest_page) == []
    # Scrolling back loads that older message with the day's separator above it.
    older_page = fragment(client, first, before=first.pk + 1)
    assert separators(older_page) == ["Today"]


def test_a_page_starting_a_new_day_starts_with_its_separator(client, channel):
    first = receive(channel, "yesterday", sao_paulo_noon(1))
    for i in range(MESSAGE_PAGE):
        receive(channel, f"today {i}", sao_paulo_noon(0) + timedelta(seconds=i))
    pane = client.get(f"/t/acme/inbox/c/{first.conversation.display_id}/pane/")
    assert separators(pane.json()["html"]) == ["Today"]
    assert separators(fragment(client, first, before=first.pk + 1)) == ["Yesterday"]


def test_catching_up_separates_only_a_new_day(client, channel):
    yesterday = receive(channel, "yesterday", sao_paulo_noon(1))
    today = receive(channel, "today", sao_paulo_noon(0))
    later = receive(channel, "later today", sao_paulo_noon(0) + timedelta(minutes=1))
    assert separators(fragment(client, yesterday, after=yesterday.pk)) == ["Today"]
    assert separators(fragment(client, today, after=today.pk)) == []
    assert f'id="m-{later.pk}"' in fragment(client, today, after=today.pk)
