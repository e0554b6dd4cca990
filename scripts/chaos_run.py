"""Run every chaos scenario at full size; print the figures; exit 1 if a promise broke."""

from __future__ import annotations

import argparse
import faulthandler
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.chaos.harness import SCENARIOS, is_clean


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="comma-separated scenario names (default: all)")
    parser.add_argument("--skip-large", action="store_true", help="skip the >4 GiB, >65,535-entry archives")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(SCENARIOS)
    if args.skip_large and "large" in names:
        names.remove("large")
    faulthandler.dump_traceback_later(30 * 60, exit=True)  # a hang ends the run with every stack
    broken = 0
    for name in names:
        started = time.monotonic()
        result = SCENARIOS[name](True)
        took = time.monotonic() - started
        verdict = "ok" if not result.broken else "BROKEN: " + "; ".join(result.broken)
        print(f"{result.name} ({took:.0f} s): {verdict}")
        for key, value in result.figures.items():
            print(f"    {key}: {value}")
        broken += bool(result.broken)
        sys.stdout.flush()
    if not is_clean():
        print("a boxzipfs mount was left behind")
        broken += 1
    print(f"{len(names) - broken} of {len(names)} scenarios kept every promise")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
