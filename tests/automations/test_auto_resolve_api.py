"""The auto-resolve API: each inbox's settings read and changed, audited; and the abuse cases (another
workspace's inbox, no permission, bad input) changing nothing."""

from __future__ import annotations

import pytest

from automations.auto_resolve import closing_key
from automations.models import AutoResolveSettings
from conversations.models import CustomerText, CustomerTextVariant
from tenants.models import AuditLogEntry
from tenants.permissions import Perm
from tests.automations.factories import signed_in, token_client
from tests.conversations.factories import make_inbox, make_label
from tests.factories import add_member

pytestmark = pytest.mark.django_db

BASE = "/api/v1/t/acme/auto-resolve/"


def _rows(tenant) -> tuple:
    """Everything a refused request must leave as it was."""
    return (
        list(
            AutoResolveSettings.objects.values_list("inbox_id", "enabled", "after_hours", "label_id", "include_waiting")
        ),
        list(CustomerTextVariant.objects.order_by("id").values_list("text__key", "language", "body")),
        AuditLogEntry.objects.filter(tenant=tenant).count(),
    )


def _patch(client, inbox, body):
    return client.patch(f"{BASE}{inbox.pk}/", body, content_type="application/json")


def test_an_inbox_never_set_up_reads_as_the_defaults(tenant, admin):
    inbox = make_inbox(tenant, name="Suporte")

    body = signed_in(admin).get(f"{BASE}{inbox.pk}/").json()

    assert body == {
        "inbox_id": inbox.pk,
        "inbox_name": "Suporte",
        "enabled": False,
        "after_hours": 24,
        "label_id": None,
        "include_waiting": False,
        "closing_message": {},
        "resolved_last_7_days": 0,
        "updated_at": None,
    }
    assert AutoResolveSettings.objects.count() == 0


def test_a_change_is_saved_read_back_and_audited(tenant, admin):
    inbox = make_inbox(tenant, name="Suporte")
    label = make_label(tenant, "auto-closed")

    response = _patch(
        signed_in(admin),
        inbox,
        {
            "enabled": True,
            "after_hours": 12,
            "label_id": label.pk,
            "closing_message": {"pt-BR": "Até logo!", "en": "Bye!"},
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in body if k != "updated_at"} == {
        "inbox_id": inbox.pk,
        "inbox_name": "Suporte",
        "enabled": True,
        "after_hours": 12,
        "label_id": label.pk,
        "include_waiting": False,
        "closing_message": {"en": "Bye!", "pt-br": "Até logo!"},
        "resolved_last_7_days": 0,
    }
    assert body["updated_at"] is not None
    entry = AuditLogEntry.objects.get(action=AuditLogEntry.Action.AUTO_RESOLVE_CHANGED)
    assert (entry.actor_id, entry.target_type, entry.target_id, entry.target_label) == (
        admin.user_id,
        "conversations.inbox",
        str(inbox.pk),
        "Suporte",
    )
    assert entry.extra == {
        "inbox_id": inbox.pk,
        "changes": {
            "enabled": ["off", "on"],
            "after_hours": [24, 12],
            "label": ["", "auto-closed"],
            "closing_message": [[], ["en", "pt-br"]],
        },
    }
    assert CustomerText.objects.get(tenant=tenant).key == closing_key(inbox.pk)


def test_fields_left_out_keep_their_value_and_an_empty_closing_message_removes_it(tenant, admin):
    inbox = make_inbox(tenant)
    client = signed_in(admin)
    _patch(client, inbox, {"enabled": True, "after_hours": 6, "closing_message": {"en": "Bye!"}})

    kept = _patch(client, inbox, {"include_waiting": True}).json()
    reworded = _patch(client, inbox, {"closing_message": {"en": "Goodbye!"}}).json()
    removed = _patch(client, inbox, {"closing_message": {}}).json()

    assert (kept["enabled"], kept["after_hours"], kept["include_waiting"], kept["closing_message"]) == (
        True,
        6,
        True,
        {"en": "Bye!"},
    )
    assert reworded["closing_message"] == {"en": "Goodbye!"}
    assert removed["closing_message"] == {}
    assert CustomerText.objects.filter(tenant=tenant).count() == 0
    changes = list(
        AuditLogEntry.objects.filter(action=AuditLogEntry.Action.AUTO_RESOLVE_CHANGED)
        .order_by("id")
        .values_list("extra", flat=True)
    )
    assert changes[1:] == [
        {"inbox_id": inbox.pk, "changes": {"include_waiting": ["off", "on"]}},
        {"inbox_id": inbox.pk, "changes": {}, "closing_message_reworded": ["en"]},
        {"inbox_id": inbox.pk, "changes": {"closing_message": [["en"], []]}},
    ]


def test_sending_the_same_settings_again_records_nothing(tenant, admin):
    inbox = make_inbox(tenant)
    client = signed_in(admin)
    _patch(client, inbox, {"enabled": True, "after_hours": 6})
    before = _rows(tenant)

    response = _patch(client, inbox, {"enabled": True, "after_hours": 6})

    assert response.status_code == 200
    assert _rows(tenant) == before


def test_the_list_holds_every_inbox_of_the_workspace_only(tenant, admin, other_tenant):
    make_inbox(tenant, name="B")
    first = make_inbox(tenant, name="A")
    make_inbox(other_tenant, name="Theirs")
    _patch(signed_in(admin), first, {"enabled": True})

    body = signed_in(admin).get(BASE).json()

    assert [(row["inbox_name"], row["enabled"]) for row in body] == [("A", True), ("B", False)]


def test_another_workspaces_inbox_is_404_and_unchanged(tenant, admin, other_tenant):
    theirs = make_inbox(other_tenant, name="Theirs")
    owner = add_member(other_tenant, "admin")
    _patch(signed_in(owner), theirs, {"enabled": True, "after_hours": 5})
    before = _rows(other_tenant)

    read = signed_in(admin).get(f"{BASE}{theirs.pk}/")
    write = _patch(signed_in(admin), theirs, {"enabled": False, "after_hours": 1})

    assert (read.status_code, write.status_code) == (404, 404)
    assert _rows(other_tenant) == before


def test_an_agent_or_a_token_without_manage_automations_gets_403_and_changes_nothing(tenant, admin, agent):
    inbox = make_inbox(tenant)
    before = _rows(tenant)
    token = token_client(tenant, [Perm.REPLY, Perm.VIEW_ALL_CONVERSATIONS])
    before = _rows(tenant)

    answers = [
        client.generic(method, url, '{"enabled": true}', content_type="application/json").status_code
        for client in (signed_in(agent), token)
        for method, url in (("GET", BASE), ("GET", f"{BASE}{inbox.pk}/"), ("PATCH", f"{BASE}{inbox.pk}/"))
    ]

    assert answers == [403] * 6
    assert _rows(tenant) == before


def test_a_token_with_manage_automations_may_change_it(tenant):
    inbox = make_inbox(tenant)
    token = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])

    response = _patch(token, inbox, {"enabled": True})

    assert response.status_code == 200
    entry = AuditLogEntry.objects.get(action=AuditLogEntry.Action.AUTO_RESOLVE_CHANGED)
    assert (entry.actor_id, entry.actor_label) == (None, "API token Robot")


@pytest.mark.parametrize(
    ("body", "message", "details"),
    [
        (
            {"enabled": True, "after_hours": 0},
            "Resolve after 1 to 720 hours without customer activity.",
            {"field": "after_hours", "min": 1, "max": 720},
        ),
        (
            {"enabled": True, "after_hours": 721, "closing_message": {"en": "Bye"}},
            "Resolve after 1 to 720 hours without customer activity.",
            {"field": "after_hours", "min": 1, "max": 720},
        ),
        ({"after_hours": "a day"}, None, {"after_hours": ["A valid integer is required."]}),
        (
            {"enabled": True, "closing_message": {"fr": "Au revoir"}},
            "Texts can be written in en, pt, pt-br; “fr” is not one of them.",
            {"field": "closing_message", "language": "fr"},
        ),
        ({"enabled": True, "label_id": 999999}, "Unknown label.", {"field": "label_id", "ids": [999999]}),
    ],
)
def test_invalid_input_is_400_with_a_message_and_nothing_saved(tenant, admin, body, message, details):
    inbox = make_inbox(tenant)
    _patch(signed_in(admin), inbox, {"after_hours": 8, "closing_message": {"en": "Bye!"}})
    before = _rows(tenant)

    response = _patch(signed_in(admin), inbox, body)

    assert response.status_code == 400
    error = response.json()["error"]
    if message is not None:
        assert error["message"] == message
    assert error["details"] == details
    assert _rows(tenant) == before


def test_another_workspaces_label_is_refused(tenant, admin, other_tenant):
    inbox = make_inbox(tenant)
    theirs = make_label(other_tenant, "theirs")
    before = _rows(tenant)

    response = _patch(signed_in(admin), inbox, {"enabled": True, "label_id": theirs.pk})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"field": "label_id", "ids": [theirs.pk]}
    assert _rows(tenant) == before


def test_a_closing_message_the_customer_texts_refuse_leaves_everything_as_it_was(tenant, admin):
    inbox = make_inbox(tenant)
    _patch(signed_in(admin), inbox, {"after_hours": 8, "closing_message": {"en": "Bye!"}})
    before = _rows(tenant)

    response = _patch(signed_in(admin), inbox, {"enabled": True, "closing_message": {"en": "Bye!", "pt": "x" * 4097}})

    assert response.status_code == 400
    assert _rows(tenant) == before
