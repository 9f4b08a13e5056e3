"""SCP limits: the association time cap, the association limit, the spool sweep, flat memory."""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from pynetdicom.sop_class import CTImageStorage, Verification
from scp_helpers import (
    associate,
    echoscu,
    indexed_sop_uids,
    running_scp,
    status_of,
    store_statuses,
    storescu,
    wait_for,
)

from hub.dimse import receive
from hub.storage import files
from hub.testing.dicom import write_series


def small_series(folder: Path, slices: int = 3) -> list[Path]:
    volume = np.zeros((slices, 16, 16))
    return write_series(volume, folder, seed=f"limits-{folder.name}")


def test_time_cap_aborts_a_chatty_association_while_others_store(
    index_tables: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING, logger="hub.dimse")
    with running_scp(dicom={"max_association_seconds": 2.0}) as scp:
        slow = associate(scp.port, [Verification], calling="CHATTY")
        assert slow.is_established
        opened = time.monotonic()
        statuses = []
        # keeps the association busy (never idle), which the network timeout would not stop
        while slow.is_established and time.monotonic() - opened < 10:
            statuses.append(status_of(slow.send_c_echo()))
            time.sleep(0.2)
        lasted = time.monotonic() - opened
        done = storescu(scp.port, small_series(tmp_path / "other"))
    assert slow.is_aborted
    assert 2.0 <= lasted < 5.0
    assert statuses and statuses[0] == 0
    assert store_statuses(done.stdout + done.stderr) == [0, 0, 0]
    assert "CHATTY" in caplog.text and "open for more than 2 s" in caplog.text


def test_time_cap_ends_a_peer_trickling_one_pdu(index_tables: None, tmp_path: Path):
    """A peer that sends a P-DATA PDU byte by byte blocks the reader; the cap still ends it."""
    with running_scp(dicom={"max_association_seconds": 2.0, "network_timeout": 30}) as scp:
        trickler = associate(scp.port, [CTImageStorage], calling="TRICKLE")
        assert trickler.is_established
        sock = trickler.dul.socket.socket
        sock.sendall(struct.pack(">BBL", 0x04, 0, 100_000))  # P-DATA-TF of 100 kB ...
        stop = threading.Event()

        def trickle() -> None:
            while not stop.is_set():  # ... arriving one byte per 0.2 s
                try:
                    sock.send(b"\x00")
                except OSError:
                    return
                time.sleep(0.2)

        feeder = threading.Thread(target=trickle, daemon=True)
        feeder.start()
        try:
            assert wait_for(lambda: scp.active_associations == 1, timeout=2)
            start = time.monotonic()
            # meanwhile another peer stores
            done = storescu(scp.port, small_series(tmp_path / "other"))
            assert store_statuses(done.stdout + done.stderr) == [0, 0, 0]
            assert wait_for(lambda: scp.active_associations == 0, timeout=8)
            assert time.monotonic() - start < 6
        finally:
            stop.set()
            feeder.join(timeout=5)
            trickler.abort()


def test_association_limit_rejects_the_next_association(index_tables: None):
    with running_scp(dicom={"max_associations": 1}) as scp:
        first = associate(scp.port, [Verification], calling="FIRST")
        assert first.is_established
        try:
            refused = echoscu(scp.port)
        finally:
            first.release()
        assert wait_for(lambda: scp.active_associations == 0)
        accepted = echoscu(scp.port)
    assert refused.returncode != 0
    assert "Local Limit Exceeded" in refused.stdout + refused.stderr
    assert accepted.returncode == 0, accepted.stderr


def test_start_sweeps_only_stale_spool_files(index_tables: None, caplog):
    caplog.set_level(logging.INFO, logger="hub.dimse")
    from hub.settings import override_settings

    override_settings(dicom={"max_association_seconds": 60})
    spool = files.spool_dir()
    stale = [files.new_spool_file() for _ in range(3)]
    fresh = files.new_spool_file()
    other = spool / "keep-me.txt"  # not a spool temp name: never touched
    other.write_text("x")
    old = time.time() - 120
    for path in [*stale, other]:
        os.utime(path, (old, old))
    with running_scp(dicom={"max_association_seconds": 60}):
        pass
    assert not any(path.exists() for path in stale)
    assert fresh.exists() and other.exists()
    assert "removed 3 stale spool file(s)" in caplog.text


def test_sweep_spool_counts(tmp_path: Path):
    paths = [files.new_spool_file() for _ in range(2)]
    old = time.time() - 10
    os.utime(paths[0], (old, old))
    assert receive.sweep_spool(5) == 1
    assert receive.sweep_spool(0) == 1
    assert receive.sweep_spool(0) == 0


def test_a_large_instance_does_not_grow_memory(index_tables: None, tmp_path: Path):
    """A 64 MB instance arrives in chunks on disk: the process grows far less than that."""
    volume = np.random.default_rng(3).integers(-1000, 1000, size=(128, 512, 512))
    (path,) = write_series(volume, tmp_path / "big", seed="big", multiframe=True)
    size_mb = path.stat().st_size / 2**20
    assert size_mb > 60
    del volume
    with running_scp(dicom={"max_pdu": 131072}) as scp:
        before = _rss_mb()
        peak = [before]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak.append(_rss_mb())
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            done = storescu(scp.port, [path])
        finally:
            stop.set()
            sampler.join()
    assert store_statuses(done.stdout + done.stderr) == [0]
    assert len(indexed_sop_uids()) == 1
    assert max(peak) - before < size_mb / 3, (before, max(peak), size_mb)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_huge_announced_pdu_closes_the_connection_not_the_memory(
    index_tables: None, caplog: pytest.LogCaptureFixture
):
    """A request announcing a 2 GiB PDU goes to pynetdicom (too big for the store loop); the
    hub closes the connection instead of allocating it, and others still get served (the
    half-started association ends by its ACSE timeout)."""
    import socket

    caplog.set_level(logging.WARNING, logger="hub.dimse")
    with running_scp(dicom={"acse_timeout": 2}) as scp:
        before = _rss_mb()
        with socket.create_connection(("127.0.0.1", scp.port), timeout=10) as sock:
            sock.sendall(struct.pack(">BBL", 0x01, 0, 2**31) + b"\x00" * 64)
            sock.settimeout(10)
            try:
                answer = sock.recv(64)
            except ConnectionResetError:
                answer = b""
        assert answer == b""  # closed, no A-ASSOCIATE-AC/RJ
        assert _rss_mb() - before < 100
        assert echoscu(scp.port).returncode == 0
        assert wait_for(lambda: scp.active_associations == 0, timeout=5)
    assert "more than the 1048576 we read" in caplog.text
