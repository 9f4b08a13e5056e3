"""Write a model's SEG and SR next to each other, atomically.

Everything is built in memory first; only then is each object written to a temporary file in
the output folder, fsynced and renamed into place. If anything fails, the temporary files and
every file this call already renamed are removed, so a failed call leaves no partial output.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

from hub.errors import ResultError
from hub.results.seg import build_seg
from hub.results.sr import build_sr
from hub.results.uids import is_valid_uid
from hub.results.validate import label_counts, validate_result
from hub.sdk import ModelManifest, Result, Series

logger = logging.getLogger(__name__)

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")


@dataclass(frozen=True)
class ResultFiles:
    """What :func:`write_results` wrote.

    Attributes:
        seg_path / sr_path: the written files, ``None`` when the model has no such output.
        seg_uid / sr_uid: their SOPInstanceUIDs.
        counts: segment label -> voxel count in the label map (0 for an empty segment).
    """

    seg_path: Path | None
    sr_path: Path | None
    seg_uid: str | None
    sr_uid: str | None
    counts: dict[int, int] = field(default_factory=dict)


def result_filename(model_name: str, kind: str, sop_instance_uid: str) -> str:
    """``<model>-<kind>-<short>.dcm``; ``short`` is the UID's last 16 digits.

    Built only from a validated slug and a validated UID, so it can never leave the folder.
    """
    if not _SLUG.match(model_name) or kind not in ("seg", "sr"):
        raise ResultError(f"unusable model name {model_name!r} for a file name", "use a slug")
    if not is_valid_uid(sop_instance_uid):
        raise ResultError(f"invalid SOPInstanceUID {sop_instance_uid!r}", "use a valid UID")
    short = sop_instance_uid.replace(".", "")[-16:]
    return f"{model_name}-{kind}-{short}.dcm"


def write_results(
    series: Series, manifest: ModelManifest, result: Result, out_dir: str | os.PathLike[str]
) -> ResultFiles:
    """Build the SEG and/or SR the manifest declares and write them into ``out_dir``.

    Returns:
        The written paths, UIDs and per-label voxel counts.

    Raises:
        ResultError: the result violates the manifest, building failed, or writing failed;
            in every case nothing of this call is left in ``out_dir``.
    """
    validate_result(series, manifest, result)
    seg = build_seg(series, manifest, result, check=False) if "SEG" in manifest.outputs else None
    sr = (
        build_sr(series, manifest, result, seg=seg, check=False)
        if "SR" in manifest.outputs
        else None
    )
    counts: dict[int, int] = {}
    if result.labelmap is not None and "SEG" in manifest.outputs:
        present = label_counts(result.labelmap)
        counts = {spec.label: present.get(spec.label, 0) for spec in manifest.segments}
    planned: list[tuple[Dataset, str]] = []
    if seg is not None:
        planned.append((seg, result_filename(manifest.name, "seg", seg.SOPInstanceUID)))
    if sr is not None:
        planned.append((sr, result_filename(manifest.name, "sr", sr.SOPInstanceUID)))
    folder = Path(out_dir)
    written = _write_all(folder, planned)
    files = ResultFiles(
        seg_path=written[0] if seg is not None else None,
        sr_path=written[-1] if sr is not None else None,
        seg_uid=str(seg.SOPInstanceUID) if seg is not None else None,
        sr_uid=str(sr.SOPInstanceUID) if sr is not None else None,
        counts=counts,
    )
    logger.info(
        "wrote results of model %s for series %s: %s",
        manifest.key,
        series.series_instance_uid,
        ", ".join(path.name for path in written),
    )
    return files


def _write_all(folder: Path, planned: list[tuple[Dataset, str]]) -> list[Path]:
    """Write each dataset via temp file + fsync + rename; undo everything on failure.

    A file that replaces an earlier result of the same name (a re-run: same UIDs) keeps a
    hard-linked backup until every file is in place, so a failed re-run restores the earlier
    results instead of leaving none.
    """
    done: list[Path] = []
    backups: list[tuple[Path, Path]] = []
    temp: Path | None = None
    created = _missing_parents(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for dataset, name in planned:
            handle, temp_name = tempfile.mkstemp(prefix=".partial-", suffix=".tmp", dir=folder)
            temp = Path(temp_name)
            os.fchmod(handle, 0o666 & ~_umask())  # as open() would create it, not mkstemp's 0600
            with os.fdopen(handle, "wb") as stream:
                dataset.save_as(stream, enforce_file_format=True)
                stream.flush()
                os.fsync(stream.fileno())
            target = folder / name
            if target.exists():
                backup = Path(f"{temp}.previous")
                os.link(target, backup)
                backups.append((backup, target))
            os.replace(temp, target)
            temp = None
            done.append(target)
        _fsync_dir(folder)
    except Exception as exc:
        if temp is not None:
            temp.unlink(missing_ok=True)
        restored = {target for _, target in backups}
        for path in done:
            if path not in restored:
                path.unlink(missing_ok=True)
        for backup, target in backups:
            os.replace(backup, target)
            # rename() between two links of one file does nothing (POSIX): the target was
            # never replaced, so the backup is just a second name to drop
            backup.unlink(missing_ok=True)
        for directory in created:  # deepest first; only folders this call made
            try:
                directory.rmdir()
            except OSError:
                break
        raise ResultError(
            f"could not write results into {folder}: {exc}",
            "check that the output folder is writable and has free space",
        ) from exc
    for backup, _ in backups:
        backup.unlink(missing_ok=True)
    return done


def _umask() -> int:
    """The process's umask, read without changing it (Linux); 0o022 where it cannot be read."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _missing_parents(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    current = folder.absolute()
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    return missing


def _fsync_dir(folder: Path) -> None:
    """Persist the renames (directory entry) where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
