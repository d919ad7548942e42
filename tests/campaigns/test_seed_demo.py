"""The demo's campaigns as ``make run`` seeds them, and the sample file of contacts the demo imports."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from campaigns.consent import marketing_purpose
from campaigns.imports import contact_import_run, contact_import_start, contact_import_upload
from campaigns.models import ContactImportError, Segment
from campaigns.segments import segment_count
from conversations.models import Contact, Label
from tenants.demo import demo_owner

pytestmark = pytest.mark.django_db

DEMO_CSV = Path(__file__).resolve().parents[2] / "campaigns" / "demo" / "contatos-demo.csv"


@pytest.fixture
def demo():
    call_command("seed_demo", stdout=StringIO())
    owner = demo_owner()
    Label.objects.create(tenant=owner.tenant, name="vip")
    return owner


def test_the_demo_gets_its_two_segments_once(demo):
    call_command("seed_demo_campaigns", stdout=StringIO())
    out = StringIO()
    call_command("seed_demo_campaigns", stdout=out)

    segments = {s.name: s.filters for s in Segment.objects.filter(tenant=demo.tenant)}
    vip = Label.objects.get(tenant=demo.tenant, name="vip")
    assert segments == {
        "Aceitaram promoções": {"consent": {"purpose": "marketing", "state": "opted_in"}},
        "VIPs com consentimento": {
            "consent": {"purpose": "marketing", "state": "opted_in"},
            "labels_any": [vip.pk],
        },
    }
    assert out.getvalue().startswith("Campaigns: 0 segment(s) added.")


def test_the_sample_file_imports_four_consenting_customers_and_reports_the_wrong_number(demo):
    call_command("seed_demo_campaigns", stdout=StringIO())
    purpose = marketing_purpose(tenant_id=demo.tenant.pk)
    job = contact_import_upload(actor=demo, tenant=demo.tenant, filename=DEMO_CSV.name, data=DEMO_CSV.read_bytes())
    assert job.mapping == {
        "nome": "name",
        "telefone": "phone",
        "etiquetas": "label",
        "aceita_marketing": "consent",
        "cidade": "attribute:cidade",
    }
    contact_import_start(
        actor=demo,
        contact_import=job,
        mapping=job.mapping,
        consent_purpose_id=purpose.pk,
        consent_proof="Cadastro na loja, com a caixa de promoções marcada.",
    )
    done, more = contact_import_run(job.pk)

    assert (more, done.created_count, done.error_count) == (False, 5, 1)
    assert list(ContactImportError.objects.filter(contact_import=job).values_list("row", "column")) == [(7, "telefone")]
    phones = dict(Contact.objects.filter(tenant=demo.tenant).values_list("phone_e164", "marketing_consent"))
    assert phones == {
        "+5511987654321": "opted_in",
        "+5511976543210": "opted_in",
        "+5511965432109": "opted_in",
        "+5521954321098": "unknown",
        "+5531943210987": "opted_in",
    }
    segments = {s.name: segment_count(segment=s) for s in Segment.objects.filter(tenant=demo.tenant)}
    assert segments == {"Aceitaram promoções": 4, "VIPs com consentimento": 1}
