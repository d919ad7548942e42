"""Catalog management on the fake Cloud API (COMMERCE.md §1, §4, §6.1-6.4): the catalog linked to a WABA, commerce
settings, products, items_batch and its status, each answer checked against the contract's fixtures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from whatsapp.fake import wait_for

if TYPE_CHECKING:
    from tests.whatsapp.fake_fixtures import FakeSetup

pytest_plugins = ["tests.whatsapp.fake_fixtures"]

OTHER_TOKEN = "EAAG-other-business"
OTHER_WABA = "333333333333333"


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["error"]


def assert_unknown_object(response: httpx.Response, object_id: str) -> None:
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["error_subcode"], error["type"]) == (100, 33, "GraphMethodException")
    assert f"Object with ID '{object_id}' does not exist" in error["message"]


@pytest.fixture
def catalog_id(fake: FakeSetup) -> str:
    fake.admin.settings(catalog_batch_delay_s=0)
    return fake.admin.catalog_create("Loja Exemplo - catálogo", waba_id=fake.waba_id)


@pytest.fixture
def other_business(fake: FakeSetup) -> Iterator[httpx.Client]:
    fake.admin.register_number(
        phone_number_id="444444444444444",
        display_phone_number="5511900000044",
        waba_id=OTHER_WABA,
        access_token=OTHER_TOKEN,
    )
    client = httpx.Client(
        base_url=f"{fake.base_url}/v23.0", headers={"Authorization": f"Bearer {OTHER_TOKEN}"}, trust_env=False
    )
    yield client
    client.close()


def linked(fake: FakeSetup, catalog_id: str) -> None:
    response = fake.graph.post(f"/{fake.waba_id}/product_catalogs", data={"catalog_id": catalog_id})
    assert response.status_code == 200, response.text


def product_request(fake: FakeSetup, **changes: Any) -> dict[str, Any]:
    return {**fake.fixtures.json("commerce_catalog_product_create_request.json"), **changes}


# --- WABA <-> catalog ---------------------------------------------------------------------------------------


def test_no_catalog_linked_lists_empty_data(fake: FakeSetup, catalog_id: str) -> None:
    response = fake.graph.get(f"/{fake.waba_id}/product_catalogs")
    assert response.status_code == 200
    assert response.json() == {"data": []}


def test_linking_a_catalog_answers_success_and_lists_it_like_the_fixture(fake: FakeSetup, catalog_id: str) -> None:
    response = fake.graph.post(f"/{fake.waba_id}/product_catalogs", data={"catalog_id": catalog_id})
    assert response.json() == fake.fixtures.json("commerce_waba_product_catalogs_post_response.json")
    listed = fake.graph.get(f"/{fake.waba_id}/product_catalogs").json()
    expected = fake.fixtures.json("commerce_waba_product_catalogs_get_response.json")
    assert fake.fixtures.shape(listed) == fake.fixtures.shape(expected)
    assert listed["data"] == [{"id": catalog_id, "name": "Loja Exemplo - catálogo"}]
    assert fake.server.state.waba_catalog(fake.waba_id) == catalog_id


def test_linking_takes_the_catalog_id_as_json_or_query_too_and_again_is_harmless(
    fake: FakeSetup, catalog_id: str
) -> None:
    assert fake.graph.post(f"/{fake.waba_id}/product_catalogs", json={"catalog_id": catalog_id}).json() == {
        "success": True
    }
    again = fake.graph.post(f"/{fake.waba_id}/product_catalogs", params={"catalog_id": catalog_id})
    assert again.json() == {"success": True}
    assert len(fake.graph.get(f"/{fake.waba_id}/product_catalogs").json()["data"]) == 1


def test_a_second_catalog_is_refused_and_the_first_stays(fake: FakeSetup, catalog_id: str) -> None:
    linked(fake, catalog_id)
    second = fake.admin.catalog_create("Outra", waba_id=fake.waba_id)
    response = fake.graph.post(f"/{fake.waba_id}/product_catalogs", data={"catalog_id": second})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == 100
    assert "only one catalog can be connected" in error["error_data"]["details"]
    assert fake.server.state.waba_catalog(fake.waba_id) == catalog_id


def test_linking_without_or_with_a_bad_catalog_id_is_refused(fake: FakeSetup, catalog_id: str) -> None:
    missing = fake.graph.post(f"/{fake.waba_id}/product_catalogs", data={})
    assert (missing.status_code, error_of(missing)["code"]) == (400, 100)
    assert "catalog_id" in error_of(missing)["message"]
    letters = fake.graph.post(f"/{fake.waba_id}/product_catalogs", data={"catalog_id": "abc"})
    assert (letters.status_code, error_of(letters)["code"]) == (400, 100)
    assert_unknown_object(fake.graph.post(f"/{fake.waba_id}/product_catalogs", data={"catalog_id": "123"}), "123")
    assert fake.server.state.waba_catalog(fake.waba_id) is None


def test_another_business_cannot_link_or_read_the_catalog(
    fake: FakeSetup, catalog_id: str, other_business: httpx.Client
) -> None:
    response = other_business.post(f"/{OTHER_WABA}/product_catalogs", data={"catalog_id": catalog_id})
    assert_unknown_object(response, catalog_id)
    assert fake.server.state.waba_catalog(OTHER_WABA) is None
    assert_unknown_object(other_business.get(f"/{catalog_id}/products"), catalog_id)
    # Nor list or change the first business's account.
    assert_unknown_object(other_business.get(f"/{fake.waba_id}/product_catalogs"), fake.waba_id)


def test_unlinking(fake: FakeSetup, catalog_id: str) -> None:
    linked(fake, catalog_id)
    no_id = fake.graph.delete(f"/{fake.waba_id}/product_catalogs")
    assert (no_id.status_code, error_of(no_id)["code"]) == (400, 100)
    wrong = fake.graph.delete(f"/{fake.waba_id}/product_catalogs", params={"catalog_id": "1234567"})
    assert (wrong.status_code, error_of(wrong)["code"]) == (400, 100)
    assert fake.server.state.waba_catalog(fake.waba_id) == catalog_id
    done = fake.graph.delete(f"/{fake.waba_id}/product_catalogs", params={"catalog_id": catalog_id})
    assert done.json() == {"success": True}
    assert fake.graph.get(f"/{fake.waba_id}/product_catalogs").json() == {"data": []}


def test_catalog_endpoints_need_a_token(fake: FakeSetup, catalog_id: str) -> None:
    for method, path in (
        ("GET", f"/{fake.waba_id}/product_catalogs"),
        ("GET", f"/{catalog_id}/products"),
        ("POST", f"/{catalog_id}/items_batch"),
        ("GET", f"/{fake.pnid}/whatsapp_commerce_settings"),
    ):
        response = fake.http.request(method, f"/v23.0{path}")
        assert response.status_code == 401, path
        assert error_of(response)["code"] == 190


# --- commerce settings --------------------------------------------------------------------------------------


def test_commerce_settings_default_to_cart_on_catalog_hidden(fake: FakeSetup) -> None:
    body = fake.graph.get(f"/{fake.pnid}/whatsapp_commerce_settings").json()
    assert fake.fixtures.shape(body) == fake.fixtures.shape(fake.fixtures.json("commerce_settings_get_response.json"))
    assert body["data"][0]["is_cart_enabled"] is True
    assert body["data"][0]["is_catalog_visible"] is False
    assert body["data"][0]["id"].isdigit()


def test_commerce_settings_change_through_query_parameters(fake: FakeSetup) -> None:
    response = fake.graph.post(f"/{fake.pnid}/whatsapp_commerce_settings", params={"is_catalog_visible": "true"})
    assert response.json() == fake.fixtures.json("commerce_settings_update_response.json")
    data = fake.graph.get(f"/{fake.pnid}/whatsapp_commerce_settings").json()["data"][0]
    assert (data["is_cart_enabled"], data["is_catalog_visible"]) == (True, True)
    fake.graph.post(f"/{fake.pnid}/whatsapp_commerce_settings", params={"is_cart_enabled": "false"})
    assert fake.server.state.commerce_settings_of(fake.pnid) == {"is_cart_enabled": False, "is_catalog_visible": True}


def test_commerce_settings_refuse_bad_values_and_change_nothing(fake: FakeSetup) -> None:
    for params in ({}, {"is_cart_enabled": "maybe"}):
        response = fake.graph.post(f"/{fake.pnid}/whatsapp_commerce_settings", params=params)
        assert (response.status_code, error_of(response)["code"]) == (400, 100)
    assert fake.server.state.commerce_settings_of(fake.pnid) == {"is_cart_enabled": True, "is_catalog_visible": False}


def test_another_business_cannot_read_the_numbers_commerce_settings(
    fake: FakeSetup, other_business: httpx.Client
) -> None:
    assert_unknown_object(other_business.get(f"/{fake.pnid}/whatsapp_commerce_settings"), fake.pnid)


# --- products -----------------------------------------------------------------------------------------------


def test_product_create_and_read_back_like_the_fixtures(fake: FakeSetup, catalog_id: str) -> None:
    created = fake.graph.post(f"/{catalog_id}/products", json=product_request(fake))
    assert created.status_code == 200
    expected = fake.fixtures.json("commerce_catalog_product_create_response.json")
    assert fake.fixtures.shape(created.json()) == fake.fixtures.shape(expected)
    item_id = created.json()["id"]
    assert item_id.isdigit()
    fields = "retailer_id,name,price,currency,availability,visibility"
    listed = fake.graph.get(f"/{catalog_id}/products", params={"fields": fields}).json()
    reference = fake.fixtures.json("commerce_catalog_products_get_response.json")
    assert listed["data"] == [{**reference["data"][0], "id": item_id}]
    assert set(listed["paging"]["cursors"]) == {"before", "after"}
    assert "next" not in listed["paging"]
    # What the phone simulator reads: minor units and the display string.
    product = fake.server.state.catalog_product(catalog_id, "PIZZA-MARG-G")
    assert product is not None
    assert (product["price"], product["price_display"], product["image_url"]) == (
        5990,
        "R$59,90",
        "https://www.example.com/img/pizza-marg-g.jpg",
    )
    node = fake.graph.get(f"/{item_id}", params={"fields": "name,price,description"}).json()
    assert node == {
        "id": item_id,
        "name": "Pizza Margherita (grande)",
        "price": "R$59,90",
        "description": "Molho de tomate, muçarela e manjericão. 8 fatias.",
    }


def test_product_create_refuses_duplicates_and_missing_fields(fake: FakeSetup, catalog_id: str) -> None:
    fake.graph.post(f"/{catalog_id}/products", json=product_request(fake))
    duplicate = fake.graph.post(f"/{catalog_id}/products", json=product_request(fake, price=1))
    assert (duplicate.status_code, error_of(duplicate)["code"]) == (400, 100)
    no_name = fake.graph.post(f"/{catalog_id}/products", json=product_request(fake, retailer_id="X", name=""))
    assert (no_name.status_code, error_of(no_name)["code"]) == (400, 100)
    bad_enum = fake.graph.post(
        f"/{catalog_id}/products", json=product_request(fake, retailer_id="Y", availability="in_stock")
    )
    assert "availability" in error_of(bad_enum)["error_data"]["details"]
    assert [p["price"] for p in fake.server.state.catalog_products(catalog_id)] == [5990]


def test_product_upsert_update_and_delete(fake: FakeSetup, catalog_id: str) -> None:
    item_id = fake.graph.post(f"/{catalog_id}/products", json=product_request(fake)).json()["id"]
    upserted = fake.graph.post(f"/{catalog_id}/products", json=product_request(fake, price=6490, allow_upsert=True))
    assert upserted.json() == {"id": item_id}
    changed = fake.graph.post(f"/{item_id}", json={"availability": "out of stock", "visibility": "staging"})
    assert changed.json() == {"success": True}
    product = fake.server.state.catalog_product(catalog_id, "PIZZA-MARG-G")
    assert product is not None
    assert (product["price"], product["availability"], product["visibility"]) == (6490, "out of stock", "staging")
    assert fake.graph.delete(f"/{item_id}").json() == {"success": True}
    assert fake.server.state.catalog_product(catalog_id, "PIZZA-MARG-G") is None
    assert_unknown_object(fake.graph.get(f"/{item_id}"), item_id)


def test_products_page_with_cursors_filter_and_summary(fake: FakeSetup, catalog_id: str) -> None:
    for index in range(3):
        body = product_request(fake, retailer_id=f"SKU-{index}", name=f"Produto {index}", price=100 + index)
        assert fake.graph.post(f"/{catalog_id}/products", json=body).status_code == 200
    first = fake.graph.get(f"/{catalog_id}/products", params={"limit": 2, "summary": "true"}).json()
    assert [p["retailer_id"] for p in first["data"]] == ["SKU-0", "SKU-1"]
    assert set(first["data"][0]) == {"id", "retailer_id", "name"}
    assert first["summary"] == {"total_count": 3}
    assert "next" in first["paging"]
    after = first["paging"]["cursors"]["after"]
    second = fake.graph.get(f"/{catalog_id}/products", params={"limit": 2, "after": after}).json()
    assert [p["retailer_id"] for p in second["data"]] == ["SKU-2"]
    assert "next" not in second["paging"]
    found = fake.graph.get(
        f"/{catalog_id}/products", params={"filter": json.dumps({"retailer_id": {"eq": "SKU-1"}})}
    ).json()
    assert [p["retailer_id"] for p in found["data"]] == ["SKU-1"]
    bad = fake.graph.get(f"/{catalog_id}/products", params={"filter": "{"})
    assert (bad.status_code, error_of(bad)["code"]) == (400, 100)


# --- items_batch --------------------------------------------------------------------------------------------


def test_items_batch_of_the_fixture_answers_like_the_fixture_and_applies_later(fake: FakeSetup) -> None:
    fake.admin.settings(catalog_batch_delay_s=0.2)
    catalog_id = fake.admin.catalog_create("Loja", waba_id=fake.waba_id)
    for sku, name in (("REFRI-LATA", "Refrigerante lata 350 ml"), ("PIZZA-CALA-G", "Pizza Calabresa (grande)")):
        body = product_request(fake, retailer_id=sku, name=name, price=650)
        assert fake.graph.post(f"/{catalog_id}/products", json=body).status_code == 200
    response = fake.graph.post(
        f"/{catalog_id}/items_batch", json=fake.fixtures.json("commerce_catalog_items_batch_request.json")
    )
    assert response.status_code == 200
    body = response.json()
    expected = fake.fixtures.json("commerce_catalog_items_batch_response.json")
    assert fake.fixtures.shape(body) == fake.fixtures.shape(expected)
    assert body["validation_status"] == [
        {"retailer_id": "PIZZA-MARG-G", "errors": [], "warnings": []},
        {"retailer_id": "REFRI-LATA", "errors": [], "warnings": []},
        {"retailer_id": "PIZZA-CALA-G", "errors": [], "warnings": []},
    ]
    (handle,) = body["handles"]
    status = fake.graph.get(f"/{catalog_id}/check_batch_request_status", params={"handle": handle}).json()
    assert status["data"][0]["status"] == "in_progress"
    assert fake.server.state.catalog_product(catalog_id, "PIZZA-MARG-G") is None

    def finished() -> dict[str, Any] | None:
        answer = fake.graph.get(f"/{catalog_id}/check_batch_request_status", params={"handle": handle}).json()
        return answer["data"][0] if answer["data"][0]["status"] == "finished" else None

    done = wait_for(finished, 5)
    assert done == {
        "handle": handle,
        "status": "finished",
        "errors": [],
        "errors_total_count": 0,
        "warnings": [],
        "warnings_total_count": 0,
        "ids_of_invalid_requests": [],
    }
    pizza = fake.server.state.catalog_product(catalog_id, "PIZZA-MARG-G")
    assert pizza is not None
    assert {k: pizza[k] for k in ("name", "price", "currency", "availability", "condition", "url", "image_url")} == {
        "name": "Pizza Margherita (grande)",
        "price": 5990,
        "currency": "BRL",
        "availability": "in stock",
        "condition": "new",
        "url": "https://www.example.com/p/pizza-marg-g",
        "image_url": "https://www.example.com/img/pizza-marg-g.jpg",
    }
    soda = fake.server.state.catalog_product(catalog_id, "REFRI-LATA")
    assert soda is not None
    assert (soda["availability"], soda["price"]) == ("out of stock", 650)
    assert fake.server.state.catalog_product(catalog_id, "PIZZA-CALA-G") is None


def test_items_batch_validation_errors_per_item(fake: FakeSetup, catalog_id: str) -> None:
    requests = [
        {"method": "UPDATE", "data": {"id": "A", "title": "A", "price": "59,90 BRL"}},
        {"method": "UPDATE", "data": {"id": "B", "price": "5.00 BRL"}},
        {"method": "UPSERT", "data": {"id": "C"}},
        {"method": "UPDATE", "data": {"id": "D", "title": "D", "price": "1.50 BRL", "visibility": "hidden"}},
    ]
    body = fake.graph.post(
        f"/{catalog_id}/items_batch", json={"item_type": "PRODUCT_ITEM", "requests": requests}
    ).json()
    assert body["handles"] == []
    assert [(s["retailer_id"], s["errors"]) for s in body["validation_status"]] == [
        ("A", [{"message": 'Invalid price: write the amount and the currency, e.g. "59.90 BRL".'}]),
        ("B", [{"message": "Missing required field: title."}]),
        ("C", [{"message": "Invalid method: must be one of CREATE, UPDATE, DELETE."}]),
        ("D", [{"message": "Param visibility must be one of {published, staging}."}]),
    ]
    assert fake.server.state.catalog_products(catalog_id) == []


def test_items_batch_request_errors(fake: FakeSetup, catalog_id: str) -> None:
    item = {"method": "DELETE", "data": {"id": "X"}}
    for body, needle in (
        ({"requests": [item]}, "item_type"),
        ({"item_type": "PRODUCT_ITEM"}, "requests"),
        ({"item_type": "PRODUCT_ITEM", "requests": [item] * 5001}, "5000"),
    ):
        response = fake.graph.post(f"/{catalog_id}/items_batch", json=body)
        assert (response.status_code, error_of(response)["code"]) == (400, 100)
        assert needle in json.dumps(error_of(response))
    unknown = fake.graph.get(f"/{catalog_id}/check_batch_request_status", params={"handle": "nope"})
    assert (unknown.status_code, error_of(unknown)["code"]) == (400, 100)


def test_items_batch_rate_limit_is_80014_and_transient(fake: FakeSetup, catalog_id: str) -> None:
    fake.admin.set_faults(error_next={"80014": 1})
    batch = {"item_type": "PRODUCT_ITEM", "requests": [{"method": "DELETE", "data": {"id": "X"}}]}
    refused = fake.graph.post(f"/{catalog_id}/items_batch", json=batch)
    assert refused.status_code == 400
    assert (error_of(refused)["code"], error_of(refused)["is_transient"]) == (80014, True)
    assert fake.graph.post(f"/{catalog_id}/items_batch", json=batch).status_code == 200


def test_injected_rejections_at_validation_and_at_ingestion(fake: FakeSetup, catalog_id: str) -> None:
    fake.admin.catalog_item_errors(
        catalog_id,
        {"BAD-IMG": "Image could not be downloaded.", "BANNED": {"message": "Policy.", "stage": "validation"}},
    )
    requests = [
        {"method": "UPDATE", "data": {"id": sku, "title": sku, "price": "10.00 BRL"}}
        for sku in ("OK-1", "BAD-IMG", "BANNED")
    ]
    body = fake.graph.post(
        f"/{catalog_id}/items_batch", json={"item_type": "PRODUCT_ITEM", "requests": requests}
    ).json()
    assert [s["errors"] for s in body["validation_status"]] == [[], [], [{"message": "Policy."}]]
    status = fake.graph.get(f"/{catalog_id}/check_batch_request_status", params={"handle": body["handles"][0]}).json()[
        "data"
    ][0]
    assert status["errors"] == [{"line": 1, "id": "BAD-IMG", "message": "Image could not be downloaded."}]
    assert (status["errors_total_count"], status["ids_of_invalid_requests"]) == (1, ["BAD-IMG"])
    assert [p["retailer_id"] for p in fake.server.state.catalog_products(catalog_id)] == ["OK-1"]


def test_admin_lists_a_catalog_with_its_link_and_products(fake: FakeSetup, catalog_id: str) -> None:
    linked(fake, catalog_id)
    fake.graph.post(f"/{catalog_id}/products", json=product_request(fake))
    found = fake.admin.catalog(catalog_id)
    assert (found["name"], found["waba_id"], found["linked_waba_ids"]) == (
        "Loja Exemplo - catálogo",
        fake.waba_id,
        [fake.waba_id],
    )
    assert [(p["retailer_id"], p["price"], p["price_display"]) for p in found["products"]] == [
        ("PIZZA-MARG-G", 5990, "R$59,90")
    ]
    assert fake.admin.catalog_create("Renamed", catalog_id=catalog_id) == catalog_id
    assert [c["name"] for c in fake.admin.catalogs()] == ["Renamed"]


def test_injected_permission_and_account_rate_limit_errors(fake: FakeSetup, catalog_id: str) -> None:
    fake.admin.set_faults(error_next={"80008": 1})
    limited = fake.graph.post(f"/{fake.waba_id}/product_catalogs", data={"catalog_id": catalog_id})
    assert limited.status_code == 400
    assert (error_of(limited)["code"], error_of(limited)["is_transient"]) == (80008, True)
    assert fake.server.state.waba_catalog(fake.waba_id) is None
    fake.admin.set_faults(error_next={"200": 1})
    denied = fake.graph.post(f"/{catalog_id}/products", json=product_request(fake))
    assert (denied.status_code, error_of(denied)["code"]) == (403, 200)
    assert fake.server.state.catalog_products(catalog_id) == []
    assert fake.graph.post(f"/{catalog_id}/products", json=product_request(fake)).status_code == 200
