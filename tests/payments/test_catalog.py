"""The catalog: products through the service and the REST API, prices in integer centavos, SKUs unique in a
workspace, every change audited; refusals (bad fields, decimals, another workspace's product, no permission)
change nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation

from helpdesk.exceptions import PermissionDenied, ValidationFailed
from payments.catalog import ProductSpec, product_create, product_delete, product_update
from payments.models import Product
from payments.money import amount_format, amount_parse, amount_plain
from tenants.models import AuditLogEntry
from tenants.permissions import BuiltinRole
from tenants.services import api_token_create
from tests.conversations.factories import make_role
from tests.factories import add_member, owner_of

pytestmark = pytest.mark.django_db

API = "/api/v1/t/acme/products/"
RECARGA = {"retailer_id": "RECARGA-25", "name": "Recarga de R$ 25", "price": 2500}


def _rows(tenant) -> list[tuple]:
    return list(
        Product.objects.filter(tenant=tenant).order_by("id").values_list("retailer_id", "name", "price", "visible")
    )


def _audit(tenant) -> list[tuple[str, dict]]:
    rows = AuditLogEntry.objects.filter(tenant=tenant, action__startswith="product.").order_by("id")
    return [(entry.action, entry.extra) for entry in rows]


@pytest.fixture
def admin_client(tenant) -> Client:
    client = Client()
    client.force_login(owner_of(tenant).user)
    return client


# --- money -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "text", "cents"),
    [
        ("pt-br", "25,00", 2500),
        ("pt-br", "R$ 1.234,56", 123456),
        ("pt-br", "0,1", 10),
        ("pt-br", "7", 700),
        ("en", "1,234.56", 123456),
        ("en", "25.5", 2550),
    ],
)
def test_amounts_are_read_in_the_language_as_whole_centavos(language, text, cents):
    assert amount_parse(text, language=language) == cents


@pytest.mark.parametrize(
    ("language", "text", "message"),
    [
        ("pt-br", "25.00", "Write an amount such as R$\u00a025,00."),
        ("pt-br", "vinte", "Write an amount such as R$\u00a025,00."),
        ("pt-br", "-5,00", "Write an amount such as R$\u00a025,00."),
        ("pt-br", "", "Write an amount such as R$\u00a025,00."),
        ("pt-br", "1,234", "At most 2 decimal places."),
        ("en", "0.001", "At most 2 decimal places."),
    ],
)
def test_amounts_that_are_not_clear_are_refused(language, text, message):
    with translation.override("en"), pytest.raises(ValidationFailed) as caught:
        amount_parse(text, language=language)
    assert caught.value.message == message


def test_amounts_are_written_in_the_language_and_plainly_for_protocols():
    assert amount_format(123456, language="pt-br") == "R$\u00a01.234,56"
    assert amount_format(2500, language="en") == "R$25.00"
    assert [amount_plain(v) for v in (2500, 5, 123456, 0, -150)] == ["25.00", "0.05", "1234.56", "0.00", "-1.50"]


# --- the service -------------------------------------------------------------------------------------------


def test_create_update_delete_audit_what_changed(tenant):
    owner = owner_of(tenant)

    product = product_create(actor=owner, tenant=tenant, spec=ProductSpec(**RECARGA, category=" Recargas "))
    product_update(
        actor=owner,
        product=product,
        spec=ProductSpec(**{**RECARGA, "price": 3000, "category": "Recargas", "visible": False}),
    )
    product_update(
        actor=owner,
        product=product,
        spec=ProductSpec(**{**RECARGA, "price": 3000, "category": "Recargas", "visible": False}),
    )
    product_delete(actor=owner, product=product)

    assert _rows(tenant) == []
    assert _audit(tenant) == [
        ("product.created", {"name": "Recarga de R$ 25", "price": 2500, "currency": "BRL"}),
        ("product.changed", {"price": {"from": 2500, "to": 3000}, "visible": {"from": True, "to": False}}),
        ("product.deleted", {"name": "Recarga de R$ 25"}),
    ]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"retailer_id": ""}, "retailer_id", "The SKU takes 1 to 100 letters"),
        ({"retailer_id": "recarga 25"}, "retailer_id", "The SKU takes 1 to 100 letters"),
        ({"retailer_id": "-x"}, "retailer_id", "The SKU takes 1 to 100 letters"),
        ({"retailer_id": "A" * 101}, "retailer_id", "The SKU takes 1 to 100 letters"),
        ({"name": "   "}, "name", "The name takes 1 to 200 characters."),
        ({"price": 0}, "price", "The price must be above zero"),
        ({"price": 10_000_000_000}, "price", "The price must be above zero"),
        ({"price": True}, "price", "The price must be above zero"),
        ({"currency": "USD"}, "currency", "Unknown currency: BRL only."),
        ({"image_url": "http://cdn.example.com/a.png"}, "image_url", "The image address must be an https://"),
        ({"image_url": "https://user:pw@cdn.example.com/a.png"}, "image_url", "The image address must be an https://"),
        ({"image_url": "javascript:alert(1)"}, "image_url", "The image address must be an https://"),
        ({"availability": "soon"}, "availability", "Unknown availability."),
    ],
)
def test_bad_fields_are_refused_naming_the_field_and_nothing_is_written(tenant, change, field, message):
    with translation.override("en"), pytest.raises(ValidationFailed) as caught:
        product_create(actor=owner_of(tenant), tenant=tenant, spec=ProductSpec(**{**RECARGA, **change}))

    assert caught.value.message.startswith(message)
    assert list(caught.value.details) == [field]
    assert _rows(tenant) == [] and _audit(tenant) == []


def test_a_sku_is_unique_in_the_workspace_not_across_workspaces(tenant, other_tenant):
    product_create(actor=owner_of(tenant), tenant=tenant, spec=ProductSpec(**RECARGA))
    other = product_create(actor=owner_of(tenant), tenant=tenant, spec=ProductSpec(**{**RECARGA, "retailer_id": "X1"}))

    with translation.override("en"), pytest.raises(ValidationFailed) as created:
        product_create(actor=owner_of(tenant), tenant=tenant, spec=ProductSpec(**RECARGA))
    with translation.override("en"), pytest.raises(ValidationFailed) as renamed:
        product_update(actor=owner_of(tenant), product=other, spec=ProductSpec(**RECARGA))
    theirs = product_create(actor=owner_of(other_tenant), tenant=other_tenant, spec=ProductSpec(**RECARGA))

    assert created.value.message == renamed.value.message == "Another product has the SKU RECARGA-25."
    assert [row[0] for row in _rows(tenant)] == ["RECARGA-25", "X1"]
    assert theirs.retailer_id == "RECARGA-25"


def test_only_members_who_manage_payments_change_the_catalog(tenant, other_tenant):
    supervisor = add_member(tenant, BuiltinRole.SUPERVISOR)
    product = product_create(actor=owner_of(tenant), tenant=tenant, spec=ProductSpec(**RECARGA))

    with pytest.raises(PermissionDenied):
        product_create(actor=supervisor, tenant=tenant, spec=ProductSpec(**{**RECARGA, "retailer_id": "X"}))
    with pytest.raises(PermissionDenied):
        product_update(actor=supervisor, product=product, spec=ProductSpec(**{**RECARGA, "price": 1}))
    with pytest.raises(PermissionDenied):
        product_delete(actor=owner_of(other_tenant), product=product)

    assert _rows(tenant) == [("RECARGA-25", "Recarga de R$ 25", 2500, True)]
    assert [action for action, _extra in _audit(tenant)] == ["product.created"]


# --- the REST API ------------------------------------------------------------------------------------------


def test_the_api_creates_lists_changes_and_deletes(tenant, admin_client):
    created = admin_client.post(API, {**RECARGA, "category": "Recargas"}, content_type="application/json")
    assert created.status_code == 201
    body = created.json()
    product_id = body["id"]
    assert {
        k: body[k] for k in ("retailer_id", "name", "price", "currency", "availability", "visible", "category")
    } == {
        "retailer_id": "RECARGA-25",
        "name": "Recarga de R$ 25",
        "price": 2500,
        "currency": "BRL",
        "availability": "in stock",
        "visible": True,
        "category": "Recargas",
    }
    admin_client.post(API, {**RECARGA, "retailer_id": "PASSE", "name": "Passe mensal"}, content_type="application/json")

    listed = admin_client.get(API).json()
    assert [p["retailer_id"] for p in listed["results"]] == ["PASSE", "RECARGA-25"]
    assert [p["retailer_id"] for p in admin_client.get(API, {"q": "passe"}).json()["results"]] == ["PASSE"]

    changed = admin_client.patch(f"{API}{product_id}/", {"visible": False}, content_type="application/json")
    assert (changed.status_code, changed.json()["visible"], changed.json()["price"]) == (200, False, 2500)
    assert [p["retailer_id"] for p in admin_client.get(API, {"visible": "false"}).json()["results"]] == ["RECARGA-25"]

    assert admin_client.delete(f"{API}{product_id}/").status_code == 204
    assert admin_client.get(f"{API}{product_id}/").status_code == 404
    assert [row[0] for row in _rows(tenant)] == ["PASSE"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**RECARGA, "price": 25.5}, "price"),
        ({**RECARGA, "price": "2500"}, "price"),
        ({**RECARGA, "price": 2500.0}, "price"),
        ({**RECARGA, "price": True}, "price"),
        ({**RECARGA, "price": 0}, "price"),
        ({**RECARGA, "price": None}, "price"),
        ({"name": "x", "price": 100}, "retailer_id"),
        ({**RECARGA, "currency": "EUR"}, "currency"),
        ({**RECARGA, "image_url": "http://x.example/a.png"}, "image_url"),
    ],
)
def test_the_api_refuses_bad_bodies_with_400_naming_the_field(tenant, admin_client, body, field):
    response = admin_client.post(API, body, content_type="application/json")

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]
    assert _rows(tenant) == []


def test_the_api_refuses_a_bad_filter_and_an_unreadable_cursor(admin_client):
    assert admin_client.get(API, {"visible": "yes"}).status_code == 400
    assert admin_client.get(API, {"cursor": "nonsense"}).status_code == 400


def test_another_workspaces_product_is_404_and_stays_as_it_was(tenant, other_tenant, admin_client):
    theirs = product_create(actor=owner_of(other_tenant), tenant=other_tenant, spec=ProductSpec(**RECARGA))

    responses = [
        admin_client.get(f"{API}{theirs.pk}/"),
        admin_client.patch(f"{API}{theirs.pk}/", {"price": 1}, content_type="application/json"),
        admin_client.delete(f"{API}{theirs.pk}/"),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    theirs.refresh_from_db()
    assert (theirs.price, admin_client.get(API).json()["results"]) == (2500, [])


def test_an_api_token_needs_manage_payments(tenant):
    _token, raw = api_token_create(actor=owner_of(tenant), name="Shop", role=make_role(tenant, ["conversations.reply"]))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    _token, raw_ok = api_token_create(
        actor=owner_of(tenant), name="Shop sync", role=make_role(tenant, ["payments.manage"])
    )
    allowed = Client(HTTP_AUTHORIZATION=f"Bearer {raw_ok}")

    assert client.post(API, RECARGA, content_type="application/json").status_code == 403
    assert _rows(tenant) == []
    assert allowed.post(API, RECARGA, content_type="application/json").status_code == 201
    assert [action for action, _extra in _audit(tenant)] == ["product.created"]


def test_the_api_search_refuses_a_nul_character_and_a_long_search(admin_client):
    nul = admin_client.get(API, {"q": "a\x00b"})
    long = admin_client.get(API, {"q": "x" * 101})

    assert (nul.status_code, nul.json()["error"]["details"]) == (400, {"param": "q"})
    assert (long.status_code, long.json()["error"]["details"]) == (400, {"param": "q"})


@pytest.mark.parametrize("field", ["retailer_id", "name", "description", "image_url", "category"])
def test_the_api_takes_text_only_as_json_strings(tenant, admin_client, field):
    response = admin_client.post(API, {**RECARGA, field: 0}, content_type="application/json")

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]
    assert _rows(tenant) == []


@pytest.mark.parametrize("value", [0, 1, "true", "yes", None])
def test_the_api_takes_visible_only_as_json_true_or_false(tenant, admin_client, value):
    response = admin_client.post(API, {**RECARGA, "visible": value}, content_type="application/json")

    assert response.status_code == 400
    assert "visible" in response.json()["error"]["details"]
    assert _rows(tenant) == []
