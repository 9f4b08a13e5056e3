"""REST overhead and throughput: ``POST /infer?wait=`` against ``pacs-hub infer``, and
``GET /api/v1/models`` under 32 concurrent clients.

One run starts a real uvicorn (``pacs-hub web``) and one Celery worker (``pacs-hub worker
--concurrency 1``) on a fresh data directory (embedded broker + SQLite unless
``PACS_HUB_BROKER_URL`` / ``PACS_HUB_DATABASE_URL`` say otherwise). Then, for each round, the
same phantom chest CT (same pixels, new UIDs per round so every upload is a new job) goes

- through ``pacs-hub infer --model ct-lung-seg --out DIR FOLDER --json`` (a fresh process:
  its wall time includes interpreter start, plugin load and ONNX session creation; its own
  pipeline time ``timings_s.total`` does not), and
- through ``POST /api/v1/models/ct-lung-seg/infer?wait=600`` (upload, checks, storage, job
  queue, the warm worker's pipeline, the web app's poll of the job table).

Reported: median seconds of each over the rounds, the ratio HTTP / CLI wall time (the
issue's target: HTTP adds at most 10 %), the ratio to the CLI's pipeline time, and what the
HTTP path adds beyond the worker's own pipeline time of the same job; then requests per
second for ``GET /api/v1/models`` with 32 concurrent keep-alive clients (httpx, asyncio; the
clients share the machine with the server).

Run: ``.venv/bin/python benchmarks/api.py [--rounds 5] [--slices 24] [--size 256]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

EXE = str(Path(sys.executable).with_name("pacs-hub"))


def start(args: list[str], log: Path, ready: object) -> subprocess.Popen[bytes]:
    """Start ``pacs-hub ARGS`` and wait until ``ready()`` is true."""
    process = subprocess.Popen([EXE, *args], stdout=log.open("wb"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return process
        if process.poll() is not None:
            break
        time.sleep(0.2)
    stop(process)
    raise SystemExit(f"pacs-hub {args[0]} did not start; see {log}")


def stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def write_round(root: Path, hu: object, spacing: tuple[float, ...], index: int) -> Path:
    from hub.testing.dicom import write_series

    folder = root / f"series-{index}"
    write_series(hu, folder, spacing=spacing, seed=f"api-bench-{index}")  # type: ignore[arg-type]
    return folder


def via_cli(folder: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, the command's own pipeline seconds)."""
    started = time.perf_counter()
    done = subprocess.run([EXE, "infer", "--model", "ct-lung-seg", "--out", str(out),
                           str(folder), "--json"], capture_output=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"pacs-hub infer failed: {done.stderr.decode(errors='replace')}")
    return wall, float(json.loads(done.stdout)["timings_s"]["total"])


def via_http(client: httpx.Client, folder: Path) -> tuple[float, dict[str, float]]:
    """(wall seconds of the request, the job's stage timings)."""
    files = [("files", (p.name, p.read_bytes(), "application/dicom"))
             for p in sorted(folder.iterdir())]
    started = time.perf_counter()
    answer = client.post("/api/v1/models/ct-lung-seg/infer", params={"wait": 600}, files=files)
    wall = time.perf_counter() - started
    body = answer.json()
    if answer.status_code != 200 or body.get("state") != "succeeded":
        raise SystemExit(f"HTTP infer did not succeed: {answer.status_code} {answer.text[:500]}")
    return wall, body["timings_s"]


async def hammer(url: str, headers: dict[str, str], clients: int, seconds: float
                 ) -> tuple[int, float, int]:
    """(requests done, elapsed seconds, non-200 answers) for ``clients`` concurrent loops."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        await client.get(url)  # warm-up
        deadline = time.perf_counter() + seconds
        counts = [0, 0]

        async def loop() -> None:
            while time.perf_counter() < deadline:
                answer = await client.get(url)
                counts[0] += 1
                counts[1] += answer.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(clients)))
        return counts[0], time.perf_counter() - started, counts[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--slices", type=int, default=24)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hub-api-bench-") as tmp:
        root = Path(tmp)
        os.environ["PACS_HUB_DATA_DIR"] = str(root / "data")
        os.environ.setdefault("PACS_HUB_LOG_LEVEL", "WARNING")
        from hub.db import migrate

        migrate()
        from hub.accounts.roles import sync_roles
        from hub.accounts.services import create_token, create_user
        from hub.testing.net import free_port
        from hub.testing.phantoms import chest_ct_phantom

        sync_roles()
        user = create_user("bench", "ml-engineer", "correct-horse-battery-9")
        headers = {"Authorization": f"Bearer {create_token(user, 'bench', ['infer', 'read'])[1]}"}
        spacing = (2.5, 360.0 / args.size, 360.0 / args.size)
        hu, _ = chest_ct_phantom(slices=args.slices, rows=args.size, columns=args.size,
                                 spacing=spacing, seed=1)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        worker_log, web_log = root / "worker.log", root / "web.log"
        worker = start(["worker", "--concurrency", "1"], worker_log,
                       lambda: b"ready" in worker_log.read_bytes())
        web = start(["web", "--host", "127.0.0.1", "--port", str(port)], web_log,
                    lambda: answers(url + "/api/v1/health"))
        cli_wall, cli_pipeline, http_wall, http_pipeline = [], [], [], []
        try:
            with httpx.Client(base_url=url, headers=headers, timeout=700) as client:
                warm = write_round(root, hu, spacing, 0)  # first job loads the worker's model
                via_http(client, warm)
                print(f"ct-lung-seg on {args.slices} x {args.size} x {args.size}, "
                      f"{args.rounds} rounds")
                for index in range(1, args.rounds + 1):
                    folder = write_round(root, hu, spacing, index)
                    wall, own = via_cli(folder, root / f"cli-{index}")
                    cli_wall.append(wall)
                    cli_pipeline.append(own)
                    wall, timings = via_http(client, folder)
                    http_wall.append(wall)
                    http_pipeline.append(float(timings.get("total", 0.0)))
                    print(f"  round {index}: CLI {cli_wall[-1]:.2f} s (pipeline "
                          f"{own:.2f} s), HTTP {wall:.2f} s (worker pipeline "
                          f"{http_pipeline[-1]:.2f} s)")
            cli_median, http_median = statistics.median(cli_wall), statistics.median(http_wall)
            own_median = statistics.median(cli_pipeline)
            print(f"median pacs-hub infer : {cli_median:.2f} s wall, {own_median:.2f} s pipeline")
            print(f"median POST /infer    : {http_median:.2f} s "
                  f"(worker pipeline {statistics.median(http_pipeline):.2f} s)")
            worker_median = statistics.median(http_pipeline)
            print(f"ratio HTTP / CLI wall    : {http_median / cli_median:.2f} (target <= 1.10)")
            print(f"ratio HTTP / CLI pipeline: {http_median / own_median:.2f} (the CLI's pipeline "
                  "includes creating the ONNX session, the warm worker's does not)")
            extra = http_median - worker_median
            print(f"HTTP beyond the job's own pipeline: +{extra:.2f} s "
                  f"({100 * extra / worker_median:.0f} %: upload, checks, fsynced storage, "
                  "queue, result hand-off, poll)")
            done, elapsed, bad = asyncio.run(
                hammer(url + "/api/v1/models", headers, args.clients, args.seconds))
            print(f"GET /api/v1/models, {args.clients} clients: {done / elapsed:.0f} requests/s "
                  f"({done} in {elapsed:.1f} s, {bad} not 200)")
        finally:
            stop(web)
            stop(worker)
    return 0


if __name__ == "__main__":
    sys.exit(main())
