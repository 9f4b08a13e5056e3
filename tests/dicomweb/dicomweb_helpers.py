"""Helpers of the DICOMweb tests: a phantom study with the hub's own SEG/SR, tokens, a server."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
import uvicorn

from hub.testing.net import free_port

PASSWORD = "correct-horse-battery-9"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"


@dataclass
class Phantom:
    """Files of one CT phantom series and the ct-lung-seg SEG/SR made from it (not stored)."""

    ct_paths: list[Path]
    seg_path: Path
    sr_path: Path

    @property
    def ct(self) -> list[pydicom.Dataset]:
        return [pydicom.dcmread(p) for p in self.ct_paths]


@dataclass
class StoredStudy:
    """What a test stored: UIDs and the files they came from."""

    study: str
    ct_series: str
    seg_series: str
    sr_series: str
    seg_uid: str
    sr_uid: str
    ct_uids: list[str]
    phantom: Phantom
    by_uid: dict[str, Path] = field(default_factory=dict)

    def pixels(self, sop_uid: str) -> np.ndarray:
        return pydicom.dcmread(self.by_uid[sop_uid]).pixel_array


def make_phantom(folder: Path, slices: int = 8, size: int = 64) -> Phantom:
    """Write a chest CT phantom and run the installed ct-lung-seg model on it."""
    from hub.inference import load_series, run_model
    from hub.plugins.manager import get_registry
    from hub.results.writer import write_results
    from hub.testing import synthetic_ct_series

    series, _ = synthetic_ct_series(folder / "ct", slices=slices, size=size, order="sorted")
    loaded = get_registry().get("ct-lung-seg")
    outcome = run_model(loaded, load_series([folder / "ct"]))
    written = write_results(series, loaded.manifest, outcome.result, folder / "out")
    assert written.seg_path is not None and written.sr_path is not None
    return Phantom(sorted((folder / "ct").glob("*.dcm")), written.seg_path, written.sr_path)


def store_phantom(phantom: Phantom) -> StoredStudy:
    """Store the phantom's CT (as the SCP would) and its SEG/SR as hub results."""
    from hub.storage.store import store_instance

    by_uid: dict[str, Path] = {}
    ct_uids = []
    for path in phantom.ct_paths:
        done = store_instance(path.read_bytes(), calling_ae="CT01", called_ae="PACSHUB")
        ct_uids.append(done.sop_instance_uid)
        by_uid[done.sop_instance_uid] = path
    seg = store_instance(phantom.seg_path.read_bytes(), source="result")
    sr = store_instance(phantom.sr_path.read_bytes(), source="result")
    by_uid[seg.sop_instance_uid] = phantom.seg_path
    by_uid[sr.sop_instance_uid] = phantom.sr_path
    first = pydicom.dcmread(phantom.ct_paths[0], stop_before_pixels=True)
    return StoredStudy(
        study=str(first.StudyInstanceUID),
        ct_series=str(first.SeriesInstanceUID),
        seg_series=seg.series_instance_uid,
        sr_series=sr.series_instance_uid,
        seg_uid=seg.sop_instance_uid,
        sr_uid=sr.sop_instance_uid,
        ct_uids=ct_uids,
        phantom=phantom,
        by_uid=by_uid,
    )


def bearer(plain: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {plain}"}


class LiveServer:
    """The hub's app under uvicorn in a thread of this process, on a free loopback port."""

    def __init__(self) -> None:
        from hub.web.app import create_app

        self.port = free_port()
        config = uvicorn.Config(create_app(), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def split_multipart(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a ``multipart/related`` answer: (headers in lower case, content)."""
    from hub.web.dicomweb.multipart import parse_content_type

    media, params = parse_content_type(content_type)
    assert media == "multipart/related", content_type
    delimiter = b"\r\n--" + params["boundary"].encode()
    chunks = (b"\r\n" + body).split(delimiter)
    assert chunks[-1].startswith(b"--"), "no closing boundary"
    parts = []
    for chunk in chunks[1:-1]:
        head, _, content = chunk[2:].partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        parts.append((headers, content))
    return parts


def store_compressed(folder: Path) -> tuple[str, str, str, Path]:
    """Store a 3-frame RLE Lossless Enhanced CT; returns (study, series, SOP UID, file)."""
    from hub.storage.store import store_instance
    from hub.testing.dicom import write_series

    volume = np.arange(3 * 16 * 20, dtype=np.float32).reshape(3, 16, 20) - 500
    path = write_series(volume, folder, multiframe=True, compress=True, seed="rle-mf")[0]
    done = store_instance(path.read_bytes())
    return done.study_instance_uid, done.series_instance_uid, done.sop_instance_uid, path
