"""Hub end-to-end inference vs bare ONNX Runtime ``session.run`` on the same arrays.

For a synthetic chest CT (default 200 slices of 512 x 512) written as DICOM, each round times:

- hub: ``load_series`` + plugin preprocess + ONNX Runtime (batched by the runner) + plugin
  postprocess + SEG/SR building and writing — what ``pacs-hub infer`` does;
- bare: ``session.run`` alone on the same preprocessed arrays with the same batch size, in the
  same process, on the hub's own session (same providers and threads).

It prints per-stage medians over the rounds and the hub's overhead (everything that is not
``session.run``) as a share of the hub's total. Target: overhead <= 25 %.

Run: ``.venv/bin/python benchmarks/inference.py [--slices 200] [--size 512] [--rounds 3]``
(or ``make bench``). Needs the ct-lung-seg example plugin installed (``make install``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hub.inference import get_session, load_series, run_model
from hub.plugins.manager import get_registry
from hub.results.writer import write_results
from hub.settings import get_settings
from hub.testing.dicom import write_series
from hub.testing.phantoms import chest_ct_phantom

TARGET = 0.25


def bare_run(session, inputs: dict[str, np.ndarray], batch: int) -> float:
    """Seconds of ``session.run`` alone over all batches of ``inputs``."""
    names = [o.name for o in session.get_outputs()]
    total = next(iter(inputs.values())).shape[0]
    seconds = 0.0
    for start in range(0, total, batch):
        feed = {name: array[start : start + batch] for name, array in inputs.items()}
        started = time.perf_counter()
        session.run(names, feed)
        seconds += time.perf_counter() - started
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="ct-lung-seg")
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    loaded = get_registry().get(args.model)
    batch = get_settings().inference.batch_size
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
        root = Path(tmp)
        spacing = (1.5, 360.0 / args.size, 360.0 / args.size)
        started = time.perf_counter()
        hu, _ = chest_ct_phantom(
            slices=args.slices, rows=args.size, columns=args.size, spacing=spacing, seed=11
        )
        write_series(hu, root / "ct", spacing=spacing, seed="bench", order="shuffled")
        del hu
        print(
            f"series: {args.slices} x {args.size} x {args.size} CT, written in "
            f"{time.perf_counter() - started:.1f}s; model {loaded.manifest.key}; batch {batch}"
        )
        hub_rounds: list[dict[str, float]] = []
        bare_rounds: list[float] = []
        for index in range(args.rounds + 1):  # round 0 warms caches and the session
            stages: dict[str, float] = {}
            started = time.perf_counter()
            series = load_series([root / "ct"])
            stages["load"] = time.perf_counter() - started
            outcome = run_model(loaded, series)
            stages.update(outcome.timings)
            started = time.perf_counter()
            write_results(series, loaded.manifest, outcome.result, root / f"out{index}")
            stages["write"] = time.perf_counter() - started
            stages["total"] = sum(
                stages[k] for k in ("load", "preprocess", "inference", "postprocess", "write")
            )
            inputs = loaded.plugin.preprocess(series)
            session = get_session(loaded.model_path, loaded.manifest.sha256)
            bare = bare_run(session, inputs, batch)
            del series, outcome, inputs
            if index == 0:
                continue
            hub_rounds.append(stages)
            bare_rounds.append(bare)
            print(f"round {index}: hub {stages['total']:.2f}s, bare session.run {bare:.2f}s")

    def median(key: str) -> float:
        return statistics.median(r[key] for r in hub_rounds)

    print("\nmedian seconds per stage (hub):")
    for key in ("load", "preprocess", "inference", "session_run", "postprocess", "write", "total"):
        print(f"  {key:<12} {median(key):8.2f}")
    total, run = median("total"), median("session_run")
    bare = statistics.median(bare_rounds)
    overhead = total - run
    share = overhead / total
    # Stricter: anything the hub adds over a bare session.run, including slower runs.
    versus_bare = (total - bare) / total
    print(f"\nbare ONNX Runtime session.run (median): {bare:.2f}s")
    print(f"hub end-to-end / bare session.run     : {total / bare:.2f}x")
    print(f"hub overhead (total - its session.run): {overhead:.2f}s = {share:.1%} of total")
    print(
        f"hub total - bare session.run          : {total - bare:.2f}s = "
        f"{versus_bare:.1%} of total"
    )
    worst = max(share, versus_bare)
    print(f"target overhead <= {TARGET:.0%}: {'met' if worst <= TARGET else 'NOT met'}")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
