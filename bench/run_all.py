"""Run every benchmark in ``bench/``, one after another, with its default arguments.

``make bench`` calls this. Each benchmark prints its own figures (ratios measured in one run);
this script only runs them in turn, says how long each took, and exits non-zero if one failed.
A benchmark is any ``bench/*.py`` with a ``main()`` guarded by ``__name__ == "__main__"``, so a new
one is picked up without editing this file.

    .venv/bin/python bench/run_all.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def benchmarks() -> list[Path]:
    return sorted(
        path
        for path in BENCH.glob("*.py")
        if path.name != Path(__file__).name and '__name__ == "__main__"' in path.read_text()
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=[], help="benchmark names, e.g. slack_ack")
    args = parser.parse_args()
    chosen = [p for p in benchmarks() if not args.only or p.stem in args.only]
    failed = []
    for path in chosen:
        print(f"\n=== {path.stem} ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(path)], cwd=BENCH.parent)
        print(f"=== {path.stem}: exit {code} after {time.monotonic() - started:.0f} s ===")
        if code != 0:
            failed.append(path.stem)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
