"""Text compared as people read it: without case or accents ("Não É" and "nao e" are the same words)."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """``text`` without case or accents ("Não É" → "nao e"), for contains, keywords and column names."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
