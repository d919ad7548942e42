"""Media on the fake: multipart upload, retrieve URL, two-hop download with the bearer, URL expiry, delete."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.whatsapp.fake_fixtures import FakeSetup

pytest_plugins = ["tests.whatsapp.fake_fixtures"]

PNG = b"\x89PNG\r\n\x1a\n" + b"not really a png, but bytes are bytes" * 10


def test_upload_retrieve_and_download_with_the_bearer(fake: FakeSetup):
    media_id = fake.upload(PNG, "image/png", "shrub.png")

    info = fake.graph.get(f"/{media_id}")
    download = fake.http.get(info.json()["url"], headers={"Authorization": f"Bearer {fake.token}"})

    assert media_id.isdigit()
    assert info.status_code == 200
    data = info.json()
    assert list(data) == ["messaging_product", "url", "mime_type", "sha256", "file_size", "id"]
    assert data == {
        "messaging_product": "whatsapp",
        "url": data["url"],
        "mime_type": "image/png",
        "sha256": hashlib.sha256(PNG).hexdigest(),
        "file_size": len(PNG),
        "id": media_id,
    }
    assert data["url"].startswith(f"{fake.base_url}/_media/")
    assert f"mid={media_id}" in data["url"]
    assert b"\\/_media\\/" in info.content  # Graph responses are escaped like webhooks
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["content-type"] == "image/png"


def test_upload_is_recorded_with_its_form_fields(fake: FakeSetup):
    fake.upload(PNG, "image/png", "shrub.png")

    recorded = fake.admin.requests(path_contains="/media")[-1]

    assert recorded["form"]["messaging_product"] == "whatsapp"
    assert recorded["form"]["type"] == "image/png"
    assert recorded["form"]["file"] == {"filename": "shrub.png", "content_type": "image/png", "size": len(PNG)}
    assert recorded["authorization_present"] is True


def test_download_without_or_with_a_wrong_bearer_is_refused(fake: FakeSetup):
    url = fake.graph.get(f"/{fake.upload()}").json()["url"]

    anonymous = fake.http.get(url)
    wrong = fake.http.get(url, headers={"Authorization": "Bearer nope"})

    assert anonymous.status_code == 401
    assert wrong.status_code == 401
    assert anonymous.json()["error"]["code"] == 190


def test_media_url_expires_after_five_minutes_of_fake_time(fake: FakeSetup):
    media_id = fake.upload()
    url = fake.graph.get(f"/{media_id}").json()["url"]
    auth = {"Authorization": f"Bearer {fake.token}"}

    fake.clock.advance(299)
    still_valid = fake.http.get(url, headers=auth)
    fake.clock.advance(2)
    expired = fake.http.get(url, headers=auth)
    fresh = fake.http.get(fake.graph.get(f"/{media_id}").json()["url"], headers=auth)

    assert still_valid.status_code == 200
    assert expired.status_code == 404
    assert fresh.status_code == 200


def test_deleted_media_is_an_unknown_object(fake: FakeSetup):
    media_id = fake.upload()
    url = fake.graph.get(f"/{media_id}").json()["url"]

    deleted = fake.graph.delete(f"/{media_id}")
    again = fake.graph.get(f"/{media_id}")
    download = fake.http.get(url, headers={"Authorization": f"Bearer {fake.token}"})

    assert (deleted.status_code, deleted.json()) == (200, fake.fixtures.json("media_delete_response.json"))
    assert again.status_code == 400
    error = again.json()["error"]
    assert (error["code"], error["error_subcode"], error["type"]) == (100, 33, "GraphMethodException")
    assert error["message"].startswith(f"Unsupported get request. Object with ID '{media_id}' does not exist")
    assert download.status_code == 404


def test_media_of_another_number_cannot_be_read(fake: FakeSetup):
    media_id = fake.upload()
    fake.admin.register_number(
        phone_number_id="200000000000001",
        display_phone_number="5511900000002",
        waba_id="300000000000001",
        access_token="other-token",
    )

    response = fake.http.get(f"/v23.0/{media_id}", headers={"Authorization": "Bearer other-token"})

    assert (response.status_code, response.json()["error"]["error_subcode"]) == (400, 33)


def test_upload_validation_errors_use_code_100(fake: FakeSetup):
    no_product = fake.graph.post(f"/{fake.pnid}/media", data={"type": "image/png"}, files={"file": ("a.png", PNG)})
    no_file = fake.graph.post(f"/{fake.pnid}/media", data={"messaging_product": "whatsapp", "type": "image/png"})
    bad_type = fake.graph.post(
        f"/{fake.pnid}/media",
        data={"messaging_product": "whatsapp", "type": "application/x-msdownload"},
        files={"file": ("a.exe", b"MZ", "application/x-msdownload")},
    )

    assert [r.status_code for r in (no_product, no_file, bad_type)] == [400, 400, 400]
    assert no_product.json()["error"]["message"] == "(#100) The parameter messaging_product is required."
    assert no_file.json()["error"]["message"] == "(#100) The parameter file is required."
    assert (
        "Param file must be a file with one of the following types" in bad_type.json()["error"]["error_data"]["details"]
    )


def test_inbound_media_is_downloadable_and_its_webhook_sha256_is_base64(fake: FakeSetup):
    content = b"\xff\xd8\xff\xe0customer photo"

    result = fake.admin.inbound(
        phone_number_id=fake.pnid,
        from_=fake.customer,
        name="Cliente",
        type="image",
        image={"data": base64.b64encode(content).decode(), "mime_type": "image/jpeg"},
    )
    node = result["webhook"]["entry"][0]["changes"][0]["value"]["messages"][0]["image"]
    info = fake.graph.get(f"/{node['id']}").json()
    via_webhook_url = fake.http.get(node["url"], headers={"Authorization": f"Bearer {fake.token}"})
    via_graph_url = fake.http.get(info["url"], headers={"Authorization": f"Bearer {fake.token}"})

    assert node["id"] == result["media_id"]
    assert node["sha256"] == base64.b64encode(hashlib.sha256(content).digest()).decode()
    assert info["sha256"] == hashlib.sha256(content).hexdigest()
    assert "source=webhook" in node["url"]
    assert via_webhook_url.content == via_graph_url.content == content
