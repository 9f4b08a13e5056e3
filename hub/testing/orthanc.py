"""A real Orthanc PACS on loopback, for integration tests and benchmarks.

:func:`running_orthanc` starts ``Orthanc`` (Debian package ``orthanc``) with its own JSON
configuration in a folder of the caller's (storage, index and log there too), on free HTTP and
DICOM ports, with its own AE title, REST API on 127.0.0.1 only and without authentication, and
stops it on exit::

    hub = {"hub": ("PACSHUB", "127.0.0.1", 11112)}
    with running_orthanc(tmp_path / "orthanc", modalities=hub) as pacs:
        pacs.upload(path)
        pacs.store_to("hub", pacs.studies()[0]["ID"])

Its storage is Orthanc's default durable one (files fsynced, SQLite index), so it is also a fair
reference for ingest benchmarks. A missing Orthanc raises :class:`FileNotFoundError`; tests
use :func:`hub.testing.validators.require_tool` (``"Orthanc"``) to skip or, under CI, fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.testing.net import free_port

#: Where Debian installs it (``/usr/sbin`` is not on every user's PATH).
DEFAULT_BINARY = "/usr/sbin/Orthanc"
#: A modality entry: (AE title, host, port).
Modality = tuple[str, str, int]


class OrthancError(RuntimeError):
    """Orthanc did not start, or its REST API answered an error."""


def orthanc_binary() -> str:
    """Path of the Orthanc program; :class:`FileNotFoundError` names its Debian package."""
    found = shutil.which("Orthanc") or (DEFAULT_BINARY if os.path.exists(DEFAULT_BINARY) else "")
    if not found:
        raise FileNotFoundError("Orthanc is not installed (Debian package orthanc)")
    return found


def orthanc_config(
    folder: Path,
    *,
    aet: str,
    http_port: int,
    dicom_port: int,
    modalities: Mapping[str, Modality],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The configuration :func:`start_orthanc` writes (``extra`` keys override)."""
    config: dict[str, Any] = {
        "Name": aet,
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "TemporaryDirectory": str(folder / "tmp"),
        "Plugins": [],
        "LuaScripts": [],
        "HttpServerEnabled": True,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpCompressionEnabled": False,
        "DicomServerEnabled": True,
        "DicomAet": aet,
        "DicomPort": dicom_port,
        "DicomCheckCalledAet": False,
        "DicomCheckModalityHost": False,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomScuTimeout": 30,
        "DicomModalities": {
            name: {"AET": ae, "Host": host, "Port": port}
            for name, (ae, host, port) in modalities.items()
        },
        "DicomModalitiesInDatabase": False,
        "SaveJobs": False,
    }
    config.update(extra or {})
    return config


@dataclass
class Orthanc:
    """A started Orthanc: its ports, AE title, folder, and REST helpers."""

    folder: Path
    aet: str
    http_port: int
    dicom_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    _opener: urllib.request.OpenerDirector = field(
        default_factory=lambda: urllib.request.build_opener(urllib.request.ProxyHandler({}))
    )

    @property
    def url(self) -> str:
        """Base URL of the REST API."""
        return f"http://127.0.0.1:{self.http_port}"

    def request(
        self, method: str, path: str, body: bytes | Any | None = None, timeout: float = 60.0
    ) -> Any:
        """Call the REST API; JSON in (unless ``body`` is bytes) and out (or bytes)."""
        data: bytes | None
        headers = {}
        if body is None or isinstance(body, bytes):
            data = body
            if body is not None:
                headers["Content-Type"] = "application/dicom"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with self._opener.open(req, timeout=timeout) as answer:
                payload = answer.read()
                kind = answer.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise OrthancError(f"{method} {path}: HTTP {exc.code}: {detail}") from None
        if kind.startswith("application/json"):
            return json.loads(payload) if payload else None
        return payload

    def get(self, path: str) -> Any:
        """GET ``path`` (JSON decoded)."""
        return self.request("GET", path)

    def post(self, path: str, body: bytes | Any | None = None, timeout: float = 60.0) -> Any:
        """POST ``body`` (bytes as DICOM, else JSON) to ``path``."""
        return self.request("POST", path, body if body is not None else b"", timeout=timeout)

    def upload(self, path: str | Path) -> dict[str, Any]:
        """Store one DICOM file through ``POST /instances``; returns Orthanc's answer."""
        answer = self.post("/instances", Path(path).read_bytes())
        assert isinstance(answer, dict)
        return answer

    def studies(self) -> list[dict[str, Any]]:
        """Every study, expanded (``ID``, ``MainDicomTags``, ``Series`` IDs, ...)."""
        return list(self.get("/studies?expand"))

    def series(self, study_id: str | None = None) -> list[dict[str, Any]]:
        """Every series (of one study, when given), expanded."""
        if study_id is None:
            return list(self.get("/series?expand"))
        return list(self.get(f"/studies/{study_id}/series"))

    def instances(self, series_id: str | None = None) -> list[dict[str, Any]]:
        """Every instance (of one series, when given), expanded."""
        if series_id is None:
            return list(self.get("/instances?expand"))
        return list(self.get(f"/series/{series_id}/instances"))

    def tags(self, instance_id: str) -> dict[str, Any]:
        """An instance's tags as ``{keyword: value}`` (Orthanc's simplified form)."""
        return dict(self.get(f"/instances/{instance_id}/simplified-tags"))

    def file(self, instance_id: str) -> bytes:
        """An instance's DICOM file."""
        data = self.get(f"/instances/{instance_id}/file")
        assert isinstance(data, bytes)
        return data

    def find(self, level: str, query: Mapping[str, str], expand: bool = True) -> list[Any]:
        """``POST /tools/find`` (level Patient|Study|Series|Instance)."""
        body = {"Level": level, "Query": dict(query), "Expand": expand}
        return list(self.post("/tools/find", body))

    def echo(self, modality: str) -> None:
        """C-ECHO a configured modality from Orthanc; raises :class:`OrthancError` on failure."""
        self.post(f"/modalities/{modality}/echo", {})

    def store_to(
        self, modality: str, resources: str | list[str], timeout: float = 300.0
    ) -> dict[str, Any]:
        """Make Orthanc C-STORE resources (study/series/instance IDs) to a modality, waiting."""
        ids = [resources] if isinstance(resources, str) else list(resources)
        body = {"Resources": ids, "Synchronous": True, "Timeout": int(timeout)}
        answer = self.post(f"/modalities/{modality}/store", body, timeout=timeout + 10)
        return dict(answer or {})

    def log_tail(self, lines: int = 30) -> str:
        """The end of Orthanc's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> None:
        """Stop Orthanc (SIGTERM, then SIGKILL)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_orthanc(
    folder: str | Path,
    *,
    aet: str = "ORTHANC",
    modalities: Mapping[str, Modality] | None = None,
    http_port: int | None = None,
    dicom_port: int | None = None,
    extra_config: Mapping[str, Any] | None = None,
    timeout: float = 60.0,
) -> Orthanc:
    """Start Orthanc with its configuration and data in ``folder``; wait until REST answers."""
    binary = orthanc_binary()
    root = Path(folder).resolve()
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    http_port = http_port or free_port()
    dicom_port = dicom_port or free_port()
    config = orthanc_config(
        root, aet=aet, http_port=http_port, dicom_port=dicom_port,
        modalities=modalities or {}, extra=extra_config,
    )
    config_path = root / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    log_path = root / "orthanc.log"
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [binary, str(config_path)],
            cwd=root, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "TCP_NODELAY": "1"},  # its dcmtk enables Nagle otherwise
        )
    orthanc = Orthanc(root, aet, http_port, dicom_port, process, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise OrthancError(
                f"Orthanc exited with code {process.returncode} while starting:\n"
                + orthanc.log_tail()
            )
        try:
            orthanc.request("GET", "/system", timeout=2)
            return orthanc
        except (OSError, OrthancError):
            if time.monotonic() > deadline:
                orthanc.stop()
                raise OrthancError(
                    f"Orthanc's REST API did not answer within {timeout:g} s:\n"
                    + orthanc.log_tail()
                ) from None
            time.sleep(0.1)


@contextmanager
def running_orthanc(folder: str | Path, **options: Any) -> Iterator[Orthanc]:
    """:func:`start_orthanc` as a context manager that always stops it."""
    orthanc = start_orthanc(folder, **options)
    try:
        yield orthanc
    finally:
        orthanc.stop()
