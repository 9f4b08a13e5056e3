"""Building the API's shapes (:mod:`hub.web.api.schemas`) from jobs, results and manifests.

Server paths never leave the hub: SEG/SR files are named by their SOP Instance UID and a
download URL, the model file by its name only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.web.api.schemas import (
    CodeOut,
    FindingResult,
    JobOut,
    JobResult,
    JobUrls,
    MeasurementResult,
    ModelOut,
    ModelRef,
    ResultObject,
    SegmentResult,
)
from hub.web.problems import ProblemError

API = "/api/v1"


def job_urls(job_id: int) -> JobUrls:
    base = f"{API}/jobs/{job_id}"
    return JobUrls(
        self=base, result=f"{base}/result", seg=f"{base}/seg", sr=f"{base}/sr",
        retry=f"{base}/retry", ws=f"/ws/jobs?job={job_id}",
    )


def _time(value: Any) -> str | None:
    return value.isoformat() if value else None


def job_view(job: Any, with_result: bool = True) -> JobOut:
    """A job as :class:`JobOut`; its result (codes, units) once it has succeeded (sync)."""
    from hub.jobs.models import Job

    return JobOut(
        id=job.pk,
        state=job.state,
        model=ModelRef(name=job.model_name, version=job.model_version),
        run=job.run,
        SeriesInstanceUID=job.series_instance_uid,
        StudyInstanceUID=job.study_instance_uid,
        trigger=job.trigger,
        route=job.route,
        also_routes=list(job.also_routes or []),
        priority=Job.Priority(job.priority).label,
        queue=job.queue,
        attempts=job.attempts,
        worker_host=job.worker_host,
        timings_s={k: float(v) for k, v in (job.timings or {}).items()},
        error=job.error,
        error_kind=job.error_kind,
        created_at=_time(job.created_at),
        started_at=_time(job.started_at),
        finished_at=_time(job.finished_at),
        updated_at=_time(job.updated_at),
        urls=job_urls(job.pk),
        result=result_view(job) if with_result and job.state == Job.State.SUCCEEDED else None,
    )


def _code(code: Any) -> CodeOut | None:
    if code is None:
        return None
    return CodeOut(value=code.value, scheme=code.scheme, meaning=code.meaning)


def _manifest(job: Any) -> Any | None:
    """The job's model manifest when that version is still installed (for codes), else None."""
    from hub.errors import HubError
    from hub.plugins.manager import get_registry

    registry = get_registry()
    for model in registry.models:
        if model.manifest.name == job.model_name and model.manifest.version == job.model_version:
            return model.manifest
    try:
        return registry.get(job.model_name).manifest
    except HubError:
        return None


def result_view(job: Any) -> JobResult:
    """The findings, measurements and segments of a succeeded job with codes and units."""
    result = job.result or {}
    manifest = _manifest(job)
    segments = {s.label: s for s in manifest.segments} if manifest else {}
    measures = {m.key: m for m in manifest.measurements} if manifest else {}
    findings = {f.key: f for f in manifest.findings} if manifest else {}
    urls = job_urls(job.pk)

    def segment(item: dict[str, Any]) -> SegmentResult:
        spec = segments.get(item.get("label"))
        return SegmentResult(
            label=int(item.get("label", 0)), name=str(item.get("name", "")),
            category=_code(spec.category) if spec else None,
            type=_code(spec.type) if spec else None,
            laterality=_code(spec.laterality) if spec else None,
            voxels=int(item.get("voxels", 0)), volume_ml=float(item.get("volume_ml", 0.0)),
        )

    def measurement(item: dict[str, Any]) -> MeasurementResult:
        spec = measures.get(item.get("key"))
        unit = _code(spec.unit) if spec else (
            CodeOut(value=item["unit"], scheme="UCUM", meaning=item["unit"])
            if item.get("unit") else None
        )
        return MeasurementResult(
            key=str(item.get("key")), value=float(item.get("value", 0.0)), unit=unit,
            concept=_code(spec.concept) if spec else None,
            segment_label=spec.segment_label if spec else None,
        )

    def finding(item: dict[str, Any]) -> FindingResult:
        spec = findings.get(item.get("key"))
        value = item.get("value")
        value_code = spec.values.get(value) if spec and isinstance(value, str) else None
        return FindingResult(
            key=str(item.get("key")), value=value, value_code=_code(value_code),
            concept=_code(spec.concept) if spec else None, score=item.get("score"),
        )

    def obj(kind: str, url: str) -> ResultObject | None:
        entry = result.get(kind) or {}
        if not entry.get("uid") or not entry.get("path"):
            return None
        return ResultObject(SOPInstanceUID=entry["uid"], url=url)

    return JobResult(
        job_id=job.pk,
        model=ModelRef(name=job.model_name, version=job.model_version),
        SeriesInstanceUID=job.series_instance_uid,
        StudyInstanceUID=job.study_instance_uid,
        slices=result.get("slices"),
        segments=[segment(s) for s in result.get("segments", [])],
        measurements=[measurement(m) for m in result.get("measurements", [])],
        findings=[finding(f) for f in result.get("findings", [])],
        seg=obj("seg", urls.seg),
        sr=obj("sr", urls.sr),
    )


def result_file(job: Any, kind: str) -> tuple[Path, str]:
    """The path and SOP Instance UID of the job's SEG or SR; 404 problem when it has none.

    The path must lie under ``DATA_DIR/results`` (the job table is trusted, but a path that
    points elsewhere is never served).
    """
    from hub.settings import get_settings

    entry = ((job.result or {}).get(kind) or {}) if job.state == "succeeded" else {}
    label = kind.upper()
    if not entry.get("path") or not entry.get("uid"):
        why = "has not succeeded yet" if job.state != "succeeded" else f"wrote no {label}"
        raise ProblemError(
            404, f"job {job.pk} {why}; no {label} to download", title="Not Found",
            state=job.state, fix="follow the job (GET /api/v1/jobs/{id} or /ws/jobs) until "
            "it has succeeded",
        )
    path = Path(entry["path"]).resolve()
    root = (get_settings().data_dir.resolve() / "results")
    if not path.is_relative_to(root) or not path.is_file():
        raise ProblemError(404, f"the {label} of job {job.pk} is no longer on disk",
                           fix="retry the job to write it again")
    return path, str(entry["uid"])


def model_view(model: Any, toggle: Any | None = None) -> ModelOut:
    """One registry model as :class:`ModelOut` (status, finding IDs, operator switch, model
    file name); ``toggle`` is its :class:`hub.jobs.models.ModelToggle` row, if any."""
    from hub.plugins.registry import model_as_json

    data = model_as_json(model)
    data["model_file"] = Path(data["model_file"]).name
    switched_off = toggle is not None and not toggle.enabled
    data["enabled"] = bool(model.enabled and not switched_off)
    data["status"] = "enabled" if data["enabled"] else "disabled"
    data["finding_ids"] = sorted({f.id for f in model.findings})
    if toggle is not None:
        data["toggle"] = {"enabled": toggle.enabled, "reason": toggle.reason,
                          "changed_by": toggle.changed_by,
                          "changed_at": _time(toggle.changed_at)}
    return ModelOut.model_validate(data)
