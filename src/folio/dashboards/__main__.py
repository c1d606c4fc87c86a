"""``python -m folio.dashboards [--check] [DIRECTORY]``: regenerate the dashboard JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from folio.dashboards import stale, write
from folio.stack.prometheus import deploy_dir


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m folio.dashboards", description=__doc__)
    parser.add_argument(
        "directory", nargs="?", type=Path, default=deploy_dir() / "grafana" / "dashboards"
    )
    parser.add_argument(
        "--check", action="store_true", help="only report stale files; exit 1 if any"
    )
    arguments = parser.parse_args()
    if arguments.check:
        names = stale(arguments.directory)
        for name in names:
            print(f"stale: {arguments.directory / name}", file=sys.stderr)
        return 1 if names else 0
    for path in write(arguments.directory):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
