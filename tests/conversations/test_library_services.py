"""Labels, quick replies and availability: who may change them, what is accepted, what is recorded."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from conversations.models import Label, QuickReply
from conversations.services.library import (
    label_create,
    label_delete,
    label_update,
    membership_availability_set,
    quick_reply_create,
    quick_reply_delete,
    quick_reply_update,
)
from helpdesk.exceptions import NotFound, PermissionDenied, ValidationFailed
from tenants.models import AuditLogEntry, Membership
from tests.conversations.factories import captured_events, make_inbox, make_label, of_type
from tests.factories import add_member

pytestmark = pytest.mark.django_db

Action = AuditLogEntry.Action
Scope = QuickReply.Scope


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def _audits(tenant, action):
    return list(AuditLogEntry.objects.filter(tenant=tenant, action=action).order_by("id"))


def _pdf(size: int = 100, name: str = "menu.pdf", content_type: str = "application/pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"%PDF-1.4\n" + b"0" * (size - 9), content_type=content_type)


# --- labels ----------------------------------------------------------------------------------


def test_supervisor_creates_a_label_and_it_is_audited(tenant, supervisor):
    label = label_create(membership=supervisor, name="  VIP ", color="#AABBCC", description=" Big spenders ")

    label.refresh_from_db()
    assert (label.tenant_id, label.name, label.color, label.description) == (
        tenant.pk,
        "VIP",
        "#aabbcc",
        "Big spenders",
    )
    [entry] = _audits(tenant, Action.LABEL_CREATED)
    assert (entry.actor_id, entry.target_type, entry.target_id) == (
        supervisor.user_id,
        "conversations.label",
        str(label.pk),
    )
    assert entry.extra == {"name": "VIP", "color": "#aabbcc"}


def test_agent_cannot_create_a_label(tenant, agent):
    with pytest.raises(PermissionDenied):
        label_create(membership=agent, name="VIP", color="#aabbcc")
    assert not Label.objects.filter(tenant=tenant).exists()
    assert _audits(tenant, Action.LABEL_CREATED) == []


@pytest.mark.parametrize(
    ("name", "color", "message"),
    [
        ("", "#aabbcc", "A label name has 1 to 60 characters."),
        ("   ", "#aabbcc", "A label name has 1 to 60 characters."),
        ("x" * 61, "#aabbcc", "A label name has 1 to 60 characters."),
        ("VIP", "aabbcc", "The colour must be a hex code such as #1f6feb."),
        ("VIP", "#abc", "The colour must be a hex code such as #1f6feb."),
        ("VIP", "#gg0000", "The colour must be a hex code such as #1f6feb."),
        ("VIP", "#aabbcc\n", "The colour must be a hex code such as #1f6feb."),
    ],
)
def test_invalid_label_is_refused_with_a_clear_message(tenant, owner, name, color, message):
    with pytest.raises(ValidationFailed) as exc:
        label_create(membership=owner, name=name, color=color)
    assert exc.value.message == message
    assert not Label.objects.filter(tenant=tenant).exists()
    assert _audits(tenant, Action.LABEL_CREATED) == []


@pytest.mark.parametrize("field", ["name", "description"])
def test_null_character_in_a_label_is_refused(tenant, owner, field):
    values = {"name": "VIP", "color": "#aabbcc", "description": "", field: "a\x00b"}
    with pytest.raises(ValidationFailed) as exc:
        label_create(membership=owner, **values)
    assert (exc.value.message, exc.value.details) == ("The text contains a null character.", {"field": field})
    assert not Label.objects.filter(tenant=tenant).exists()


def test_null_character_in_a_quick_reply_is_refused(tenant, owner):
    with pytest.raises(ValidationFailed, match="null character"):
        quick_reply_create(membership=owner, shortcut="hi", text="a\x00b")
    assert not QuickReply.objects.exists()


def test_sixty_character_name_is_accepted(owner):
    assert label_create(membership=owner, name="x" * 60, color="#000000").name == "x" * 60


def test_duplicate_label_name_is_a_validation_error_not_an_integrity_error(tenant, owner):
    label_create(membership=owner, name="VIP", color="#aabbcc")

    with pytest.raises(ValidationFailed) as exc:
        label_create(membership=owner, name="VIP", color="#000000")

    assert exc.value.message == "A label named “VIP” already exists."
    assert exc.value.code == "duplicate"
    assert list(Label.objects.filter(tenant=tenant).values_list("name", "color")) == [("VIP", "#aabbcc")]
    assert len(_audits(tenant, Action.LABEL_CREATED)) == 1


def test_same_label_name_in_another_workspace_is_fine(owner, other_tenant):
    from tests.factories import owner_of

    label_create(membership=owner, name="VIP", color="#aabbcc")
    other = label_create(membership=owner_of(other_tenant), name="VIP", color="#aabbcc")
    assert other.tenant_id == other_tenant.pk


def test_label_update_records_what_changed(tenant, owner):
    label = label_create(membership=owner, name="VIP", color="#aabbcc")

    label_update(membership=owner, label=label, name="Gold", color="#aabbcc", description="Top")

    label.refresh_from_db()
    assert (label.name, label.color, label.description) == ("Gold", "#aabbcc", "Top")
    [entry] = _audits(tenant, Action.LABEL_CHANGED)
    assert entry.extra == {"changes": {"name": ["VIP", "Gold"], "description": ["", "Top"]}}


def test_label_update_without_changes_records_nothing(tenant, owner):
    label = label_create(membership=owner, name="VIP", color="#aabbcc")
    label_update(membership=owner, label=label, name="VIP", color="#AABBCC")
    assert _audits(tenant, Action.LABEL_CHANGED) == []


def test_renaming_a_label_onto_another_is_refused(tenant, owner):
    make_label(tenant, "Billing")
    label = label_create(membership=owner, name="VIP", color="#aabbcc")

    with pytest.raises(ValidationFailed, match="already exists"):
        label_update(membership=owner, label=label, name="Billing", color="#aabbcc")

    label.refresh_from_db()
    assert label.name == "VIP"
    assert _audits(tenant, Action.LABEL_CHANGED) == []


def test_label_of_another_workspace_cannot_be_changed_or_deleted(other_tenant, owner):
    foreign = make_label(other_tenant, "VIP")
    with pytest.raises(NotFound):
        label_update(membership=owner, label=foreign, name="Mine", color="#000000")
    with pytest.raises(NotFound):
        label_delete(membership=owner, label=foreign)
    foreign.refresh_from_db()
    assert foreign.name == "VIP"


def test_label_delete_removes_it_and_is_audited(tenant, owner):
    label = label_create(membership=owner, name="VIP", color="#aabbcc")
    label_id = label.pk

    label_delete(membership=owner, label=label)

    assert not Label.objects.filter(pk=label_id).exists()
    [entry] = _audits(tenant, Action.LABEL_DELETED)
    assert (entry.target_id, entry.target_label, entry.extra) == (
        str(label_id),
        "VIP",
        {"name": "VIP", "color": "#aabbcc"},
    )


def test_agent_cannot_delete_a_label(tenant, agent):
    label = make_label(tenant, "VIP")
    with pytest.raises(PermissionDenied):
        label_delete(membership=agent, label=label)
    assert Label.objects.filter(pk=label.pk).exists()
    assert _audits(tenant, Action.LABEL_DELETED) == []


# --- quick replies ---------------------------------------------------------------------------


def test_supervisor_creates_a_workspace_quick_reply(tenant, supervisor):
    reply = quick_reply_create(membership=supervisor, shortcut="/hours", text="We open at 9.", scope=Scope.TENANT)

    reply.refresh_from_db()
    assert (reply.shortcut, reply.text, reply.scope, reply.inbox_id, reply.owner_id) == (
        "hours",
        "We open at 9.",
        "tenant",
        None,
        None,
    )
    [entry] = _audits(tenant, Action.QUICK_REPLY_CREATED)
    assert entry.extra == {
        "shortcut": "hours",
        "scope": "tenant",
        "inbox_id": None,
        "attachment": "",
        "text_length": 13,
    }


def test_inbox_quick_reply_needs_an_inbox_of_the_workspace(tenant, other_tenant, owner):
    with pytest.raises(ValidationFailed, match="Choose the inbox"):
        quick_reply_create(membership=owner, shortcut="hi", text="Hi", scope=Scope.INBOX)
    with pytest.raises(NotFound):
        quick_reply_create(
            membership=owner, shortcut="hi", text="Hi", scope=Scope.INBOX, inbox=make_inbox(other_tenant)
        )
    assert not QuickReply.objects.exists()

    inbox = make_inbox(tenant)
    reply = quick_reply_create(membership=owner, shortcut="hi", text="Hi", scope=Scope.INBOX, inbox=inbox)
    assert (reply.scope, reply.inbox_id, reply.owner_id) == ("inbox", inbox.pk, None)


def test_agent_creates_a_personal_quick_reply_owned_by_them(tenant, agent):
    reply = quick_reply_create(membership=agent, shortcut="bye", text="Bye!", scope=Scope.PERSONAL)
    assert (reply.scope, reply.owner_id, reply.inbox_id) == ("personal", agent.user_id, None)
    assert len(_audits(tenant, Action.QUICK_REPLY_CREATED)) == 1


@pytest.mark.parametrize("scope", [Scope.TENANT, Scope.INBOX])
def test_agent_cannot_create_a_shared_quick_reply(tenant, agent, scope):
    inbox = make_inbox(tenant, members=[agent])
    with pytest.raises(PermissionDenied):
        quick_reply_create(membership=agent, shortcut="hi", text="Hi", scope=scope, inbox=inbox)
    assert not QuickReply.objects.exists()
    assert _audits(tenant, Action.QUICK_REPLY_CREATED) == []


@pytest.mark.parametrize(
    ("shortcut", "text", "message"),
    [
        ("", "Hi", "The shortcut has 1 to 40 letters, digits, hyphens or underscores."),
        ("with space", "Hi", "The shortcut has 1 to 40 letters, digits, hyphens or underscores."),
        ("x" * 41, "Hi", "The shortcut has 1 to 40 letters, digits, hyphens or underscores."),
        ("hi", "", "The text has 1 to 4096 characters."),
        ("hi", "  \n ", "The text has 1 to 4096 characters."),
        ("hi", "x" * 4097, "The text has 1 to 4096 characters."),
    ],
)
def test_invalid_quick_reply_is_refused(tenant, owner, shortcut, text, message):
    with pytest.raises(ValidationFailed) as exc:
        quick_reply_create(membership=owner, shortcut=shortcut, text=text)
    assert exc.value.message == message
    assert not QuickReply.objects.exists()
    assert _audits(tenant, Action.QUICK_REPLY_CREATED) == []


def test_limits_of_shortcut_and_text_are_accepted(owner):
    reply = quick_reply_create(membership=owner, shortcut="x" * 40, text="y" * 4096)
    assert (len(reply.shortcut), len(reply.text)) == (40, 4096)


def test_shortcut_is_unique_within_its_scope_only(tenant, owner, agent):
    inbox = make_inbox(tenant)
    quick_reply_create(membership=owner, shortcut="hi", text="Hello", scope=Scope.TENANT)
    with pytest.raises(ValidationFailed) as exc:
        quick_reply_create(membership=owner, shortcut="hi", text="Hello again", scope=Scope.TENANT)
    assert exc.value.message == "The shortcut /hi is already used in this workspace."

    # The same shortcut in an inbox and among an agent's own replies is another scope.
    quick_reply_create(membership=owner, shortcut="hi", text="Inbox hi", scope=Scope.INBOX, inbox=inbox)
    quick_reply_create(membership=agent, shortcut="hi", text="My hi", scope=Scope.PERSONAL)
    with pytest.raises(ValidationFailed, match="already used among your quick replies"):
        quick_reply_create(membership=agent, shortcut="hi", text="My hi 2", scope=Scope.PERSONAL)
    with pytest.raises(ValidationFailed, match="already used in this inbox"):
        quick_reply_create(membership=owner, shortcut="hi", text="Inbox 2", scope=Scope.INBOX, inbox=inbox)

    assert sorted(QuickReply.objects.values_list("scope", "text")) == [
        ("inbox", "Inbox hi"),
        ("personal", "My hi"),
        ("tenant", "Hello"),
    ]
    assert len(_audits(tenant, Action.QUICK_REPLY_CREATED)) == 3


def test_quick_reply_attachment_is_stored(tenant, owner):
    reply = quick_reply_create(membership=owner, shortcut="menu", text="Our menu", attachment=_pdf())
    reply.refresh_from_db()
    assert reply.attachment.name.startswith("quick_replies/") and reply.attachment.name.endswith(".pdf")
    assert reply.attachment.read().startswith(b"%PDF-1.4")
    [entry] = _audits(tenant, Action.QUICK_REPLY_CREATED)
    assert entry.extra["attachment"] == reply.attachment.name


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("page.html", "text/html"), ("menu.pdf", "text/html"), ("evil.html", "application/pdf"), ("a.gif", "image/gif")],
)
def test_attachment_of_another_type_is_refused(tenant, owner, name, content_type):
    with pytest.raises(ValidationFailed) as exc:
        quick_reply_create(
            membership=owner, shortcut="menu", text="x", attachment=_pdf(name=name, content_type=content_type)
        )
    assert exc.value.message == "Attach a JPEG or PNG image, a PDF, an MP4 video or an OGG or MP3 audio file."
    assert not QuickReply.objects.exists()


def test_attachment_over_16_mb_is_refused(tenant, owner):
    with pytest.raises(ValidationFailed) as exc:
        quick_reply_create(membership=owner, shortcut="menu", text="x", attachment=_pdf(size=16 * 1024 * 1024 + 1))
    assert exc.value.message == "The attachment is larger than 16 MB."
    assert not QuickReply.objects.exists()
    assert _audits(tenant, Action.QUICK_REPLY_CREATED) == []


def test_attachment_of_exactly_16_mb_is_accepted(owner):
    reply = quick_reply_create(membership=owner, shortcut="menu", text="x", attachment=_pdf(size=16 * 1024 * 1024))
    assert reply.attachment.size == 16 * 1024 * 1024


def test_member_edits_their_personal_reply(tenant, agent):
    reply = quick_reply_create(membership=agent, shortcut="bye", text="Bye!", scope=Scope.PERSONAL)

    quick_reply_update(membership=agent, quick_reply=reply, shortcut="ciao", text="Ciao!", scope=Scope.PERSONAL)

    reply.refresh_from_db()
    assert (reply.shortcut, reply.text, reply.owner_id) == ("ciao", "Ciao!", agent.user_id)
    [entry] = _audits(tenant, Action.QUICK_REPLY_CHANGED)
    assert entry.extra == {"changes": {"shortcut": ["bye", "ciao"], "text": True}}


@pytest.mark.parametrize("role", ["owner", "admin", "agent"])
def test_another_members_personal_reply_is_not_found_even_for_admins(tenant, agent, role):
    reply = quick_reply_create(membership=agent, shortcut="bye", text="Bye!", scope=Scope.PERSONAL)
    other = add_member(tenant, role)

    with pytest.raises(NotFound):
        quick_reply_update(membership=other, quick_reply=reply, shortcut="x", text="Hijacked", scope=Scope.PERSONAL)
    with pytest.raises(NotFound):
        quick_reply_delete(membership=other, quick_reply=reply)

    reply.refresh_from_db()
    assert (reply.shortcut, reply.text) == ("bye", "Bye!")
    assert _audits(tenant, Action.QUICK_REPLY_CHANGED) == []
    assert _audits(tenant, Action.QUICK_REPLY_DELETED) == []


def test_agent_cannot_change_or_delete_a_shared_reply(tenant, owner, agent):
    reply = quick_reply_create(membership=owner, shortcut="hours", text="9 to 5")
    with pytest.raises(PermissionDenied):
        quick_reply_update(membership=agent, quick_reply=reply, shortcut="hours", text="Never", scope=Scope.TENANT)
    with pytest.raises(PermissionDenied):
        quick_reply_delete(membership=agent, quick_reply=reply)
    reply.refresh_from_db()
    assert reply.text == "9 to 5"
    assert _audits(tenant, Action.QUICK_REPLY_CHANGED) == []
    assert _audits(tenant, Action.QUICK_REPLY_DELETED) == []


def test_agent_cannot_share_their_personal_reply(tenant, agent):
    reply = quick_reply_create(membership=agent, shortcut="bye", text="Bye!", scope=Scope.PERSONAL)
    with pytest.raises(PermissionDenied):
        quick_reply_update(membership=agent, quick_reply=reply, shortcut="bye", text="Bye!", scope=Scope.TENANT)
    reply.refresh_from_db()
    assert (reply.scope, reply.owner_id) == ("personal", agent.user_id)


def test_moving_a_reply_to_an_inbox_clears_the_owner(tenant, owner):
    inbox = make_inbox(tenant)
    reply = quick_reply_create(membership=owner, shortcut="hi", text="Hi", scope=Scope.PERSONAL)

    quick_reply_update(membership=owner, quick_reply=reply, shortcut="hi", text="Hi", scope=Scope.INBOX, inbox=inbox)

    reply.refresh_from_db()
    assert (reply.scope, reply.inbox_id, reply.owner_id) == ("inbox", inbox.pk, None)
    [entry] = _audits(tenant, Action.QUICK_REPLY_CHANGED)
    assert entry.extra == {"changes": {"scope": ["personal", "inbox"], "inbox_id": [None, inbox.pk]}}


def test_replacing_and_removing_the_attachment_deletes_the_old_file(owner, django_capture_on_commit_callbacks):
    reply = quick_reply_create(membership=owner, shortcut="menu", text="Menu", attachment=_pdf(name="a.pdf"))
    storage = reply.attachment.storage
    first = reply.attachment.name

    with django_capture_on_commit_callbacks(execute=True):
        quick_reply_update(
            membership=owner,
            quick_reply=reply,
            shortcut="menu",
            text="Menu",
            scope=Scope.TENANT,
            attachment=_pdf(name="b.png", content_type="image/png"),
        )
    second = reply.attachment.name
    assert second.endswith(".png") and not storage.exists(first) and storage.exists(second)

    with django_capture_on_commit_callbacks(execute=True):
        quick_reply_update(
            membership=owner,
            quick_reply=reply,
            shortcut="menu",
            text="Menu",
            scope=Scope.TENANT,
            remove_attachment=True,
        )
    reply.refresh_from_db()
    assert reply.attachment.name == ""
    assert not storage.exists(second)


def test_quick_reply_delete_removes_row_and_file(tenant, owner, django_capture_on_commit_callbacks):
    reply = quick_reply_create(membership=owner, shortcut="menu", text="Menu", attachment=_pdf())
    storage, name, reply_id = reply.attachment.storage, reply.attachment.name, reply.pk

    with django_capture_on_commit_callbacks(execute=True):
        quick_reply_delete(membership=owner, quick_reply=reply)

    assert not QuickReply.objects.filter(pk=reply_id).exists()
    assert not storage.exists(name)
    [entry] = _audits(tenant, Action.QUICK_REPLY_DELETED)
    assert (entry.target_id, entry.extra["shortcut"]) == (str(reply_id), "menu")


# --- availability ----------------------------------------------------------------------------


def test_availability_change_is_saved_audited_and_sent_to_every_active_member(
    tenant, owner, agent, supervisor, django_capture_on_commit_callbacks
):
    gone = add_member(tenant, "agent")
    Membership.objects.filter(pk=gone.pk).update(active=False)

    with captured_events(django_capture_on_commit_callbacks) as events:
        membership_availability_set(membership=agent, availability="busy")

    agent.refresh_from_db()
    assert agent.availability == "busy"
    [entry] = _audits(tenant, Action.AVAILABILITY_CHANGED)
    assert (entry.actor_id, entry.target_id, entry.extra) == (
        agent.user_id,
        str(agent.user_id),
        {"from": "offline", "to": "busy"},
    )
    assert of_type(events, "member.availability") == [
        (
            sorted([owner.user_id, agent.user_id, supervisor.user_id]),
            {"type": "member.availability", "user_id": agent.user_id, "availability": "busy"},
        )
    ]


def test_same_availability_again_changes_nothing(tenant, agent, django_capture_on_commit_callbacks):
    membership_availability_set(membership=agent, availability="online")
    with captured_events(django_capture_on_commit_callbacks) as events:
        membership_availability_set(membership=agent, availability="online")
    assert events == []
    assert len(_audits(tenant, Action.AVAILABILITY_CHANGED)) == 1


def test_unknown_availability_is_refused(tenant, agent, django_capture_on_commit_callbacks):
    with captured_events(django_capture_on_commit_callbacks) as events, pytest.raises(ValidationFailed) as exc:
        membership_availability_set(membership=agent, availability="away")
    assert exc.value.message == "Availability is online, busy or offline."
    agent.refresh_from_db()
    assert agent.availability == "offline"
    assert events == []
    assert _audits(tenant, Action.AVAILABILITY_CHANGED) == []
