"""Chat text formatting (``*bold*``, ``_italic_``, ``~strike~``, code, links) as safe HTML.

Customer text is escaped before anything else; the only markup that can come out is what this module
writes itself: ``strong``, ``em``, ``del``, ``code``, ``br``, ``a`` (http/https links only) and, for
private notes, ``span class="mention"``. Code and links are cut out first and stand in the text as
placeholders, so formatting markers inside a URL or a code span are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# A NUL never survives into the text (it is removed first), so it can delimit placeholders.
_MARK = "\x00"
_PLACEHOLDER_RE = re.compile(_MARK + r"(\d+)" + _MARK)

_CODE_BLOCK = r"```(?P<block>[\s\S]+?)```"
_INLINE_CODE = r"`(?P<inline>[^`\n]+)`"
# Only http(s); the URL ends at whitespace, quotes, angle brackets, backticks and control characters.
_URL = r"(?P<url>\bhttps?://[^\s<>\"'`\x00-\x1f\x7f]+)"
_TRAILING_PUNCTUATION = ".,;:!?*_~"

# One marker kind per match; the body neither starts nor ends with a space and stays on one line.
# The opening marker follows the start or a non-word character, the closing one precedes the same.
_EMPHASIS_RE = re.compile(r"(?<![\w*_~])(?P<m>[*_~])(?!\s|(?P=m))(?P<body>[^\n]*?\S)(?P=m)(?![\w*_~])")
_EMPHASIS_TAGS = {"*": "strong", "_": "em", "~": "del"}


def _trim_url(url: str) -> str:
    """Drop sentence punctuation after a URL, and a closing parenthesis that the URL did not open."""
    while url:
        last = url[-1]
        if last in _TRAILING_PUNCTUATION or (last == ")" and url.count("(") < url.count(")")):
            url = url[:-1]
            continue
        break
    return url


def _link(url: str) -> str:
    href = escape(url)
    return f'<a href="{href}" rel="noopener noreferrer nofollow" target="_blank">{href}</a>'


def _emphasis(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        tag = _EMPHASIS_TAGS[match.group("m")]
        return f"<{tag}>{_emphasis(match.group('body'))}</{tag}>"

    return _EMPHASIS_RE.sub(replace, text)


def wa_format(text: str, *, mentions: Iterable[str] = ()) -> SafeString:
    """Render chat-formatted ``text`` as HTML that is safe to insert into a page.

    ``mentions`` are display names (from private notes) whose ``@name`` is highlighted.
    """
    raw = str(text or "").replace(_MARK, "")
    names = sorted({name for name in mentions if name}, key=len, reverse=True)
    alternatives = [_CODE_BLOCK, _INLINE_CODE, _URL]
    if names:
        alternatives.append("(?P<mention>@(?:" + "|".join(re.escape(name) for name in names) + r"))(?!\w)")
    token_re = re.compile("|".join(alternatives), re.IGNORECASE)

    fragments: list[str] = []
    skeleton: list[str] = []
    position = 0
    for match in token_re.finditer(raw):
        end = match.end()
        if match.group("block") is not None:
            fragment = "<code>" + escape(match.group("block")).replace("\n", "<br>") + "</code>"
        elif match.group("inline") is not None:
            fragment = "<code>" + escape(match.group("inline")) + "</code>"
        elif match.group("url") is not None:
            url = _trim_url(match.group("url"))
            if "://" not in url or url.endswith("://"):
                continue
            end = match.start() + len(url)
            fragment = _link(url)
        else:
            fragment = '<span class="mention">' + escape(match.group("mention")) + "</span>"
        skeleton.append(escape(raw[position : match.start()]))
        skeleton.append(f"{_MARK}{len(fragments)}{_MARK}")
        fragments.append(fragment)
        position = end
    skeleton.append(escape(raw[position:]))

    html = _emphasis("".join(skeleton)).replace("\r\n", "\n").replace("\n", "<br>")
    html = _PLACEHOLDER_RE.sub(lambda m: fragments[int(m.group(1))], html)
    return mark_safe(html)  # noqa: S308 - built only from escaped text and the tags above
