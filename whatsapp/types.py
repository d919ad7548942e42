"""What the rest of the product sees of Meta's payloads: plain dataclasses, no vendor JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class MediaRef:
    media_id: str
    mime_type: str
    sha256: str = ""
    url: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool = False
    animated: bool = False


@dataclass(frozen=True)
class InboundContact:
    wa_id: str
    profile_name: str = ""
    user_id: str | None = None


@dataclass(frozen=True)
class MessageContext:
    quoted_wamid: str | None = None
    quoted_from: str | None = None
    forwarded: bool = False
    frequently_forwarded: bool = False
    referred_product: dict[str, Any] | None = None


@dataclass(frozen=True)
class ErrorInfo:
    code: int
    title: str = ""
    message: str = ""
    details: str = ""


@dataclass(frozen=True)
class InboundMessage:
    """One customer message. ``type`` is one of conversations.models.Message.Type."""

    phone_number_id: str
    display_phone_number: str
    wamid: str
    from_wa_id: str
    timestamp: datetime
    type: str
    raw_type: str
    text: str = ""
    content: dict[str, Any] = field(default_factory=dict)
    media: MediaRef | None = None
    context: MessageContext | None = None
    referral: dict[str, Any] | None = None
    errors: tuple[ErrorInfo, ...] = ()
    contact: InboundContact | None = None
    # The message object exactly as Meta sent it (kept beside the neutral content, for support).
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class StatusUpdate:
    phone_number_id: str
    wamid: str
    status: str  # sent, delivered, read, played, failed
    timestamp: datetime
    recipient_id: str
    biz_opaque_callback_data: str | None = None
    errors: tuple[ErrorInfo, ...] = ()
    pricing: dict[str, Any] | None = None
    conversation: dict[str, Any] | None = None


@dataclass(frozen=True)
class TemplateStatusUpdate:
    waba_id: str
    template_id: str
    name: str
    language: str
    event: str
    reason: str | None = None
    category: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplateQualityUpdate:
    waba_id: str
    template_id: str
    name: str
    language: str
    new_quality_score: str  # GREEN, YELLOW, RED or UNKNOWN
    previous_quality_score: str = ""


@dataclass(frozen=True)
class UserPreferenceUpdate:
    phone_number_id: str
    wa_id: str
    category: str
    value: str  # stop | resume
    detail: str
    timestamp: datetime


@dataclass(frozen=True)
class AccountUpdate:
    """``phone_number_quality_update`` (one number, by its display number: ``kind`` "quality") or
    ``business_capability_update`` (every number of the WhatsApp Business Account: "capability")."""

    kind: str
    waba_id: str
    display_phone_number: str = ""
    event: str = ""
    current_limit: str = ""  # a tier name (TIER_250 …)
    max_daily: int | None = None  # or the limit as a number (-1: unlimited)


@dataclass(frozen=True)
class ValueLevelError:
    phone_number_id: str
    error: ErrorInfo


@dataclass
class ParsedWebhook:
    waba_ids: list[str] = field(default_factory=list)
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    template_updates: list[TemplateStatusUpdate] = field(default_factory=list)
    template_quality_updates: list[TemplateQualityUpdate] = field(default_factory=list)
    user_preferences: list[UserPreferenceUpdate] = field(default_factory=list)
    account_updates: list[AccountUpdate] = field(default_factory=list)
    errors: list[ValueLevelError] = field(default_factory=list)
    ignored_fields: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SendResult:
    wamid: str
    wa_id: str | None = None
    message_status: str | None = None


@dataclass(frozen=True)
class MediaInfo:
    url: str
    mime_type: str
    sha256: str = ""
    file_size: int | None = None
