"""Importing products from a CSV file: the header in English or Portuguese, semicolons or commas, prices
with their cents as spreadsheets write them; rows matched by SKU (a second import duplicates nothing);
refused rows reported with their line and why while the others go on; unreadable files refused before
anything starts; the report safe to open in a spreadsheet."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from helpdesk.exceptions import PermissionDenied, ValidationFailed
from payments import imports
from payments.catalog import ProductSpec, product_create
from payments.models import Product, ProductImport
from tenants.models import AuditLogEntry, Membership
from tenants.permissions import BuiltinRole
from tests.factories import add_member, owner_of

pytestmark = pytest.mark.django_db

PAGES = "/t/acme/settings/catalog/"

PORTUGUESE = (
    "SKU;Nome;Preço;Categoria;Disponibilidade;Visível\n"
    "RECARGA-10;Recarga de R$ 10;10,00;Recargas;em estoque;sim\n"
    "RECARGA-50;Recarga de R$ 50;R$ 50,00;Recargas;Esgotado;não\n"
    "PASSE;Passe mensal;1.234,56;;;\n"
)


def _products(tenant) -> list[tuple]:
    return list(
        Product.objects.filter(tenant=tenant)
        .order_by("retailer_id")
        .values_list("retailer_id", "name", "price", "category", "availability", "visible")
    )


def _run(tenant, text: str | bytes, filename: str = "produtos.csv") -> ProductImport:
    data = text.encode() if isinstance(text, str) else text
    job = imports.import_start(actor=owner_of(tenant), tenant=tenant, filename=filename, data=data)
    result = imports.import_run(job.pk)
    assert result is not None
    return result


@pytest.mark.parametrize(
    ("raw", "cents"),
    [
        ("25,00", 2500),
        ("25.00", 2500),
        ("R$ 25,00", 2500),
        ("25.00 BRL", 2500),
        ("1.234,56", 123456),
        ("1,234.56", 123456),
        ("7", 700),
        ("1234", 123400),
        ("0,05", 5),
    ],
)
def test_prices_are_read_with_their_cents_as_spreadsheets_write_them(raw, cents):
    assert imports.price_read(raw) == cents


@pytest.mark.parametrize("raw", ["1.234", "1,234", "vinte", "25,0", "1.234.56", "-5,00", ""])
def test_prices_that_could_be_read_two_ways_or_not_at_all_are_refused(raw):
    with pytest.raises(ValidationFailed):
        imports.price_read(raw)


def test_a_portuguese_spreadsheet_with_semicolons_is_imported_and_audited_once(tenant):
    job = _run(tenant, PORTUGUESE)

    assert (job.status, job.total_rows, job.done_rows, job.created_count, job.updated_count, job.errors) == (
        "done",
        3,
        3,
        3,
        0,
        [],
    )
    assert job.content == ""
    assert _products(tenant) == [
        ("PASSE", "Passe mensal", 123456, "", "in stock", True),
        ("RECARGA-10", "Recarga de R$ 10", 1000, "Recargas", "in stock", True),
        ("RECARGA-50", "Recarga de R$ 50", 5000, "Recargas", "out of stock", False),
    ]
    [entry] = AuditLogEntry.objects.filter(tenant=tenant, action__startswith="product.")
    assert (entry.action, entry.extra, entry.target_label) == ("product.imported", {"rows": 3}, "produtos.csv")


def test_importing_again_changes_what_changed_and_duplicates_nothing(tenant):
    _run(tenant, PORTUGUESE)
    second = _run(
        tenant,
        "sku,name,price\nRECARGA-10,Recarga de R$ 10,12.00\nPASSE,Passe mensal,1234.56\nNOVO,Novo,1\n",
    )

    assert (second.created_count, second.updated_count, second.errors) == (1, 1, [])
    assert [(sku, price) for sku, _n, price, *_rest in _products(tenant)] == [
        ("NOVO", 100),
        ("PASSE", 123456),
        ("RECARGA-10", 1200),
        ("RECARGA-50", 5000),
    ]


def test_refused_rows_are_reported_with_their_line_and_the_others_are_imported(tenant):
    job = _run(
        tenant,
        "sku,name,price,availability\n"
        "OK-1,Bom,10.00,in stock\n"
        "com espaço,Ruim,10.00,\n"
        "OK-2,,10.00,\n"
        "\n"
        "OK-3,Preço estranho,1.234,\n"
        "OK-4,Disponível?,5.00,talvez\n"
        "OK-5,Bom também,5.00,out of stock\n"
        "OK-1,Bom de novo,11.00,\n",
    )

    assert (job.total_rows, job.done_rows, job.created_count, job.updated_count) == (7, 7, 2, 1)
    with translation.override("en"):
        described = imports.import_errors(job)
    with translation.override("pt-br"):
        in_portuguese = imports.import_errors(job)
    assert [(line, sku) for line, sku, _why in described] == [(3, "com espaço"), (4, "OK-2"), (6, "OK-3"), (7, "OK-4")]
    assert [why for _line, _sku, why in described][1:] == [
        "The name takes 1 to 200 characters.",
        "Write the price 1.234 with its cents, such as 1.234,00.",
        "Unknown availability talvez.",
    ]
    assert described[0][2].startswith("The SKU takes 1 to 100 letters")
    assert in_portuguese[3][2] == "Disponibilidade desconhecida: talvez."
    assert [(sku, name, price) for sku, name, price, *_rest in _products(tenant)] == [
        ("OK-1", "Bom de novo", 1100),
        ("OK-5", "Bom também", 500),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"name,price\nX,1.00\n", "The first line must name the columns; missing: sku."),
        (b"sku,name,price\n", "The file has no product rows."),
        (b"x" * (5 * 1024 * 1024 + 1), "The file is larger than 5 MB."),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_before_anything_starts(tenant, data, message):
    with pytest.raises(ValidationFailed) as caught:
        imports.import_start(actor=owner_of(tenant), tenant=tenant, filename="x.csv", data=data)

    assert caught.value.message == message
    assert not ProductImport.objects.exists()
    assert not AuditLogEntry.objects.filter(action="product.imported").exists()


def test_too_many_rows_are_refused(tenant, monkeypatch):
    monkeypatch.setattr(imports, "ROWS_MAX", 2)

    with pytest.raises(ValidationFailed) as caught:
        imports.import_start(
            actor=owner_of(tenant), tenant=tenant, filename="x.csv", data=b"sku,name,price\nA,a,1\nB,b,1\nC,c,1\n"
        )

    assert caught.value.message == "The file has 3 rows; at most 2 at a time."
    assert not ProductImport.objects.exists()


def test_a_windows_1252_file_is_read(tenant):
    job = _run(tenant, "sku;nome;preço\nA1;Café;3,50\n".encode("cp1252"))

    assert job.errors == []
    assert _products(tenant) == [("A1", "Café", 350, "", "in stock", True)]


def test_a_job_run_again_goes_on_after_the_rows_done_and_a_finished_one_does_nothing(tenant, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK", 2)
    job = imports.import_start(
        actor=owner_of(tenant),
        tenant=tenant,
        filename="x.csv",
        data=b"sku,name,price\nA,a,1\nB,b,1\nC,c,1\n",
    )
    # A worker lost after the first chunk: its rows are done, the rest are not.
    ProductImport.objects.filter(pk=job.pk).update(status="running", done_rows=2, created_count=2)

    imports.import_run(job.pk)
    done = imports.import_run(job.pk)

    assert done is not None
    assert (done.status, done.done_rows, done.created_count) == ("done", 3, 3)
    assert [row[0] for row in _products(tenant)] == ["C"]


def test_the_import_stops_when_who_started_it_may_no_longer_manage_the_catalog(tenant):
    admin = add_member(tenant, BuiltinRole.ADMIN)
    job = imports.import_start(actor=admin, tenant=tenant, filename="x.csv", data=b"sku,name,price\nA,a,1\n")
    Membership.objects.filter(pk=admin.pk).update(active=False)

    imports.import_run(job.pk)

    job.refresh_from_db()
    assert (job.status, job.done_rows, job.content) == ("failed", 0, "")
    assert _products(tenant) == []


def test_only_members_who_manage_payments_import(tenant):
    with pytest.raises(PermissionDenied):
        imports.import_start(
            actor=add_member(tenant, BuiltinRole.SUPERVISOR),
            tenant=tenant,
            filename="x.csv",
            data=b"sku,name,price\nA,a,1\n",
        )
    assert not ProductImport.objects.exists()


# --- the pages ---------------------------------------------------------------------------------------------


def _client(tenant) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(owner_of(tenant).user)
    return client


def test_the_page_uploads_shows_the_progress_and_the_report_is_safe_in_a_spreadsheet(
    tenant, django_capture_on_commit_callbacks
):
    client = _client(tenant)
    upload = SimpleUploadedFile("lista.csv", b"sku,name,price\nA1,Bom,1.00\n=HYPERLINK(1),Ruim,1.00\n")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{PAGES}import/", {"file": upload})

    job = ProductImport.objects.get()
    assert (response.status_code, response["Location"]) == (302, f"{PAGES}import/{job.pk}/")
    page = client.get(f"{PAGES}import/{job.pk}/").content.decode()
    assert 'data-import-status="done"' in page
    assert "1 of 2 lines read" not in page and "2 of 2 lines read." in page
    assert "1 added, 0 changed, 1 refused." in page
    assert 'http-equiv="refresh"' not in page
    report = client.get(f"{PAGES}import/{job.pk}/errors.csv")
    assert report["Content-Type"] == "text/csv; charset=utf-8"
    lines = report.content.decode().splitlines()
    assert lines[0] == "line,sku,error"
    assert lines[1].startswith("3,'=HYPERLINK(1),\"The SKU takes 1 to 100 letters")


def test_a_running_import_refreshes_itself(tenant):
    job = imports.import_start(actor=owner_of(tenant), tenant=tenant, filename="x.csv", data=b"sku,name,price\nA,a,1\n")

    page = _client(tenant).get(f"{PAGES}import/{job.pk}/").content.decode()

    assert '<meta http-equiv="refresh" content="2">' in page
    assert "0 of 1 lines read." in page


def test_a_bad_file_on_the_page_is_400_with_the_reason(tenant):
    upload = SimpleUploadedFile("x.csv", b"nome,valor\nA,1\n")

    response = _client(tenant).post(f"{PAGES}import/", {"file": upload})

    assert response.status_code == 400
    assert "The first line must name the columns; missing: sku." in response.content.decode()
    assert not ProductImport.objects.exists()


def test_another_workspaces_import_is_404(tenant, other_tenant):
    theirs = imports.import_start(
        actor=owner_of(other_tenant), tenant=other_tenant, filename="x.csv", data=b"sku,name,price\nA,a,1\n"
    )
    client = _client(tenant)

    assert client.get(f"{PAGES}import/{theirs.pk}/").status_code == 404
    assert client.get(f"{PAGES}import/{theirs.pk}/errors.csv").status_code == 404


def test_a_column_the_file_does_not_have_keeps_an_existing_products_value(tenant):
    product_create(
        actor=owner_of(tenant),
        tenant=tenant,
        spec=ProductSpec(retailer_id="A1", name="Velho", price=100, category="Antiga", description="Texto"),
    )

    _run(tenant, "sku,name,price,category\nA1,Novo,2.00,Nova\n")

    product = Product.objects.get(tenant=tenant, retailer_id="A1")
    assert (product.name, product.price, product.category, product.description) == ("Novo", 200, "Nova", "Texto")


def _statements_to_import(tenant, rows: int) -> int:
    lines = "".join(f"N{rows}-{i},Produto {i},{i + 1}.00\n" for i in range(rows))
    job = imports.import_start(
        actor=owner_of(tenant), tenant=tenant, filename="x.csv", data=f"sku,name,price\n{lines}".encode()
    )
    with CaptureQueriesContext(connection) as queries:
        imports.import_run(job.pk)
    return len(queries)


def test_each_new_row_costs_the_same_few_statements_and_no_lookup_of_its_own(tenant):
    ten, twenty = _statements_to_import(tenant, 10), _statements_to_import(tenant, 20)

    # Per row: its savepoint, its insert, the savepoint's release; the rest is per chunk and per job.
    assert twenty - ten == 10 * 3
    assert Product.objects.filter(tenant=tenant).count() == 30


def test_a_refused_line_whose_reason_is_gone_or_a_duplicate_sku_is_said_so(tenant):
    job = _run(tenant, "sku,name,price\nA1,Bom,1.00\n")
    ProductImport.objects.filter(pk=job.pk).update(
        errors=[
            {"row": 2, "cells": ["A1", "Bom", "1.00"]},
            {"row": 3, "cells": ["A2", "Outro", "2.00"], "duplicate": True},
        ]
    )
    job.refresh_from_db()

    with translation.override("en"):
        assert imports.import_errors(job) == [
            (2, "A1", "This line could not be imported."),
            (3, "A2", "Another product has this SKU."),
        ]
