"""``benchmarks/ingest.py`` still runs end to end (tiny sizes). Its speed figures are not
asserted (they belong to the benchmark, on a quiet machine), only that it measured every
receiver in every round and reported the ratios and the hub's memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hub.testing.validators import require_tool

REPO = Path(__file__).resolve().parents[2]


def test_ingest_benchmark_runs_and_reports_every_receiver(tmp_path: Path):
    for tool in ("storescu", "storescp", "Orthanc"):
        require_tool(tool)
    out = tmp_path / "ingest.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "ingest.py"), "--rounds", "2", "--slices",
         "4", "--size", "32", "--instances", "6", "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False, cwd=REPO,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert set(figures["medians"]) == {"storescp", "orthanc", "hub"}
    assert all(len(rates) == 2 and min(rates) > 0 for rates in figures["rounds"].values())
    assert figures["hub/orthanc"] > 0 and figures["hub/orthanc per round"] > 0
    assert 0 < figures["peak_rss_mib"] < 1024
    assert "stored: every receiver holds all 8 images" in done.stdout
    assert "hub/orthanc:" in done.stdout and "peak RSS" in done.stdout
