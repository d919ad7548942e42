"""The API's JSON parser (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES): a module of its own, importing nothing that
reads DRF's settings, so that the settings can name it whatever is imported first."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# JSON bodies nested deeper than this are refused (a 400): Python's parser would raise RecursionError (a 500).
JSON_DEPTH_MAX = 32


class JsonParser(JSONParser):
    """JSON nested at most JSON_DEPTH_MAX deep: deeper is a 400, never a RecursionError (a 500) in the parser or
    in what reads the body after it."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            data = None
            deep = True
        else:
            deep = _depth_over(data, JSON_DEPTH_MAX)
        if deep:
            raise ParseError(_("The JSON is nested too deeply (%(max)s levels at most).") % {"max": JSON_DEPTH_MAX})
        return data


def _depth_over(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False
