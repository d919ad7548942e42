"""The auto-resolve settings pages, as an admin uses them and as others cannot."""

from __future__ import annotations

import html
import re

import pytest

from automations.auto_resolve import AutoResolveSpec, auto_resolve_update, closing_messages
from automations.models import AutoResolveSettings
from conversations.models import CustomerTextVariant
from tenants.models import AuditLogEntry
from tenants.permissions import Perm
from tests.automations.factories import signed_in
from tests.conversations.factories import make_inbox, make_label, make_role
from tests.factories import add_member

pytestmark = pytest.mark.django_db

LIST = "/t/acme/settings/auto-resolve/"


def _edit(inbox) -> str:
    return f"{LIST}{inbox.pk}/"


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def _form(**fields) -> dict[str, str]:
    data = {"enabled": "on", "after_hours": "12", "label": "", "closing_en": "", "closing_pt_br": ""}
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def _saved(tenant) -> tuple:
    return (
        list(
            AutoResolveSettings.objects.values_list("inbox_id", "enabled", "after_hours", "label_id", "include_waiting")
        ),
        list(CustomerTextVariant.objects.order_by("id").values_list("language", "body")),
        AuditLogEntry.objects.filter(tenant=tenant).count(),
    )


def test_the_list_shows_each_inbox_and_its_auto_resolve(tenant, admin):
    support = make_inbox(tenant, name="Suporte")
    make_inbox(tenant, name="Vendas")
    label = make_label(tenant, "auto-closed")
    auto_resolve_update(
        actor=admin,
        inbox=support,
        spec=AutoResolveSpec(enabled=True, after_hours=6, label_id=label.pk, closing_message={"pt-br": "Tchau!"}),
    )

    response = signed_in(admin).get(LIST)

    assert response.status_code == 200
    text = _text(response.content.decode())
    assert "Suporte On 6 hours Left open auto-closed Brazilian Portuguese 0 Edit Suporte" in text
    assert "Vendas Off 24 hours Left open — None 0 Edit Vendas" in text
    assert 'href="/t/acme/settings/auto-resolve/"' in response.content.decode()  # in the settings menu


def test_saving_the_form_saves_the_settings_and_the_closing_message(tenant, admin):
    inbox = make_inbox(tenant, name="Suporte")
    label = make_label(tenant, "auto-closed")

    response = signed_in(admin).post(
        _edit(inbox),
        _form(after_hours="8", include_waiting="on", label=str(label.pk), closing_en="Bye!", closing_pt_br="Tchau!"),
    )

    assert response.status_code == 302
    assert response["Location"] == LIST
    settings = AutoResolveSettings.objects.get(inbox=inbox)
    assert (settings.enabled, settings.after_hours, settings.label_id, settings.include_waiting) == (
        True,
        8,
        label.pk,
        True,
    )
    assert closing_messages(tenant_id=tenant.pk, inbox_ids=[inbox.pk]) == {inbox.pk: {"en": "Bye!", "pt-br": "Tchau!"}}
    assert AuditLogEntry.objects.filter(action=AuditLogEntry.Action.AUTO_RESOLVE_CHANGED).count() == 1


def test_the_form_reads_back_what_was_saved_and_warns_when_the_message_can_never_go(tenant, admin):
    inbox = make_inbox(tenant)
    auto_resolve_update(
        actor=admin, inbox=inbox, spec=AutoResolveSpec(enabled=True, after_hours=48, closing_message={"en": "Bye!"})
    )

    page = signed_in(admin).get(_edit(inbox)).content.decode()

    assert 'name="after_hours" value="48"' in page
    assert re.search(r'<textarea name="closing_en"[^>]*>\s*Bye!</textarea>', page)
    assert "With 24 hours or more, the closing message is never sent" in _text(page)


def test_hours_out_of_range_are_refused_with_the_reason_and_nothing_saved(tenant, admin):
    inbox = make_inbox(tenant)
    auto_resolve_update(actor=admin, inbox=inbox, spec=AutoResolveSpec(after_hours=10, closing_message={"en": "Bye"}))
    before = _saved(tenant)

    responses = [
        signed_in(admin).post(_edit(inbox), _form(after_hours=hours, closing_en="Changed")) for hours in ("0", "721")
    ]

    assert [r.status_code for r in responses] == [400, 400]
    for response in responses:
        assert "Resolve after 1 to 720 hours without customer activity." in _text(response.content.decode())
    assert _saved(tenant) == before


def test_a_closing_message_too_long_is_refused_at_its_field(tenant, admin):
    inbox = make_inbox(tenant)
    before = _saved(tenant)

    response = signed_in(admin).post(_edit(inbox), _form(closing_pt_br="x" * 4097))

    assert response.status_code == 400
    assert "has at most 4096 characters" in _text(response.content.decode())
    assert _saved(tenant) == before


def test_another_workspaces_inbox_or_label_is_refused_and_nothing_saved(tenant, admin, other_tenant):
    theirs = make_inbox(other_tenant)
    mine = make_inbox(tenant)
    their_label = make_label(other_tenant, "theirs")
    before = (_saved(tenant), _saved(other_tenant))

    page = signed_in(admin).get(_edit(theirs))
    post = signed_in(admin).post(_edit(theirs), _form())
    label = signed_in(admin).post(_edit(mine), _form(label=str(their_label.pk)))

    assert (page.status_code, post.status_code, label.status_code) == (404, 404, 400)
    assert (_saved(tenant), _saved(other_tenant)) == before


def test_an_agent_gets_403_and_changes_nothing(tenant, agent):
    inbox = make_inbox(tenant)
    before = _saved(tenant)

    answers = [
        signed_in(agent).get(LIST).status_code,
        signed_in(agent).get(_edit(inbox)).status_code,
        signed_in(agent).post(_edit(inbox), _form()).status_code,
    ]

    assert answers == [403, 403, 403]
    assert _saved(tenant) == before
    assert 'href="/t/acme/settings/auto-resolve/"' not in signed_in(agent).get("/t/acme/").content.decode()


def test_the_audit_log_page_shows_the_change_in_the_viewers_words(tenant, admin):
    inbox = make_inbox(tenant, name="Suporte")
    label = make_label(tenant, "auto-closed")
    form = _form(after_hours="8", label=str(label.pk), closing_pt_br="Tchau!")
    assert signed_in(admin).post(_edit(inbox), form).status_code == 302

    text = _text(signed_in(admin).get("/t/acme/settings/audit-log/").content.decode())

    assert "Auto-resolve changed" in text
    assert "auto-resolve from off to on" in text
    assert "hours without customer activity from 24 to 8" in text
    assert "label to add from none to auto-closed" in text
    assert "closing message languages from none to Brazilian Portuguese" in text


def test_members_of_another_role_with_manage_automations_may_use_it(tenant):
    role = make_role(tenant, [Perm.MANAGE_AUTOMATIONS])
    member = add_member(tenant, role)

    assert signed_in(member).get(LIST).status_code == 200
