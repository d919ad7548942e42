"""Every JSON error has one shape, built in one place."""

from __future__ import annotations

import ast
from pathlib import Path

from helpdesk.exceptions import error_body

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("helpdesk", "tenants", "conversations", "whatsapp", "automations")


def _builds_envelope(source: str) -> bool:
    """Whether the code holds a dict literal ``{"error": {"code": ...}}``."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Dict):
            continue
        for key, value in zip(node.keys, node.values, strict=True):
            envelope = isinstance(key, ast.Constant) and key.value == "error" and isinstance(value, ast.Dict)
            if envelope and any(isinstance(k, ast.Constant) and k.value == "code" for k in value.keys):
                return True
    return False


def test_error_body_is_code_message_and_details_under_error():
    assert error_body("not_found", "Not found.", {"id": 7}) == {
        "error": {"code": "not_found", "message": "Not found.", "details": {"id": 7}}
    }


def test_error_body_without_details_gives_an_empty_object():
    assert error_body("webhook_rejected", "No.") == {
        "error": {"code": "webhook_rejected", "message": "No.", "details": {}}
    }


def test_no_module_but_the_exception_tree_builds_the_envelope_by_hand():
    offenders = [
        str(path.relative_to(ROOT))
        for package in PRODUCT_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "fake" not in path.relative_to(ROOT).parts and _builds_envelope(path.read_text(encoding="utf-8"))
    ]

    assert offenders == ["helpdesk/exceptions.py"]
