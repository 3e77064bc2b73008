"""Dependencies point one way, read from the source with ``ast`` (nothing is imported).

archive/ imports only the standard library, sqlite-utils and itself; spiders never import
the archive; nothing imports the scheduler; and no module imports the bare top-level
names ``archive`` or ``crawler`` (the one import name is ``topicwatch``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
SOURCES = ("archive", "crawler", "topicwatch", "bench", "tests")


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports (``from a.b import c`` gives a.b, a.b.c)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def python_files(*folders: str) -> list[Path]:
    return [path for folder in folders for path in (ROOT / folder).rglob("*.py")]


def under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_archive_imports_only_stdlib_sqlite_utils_and_itself():
    allowed_third_party = {"sqlite_utils"}
    for path in python_files("archive"):
        for name in imported_modules(path):
            top = name.split(".")[0]
            if top == "topicwatch":
                assert under(name, "topicwatch.archive") or name.count(".") <= 1, (path, name)
                assert not under(name, "topicwatch.crawler"), (path, name)
            else:
                assert top in sys.stdlib_module_names or top in allowed_third_party, (path, name)


# The archive's pure rules, which extraction shares so that a URL or a text means one
# thing everywhere; everything else of the archive (storage, reads) is not the crawler's.
PURE_RULES = ("topicwatch.archive.urls", "topicwatch.archive.text")


def test_spiders_and_extraction_never_touch_the_archive_s_storage():
    modules = ("spiders", "extract.py", "cards.py", "structured.py", "article.py", "observe.py")
    for path in python_files(*(f"crawler/{m}" for m in modules if m == "spiders")) + [
        ROOT / "crawler" / m for m in modules if m.endswith(".py")
    ]:
        archive = {n for n in imported_modules(path) if under(n, "topicwatch.archive")}
        assert all(any(under(n, pure) for pure in PURE_RULES) for n in archive), (path, archive)


def test_nothing_imports_the_scheduler():
    for path in [*python_files(*SOURCES), ROOT / "scheduler.py"]:
        if path.name == "scheduler.py":
            continue
        assert not any(under(n, "scheduler") for n in imported_modules(path)), path


def test_no_module_imports_the_bare_folder_names():
    for path in [*python_files(*SOURCES), ROOT / "scheduler.py"]:
        bare = {n for n in imported_modules(path) if under(n, "archive") or under(n, "crawler")}
        assert not bare, (path, bare)
