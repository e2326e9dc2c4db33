"""Start-up: how long `charlstm --help` and every subcommand's `--help` take, median of 5 runs each,
beside `python -c "import typer, rich"` (the floor for any Typer + rich command line) in the same run.

    python benchmarks/startup.py [--runs 5]

Target (issue 8): every one under 0.3 s. The library (and torch) is imported inside each command, so
help never pays for torch; what remains is Python, Typer, rich and the help layout.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = ["", "prepare", "train", "sample", "probe", "eval", "info", "demo"]
TARGET = 0.3
FLOOR_LABEL = 'python -c "import typer, rich"'
# The console script users type (python -m charlstm where it is not installed next to this python).
SCRIPT = Path(sys.executable).with_name("charlstm")
CHARLSTM = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "charlstm"]


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    floor_command = [sys.executable, "-c", "import typer, rich"]
    seconds(floor_command)  # warm the file cache
    floor = statistics.median(seconds(floor_command) for _ in range(args.runs))
    print(f"{FLOOR_LABEL:<32} {floor:.3f} s (reference)")
    worst = 0.0
    for name in COMMANDS:
        command = [*CHARLSTM, *([name] if name else []), "--help"]
        median = statistics.median(seconds(command) for _ in range(args.runs))
        worst = max(worst, median)
        label = f"charlstm {name} --help".replace("  ", " ")
        print(f"{label:<32} {median:.3f} s ({median / floor:.1f}x the reference; goal < {TARGET} s): "
              f"{'PASS' if median < TARGET else 'FAIL'}")
    print(f"slowest: {worst:.3f} s: {'PASS' if worst < TARGET else 'FAIL'}")


if __name__ == "__main__":
    main()
