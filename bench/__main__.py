"""`python -m bench [--quick]`: every part in turn, then docs/benchmarks.md from the results."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from bench.common import RESULTS_DIR, ROOT
from bench.report import write_report

PARTS = [
    "bench.overhead",
    "bench.appspeed",
    "bench.scrape",
    "bench.merge",
    "bench.web",
    "bench.native",
    "bench.accuracy",
]


def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run: short and few rounds")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--report", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--before", help="bench.appspeed: also measure this commit's code")
    parser.add_argument("--postgres-url", help="bench.appspeed: a PostgreSQL server to use")
    arguments = parser.parse_args()
    options = ["--results-dir", str(arguments.results_dir)]
    if arguments.quick:
        options.append("--quick")
    app_options = [
        *(["--before", arguments.before] if arguments.before else []),
        *(["--postgres-url", arguments.postgres_url] if arguments.postgres_url else []),
    ]
    for part in PARTS:
        argv = [*options, *(app_options if part == "bench.appspeed" else [])]
        print(f"== {part} {' '.join(argv)}", flush=True)
        if subprocess.run([sys.executable, "-m", part, *argv], cwd=ROOT, check=False).returncode:
            print(f"bench: {part} failed", file=sys.stderr)
            return 1
    report = write_report(arguments.results_dir, arguments.report, quick=arguments.quick)
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
