"""The catalog's pages: the list with prices as money in the reader's language, the form reading the price
as people write it, search and visibility filters, delete; refusals change nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from payments.catalog import ProductSpec, product_create
from payments.models import Product
from tenants.models import AuditLogEntry
from tenants.permissions import BuiltinRole
from tests.factories import add_member, owner_of

pytestmark = pytest.mark.django_db

PAGES = "/t/acme/settings/catalog/"


def _client(membership, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(membership.user)
    user = membership.user
    user.language = language
    user.save(update_fields=["language"])
    return client


def _form(**changes) -> dict:
    return {
        "name": "Recarga de R$ 25",
        "retailer_id": "RECARGA-25",
        "price": "25.00",
        "description": "",
        "category": "Recargas",
        "image_url": "",
        "availability": "in stock",
        "visible": "on",
        **changes,
    }


def _rows(tenant) -> list[tuple]:
    return list(Product.objects.filter(tenant=tenant).order_by("id").values_list("retailer_id", "price", "visible"))


def test_an_admin_adds_a_product_with_the_price_as_written_in_portuguese_and_sees_it_listed(tenant):
    client = _client(owner_of(tenant), "pt-br")

    response = client.post(f"{PAGES}new/", _form(price="1.234,56"))

    assert (response.status_code, response["Location"]) == (302, PAGES)
    assert _rows(tenant) == [("RECARGA-25", 123456, True)]
    page = client.get(PAGES)
    assert page.status_code == 200
    html = page.content.decode()
    assert "data-price>R$\u00a01.234,56</td>" in html
    assert "RECARGA-25" in html and "Em estoque" in html


def test_the_form_shows_the_price_back_and_saves_changes(tenant):
    client = _client(owner_of(tenant))
    product = product_create(
        actor=owner_of(tenant), tenant=tenant, spec=ProductSpec(retailer_id="P1", name="Passe", price=2550)
    )

    form = client.get(f"{PAGES}{product.pk}/")
    saved = client.post(f"{PAGES}{product.pk}/", _form(retailer_id="P1", name="Passe", price="30", visible=""))

    assert 'value="25.50"' in form.content.decode()
    assert saved.status_code == 302
    assert _rows(tenant) == [("P1", 3000, False)]
    entry = AuditLogEntry.objects.get(action="product.changed")
    assert entry.extra == {
        "price": {"from": 2550, "to": 3000},
        "visible": {"from": True, "to": False},
        "category": {"from": "", "to": "Recargas"},
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"price": "25,00,0"}, "Write an amount such as R$25.00."),
        ({"price": "0"}, "The price must be above zero and at most R$ 99.999.999,99."),
        ({"price": "2.555"}, "At most 2 decimal places."),
        ({"retailer_id": "com espaço"}, "The SKU takes 1 to 100 letters"),
        ({"image_url": "http://cdn.example.com/x.png"}, "The image address must be an https://"),
    ],
)
def test_a_bad_form_is_400_with_the_message_and_nothing_is_written(tenant, changes, message):
    client = _client(owner_of(tenant))

    response = client.post(f"{PAGES}new/", _form(**changes))

    assert response.status_code == 400
    assert message in response.content.decode()
    assert _rows(tenant) == []


def test_search_and_visibility_filters(tenant):
    owner = owner_of(tenant)
    for sku, name, visible in (("A1", "Recarga 10", True), ("A2", "Recarga 50", False), ("B1", "Passe", True)):
        product_create(
            actor=owner, tenant=tenant, spec=ProductSpec(retailer_id=sku, name=name, price=100, visible=visible)
        )
    client = _client(owner)

    def shown(**params) -> list[str]:
        html = client.get(PAGES, params).content.decode()
        return [sku for sku in ("A1", "A2", "B1") if f"<code>{sku}</code>" in html]

    assert shown() == ["A1", "A2", "B1"]
    assert shown(q="recarga") == ["A1", "A2"]
    assert shown(q="b1") == ["B1"]
    assert shown(visible="0") == ["A2"]
    assert shown(q="recarga", visible="1") == ["A1"]
    assert "No product matches." in client.get(PAGES, {"q": "nada"}).content.decode()


def test_delete_and_another_workspaces_product_is_404(tenant, other_tenant):
    mine = product_create(
        actor=owner_of(tenant), tenant=tenant, spec=ProductSpec(retailer_id="M1", name="Mine", price=100)
    )
    theirs = product_create(
        actor=owner_of(other_tenant), tenant=other_tenant, spec=ProductSpec(retailer_id="T1", name="Theirs", price=100)
    )
    client = _client(owner_of(tenant))

    assert client.get(f"{PAGES}{theirs.pk}/").status_code == 404
    assert client.post(f"{PAGES}{theirs.pk}/", _form(retailer_id="T1")).status_code == 404
    assert client.post(f"{PAGES}{theirs.pk}/delete/").status_code == 404
    assert client.post(f"{PAGES}{mine.pk}/delete/").status_code == 302

    assert _rows(tenant) == []
    assert _rows(other_tenant) == [("T1", 100, True)]


def test_a_supervisor_cannot_open_or_change_the_catalog(tenant):
    client = _client(add_member(tenant, BuiltinRole.SUPERVISOR))

    assert client.get(PAGES).status_code == 403
    assert client.post(f"{PAGES}new/", _form()).status_code == 403
    assert _rows(tenant) == []
    assert 'href="/t/acme/settings/catalog/"' not in client.get("/t/acme/").content.decode()


def test_a_nul_character_in_the_search_is_left_out(tenant):
    owner = owner_of(tenant)
    product_create(actor=owner, tenant=tenant, spec=ProductSpec(retailer_id="A1", name="Recarga", price=100))

    response = _client(owner).get(PAGES, {"q": "Rec\x00arga"})

    assert response.status_code == 200
    assert "<code>A1</code>" in response.content.decode()
