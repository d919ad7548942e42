"""The catalog synced to the WhatsApp number's Meta catalog, end to end against the fake Cloud API over HTTP: a change
asks for one job per workspace (not one per product), the job connects the catalog, shows it, and sends products
with their price, availability and visibility; deleted products are deleted there; what Meta refuses is kept per
product and shown; a number without a catalog is skipped; only "Manage payments and catalog" starts a sync, and
only for its own workspace."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client

from helpdesk import jobs
from payments import catalog_sync
from payments.catalog import ProductSpec, product_create, product_delete, product_spec_of, product_update
from payments.models import CatalogSync, CatalogSyncedItem, Product
from tenants.permissions import BuiltinRole
from tests.factories import add_member, make_tenant, owner_of
from tests.whatsapp.conftest import make_channel
from whatsapp import client as wa_client
from whatsapp.catalog import channel_catalog_set
from whatsapp.fake import AdjustableClock, FakeAdminClient, FakeCloudApiServer, wait_for

pytestmark = pytest.mark.django_db

PNID = "106540352242922"
WABA = "102290129340398"
TOKEN = "EAAG-catalog-sync-secret-token"
PAGE = "/t/acme/settings/catalog/"


@pytest.fixture(scope="module")
def fake_server():
    with FakeCloudApiServer(clock=AdjustableClock()) as server:
        yield server


@pytest.fixture
def fake(fake_server, settings):
    settings.WHATSAPP_API_BASE_URL = fake_server.base_url
    wa_client._transport_override.pop("transport", None)  # this module talks to the local fake over HTTP
    jobs.DEFERRED.clear()
    admin = FakeAdminClient(fake_server.base_url)
    admin.reset()
    admin.settings(catalog_batch_delay_s=0)
    admin.register_number(phone_number_id=PNID, display_phone_number="5511900000001", waba_id=WABA, access_token=TOKEN)
    yield admin
    jobs.DEFERRED.clear()
    admin.reset()
    admin.close()


@pytest.fixture
def catalog_id(fake) -> str:
    return fake.catalog_create("Acme", waba_id=WABA)


@pytest.fixture
def channel(tenant, fake, catalog_id):
    channel = make_channel(tenant, phone_number_id=PNID, waba_id=WABA, access_token=TOKEN)
    return channel_catalog_set(actor=owner_of(tenant), channel=channel, catalog_id=catalog_id)


def spec(sku: str = "RECARGA-25", **changes: Any) -> ProductSpec:
    values: dict[str, Any] = {"retailer_id": sku, "name": f"Recarga {sku}", "price": 2500, "category": "Recargas"}
    return ProductSpec(**{**values, **changes})


def sync_jobs() -> list[tuple[Any, ...]]:
    return [entry for entry in jobs.DEFERRED if entry[0].name.startswith("payments.tasks.catalog_sync")]


def run_sync_jobs() -> list[str]:
    """Run the catalog jobs asked for so far (their delay skipped), and those they ask for in turn."""
    ran = []
    while sync_jobs():
        entry = sync_jobs()[0]
        jobs.DEFERRED.remove(entry)
        task, arg, _delay, kwargs = entry
        ran.append(task.apply(args=(arg,), kwargs=kwargs).get())
    return ran


def in_fake(fake, catalog_id: str) -> dict[str, dict[str, Any]]:
    return {p["retailer_id"]: p for p in fake.catalog(catalog_id)["products"]}


def test_a_new_product_is_in_the_whatsapp_catalog_with_its_price_availability_and_visibility(
    tenant, channel, fake, catalog_id, capture
):
    with capture(execute=True):
        product_create(actor=owner_of(tenant), tenant=tenant, spec=spec(description="Crédito na hora"))
    assert [entry[2] for entry in sync_jobs()] == [10.0]  # PAYMENTS_CATALOG_SYNC_DELAY_SECONDS

    assert run_sync_jobs() == [CatalogSync.Status.DONE]

    item = in_fake(fake, catalog_id)["RECARGA-25"]
    assert {k: item[k] for k in ("name", "description", "price", "currency", "availability", "visibility")} == {
        "name": "Recarga RECARGA-25",
        "description": "Crédito na hora",
        "price": 2500,
        "currency": "BRL",
        "availability": "in stock",
        "visibility": "published",
    }
    assert (item["price_display"], item["category"]) == ("R$25,00", "Recargas")
    assert fake.catalog(catalog_id)["linked_waba_ids"] == [WABA]
    settings = fake.http.get(f"/v23.0/{PNID}/whatsapp_commerce_settings", headers={"Authorization": f"Bearer {TOKEN}"})
    assert settings.json()["data"][0] | {"id": ""} == {"id": "", "is_cart_enabled": True, "is_catalog_visible": True}
    sync = CatalogSync.objects.get(tenant=tenant)
    assert (sync.trigger, sync.item_count, sync.deleted_count, sync.error_count) == ("change", 1, 0, 0)
    assert [(o["status"], o["catalog_id"], o["inboxes"]) for o in sync.outcomes] == [
        ("synced", catalog_id, ["Support"])
    ]
    product = Product.objects.get(tenant=tenant)
    assert (product.sync_error, product.synced_at is not None) == ("", True)


def test_many_changes_ask_for_one_job_per_workspace(tenant, other_tenant, channel, fake, capture):
    owner = owner_of(tenant)
    with capture(execute=True):
        for index in range(3):
            product_create(actor=owner, tenant=tenant, spec=spec(f"SKU-{index}"))
    with capture(execute=True):
        product_create(actor=owner_of(other_tenant), tenant=other_tenant, spec=spec("OTHER"))
    assert sorted(entry[1] for entry in sync_jobs()) == sorted([tenant.pk, other_tenant.pk])


def test_changes_hidden_out_of_stock_and_deleted_products_reach_the_catalog(tenant, channel, fake, catalog_id, capture):
    owner = owner_of(tenant)
    with capture(execute=True):
        kept = product_create(actor=owner, tenant=tenant, spec=spec("KEPT"))
        doomed = product_create(actor=owner, tenant=tenant, spec=spec("DOOMED"))
    run_sync_jobs()
    assert set(in_fake(fake, catalog_id)) == {"KEPT", "DOOMED"}

    with capture(execute=True):
        product_update(
            actor=owner,
            product=kept,
            spec=product_spec_of(kept, price=3190, availability=Product.Availability.OUT_OF_STOCK, visible=False),
        )
        product_delete(actor=owner, product=doomed)
    assert len(sync_jobs()) == 1
    run_sync_jobs()

    items = in_fake(fake, catalog_id)
    assert list(items) == ["KEPT"]
    assert (items["KEPT"]["price"], items["KEPT"]["availability"], items["KEPT"]["visibility"]) == (
        3190,
        "out of stock",
        "staging",
    )
    last = catalog_sync.catalog_sync_last(tenant_id=tenant.pk)
    assert last is not None
    assert (last.item_count, last.deleted_count) == (1, 1)
    assert list(CatalogSyncedItem.objects.filter(tenant=tenant).values_list("retailer_id", flat=True)) == ["KEPT"]


def test_a_changed_sku_is_deleted_under_its_old_one(tenant, channel, fake, catalog_id, capture):
    owner = owner_of(tenant)
    with capture(execute=True):
        product = product_create(actor=owner, tenant=tenant, spec=spec("OLD-SKU"))
    run_sync_jobs()
    with capture(execute=True):
        product_update(actor=owner, product=product, spec=product_spec_of(product, retailer_id="NEW-SKU"))
    run_sync_jobs()
    assert list(in_fake(fake, catalog_id)) == ["NEW-SKU"]


def test_items_meta_refuses_are_kept_per_product_and_shown(tenant, channel, fake, catalog_id, capture):
    fake.catalog_item_errors(catalog_id, {"BAD": "Image could not be downloaded: <script>x</script>"})
    with capture(execute=True):
        product_create(actor=owner_of(tenant), tenant=tenant, spec=spec("GOOD"))
        product_create(actor=owner_of(tenant), tenant=tenant, spec=spec("BAD"))
    run_sync_jobs()

    assert list(in_fake(fake, catalog_id)) == ["GOOD"]
    errors = dict(Product.objects.filter(tenant=tenant).values_list("retailer_id", "sync_error"))
    assert errors == {"GOOD": "", "BAD": "Image could not be downloaded: <script>x</script>"}
    sync = CatalogSync.objects.get(tenant=tenant)
    assert (sync.status, sync.error_count) == (CatalogSync.Status.DONE, 1)

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(owner_of(tenant).user)
    html = client.get(PAGE).content.decode()
    assert 'data-refused="BAD"' in html
    assert "Image could not be downloaded: &lt;script&gt;x&lt;/script&gt;" in html
    assert "<script>x</script>" not in html

    fake.catalog_item_errors(catalog_id, {"BAD": None})
    with capture(execute=True):
        client.post(f"{PAGE}sync/")
    assert Product.objects.get(tenant=tenant, retailer_id="BAD").sync_error == ""
    assert set(in_fake(fake, catalog_id)) == {"GOOD", "BAD"}


def test_meta_still_applying_the_batch_is_checked_again_later(tenant, channel, fake, catalog_id, capture):
    fake.settings(catalog_batch_delay_s=0.3)
    with capture(execute=True):
        product_create(actor=owner_of(tenant), tenant=tenant, spec=spec("SLOW"))
    entry = sync_jobs()[0]
    jobs.DEFERRED.remove(entry)
    assert entry[0].apply(args=(entry[1],), kwargs=entry[3]).get() == CatalogSync.Status.PROCESSING
    assert [(e[0].name, e[2]) for e in sync_jobs()] == [("payments.tasks.catalog_sync_check", 5)]
    wait_for(lambda: "SLOW" in in_fake(fake, catalog_id), 5)
    assert run_sync_jobs() == [CatalogSync.Status.DONE]
    assert CatalogSync.objects.get(tenant=tenant).outcomes[0]["status"] == "synced"


def test_a_number_without_a_catalog_is_skipped_and_nothing_is_sent(tenant, fake, capture):
    make_channel(tenant, phone_number_id=PNID, waba_id=WABA, access_token=TOKEN)
    fake.clear_requests()
    with capture(execute=True):
        product_create(actor=owner_of(tenant), tenant=tenant, spec=spec())
    run_sync_jobs()
    sync = CatalogSync.objects.get(tenant=tenant)
    assert sync.status == CatalogSync.Status.SKIPPED
    assert [(o["status"], o["reason"]) for o in sync.outcomes] == [("skipped", "no_catalog")]
    assert fake.requests() == []
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(owner_of(tenant).user)
    assert "No catalog ID is set for this number" in client.get(PAGE).content.decode()


def test_another_catalog_connected_to_the_account_is_reported_not_replaced(tenant, channel, fake, catalog_id, capture):
    other = fake.catalog_create("Commerce Manager's", waba_id=WABA)
    fake.http.post(
        f"/v23.0/{WABA}/product_catalogs", data={"catalog_id": other}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with capture(execute=True):
        product_create(actor=owner_of(tenant), tenant=tenant, spec=spec())
    run_sync_jobs()
    sync = CatalogSync.objects.get(tenant=tenant)
    assert sync.status == CatalogSync.Status.FAILED
    assert [(o["reason"], o["detail"]) for o in sync.outcomes] == [("catalog_linked_elsewhere", other)]
    assert fake.catalog(other)["linked_waba_ids"] == [WABA]
    assert in_fake(fake, catalog_id) == {}
    assert Product.objects.get(tenant=tenant).synced_at is None


def test_meta_unreachable_fails_the_sync_as_transient_and_it_is_tried_again_later(
    tenant, channel, fake, catalog_id, capture
):
    fake.set_faults(fail_next_5xx=1)
    with capture(execute=True):
        product_create(actor=owner_of(tenant), tenant=tenant, spec=spec())
    first = sync_jobs()[0]
    jobs.DEFERRED.remove(first)
    assert first[0].apply(args=(first[1],), kwargs=first[3]).get() == CatalogSync.Status.FAILED
    sync = CatalogSync.objects.get(tenant=tenant)
    assert [(o["reason"], o["transient"]) for o in sync.outcomes] == [("meta_error", True)]
    assert [(e[0].name, e[1], e[2], e[3]) for e in sync_jobs()] == [
        ("payments.tasks.catalog_sync_run", tenant.pk, 30, {"attempt": 2})
    ]
    assert run_sync_jobs() == [CatalogSync.Status.DONE]
    assert "RECARGA-25" in in_fake(fake, catalog_id)


def test_a_sync_that_keeps_failing_is_tried_four_more_times_then_left(tenant, channel, fake, catalog_id):
    fake.set_faults(fail_next_5xx=100)
    catalog_sync.catalog_sync_run(tenant.pk)
    assert run_sync_jobs() == [CatalogSync.Status.FAILED] * 4
    assert [s.status for s in CatalogSync.objects.filter(tenant=tenant)] == [CatalogSync.Status.FAILED] * 5
    fake.clear_faults()


def test_a_refusal_that_is_not_transient_is_not_tried_again(tenant, channel, fake, catalog_id):
    other = fake.catalog_create("Commerce Manager's", waba_id=WABA)
    fake.http.post(
        f"/v23.0/{WABA}/product_catalogs", data={"catalog_id": other}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    catalog_sync.catalog_sync_run(tenant.pk)
    assert sync_jobs() == []


def test_the_token_is_never_logged_nor_stored_with_the_sync(tenant, channel, fake, catalog_id, capture, caplog):
    caplog.set_level(logging.DEBUG)
    fake.set_faults(fail_next_5xx=1)
    with capture(execute=True):
        product_create(actor=owner_of(tenant), tenant=tenant, spec=spec("A"))
    run_sync_jobs()
    with capture(execute=True):
        product_create(actor=owner_of(tenant), tenant=tenant, spec=spec("B"))
    run_sync_jobs()
    assert "A" in in_fake(fake, catalog_id)
    assert TOKEN not in caplog.text
    for sync in CatalogSync.objects.filter(tenant=tenant):
        assert TOKEN not in str(sync.outcomes)
    assert all(TOKEN not in str(r) for r in fake.requests())


# --- the page and its button ----------------------------------------------------------------------------------


def test_the_button_syncs_now_and_the_page_shows_when_and_how(tenant, channel, fake, catalog_id, capture):
    Product.objects.create(tenant=tenant, retailer_id="DIRECT", name="Direct", price=990)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(owner_of(tenant).user)
    with capture(execute=True):
        response = client.post(f"{PAGE}sync/")
    assert (response.status_code, response["Location"]) == (302, PAGE)
    sync = CatalogSync.objects.get(tenant=tenant)
    assert (sync.trigger, sync.status, sync.requested_by_id) == ("manual", "done", owner_of(tenant).user_id)
    assert in_fake(fake, catalog_id)["DIRECT"]["price"] == 990
    html = client.get(PAGE).content.decode()
    assert 'data-sync-status="done"' in html
    assert "1 product sent, 0 deleted." in html
    assert catalog_id in html


def test_an_agent_cannot_sync_nor_see_the_sync(tenant, channel, fake, capture):
    agent = add_member(tenant, BuiltinRole.AGENT)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(agent.user)
    with capture(execute=True):
        assert client.post(f"{PAGE}sync/").status_code == 403
    assert client.get(PAGE).status_code == 403
    assert not CatalogSync.objects.exists()
    assert sync_jobs() == []


def test_another_workspace_cannot_sync_this_one_nor_see_its_sync(tenant, channel, fake, catalog_id, capture):
    Product.objects.create(tenant=tenant, retailer_id="MINE", name="Mine", price=990, sync_error="Refused: mine")
    CatalogSync.objects.create(tenant=tenant, status=CatalogSync.Status.DONE, item_count=7)
    other = make_tenant("Globex", slug="globex")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(owner_of(other).user)
    with capture(execute=True):
        assert client.post(f"{PAGE}sync/").status_code == 404
        own = client.post("/t/globex/settings/catalog/sync/")
    assert own.status_code == 302
    assert CatalogSync.objects.filter(tenant=tenant).count() == 1
    assert in_fake(fake, catalog_id) == {}
    html = client.get("/t/globex/settings/catalog/").content.decode()
    assert "Refused: mine" not in html and "7 products sent" not in html
    assert CatalogSync.objects.get(tenant=other).status == CatalogSync.Status.SKIPPED


def test_the_sync_page_refuses_get(tenant, channel):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(owner_of(tenant).user)
    assert client.get(f"{PAGE}sync/").status_code == 405
    assert not CatalogSync.objects.exists()


def test_an_import_asks_for_one_sync(tenant, channel, fake, catalog_id, capture):
    from payments.imports import import_start

    data = b'sku,name,price\nA-1,Um,"10,00"\nA-2,Dois,"20,00"\n'
    with capture(execute=True):
        import_start(actor=owner_of(tenant), tenant=tenant, filename="p.csv", data=data)
    assert len(sync_jobs()) == 1
    run_sync_jobs()
    assert {k: v["price"] for k, v in in_fake(fake, catalog_id).items()} == {"A-1": 1000, "A-2": 2000}


def test_the_demo_number_gets_a_catalog_holding_the_demo_products(fake_server, settings, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    from whatsapp.management.commands.seed_demo_whatsapp import DEMO
    from whatsapp.models import WhatsAppChannel

    settings.WHATSAPP_API_BASE_URL = fake_server.base_url
    wa_client._transport_override.pop("transport", None)
    with FakeAdminClient(fake_server.base_url) as admin:
        admin.reset()
        admin.settings(catalog_batch_delay_s=0)
        call_command("seed_demo", stdout=StringIO())
        config = str(tmp_path / "fake.json")
        call_command("seed_demo_whatsapp", fake_config=config, register=True, stdout=StringIO())
        out = StringIO()
        call_command("seed_demo_payments", stdout=out)

        channel = WhatsAppChannel.objects.get(phone_number_id=DEMO["phone_number_id"])
        assert channel.catalog_id == DEMO["catalog_id"] == "300000000000001"
        found = admin.catalog(DEMO["catalog_id"])
        assert found["linked_waba_ids"] == [DEMO["waba_id"]]
        assert sorted((p["retailer_id"], p["price"], p["visibility"]) for p in found["products"]) == [
            ("PASSE-MENSAL", 19800, "published"),
            ("RECARGA-10", 1000, "published"),
            ("RECARGA-25", 2500, "published"),
            ("RECARGA-50", 5000, "published"),
        ]
        assert out.getvalue().endswith(
            f"Demo catalog synced to WhatsApp: done (whatsapp:{DEMO['catalog_id']}: synced).\n"
        )
        admin.reset()


def test_the_sync_on_the_catalog_page_reads_in_portuguese(tenant, channel, fake, catalog_id, capture):
    fake.catalog_item_errors(catalog_id, {"BAD": "Image could not be downloaded."})
    with capture(execute=True):
        product_create(actor=owner_of(tenant), tenant=tenant, spec=spec("GOOD"))
        product_create(actor=owner_of(tenant), tenant=tenant, spec=spec("BAD"))
    run_sync_jobs()
    owner = owner_of(tenant)
    owner.user.language = "pt-br"
    owner.user.save(update_fields=["language"])
    client = Client(HTTP_ACCEPT_LANGUAGE="pt-br")
    client.force_login(owner.user)
    html = client.get(PAGE).content.decode()
    for text in (
        "Catálogo do WhatsApp",
        "Última sincronização:",
        "— Sincronizado.",
        "2 produtos enviados; excluídos: 0.",
        "1 produto recusado",
        "sincronizado",
        "Produtos que o WhatsApp recusou",
        "Motivo (nas palavras da Meta)",
        "Recusado pelo WhatsApp",
        "Sincronizar com o WhatsApp",
    ):
        assert text in html, text
    assert "Last sync" not in html and "Sync with WhatsApp" not in html


def test_a_workspace_keeps_its_last_50_syncs(tenant, fake, monkeypatch):
    monkeypatch.setattr(catalog_sync, "SYNCS_KEPT", 3)
    for _ in range(5):
        catalog_sync.catalog_sync_run(tenant.pk)
    other = make_tenant("Globex", slug="globex")
    CatalogSync.objects.create(tenant=other)
    kept = list(CatalogSync.objects.filter(tenant=tenant).order_by("id").values_list("status", flat=True))
    assert kept == ["skipped"] * 3
    assert CatalogSync.objects.filter(tenant=other).count() == 1


@pytest.mark.django_db(transaction=True)
def test_without_a_worker_the_sync_runs_on_a_timer_of_the_web_process(fake, catalog_id, settings):
    # The embedded default (make run): no worker, delayed jobs on a timer thread; a page's change reaches Meta.
    settings.HELPDESK_EAGER_DELAYED_TASKS = "thread"
    settings.PAYMENTS_CATALOG_SYNC_DELAY_SECONDS = 0.1
    tenant = make_tenant("Acme", slug="acme")
    channel = make_channel(tenant, phone_number_id=PNID, waba_id=WABA, access_token=TOKEN)
    channel_catalog_set(actor=owner_of(tenant), channel=channel, catalog_id=catalog_id)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(owner_of(tenant).user)
    form = {"name": "Passe", "retailer_id": "PASSE", "price": "198.00", "availability": "in stock", "visible": "on"}

    assert client.post(f"{PAGE}new/", form).status_code == 302

    item = wait_for(lambda: in_fake(fake, catalog_id).get("PASSE"), 10)
    assert (item["price"], item["visibility"]) == (19800, "published")
    wait_for(lambda: CatalogSync.objects.filter(tenant=tenant, status=CatalogSync.Status.DONE).exists(), 10)
