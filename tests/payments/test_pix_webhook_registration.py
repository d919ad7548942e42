"""The bank keeps posting a Pix key's payments to us: the address is registered when the account is saved,
checked by the sweeper every hour and registered again when the bank lost it or holds another one; a bank
that refuses is recorded and shown on the payments settings page, and tried again at the next check."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from payments.accounts import gateway_kept, payment_account_save, pix_webhooks_check, webhook_url
from payments.gateways.bcb_pix import BcbPixGateway
from payments.models import PaymentAccount
from tests.factories import owner_of
from tests.payments.conftest import pix_account_values

pytest_plugins = ["tests.payments.fake_psp_fixtures"]
pytestmark = pytest.mark.django_db


@pytest.fixture
def pix_settings(pix_provider):
    return pix_provider


def _form(psp) -> dict[str, str]:
    return pix_account_values(psp, client_secret=psp.client_secret, enabled="on")


def _registered(account: PaymentAccount) -> str | None:
    gateway = gateway_kept(account)
    assert isinstance(gateway, BcbPixGateway)
    hook = gateway.get_webhook()
    return hook.url if hook else None


def _logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_saving_the_account_registers_our_address_and_the_page_says_so(tenant, pix_settings):
    owner = owner_of(tenant).user
    response = _logged_in(owner).post(
        f"/t/{tenant.slug}/settings/payments/edit/?kind=bcb_pix", data=_form(pix_settings), follow=True
    )
    assert response.status_code == 200
    account = PaymentAccount.objects.get(tenant=tenant, kind="bcb_pix")
    assert _registered(account) == webhook_url(account)
    assert (account.webhook_problem, account.webhook_checked_at is not None) == ("", True)
    page = _logged_in(owner).get(f"/t/{tenant.slug}/settings/payments/").content.decode()
    assert 'data-webhook-status="ok"' in page and 'data-webhook-status="problem"' not in page


def test_the_hourly_check_registers_again_an_address_the_bank_lost_or_replaced(tenant, pix_settings):
    account = payment_account_save(
        actor=owner_of(tenant), tenant=tenant, kind="bcb_pix", values=_form(pix_settings),
        secrets={"client_secret": pix_settings.client_secret},
    )  # fmt: skip
    assert pix_webhooks_check() == 1  # never checked: checked now
    assert _registered(account) == webhook_url(account)

    gateway = gateway_kept(account)
    assert isinstance(gateway, BcbPixGateway)
    gateway.delete_webhook()  # the bank lost it
    assert pix_webhooks_check() == 0  # checked less than an hour ago: left alone
    assert _registered(account) is None

    PaymentAccount.objects.filter(pk=account.pk).update(webhook_checked_at=timezone.now() - timedelta(hours=2))
    assert pix_webhooks_check() == 1
    assert _registered(account) == webhook_url(account)

    gateway.register_webhook("https://elsewhere.example/hooks")  # someone pointed the key elsewhere
    PaymentAccount.objects.filter(pk=account.pk).update(webhook_checked_at=None)
    assert pix_webhooks_check() == 1
    assert _registered(account) == webhook_url(account)


def test_a_bank_that_refuses_is_recorded_shown_and_tried_again(tenant, pix_settings):
    account = payment_account_save(
        actor=owner_of(tenant), tenant=tenant, kind="bcb_pix", values=_form(pix_settings),
        secrets={"client_secret": pix_settings.client_secret},
    )  # fmt: skip
    gateway_kept(account)  # its token first, so the refusals land on the webhook calls
    pix_settings.admin.add_fault("pix", status=403, times=1)
    assert pix_webhooks_check() == 0
    account.refresh_from_db()
    assert account.webhook_problem != "" and pix_settings.client_secret not in account.webhook_problem
    assert _registered(account) is None

    page = _logged_in(owner_of(tenant).user).get(f"/t/{tenant.slug}/settings/payments/").content.decode()
    assert 'data-webhook-status="problem"' in page

    PaymentAccount.objects.filter(pk=account.pk).update(webhook_checked_at=timezone.now() - timedelta(hours=2))
    assert pix_webhooks_check() == 1
    account.refresh_from_db()
    assert (account.webhook_problem, _registered(account)) == ("", webhook_url(account))


def test_disabled_accounts_and_other_kinds_are_not_checked(tenant, pix_settings):
    account = payment_account_save(
        actor=owner_of(tenant), tenant=tenant, kind="bcb_pix", values={**_form(pix_settings), "enabled": ""},
        secrets={"client_secret": pix_settings.client_secret},
    )  # fmt: skip
    payment_account_save(
        actor=owner_of(tenant), tenant=tenant, kind="static_pix",
        values={"pix_key": "+5511912345678", "pix_key_type": "PHONE", "merchant_name": "T", "merchant_city": "SP"},
        secrets={},
    )  # fmt: skip
    assert pix_webhooks_check() == 0
    assert PaymentAccount.objects.filter(webhook_checked_at__isnull=False).count() == 0
    assert _registered(account) is None
