"""The API's ``attachments[].url``: a download that works with the API token, behind the same checks as the page."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from conversations.models import Attachment, Conversation, Message
from tenants.permissions import Perm
from tenants.services import api_token_create
from tests.conversations.factories import make_conversation, make_inbox, make_role
from tests.factories import add_member, owner_of

pytestmark = pytest.mark.django_db

API = "/api/v1/t/acme"
PNG = b"\x89PNG\r\n\x1a\n comprovante"


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def _token_client(tenant, perms) -> Client:
    _token, raw = api_token_create(actor=owner_of(tenant), name="CRM", role=make_role(tenant, perms))
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _file_message(conversation: Conversation, *, content: bytes = PNG, private: bool = False, **fields: Any):
    message = Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        direction=Message.Direction.INBOUND if not private else Message.Direction.OUTBOUND,
        sender_type=Message.SenderType.CONTACT if not private else Message.SenderType.AGENT,
        type=Message.Type.IMAGE,
        private=private,
        status=Message.Status.RECEIVED if not private else Message.Status.SENT,
    )
    attachment = Attachment(
        tenant_id=conversation.tenant_id,
        message=message,
        kind="image",
        mime_type=fields.pop("mime_type", "image/png"),
        filename=fields.pop("filename", "comprovante.png"),
        download_status=fields.pop("download_status", Attachment.DownloadStatus.STORED),
    )
    if attachment.download_status == Attachment.DownloadStatus.STORED:
        attachment.file.save("file.bin", ContentFile(content), save=False)
        attachment.file_size = len(content)
    attachment.save()
    return attachment


@pytest.fixture
def conversation(tenant) -> Conversation:
    return make_conversation(make_inbox(tenant, name="Suporte"))


def _listed_url(client: Client, conversation: Conversation) -> str:
    response = client.get(f"{API}/conversations/{conversation.display_id}/messages/")
    assert response.status_code == 200, response.content
    [message] = response.json()["results"]
    [attachment] = message["attachments"]
    return attachment["url"]


def test_the_listed_url_downloads_the_exact_bytes_with_the_api_token(tenant, conversation):
    attachment = _file_message(conversation)
    client = _token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS])

    url = _listed_url(client, conversation)
    response = client.get(url)

    assert url == f"http://testserver{API}/attachments/{attachment.pk}/"
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert (response["Content-Type"], response["Content-Disposition"]) == (
        "image/png",
        'inline; filename="comprovante.png"',
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_a_file_a_browser_could_run_is_a_download_of_octet_stream(tenant, conversation):
    attachment = _file_message(
        conversation, content=b"<script>alert(1)</script>", mime_type="text/html", filename="x.html"
    )
    client = _token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS])

    response = client.get(f"{API}/attachments/{attachment.pk}/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"<script>alert(1)</script>"
    assert (response["Content-Type"], response["Content-Disposition"]) == (
        "application/octet-stream",
        'attachment; filename="x.html"',
    )


def test_a_member_signed_in_downloads_through_the_same_url(tenant, conversation):
    attachment = _file_message(conversation)
    client = Client()
    client.force_login(owner_of(tenant).user)

    url = _listed_url(client, conversation)
    response = client.get(url)

    assert url == f"http://testserver{API}/attachments/{attachment.pk}/"
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG


def test_another_workspaces_token_gets_404(tenant, other_tenant, conversation):
    attachment = _file_message(conversation)
    theirs = _token_client(other_tenant, [Perm.VIEW_ALL_CONVERSATIONS])

    under_ours = theirs.get(f"{API}/attachments/{attachment.pk}/")
    under_theirs = theirs.get(f"/api/v1/t/globex/attachments/{attachment.pk}/")

    assert (under_ours.status_code, under_theirs.status_code) == (404, 404)
    assert under_theirs.json() == {"error": {"code": "not_found", "message": "Not found.", "details": {}}}
    assert b"PNG" not in under_ours.content + under_theirs.content


@pytest.mark.parametrize(
    ("perms", "assigned"),
    [([], False), ([Perm.VIEW_UNASSIGNED], True), ([Perm.REPLY, Perm.SEND_TEMPLATES], False)],
    ids=["no-view-permission", "unassigned-only-and-it-is-assigned", "reply-without-view"],
)
def test_a_token_whose_role_cannot_see_the_conversation_gets_404(tenant, conversation, perms, assigned):
    if assigned:
        Conversation.objects.filter(pk=conversation.pk).update(assignee=add_member(tenant).user)
    attachment = _file_message(conversation)
    client = _token_client(tenant, perms)

    response = client.get(f"{API}/attachments/{attachment.pk}/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_token_that_sees_unassigned_conversations_downloads_from_one(tenant, conversation):
    attachment = _file_message(conversation)
    client = _token_client(tenant, [Perm.VIEW_UNASSIGNED])

    response = client.get(f"{API}/attachments/{attachment.pk}/")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG


def test_an_agent_gets_404_for_a_conversation_of_an_inbox_they_are_not_in(tenant, conversation):
    attachment = _file_message(conversation)
    outsider = add_member(tenant, "agent")
    client = Client()
    client.force_login(outsider.user)

    response = client.get(f"{API}/attachments/{attachment.pk}/")

    assert response.status_code == 404


@pytest.mark.parametrize("authorization", [None, "Bearer hd_00000000_notarealtokenbutlongenough", "Basic Zm9vOmJhcg=="])
def test_without_a_valid_token_the_file_is_not_served(conversation, authorization):
    attachment = _file_message(conversation)
    client = Client(HTTP_AUTHORIZATION=authorization) if authorization else Client()

    response = client.get(f"{API}/attachments/{attachment.pk}/")

    assert response.status_code == 401
    assert b"PNG" not in response.content


def test_a_private_notes_file_is_404_for_a_token_that_may_not_read_notes(tenant, conversation):
    attachment = _file_message(conversation, private=True)
    reader = _token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS])
    replier = _token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS, Perm.REPLY])

    hidden = reader.get(f"{API}/attachments/{attachment.pk}/")
    shown = replier.get(f"{API}/attachments/{attachment.pk}/")

    assert (hidden.status_code, shown.status_code) == (404, 200)
    assert b"".join(shown.streaming_content) == PNG


@pytest.mark.parametrize("download_status", [Attachment.DownloadStatus.PENDING, "failed"])
def test_a_file_not_stored_yet_has_no_url_and_answers_404(tenant, conversation, download_status):
    attachment = _file_message(conversation, download_status=download_status)
    client = _token_client(tenant, [Perm.VIEW_ALL_CONVERSATIONS])

    assert _listed_url(client, conversation) is None
    assert client.get(f"{API}/attachments/{attachment.pk}/").status_code == 404
