"""Payment accounts: a workspace's Pix key and provider credentials, saved by who manages payments, secrets
encrypted at rest and never shown again (an empty field keeps the saved one); a provider's address is the
deployment's choice, never typed by a workspace; every save audited without its secrets."""

from __future__ import annotations

import pytest
from django.test import Client

from helpdesk.exceptions import PermissionDenied, ValidationFailed
from payments.accounts import payment_account_save
from payments.models import PaymentAccount
from tenants.models import AuditLogEntry
from tenants.permissions import BuiltinRole
from tests.factories import add_member, owner_of

pytestmark = pytest.mark.django_db

PIX = {
    "pix_key": "+5511912345678",
    "pix_key_type": "PHONE",
    "merchant_name": "Transporte",
    "merchant_city": "Sao Paulo",
}


@pytest.fixture
def providers(settings):
    settings.PAYMENTS_PIX_PROVIDERS = {
        "banco": {
            "name": "Banco Exemplo",
            "api_url": "https://pix.banco.example/api/v2",
            "token_url": "https://pix.banco.example/oauth/token",
        }
    }


def _client(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def test_secrets_are_encrypted_at_rest_never_shown_and_kept_when_left_empty(tenant, providers):
    owner = owner_of(tenant)
    values = {**PIX, "provider": "banco", "client_id": "cid", "pix_key_type": "EVP",
              "pix_key": "2a5c4f1e-9b3d-4c7a-8e6f-1d2b3c4d5e6f"}  # fmt: skip
    account = payment_account_save(
        actor=owner, tenant=tenant, kind="bcb_pix", values=values, secrets={"client_secret": "s3cr3t-value"}
    )
    stored = PaymentAccount.objects.filter(pk=account.pk).values_list("secrets_encrypted", flat=True).get()
    assert "s3cr3t-value" not in stored
    assert PaymentAccount.objects.get(pk=account.pk).secrets == {"client_secret": "s3cr3t-value"}

    page = _client(owner).get("/t/acme/settings/payments/edit/?kind=bcb_pix").content.decode()
    assert "s3cr3t-value" not in page and 'value="cid"' in page
    change = {**values, "enabled": "on", "client_secret": "", "client_id": "cid2"}
    response = _client(owner).post("/t/acme/settings/payments/edit/?kind=bcb_pix", change)
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.client_id, account.secrets) == ("cid2", {"client_secret": "s3cr3t-value"})
    entries = AuditLogEntry.objects.filter(tenant=tenant, action="payment_account.saved").order_by("id")
    assert [entry.extra["changed"] for entry in entries][-1] == ["client_id"]
    assert all("s3cr3t" not in str(entry.extra) for entry in entries)


def test_the_webhook_address_is_shown_for_a_provider_account(tenant, providers):
    account = payment_account_save(
        actor=owner_of(tenant), tenant=tenant, kind="mercadopago", values={}, secrets={"access_token": "APP_USR-1"}
    )
    page = _client(owner_of(tenant)).get("/t/acme/settings/payments/").content.decode()
    assert f"/webhooks/payments/{account.webhook_key}/" in page
    assert "APP_USR-1" not in page


@pytest.mark.parametrize(
    ("kind", "values", "secrets", "field"),
    [
        ("static_pix", {**PIX, "pix_key": "not a key"}, {}, "pix_key"),
        ("static_pix", {**PIX, "pix_key_type": ""}, {}, "pix_key_type"),
        ("static_pix", {**PIX, "merchant_name": ""}, {}, "merchant_name"),
        ("bcb_pix", {**PIX, "provider": "https://evil.example"}, {"client_secret": "x"}, "provider"),
        ("bcb_pix", {**PIX, "provider": "banco"}, {}, "client_secret"),
        ("mercadopago", {}, {}, "access_token"),
        ("stripe", {}, {"webhook_secret": "whsec"}, "secret_key"),
        ("paypal", {}, {}, "kind"),
    ],
)
def test_an_account_that_cannot_work_is_refused_and_nothing_is_saved(tenant, providers, kind, values, secrets, field):
    with pytest.raises(ValidationFailed) as refused:
        payment_account_save(actor=owner_of(tenant), tenant=tenant, kind=kind, values=values, secrets=secrets)
    assert list(refused.value.details) == [field]
    assert not PaymentAccount.objects.exists()
    assert not AuditLogEntry.objects.filter(action="payment_account.saved").exists()


def test_only_who_manages_payments_saves_an_account(tenant):
    agent = add_member(tenant, BuiltinRole.AGENT)
    with pytest.raises(PermissionDenied):
        payment_account_save(actor=agent, tenant=tenant, kind="static_pix", values=PIX, secrets={})
    assert _client(agent).get("/t/acme/settings/payments/").status_code == 403
    assert _client(agent).post("/t/acme/settings/payments/edit/?kind=static_pix", PIX).status_code == 403
    assert not PaymentAccount.objects.exists()


def test_an_unknown_kind_of_account_page_is_a_404(tenant):
    assert _client(owner_of(tenant)).get("/t/acme/settings/payments/edit/?kind=paypal").status_code == 404
