"""Customer → business messages made by the fake (``POST /_fake/inbound``), compared with Meta's fixtures."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.whatsapp.fake_fixtures import FakeSetup

pytest_plugins = ["tests.whatsapp.fake_fixtures"]

PHOTO = base64.b64encode(b"\xff\xd8\xff\xe0photo").decode()
QUOTED = "wamid.HBgNNTUxMTk5OTk5MDAwMRUCABEYEjNEMUZEMTFBOTMwNzdBREQ2MAA="
# Keys our fake does not produce (business-scoped user ids, forwarded markers) or produces on top of older fixtures
# (the media ``url`` Meta added in 2025); dropped from both sides before comparing structures.
OPTIONAL_KEYS = {"user_id", "parent_user_id", "from_user_id", "context", "url"}


def without(value: Any, keys: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without(item, keys) for item in value]
    return value


DROP_USER_IDS = {"user_id", "parent_user_id"}
CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("inbound_text.json", {"type": "text", "text": "Does it come in another color?"}, set()),
    (
        "inbound_text_reply_context.json",
        {"type": "text", "text": "replied", "context_message_id": QUOTED},
        DROP_USER_IDS,
    ),
    (
        "raw_webhook_inbound_image_escaped.json",
        {"type": "image", "image": {"data": PHOTO, "mime_type": "image/jpeg", "caption": "Olá"}},
        {"user_id", "from_user_id"},
    ),
    (
        "inbound_image.json",
        {"type": "image", "image": {"data": PHOTO, "mime_type": "image/jpeg", "caption": "Taj"}},
        {"url"},
    ),
    (
        "inbound_document.json",
        {
            "type": "document",
            "document": {"data": PHOTO, "mime_type": "application/pdf", "caption": "c", "filename": "f.pdf"},
        },
        OPTIONAL_KEYS,
    ),
    (
        "inbound_audio_voice.json",
        {"type": "audio", "audio": {"data": PHOTO, "mime_type": "audio/ogg; codecs=opus", "voice": True}},
        OPTIONAL_KEYS,
    ),
    (
        "inbound_video.json",
        {"type": "video", "video": {"data": PHOTO, "mime_type": "video/mp4", "caption": "c"}},
        OPTIONAL_KEYS,
    ),
    (
        "inbound_sticker_static.json",
        {"type": "sticker", "sticker": {"data": PHOTO, "mime_type": "image/webp"}},
        OPTIONAL_KEYS,
    ),
    (
        "inbound_location.json",
        {
            "type": "location",
            "location": {
                "latitude": -23.56,
                "longitude": -46.65,
                "name": "Paulista",
                "address": "Av. Paulista, 1000",
                "url": "https://example.com/",
            },
        },
        set(),
    ),
    ("inbound_reaction.json", {"type": "reaction", "reaction": {"message_id": QUOTED, "emoji": "👍"}}, set()),
    (
        "inbound_interactive_button_reply.json",
        {
            "type": "button_reply",
            "button_reply": {"id": "cancel-button", "title": "Cancel", "context_message_id": QUOTED},
        },
        set(),
    ),
    (
        "inbound_interactive_list_reply.json",
        {
            "type": "list_reply",
            "list_reply": {
                "id": "priority_express",
                "title": "Priority Mail Express",
                "description": "Next Day",
                "context_message_id": QUOTED,
            },
        },
        set(),
    ),
    (
        "inbound_button_template_quick_reply.json",
        {
            "type": "button",
            "button": {"payload": "Unsubscribe", "text": "Unsubscribe", "context_message_id": QUOTED},
        },
        set(),
    ),
    (
        "inbound_contacts.json",
        {
            "type": "contacts",
            "contacts": [
                {
                    "name": {"first_name": "Lucía", "last_name": "Gómez", "formatted_name": "Lucía Gómez"},
                    "org": {"company": "Google"},
                    "phones": [{"phone": "+1 (983) 555-2319", "wa_id": "19835552319", "type": "MOBILE"}],
                }
            ],
        },
        set(),
    ),
]


def fixture_payload(fake: FakeSetup, name: str) -> Any:
    if name.startswith("raw_"):
        return json.loads(fake.fixtures.bytes(name))
    return fake.fixtures.json(name)


@pytest.mark.parametrize(("fixture_name", "request_body", "ignored"), CASES, ids=[c[0] for c in CASES])
def test_inbound_webhook_has_the_structure_of_metas_fixture(
    fake: FakeSetup, fixture_name: str, request_body: dict[str, Any], ignored: set[str]
):
    result = fake.admin.inbound(phone_number_id=fake.pnid, from_=fake.customer, name="Sheena Nelson", **request_body)

    received = fake.sink.wait_for_posts(1)[0].json()
    assert received == result["webhook"]
    expected = fixture_payload(fake, fixture_name)
    assert fake.fixtures.shape(without(received, ignored)) == fake.fixtures.shape(without(expected, ignored))
    value = received["entry"][0]["changes"][0]["value"]
    assert received["entry"][0]["id"] == fake.waba_id
    assert "time" not in received["entry"][0]
    assert value["metadata"] == {"display_phone_number": fake.display_number, "phone_number_id": fake.pnid}
    assert value["contacts"] == [{"profile": {"name": "Sheena Nelson"}, "wa_id": fake.customer}]
    message = value["messages"][0]
    assert (message["from"], message["id"], message["timestamp"]) == (
        fake.customer,
        result["wamid"],
        str(int(fake.clock())),
    )
    assert message["id"].startswith("wamid.")
    if "context_message_id" in str(request_body):
        assert message["context"] == {"from": fake.display_number, "id": QUOTED}


def test_each_inbound_message_gets_a_fresh_wamid(fake: FakeSetup):
    first = fake.admin.inbound(phone_number_id=fake.pnid, from_=fake.customer, type="text", text="1")
    second = fake.admin.inbound(phone_number_id=fake.pnid, from_=fake.customer, type="text", text="2")

    assert first["wamid"] != second["wamid"]
    assert [m["wamid"] for m in fake.admin.messages(direction="in")] == [first["wamid"], second["wamid"]]


def test_the_profile_name_is_remembered_for_later_messages(fake: FakeSetup):
    fake.admin.inbound(phone_number_id=fake.pnid, from_="+55 11 99999-0001", name="Ana", type="text", text="1")
    later = fake.admin.inbound(phone_number_id=fake.pnid, from_=fake.customer, type="text", text="2")

    assert later["webhook"]["entry"][0]["changes"][0]["value"]["contacts"][0] == {
        "profile": {"name": "Ana"},
        "wa_id": fake.customer,
    }


@pytest.mark.parametrize(
    ("body", "status_code"),
    [
        ({"phone_number_id": "404404", "from": "5511999990001", "type": "text", "text": "x"}, 404),
        ({"phone_number_id": "106540352242922", "from": "not a phone", "type": "text", "text": "x"}, 400),
        ({"phone_number_id": "106540352242922", "from": "5511999990001", "type": "text", "text": ""}, 400),
        ({"phone_number_id": "106540352242922", "from": "5511999990001", "type": "hologram"}, 400),
        (
            {"phone_number_id": "106540352242922", "from": "5511999990001", "type": "image", "image": {"data": "%%"}},
            400,
        ),
    ],
)
def test_bad_inbound_requests_are_refused_by_the_admin_api(fake: FakeSetup, body: dict[str, Any], status_code: int):
    response = fake.http.post("/_fake/inbound", json=body)

    assert response.status_code == status_code
    assert response.json()["error"]
    assert fake.sink.posts() == []
