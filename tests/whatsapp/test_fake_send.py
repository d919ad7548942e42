"""POST /{version}/{phone-number-id}/messages on the fake: every message type, validation, auth and unknown ids."""

from __future__ import annotations

import base64
import copy
from typing import TYPE_CHECKING, Any

import pytest

from whatsapp.fake import wait_for

if TYPE_CHECKING:
    from tests.whatsapp.fake_fixtures import FakeSetup

pytest_plugins = ["tests.whatsapp.fake_fixtures"]

CUSTOMER = "5511999990001"
PNID = "106540352242922"
TOKEN = "EAAG-test-token"
MIME_BY_KIND = {
    "image": "image/jpeg",
    "audio": "audio/ogg",
    "video": "video/mp4",
    "document": "application/pdf",
    "sticker": "image/webp",
}
IMAGE_URL = "https://example.com/images/shrub.jpg"
DOCUMENT_URL = "https://example.com/docs/invoice.pdf"
VIDEO_URL = "https://example.com/videos/intro.mp4"


def outbound(name: str, fake: FakeSetup) -> dict[str, Any]:
    """A request fixture made sendable: our customer, real media ids and links, a valid Pix code."""
    body = copy.deepcopy(fake.fixtures.json(name))
    body["to"] = CUSTOMER
    body.setdefault("messaging_product", "whatsapp")
    kind = body.get("type", "text")
    node = body.get(kind)
    if kind in {"image", "audio", "video", "document", "sticker"}:
        if "id" in node:
            mime = MIME_BY_KIND[kind]
            node["id"] = fake.upload(b"media-bytes-" + kind.encode(), mime, f"file.{kind}")
        else:
            node["link"] = {"image": IMAGE_URL, "document": DOCUMENT_URL, "video": VIDEO_URL}[kind]
    if kind == "interactive":
        header = node.get("header") or {}
        if header.get("type") == "image" and "id" in header["image"]:
            header["image"]["id"] = fake.upload()
        parameters = node.get("action", {}).get("parameters", {})
        if "reference_id" in parameters:
            parameters["reference_id"] = "order-1234"
        for setting in parameters.get("payment_settings", []):
            if "pix_dynamic_code" in setting:
                setting["pix_dynamic_code"]["code"] = fake.fixtures.json("pix_brcode_examples.json")["examples"][1][
                    "payload"
                ]
    return body


SENDABLE = [
    "outbound_text_request.json",
    "outbound_text_preview_url_request.json",
    "outbound_text_reply_context_request.json",
    "outbound_image_by_id_request.json",
    "outbound_image_by_link_request.json",
    "outbound_audio_by_id_request.json",
    "outbound_document_by_id_request.json",
    "outbound_document_by_link_request.json",
    "outbound_video_by_link_request.json",
    "outbound_sticker_by_id_request.json",
    "outbound_location_request.json",
    "outbound_contacts_request.json",
    "outbound_reaction_request.json",
    "outbound_interactive_button_request.json",
    "outbound_interactive_button_request_meta.json",
    "outbound_interactive_list_request.json",
    "outbound_interactive_list_request_meta.json",
    "outbound_interactive_cta_url_request.json",
    "outbound_interactive_flow_request.json",
    "order_details_pix_request.json",
    "order_details_pix_simplified_request.json",
    "order_details_payment_link_request.json",
    "order_details_boleto_request.json",
    "order_details_offsite_card_pay_request.json",
    "order_details_india_upi_request.json",
    "order_status_br_request.json",
    "order_status_br_simplified_request.json",
    "order_status_india_request.json",
    "outbound_template_hello_world_request.json",
]


@pytest.mark.parametrize("fixture_name", SENDABLE)
def test_every_message_type_is_accepted_and_recorded_in_metas_shape(fake: FakeSetup, fixture_name: str):
    fake.open_window()
    body = outbound(fixture_name, fake)

    response = fake.graph.post(f"/{PNID}/messages", json=body)

    assert response.status_code == 200, response.text
    data = response.json()
    assert list(data) == ["messaging_product", "contacts", "messages"]
    assert data["messaging_product"] == "whatsapp"
    assert data["contacts"] == [{"input": CUSTOMER, "wa_id": CUSTOMER}]
    wamid = data["messages"][0]["id"]
    assert wamid.startswith("wamid.")
    assert CUSTOMER.encode() in base64.b64decode(wamid.removeprefix("wamid."))
    if body.get("type") == "template":
        assert data["messages"] == [{"id": wamid, "message_status": "accepted"}]
    else:
        assert data["messages"] == [{"id": wamid}]
    recorded = fake.admin.message(wamid)
    kind = body.get("type", "text")
    assert recorded["type"] == kind
    assert recorded["payload"][kind] == body[kind]
    assert recorded["direction"] == "out"
    assert recorded["to_input"] == CUSTOMER
    request = fake.admin.requests(path_contains="/messages")[-1]
    assert request["json"] == body
    assert request["authorization_present"] is True
    assert "authorization" not in request["headers"]
    assert TOKEN not in str(request)
    fake.sink.wait_for_statuses(wamid, ["sent", "delivered"])


def test_contacts_input_echoes_the_to_exactly_as_given_and_wa_id_is_digits(fake: FakeSetup):
    response = fake.send({"to": "+55 (11) 99999-0001", "type": "text", "text": {"body": "Oi"}})

    assert response.json()["contacts"] == [{"input": "+55 (11) 99999-0001", "wa_id": CUSTOMER}]


def test_any_graph_version_prefix_is_accepted(fake: FakeSetup):
    for version in ("v17.0", "v23.0", "v25.0", "v100.1"):
        response = fake.http.post(
            f"/{version}/{PNID}/messages",
            json={"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": version}},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert response.status_code == 200, (version, response.text)
    assert fake.http.post(f"/vX/{PNID}/messages", json={}).status_code == 404


def test_mark_as_read_and_typing_indicator_answer_success(fake: FakeSetup):
    inbound = fake.open_window()

    plain = fake.send({"status": "read", "message_id": inbound["wamid"]})
    typing = fake.send({"status": "read", "message_id": inbound["wamid"], "typing_indicator": {"type": "text"}})

    assert (plain.status_code, plain.json()) == (200, fake.fixtures.json("mark_as_read_response.json"))
    assert (typing.status_code, typing.json()) == (200, {"success": True})
    assert fake.admin.messages(direction="in")[0]["status"] == "read"
    assert fake.admin.messages() == []


def invalid_bodies() -> list[tuple[str, dict[str, Any], str]]:
    to = {"to": CUSTOMER}
    text = {**to, "type": "text", "text": {"body": "hi"}}

    def interactive(node: dict[str, Any]) -> dict[str, Any]:
        return {**to, "type": "interactive", "interactive": node}

    def buttons(*titles: str) -> dict[str, Any]:
        replies = [{"type": "reply", "reply": {"id": f"b{i}", "title": t}} for i, t in enumerate(titles)]
        return {"type": "button", "body": {"text": "Pick one"}, "action": {"buttons": replies}}

    rows = [{"id": f"r{i}", "title": f"Row {i}"} for i in range(11)]
    eleven_rows = {"type": "list", "body": {"text": "Pick"}, "action": {"button": "Go", "sections": [{"rows": rows}]}}
    return [
        (
            "missing messaging_product",
            {**text, "messaging_product": None},
            "The parameter messaging_product is required.",
        ),
        ("wrong messaging_product", {**text, "messaging_product": "sms"}, "Param messaging_product must be one of"),
        ("missing to", {"type": "text", "text": {"body": "hi"}}, "The parameter to is required."),
        ("bad to", {**text, "to": "call me"}, "Param to must be a valid phone number."),
        ("unknown type", {**text, "type": "hologram"}, "Param type must be one of"),
        ("missing node", {**to, "type": "image"}, "The parameter image is required."),
        ("text too long", {**text, "text": {"body": "x" * 4097}}, "text['body'] must be at most 4096 characters"),
        ("empty text", {**text, "text": {"body": ""}}, "text['body'] must be a non-empty string"),
        ("four buttons", interactive(buttons("A", "B", "C", "D")), "at most 3 elements"),
        ("button title too long", interactive(buttons("This title is far too long")), "at most 20 characters"),
        ("duplicate button titles", interactive(buttons("Same", "Same")), "must be unique"),
        ("eleven list rows", interactive(eleven_rows), "max allowed count: 10"),
        ("media without id or link", {**to, "type": "image", "image": {}}, "either id or link"),
        ("unknown media id", {**to, "type": "image", "image": {"id": "123"}}, "not a valid whatsapp business"),
        ("bad link", {**to, "type": "image", "image": {"link": "ftp://x/y.jpg"}}, "valid http(s) URL"),
        ("contact without name", {**to, "type": "contacts", "contacts": [{"phones": []}]}, "['name'] is required"),
        (
            "latitude out of range",
            {**to, "type": "location", "location": {"latitude": 91, "longitude": 0}},
            "between -90 and 90",
        ),
        (
            "template without language",
            {**to, "type": "template", "template": {"name": "hello_world"}},
            "The parameter template['language'] is required.",
        ),
        ("callback data too long", {**text, "biz_opaque_callback_data": "x" * 513}, "at most 512 characters"),
    ]


@pytest.mark.parametrize(("body", "details"), [c[1:] for c in invalid_bodies()], ids=[c[0] for c in invalid_bodies()])
def test_invalid_bodies_get_code_100_in_metas_exact_error_shape(fake: FakeSetup, body: dict[str, Any], details: str):
    payload = {"messaging_product": "whatsapp", **body}
    if payload["messaging_product"] is None:
        del payload["messaging_product"]

    response = fake.graph.post(f"/{PNID}/messages", json=payload)

    assert response.status_code == 400
    error = response.json()["error"]
    assert list(error) == ["message", "type", "code", "error_data", "fbtrace_id"]
    assert error["message"].startswith("(#100) ")
    assert error["type"] == "OAuthException"
    assert error["code"] == 100
    assert list(error["error_data"]) == ["messaging_product", "details"]
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert details in error["error_data"]["details"]
    assert isinstance(error["fbtrace_id"], str) and error["fbtrace_id"]
    assert fake.admin.messages() == []


def test_order_details_with_wrong_totals_or_a_bad_pix_crc_are_rejected(fake: FakeSetup):
    wrong_total = outbound("order_details_pix_request.json", fake)
    wrong_total["interactive"]["action"]["parameters"]["total_amount"]["value"] = 49999
    bad_crc = outbound("order_details_pix_request.json", fake)
    settings = bad_crc["interactive"]["action"]["parameters"]["payment_settings"][0]["pix_dynamic_code"]
    settings["code"] = settings["code"][:-4] + "0000"

    first = fake.graph.post(f"/{PNID}/messages", json=wrong_total)
    second = fake.graph.post(f"/{PNID}/messages", json=bad_crc)

    assert first.status_code == second.status_code == 400
    assert "must equal subtotal + tax + shipping - discount" in first.json()["error"]["error_data"]["details"]
    assert "CRC16" in second.json()["error"]["error_data"]["details"]


def test_body_that_is_not_json_gets_code_100(fake: FakeSetup):
    response = fake.graph.post(f"/{PNID}/messages", content=b"{not json", headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic abc"])
def test_missing_or_wrong_bearer_token_gets_401_code_190(fake: FakeSetup, authorization: str | None):
    headers = {"Authorization": authorization} if authorization else {}

    response = fake.http.post(
        f"/v23.0/{PNID}/messages",
        json={"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "hi"}},
        headers=headers,
    )

    assert response.status_code == 401
    error = response.json()["error"]
    expected = fake.fixtures.json("error_190_invalid_oauth_token_463.json")["error"]
    assert {k: v for k, v in error.items() if k != "fbtrace_id"} == {
        k: v for k, v in expected.items() if k != "fbtrace_id"
    }
    assert "invalid_token" in response.headers["www-authenticate"]
    assert fake.admin.messages() == []


def test_unknown_phone_number_id_gets_400_code_100_subcode_33(fake: FakeSetup):
    response = fake.graph.post("/999000111/messages", json={"messaging_product": "whatsapp"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert list(error) == ["message", "type", "code", "error_subcode", "fbtrace_id"]
    assert (error["type"], error["code"], error["error_subcode"]) == ("GraphMethodException", 100, 33)
    assert error["message"] == (
        "Unsupported post request. Object with ID '999000111' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api"
    )
    assert b"https:\\/\\/developers.facebook.com\\/docs\\/graph-api" in response.content


def test_a_token_of_another_number_cannot_send_from_this_one(fake: FakeSetup):
    fake.admin.register_number(
        phone_number_id="200000000000001",
        display_phone_number="5511900000002",
        waba_id="300000000000001",
        access_token="other-token",
        app_secret="other",
    )

    response = fake.http.post(
        f"/v23.0/{PNID}/messages",
        json={"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "hi"}},
        headers={"Authorization": "Bearer other-token"},
    )

    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["error_subcode"]) == (100, 33)


def test_sending_to_the_business_own_number_is_refused_with_131021(fake: FakeSetup):
    response = fake.send({"to": "+1 555 078 3881", "type": "text", "text": {"body": "me"}})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 131021


def test_phone_number_endpoint_answers_in_metas_shape(fake: FakeSetup):
    response = fake.graph.get(f"/{PNID}")
    only_throughput = fake.graph.get(f"/{PNID}", params={"fields": "throughput"})

    assert response.status_code == 200
    assert list(response.json()) == list(fake.fixtures.json("phone_number_get_response.json"))
    assert response.json()["platform_type"] == "CLOUD_API"
    assert response.json()["id"] == PNID
    assert only_throughput.json() == {"throughput": {"level": "STANDARD"}, "id": PNID}


def test_business_profile_round_trips(fake: FakeSetup):
    update = fake.fixtures.json("business_profile_update_request.json")

    posted = fake.graph.post(f"/{PNID}/whatsapp_business_profile", json=update)
    got = fake.graph.get(f"/{PNID}/whatsapp_business_profile", params={"fields": "about,websites,vertical"})

    assert posted.json() == {"success": True}
    profile = got.json()["data"][0]
    assert profile["messaging_product"] == "whatsapp"
    assert profile["about"] == update["about"]
    assert profile["vertical"] == update["vertical"]


def test_status_webhooks_of_a_send_are_recorded_on_the_message(fake: FakeSetup):
    fake.open_window()
    wamid = fake.send({"to": CUSTOMER, "type": "text", "text": {"body": "hi"}}).json()["messages"][0]["id"]

    wait_for(lambda: fake.admin.message(wamid)["status"] == "delivered")

    history = [h["status"] for h in fake.admin.message(wamid)["status_history"]]
    assert history == ["accepted", "sent", "delivered"]
