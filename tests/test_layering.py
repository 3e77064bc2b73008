"""Dependencies point one way: archive/ imports neither crawler/ nor the scheduler."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_archive_imports_only_stdlib_and_sqlite_utils():
    forbidden = {"crawler", "scheduler", "scrapy", "click", "twisted", "bs4", "lxml"}
    for path in (ROOT / "archive").rglob("*.py"):
        assert not imported_modules(path) & forbidden, path


def test_spiders_never_import_the_archive():
    for path in (ROOT / "crawler" / "spiders").rglob("*.py"):
        assert "archive" not in imported_modules(path), path


def test_nothing_imports_the_scheduler():
    for path in ROOT.rglob("*.py"):
        if ".venv" in path.parts or path.name == "scheduler.py":
            continue
        assert "scheduler" not in imported_modules(path), path
