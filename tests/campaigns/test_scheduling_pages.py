"""Scheduled messages in the inbox: the contact panel's section (times in the viewer's zone, who, Cancel) and the
page that schedules a template or a text for the conversation's customer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import ScheduledMessage
from campaigns.scheduling import TemplateSpec, message_schedule
from tests.campaigns.scheduling_setup import customer_wrote, make_template, make_whatsapp
from tests.factories import add_member, make_user, owner_of

pytestmark = pytest.mark.django_db

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


@pytest.fixture
def channel(tenant):
    return make_whatsapp(tenant)


@pytest.fixture
def conversation(channel):
    return customer_wrote(channel, minutes_ago=60)


def _client_in(tenant, zone: str, role: str = "supervisor"):
    member = add_member(tenant, role, user=make_user(name="Bia Souza", time_zone=zone))
    client = Client()
    client.force_login(member.user)
    return member, client


def _tomorrow_at(hour: int, zone: ZoneInfo) -> datetime:
    local = timezone.now().astimezone(zone) + timedelta(days=1)
    return local.replace(hour=hour, minute=0, second=0, microsecond=0)


def _schedule_template(client, conversation, template: str, **values: str):
    """Schedule ``template`` for tomorrow at 10:00 (São Paulo) with the values' fields as given."""
    return client.post(
        f"/t/acme/inbox/c/{conversation.display_id}/scheduled/new/",
        {
            "send_at": _tomorrow_at(10, SAO_PAULO).strftime("%Y-%m-%dT%H:%M"),
            "kind": "template",
            "template": template,
            **values,
        },
    )


def test_the_panel_lists_whats_scheduled_in_the_viewers_time_zone(tenant, conversation):
    member, client = _client_in(tenant, "America/Sao_Paulo")
    send_at = _tomorrow_at(10, SAO_PAULO)
    message_schedule(
        actor=member,
        contact=conversation.contact,
        inbox=conversation.inbox,
        send_at=send_at,
        template=TemplateSpec(name="appointment_reminder", language="pt_BR", params={"body": ["Ana", "10:00"]}),
    )
    _tokyo, tokyo_client = _client_in(tenant, "Asia/Tokyo")

    html = client.get(f"/t/acme/inbox/c/{conversation.display_id}/sidebar/").content.decode()
    tokyo = tokyo_client.get(f"/t/acme/inbox/c/{conversation.display_id}/sidebar/").content.decode()

    assert "data-scheduled-messages" in html
    assert "10:00" in html and "appointment_reminder (pt_BR): Ana, 10:00" in html
    assert "Scheduled by Bia Souza" in html
    assert f"/t/acme/scheduled-messages/{ScheduledMessage.objects.get().pk}/cancel/" in html
    # 10:00 in São Paulo (UTC-3) is 22:00 in Tokyo (UTC+9).
    assert "22:00" in tokyo and "10:00 " not in tokyo.split("data-scheduled-messages")[1].split("Scheduled by")[0]


def test_customer_text_in_the_panel_is_escaped(tenant, conversation):
    member, client = _client_in(tenant, "America/Sao_Paulo")
    message_schedule(
        actor=member,
        contact=conversation.contact,
        inbox=conversation.inbox,
        send_at=timezone.now() + timedelta(hours=2),
        text='<script>alert("x")</script>',
    )

    html = client.get(f"/t/acme/inbox/c/{conversation.display_id}/sidebar/").content.decode()

    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_an_agent_schedules_a_template_at_their_local_time(tenant, conversation):
    _member, client = _client_in(tenant, "America/Sao_Paulo")
    local = _tomorrow_at(10, SAO_PAULO)

    answer = client.post(
        f"/t/acme/inbox/c/{conversation.display_id}/scheduled/new/",
        {
            "send_at": local.strftime("%Y-%m-%dT%H:%M"),
            "kind": "template",
            "template": "appointment_reminder|pt_BR",
            "body.1": "Ana",
            "body.2": " 10:00 ",
        },
    )

    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/t/acme/inbox/c/{conversation.display_id}/"
    scheduled = ScheduledMessage.objects.get()
    assert scheduled.send_at == local.astimezone(UTC)
    assert (scheduled.kind, scheduled.template_name, scheduled.params) == (
        "template",
        "appointment_reminder",
        {"body": ["Ana", "10:00"]},
    )


def test_choosing_a_template_shows_a_field_for_each_of_its_values(tenant, conversation):
    _member, client = _client_in(tenant, "America/Sao_Paulo")
    url = f"/t/acme/inbox/c/{conversation.display_id}/scheduled/new/"

    first = client.get(url).content.decode()
    picked = client.post(url, {"kind": "template", "template": "appointment_reminder|pt_BR", "pick": "1"})
    linked = client.get(url, {"template": "appointment_reminder|pt_BR"}).content.decode()

    assert 'name="body.1"' not in first and 'data-submit-on-change="pick"' in first
    assert picked.status_code == 200
    html = picked.content.decode()
    assert 'name="body.1"' in html and 'name="body.2"' in html and "Value 2" in html
    assert "Olá {{1}}, sua consulta é amanhã às {{2}}." in html.split("data-template-values", 1)[1]
    assert 'name="body.1"' in linked
    assert ScheduledMessage.objects.count() == 0


def test_a_template_scheduled_without_its_values_is_shown_again_with_their_fields(tenant, conversation):
    _member, client = _client_in(tenant, "America/Sao_Paulo")

    answer = _schedule_template(client, conversation, "appointment_reminder|pt_BR")

    assert answer.status_code == 400
    assert set(answer.context["form"].errors) == {"body.1", "body.2"}
    assert ScheduledMessage.objects.count() == 0


def test_a_templates_header_and_button_values_are_scheduled_with_its_body(tenant, channel, conversation):
    template = make_template(
        channel,
        "order_shipped",
        category="UTILITY",
        body="Pedido {{1}} enviado.",
        buttons=[{"type": "URL", "text": "Rastrear", "url": "https://loja.example/r/{{1}}", "example": ["X1"]}],
    )
    template.components.insert(
        0, {"type": "HEADER", "format": "TEXT", "text": "Oi {{1}}", "example": {"header_text": ["Ana"]}}
    )
    template.save(update_fields=["components"])
    _member, client = _client_in(tenant, "America/Sao_Paulo")

    answer = _schedule_template(
        client, conversation, "order_shipped|pt_BR", **{"header.1": "Rita", "body.1": "4512", "button.0": "4512-BR"}
    )

    assert answer.status_code == 302
    assert ScheduledMessage.objects.get().params == {
        "header": ["Rita"],
        "body": ["4512"],
        "buttons": {"0": "4512-BR"},
    }


def test_a_value_for_a_template_not_chosen_is_not_scheduled(tenant, conversation):
    _member, client = _client_in(tenant, "America/Sao_Paulo")

    answer = _schedule_template(
        client,
        conversation,
        "spring_sale|pt_BR",
        **{"body.1": "Ana", "body.2": "intruso", "button.0": "https://evil.example/"},
    )

    assert answer.status_code == 302
    assert ScheduledMessage.objects.get().params == {"body": ["Ana"]}


def test_a_templates_header_file_is_given_as_a_link_and_a_link_that_is_none_is_refused(tenant, channel, conversation):
    template = make_template(channel, "catalogo", category="UTILITY", body="Nosso catálogo, {{1}}.")
    template.components.insert(0, {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1n"]}})
    template.save(update_fields=["components"])
    _member, client = _client_in(tenant, "America/Sao_Paulo")

    refused = _schedule_template(
        client, conversation, "catalogo|pt_BR", **{"header.link": "não é um link", "body.1": "Ana"}
    )
    answer = _schedule_template(
        client, conversation, "catalogo|pt_BR", **{"header.link": "https://loja.example/c.jpg", "body.1": "Ana"}
    )

    assert refused.status_code == 400
    assert set(refused.context["form"].errors) == {"header.link"}
    assert "Link to the header&#x27;s file (image)" in refused.content.decode()
    assert answer.status_code == 302
    assert ScheduledMessage.objects.get().params == {
        "header": [{"link": "https://loja.example/c.jpg"}],
        "body": ["Ana"],
    }


def test_a_text_past_the_window_is_refused_on_the_page(tenant, conversation):
    _member, client = _client_in(tenant, "America/Sao_Paulo")
    late = (timezone.now() + timedelta(hours=30)).astimezone(SAO_PAULO)

    answer = client.post(
        f"/t/acme/inbox/c/{conversation.display_id}/scheduled/new/",
        {"send_at": late.strftime("%Y-%m-%dT%H:%M"), "kind": "text", "text": "Oi"},
    )

    assert answer.status_code == 400
    assert "reply window will be closed" in answer.content.decode()
    assert ScheduledMessage.objects.count() == 0


def test_cancel_from_the_panel(tenant, conversation):
    member, client = _client_in(tenant, "America/Sao_Paulo")
    scheduled, _created = message_schedule(
        actor=member,
        contact=conversation.contact,
        inbox=conversation.inbox,
        send_at=timezone.now() + timedelta(hours=2),
        text="Até já",
    )

    answer = client.post(
        f"/t/acme/scheduled-messages/{scheduled.pk}/cancel/", {"conversation": str(conversation.display_id)}
    )

    assert (answer.status_code, answer.headers["Location"]) == (302, f"/t/acme/inbox/c/{conversation.display_id}/")
    scheduled.refresh_from_db()
    assert scheduled.status == "canceled"
    html = client.get(f"/t/acme/inbox/c/{conversation.display_id}/sidebar/").content.decode()
    assert "Até já" not in html


def test_another_workspaces_scheduled_message_cannot_be_canceled(tenant, other_tenant, conversation):
    scheduled, _created = message_schedule(
        actor=owner_of(tenant),
        contact=conversation.contact,
        inbox=conversation.inbox,
        send_at=timezone.now() + timedelta(hours=2),
        text="Até já",
    )
    stranger = Client()
    stranger.force_login(owner_of(other_tenant).user)

    answer = stranger.post(f"/t/globex/scheduled-messages/{scheduled.pk}/cancel/")

    assert answer.status_code == 404
    assert ScheduledMessage.objects.get().status == "scheduled"


def test_the_composer_offers_schedule_beside_send(tenant, conversation):
    _member, client = _client_in(tenant, "America/Sao_Paulo")

    pane = client.get(f"/t/acme/inbox/c/{conversation.display_id}/pane/")
    html = pane.json()["html"] if pane["Content-Type"].startswith("application/json") else pane.content.decode()

    composer = html.split("data-composer")[1].split("</form>")[0]
    assert f'href="/t/acme/inbox/c/{conversation.display_id}/scheduled/new/" data-schedule-action' in composer
    assert composer.index("data-schedule-action") < composer.index("data-send>")


def test_the_inbox_page_opened_on_a_conversation_offers_schedule_and_lists_whats_scheduled(tenant, conversation):
    member, client = _client_in(tenant, "America/Sao_Paulo")
    message_schedule(
        actor=member,
        contact=conversation.contact,
        inbox=conversation.inbox,
        send_at=timezone.now() + timedelta(hours=2),
        text="Até já",
    )

    html = client.get(f"/t/acme/inbox/c/{conversation.display_id}/").content.decode()

    assert "Até já" in html.split("data-scheduled-messages")[1].split("</section>")[0]

    composer = html.split("data-composer")[1].split("</form>")[0]
    assert f'href="/t/acme/inbox/c/{conversation.display_id}/scheduled/new/" data-schedule-action' in composer
