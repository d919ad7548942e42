"""The import pages: upload, choosing the columns, the progress live, the report; limits and isolation."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from campaigns import imports
from campaigns.models import ContactImport
from conversations.models import Contact
from tests.factories import owner_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def client(owner):
    client = Client()
    client.force_login(owner.user)
    return client


def test_upload_map_run_and_watch_an_import(client, tenant, django_capture_on_commit_callbacks):
    base = f"/t/{tenant.slug}/campaigns/contacts/import/"
    data = b"\xef\xbb\xbfcelular;nome;plano\n(11) 98765-4321;Ana;ouro\n12;Bia;prata\n"
    uploaded = client.post(base, {"file": SimpleUploadedFile("lista.csv", data)})
    assert uploaded.status_code == 302
    job = ContactImport.objects.get(tenant=tenant)
    mapping_page = client.get(uploaded["Location"]).content.decode()
    assert "(11) 98765-4321" in mapping_page and 'value="plano"' in mapping_page
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(
            uploaded["Location"], {"use_0": "phone", "use_1": "name", "use_2": "attribute", "key_2": "plan"}
        )
    assert started.status_code == 302
    job.refresh_from_db()
    assert job.mapping == {"celular": "phone", "nome": "name", "plano": "attribute:plan"}
    # The task runs in-process in tests (eager): the import is done.
    assert (job.status, job.created_count, job.error_count) == ("done", 1, 1)
    assert Contact.objects.get(tenant=tenant).custom_attributes == {"plan": "ouro"}
    page = client.get(started["Location"]).content.decode()
    assert 'data-import-counts="1/0/1"' in page and "12 is not a valid phone number." in page
    fragment = client.get(f"{base}{job.pk}/progress/", HTTP_HX_REQUEST="true")
    assert fragment["HX-Refresh"] == "true"
    report = client.get(f"{base}{job.pk}/errors.csv")
    assert report["Content-Type"] == "text/csv; charset=utf-8"
    assert list(csv.reader(io.StringIO(report.content.decode()))) == [
        ["row", "column", "error", "celular", "nome", "plano"],
        ["3", "celular", "12 is not a valid phone number.", "12", "Bia", "prata"],
    ]


def test_a_new_workspace_can_import_marketing_consent_at_once(client, tenant):
    from campaigns.models import ConsentPurpose

    base = f"/t/{tenant.slug}/campaigns/contacts/import/"
    uploaded = client.post(base, {"file": SimpleUploadedFile("lista.csv", b"telefone;aceita\n11987654321;sim\n")})
    page = client.get(uploaded["Location"]).content.decode()

    marketing = ConsentPurpose.objects.get(tenant=tenant, key="marketing")
    assert f'<option value="{marketing.pk}">Marketing messages</option>' in page


def test_the_progress_fragment_polls_while_the_import_runs(client, tenant, owner):
    job = imports.contact_import_upload(actor=owner, tenant=tenant, filename="a.csv", data=b"phone\n11987654321\n")
    ContactImport.objects.filter(pk=job.pk).update(status="running", processed_rows=0)
    fragment = client.get(f"/t/{tenant.slug}/campaigns/contacts/import/{job.pk}/progress/", HTTP_HX_REQUEST="true")
    html = fragment.content.decode()
    assert 'hx-trigger="every 1s"' in html and 'data-import-progress="0/1"' in html
    assert "HX-Refresh" not in fragment


def test_a_bad_mapping_is_said_on_the_page_and_starts_nothing(client, tenant, owner):
    job = imports.contact_import_upload(actor=owner, tenant=tenant, filename="a.csv", data=b"a,b\n11987654321,x\n")
    page = client.post(f"/t/{tenant.slug}/campaigns/contacts/import/{job.pk}/", {"use_0": "name", "use_1": ""})
    assert page.status_code == 400
    assert "Choose the one column that holds the phone number." in page.content.decode()
    job.refresh_from_db()
    assert job.status == "mapping"


def test_a_huge_file_is_refused_with_a_clear_message(client, tenant):
    big = SimpleUploadedFile("big.csv", b"phone\n" + b"1" * (20 * 1024 * 1024 + 1))
    page = client.post(f"/t/{tenant.slug}/campaigns/contacts/import/", {"file": big})
    assert page.status_code == 400
    assert "The file is larger than 20 MB." in page.content.decode()
    assert ContactImport.objects.count() == 0


def test_another_workspaces_import_is_404(client, tenant, other_tenant):
    theirs = imports.contact_import_upload(
        actor=owner_of(other_tenant), tenant=other_tenant, filename="a.csv", data=b"phone\n11987654321\n"
    )
    base = f"/t/{tenant.slug}/campaigns/contacts/import/{theirs.pk}/"
    for url in (base, f"{base}progress/", f"{base}errors.csv"):
        assert client.get(url).status_code == 404
    assert client.post(base, {"use_0": "phone"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "mapping"


def test_an_agent_may_not_open_the_import_page(tenant, agent):
    client = Client()
    client.force_login(agent.user)
    assert client.get(f"/t/{tenant.slug}/campaigns/contacts/import/").status_code == 403


def test_the_report_speaks_the_readers_language(client, tenant, owner):
    from django.utils import translation

    from tenants.services import user_preferences_update

    job = imports.contact_import_upload(actor=owner, tenant=tenant, filename="a.csv", data=b"phone\n12\n")
    imports.contact_import_start(actor=owner, contact_import=job, mapping={"phone": "phone"})
    imports.contact_import_run(job.pk)
    user_preferences_update(user=owner.user, language="pt-br")
    report = client.get(f"/t/{tenant.slug}/campaigns/contacts/import/{job.pk}/errors.csv").content.decode()
    assert list(csv.reader(io.StringIO(report))) == [
        ["linha", "coluna", "erro", "phone"],
        ["2", "phone", "12 não é um número de telefone válido.", "12"],
    ]
    translation.activate("en")
