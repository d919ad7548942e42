"""The media kinds the core stores, and the core's own, channel-neutral rules for their files.

A channel adds its own limits beside these (e.g. sizes per kind in ``whatsapp/limits.py``).
"""

from __future__ import annotations

import mimetypes
import os
from typing import Any

_MB = 1024 * 1024

# The ``Message.Type`` values that carry a file. Plain strings, so that a channel's payload parser can
# use them without loading the ORM.
MEDIA_KINDS: tuple[str, ...] = ("image", "audio", "video", "document", "sticker")

# How the composer classes an upload by its MIME type (by prefix); anything else is sent as a document.
UPLOAD_KIND_BY_MIME_PREFIX: dict[str, tuple[str, ...]] = {
    "image": ("image/jpeg", "image/png"),
    "video": ("video/mp4", "video/3gpp"),
    "audio": ("audio/",),
}

# A quick reply's file: the types and the size every channel can send.
QUICK_REPLY_ATTACHMENT_TYPES = frozenset(
    {"image/jpeg", "image/png", "application/pdf", "video/mp4", "audio/ogg", "audio/mpeg"}
)
QUICK_REPLY_ATTACHMENT_MAX_BYTES = 16 * _MB

# Stored files a browser may show inline (harmless image, audio and video types); the rest is a download.
INLINE_MIME_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "audio/ogg",
        "audio/mpeg",
        "audio/aac",
        "audio/mp4",
        "video/mp4",
        "video/3gpp",
    }
)


def is_media(message_type: str) -> bool:
    """Whether messages of this type carry a file."""
    return message_type in MEDIA_KINDS


def upload_kind(content_type: str) -> str:
    """The media kind an uploaded file is sent as, from its MIME type."""
    for kind, prefixes in UPLOAD_KIND_BY_MIME_PREFIX.items():
        if any(content_type.startswith(prefix) for prefix in prefixes):
            return kind
    return "document"


def stored_copy(stored: Any) -> Any:
    """A copy of a stored file (a ``FieldFile``) as an upload to send (the row keeps its own), or None when
    there is none or it is gone from the storage."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    if not stored:
        return None
    name = os.path.basename(stored.name)
    try:
        with stored.open("rb") as handle:
            content = handle.read()
    except OSError:
        return None
    return SimpleUploadedFile(name, content, content_type=mimetypes.guess_type(name)[0] or "application/octet-stream")
