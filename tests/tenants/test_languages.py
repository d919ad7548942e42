"""Which language a person sees: their own, else the workspace's, else the browser's; the switcher; the API."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import translation

from conversations.models import Conversation
from tenants.languages import effective_language, language_or_none
from tenants.models import Tenant, User
from tenants.permissions import BuiltinRole, Perm
from tenants.services import api_token_create
from tests.conversations.factories import make_conversation, make_inbox, make_role
from tests.factories import add_member, make_tenant, make_user, owner_of

pytestmark = pytest.mark.django_db


def _lang(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def _client(user: User, **headers: str) -> Client:
    client = Client(**headers)
    client.force_login(user)
    return client


@pytest.fixture
def pt_workspace() -> Tenant:
    return make_tenant("Acme", slug="acme", locale="pt-br")


# --- the rule -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "tenant", "browser", "expected"),
    [
        ("en", "pt-br", "pt-br", "en"),
        ("", "pt-br", "en", "pt-br"),
        ("", "", "pt-BR", "pt-br"),
        ("", "", "", "en"),
        ("fr", "xx", "de", "en"),  # none of them ours: the product's own default
        ("PT_br", "", "", "pt-br"),
    ],
)
def test_the_members_language_wins_then_the_workspaces_then_the_browsers(user, tenant, browser, expected):
    assert effective_language(user_language=user, tenant_language=tenant, browser_language=browser) == expected


@pytest.mark.parametrize(("code", "expected"), [("pt", "pt-br"), ("en-US", "en"), ("es", None), ("", None)])
def test_a_requested_variant_maps_to_one_of_ours(code, expected):
    assert language_or_none(code) == expected


# --- pages ----------------------------------------------------------------------------------------


def test_a_member_without_a_language_sees_the_workspace_in_its_language(pt_workspace):
    agent = add_member(pt_workspace, BuiltinRole.AGENT)
    page = _client(agent.user, HTTP_ACCEPT_LANGUAGE="en").get("/t/acme/inbox/")
    html = page.content.decode()
    assert page.status_code == 200
    assert page["Content-Language"] == "pt-br"
    assert _lang(html) == "pt-br"
    assert ">Conversas</h1>" in html
    assert ">Conversations</h1>" not in html


def test_a_member_who_chose_english_sees_a_portuguese_workspace_in_english(pt_workspace):
    agent = add_member(pt_workspace, BuiltinRole.AGENT, user=make_user(language="en"))
    html = _client(agent.user, HTTP_ACCEPT_LANGUAGE="pt-BR").get("/t/acme/inbox/").content.decode()
    assert _lang(html) == "en"
    assert ">Conversations</h1>" in html


def test_a_member_who_chose_portuguese_sees_an_english_workspace_in_portuguese():
    tenant = make_tenant("Acme", slug="acme", locale="en")
    agent = add_member(tenant, BuiltinRole.AGENT, user=make_user(language="pt-br"))
    html = _client(agent.user).get("/t/acme/inbox/").content.decode()
    assert _lang(html) == "pt-br"
    assert ">Conversas</h1>" in html


@pytest.mark.parametrize(
    ("accept", "lang", "word"), [("pt-BR,pt;q=0.9", "pt-br", "Entrar"), ("en-US", "en", "Sign In")]
)
def test_the_login_page_follows_the_browser(accept, lang, word):
    page = Client(HTTP_ACCEPT_LANGUAGE=accept).get("/accounts/login/")
    assert page.status_code == 200
    assert _lang(page.content.decode()) == lang
    assert word in page.content.decode()


def test_pages_outside_a_workspace_use_the_last_workspaces_language(pt_workspace):
    owner = owner_of(pt_workspace)
    client = _client(owner.user, HTTP_ACCEPT_LANGUAGE="en")
    client.get("/t/acme/inbox/")  # remembered as the last workspace
    html = client.get("/account/preferences/").content.decode()
    assert _lang(html) == "pt-br"
    assert "Preferências" in html


# --- the switcher and the preferences ---------------------------------------------------------------


def test_the_switcher_in_the_user_menu_offers_both_languages_and_marks_the_current_one(pt_workspace):
    owner = owner_of(pt_workspace)
    html = _client(owner.user).get("/t/acme/inbox/").content.decode()
    # Each language by the product's name for it, in that language, whatever the page's language.
    assert 'value="pt-br" lang="pt-br" class="menu-button" aria-pressed="true">Português (Brasil)</button>' in html
    assert 'value="en" lang="en" class="menu-button" aria-pressed="false">English</button>' in html
    assert '<input type="hidden" name="next" value="/t/acme/inbox/">' in html


def test_switching_saves_the_language_and_returns_to_the_page(pt_workspace):
    owner = owner_of(pt_workspace)
    client = _client(owner.user)
    response = client.post("/account/language/", {"language": "en", "next": "/t/acme/inbox/?tab=mine"})
    assert response.status_code == 302
    assert response["Location"] == "/t/acme/inbox/?tab=mine"
    owner.user.refresh_from_db()
    assert owner.user.language == "en"
    page = client.get("/t/acme/inbox/")
    assert _lang(page.content.decode()) == "en"
    assert "The product is now shown in English." in page.content.decode()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", ""])
def test_the_switcher_never_redirects_off_site(pt_workspace, target):
    owner = owner_of(pt_workspace)
    response = _client(owner.user).post("/account/language/", {"language": "en", "next": target})
    assert response.status_code == 302
    assert response["Location"] == "/account/preferences/"


@pytest.mark.parametrize("language", ["fr", "", "pt-BR ", "<script>"])
def test_an_unknown_language_is_refused_and_nothing_changes(pt_workspace, language):
    owner = owner_of(pt_workspace)
    response = _client(owner.user).post("/account/language/", {"language": language, "next": "/t/acme/inbox/"})
    assert response.status_code == 400
    owner.user.refresh_from_db()
    assert owner.user.language == ""


def test_the_switcher_needs_a_signed_in_person_and_a_post(pt_workspace):
    response = Client().post("/account/language/", {"language": "en"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    owner = owner_of(pt_workspace)
    assert _client(owner.user).get("/account/language/?language=en").status_code == 405
    owner.user.refresh_from_db()
    assert owner.user.language == ""


def test_the_preferences_page_sets_and_clears_the_language(pt_workspace):
    owner = owner_of(pt_workspace)
    client = _client(owner.user)
    response = client.post("/account/preferences/", {"language": "en", "time_zone": ""})
    assert response.status_code == 302
    owner.user.refresh_from_db()
    assert owner.user.language == "en"
    assert "Preferences saved." in client.get("/account/preferences/").content.decode()
    client.post("/account/preferences/", {"language": "", "time_zone": ""})
    owner.user.refresh_from_db()
    assert owner.user.language == ""


def test_the_preferences_page_refuses_an_unknown_language(pt_workspace):
    owner = owner_of(pt_workspace)
    response = _client(owner.user).post("/account/preferences/", {"language": "xx", "time_zone": ""})
    assert response.status_code == 400
    owner.user.refresh_from_db()
    assert owner.user.language == ""


def test_a_workspace_cannot_be_created_in_a_language_we_do_not_have():
    from helpdesk.exceptions import ValidationFailed
    from tenants.services import tenant_create

    with pytest.raises(ValidationFailed):
        tenant_create(name="Globex", owner=make_user(), locale="fr")
    assert not Tenant.objects.filter(name="Globex").exists()


# --- plural forms ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "expected"), [(1, "1 membro"), (2, "2 membros"), (0, "0 membro")])
def test_plural_forms_follow_portuguese(count, expected):
    with translation.override("pt-br"):
        assert translation.ngettext("%(counter)s member", "%(counter)s members", count) % {"counter": count} == expected


def test_the_members_page_counts_in_portuguese(pt_workspace):
    owner = owner_of(pt_workspace)
    client = _client(owner.user)
    assert "1 membro" in client.get("/t/acme/settings/members/").content.decode()
    add_member(pt_workspace, BuiltinRole.AGENT)
    assert "2 membros" in client.get("/t/acme/settings/members/").content.decode()


# --- the JavaScript catalog -------------------------------------------------------------------------


def test_the_javascript_catalog_is_served_per_language():
    pt = Client().get("/jsi18n/pt-br/")
    assert pt.status_code == 200
    assert '"Retry": "Tentar de novo"' in pt.content.decode()
    assert "public" in pt["Cache-Control"]
    en = Client(HTTP_ACCEPT_LANGUAGE="pt-BR").get("/jsi18n/en/")
    assert "Tentar de novo" not in en.content.decode()
    assert Client().get("/jsi18n/fr/").status_code == 404


def test_pages_load_the_catalog_of_their_language(pt_workspace):
    owner = owner_of(pt_workspace)
    html = _client(owner.user).get("/t/acme/inbox/").content.decode()
    assert '<script src="/jsi18n/pt-br/" defer></script>' in html


# --- the API --------------------------------------------------------------------------------------


@pytest.fixture
def api_scene(pt_workspace) -> tuple[Client, str]:
    inbox = make_inbox(pt_workspace, name="Suporte")
    conversation = make_conversation(inbox, name="Cliente")
    role = make_role(pt_workspace, [Perm.VIEW_ALL_CONVERSATIONS, Perm.REPLY])
    _token, raw = api_token_create(actor=owner_of(pt_workspace), name="Bot", role=role)
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}"), f"/api/v1/t/acme/conversations/{conversation.display_id}/"


@pytest.mark.parametrize(
    ("accept", "message"),
    [
        ({"HTTP_ACCEPT_LANGUAGE": "pt-BR"}, "Informe até quando adiar a conversa."),
        ({}, "Informe até quando adiar a conversa."),  # the workspace's language
        ({"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}, "Say until when to snooze the conversation."),
        ({"HTTP_ACCEPT_LANGUAGE": "fr-FR"}, "Informe até quando adiar a conversa."),  # not ours: the workspace's
    ],
)
def test_api_errors_speak_the_requested_or_the_workspaces_language_with_the_same_code(api_scene, accept, message):
    client, url = api_scene
    response = client.put(f"{url}status/", {"status": "snoozed"}, content_type="application/json", **accept)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["message"] == message
    assert Conversation.objects.get().status == Conversation.Status.OPEN


def test_api_field_errors_from_the_serializer_are_translated_too(api_scene):
    client, url = api_scene
    english = client.put(f"{url}status/", {}, content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
    portuguese = client.put(f"{url}status/", {}, content_type="application/json", HTTP_ACCEPT_LANGUAGE="pt-BR")
    assert english.status_code == portuguese.status_code == 400
    assert english.json()["error"]["code"] == portuguese.json()["error"]["code"]
    assert english.json()["error"]["message"] != portuguese.json()["error"]["message"]


# --- the workspace's language and country -----------------------------------------------------------


def test_an_admin_sets_the_workspaces_language_and_country_and_it_is_audited(pt_workspace):
    from tenants.models import AuditLogEntry

    owner = owner_of(pt_workspace)
    client = _client(owner.user)
    response = client.post(
        "/t/acme/settings/workspace/", {"locale": "en", "timezone": "America/Sao_Paulo", "country": "PT"}
    )
    assert response.status_code == 302
    pt_workspace.refresh_from_db()
    assert (pt_workspace.locale, pt_workspace.country) == ("en", "PT")
    entry = AuditLogEntry.objects.get(tenant=pt_workspace, action=AuditLogEntry.Action.TENANT_UPDATED)
    assert entry.extra == {"changes": {"locale": ["pt-br", "en"], "country": ["BR", "PT"]}}
    page = client.get("/t/acme/settings/workspace/").content.decode()
    assert _lang(page) == "en"
    assert "Workspace settings saved." in page  # said in the workspace's new language
    assert '<option value="PT" selected>Portugal</option>' in page


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"locale": "fr", "timezone": "America/Sao_Paulo", "country": "BR"}, "locale"),
        ({"locale": "en", "timezone": "America/Sao_Paulo", "country": "XX"}, "country"),
        ({"locale": "en", "timezone": "America/Sao_Paulo", "country": "br"}, "country"),
    ],
)
def test_an_unknown_workspace_language_or_country_is_refused(pt_workspace, body, field):
    from tenants.models import AuditLogEntry

    owner = owner_of(pt_workspace)
    response = _client(owner.user).post("/t/acme/settings/workspace/", body)
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()
    pt_workspace.refresh_from_db()
    assert (pt_workspace.locale, pt_workspace.country) == ("pt-br", "BR")
    assert not AuditLogEntry.objects.filter(tenant=pt_workspace, action=AuditLogEntry.Action.TENANT_UPDATED).exists()


def test_the_workspace_settings_service_refuses_an_unknown_country(pt_workspace):
    from helpdesk.exceptions import ValidationFailed
    from tenants.services import tenant_settings_update

    with pytest.raises(ValidationFailed) as raised:
        tenant_settings_update(actor=owner_of(pt_workspace), country="ZZ")
    assert raised.value.details == {"field": "country"}
    pt_workspace.refresh_from_db()
    assert pt_workspace.country == "BR"


def test_an_agent_cannot_change_the_workspaces_language(pt_workspace):
    agent = add_member(pt_workspace, BuiltinRole.AGENT)
    response = _client(agent.user).post(
        "/t/acme/settings/workspace/", {"locale": "en", "timezone": "America/Sao_Paulo", "country": "BR"}
    )
    assert response.status_code == 403
    pt_workspace.refresh_from_db()
    assert pt_workspace.locale == "pt-br"


def test_the_country_list_is_in_the_pages_language(pt_workspace):
    owner = owner_of(pt_workspace)
    page = _client(owner.user).get("/t/acme/settings/workspace/").content.decode()
    assert '<option value="BR" selected>Brasil</option>' in page
    assert '<option value="DE">Alemanha</option>' in page


def test_the_invitation_e_mail_speaks_the_workspaces_language_whatever_the_inviters(
    pt_workspace, mailoutbox, django_capture_on_commit_callbacks
):
    from tenants.models import Role
    from tenants.services import invitation_create

    owner = owner_of(pt_workspace)
    owner.user.language = "en"
    owner.user.save(update_fields=["language"])
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        invitation_create(
            actor=owner, email="nova@example.com", role=Role.objects.get(tenant=pt_workspace, key="agent")
        )
    [mail] = mailoutbox
    assert mail.subject == "Você recebeu um convite para Acme"
    assert "(America/Sao_Paulo)" in mail.body
    assert "invited you" not in mail.body
