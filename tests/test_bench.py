"""The benchmarks still run against the current schema (their figures are read by people, not here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_record_payments_benchmark_runs_and_prints_its_ratio(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "record_payments.py"), "--n", "3"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), "SETTLE_VAR_DIR": str(tmp_path)},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("ratio=") and float(last.removeprefix("ratio=")) > 0
