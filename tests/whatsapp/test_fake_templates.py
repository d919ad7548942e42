"""Templates on the fake: sending (132001 / 132000), creation → PENDING → APPROVED webhooks, the paginated list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from whatsapp.fake import wait_for

if TYPE_CHECKING:
    from tests.whatsapp.fake_fixtures import FakeSetup

pytest_plugins = ["tests.whatsapp.fake_fixtures"]


def order_update(*params: str, language: str = "pt_BR", name: str = "order_update") -> dict[str, Any]:
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if params:
        template["components"] = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}]
    return {"to": "5511999990001", "type": "template", "template": template}


def new_template(name: str = "shipping_notice", **overrides: Any) -> dict[str, Any]:
    return {
        "name": name,
        "language": "pt_BR",
        "category": "UTILITY",
        "components": [
            {"type": "BODY", "text": "Seu pedido {{1}} saiu para entrega.", "example": {"body_text": [["#1"]]}}
        ],
        **overrides,
    }


def template_webhooks(fake: FakeSetup) -> list[dict[str, Any]]:
    return [
        post.json()
        for post in fake.sink.posts()
        if post.json()["entry"][0]["changes"][0]["field"] == "message_template_status_update"
    ]


def test_an_approved_template_with_matching_parameters_is_accepted_and_rendered(fake: FakeSetup):
    response = fake.send(order_update("Maria", "#1234"))

    assert response.status_code == 200
    message = response.json()["messages"][0]
    assert message["message_status"] == "accepted"
    recorded = fake.admin.message(message["id"])
    assert recorded["rendered"]["body"].startswith("Olá Maria, o seu pedido #1234 foi atualizado.")
    statuses = fake.sink.wait_for_statuses(message["id"], ["sent", "delivered"])
    assert statuses[0]["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "type": "regular",
        "category": "utility",
    }


@pytest.mark.parametrize(
    ("body", "details"),
    [
        (
            order_update("Maria", "#1", name="no_such_template"),
            "template name (no_such_template) does not exist in pt_BR",
        ),
        (order_update("Maria", "#1", language="en_US"), "template name (order_update) does not exist in en_US"),
    ],
    ids=["unknown name", "unknown language"],
)
def test_unknown_template_or_language_gets_132001_with_http_404(fake: FakeSetup, body: dict[str, Any], details: str):
    response = fake.send(body)

    assert response.status_code == 404
    error = response.json()["error"]
    expected = fake.fixtures.json("error_132001.json")["error"]
    assert list(error) == list(expected)
    assert error["message"] == expected["message"]
    assert (error["code"], error["type"]) == (132001, "OAuthException")
    assert error["error_data"] == {"messaging_product": "whatsapp", "details": details}
    assert fake.admin.messages() == []


def test_a_template_still_pending_review_cannot_be_sent(fake: FakeSetup):
    fake.admin.settings(review_delay_s=None)
    fake.graph.post(f"/{fake.waba_id}/message_templates", json=new_template())

    template = {
        "name": "shipping_notice",
        "language": {"code": "pt_BR"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "#9"}]}],
    }

    response = fake.send({"to": fake.customer, "type": "template", "template": template})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == 132001


@pytest.mark.parametrize(("params", "provided"), [((), 0), (("Maria",), 1), (("Maria", "#1", "extra"), 3)])
def test_parameter_count_mismatch_gets_132000(fake: FakeSetup, params: tuple[str, ...], provided: int):
    response = fake.send(order_update(*params))

    assert response.status_code == 400
    error = response.json()["error"]
    expected = fake.fixtures.json("error_132000.json")["error"]
    assert error["message"] == expected["message"]
    assert error["code"] == 132000
    assert error["error_data"] == {
        "messaging_product": "whatsapp",
        "details": f"body: number of localizable_params ({provided}) does not match the expected number of params (2)",
    }


def test_hello_world_without_parameters_is_accepted(fake: FakeSetup):
    body = fake.fixtures.json("outbound_template_hello_world_request.json") | {"to": fake.customer}

    response = fake.graph.post(f"/{fake.pnid}/messages", json=body)

    assert response.status_code == 200
    assert fake.admin.message(response.json()["messages"][0]["id"])["rendered"]["header"]["text"] == "Hello World"


def test_created_template_is_pending_then_approved_with_a_status_webhook(fake: FakeSetup):
    response = fake.graph.post(f"/{fake.waba_id}/message_templates", json=new_template())

    assert response.status_code == 200
    created = response.json()
    assert list(created) == ["id", "status", "category"]
    assert created["status"] == "PENDING" and created["category"] == "UTILITY"
    assert created["id"].isdigit()
    webhook = wait_for(lambda: template_webhooks(fake))[0]
    expected = fake.fixtures.json("template_status_approved.json")
    assert fake.fixtures.shape(webhook) == fake.fixtures.shape(expected)
    value = webhook["entry"][0]["changes"][0]["value"]
    assert value == {
        "event": "APPROVED",
        "message_template_id": int(created["id"]),
        "message_template_name": "shipping_notice",
        "message_template_language": "pt_BR",
        "reason": "NONE",
        "message_template_category": "UTILITY",
    }
    assert webhook["entry"][0]["time"] == int(fake.clock())
    assert webhook["entry"][0]["id"] == fake.waba_id
    listed = fake.graph.get(f"/{fake.waba_id}/message_templates", params={"name": "shipping_notice"}).json()
    assert listed["data"][0]["status"] == "APPROVED"


def test_manual_review_approves_or_rejects_when_automatic_review_is_off(fake: FakeSetup):
    fake.admin.settings(review_delay_s=None)
    first = fake.graph.post(f"/{fake.waba_id}/message_templates", json=new_template("first_one")).json()
    second = fake.graph.post(f"/{fake.waba_id}/message_templates", json=new_template("second_one")).json()

    fake.admin.approve_template(first["id"])
    fake.admin.reject_template(
        second["id"], reason="INVALID_FORMAT", rejection_info={"reason": "x", "recommendation": "y"}
    )

    webhooks = wait_for(lambda: len(template_webhooks(fake)) == 2 and template_webhooks(fake))
    values = [w["entry"][0]["changes"][0]["value"] for w in webhooks]
    assert [(v["message_template_id"], v["event"], v["reason"]) for v in values] == [
        (int(first["id"]), "APPROVED", "NONE"),
        (int(second["id"]), "REJECTED", "INVALID_FORMAT"),
    ]
    assert values[1]["rejection_info"] == {"reason": "x", "recommendation": "y"}
    statuses = {t["name"]: t["status"] for t in fake.admin.templates(fake.waba_id)}
    assert (statuses["first_one"], statuses["second_one"]) == ("APPROVED", "REJECTED")


def test_creating_a_template_twice_in_one_language_is_refused(fake: FakeSetup):
    fake.graph.post(f"/{fake.waba_id}/message_templates", json=new_template())

    again = fake.graph.post(f"/{fake.waba_id}/message_templates", json=new_template())

    assert again.status_code == 400
    assert (again.json()["error"]["code"], again.json()["error"]["error_subcode"]) == (100, 2388024)


@pytest.mark.parametrize(
    ("overrides", "details"),
    [
        ({"name": "Bad Name"}, "lowercase alphanumeric"),
        ({"category": "SPAM"}, "Param category must be one of"),
        ({"components": [{"type": "FOOTER", "text": "x"}]}, "exactly one BODY"),
    ],
)
def test_invalid_template_definitions_get_code_100(fake: FakeSetup, overrides: dict[str, Any], details: str):
    response = fake.graph.post(f"/{fake.waba_id}/message_templates", json=new_template(**overrides))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100
    assert details in response.json()["error"]["error_data"]["details"]


def test_template_list_pages_with_cursors_and_next_only_while_more_exist(fake: FakeSetup):
    for index in range(4):
        fake.admin.add_template(waba_id=fake.waba_id, **new_template(f"extra_{index}"))  # 3 seeds + 4 = 7

    first = fake.graph.get(f"/{fake.waba_id}/message_templates", params={"limit": 3}).json()
    second = fake.graph.get(
        f"/{fake.waba_id}/message_templates", params={"limit": 3, "after": first["paging"]["cursors"]["after"]}
    ).json()
    third = fake.graph.get(
        f"/{fake.waba_id}/message_templates", params={"limit": 3, "after": second["paging"]["cursors"]["after"]}
    ).json()
    via_next = fake.http.get(first["paging"]["next"], headers={"Authorization": f"Bearer {fake.token}"}).json()

    assert [len(page["data"]) for page in (first, second, third)] == [3, 3, 1]
    assert set(first["paging"]["cursors"]) == {"before", "after"}
    assert "next" in first["paging"] and "next" in second["paging"] and "next" not in third["paging"]
    assert via_next == second
    names = [t["name"] for page in (first, second, third) for t in page["data"]]
    assert names == ["hello_world", "order_update", "appointment_reminder"] + [f"extra_{i}" for i in range(4)]
    assert set(first["data"][0]) == {"name", "components", "language", "status", "category", "id"}


def test_template_list_filters_and_fields(fake: FakeSetup):
    response = fake.graph.get(
        f"/{fake.waba_id}/message_templates", params={"language": "pt_BR", "fields": "name,status"}
    ).json()

    assert response["data"] == [
        {"name": "order_update", "status": "APPROVED", "id": response["data"][0]["id"]},
        {"name": "appointment_reminder", "status": "APPROVED", "id": response["data"][1]["id"]},
    ]
    assert "next" not in response["paging"]


def test_templates_of_another_waba_are_unknown_objects(fake: FakeSetup):
    response = fake.graph.get("/987654321/message_templates")

    assert response.status_code == 400
    assert response.json()["error"]["error_subcode"] == 33
