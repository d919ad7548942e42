"""Contacts imported from CSV and XLSX files: exact counts and error reports, idempotent re-imports, resumable jobs."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from campaigns import imports
from campaigns.imports import contact_import_run, contact_import_start, contact_import_upload, phone_read
from campaigns.models import ConsentEvent, ConsentPurpose, ConsentState, ContactImport, ContactImportError
from conversations.models import Contact, ContactIdentity, ContactLabel, Label
from helpdesk.exceptions import Conflict, PermissionDenied, ValidationFailed
from tenants.models import AuditLogEntry
from tests.conversations.factories import make_label

pytestmark = pytest.mark.django_db

HEADER = ["Telefone", "Nome", "Etiquetas", "Plano", "Aceita marketing"]
MAPPING = {
    "Telefone": "phone",
    "Nome": "name",
    "Etiquetas": "label",
    "Plano": "attribute:plan",
    "Aceita marketing": "consent",
}
PROOF = "Formulário do site, caixa 'quero receber ofertas' marcada (2026-03)."


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def big_file(rows: int = 10_000) -> tuple[bytes, list[tuple[int, str, str]]]:
    """``rows`` contacts, one in twenty refused for a reason of its own; and the refusals (row, column, why)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(HEADER)
    expected = []
    for i in range(rows):
        number = i + 2
        phone, name, consent = f"(11) 9{80000000 + i}", f"Cliente {i}", "sim" if i % 2 else "não"
        if i % 100 == 0:
            phone = ""
            expected.append((number, "Telefone", "The phone number is missing."))
        elif i % 100 == 20:
            phone = "12345"
            expected.append((number, "Telefone", "12345 is not a valid phone number."))
        elif i % 100 == 40:
            phone = f"+55 11 9{80000000 + i - 1}"
            expected.append((number, "Telefone", f"The phone number is also on row {number - 1}."))
        elif i % 100 == 60:
            consent = "talvez"
            expected.append((number, "Aceita marketing", "Consent is yes or no, not talvez."))
        elif i % 100 == 80:
            name = "x" * 256
            expected.append((number, "Nome", "The name is longer than 255 characters."))
        writer.writerow([phone, name, "cliente, varejo" if i % 3 else "cliente", f"plano {i % 4}", consent])
    return out.getvalue().encode("utf-8-sig"), expected


def upload(owner, data: bytes, filename: str = "contatos.csv") -> ContactImport:
    return contact_import_upload(actor=owner, tenant=owner.tenant, filename=filename, data=data)


def start_and_run(owner, job, *, mapping=MAPPING, purpose=None, labels=(), proof=PROOF) -> ContactImport:
    contact_import_start(
        actor=owner,
        contact_import=job,
        mapping=mapping,
        label_ids=[label.pk for label in labels],
        consent_purpose_id=purpose.pk if purpose else None,
        consent_proof=proof if purpose else "",
    )
    done, more = contact_import_run(job.pk)
    assert not more
    return done


def errors_of(job) -> list[tuple[int, str, str]]:
    return list(ContactImportError.objects.filter(contact_import=job).values_list("row", "column", "message"))


@pytest.fixture
def news(tenant):
    return ConsentPurpose.objects.create(tenant=tenant, key="news", name="Newsletter")


def test_ten_thousand_rows_with_one_in_twenty_refused_give_exact_counts_and_report(owner, news):
    data, expected = big_file()
    job = upload(owner, data)
    assert (job.status, job.total_rows, job.columns) == ("mapping", 10_000, HEADER)
    # Guessed from the Portuguese header; another column is an attribute of its name.
    assert job.mapping == MAPPING | {"Plano": "attribute:Plano"}
    done = start_and_run(owner, job, purpose=news)

    assert (done.status, done.processed_rows, done.created_count, done.updated_count) == ("done", 10_000, 9_500, 0)
    assert done.error_count == 500
    assert errors_of(done) == expected
    assert Contact.objects.filter(tenant=owner.tenant).count() == 9_500
    assert ContactIdentity.objects.filter(tenant=owner.tenant, channel_type="whatsapp").count() == 9_500
    ana = Contact.objects.get(tenant=owner.tenant, phone_e164="+5511980000001")
    assert (ana.name, ana.custom_attributes) == ("Cliente 1", {"plan": "plano 1"})
    assert ContactIdentity.objects.get(contact=ana).address == "5511980000001"
    assert sorted(ana.labels.values_list("name", flat=True)) == ["cliente", "varejo"]
    assert Label.objects.filter(tenant=owner.tenant).count() == 2
    # Odd rows say "sim": their opt-ins are in the ledger, with the row and the proof as evidence.
    consenting = sum(1 for i in range(10_000) if i % 2 and i % 100 not in (0, 20, 40, 60, 80))
    assert ConsentEvent.objects.filter(tenant=owner.tenant, source="import").count() == consenting
    assert ConsentState.objects.filter(tenant=owner.tenant, purpose=news, kind="opt_in").count() == consenting
    event = ConsentEvent.objects.get(contact=ana)
    assert (event.kind, event.purpose_id, event.evidence["row"], event.evidence["proof"]) == (
        "opt_in",
        news.pk,
        3,
        PROOF,
    )
    assert ContactLabel.objects.filter(tenant=owner.tenant).count() == sum(
        2 if i % 3 else 1 for i in range(10_000) if i % 100 not in (0, 20, 40, 60, 80)
    )
    audit = AuditLogEntry.objects.get(tenant=owner.tenant, action=AuditLogEntry.Action.CONTACTS_IMPORTED)
    assert (audit.target_id, audit.extra["rows"]) == (str(job.pk), 10_000)

    # The same file again: nobody new, every valid row an update, the ledger unchanged.
    again = start_and_run(owner, upload(owner, data), purpose=news)
    assert (again.created_count, again.updated_count, again.error_count) == (0, 9_500, 500)
    assert errors_of(again) == expected
    assert Contact.objects.filter(tenant=owner.tenant).count() == 9_500
    assert ContactLabel.objects.filter(tenant=owner.tenant).count() == ContactLabel.objects.count()
    assert ConsentEvent.objects.filter(tenant=owner.tenant).count() == consenting


def test_a_job_resumed_after_its_worker_died_imports_every_row_once(owner, monkeypatch):
    data, expected = big_file(3_500)
    job = upload(owner, data)
    contact_import_start(actor=owner, contact_import=job, mapping={**MAPPING, "Aceita marketing": ""})
    real, calls = imports._batch_apply, []

    def dies_on_the_third(**kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker lost")
        return real(**kwargs)

    monkeypatch.setattr(imports, "_batch_apply", dies_on_the_third)
    with pytest.raises(RuntimeError):
        contact_import_run(job.pk)
    job.refresh_from_db()
    # Two batches committed with their progress; the third rolled back whole.
    assert (job.status, job.processed_rows, job.created_count) == ("running", 2_000, 1_920)
    assert Contact.objects.filter(tenant=owner.tenant).count() == 1_920

    done, more = contact_import_run(job.pk)
    assert not more
    expected = [error for error in expected if error[1] != "Aceita marketing"]
    assert (done.status, done.processed_rows, done.created_count, done.updated_count) == ("done", 3_500, 3_360, 0)
    assert errors_of(done) == expected
    assert Contact.objects.filter(tenant=owner.tenant).count() == 3_360
    # Run once more (a duplicate delivery of the job): nothing changes.
    assert contact_import_run(job.pk)[0].created_count == 3_360
    assert Contact.objects.filter(tenant=owner.tenant).count() == 3_360


def test_a_job_out_of_time_hands_over_to_the_next(owner):
    data, _expected = big_file(2_500)
    job = upload(owner, data)
    contact_import_start(actor=owner, contact_import=job, mapping=MAPPING | {"Aceita marketing": ""})
    partial, more = contact_import_run(job.pk, budget_seconds=0)
    assert (more, partial.processed_rows, partial.status) == (True, 1_000, "running")
    done, more = contact_import_run(job.pk)
    assert (more, done.processed_rows, done.created_count, done.status) == (False, 2_500, 2_400, "done")


def test_xlsx_with_phones_as_numbers_and_a_brazilian_mobile_without_its_ninth_digit(owner, tenant):
    known = Contact.objects.create(tenant=tenant, name="Old", phone_e164="+5511987654321")
    ContactIdentity.objects.create(tenant=tenant, contact=known, channel_type="whatsapp", address="5511987654321")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["phone", "name", "city"])
    sheet.append([551187654321, "Maria", "Recife"])  # the old 8-digit mobile of the known contact
    sheet.append([5521998887777, "João", None])
    sheet.append([None, None, None])  # an empty row is skipped, and keeps its number
    sheet.append(["+1 650 555 1234", "Ann", "Palo Alto"])
    sheet.append(["(11) 3333-4444", "Loja", "SP"])  # a landline keeps its 8 digits
    buffer = io.BytesIO()
    workbook.save(buffer)
    job = upload(owner, buffer.getvalue(), "contatos.xlsx")
    assert (job.total_rows, job.mapping) == (4, {"phone": "phone", "name": "name", "city": "attribute:city"})
    assert job.sample[0] == ["551187654321", "Maria", "Recife"]
    done = start_and_run(owner, job, mapping=job.mapping)
    assert (done.created_count, done.updated_count, done.error_count) == (3, 1, 0)
    known.refresh_from_db()
    assert (known.name, known.custom_attributes) == ("Maria", {"city": "Recife"})
    phones = sorted(Contact.objects.filter(tenant=tenant).values_list("phone_e164", flat=True))
    assert phones == ["+16505551234", "+551133334444", "+5511987654321", "+5521998887777"]


def test_semicolon_csv_in_windows_1252_with_a_bom_less_header(owner, tenant):
    data = "telefone;nome;observação\n(11) 8765-4321;José;Não ligar\n".encode("cp1252")
    job = upload(owner, data)
    assert job.columns == ["telefone", "nome", "observação"]
    done = start_and_run(owner, job, mapping=job.mapping)
    contact = Contact.objects.get(tenant=tenant)
    assert (done.created_count, contact.phone_e164, contact.name) == (1, "+5511987654321", "José")
    assert contact.custom_attributes == {"observação": "Não ligar"}


@pytest.mark.parametrize(
    ("raw", "phone"),
    [
        ("(11) 98765-4321", "+5511987654321"),
        ("11 8765-4321", "+5511987654321"),
        ("+55 11 8765-4321", "+5511987654321"),
        ("551187654321", "+5511987654321"),
        ("5511987654321", "+5511987654321"),
        ("+551133334444", "+551133334444"),
        ("16505551234", "+16505551234"),
        ("12345", None),
        ("987654321", None),
        ("=1+1", None),
    ],
)
def test_phone_numbers_as_people_write_them(raw, phone):
    assert phone_read(raw, region="BR") == phone


def test_a_formula_is_stored_as_text_and_the_served_report_defuses_it(owner, tenant):
    data = b"phone,name,notes\n(11) 98765-4321,=cmd|' /C calc'!A0,+SUM(1)\n=HYPERLINK(\"http://evil\"),@x,-1\n"
    done = start_and_run(
        owner, upload(owner, data), mapping={"phone": "phone", "name": "name", "notes": "attribute:notes"}
    )
    contact = Contact.objects.get(tenant=tenant)
    assert (contact.name, contact.custom_attributes) == ("=cmd|' /C calc'!A0", {"notes": "+SUM(1)"})
    assert errors_of(done) == [(3, "phone", '=HYPERLINK("http://evil") is not a valid phone number.')]
    report = list(csv.reader(io.StringIO(imports.import_errors_csv(done))))
    assert report == [
        ["row", "column", "error", "phone", "name", "notes"],
        [
            "3",
            "phone",
            '\'=HYPERLINK("http://evil") is not a valid phone number.',
            '\'=HYPERLINK("http://evil")',
            "'@x",
            "'-1",
        ],
    ]


def test_labels_for_every_row_and_consent_never_over_an_opt_out(owner, tenant, news):
    vip = make_label(tenant, "vip")
    out = Contact.objects.create(tenant=tenant, phone_e164="+5511987654321")
    event = ConsentEvent.objects.create(
        tenant=tenant, contact=out, purpose=news, kind="opt_out", source="keyword", occurred_at="2026-01-01T00:00Z"
    )
    ConsentState.objects.create(
        tenant=tenant, contact=out, purpose=news, kind="opt_out", occurred_at=event.occurred_at, event=event
    )
    data = b"phone,ok\n11987654321,yes\n11987654322,1\n11987654323,0\n11987654324,\n"
    done = start_and_run(
        owner, upload(owner, data), mapping={"phone": "phone", "ok": "consent"}, purpose=news, labels=[vip]
    )
    assert (done.created_count, done.updated_count) == (3, 1)
    assert errors_of(done) == [(2, "ok", "This customer opted out earlier: the import does not opt them back in.")]
    assert ContactLabel.objects.filter(tenant=tenant, label=vip).count() == 4
    states = dict(ConsentState.objects.filter(tenant=tenant, purpose=news).values_list("contact__phone_e164", "kind"))
    assert states == {"+5511987654321": "opt_out", "+5511987654322": "opt_in"}


def test_marketing_consent_from_an_import_reaches_the_contact(owner, tenant):
    marketing = ConsentPurpose.objects.create(tenant=tenant, key="marketing", name="Marketing", is_marketing=True)
    data = b"phone,ok\n11987654321,sim\n11987654322,nao\n"
    start_and_run(owner, upload(owner, data), mapping={"phone": "phone", "ok": "consent"}, purpose=marketing)
    consent = dict(Contact.objects.filter(tenant=tenant).values_list("phone_e164", "marketing_consent"))
    assert consent == {"+5511987654321": "opted_in", "+5511987654322": "unknown"}


def test_files_too_big_or_too_long_or_unreadable_are_refused_before_anything_is_kept(owner, monkeypatch):
    with pytest.raises(ValidationFailed, match="larger than 20 MB"):
        upload(owner, b"phone\n" + b"1" * (20 * 1024 * 1024))
    monkeypatch.setattr(imports, "ROWS_MAX", 3)
    with pytest.raises(ValidationFailed, match="more than 3 rows"):
        upload(owner, b"phone\n1\n2\n3\n4\n")
    with pytest.raises(ValidationFailed, match="could not be read as an XLSX"):
        upload(owner, b"PK\x03\x04 not a zip", "x.xlsx")
    monkeypatch.setattr(imports, "XLSX_UNZIPPED_MAX_BYTES", 1000)
    workbook = openpyxl.Workbook()
    workbook.active.append(["phone", "x" * 5000])
    buffer = io.BytesIO()
    workbook.save(buffer)
    with pytest.raises(ValidationFailed, match="more than 0 MB once unzipped"):
        upload(owner, buffer.getvalue(), "bomb.xlsx")
    with pytest.raises(ValidationFailed, match="no rows of contacts"):
        upload(owner, b"phone\n\n")
    with pytest.raises(ValidationFailed, match="XLSX or CSV"):
        upload(owner, b"\xd0\xcf\x11\xe0 old excel", "old.xls")
    assert ContactImport.objects.count() == 0


def test_mapping_needs_one_phone_column_and_consent_needs_a_purpose_and_proof(owner, news):
    job = upload(owner, b"a,b\n11987654321,sim\n")
    cases = [
        ({"a": "name", "b": ""}, {}, "Choose the one column that holds the phone number."),
        ({"a": "phone", "b": "phone"}, {}, "Choose the one column that holds the phone number."),
        ({"a": "phone", "b": "whatever"}, {}, "Unknown use of the column b."),
        ({"a": "phone", "b": "consent"}, {}, "Choose what the consent column"),
        ({"a": "phone", "b": "consent"}, {"consent_purpose_id": news.pk}, "Say how these customers agreed"),
        ({"a": "phone", "c": "name"}, {}, "The file has no column c."),
    ]
    for mapping, extra, message in cases:
        with pytest.raises(ValidationFailed, match=message.replace("(", r"\(")):
            contact_import_start(actor=owner, contact_import=job, mapping=mapping, **extra)
    job.refresh_from_db()
    assert job.status == "mapping"
    contact_import_start(actor=owner, contact_import=job, mapping={"a": "phone", "b": ""})
    with pytest.raises(Conflict):
        contact_import_start(actor=owner, contact_import=job, mapping={"a": "phone", "b": ""})


def test_an_agent_may_not_import(agent):
    with pytest.raises(PermissionDenied):
        upload(agent, b"phone\n11987654321\n")
    assert ContactImport.objects.count() == 0


def test_a_job_gone_quiet_is_queued_again_and_finishes(owner, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    job = upload(owner, b"phone\n11987654321\n11987654322\n")
    contact_import_start(actor=owner, contact_import=job, mapping={"phone": "phone"})  # its message is lost
    assert imports.contact_imports_sweep() == 0  # not quiet for long yet
    later = timezone.now() + timedelta(seconds=imports.STALL_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert imports.contact_imports_sweep(now=later) == 1
    job.refresh_from_db()
    assert (job.status, job.created_count) == ("done", 2)
    assert imports.contact_imports_sweep(now=later + timedelta(hours=1)) == 0
