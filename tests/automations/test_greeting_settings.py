"""An inbox's greeting and away settings, as admins change them on the settings page and through the API,
with the abuse cases (another workspace's inbox, no permission, bad input) changing nothing."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest

from automations.greeting_services import GreetingSpec, greeting_settings_update, greeting_spec
from automations.models import GreetingSettings
from conversations.models import CustomerText, CustomerTextVariant
from helpdesk.exceptions import ValidationFailed
from tenants.models import AuditLogEntry
from tenants.permissions import Perm
from tests.automations.conftest import AWAY, GREETING
from tests.automations.factories import signed_in, token_client
from tests.factories import add_member, owner_of
from tests.whatsapp.conftest import make_channel

pytestmark = pytest.mark.django_db


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page))).strip()


def _api(inbox) -> str:
    return f"/api/v1/t/acme/greeting-away/{inbox.pk}/"


def _page(inbox) -> str:
    return f"/t/acme/settings/greeting-away/{inbox.pk}/"


def _rows() -> tuple:
    """Everything greeting and away settings write: settings, texts, their audit entries."""
    return (
        list(GreetingSettings.objects.values_list("inbox_id", "greeting_enabled", "away_enabled")),
        list(CustomerTextVariant.objects.order_by("id").values_list("text__key", "language", "body")),
        AuditLogEntry.objects.filter(action__startswith="greeting_settings.").count(),
        AuditLogEntry.objects.filter(action__startswith="customer_text.").count(),
    )


# --- the service --------------------------------------------------------------------------------------


def test_saving_stores_the_settings_and_the_wording_per_language_and_audits_once(tenant, admin, channel):
    inbox = channel.inbox
    greeting_settings_update(
        actor=admin,
        inbox=inbox,
        spec=GreetingSpec(
            greeting_enabled=True,
            greeting_when="after_days",
            greeting_after_days=10,
            greeting_texts={"pt_BR": "  Olá {{contact.first_name}}!  ", "en": "Hi {{ contact.first_name }}!"},
            away_texts={"en": "", "pt-br": ""},
        ),
    )

    assert greeting_spec(inbox=inbox) == GreetingSpec(
        greeting_enabled=True,
        greeting_when="after_days",
        greeting_after_days=10,
        greeting_texts={"en": "Hi {{ contact.first_name }}!", "pt-br": "Olá {{contact.first_name}}!"},
    )
    assert list(CustomerText.objects.values_list("key", flat=True)) == [f"greeting-inbox-{inbox.pk}"]
    entry = AuditLogEntry.objects.get(action="greeting_settings.changed")
    assert (entry.actor_id, entry.target_label, entry.extra) == (
        admin.user_id,
        inbox.name,
        {
            "inbox_id": inbox.pk,
            "changes": {
                "greeting": ["off", "on"],
                "greeting_when": ["first_ever", "after_days"],
                "greeting_after_days": [30, 10],
                "greeting_languages": [[], ["en", "pt-br"]],
            },
            "greeting_wording": ["en", "pt-br"],
        },
    )
    assert AuditLogEntry.objects.filter(action="customer_text.created").count() == 1

    # Saving the same again changes and records nothing.
    greeting_settings_update(actor=admin, inbox=inbox, spec=greeting_spec(inbox=inbox))
    assert AuditLogEntry.objects.filter(action__in=["greeting_settings.changed", "customer_text.changed"]).count() == 1


def test_blank_wording_in_every_language_removes_the_text(tenant, admin, channel):
    inbox = channel.inbox
    greeting_settings_update(actor=admin, inbox=inbox, spec=GreetingSpec(greeting_texts=GREETING))
    greeting_settings_update(actor=admin, inbox=inbox, spec=GreetingSpec(greeting_texts={"en": " ", "pt-br": ""}))

    assert not CustomerText.objects.exists()
    entry = AuditLogEntry.objects.filter(action="greeting_settings.changed").latest("id")
    assert entry.extra["changes"] == {"greeting_languages": [["en", "pt-br"], []]}
    assert AuditLogEntry.objects.filter(action="customer_text.deleted").count() == 1


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (
            GreetingSpec(greeting_texts={"en": "Hi {{contact.nickname}}, we open {{next_open}}"}),
            "greeting_texts",
            "The greeting in en uses the unknown variable {{contact.nickname}}. The variables are: "
            "{{contact.first_name}}, {{contact.name}}, {{inbox.name}}, {{next_open}}.",
        ),
        (
            GreetingSpec(away_texts={"es": "Hola"}),
            "away_texts",
            "The away message can be written in en, pt-br; “es” is not one of them.",
        ),
        (
            GreetingSpec(greeting_enabled=True),
            "greeting_texts",
            "Write the greeting in at least one language to turn it on.",
        ),
        (
            GreetingSpec(away_enabled=True, away_texts=AWAY),
            "away_enabled",
            "The away message needs business hours: choose this inbox in a business hours calendar first.",
        ),
        (
            GreetingSpec(greeting_after_days=0),
            "greeting_after_days",
            "The days without contact are a whole number from 1 to 365.",
        ),
        (
            GreetingSpec(away_every_hours=169),
            "away_every_hours",
            "The hours between two away messages are a whole number from 1 to 168.",
        ),
        (
            GreetingSpec(away_agent_quiet_minutes=-1),
            "away_agent_quiet_minutes",
            "The minutes after an agent's reply are a whole number from 0 to 1440.",
        ),
        (GreetingSpec(greeting_when="sometimes"), "greeting_when", "Unknown choice “sometimes”."),
        (
            GreetingSpec(greeting_texts={"en": "x" * 4097}),
            "greeting_texts",
            "The greeting in en has more than 4096 characters.",
        ),
    ],
)
def test_invalid_settings_are_refused_with_the_field_and_nothing_is_saved(tenant, admin, channel, spec, field, message):
    greeting_settings_update(actor=admin, inbox=channel.inbox, spec=GreetingSpec(greeting_texts=GREETING))
    before = _rows()

    with pytest.raises(ValidationFailed) as refused:
        greeting_settings_update(actor=admin, inbox=channel.inbox, spec=spec)

    assert (refused.value.details["field"], refused.value.message) == (field, message)
    assert _rows() == before


def test_an_agent_or_another_workspace_cannot_change_them(tenant, agent, other_tenant, channel):
    from helpdesk.exceptions import NotFound, PermissionDenied

    with pytest.raises(PermissionDenied):
        greeting_settings_update(actor=agent, inbox=channel.inbox, spec=GreetingSpec(greeting_texts=GREETING))
    with pytest.raises(NotFound):
        greeting_settings_update(
            actor=owner_of(other_tenant), inbox=channel.inbox, spec=GreetingSpec(greeting_texts=GREETING)
        )
    assert _rows() == ([], [], 0, 0)


# --- the API ------------------------------------------------------------------------------------------


def test_the_api_reads_an_inbox_never_saved_with_the_defaults(tenant, admin, channel):
    body = signed_in(admin).get(_api(channel.inbox)).json()

    assert body == {
        "inbox_id": channel.inbox_id,
        "inbox_name": "Support",
        "calendar_id": None,
        "greeting": {"enabled": False, "when": "first_ever", "after_days": 30, "texts": {}, "file": None},
        "away": {"enabled": False, "every_hours": 4, "agent_quiet_minutes": 15, "texts": {}, "file": None},
    }


def test_the_api_changes_only_what_is_sent(tenant, admin, channel, office_hours):
    client = signed_in(admin)
    greeting = {"greeting": {"enabled": True, "texts": GREETING}}
    client.patch(_api(channel.inbox), greeting, content_type="application/json")

    response = client.patch(
        _api(channel.inbox),
        {"away": {"enabled": True, "every_hours": 2, "texts": {"pt-br": "Fechados. Abrimos {{next_open}}."}}},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    assert response.json() == {
        "inbox_id": channel.inbox_id,
        "inbox_name": "Support",
        "calendar_id": office_hours.pk,
        "greeting": {"enabled": True, "when": "first_ever", "after_days": 30, "texts": GREETING, "file": None},
        "away": {
            "enabled": True,
            "every_hours": 2,
            "agent_quiet_minutes": 15,
            "texts": {"pt-br": "Fechados. Abrimos {{next_open}}."},
            "file": None,
        },
    }
    assert AuditLogEntry.objects.filter(action="greeting_settings.changed").count() == 2


def test_the_api_refuses_invalid_settings_with_a_message_and_saves_nothing(tenant, admin, channel):
    client = signed_in(admin)
    client.patch(_api(channel.inbox), {"greeting": {"texts": GREETING}}, content_type="application/json")
    before = _rows()

    response = client.patch(
        _api(channel.inbox),
        {"greeting": {"enabled": True, "texts": {"en": "Hi {{customer.name}}"}}, "away": {"every_hours": 5}},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "validation_failed",
        "message": "The greeting in en uses the unknown variable {{customer.name}}. The variables are: "
        "{{contact.first_name}}, {{contact.name}}, {{inbox.name}}, {{next_open}}.",
        "details": {
            "field": "greeting_texts",
            "language": "en",
            "variable": "customer.name",
            "variables": ["contact.first_name", "contact.name", "inbox.name", "next_open"],
        },
    }
    assert _rows() == before


@pytest.mark.parametrize(
    "body",
    [
        {"greeting": {"after_days": 0}},
        {"away": {"every_hours": "many"}},
        {"greeting": {"texts": ["Olá"]}},
        {"greeting": {"when": "always"}},
        {"away": {"texts": {"en": ["Olá"]}}},
    ],
)
def test_the_api_refuses_malformed_input_with_400(tenant, admin, channel, body):
    response = signed_in(admin).patch(_api(channel.inbox), body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"
    assert _rows() == ([], [], 0, 0)


def test_another_workspaces_inbox_is_404_in_the_api_and_on_the_page(tenant, other_tenant, channel):
    theirs = make_channel(other_tenant, phone_number_id="999000111", waba_id="999000112").inbox
    admin = add_member(tenant, "admin")
    client = signed_in(admin)

    assert client.get(_api(theirs)).status_code == 404
    assert (
        client.patch(_api(theirs), {"greeting": {"texts": GREETING}}, content_type="application/json").status_code
        == 404
    )
    assert client.get(_page(theirs)).status_code == 404
    assert client.post(_page(theirs), {"greeting_text_en": "Hi"}).status_code == 404
    assert _rows() == ([], [], 0, 0)


def test_an_agent_or_a_token_without_manage_automations_gets_403(tenant, agent, channel):
    patch = {"greeting": {"enabled": True, "texts": GREETING}}

    assert signed_in(agent).get(_api(channel.inbox)).status_code == 403
    assert signed_in(agent).patch(_api(channel.inbox), patch, content_type="application/json").status_code == 403
    assert signed_in(agent).get(_page(channel.inbox)).status_code == 403
    assert signed_in(agent).post(_page(channel.inbox), {"greeting_enabled": "on"}).status_code == 403
    token = token_client(tenant, [Perm.REPLY])
    assert token.patch(_api(channel.inbox), patch, content_type="application/json").status_code == 403
    allowed = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])
    assert allowed.patch(_api(channel.inbox), patch, content_type="application/json").status_code == 200
    entry = AuditLogEntry.objects.get(action="greeting_settings.changed")
    assert (entry.actor_id, entry.actor_label) == (None, "API token Robot")


# --- the pages ----------------------------------------------------------------------------------------


def _form(**fields) -> dict[str, str]:
    data = {
        "greeting_when": "first_ever",
        "greeting_after_days": "30",
        "away_every_hours": "4",
        "away_agent_quiet_minutes": "15",
        "greeting_text_en": "",
        "greeting_text_pt-br": "",
        "away_text_en": "",
        "away_text_pt-br": "",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def test_the_list_shows_each_inbox_with_its_messages_and_business_hours(tenant, admin, channel, office_hours):
    greeting_settings_update(
        actor=admin, inbox=channel.inbox, spec=GreetingSpec(greeting_enabled=True, greeting_texts=GREETING)
    )

    page = signed_in(admin).get("/t/acme/settings/greeting-away/")

    assert page.status_code == 200
    assert "Support On Off Office hours Edit Support" in _text(page.content.decode())


def test_an_admin_saves_the_page_and_sees_a_preview_in_both_languages(
    tenant, admin, channel, office_hours, monkeypatch
):
    monkeypatch.setattr("django.utils.timezone.now", lambda: datetime(2026, 9, 4, 23, 0, tzinfo=UTC))
    client = signed_in(admin)
    form = _form(
        greeting_enabled="on",
        away_enabled="on",
        **{f"greeting_text_{k}": v for k, v in GREETING.items()},
        **{f"away_text_{k}": v for k, v in AWAY.items()},
    )

    response = client.post(_page(channel.inbox), form)

    assert response.status_code == 302
    assert greeting_spec(inbox=channel.inbox) == GreetingSpec(
        greeting_enabled=True, greeting_texts=GREETING, away_enabled=True, away_texts=AWAY
    )
    page = client.get(_page(channel.inbox)).content.decode()
    previews = dict(re.findall(r'data-preview="([^"]+)">([^<]*)</dd>', page))
    assert previews == {
        "greeting-en": "Hi Maria, welcome to Support!",
        "greeting-pt-br": "Olá Maria, boas-vindas ao Support!",
        "away-en": "We are closed. We open Tuesday at 09:00.",
        "away-pt-br": "Estamos fechados. Abrimos terça-feira às 09:00.",
    }
    assert "Greeting and away messages of Support saved." in _text(page)


def test_preview_shows_unsaved_wording_and_saves_nothing(tenant, admin, channel):
    response = signed_in(admin).post(
        _page(channel.inbox), _form(preview="1", **{"greeting_text_pt-br": "Oi {{contact.name}} do {{inbox.name}}"})
    )

    assert response.status_code == 200
    assert re.findall(r'data-preview="([^"]+)">([^<]*)</dd>', response.content.decode()) == [
        ("greeting-pt-br", "Oi Maria Silva do Support")
    ]
    assert _rows() == ([], [], 0, 0)


def test_the_page_refuses_an_unknown_variable_at_its_language_and_saves_nothing(tenant, admin, channel):
    response = signed_in(admin).post(
        _page(channel.inbox), _form(greeting_enabled="on", **{"greeting_text_pt-br": "Olá {{contato.nome}}"})
    )

    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors == {
        "greeting_text_pt-br": [
            "The greeting in pt-br uses the unknown variable {{contato.nome}}. The variables are: "
            "{{contact.first_name}}, {{contact.name}}, {{inbox.name}}, {{next_open}}."
        ]
    }
    assert _rows() == ([], [], 0, 0)


def test_the_page_warns_when_the_inbox_has_no_business_hours(tenant, admin, channel):
    page = signed_in(admin).get(_page(channel.inbox)).content.decode()

    assert (
        'This inbox follows no <a href="/t/acme/settings/business-hours/">business hours</a>: the away message '
        "cannot be sent until it does." in page
    )


def test_the_audit_log_reads_the_change_in_words(tenant, admin, channel):
    greeting_settings_update(
        actor=admin,
        inbox=channel.inbox,
        spec=GreetingSpec(greeting_enabled=True, greeting_texts={"pt-br": "Olá!"}, away_every_hours=2),
    )

    page = _text(signed_in(admin).get("/t/acme/settings/audit-log/").content.decode())

    assert (
        "Greeting and away changed Support — inbox Support hours between away messages from 4 to 2 greeting from "
        "off to on greeting languages from none to Brazilian Portuguese greeting wording changed Brazilian Portuguese"
    ) in page


def test_the_api_lists_every_inbox_by_name_in_a_fixed_number_of_queries(
    tenant, admin, channel, django_assert_max_num_queries
):
    from tests.conversations.factories import make_inbox

    other = make_inbox(tenant, name="Atacado")
    greeting_settings_update(
        actor=admin, inbox=other, spec=GreetingSpec(greeting_enabled=True, greeting_texts={"pt-br": "Olá!"})
    )
    for n in range(3):
        make_inbox(tenant, name=f"Zeta {n}")
    client = signed_in(admin)
    client.get("/api/v1/t/acme/greeting-away/")  # the session and the membership warmed up

    with django_assert_max_num_queries(12):
        body = client.get("/api/v1/t/acme/greeting-away/").json()

    assert [(row["inbox_name"], row["greeting"]["enabled"], row["greeting"]["texts"]) for row in body] == [
        ("Atacado", True, {"pt-br": "Olá!"}),
        ("Support", False, {}),
        ("Zeta 0", False, {}),
        ("Zeta 1", False, {}),
        ("Zeta 2", False, {}),
    ]
