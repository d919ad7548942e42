"""The settings pages for labels, quick replies and availability, as members use them."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from conversations.models import Label, QuickReply
from conversations.services.library import label_create, quick_reply_create
from tenants.models import AuditLogEntry
from tests.conversations.factories import make_inbox
from tests.factories import add_member

pytestmark = pytest.mark.django_db

Scope = QuickReply.Scope
LABELS = "/t/acme/settings/labels/"
QUICK_REPLIES = "/t/acme/settings/quick-replies/"
AVAILABILITY = "/t/acme/settings/availability/"


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def _client(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def _audit_count(tenant) -> int:
    return AuditLogEntry.objects.filter(tenant=tenant).count()


# --- labels ----------------------------------------------------------------------------------


def test_label_page_lists_labels_with_a_swatch_and_a_colour_input(tenant, supervisor):
    label_create(membership=supervisor, name="VIP", color="#aabbcc", description="Big spenders")

    response = _client(supervisor).get(LABELS)

    assert response.status_code == 200
    html = response.content.decode()
    assert '<span class="swatch" aria-hidden="true" data-chip-color="#aabbcc"></span>' in html
    assert "Big spenders" in html
    assert 'type="color"' in html and 'name="color"' in html


def test_creating_a_label_from_the_page(tenant, supervisor):
    response = _client(supervisor).post(LABELS, {"name": "Billing", "color": "#FF0000", "description": ""})

    assert response.status_code == 302
    assert response["Location"] == LABELS
    assert list(Label.objects.filter(tenant=tenant).values_list("name", "color")) == [("Billing", "#ff0000")]
    assert AuditLogEntry.objects.filter(tenant=tenant, action=AuditLogEntry.Action.LABEL_CREATED).count() == 1


def test_duplicate_label_shows_a_form_error_and_creates_nothing(tenant, supervisor):
    label_create(membership=supervisor, name="VIP", color="#aabbcc")
    audits = _audit_count(tenant)

    response = _client(supervisor).post(LABELS, {"name": "VIP", "color": "#000000"})

    assert response.status_code == 400
    assert response.context["form"].errors == {"name": ["A label named “VIP” already exists."]}
    assert Label.objects.filter(tenant=tenant).count() == 1
    assert _audit_count(tenant) == audits


def test_bad_colour_shows_a_form_error(tenant, supervisor):
    response = _client(supervisor).post(LABELS, {"name": "VIP", "color": "red"})

    assert response.status_code == 400
    assert response.context["form"].errors == {"color": ["The colour must be a hex code such as #1f6feb."]}
    assert not Label.objects.filter(tenant=tenant).exists()


def test_editing_a_label(tenant, supervisor):
    label = label_create(membership=supervisor, name="VIP", color="#aabbcc")
    url = f"{LABELS}{label.pk}/"
    client = _client(supervisor)

    page = client.get(url)
    assert page.status_code == 200
    assert page.context["form"].initial == {"name": "VIP", "color": "#aabbcc", "description": ""}

    response = client.post(url, {"name": "Gold", "color": "#123456", "description": "Top"})

    assert response.status_code == 302
    label.refresh_from_db()
    assert (label.name, label.color, label.description) == ("Gold", "#123456", "Top")


def test_label_delete_is_post_only_and_deletes(tenant, supervisor):
    label = label_create(membership=supervisor, name="VIP", color="#aabbcc")
    client = _client(supervisor)

    assert client.get(f"{LABELS}{label.pk}/delete/").status_code == 405
    assert Label.objects.filter(pk=label.pk).exists()

    response = client.post(f"{LABELS}{label.pk}/delete/")

    assert response.status_code == 302
    assert not Label.objects.filter(pk=label.pk).exists()


def test_agent_cannot_use_the_label_pages(tenant, owner, agent):
    label = label_create(membership=owner, name="VIP", color="#aabbcc")
    audits = _audit_count(tenant)
    client = _client(agent)

    assert client.get(LABELS).status_code == 403
    assert client.post(LABELS, {"name": "Mine", "color": "#000000"}).status_code == 403
    assert client.post(f"{LABELS}{label.pk}/", {"name": "Mine", "color": "#000000"}).status_code == 403
    assert client.post(f"{LABELS}{label.pk}/delete/").status_code == 403

    assert list(Label.objects.filter(tenant=tenant).values_list("name", flat=True)) == ["VIP"]
    assert _audit_count(tenant) == audits


def test_label_of_another_workspace_is_404(tenant, other_tenant, supervisor):
    from tests.factories import owner_of

    foreign = label_create(membership=owner_of(other_tenant), name="VIP", color="#aabbcc")
    client = _client(supervisor)

    assert client.get(f"{LABELS}{foreign.pk}/").status_code == 404
    assert client.post(f"{LABELS}{foreign.pk}/delete/").status_code == 404
    assert Label.objects.filter(pk=foreign.pk).exists()


# --- quick replies ---------------------------------------------------------------------------


def test_supervisor_creates_an_inbox_reply_with_an_attachment(tenant, supervisor):
    inbox = make_inbox(tenant, name="Sales")
    upload = SimpleUploadedFile("prices.pdf", b"%PDF-1.4 prices", content_type="application/pdf")

    response = _client(supervisor).post(
        QUICK_REPLIES,
        {"shortcut": "prices", "text": "Our prices", "scope": "inbox", "inbox": inbox.pk, "attachment": upload},
    )

    assert response.status_code == 302
    reply = QuickReply.objects.get(tenant=tenant)
    assert (reply.shortcut, reply.text, reply.scope, reply.inbox_id, reply.owner_id) == (
        "prices",
        "Our prices",
        "inbox",
        inbox.pk,
        None,
    )
    assert reply.attachment.read() == b"%PDF-1.4 prices"
    listing = _client(supervisor).get(QUICK_REPLIES).content.decode()
    assert reply.attachment.url in listing and ">Sales</span>" in listing


def test_inbox_scope_without_an_inbox_is_a_form_error(tenant, supervisor):
    response = _client(supervisor).post(QUICK_REPLIES, {"shortcut": "hi", "text": "Hi", "scope": "inbox"})

    assert response.status_code == 400
    assert response.context["form"].errors == {"inbox": ["Choose the inbox that can use the quick reply."]}
    assert not QuickReply.objects.exists()


def test_attachment_of_a_wrong_type_is_a_form_error(tenant, supervisor):
    upload = SimpleUploadedFile("page.html", b"<script>", content_type="text/html")

    response = _client(supervisor).post(
        QUICK_REPLIES, {"shortcut": "hi", "text": "Hi", "scope": "tenant", "attachment": upload}
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "attachment": ["Attach a JPEG or PNG image, a PDF, an MP4 video or an OGG or MP3 audio file."]
    }
    assert not QuickReply.objects.exists()


def test_agent_can_only_create_personal_replies(tenant, agent):
    client = _client(agent)

    page = client.get(QUICK_REPLIES)
    assert page.status_code == 200
    assert page.context["form"].fields["scope"].choices == [("personal", "Only me")]
    assert "inbox" not in page.context["form"].fields

    refused = client.post(QUICK_REPLIES, {"shortcut": "hi", "text": "Hi", "scope": "tenant"})
    assert refused.status_code == 400
    assert not QuickReply.objects.exists()

    created = client.post(QUICK_REPLIES, {"shortcut": "hi", "text": "Hi", "scope": "personal"})
    assert created.status_code == 302
    reply = QuickReply.objects.get()
    assert (reply.scope, reply.owner_id) == ("personal", agent.user_id)


def test_agent_sees_shared_replies_read_only_and_only_their_own_personal_ones(tenant, owner, agent):
    inbox = make_inbox(tenant, members=[agent])
    hidden_inbox = make_inbox(tenant)
    shared = quick_reply_create(membership=owner, shortcut="hours", text="9 to 5")
    quick_reply_create(membership=owner, shortcut="sales", text="Sales", scope=Scope.INBOX, inbox=inbox)
    quick_reply_create(membership=owner, shortcut="secret", text="Other", scope=Scope.INBOX, inbox=hidden_inbox)
    quick_reply_create(membership=owner, shortcut="owners", text="Owner's own", scope=Scope.PERSONAL)
    mine = quick_reply_create(membership=agent, shortcut="mine", text="Mine", scope=Scope.PERSONAL)
    client = _client(agent)

    page = client.get(QUICK_REPLIES)

    rows = [(qr.shortcut, manageable) for qr, manageable in page.context["rows"]]
    assert rows == [("hours", False), ("mine", True), ("sales", False)]
    detail = client.get(f"{QUICK_REPLIES}{shared.pk}/")
    assert detail.status_code == 200
    assert detail.context["can_manage"] is False
    assert b"Save quick reply" not in detail.content
    assert client.get(f"{QUICK_REPLIES}{mine.pk}/").context["can_manage"] is True


def test_agent_cannot_change_or_delete_a_shared_reply(tenant, owner, agent):
    shared = quick_reply_create(membership=owner, shortcut="hours", text="9 to 5")
    audits = _audit_count(tenant)
    client = _client(agent)

    edit = client.post(f"{QUICK_REPLIES}{shared.pk}/", {"shortcut": "hours", "text": "Never", "scope": "personal"})
    delete = client.post(f"{QUICK_REPLIES}{shared.pk}/delete/")

    assert edit.status_code == 403
    assert delete.status_code == 302
    shared.refresh_from_db()
    assert (shared.text, shared.scope) == ("9 to 5", "tenant")
    assert _audit_count(tenant) == audits


@pytest.mark.parametrize("role", ["owner", "admin", "agent"])
def test_another_members_personal_reply_is_404(tenant, agent, role):
    reply = quick_reply_create(membership=agent, shortcut="mine", text="Mine", scope=Scope.PERSONAL)
    other = add_member(tenant, role)
    audits = _audit_count(tenant)
    client = _client(other)

    assert client.get(f"{QUICK_REPLIES}{reply.pk}/").status_code == 404
    assert (
        client.post(f"{QUICK_REPLIES}{reply.pk}/", {"shortcut": "x", "text": "x", "scope": "personal"}).status_code
        == 404
    )
    assert client.post(f"{QUICK_REPLIES}{reply.pk}/delete/").status_code == 404
    assert reply.pk not in [qr.pk for qr, _m in client.get(QUICK_REPLIES).context["rows"]]

    reply.refresh_from_db()
    assert (reply.shortcut, reply.text) == ("mine", "Mine")
    assert _audit_count(tenant) == audits


def test_agent_edits_and_deletes_their_personal_reply(tenant, agent):
    reply = quick_reply_create(membership=agent, shortcut="mine", text="Mine", scope=Scope.PERSONAL)
    client = _client(agent)

    edited = client.post(f"{QUICK_REPLIES}{reply.pk}/", {"shortcut": "ours", "text": "Edited", "scope": "personal"})
    assert edited.status_code == 302
    reply.refresh_from_db()
    assert (reply.shortcut, reply.text) == ("ours", "Edited")

    deleted = client.post(f"{QUICK_REPLIES}{reply.pk}/delete/")
    assert deleted.status_code == 302
    assert not QuickReply.objects.filter(pk=reply.pk).exists()


def test_duplicate_shortcut_is_a_form_error(tenant, supervisor):
    quick_reply_create(membership=supervisor, shortcut="hi", text="Hi")

    response = _client(supervisor).post(QUICK_REPLIES, {"shortcut": "hi", "text": "Again", "scope": "tenant"})

    assert response.status_code == 400
    assert response.context["form"].errors == {"shortcut": ["The shortcut /hi is already used in this workspace."]}
    assert QuickReply.objects.count() == 1


def test_quick_reply_of_another_workspace_is_404(tenant, other_tenant, supervisor):
    from tests.factories import owner_of

    foreign = quick_reply_create(membership=owner_of(other_tenant), shortcut="hi", text="Hi")
    client = _client(supervisor)

    assert client.get(f"{QUICK_REPLIES}{foreign.pk}/").status_code == 404
    assert client.post(f"{QUICK_REPLIES}{foreign.pk}/delete/").status_code == 404
    assert QuickReply.objects.filter(pk=foreign.pk).exists()


# --- availability ----------------------------------------------------------------------------


def test_availability_page_shows_own_and_teammates_availability(tenant, owner, agent):
    from tenants.models import Membership

    Membership.objects.filter(pk=owner.pk).update(availability="online")

    page = _client(agent).get(AVAILABILITY)

    assert page.status_code == 200
    assert page.context["form"].initial == {"availability": "offline"}
    assert {(m.user_id, m.availability) for m in page.context["members"]} == {
        (owner.user_id, "online"),
        (agent.user_id, "offline"),
    }


def test_member_sets_their_own_availability(tenant, agent, owner):
    response = _client(agent).post(AVAILABILITY, {"availability": "busy"})

    assert response.status_code == 302
    agent.refresh_from_db()
    owner.refresh_from_db()
    assert (agent.availability, owner.availability) == ("busy", "offline")
    entry = AuditLogEntry.objects.get(tenant=tenant, action=AuditLogEntry.Action.AVAILABILITY_CHANGED)
    assert (entry.actor_id, entry.extra) == (agent.user_id, {"from": "offline", "to": "busy"})


def test_unknown_availability_is_a_form_error(tenant, agent):
    audits = _audit_count(tenant)

    response = _client(agent).post(AVAILABILITY, {"availability": "away"})

    assert response.status_code == 400
    assert "availability" in response.context["form"].errors
    agent.refresh_from_db()
    assert agent.availability == "offline"
    assert _audit_count(tenant) == audits


def test_settings_navigation_follows_permissions(tenant, supervisor, agent):
    supervisor_nav = _client(supervisor).get(AVAILABILITY).content.decode()
    agent_nav = _client(agent).get(AVAILABILITY).content.decode()

    assert LABELS in supervisor_nav and QUICK_REPLIES in supervisor_nav
    assert LABELS not in agent_nav
    assert QUICK_REPLIES in agent_nav and AVAILABILITY in agent_nav


def test_another_workspaces_member_gets_404_on_these_pages(tenant, other_tenant):
    from tests.isolation import find_isolation_leaks

    leaks = find_isolation_leaks(victim=tenant, attacker=other_tenant)

    mine = ("/settings/labels/", "/settings/quick-replies/", "/settings/availability/")
    assert [leak for leak in leaks if any(part in leak for part in mine)] == []
    # The attacker's POSTs changed nothing: every sample made is still there, and only creations are logged.
    Action = AuditLogEntry.Action
    logged = AuditLogEntry.objects.filter(tenant=tenant)
    assert Label.objects.filter(tenant=tenant).count() == logged.filter(action=Action.LABEL_CREATED).count() >= 2
    assert (
        QuickReply.objects.filter(tenant=tenant).count()
        == logged.filter(action=Action.QUICK_REPLY_CREATED).count()
        >= 2
    )
    changed = [
        Action.LABEL_CHANGED,
        Action.LABEL_DELETED,
        Action.QUICK_REPLY_CHANGED,
        Action.QUICK_REPLY_DELETED,
        Action.AVAILABILITY_CHANGED,
    ]
    assert not logged.filter(action__in=changed).exists()
