"""The benchmarks still run against the current schema (their figures are read by people, not here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench_output(tmp_path: Path, script: str, *args: str) -> list[str]:
    """Run bench/`script` with its scratch files in `tmp_path`; its output lines, the last `ratio=…`."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), "SETTLE_VAR_DIR": str(tmp_path)},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    assert lines[-1].startswith("ratio=") and float(lines[-1].removeprefix("ratio=")) > 0
    return lines


def test_record_payments_benchmark_runs_and_prints_its_ratio(tmp_path: Path) -> None:
    bench_output(tmp_path, "record_payments.py", "--n", "3")


def test_pay_page_benchmark_runs_and_prints_its_ratio(tmp_path: Path) -> None:
    lines = bench_output(tmp_path, "pay_page.py", "--seconds", "0.5", "--clients", "2")

    assert any(line.startswith("pay page  requests/s=") for line in lines)
    assert any(line.startswith("bare view requests/s=") for line in lines)
