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


# --------------------------------------------------------------------------- Scrapy's weight

# What a crawl needs and nothing else should load: Scrapy starts Twisted's reactor
# machinery and lxml, ~700 modules and most of a second before a command can answer.
CRAWL_ONLY = ("scrapy", "twisted", "lxml", "parsel", "w3lib", "bs4")
ANALYSTS_COMMANDS = ("search", "changes", "history", "asof", "export", "gaps", "show-snapshot")


def module_file(name: str) -> Path | None:
    """The source file of one of our modules (``topicwatch.x.y``); None for others."""
    parts = name.split(".")
    if parts[0] != "topicwatch":
        return None
    base = ROOT.joinpath(*parts)
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def third_party_reached(*start: str) -> set[str]:
    """Top-level packages the modules ``start`` import, directly or through ours, anywhere
    in their source (function-level imports included: a lazy import is still an import)."""
    seen: set[str] = set()
    todo = list(start)
    reached: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name)
        if path is None:
            if not name.startswith("topicwatch"):
                reached.add(name.split(".")[0])
            continue
        for imported in imported_modules(path):
            parts = imported.split(".")
            todo.extend(".".join(parts[: i + 1]) for i in range(len(parts)))
    return reached


def command_module(command: str) -> str:
    from topicwatch.cli import COMMANDS

    return COMMANDS[command].split(":")[0]


def test_the_daemon_never_imports_scrapy():
    daemon = [f"topicwatch.daemon.{p.stem}" for p in (ROOT / "topicwatch" / "daemon").glob("*.py")]
    reached = third_party_reached(*daemon, command_module("daemon"), command_module("status"))
    reached |= {n.split(".")[0] for n in imported_modules(ROOT / "scheduler.py")} - {"topicwatch"}
    assert not reached & set(CRAWL_ONLY), sorted(reached & set(CRAWL_ONLY))


def test_the_analysts_commands_never_import_scrapy():
    for command in ANALYSTS_COMMANDS:
        reached = third_party_reached("topicwatch.cli", command_module(command))
        assert not reached & set(CRAWL_ONLY), (command, sorted(reached & set(CRAWL_ONLY)))


def test_an_analysts_command_runs_without_loading_scrapy(tmp_path):
    """What the process really loads (the static check above cannot see site-packages'
    own imports): a search and a `changes` on a small archive, in a fresh interpreter.
    The archive is the analysts' test story (real crawls; built once per session)."""
    import subprocess

    from query_archive import story_copy

    _, db = story_copy(tmp_path)
    script = (
        "import sys\n"
        "from topicwatch.cli import cli\n"
        "for args in (['search', '--help'], ['changes', '--since', '1d', '--db', sys.argv[1]],"
        " ['search', 'NATO', '--db', sys.argv[1]]):\n"
        "    try:\n"
        "        cli.main(args, standalone_mode=False)\n"
        "    except SystemExit as done:\n"
        "        assert not done.code, args\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {CRAWL_ONLY!r})\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(db)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout, done.stdout[-2000:]
