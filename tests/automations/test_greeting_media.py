"""A greeting or away message with a file: an admin sets it on the page or through the API, the customer
gets the file with the wording as its caption, and what WhatsApp would refuse (a type, a size, a caption
too long) is refused before anything is saved."""

from __future__ import annotations

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from automations.greeting_media import greeting_media_set, media_describe
from automations.greeting_services import GreetingSpec, greeting_settings_update
from automations.models import AutomatedMessage, GreetingSettings
from conversations.models import Attachment, Message
from helpdesk.exceptions import NotFound, PermissionDenied, ValidationFailed
from tenants.models import AuditLogEntry
from tenants.permissions import Perm
from tests.automations.conftest import AWAY, GREETING
from tests.automations.factories import signed_in, token_client
from tests.factories import add_member
from tests.whatsapp.conftest import make_channel

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def png(name: str = "welcome.png", content: bytes = PNG, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def _state(inbox) -> tuple:
    row = GreetingSettings.objects.filter(inbox=inbox).first()
    return (
        None if row is None else (row.greeting_media.name, row.away_media.name),
        AuditLogEntry.objects.filter(action="greeting_settings.changed").count(),
    )


# --- the service --------------------------------------------------------------------------------------


def test_a_file_is_stored_described_and_audited_then_removed(
    tenant, admin, channel, django_capture_on_commit_callbacks
):
    row = greeting_media_set(actor=admin, inbox=channel.inbox, kind="greeting", upload=png())

    stored = row.greeting_media.name
    assert os.path.basename(stored) == "welcome.png"
    assert row.away_media.name == ""
    assert media_describe(row, "greeting") == {"filename": "welcome.png", "kind": "image", "size": len(PNG)}
    assert media_describe(row, "away") is None
    entry = AuditLogEntry.objects.get(action="greeting_settings.changed")
    assert entry.extra == {"inbox_id": channel.inbox_id, "changes": {"greeting_media": ["", "welcome.png"]}}
    storage = row.greeting_media.storage
    assert storage.exists(stored)

    with django_capture_on_commit_callbacks(execute=True):
        row = greeting_media_set(actor=admin, inbox=channel.inbox, kind="greeting", upload=None)

    assert row.greeting_media.name == ""
    assert not storage.exists(stored)
    entries = AuditLogEntry.objects.filter(action="greeting_settings.changed").order_by("id")
    assert [e.extra["changes"] for e in entries] == [
        {"greeting_media": ["", "welcome.png"]},
        {"greeting_media": ["welcome.png", ""]},
    ]


def test_removing_a_file_the_message_does_not_have_writes_nothing(tenant, admin, channel):
    greeting_media_set(actor=admin, inbox=channel.inbox, kind="away", upload=None)

    assert not AuditLogEntry.objects.filter(action="greeting_settings.changed").exists()


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (png("notes.txt", b"hello", "text/plain"), "Attach a JPEG or PNG image, an MP4 video or a PDF."),
        (png("setup.png", PNG, "application/x-msdownload"), "Attach a JPEG or PNG image, an MP4 video or a PDF."),
        (png("photo.png", PNG, "application/pdf"), "Attach a JPEG or PNG image, an MP4 video or a PDF."),
        (png("voice.ogg", b"OggS", "audio/ogg"), "Attach a JPEG or PNG image, an MP4 video or a PDF."),
        (png("big.png", b"\x00" * (5 * 1024 * 1024 + 1)), "The file is larger than 5 MB."),
    ],
    ids=["text", "declared-executable", "kinds-disagree", "audio-has-no-caption", "image-over-5-mb"],
)
def test_what_whatsapp_would_refuse_is_refused_with_the_field_and_nothing_is_saved(
    tenant, admin, channel, upload, message
):
    with pytest.raises(ValidationFailed) as refused:
        greeting_media_set(actor=admin, inbox=channel.inbox, kind="greeting", upload=upload)

    assert refused.value.message == message
    assert refused.value.details["field"] == "greeting_media"
    assert _state(channel.inbox) == (None, 0)


def test_a_pdf_of_up_to_16_mb_is_taken_as_a_document(tenant, admin, channel):
    row = greeting_media_set(
        actor=admin, inbox=channel.inbox, kind="away", upload=png("prices.pdf", PDF, "application/pdf")
    )

    assert media_describe(row, "away") == {"filename": "prices.pdf", "kind": "document", "size": len(PDF)}


def test_a_wording_too_long_for_a_caption_and_a_file_do_not_go_together(tenant, admin, channel):
    long = "a" * 1025
    greeting_settings_update(actor=admin, inbox=channel.inbox, spec=GreetingSpec(greeting_texts={"en": long}))
    before = _state(channel.inbox)

    with pytest.raises(ValidationFailed) as refused:
        greeting_media_set(actor=admin, inbox=channel.inbox, kind="greeting", upload=png())

    assert refused.value.message == "With a file, the wording is its caption: at most 1024 characters."
    assert (refused.value.details["field"], refused.value.details["language"]) == ("greeting_media", "en")
    assert _state(channel.inbox) == before

    # And the other way round: a file first, then a wording longer than its caption may be.
    greeting_settings_update(actor=admin, inbox=channel.inbox, spec=GreetingSpec(greeting_texts={"en": "Hi"}))
    greeting_media_set(actor=admin, inbox=channel.inbox, kind="greeting", upload=png())
    with pytest.raises(ValidationFailed) as refused:
        greeting_settings_update(actor=admin, inbox=channel.inbox, spec=GreetingSpec(greeting_texts={"en": long}))
    assert refused.value.details["field"] == "greeting_texts"


def test_an_agent_or_another_workspace_cannot_set_a_file(tenant, agent, other_tenant, channel):
    intruder = add_member(other_tenant, "admin")

    with pytest.raises(PermissionDenied):
        greeting_media_set(actor=agent, inbox=channel.inbox, kind="greeting", upload=png())
    with pytest.raises(NotFound):
        greeting_media_set(actor=intruder, inbox=channel.inbox, kind="greeting", upload=png())

    assert _state(channel.inbox) == (None, 0)


# --- what the customer gets ---------------------------------------------------------------------------


def test_the_greeting_goes_out_as_the_image_with_its_wording_as_the_caption_once(
    tenant, admin, channel, clock, sends, configure, customer_writes
):
    configure(greeting_enabled=True)
    greeting_media_set(actor=admin, inbox=channel.inbox, kind="greeting", upload=png())

    first = customer_writes("Oi")
    customer_writes("Alguém aí?")

    sent = Message.objects.get(conversation=first.conversation, sender_type="bot")
    assert (sent.type, sent.text, sent.sender_label) == ("image", "Hi Maria, welcome to Support!", "Greeting")
    attachment = Attachment.objects.get(message=sent)
    assert (attachment.kind, attachment.mime_type, attachment.filename, attachment.file_size) == (
        "image",
        "image/png",
        "welcome.png",
        len(PNG),
    )
    with attachment.file.open("rb") as handle:
        assert handle.read() == PNG
    # The message keeps its own copy: the settings' file is another.
    assert attachment.file.name != GreetingSettings.objects.get(inbox=channel.inbox).greeting_media.name
    assert sends.message_ids == [sent.pk]
    assert AutomatedMessage.objects.filter(kind="greeting").count() == 1


def test_the_away_message_without_a_file_stays_text_when_only_the_greeting_has_one(
    tenant, admin, channel, clock, sends, configure, office_hours, customer_writes
):
    configure(greeting_enabled=True, away_enabled=True)
    greeting_media_set(actor=admin, inbox=channel.inbox, kind="greeting", upload=png())

    first = customer_writes("Oi")

    bots = Message.objects.filter(conversation=first.conversation, sender_type="bot").order_by("id")
    assert [(m.type, m.sender_label) for m in bots] == [("image", "Greeting"), ("text", "Away message")]


# --- the page -----------------------------------------------------------------------------------------


def _form(**extra) -> dict:
    data = {
        "greeting_enabled": "on",
        "greeting_when": "first_ever",
        "greeting_after_days": "30",
        "away_every_hours": "4",
        "away_agent_quiet_minutes": "15",
        "greeting_text_en": GREETING["en"],
        "greeting_text_pt-br": GREETING["pt-br"],
        "away_text_en": AWAY["en"],
        "away_text_pt-br": AWAY["pt-br"],
        "save": "1",
    }
    return {**data, **extra}


def test_an_admin_uploads_a_file_on_the_page_sees_it_and_sends_without_it_again(tenant, admin, channel):
    client = signed_in(admin)
    page = f"/t/acme/settings/greeting-away/{channel.inbox_id}/"

    response = client.post(page, _form(greeting_media=png("menu.png")))

    assert response.status_code == 302
    row = GreetingSettings.objects.get(inbox=channel.inbox)
    assert (os.path.basename(row.greeting_media.name), row.greeting_enabled) == ("menu.png", True)
    shown = client.get(page).content.decode()
    assert f"Now sent with menu.png ({len(PNG)}\xa0bytes)." in shown
    assert 'name="greeting_media_clear"' in shown
    assert 'name="away_media_clear"' not in shown

    response = client.post(page, _form(greeting_media_clear="on"))

    assert response.status_code == 302
    assert GreetingSettings.objects.get(inbox=channel.inbox).greeting_media.name == ""


def test_a_refused_file_on_the_page_saves_nothing_of_the_form(tenant, admin, channel):
    client = signed_in(admin)
    page = f"/t/acme/settings/greeting-away/{channel.inbox_id}/"

    response = client.post(page, _form(greeting_media=png("notes.txt", b"hi", "text/plain")))

    assert response.status_code == 400
    assert "Attach a JPEG or PNG image, an MP4 video or a PDF." in response.content.decode()
    # The wording and the switch were valid, but the form is saved whole or not at all.
    assert not GreetingSettings.objects.filter(inbox=channel.inbox, greeting_enabled=True).exists()
    assert not AuditLogEntry.objects.filter(action__startswith="greeting_settings.").exists()
    assert not AuditLogEntry.objects.filter(action__startswith="customer_text.").exists()


# --- the API ------------------------------------------------------------------------------------------


def _file_url(inbox, kind: str = "greeting", slug: str = "acme") -> str:
    return f"/api/v1/t/{slug}/greeting-away/{inbox.pk}/{kind}/file/"


def test_the_api_sets_shows_and_removes_a_file(tenant, admin, channel):
    client = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])

    response = client.post(_file_url(channel.inbox, "away"), {"file": png("closed.png")})

    assert response.status_code == 200
    assert response.json()["away"]["file"] == {"filename": "closed.png", "kind": "image", "size": len(PNG)}
    assert response.json()["greeting"]["file"] is None
    listed = client.get("/api/v1/t/acme/greeting-away/").json()
    assert [item["away"]["file"]["filename"] for item in listed] == ["closed.png"]

    response = client.delete(_file_url(channel.inbox, "away"))

    assert response.status_code == 200
    assert response.json()["away"]["file"] is None
    assert GreetingSettings.objects.get(inbox=channel.inbox).away_media.name == ""


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("greeting", {}, None),
        ("greeting", {"file": ("x", "notes.txt")}, "Attach a JPEG or PNG image, an MP4 video or a PDF."),
        ("welcome", {"file": ("x", "welcome.png")}, "Unknown message “welcome”: greeting or away."),
    ],
    ids=["no-file", "wrong-type", "unknown-kind"],
)
def test_the_api_refuses_bad_uploads_with_400_and_saves_nothing(tenant, admin, channel, kind, data, message):
    client = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])
    body = {}
    if data:
        name = data["file"][1]
        body["file"] = png(name, PNG, "text/plain" if name.endswith(".txt") else "image/png")

    response = client.post(_file_url(channel.inbox, kind), body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    if message:
        assert error["message"] == message
    assert _state(channel.inbox) == (None, 0)


def test_the_api_gives_404_for_another_workspaces_inbox_and_403_without_the_permission(
    tenant, admin, other_tenant, channel
):
    other_inbox = make_channel(other_tenant, phone_number_id="999000111").inbox
    allowed = token_client(tenant, [Perm.MANAGE_AUTOMATIONS])
    denied = token_client(tenant, [Perm.REPLY])

    assert allowed.post(_file_url(other_inbox), {"file": png()}).status_code == 404
    assert allowed.delete(_file_url(other_inbox)).status_code == 404
    assert denied.post(_file_url(channel.inbox), {"file": png()}).status_code == 403
    assert denied.delete(_file_url(channel.inbox)).status_code == 403
    assert _state(channel.inbox) == (None, 0)
    assert _state(other_inbox) == (None, 0)
