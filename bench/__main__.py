"""``python -m bench [--only NAME] [--events N]``: run the benchmarks, print and save the results."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback

from bench import report
from bench.common import REGISTRY
from bench.common import RESULTS_PATH
from bench.common import Options
from bench.common import Result
from bench.common import Services

# Each module registers its benchmarks on import; add new ones here (HTTP send/pixel, stats...).
MODULES = ("bench.projector", "bench.append", "bench.http_api", "bench.read_side", "bench.delivery",
           "bench.rebuild", "bench.rebuild_reads")


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", metavar="NAME", help="run one benchmark (default: all)")
    parser.add_argument("--events", type=int, default=1_000_000, help="events per data set")
    parser.add_argument("--seed", type=int, default=7, help="data set seed")
    parser.add_argument("--keep", action="store_true", help="keep topics and databases (debugging)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run, print the table, write ``bench/results.json``; exit 1 if a benchmark failed to run."""
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for module in MODULES:
        importlib.import_module(module)
    if args.only and args.only not in REGISTRY:
        raise SystemExit(f"unknown benchmark {args.only!r}; known: {', '.join(REGISTRY)}")
    if args.events < 1:
        raise SystemExit("--events must be positive")
    options = Options(events=args.events, seed=args.seed, services=Services.from_env(), keep=args.keep)
    results: list[Result] = []
    errors = 0
    for name, benchmark in REGISTRY.items():
        if args.only and name != args.only:
            continue
        print(f"== {name} ({args.events:,} events)", file=sys.stderr)
        try:
            results.extend(benchmark(options))
        except Exception:  # noqa: BLE001 - report it and go on with the next benchmark
            errors += 1
            traceback.print_exc()
    print(report.table(results))
    report.write(results, RESULTS_PATH)
    print(f"\nwrote {RESULTS_PATH}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
