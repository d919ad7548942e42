"""The demo's catalog, as ``make run`` seeds it."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from payments.catalog import product_spec_of, product_update
from payments.models import Product
from tenants.models import Tenant
from tests.factories import owner_of

pytestmark = pytest.mark.django_db


def test_the_demo_gets_its_catalog_once_and_keeps_what_was_changed():
    call_command("seed_demo", stdout=StringIO())
    tenant = Tenant.objects.get(slug="demo")
    out = StringIO()

    call_command("seed_demo_payments", stdout=out)
    product = Product.objects.get(tenant=tenant, retailer_id="RECARGA-25")
    product_update(actor=owner_of(tenant), product=product, spec=product_spec_of(product, price=2600))
    again = StringIO()
    call_command("seed_demo_payments", stdout=again)

    assert (
        out.getvalue() == "Demo catalog: 4 products added, 0 already there.\nDemo payment accounts added: static_pix.\n"
    )
    assert again.getvalue() == "Demo catalog: 0 products added, 4 already there.\nDemo payment accounts added: none.\n"
    assert list(Product.objects.filter(tenant=tenant).order_by("price").values_list("retailer_id", "price")) == [
        ("RECARGA-10", 1000),
        ("RECARGA-25", 2600),
        ("RECARGA-50", 5000),
        ("PASSE-MENSAL", 19800),
    ]


def test_without_the_demo_workspace_it_says_so():
    with pytest.raises(CommandError) as caught:
        call_command("seed_demo_payments", stdout=StringIO())
    assert str(caught.value) == "No demo workspace: run seed_demo first."
    assert not Product.objects.exists()
