"""Ingest benchmark: dcmtk ``storescu`` sends one CT series to storescp, Orthanc and the hub.

The same uncompressed 512x512 CT series (200 slices by default) is written once, then, in each
round, sent by ``storescu`` (``TCP_NODELAY=1``, ``+II``: new SOP Instance UIDs every time, so
every receiver stores every image afresh) to

(a) dcmtk ``storescp`` writing files to disk,
(b) Orthanc with its default durable storage (fsync per file, SQLite index),
(c) the hub: a ``pacs-hub scp`` process with its own data directory and SQLite database
    (durable write + index before Success).

The receivers take turns within each round so that machine noise hits all of them alike, and
each send starts after ``sync`` (the ~100 MB every round writes would otherwise slow later
rounds down as the kernel writes them back). It
prints each receiver's median images/s and the ratios hub/Orthanc and hub/storescp, then sends
``--instances`` images (default 1,000) to the hub and reports the SCP process's peak RSS
(``VmHWM``) and its RSS after each batch, which should stay flat.

    .venv/bin/python benchmarks/ingest.py [--rounds 3] [--slices 200] [--instances 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hub.testing.dicom import write_series  # noqa: E402
from hub.testing.net import free_port  # noqa: E402
from hub.testing.orthanc import running_orthanc  # noqa: E402

DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}
HUB_AE = "PACSHUB"


def write_ct(folder: Path, slices: int, size: int) -> list[Path]:
    """An uncompressed CT series (int16, varied content so nothing is trivially small)."""
    rng = np.random.default_rng(7)
    base = rng.integers(-1000, 1500, size=(size, size), dtype=np.int16)
    volume = np.stack([np.roll(base, k, axis=0) for k in range(slices)])
    return write_series(volume, folder, seed=f"ingest-{slices}-{size}", body_part="CHEST")


def wait_port(port: int, alive: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:``port``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not alive():
            raise RuntimeError(f"{what} exited while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:g} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 20 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def storescp(folder: Path) -> Iterator[tuple[str, int, int]]:
    """dcmtk storescp writing every received file into ``folder``."""
    folder.mkdir(parents=True)
    port = free_port()
    proc = subprocess.Popen(
        ["storescp", "-aet", "STORESCP", "-od", str(folder), str(port)],
        env=DCMTK_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, lambda: proc.poll() is None, "storescp")
        yield "STORESCP", port, proc.pid
    finally:
        stop(proc)


@contextmanager
def hub_scp(folder: Path) -> Iterator[tuple[str, int, int]]:
    """A ``pacs-hub scp`` process with its own data directory; yields (AE, port, pid)."""
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith("PACS_HUB_")
    }
    env.update({"PACS_HUB_DATA_DIR": str(folder), "PACS_HUB_LOG_LEVEL": "WARNING"})
    hub = [sys.executable, "-m", "hub.cli.main"]
    subprocess.run([*hub, "manage", "migrate", "-v", "0"], env=env, check=True, cwd=REPO)
    port = free_port()
    log = (folder / "scp.log").open("wb")
    proc = subprocess.Popen(
        [*hub, "scp", "--host", "127.0.0.1", "--port", str(port), "--ae-title", HUB_AE],
        env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_port(port, lambda: proc.poll() is None, "pacs-hub scp")
        yield HUB_AE, port, proc.pid
    finally:
        stop(proc)
        log.close()


def send(ae: str, port: int, files: list[Path], pid: int = 0) -> tuple[float, float]:
    """storescu ``files`` to ``ae``@127.0.0.1:``port``; images/s and the receiver's CPU ms
    per image (0 without ``pid``)."""
    os.sync()  # earlier rounds' dirty pages written back first: each send starts alike
    cpu = cpu_seconds(pid) if pid else 0.0
    start = time.perf_counter()
    subprocess.run(
        ["storescu", "+II", "-aec", ae, "127.0.0.1", str(port), *map(str, files)],
        env=DCMTK_ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    rate = len(files) / (time.perf_counter() - start)
    return rate, (1000 * (cpu_seconds(pid) - cpu) / len(files) if pid else 0.0)


def stored_counts(root: Path, orthanc: object | None) -> dict[str, int]:
    """How many instances each receiver holds now (a refused image must not count as fast)."""
    counts: dict[str, int] = {}
    if (root / "storescp").is_dir():
        counts["storescp"] = sum(1 for _ in (root / "storescp").iterdir())
    if orthanc is not None:
        counts["orthanc"] = int(orthanc.get("/statistics")["CountInstances"])  # type: ignore[attr-defined]
    hub_instances = root / "hub" / "instances"
    if hub_instances.is_dir():
        counts["hub"] = sum(1 for _ in hub_instances.glob("*/*/*.dcm"))
    return counts


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of ``pid`` in KiB, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--instances", type=int, default=1000, help="0 skips the RSS part")
    parser.add_argument("--only", choices=["storescp", "orthanc", "hub"], action="append")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    only = set(args.only or ["storescp", "orthanc", "hub"])
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as scratch, ExitStack() as stack:
        root = Path(scratch)
        files = write_ct(root / "ct", args.slices, args.size)
        megabytes = sum(f.stat().st_size for f in files) / 1e6
        print(f"series: {len(files)} images of {args.size}x{args.size}, {megabytes:.0f} MB")
        targets: dict[str, tuple[str, int, int]] = {}
        orthanc = None
        if "storescp" in only:
            targets["storescp"] = stack.enter_context(storescp(root / "storescp"))
        if "orthanc" in only:
            orthanc = stack.enter_context(running_orthanc(root / "orthanc", aet="ORTHANC"))
            targets["orthanc"] = (orthanc.aet, orthanc.dicom_port, orthanc.process.pid)
        hub_pid = hub_port = 0
        if "hub" in only or args.instances:
            (root / "hub").mkdir()
            _, hub_port, hub_pid = stack.enter_context(hub_scp(root / "hub"))
            if "hub" in only:
                targets["hub"] = (HUB_AE, hub_port, hub_pid)
        rates: dict[str, list[float]] = {name: [] for name in targets}
        cpu: dict[str, list[float]] = {name: [] for name in targets}
        for number in range(1, args.rounds + 1):
            line = []
            for name, (ae, port, pid) in targets.items():
                rate, cpu_ms = send(ae, port, files, pid)
                rates[name].append(rate)
                cpu[name].append(cpu_ms)
                line.append(f"{name} {rate:.0f}")
            print(f"round {number}: " + ", ".join(line) + " images/s")
        held = stored_counts(root, orthanc)
        expected = args.rounds * len(files)
        short = {name: held.get(name, 0) for name in targets if held.get(name, 0) != expected}
        if short:
            print(f"error: receivers did not store all {expected} images: {short}", file=sys.stderr)
            return 1
        print(f"stored: every receiver holds all {expected} images")
        medians = {name: statistics.median(values) for name, values in rates.items()}
        cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
        print("median images/s: " + ", ".join(f"{n} {v:.0f}" for n, v in medians.items()))
        print(
            "receiver CPU per image (median ms): "
            + ", ".join(f"{n} {v:.1f}" for n, v in cpu_medians.items())
        )
        result: dict[str, object] = {
            "medians": medians, "rounds": rates, "cpu_ms_per_image": cpu_medians,
        }
        if "hub" in medians:
            for other in ("orthanc", "storescp"):
                if other in medians:
                    ratio = medians["hub"] / medians[other]
                    per_round = statistics.median(
                        hub / theirs for hub, theirs in zip(rates["hub"], rates[other], strict=True)
                    )
                    result[f"hub/{other}"] = ratio
                    result[f"hub/{other} per round"] = per_round
                    target = " (target >= 0.8)" if other == "orthanc" else ""
                    print(
                        f"hub/{other}: {ratio:.2f} of the medians, {per_round:.2f} median of "
                        f"the rounds' own ratios{target}"
                    )
        if args.instances and hub_pid:
            batches = []
            left = args.instances
            while left > 0:
                batch = files[: min(left, len(files))]
                send(HUB_AE, hub_port, batch)
                left -= len(batch)
                batches.append(memory_kib(hub_pid)["VmRSS"] // 1024)
            peak = memory_kib(hub_pid)["VmHWM"] // 1024
            print(
                f"hub SCP after {args.instances} more instances: peak RSS {peak} MiB; "
                f"RSS after each batch of {len(files)}: {batches} MiB"
            )
            result.update({"peak_rss_mib": peak, "rss_mib_per_batch": batches})
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
