"""Wall time of ``tradeforge validate FILE`` (a new process each time, as a user runs it).

    .venv/bin/python benchmarks/validate_cli.py [FILE] [--repeat 3] [--full-gx-import] [--json]

``--full-gx-import`` imports great-expectations the ordinary way (TRADEFORGE_GX_FULL_IMPORT=1),
for the before/after comparison of ``tradeforge.validation.gx_import``. Run ``python -X
importtime`` on the same command to see where the rest of the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = ROOT.parent / "shared" / "data" / "market" / "AAPL_2013-2023_yahoo-adjusted.csv"


def run_once(path: Path, env: dict[str, str]) -> float:
    """Seconds for one ``tradeforge validate`` process."""
    started = time.perf_counter()
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "tradeforge"), "validate", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - started


def main() -> None:
    """Print the median and every run's wall time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--full-gx-import", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.full_gx_import:
        env["TRADEFORGE_GX_FULL_IMPORT"] = "1"
    times = [run_once(args.file, env) for _ in range(args.repeat)]
    median = statistics.median(times)
    mode = "full GX import" if args.full_gx_import else "trimmed GX import"
    print(
        f"tradeforge validate {args.file.name} ({mode}): median {median:.2f} s "
        f"over {args.repeat} runs ({', '.join(f'{t:.2f}' for t in times)})"
    )
    if args.json:
        sys.stdout.write(
            json.dumps({"file": str(args.file), "mode": mode, "median_s": median, "runs_s": times})
            + "\n"
        )


if __name__ == "__main__":
    main()
