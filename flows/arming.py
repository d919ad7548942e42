"""A draft armed for a test in the simulator: the phone number's next message starts it (kept 30 minutes in the
cache, taken once)."""

from __future__ import annotations

from django.core.cache import cache

from flows.models import FlowVersion

TEST_ARM_SECONDS = 30 * 60


def _arm_key(tenant_id: int, phone: str) -> str:
    return f"flows:test:{tenant_id}:{phone}"


def arm(version: FlowVersion, phone: str) -> None:
    cache.set(_arm_key(version.tenant_id, phone), version.pk, TEST_ARM_SECONDS)


def armed_version(tenant_id: int, phone: str) -> FlowVersion | None:
    """The draft a test armed for this number (taken: the next message starts it once)."""
    if not phone:
        return None
    key = _arm_key(tenant_id, phone)
    version_id = cache.get(key)
    if version_id is None:
        return None
    cache.delete(key)
    return FlowVersion.objects.select_related("flow").filter(tenant_id=tenant_id, pk=version_id).first()
