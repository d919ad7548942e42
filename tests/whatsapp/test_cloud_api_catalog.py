"""The Cloud API client's catalog calls against the fake in-process (COMMERCE.md §1, §4), and the WhatsApp backend's
catalog sync built on them: linking, commerce settings, items_batch in batches of 5,000 and its status."""

from __future__ import annotations

from typing import Any

import pytest

from conversations import channels
from conversations.channels import CatalogItem
from tests.factories import owner_of
from tests.whatsapp.conftest import make_channel
from whatsapp import client as wa_client
from whatsapp.catalog import channel_catalog_set
from whatsapp.cloud_api import CloudApiClient, PermanentError, TransientError, catalog_feed_data
from whatsapp.fake import AdjustableClock, FakeAdminClient, FakeCloudApiServer, wait_for

PNID = "106540352242922"
WABA = "102290129340398"
TOKEN = "EAAG-adapter-catalog-token"


@pytest.fixture(scope="module")
def fake_server():
    with FakeCloudApiServer(clock=AdjustableClock()) as server:
        yield server


@pytest.fixture
def admin(fake_server):
    admin = FakeAdminClient(fake_server.base_url)
    admin.reset()
    admin.settings(catalog_batch_delay_s=0)
    admin.register_number(phone_number_id=PNID, display_phone_number="5511900000001", waba_id=WABA, access_token=TOKEN)
    yield admin
    admin.reset()
    admin.close()


@pytest.fixture
def api(fake_server, admin):
    with CloudApiClient(fake_server.base_url, "v23.0", TOKEN) as client:
        yield client


@pytest.fixture
def catalog_id(admin) -> str:
    return admin.catalog_create("Loja", waba_id=WABA)


def item(sku: str = "PIZZA-MARG-G", **changes: Any) -> CatalogItem:
    values: dict[str, Any] = {"retailer_id": sku, "name": "Pizza Margherita (grande)", "price": 5990, "currency": "BRL"}
    return CatalogItem(**{**values, **changes})


def test_feed_data_of_an_item_uses_meta_feed_names_and_price_format():
    assert catalog_feed_data(
        item(description="Molho.", image_url="https://img.example/p.jpg", category="Pizzas", visible=False)
    ) == {
        "id": "PIZZA-MARG-G",
        "title": "Pizza Margherita (grande)",
        "description": "Molho.",
        "availability": "in stock",
        "condition": "new",
        "price": "59.90 BRL",
        "visibility": "staging",
        "image_link": "https://img.example/p.jpg",
        "product_type": "Pizzas",
    }
    # Meta requires a description: the name stands in; a price under one real keeps its zero.
    assert catalog_feed_data(item(price=5, availability="out of stock"))["description"] == "Pizza Margherita (grande)"
    assert catalog_feed_data(item(price=5))["price"] == "0.05 BRL"


def test_list_link_and_unlink_a_catalog(api, admin, catalog_id):
    assert api.list_catalogs(WABA) == []
    api.link_catalog(WABA, catalog_id)
    api.link_catalog(WABA, catalog_id)  # again: harmless
    assert api.list_catalogs(WABA) == [{"id": catalog_id, "name": "Loja"}]
    api.unlink_catalog(WABA, catalog_id)
    assert api.list_catalogs(WABA) == []


def test_linking_an_unknown_catalog_is_a_permanent_error(api, admin):
    with pytest.raises(PermanentError) as caught:
        api.link_catalog(WABA, "123456")
    assert (caught.value.code, caught.value.subcode, caught.value.http_status) == (100, 33, 400)
    assert TOKEN not in str(caught.value)


def test_commerce_settings_read_and_set(api, admin):
    settings = api.commerce_settings(PNID)
    assert (settings.cart_enabled, settings.catalog_visible) == (True, False)
    api.set_commerce_settings(PNID, catalog_visible=True)
    assert admin.requests(path_contains="whatsapp_commerce_settings", method="POST")[-1]["query"] == (
        "is_catalog_visible=true"
    )
    settings = api.commerce_settings(PNID)
    assert (settings.cart_enabled, settings.catalog_visible) == (True, True)
    with pytest.raises(ValueError):
        api.set_commerce_settings(PNID)


def test_items_batch_sends_upserts_and_deletes_and_reads_the_status(api, admin, fake_server, catalog_id):
    admin.settings(catalog_batch_delay_s=0.2)
    result = api.catalog_items_batch(catalog_id, upserts=[item(), item("REFRI-LATA", price=650)], deletes=["OLD"])
    assert len(result.handles) == 1
    assert (result.errors, result.warnings) == ({}, {})
    sent = admin.requests(path_contains="/items_batch")[-1]["json"]
    assert (sent["item_type"], sent["allow_upsert"]) == ("PRODUCT_ITEM", True)
    assert [(r["method"], r["data"]["id"]) for r in sent["requests"]] == [
        ("UPDATE", "PIZZA-MARG-G"),
        ("UPDATE", "REFRI-LATA"),
        ("DELETE", "OLD"),
    ]
    status = api.catalog_batch_status(catalog_id, result.handles[0])
    assert (status.status, status.finished) == ("in_progress", False)
    done = wait_for(lambda: (s := api.catalog_batch_status(catalog_id, result.handles[0])).finished and s, 5)
    assert (done.errors, done.warnings) == ({}, {"OLD": ["Item not found: nothing to delete."]})
    assert fake_server.state.catalog_product(catalog_id, "REFRI-LATA")["price"] == 650


def test_items_batch_reads_per_item_errors_at_once_and_later(api, admin, catalog_id):
    admin.catalog_item_errors(
        catalog_id, {"LATER": "Image could not be downloaded.", "NOW": {"message": "Policy.", "stage": "validation"}}
    )
    result = api.catalog_items_batch(catalog_id, upserts=[item("OK"), item("LATER"), item("NOW")])
    assert result.errors == {"NOW": ["Policy."]}
    status = api.catalog_batch_status(catalog_id, result.handles[0])
    assert status.finished
    assert status.errors == {"LATER": ["Image could not be downloaded."]}


def test_items_batch_limits(api, catalog_id):
    with pytest.raises(ValueError):
        api.catalog_items_batch(catalog_id)
    with pytest.raises(ValueError):
        api.catalog_items_batch(catalog_id, deletes=[f"S{i}" for i in range(5001)])


def test_a_rate_limited_batch_is_transient(api, admin, catalog_id):
    admin.set_faults(error_next={"80014": 1})
    with pytest.raises(TransientError) as caught:
        api.catalog_items_batch(catalog_id, upserts=[item()])
    assert caught.value.code == 80014


# --- the backend -------------------------------------------------------------------------------------------


@pytest.fixture
def channel(tenant, fake_server, admin, settings):
    settings.WHATSAPP_API_BASE_URL = fake_server.base_url
    wa_client._transport_override.pop("transport", None)
    return make_channel(tenant, phone_number_id=PNID, waba_id=WABA, access_token=TOKEN)


@pytest.mark.django_db
def test_the_backend_offers_the_catalog_capability():
    assert channels.syncs_catalog("whatsapp")
    assert not channels.syncs_catalog("sms")
    with pytest.raises(LookupError):
        channels.catalog_backend("sms")


@pytest.mark.django_db
def test_backend_sync_sends_more_than_5000_items_in_two_batches(tenant, channel, admin, fake_server, catalog_id):
    channel = channel_catalog_set(actor=owner_of(tenant), channel=channel, catalog_id=catalog_id)
    backend = channels.catalog_backend("whatsapp")
    items = [item(f"SKU-{index:05d}", price=100 + index) for index in range(5003)]

    result = backend.catalog_sync(channel.inbox, items, ["GONE"])

    assert (result.status, result.catalog_id, result.sent, result.deleted) == ("synced", catalog_id, 5003, 1)
    batches = admin.requests(path_contains="/items_batch")
    assert [len(r["json"]["requests"]) for r in batches] == [5000, 4]
    assert len(fake_server.state.catalog_products(catalog_id)) == 5003
    assert result.errors == {}
    assert result.warnings == {"GONE": "Item not found: nothing to delete."}


@pytest.mark.django_db
def test_backend_sync_of_a_number_without_catalog_is_skipped_without_a_call(tenant, channel, admin):
    admin.clear_requests()
    result = channels.catalog_backend("whatsapp").catalog_sync(channel.inbox, [item()], [])
    assert (result.status, result.reason) == ("skipped", "no_catalog")
    assert admin.requests() == []


@pytest.mark.django_db
def test_backend_sync_with_a_catalog_meta_does_not_know_fails_without_sending(tenant, channel, admin):
    channel = channel_catalog_set(actor=owner_of(tenant), channel=channel, catalog_id="999999")
    result = channels.catalog_backend("whatsapp").catalog_sync(channel.inbox, [item()], [])
    assert (result.status, result.reason, result.transient) == ("failed", "catalog_refused", False)
    assert "(#100)" in result.detail or "Object with ID '999999'" in result.detail
    assert admin.requests(path_contains="/items_batch") == []


@pytest.mark.django_db
def test_backend_sync_refused_by_a_rate_limit_is_transient(tenant, channel, admin, catalog_id):
    channel = channel_catalog_set(actor=owner_of(tenant), channel=channel, catalog_id=catalog_id)
    admin.set_faults(error_next={"80014": 1})
    result = channels.catalog_backend("whatsapp").catalog_sync(channel.inbox, [item()], [])
    assert (result.status, result.reason, result.transient) == ("failed", "meta_error", True)
    assert "80014" in result.detail
    assert TOKEN not in result.detail
