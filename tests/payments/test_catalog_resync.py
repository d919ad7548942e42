"""The sweeper keeps catalogs in step when a sync request was lost: a workspace whose products changed after its
last sync started, or that was never synced, is synced again; a sync stuck queued or running (its job died) is
marked failed and another asked for; a workspace in step, one whose sync WhatsApp is still applying, an
inactive one and one without products are left alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from payments import catalog_sync
from payments.models import CatalogSync, Product
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def asked(monkeypatch) -> list[int]:
    requests: list[int] = []

    def request(*, tenant_id: int, delay: float | None = None, attempt: int = 1) -> bool:
        assert delay == 0
        requests.append(tenant_id)
        return True

    monkeypatch.setattr(catalog_sync, "catalog_sync_request", request)
    return requests


def _product(tenant, sku: str, *, at) -> Product:
    product = Product.objects.create(tenant=tenant, retailer_id=sku, name=sku, price=2500)
    Product.objects.filter(pk=product.pk).update(updated_at=at)
    return product


def _sync(tenant, status: str, *, created, started=None) -> CatalogSync:
    sync = CatalogSync.objects.create(tenant=tenant, status=status, started_at=started)
    CatalogSync.objects.filter(pk=sync.pk).update(created_at=created)
    return sync


def test_workspaces_behind_their_products_are_synced_again_and_the_others_left_alone(asked):
    now = timezone.now()
    hour_ago, minute_ago = now - timedelta(hours=1), now - timedelta(minutes=1)

    never = make_tenant("never")  # products, no sync ever
    _product(never, "A", at=hour_ago)
    changed = make_tenant("changed")  # a product changed after the last sync started: its request was lost
    _product(changed, "B", at=minute_ago)
    _sync(changed, "done", created=hour_ago, started=hour_ago)
    in_step = make_tenant("in-step")  # synced after its last change
    _product(in_step, "C", at=hour_ago)
    _sync(in_step, "done", created=minute_ago, started=minute_ago)
    refused = make_tenant("refused")  # the last sync failed and nothing changed since: not asked every minute
    _product(refused, "D", at=hour_ago)
    _sync(refused, "failed", created=minute_ago, started=minute_ago)
    applying = make_tenant("applying")  # WhatsApp is still applying the last batch
    _product(applying, "E", at=minute_ago)
    _sync(applying, "processing", created=hour_ago, started=hour_ago)
    running = make_tenant("running")  # a sync running for a minute: left to finish
    _product(running, "F", at=hour_ago)
    _sync(running, "running", created=minute_ago, started=minute_ago)
    closed = make_tenant("closed")
    _product(closed, "G", at=minute_ago)
    type(closed).objects.filter(pk=closed.pk).update(active=False)
    make_tenant("empty")  # no products: nothing to sync

    assert catalog_sync.catalogs_resync(now=now) == 2
    assert sorted(asked) == sorted([never.pk, changed.pk])


def test_a_sync_stuck_for_a_quarter_of_an_hour_is_failed_and_asked_again(asked):
    now = timezone.now()
    tenant = make_tenant("stuck")
    _product(tenant, "A", at=now - timedelta(hours=2))
    stuck = _sync(tenant, "running", created=now - timedelta(minutes=16), started=now - timedelta(minutes=16))
    queued = make_tenant("queued")
    _product(queued, "B", at=now - timedelta(hours=2))
    waiting = _sync(queued, "queued", created=now - timedelta(minutes=5))

    assert catalog_sync.catalogs_resync(now=now) == 1
    assert asked == [tenant.pk]
    stuck.refresh_from_db()
    assert (stuck.status, stuck.finished_at) == ("failed", now)
    assert CatalogSync.objects.get(pk=waiting.pk).status == "queued"  # five minutes: still its turn
