"""A provider's signed webhook whose body cannot be read is kept and shown to the workspace's admins, never
dropped; an unsigned or badly signed one keeps nothing; another workspace never sees it."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from payments.accounts import payment_account_save
from payments.models import PaymentAccount, UnreadNotification
from payments.signatures import STRIPE_HEADER, stripe_sign
from tenants.permissions import BuiltinRole
from tests.factories import add_member, make_tenant, owner_of

pytestmark = pytest.mark.django_db

SECRET = "whsec_unread_test"
BODY = b'not json <script>alert("x")</script>'


@pytest.fixture
def stripe_account(tenant, settings) -> PaymentAccount:
    settings.STRIPE_API_URL = "https://api.stripe.invalid"
    return payment_account_save(
        actor=owner_of(tenant), tenant=tenant, kind="stripe", values={},
        secrets={"secret_key": "sk_test_unread", "webhook_secret": SECRET},
    )  # fmt: skip


def _post(account: PaymentAccount, body: bytes, signature: str) -> tuple[int, str]:
    response = Client().post(
        f"/webhooks/payments/{account.webhook_key}/",
        data=body,
        content_type="text/plain",
        headers={STRIPE_HEADER: signature},
    )
    return response.status_code, response.content.decode()


def _page(user, tenant) -> tuple[int, str]:
    client = Client()
    client.force_login(user)
    response = client.get(f"/t/{tenant.slug}/settings/payments/")
    return response.status_code, response.content.decode()


def test_a_signed_body_that_cannot_be_read_is_kept_and_shown_to_admins(tenant, stripe_account):
    signature = stripe_sign(secret=SECRET, payload=BODY, timestamp=int(time.time()))

    assert _post(stripe_account, BODY, signature) == (200, "Kept for review: the notification could not be read.")

    [kept] = UnreadNotification.objects.all()
    assert (kept.tenant_id, kept.account_id, kept.reason, kept.body, kept.content_type) == (
        tenant.pk, stripe_account.pk, "The body is not JSON.", BODY.decode(), "text/plain"
    )  # fmt: skip
    status, page = _page(owner_of(tenant).user, tenant)
    assert status == 200 and "Notifications we could not read" in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page and "<script>alert(" not in page


def test_a_bad_signature_or_an_unsigned_pix_body_keeps_nothing(tenant, stripe_account):
    stale = stripe_sign(secret=SECRET, payload=BODY, timestamp=int(time.time()) - 3600)
    wrong = stripe_sign(secret="whsec_someone_else", payload=BODY, timestamp=int(time.time()))
    assert _post(stripe_account, BODY, stale)[0] == 401
    assert _post(stripe_account, BODY, wrong)[0] == 401
    assert _post(stripe_account, BODY, "")[0] == 401

    pix = PaymentAccount.objects.create(tenant=tenant, kind="bcb_pix", provider="nowhere")
    response = Client().post(f"/webhooks/payments/{pix.webhook_key}/pix", data=BODY, content_type="text/plain")
    assert response.status_code == 404  # its provider is not offered (any more): a dead address, never a 500
    assert UnreadNotification.objects.count() == 0
    assert "Notifications we could not read" not in _page(owner_of(tenant).user, tenant)[1]


def test_another_workspace_and_agents_never_see_them(tenant, stripe_account):
    signature = stripe_sign(secret=SECRET, payload=BODY, timestamp=int(time.time()))
    assert _post(stripe_account, BODY, signature)[0] == 200

    other = make_tenant("Other", slug="other")
    status, page = _page(owner_of(other).user, other)
    assert status == 200 and "Notifications we could not read" not in page
    agent = add_member(tenant, BuiltinRole.AGENT)
    assert _page(agent.user, tenant)[0] == 403
