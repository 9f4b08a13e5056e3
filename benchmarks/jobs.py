"""Job throughput with 1 and 2 workers, and queue-to-start latency, on the real job path.

Each round starts ``pacs-hub worker --concurrency 1`` processes (1, then 2) against the
configured broker and database (embedded filesystem broker + SQLite unless
``PACS_HUB_BROKER_URL`` / ``PACS_HUB_DATABASE_URL`` say otherwise), submits N phantom chest CT
series for ``ct-lung-seg`` and times them from the first submission to the last finish:

- throughput: series per minute, and the 2-worker / 1-worker ratio;
- queue-to-start latency: with an idle worker, single jobs are submitted one at a time and
  ``started_at - created_at`` is measured (median), i.e. what the broker adds.

ONNX Runtime gets one intra-op thread per worker process so two workers do not fight over the
same cores; on a 2-core machine the ideal ratio is 2.0.

Run: ``.venv/bin/python benchmarks/jobs.py [--series 6] [--slices 24] [--size 256]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXE = str(Path(sys.executable).with_name("pacs-hub"))


def start_workers(count: int, log_dir: Path) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` single-process workers and wait until each says it is ready."""
    workers = []
    logs = []
    for index in range(count):
        log = log_dir / f"worker-{len(list(log_dir.iterdir()))}-{index}.log"
        logs.append(log)
        handle = log.open("wb")
        workers.append(
            subprocess.Popen(
                [EXE, "worker", "--concurrency", "1"], stdout=handle, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if all(b"ready" in log.read_bytes() for log in logs):
            return workers
        time.sleep(0.2)
    stop_workers(workers)
    raise SystemExit(f"workers did not become ready; see {log_dir}")


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


def wait_finished(job_ids: list[int], timeout: float = 1800) -> None:
    from hub.jobs.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = list(Job.objects.filter(pk__in=job_ids).values_list("state", flat=True))
        if all(state in Job.FINISHED for state in states):
            failed = Job.objects.filter(pk__in=job_ids).exclude(state=Job.State.SUCCEEDED)
            if failed.exists():
                raise SystemExit(f"jobs did not succeed: {list(failed.values('pk', 'error'))}")
            return
        time.sleep(0.1)
    raise SystemExit("jobs did not finish in time")


def submit(series: list[tuple[str, str, Path]]) -> list[int]:
    from hub.jobs.services import submit_job

    return [submit_job(uid, study, "ct-lung-seg", [str(path)]).pk for uid, study, path in series]


def throughput(series: list[tuple[str, str, Path]], workers: int, log_dir: Path) -> float:
    """Series per minute with ``workers`` worker processes."""
    from hub.jobs.models import Job

    running = start_workers(workers, log_dir)
    try:
        ids = submit(series)
        wait_finished(ids)
    finally:
        stop_workers(running)
    jobs = Job.objects.filter(pk__in=ids)
    first = min(job.created_at for job in jobs)
    last = max(job.finished_at for job in jobs)
    return len(ids) / (last - first).total_seconds() * 60


def latency(series: list[tuple[str, str, Path]], log_dir: Path) -> float:
    """Median seconds from submission to start, one job at a time on an idle worker."""
    from hub.jobs.models import Job

    running = start_workers(1, log_dir)
    delays = []
    try:
        for item in series:
            (job_id,) = submit([item])
            wait_finished([job_id])
            job = Job.objects.get(pk=job_id)
            delays.append((job.started_at - job.created_at).total_seconds())
    finally:
        stop_workers(running)
    return statistics.median(delays)


def make_series(root: Path, count: int, slices: int, size: int, offset: int):
    from hub.testing.dicom import write_series
    from hub.testing.phantoms import chest_ct_phantom

    spacing = (2.5, 360.0 / size, 360.0 / size)
    made = []
    for index in range(offset, offset + count):
        hu, _ = chest_ct_phantom(slices=slices, rows=size, columns=size, spacing=spacing,
                                 seed=index)
        folder = root / f"series-{index}"
        write_series(hu, folder, spacing=spacing, seed=f"jobs-bench-{index}")
        import pydicom

        header = pydicom.dcmread(next(folder.iterdir()), stop_before_pixels=True)
        made.append((str(header.SeriesInstanceUID), str(header.StudyInstanceUID), folder))
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=6)
    parser.add_argument("--slices", type=int, default=24)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--latency-samples", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hub-jobs-bench-") as tmp:
        root = Path(tmp)
        config = root / "hub.toml"
        config.write_text("[inference]\nintra_op_threads = 1\ninter_op_threads = 1\n")
        os.environ.setdefault("PACS_HUB_DATA_DIR", str(root / "data"))
        os.environ["PACS_HUB_CONFIG"] = str(config)
        logs = root / "logs"
        logs.mkdir()
        from hub.db import migrate

        migrate()
        n = args.series
        batches = [make_series(root, n, args.slices, args.size, offset) for offset in (0, n)]
        probes = make_series(root, args.latency_samples, 8, 128, 2 * n)
        print(f"{n} series of {args.slices} x {args.size} x {args.size} per round, ct-lung-seg")
        one = throughput(batches[0], 1, logs)
        print(f"1 worker : {one:6.1f} series/min")
        two = throughput(batches[1], 2, logs)
        print(f"2 workers: {two:6.1f} series/min")
        print(f"ratio 2/1: {two / one:.2f}x (ideal 2.00 on >= 2 free cores)")
        delay = latency(probes, logs)
        print(f"queue-to-start latency (median of {len(probes)}): {delay * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
