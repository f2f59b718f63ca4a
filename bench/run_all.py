"""Run every benchmark in bench/, collect their `RESULT {json}` lines, print one table.

Run: .venv/bin/python bench/run_all.py   (what `make bench` does)

Each script runs in its own process with its output passed through; its last
``RESULT {json}`` line is kept. Everything lands in ``bench/results.json``
(with the machine it came from) and one summary table is printed at the end.

The default is a quick run (about 10 minutes on 2 cores). ``BENCH_FULL=1``
runs every script with its own (full-size) defaults. ``BENCH_ARGS_<SCRIPT>``
replaces the arguments of one script, e.g.
``BENCH_ARGS_ENGINE="--waiting 10000"`` or ``BENCH_ARGS_SUNA_CLIENT="--runs 1000"``.
Figures are printed, never asserted: machines are noisy. The exit status is
non-zero when a script failed or printed no result.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_FILE = BENCH_DIR / "results.json"
RESULT_PREFIX = "RESULT "
#: Arguments of the quick (default) run, per script; scripts not listed run with their own.
QUICK_ARGS: dict[str, list[str]] = {
    "engine": ["--quick", "--waiting", "2000"],
    "cpu": ["--runs", "500", "--pairs", "1"],
    "instructions": ["--runs", "250"],
    "suna_client": ["--runs", "200", "--detect-runs", "100", "--concurrent", "500"],
    "dsl": ["--runs", "200"],
    "conditions": ["--flood", "30", "--samples", "1"],
}
#: A script that runs longer than this is stopped and reported as failed.
SCRIPT_TIMEOUT_S = 1800


def script_args(name: str, full: bool) -> list[str]:
    """The command-line arguments of one script for this run."""
    override = os.environ.get(f"BENCH_ARGS_{name.upper()}")
    if override is not None:
        return shlex.split(override)
    return [] if full else QUICK_ARGS.get(name, [])


def run_script(path: Path, args: list[str]) -> dict[str, Any]:
    """Run one script, echoing its output; its exit code, wall time and RESULT."""
    command = [sys.executable, str(path), *args]
    print(f"== {path.relative_to(BENCH_DIR.parent)} {' '.join(args)}".rstrip(), flush=True)
    started = time.monotonic()
    result: Any = None
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stdout is not None
    watchdog = threading.Timer(SCRIPT_TIMEOUT_S, proc.kill)  # a silent hang ends too
    watchdog.start()
    try:
        for line in proc.stdout:
            print(line, end="", flush=True)
            if line.startswith(RESULT_PREFIX):
                try:
                    result = json.loads(line[len(RESULT_PREFIX) :])
                except json.JSONDecodeError:
                    result = None
        rc = proc.wait(timeout=60)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {
        "args": args,
        "exit_code": rc,
        "wall_s": round(time.monotonic() - started, 2),
        "result": result,
    }


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted name, printed value) rows of a nested RESULT; lists index by position."""
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for key, item in value.items():
            rows.extend(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return rows
    if isinstance(value, list):
        rows = []
        for index, item in enumerate(value):
            rows.extend(flatten(item, f"{prefix}[{index}]"))
        return rows
    return [(prefix, f"{value:.4g}" if isinstance(value, float) else str(value))]


def table(runs: dict[str, dict[str, Any]]) -> str:
    """The summary table: script, figure, value."""
    rows = [("script", "figure", "value")]
    for name, run in runs.items():
        if run["result"] is None:
            rows.append((name, "(no RESULT)", f"exit {run['exit_code']}"))
            continue
        rows.extend((name, key, value) for key, value in flatten(run["result"]))
        rows.append((name, "wall_s", str(run["wall_s"])))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """Where the figures came from."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def main() -> int:
    full = os.environ.get("BENCH_FULL", "") not in ("", "0")
    scripts = sorted(p for p in BENCH_DIR.glob("*.py") if p.name != Path(__file__).name)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    runs = {path.stem: run_script(path, script_args(path.stem, full)) for path in scripts}
    document = {
        "started_at": started_at,
        "mode": "full" if full else "quick",
        "machine": machine(),
        "scripts": runs,
    }
    RESULTS_FILE.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print()
    print(f"== summary ({document['mode']} run; {RESULTS_FILE.relative_to(BENCH_DIR.parent)})")
    print(table(runs))
    failed = [name for name, run in runs.items() if run["exit_code"] != 0 or not run["result"]]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
