"""The demo workspace of ``make run``: its slug, and the owner the other apps' demo seeds act as."""

from __future__ import annotations

from django.core.management.base import CommandError

from tenants.models import Membership
from tenants.permissions import BuiltinRole

DEMO_SLUG = "demo"


def demo_owner() -> Membership:
    """The demo workspace's first owner, with the workspace; ``CommandError`` before ``seed_demo`` ran."""
    owner = (
        Membership.objects.select_related("user", "role", "tenant")
        .filter(tenant__slug=DEMO_SLUG, role__key=BuiltinRole.OWNER)
        .order_by("id")
        .first()
    )
    if owner is None:
        raise CommandError("No demo workspace: run seed_demo first.")
    return owner
