"""What a webhook event held ("2 messages; 1 status"), stored in English and shown in the viewer's language.

The processing job writes the summary once, with no one's language active, in a fixed English form;
``summary_display`` reads that form back and says it again with the active language's plurals. A part
it does not recognise is shown as stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

# (stored singular, stored plural, how it is said to people) for each kind of item a webhook carries.
KINDS: tuple[tuple[str, str, Callable[[int], str]], ...] = (
    ("message", "messages", lambda n: ngettext("%(n)s message", "%(n)s messages", n) % {"n": n}),
    ("status", "statuses", lambda n: ngettext("%(n)s status", "%(n)s statuses", n) % {"n": n}),
    (
        "template update",
        "template updates",
        lambda n: ngettext("%(n)s template update", "%(n)s template updates", n) % {"n": n},
    ),
    ("preference", "preferences", lambda n: ngettext("%(n)s preference", "%(n)s preferences", n) % {"n": n}),
    (
        "account update",
        "account updates",
        lambda n: ngettext("%(n)s account update", "%(n)s account updates", n) % {"n": n},
    ),
    ("error", "errors", lambda n: ngettext("%(n)s error", "%(n)s errors", n) % {"n": n}),
)
IGNORED = "ignored: "
EMPTY = "empty"
_COUNT_RE = re.compile(r"(\d+) (.+)")


def summary_text(counts: Iterable[tuple[str, int]], ignored: Iterable[str]) -> str:
    """The stored summary: ``counts`` of items per kind (its stored singular) and the fields ignored."""
    plurals = {singular: plural for singular, plural, _say in KINDS}
    parts = [f"{n} {singular if n == 1 else plurals[singular]}" for singular, n in counts if n]
    fields = sorted(set(ignored))
    if fields:
        parts.append(IGNORED + ", ".join(fields))
    return "; ".join(parts)[:255] or EMPTY


def summary_display(summary: str) -> str:
    """A stored summary in the active language."""
    if summary == EMPTY:
        return pgettext("contents of a webhook event", "empty")
    # Summaries stored before the plurals were spelled out wrote "statuss": read as the plural too.
    said = {name: say for singular, plural, say in KINDS for name in (singular, plural, singular + "s")}
    parts = []
    for part in summary.split("; ") if summary else []:
        match = _COUNT_RE.fullmatch(part)
        if match and match.group(2) in said:
            parts.append(said[match.group(2)](int(match.group(1))))
        elif part.startswith(IGNORED):
            parts.append(_("ignored: %(fields)s") % {"fields": part.removeprefix(IGNORED)})
        else:
            parts.append(part)
    return "; ".join(parts)
