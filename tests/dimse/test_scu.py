"""C-ECHO / C-STORE SCU and ``pacs-hub echo|send`` against real dcmtk ``storescp`` peers."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import Dataset
from pynetdicom.association import Association

from hub.cli.main import main
from hub.dimse import scu
from hub.settings import reset_settings
from hub.testing.dicom import write_series
from hub.testing.net import free_port
from hub.testing.validators import require_tool

StartPeer = Callable[..., tuple[int, Path]]




def wait_listening(port: int, proc: subprocess.Popen[bytes], deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"storescp exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("storescp did not start listening")


@pytest.fixture
def start_storescp(tmp_path: Path) -> Iterator[StartPeer]:
    """Start ``storescp`` on a free loopback port; returns (port, output folder)."""
    tool = require_tool("storescp")
    procs: list[subprocess.Popen[bytes]] = []

    def start(*options: str, name: str = "in") -> tuple[int, Path]:
        out = tmp_path / name
        out.mkdir()
        port = free_port()
        proc = subprocess.Popen(
            [tool, "-od", str(out), "-aet", "PACS", *options, str(port)],
            env={**os.environ, "TCP_NODELAY": "1"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        wait_listening(port, proc)
        return port, out

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Write a PACS_HUB_CONFIG file with the given ``name=port`` peers (AE title PACS)."""

    def write(**ports: int) -> None:
        text = "".join(
            f'[[peers]]\nname = "{name}"\nae_title = "PACS"\nhost = "127.0.0.1"\nport = {port}\n'
            for name, port in ports.items()
        )
        config = tmp_path / "hub.toml"
        config.write_text('AE_TITLE = "HUBTEST"\n' + text, encoding="utf-8")
        monkeypatch.setenv("PACS_HUB_CONFIG", str(config))
        reset_settings()

    return write


def ct_series(folder: Path, *, compress: bool = False, n: int = 20) -> list[Path]:
    volume = np.linspace(-1000, 1000, n * 16 * 16).reshape(n, 16, 16)
    return write_series(volume, folder, seed=folder.name, compress=compress)


def instance_uids(paths: list[Path]) -> set[str]:
    return {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in paths}


def received(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file())


def test_echo_ok(start_storescp, configure, capsys):
    port, _ = start_storescp()
    configure(pacs=port)
    assert scu.echo(scu.find_peer("pacs"), timeout=5) > 0
    assert main(["echo", "pacs"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"pacs (PACS@127.0.0.1:{port}): echo OK in ")
    assert out.rstrip().endswith(" ms")


def test_echo_closed_port_is_one_line_error(configure, capsys):
    configure(pacs=free_port())
    start = time.monotonic()
    code = main(["echo", "pacs", "--timeout", "2"])
    assert time.monotonic() - start < 5
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert len(err) == 1
    assert err[0].startswith("error: pacs (PACS@127.0.0.1:")
    assert "connection refused" in err[0] and "(fix: " in err[0]


def test_unknown_peer_lists_configured_peers(configure, capsys):
    configure(pacs=104, archive=105)
    assert main(["send", "nowhere", "--to", "mars"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "unknown peer 'mars' (configured peers: pacs, archive)" in err
    assert "[[peers]]" in err
    with pytest.raises(scu.PeerError):
        scu.find_peer("mars")


def test_send_ct_series_all_arrive(start_storescp, configure, tmp_path, capsys, monkeypatch):
    port, out = start_storescp()
    configure(pacs=port)
    files = ct_series(tmp_path / "ct")
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)  # the progress-bar path
    assert main(["send", str(tmp_path / "ct"), "--to", "pacs"]) == 0
    summary = capsys.readouterr().out
    assert "sent 20 of 20 instances to pacs in " in summary and "; 0 failed" in summary
    assert len(received(out)) == 20
    assert instance_uids(received(out)) == instance_uids(files)


@pytest.mark.parametrize("accept_all", [True, False], ids=["rle-accepted", "rle-decompressed"])
def test_send_rle_series(start_storescp, configure, tmp_path, accept_all):
    """RLE goes as RLE when the peer accepts it, else decompressed to an uncompressed syntax."""
    port, out = start_storescp(*(["+xa"] if accept_all else []))
    configure(pacs=port)
    files = ct_series(tmp_path / "rle", compress=True)
    assert pydicom.dcmread(files[0]).file_meta.TransferSyntaxUID == pydicom.uid.RLELossless
    progress: list[tuple[int, int]] = []
    report = scu.send(scu.find_peer("pacs"), files, lambda d, t: progress.append((d, t)))
    assert report.ok and len(report.sent) == 20 and report.associations == 1
    assert progress[-1] == (20, 20)
    got = received(out)
    assert instance_uids(got) == instance_uids(files)
    syntax = pydicom.dcmread(got[0]).file_meta.TransferSyntaxUID
    assert (syntax == pydicom.uid.RLELossless) is accept_all


def test_non_dicom_file_is_reported_and_others_sent(start_storescp, configure, tmp_path, capsys):
    port, out = start_storescp()
    configure(pacs=port)
    files = ct_series(tmp_path / "mixed", n=5)
    (tmp_path / "mixed" / "notes.txt").write_text("not DICOM", encoding="utf-8")
    assert main(["send", str(tmp_path / "mixed"), "--to", "pacs"]) == 1
    captured = capsys.readouterr()
    assert "sent 5 of 6 instances to pacs" in captured.out and "; 1 failed" in captured.out
    assert "failed: " in captured.err and "notes.txt: not a readable DICOM file" in captured.err
    assert instance_uids(received(out)) == instance_uids(files)


def test_refused_association_is_clear_error(start_storescp, configure, tmp_path, capsys):
    port, out = start_storescp("--refuse")
    configure(pacs=port)
    ct_series(tmp_path / "ct", n=2)
    assert main(["send", str(tmp_path / "ct"), "--to", "pacs", "--timeout", "5"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith(f"error: pacs (PACS@127.0.0.1:{port}) rejected the association")
    assert "'HUBTEST'" in err and "(fix: " in err
    assert received(out) == []


def test_lost_response_is_resent_on_new_association(
    start_storescp, configure, tmp_path, monkeypatch
):
    """A C-STORE whose response never came is unconfirmed and sent again, exactly once."""
    port, out = start_storescp()
    configure(pacs=port)
    files = ct_series(tmp_path / "ct", n=6)
    real = Association.send_c_store
    calls = {"n": 0}

    def lossy(self: Association, dataset: Dataset, *args: object, **kwargs: object) -> Dataset:
        calls["n"] += 1
        rsp = real(self, dataset, *args, **kwargs)
        return Dataset() if calls["n"] in (3, 5) else rsp  # lose two responses

    monkeypatch.setattr(Association, "send_c_store", lossy)
    report = scu.send(scu.find_peer("pacs"), files)
    assert report.ok and len(report.sent) == 6
    assert report.resent == 2 and report.associations == 2
    assert instance_uids(received(out)) == instance_uids(files)


def test_unconfirmed_after_retries_is_failed(start_storescp, configure, tmp_path, monkeypatch):
    port, _ = start_storescp()
    configure(pacs=port)
    files = ct_series(tmp_path / "ct", n=3)
    monkeypatch.setattr(Association, "send_c_store", lambda self, ds, *a, **k: Dataset())
    report = scu.send(scu.find_peer("pacs"), files, retries=2)
    assert not report.ok and report.associations == 3
    assert [f.reason for f in report.failed] == ["no C-STORE response (unconfirmed)"] * 3
