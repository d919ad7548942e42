"""Folding text as people compare it: case and accents left out, nothing else changed."""

from __future__ import annotations

import pytest

from helpdesk.text import fold


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Não É", "nao e"),
        ("PREÇO", "preco"),
        ("Disponível", "disponivel"),
        ("straße", "strasse"),
        ("a-b_c 1", "a-b_c 1"),
    ],
)
def test_fold_leaves_out_case_and_accents_only(text, folded):
    assert fold(text) == folded
