"""Helpers of the REST API tests (imported by the tests and tests/api/conftest.py)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from hub.web.problems import PROBLEM_JSON

PASSWORD = "correct-horse-battery-9"


@dataclass
class People:
    """Plain tokens (``Authorization`` headers) of the test users."""

    admin: dict[str, str]
    engineer: dict[str, str]
    radiologist: dict[str, str]
    reader: dict[str, str]
    inferer: dict[str, str]
    users: dict[str, object]


def bearer(plain: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {plain}"}


def login_session(user: object) -> str:
    """A Django session for ``user`` as the web app's login makes one; returns its key."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)  # type: ignore[attr-defined]
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()  # type: ignore[attr-defined]
    session.create()
    assert session.session_key
    return session.session_key



def assert_problem(answer: object, status: int) -> dict:  # type: ignore[type-arg]
    """``answer`` is a problem+json document with ``status``; returns its body."""
    assert answer.status_code == status, answer.text  # type: ignore[attr-defined]
    assert answer.headers["content-type"] == PROBLEM_JSON  # type: ignore[attr-defined]
    body = answer.json()  # type: ignore[attr-defined]
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def write_ct(folder: Path, *, slices: int = 10, size: int = 32, seed: str = "api",
             modality: str = "CT") -> list[Path]:
    """A small chest phantom as a DICOM series (``modality`` CT or MR) in ``folder``."""
    from hub.testing.dicom import write_series
    from hub.testing.phantoms import chest_ct_phantom

    pixel = 360.0 / size
    hu, _ = chest_ct_phantom(slices=slices, rows=size, columns=size,
                             spacing=(2.5, pixel, pixel), seed=3)
    if modality == "MR":
        hu = hu + 1024.0
    return write_series(hu, folder, spacing=(2.5, pixel, pixel), seed=seed,
                        modality=modality, body_part="CHEST")  # type: ignore[arg-type]


def file_parts(paths: list[Path], field: str = "files") -> list[tuple[str, tuple[str, bytes, str]]]:
    """Multipart file parts for TestClient/httpx ``files=``."""
    return [(field, (p.name, p.read_bytes(), "application/dicom")) for p in paths]


def zip_of(entries: dict[str, bytes]) -> bytes:
    """A zip holding ``entries`` (name -> bytes), deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def nothing_stored() -> None:
    """No instance indexed, no file under instances/ (but the spool), no upload spool left."""
    from hub.settings import get_settings
    from hub.storage.models import Instance, Series

    assert Instance.objects.count() == 0
    assert Series.objects.count() == 0
    root = get_settings().data_dir.resolve() / "instances"
    if root.exists():
        left = [p for p in root.rglob("*") if p.is_file() or p.name.startswith("upload-")]
        assert not left, left


@dataclass
class LiveHub:
    """A ``pacs-hub web`` and a ``pacs-hub worker`` on one data directory and database."""

    url: str
    data_dir: Path
    env: dict[str, str]
