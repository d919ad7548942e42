"""WhatsApp's own limits per media kind (CONTRACT §5), in one place: the media guard, the download and
the payload builder read them here. The kinds themselves are the core's (``conversations.media``)."""

from __future__ import annotations

_KB, _MB = 1024, 1024 * 1024

# The largest file WhatsApp carries for each media kind; a larger file is not downloaded.
MEDIA_MAX_BYTES = {
    "audio": 16 * _MB,
    "image": 5 * _MB,
    "video": 16 * _MB,
    "document": 100 * _MB,
    "sticker": 100 * _KB,
}
ANIMATED_STICKER_MAX_BYTES = 500 * _KB

# The media kinds WhatsApp sends with a caption, and those a template's header may carry.
CAPTIONED_KINDS = ("image", "video", "document")
HEADER_MEDIA_KINDS = ("image", "video", "document")


def media_max_bytes(kind: str, *, animated: bool = False) -> int:
    """The largest file WhatsApp carries for a media kind (unknown kinds get the document limit)."""
    if kind == "sticker" and animated:
        return ANIMATED_STICKER_MAX_BYTES
    return MEDIA_MAX_BYTES.get(kind, MEDIA_MAX_BYTES["document"])
