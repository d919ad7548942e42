"""The account's messaging limit and the number's quality (CONTRACT §3.4, §2.6), as the core's optional
channel capability reads them (``conversations.channels.messaging_limit_of`` / ``quality_of``).

Meta caps how many unique customers a business portfolio may write to outside their customer-service
window in any rolling 24 hours (``TIER_250`` … ``TIER_UNLIMITED``) and rates each number's quality. Both
are read from the phone-number API when the channel is checked and periodically (beat
``whatsapp-limits-refresh``), and moved by the ``phone_number_quality_update`` and
``business_capability_update`` webhooks. A channel whose tier was never read counts as the smallest tier
(250): a broadcast on a number just connected must not write to more customers than a new account may.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from conversations.channels import QUALITY_RED, QUALITY_UNKNOWN
from whatsapp.client import client_for
from whatsapp.errors import CloudApiError
from whatsapp.models import WhatsAppChannel
from whatsapp.types import AccountUpdate

logger = logging.getLogger(__name__)

TIERS: dict[str, int | None] = {
    "TIER_50": 50,
    "TIER_250": 250,
    "TIER_1K": 1_000,
    "TIER_2K": 2_000,
    "TIER_10K": 10_000,
    "TIER_100K": 100_000,
    "TIER_UNLIMITED": None,
}
SMALLEST_TIER = 250
QUALITIES = ("GREEN", "YELLOW", "RED", "UNKNOWN")
PHONE_FIELDS = ("whatsapp_business_manager_messaging_limit", "quality_rating")


def limit_for_tier(tier: str) -> int | None:
    """Unique customers per rolling 24 hours for a tier name; an unknown or unread tier is the smallest."""
    if tier in TIERS:
        return TIERS[tier]
    return SMALLEST_TIER


def tier_for_count(count: Any) -> str:
    """The tier whose limit is ``count`` (webhooks give a number; -1: unlimited); empty when there is none."""
    if count is None or count == "":
        return ""
    try:
        number = int(count)
    except (TypeError, ValueError):
        return ""
    if number < 0:
        return "TIER_UNLIMITED"
    for name, limit in TIERS.items():
        if limit == number:
            return name
    # A count between tiers: the largest tier it reaches.
    reached = [name for name, limit in TIERS.items() if limit is not None and limit <= number]
    return reached[-1] if reached else "TIER_50"


def channel_limits_store(*, channel: WhatsAppChannel, info: dict[str, Any]) -> None:
    """Keep what the phone-number API said about the limit and the quality."""
    tier = str(info.get("whatsapp_business_manager_messaging_limit") or info.get("messaging_limit_tier") or "")
    quality = str(info.get("quality_rating") or "")
    changes: dict[str, Any] = {"limits_checked_at": timezone.now()}
    if tier:
        changes["messaging_limit_tier"] = tier[:20]
    if quality:
        changes["quality_rating"] = quality[:10]
    WhatsAppChannel.objects.filter(pk=channel.pk).update(**changes)
    for name, value in changes.items():
        setattr(channel, name, value)


def channel_limits_refresh(*, channel: WhatsAppChannel) -> bool:
    """Read the number's messaging limit and quality from the Cloud API; False when Meta could not be asked."""
    try:
        info = client_for(channel).get_phone_number(channel.phone_number_id, fields=PHONE_FIELDS)
    except CloudApiError as exc:
        logger.warning("Messaging limit of channel %s not read: %s", channel.pk, exc)
        return False
    channel_limits_store(channel=channel, info=info)
    return True


def account_update_apply(*, channel: WhatsAppChannel, update: AccountUpdate) -> list[int]:
    """Apply an account-level webhook to the channels of ``channel``'s workspace it concerns; returns their ids.

    A number flagged for low quality (``FLAGGED``) is RED at once, so broadcasts stop before the next read;
    any other quality event leaves the rating to the next read from the API (the caller asks for one)."""
    numbers = WhatsAppChannel.objects.filter(tenant_id=channel.tenant_id, waba_id=update.waba_id)
    if update.kind == "quality" and update.display_phone_number:
        numbers = numbers.filter(display_phone_number=update.display_phone_number)
    tier = update.current_limit if update.current_limit in TIERS else tier_for_count(update.max_daily)
    changes: dict[str, Any] = {}
    if tier:
        changes["messaging_limit_tier"] = tier[:20]
    if update.kind == "quality" and update.event == "FLAGGED":
        changes["quality_rating"] = QUALITY_RED
    elif update.kind == "quality" and update.event == "UNFLAGGED":
        changes["quality_rating"] = QUALITY_UNKNOWN
    ids = list(numbers.values_list("pk", flat=True))
    if changes and ids:
        WhatsAppChannel.objects.filter(pk__in=ids).update(**changes)
    return ids
