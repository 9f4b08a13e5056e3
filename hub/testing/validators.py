"""Run the standard DICOM validators on a written object.

dcmtk's ``dcmdump`` must parse the whole file and dicom3tools' ``dciodvfy`` must report no
errors against the object's IOD. Both are external programs (Debian: ``dcmtk``,
``dicom3tools``); :func:`find_tool` raises :class:`FileNotFoundError` naming the package when
one is missing, so callers can decide to skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = {
    "dcmdump": "dcmtk",
    "storescp": "dcmtk",
    "storescu": "dcmtk",
    "dcmsend": "dcmtk",
    "echoscu": "dcmtk",
    "findscu": "dcmtk",
    "movescu": "dcmtk",
    "getscu": "dcmtk",
    "Orthanc": "orthanc",
    "chromium": "chromium",
    "curl": "curl",
    "dciodvfy": "dicom3tools",
    "redis-server": "redis-server",
    "nginx": "nginx-light",
}


@dataclass
class Report:
    """What a validator said: error lines and warning lines."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


#: pynetdicom installs apps with dcmtk's names (storescu, findscu, ...) into the virtual
#: environment; they take other options, so a dcmtk tool is never looked up there.
_DCMTK = frozenset(tool for tool, package in PACKAGES.items() if package == "dcmtk")


def find_tool(name: str) -> str:
    """Path of an external program; :class:`FileNotFoundError` names its Debian package."""
    path = shutil.which(name)
    if path is not None and name in _DCMTK:
        venv_bin = os.path.realpath(os.path.dirname(sys.executable))
        search = [
            folder for folder in os.environ.get("PATH", os.defpath).split(os.pathsep)
            if folder and os.path.realpath(folder) != venv_bin
        ]
        path = shutil.which(name, path=os.pathsep.join(search))
    if path is None:
        package = PACKAGES.get(name, name)
        raise FileNotFoundError(f"{name} is not installed (Debian package {package})")
    return path


def dcmdump(path: str | Path) -> Report:
    """Parse ``path`` fully with dcmdump; a non-zero exit or ``E:`` line is an error."""
    done = subprocess.run(
        [find_tool("dcmdump"), "-q", "+L", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    lines = (done.stdout + done.stderr).splitlines()
    report = Report(
        errors=[line for line in lines if line.startswith("E:")],
        warnings=[line for line in lines if line.startswith("W:")],
    )
    if done.returncode != 0:
        report.errors.append(f"dcmdump exited with {done.returncode}")
    return report


def dciodvfy(path: str | Path) -> Report:
    """Check ``path`` against its IOD with dciodvfy (``-new``: current standard)."""
    done = subprocess.run(
        [find_tool("dciodvfy"), "-new", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    lines = (done.stdout + done.stderr).splitlines()
    return Report(
        errors=[line for line in lines if line.startswith("Error")],
        warnings=[line for line in lines if line.startswith("Warning")],
    )


def assert_dicom_valid(path: str | Path) -> list[str]:
    """Assert both validators accept ``path``; returns dciodvfy's warnings."""
    dump = dcmdump(path)
    assert not dump.errors, f"dcmdump {path}: {dump.errors}"
    verify = dciodvfy(path)
    assert not verify.errors, f"dciodvfy {path}: {verify.errors}"
    return verify.warnings


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where integration tests must not skip."""
    import os

    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str) -> str:
    """For tests: the tool's path; skip when missing, but fail under CI."""
    import pytest

    try:
        return find_tool(name)
    except FileNotFoundError as exc:
        message = f"{exc}; 'make system-deps' installs it"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
