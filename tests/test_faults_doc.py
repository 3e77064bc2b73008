"""docs/reliability.md shows the fault matrix the tests run, row for row."""

from __future__ import annotations

from collections import Counter

from fault_matrix import GROUPS, MATRIX, documented, render


def test_the_document_is_the_matrix():
    assert documented() == render(), "docs/reliability.md is stale: python tests/fault_matrix.py"


def test_rows_are_unique_and_grouped():
    assert not [i for i, n in Counter(f.id for f in MATRIX).items() if n > 1]
    assert {f.group for f in MATRIX} == set(GROUPS)
    assert all(f.fault and f.does and f.exit for f in MATRIX)
