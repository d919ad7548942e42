"""The fake's side of template authoring: the Resumable Upload API (a media header's sample), media headers that
must name an uploaded file of the right type, edits, pauses and quality ratings with Meta's webhooks."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import pytest

from whatsapp.fake import wait_for

if TYPE_CHECKING:
    from tests.whatsapp.fake_fixtures import FakeSetup

pytest_plugins = ["tests.whatsapp.fake_fixtures"]

APP_ID = "634974688087057"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200


def start_upload(fake: FakeSetup, **params: Any) -> Any:
    query = {"file_name": "promo.jpg", "file_length": str(len(JPEG)), "file_type": "image/jpeg", **params}
    return fake.graph.post(f"/{APP_ID}/uploads", params=query)


def upload(fake: FakeSetup, content: bytes = JPEG, file_type: str = "image/jpeg") -> str:
    session = start_upload(fake, file_length=str(len(content)), file_type=file_type).json()["id"]
    answer = fake.graph.post(f"/{session}", content=content, headers={"file_offset": "0"})
    assert answer.status_code == 200, answer.text
    return answer.json()["h"]


def image_template(handle: str, name: str = "summer_image") -> dict[str, Any]:
    return {
        "name": name,
        "language": "pt_BR",
        "category": "MARKETING",
        "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": [handle]}},
            {"type": "BODY", "text": "Nossa promoção de verão começou!"},
        ],
    }


def webhook_values(fake: FakeSetup, field: str) -> list[dict[str, Any]]:
    return [json.loads(w["body"])["entry"][0]["changes"][0]["value"] for w in fake.admin.webhooks(field=field)]


def test_resumable_upload_gives_a_session_then_a_handle_naming_the_files_type(fake: FakeSetup):
    started = start_upload(fake)

    assert started.status_code == 200
    session = started.json()["id"]
    assert list(started.json()) == ["id"]
    assert session.startswith("upload:") and "?sig=" in session
    assert base64.b64decode(session.removeprefix("upload:").split("?")[0] + "==").startswith(b"1:attachment:")

    sent = fake.graph.post(
        f"/{session}", content=JPEG, headers={"file_offset": "0", "Authorization": "OAuth EAAG-test-token"}
    )

    assert sent.status_code == 200
    handle = sent.json()["h"]
    assert list(sent.json()) == ["h"]
    assert handle.startswith("4::" + base64.b64encode(b"image/jpeg").decode() + ":")
    assert f":{APP_ID}:" in handle
    resumed = fake.graph.get(f"/{session}")
    assert resumed.json() == {"id": session, "file_offset": len(JPEG)}


@pytest.mark.parametrize(
    ("params", "details"),
    [
        (
            {"file_type": "image/gif"},
            "Param file_type must be one of {application/pdf, image/jpeg, image/jpg, image/png, video/mp4} "
            '- got "image/gif".',
        ),
        ({"file_length": "0"}, "Param file_length must be a positive integer."),
        (
            {"file_length": str(5 * 1024 * 1024 + 1)},
            "The file is too large: image/jpeg files may have at most 5242880 bytes.",
        ),
        ({"file_type": ""}, "The parameter file_type is required."),
    ],
)
def test_an_upload_session_of_a_wrong_type_or_size_is_refused(fake: FakeSetup, params: dict[str, str], details: str):
    answer = start_upload(fake, **params)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 100
    assert answer.json()["error"]["error_data"]["details"] == details


def test_upload_needs_the_offset_header_the_announced_length_and_the_sessions_token(fake: FakeSetup):
    session = start_upload(fake).json()["id"]

    no_offset = fake.graph.post(f"/{session}", content=JPEG)
    too_long = fake.graph.post(f"/{session}", content=JPEG + b"x", headers={"file_offset": "0"})
    stranger = fake.graph.post(
        f"/{session}", content=JPEG, headers={"file_offset": "0", "Authorization": "OAuth another-token"}
    )

    assert no_offset.json()["error"]["error_data"]["details"] == (
        "The file_offset header is required (0 for a new upload)."
    )
    assert too_long.json()["error"]["error_data"]["details"] == (
        f"The upload is longer than the file_length ({len(JPEG)}) announced for the session."
    )
    assert stranger.status_code == 401
    assert fake.graph.get(f"/{session}").json()["file_offset"] == 0


def test_a_media_header_must_name_an_uploaded_file_of_its_kind(fake: FakeSetup):
    handle = upload(fake)
    pdf_handle = upload(fake, b"%PDF-1.4 sample", "application/pdf")

    made = fake.graph.post(f"/{fake.waba_id}/message_templates", json=image_template(handle))
    unknown = fake.graph.post(f"/{fake.waba_id}/message_templates", json=image_template("4::bogus", "other"))
    wrong = fake.graph.post(f"/{fake.waba_id}/message_templates", json=image_template(pdf_handle, "other"))

    assert made.status_code == 200
    assert made.json()["status"] == "PENDING"
    assert unknown.json()["error"]["error_data"]["details"] == "The header_handle is not a valid uploaded file handle."
    assert wrong.json()["error"]["error_data"]["details"] == (
        "The file of header_handle (application/pdf) does not match the IMAGE header."
    )


def test_a_body_starting_with_a_variable_gets_2388299(fake: FakeSetup):
    body = {
        "name": "leading_variable",
        "language": "pt_BR",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "{{1}} chegou.", "example": {"body_text": [["Pedido"]]}}],
    }

    answer = fake.graph.post(f"/{fake.waba_id}/message_templates", json=body)

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["error_subcode"]) == (100, 2388299)
    assert error["error_user_msg"] == "Variables can't be at the start or end of the template."
    assert "leading_variable" not in [t["name"] for t in fake.admin.templates(fake.waba_id)]


def test_only_approved_rejected_or_paused_templates_can_be_edited(fake: FakeSetup):
    fake.admin.settings(review_delay_s=None)
    created = fake.graph.post(f"/{fake.waba_id}/message_templates", json=image_template(upload(fake))).json()
    components = [{"type": "BODY", "text": "Promoção de inverno!"}]

    pending = fake.graph.post(f"/{created['id']}", json={"components": components})
    fake.admin.reject_template(created["id"])
    edited = fake.graph.post(f"/{created['id']}", json={"components": components, "category": "UTILITY"})

    assert pending.json()["error"]["error_data"]["details"] == (
        "Message templates can only be edited when they are approved, rejected or paused; this one is PENDING."
    )
    assert edited.json() == {"success": True}
    stored = fake.graph.get(f"/{created['id']}").json()
    assert (stored["status"], stored["category"], stored["components"]) == ("PENDING", "UTILITY", components)


def test_pause_unpause_and_quality_send_metas_webhooks(fake: FakeSetup):
    template = next(t for t in fake.admin.templates(fake.waba_id) if t["name"] == "order_update")

    fake.admin.set_template_quality(template["id"], "RED")
    fake.admin.pause_template(template["id"], "FIRST_PAUSE")
    fake.admin.pause_template(template["id"], "UNPAUSE")

    wait_for(lambda: len(fake.sink.posts()) >= 3)
    quality = webhook_values(fake, "message_template_quality_update")
    assert quality == [
        {
            "previous_quality_score": "UNKNOWN",
            "new_quality_score": "RED",
            "message_template_id": int(template["id"]),
            "message_template_name": "order_update",
            "message_template_language": "pt_BR",
        }
    ]
    statuses = webhook_values(fake, "message_template_status_update")
    assert [(v["event"], v["reason"], v["other_info"]) for v in statuses] == [
        (
            "PAUSED",
            "NONE",
            {
                "title": "FIRST_PAUSE",
                "description": "Your message template has been paused for 3 hours due to low quality.",
            },
        ),
        ("REINSTATED", "NONE", {"title": "UNPAUSE", "description": "Your message template has been unpaused."}),
    ]
    assert fake.graph.get(f"/{template['id']}").json()["status"] == "APPROVED"
