"""``python -m bench``: run the benchmarks, print the table, update docs/benchmarks.md."""

from __future__ import annotations

import argparse
import importlib

from bench.report import log, table, write_section

# name -> (module, section title); each module has run(quick) -> rows and NOTES.
BENCHMARKS = {
    "startup": ("bench.startup", "Analysts' commands: time to answer"),
    "extraction": ("bench.extraction", "Extraction per 20-item page"),
    "snapshots": ("bench.snapshots", "Snapshot storage, compression and reparse"),
    "crawl": ("bench.crawl", "Crawl throughput against a download-only spider"),
    "checks": ("bench.checks", "What a scheduled check costs: floor, process, warm worker"),
    "recrawl": ("bench.recrawl", "Unchanged re-crawl (304 path) against a changed one"),
    "ingest": ("bench.ingest", "Archive writes: new items and unchanged re-sightings"),
    "search": ("bench.search", "Search and changes on a year-sized archive"),
    "soak": ("bench.soak", "Daemon soak"),
    "fleet": ("bench.fleet", "1,000 topics every 15 minutes"),
    "sigkill": ("bench.sigkill", "SIGKILL during the archive write"),
    "cluster": ("bench.cluster", "Scale-out: runs dispatched to two Scrapyd nodes"),
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--only", help="comma-separated benchmark names")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    for name in names:
        module_name, title = BENCHMARKS[name]
        module = importlib.import_module(module_name)
        log(f"running {name}{' (quick)' if args.quick else ''} ...")
        rows = module.run(args.quick)
        print(f"\n## {title}\n\n{table(rows)}\n", flush=True)
        if not args.no_write:
            write_section(name, title, rows, module.NOTES, args.quick)


if __name__ == "__main__":
    main()
