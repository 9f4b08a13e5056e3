"""The REST API's documented shapes (OpenAPI components), with examples.

Only shapes live here; building them from jobs, manifests and uploads is done by the routers
and :mod:`hub.web.api.views`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SERIES_UID = "1.2.826.0.1.3680043.8.498.10293847561029384756"
STUDY_UID = "1.2.826.0.1.3680043.8.498.56473829105647382910"


class CodeOut(BaseModel):
    """A coded concept: value, coding scheme designator, meaning."""

    value: str = Field(examples=["39607008"])
    scheme: str = Field(examples=["SCT"])
    meaning: str = Field(examples=["Lung"])


class TensorOut(BaseModel):
    name: str = Field(examples=["image"])
    shape: list[int | None] = Field(examples=[[None, 1, None, None]])
    dtype: str = Field(examples=["float32"])


class SegmentOut(BaseModel):
    label: int = Field(examples=[1])
    name: str = Field(examples=["Right lung"])
    category: CodeOut
    type: CodeOut
    laterality: CodeOut | None = None


class MeasurementSpecOut(BaseModel):
    key: str = Field(examples=["right_lung_volume"])
    concept: CodeOut
    unit: CodeOut
    segment_label: int | None = None


class FindingSpecOut(BaseModel):
    key: str
    concept: CodeOut
    values: dict[str, CodeOut]


class FindingOut(BaseModel):
    """A validation finding of a plugin or model (stable ID, message, hint)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(examples=["plugins.E003"])
    severity: str = Field(examples=["error"])
    message: str = ""
    hint: str = ""


class ToggleOut(BaseModel):
    """An operator's switch for the model (``enabled`` false: refused until switched on)."""

    enabled: bool
    reason: str = Field(default="", examples=["validating a new version"])
    changed_by: str = Field(default="", examples=["eve"])
    changed_at: str | None = None


class ToggleRequest(BaseModel):
    """Why the model is switched (shown on the plugins page and in refusals)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=200, examples=["validating a new version"])


class ModelOut(BaseModel):
    """One installed model: its manifest as data and whether it may run.

    ``status`` is ``disabled`` when validation disabled it (``finding_ids`` say why) or an
    operator switched it off (``toggle``)."""

    name: str = Field(examples=["ct-lung-seg"])
    version: str = Field(examples=["1.0.0"])
    description: str = ""
    plugin: str = Field(examples=["ct-lung-seg"])
    status: Literal["enabled", "disabled"]
    enabled: bool
    finding_ids: list[str] = Field(
        description="IDs of the validation findings (why a model is disabled)",
        examples=[[]],
    )
    source: str = Field(examples=["entry-point"])
    distribution: str | None = Field(default=None, examples=["pacs-hub-ct-lung-seg==1.0.0"])
    modalities: list[str] = Field(examples=[["CT"]])
    body_parts: list[str] = Field(examples=[[]])
    sop_classes: list[str] = Field(examples=[[]])
    min_slices: int = Field(examples=[8])
    max_slices: int | None = None
    dimensionality: str = Field(examples=["2d"])
    outputs: list[str] = Field(examples=[["SEG", "SR"]])
    seg_type: str | None = Field(default=None, examples=["binary"])
    inputs: list[TensorOut]
    segments: list[SegmentOut]
    measurements: list[MeasurementSpecOut]
    finding_specs: list[FindingSpecOut]
    algorithm_family: CodeOut | None = None
    model_file: str = Field(description="file name of the ONNX model", examples=["lung.onnx"])
    sha256: str
    findings: list[FindingOut]
    toggle: ToggleOut | None = Field(
        default=None, description="the operator's switch, when one was ever set"
    )


class ModelList(BaseModel):
    """Every installed model, enabled or not, and the plugin-level findings."""

    ok: bool = Field(description="false when any plugin or model has an error finding")
    models: list[ModelOut]
    findings: list[FindingOut]


class JobUrls(BaseModel):
    """Where to follow a job and fetch its results."""

    self: str = Field(examples=["/api/v1/jobs/42"])
    result: str = Field(examples=["/api/v1/jobs/42/result"])
    seg: str = Field(examples=["/api/v1/jobs/42/seg"])
    sr: str = Field(examples=["/api/v1/jobs/42/sr"])
    retry: str = Field(examples=["/api/v1/jobs/42/retry"])
    ws: str = Field(description="WebSocket of live state changes", examples=["/ws/jobs?job=42"])


class ModelRef(BaseModel):
    name: str = Field(examples=["ct-lung-seg"])
    version: str = Field(examples=["1.0.0"])


class ResultObject(BaseModel):
    """A DICOM object the job wrote (SEG or SR)."""

    SOPInstanceUID: str
    url: str = Field(examples=["/api/v1/jobs/42/seg"])


class SegmentResult(BaseModel):
    label: int = Field(examples=[1])
    name: str = Field(examples=["Right lung"])
    category: CodeOut | None = None
    type: CodeOut | None = None
    laterality: CodeOut | None = None
    voxels: int = Field(examples=[20213])
    volume_ml: float = Field(examples=[1840.2])


class MeasurementResult(BaseModel):
    key: str = Field(examples=["right_lung_volume"])
    value: float = Field(examples=[1840.2])
    unit: CodeOut | None = Field(description="UCUM unit")
    concept: CodeOut | None = None
    segment_label: int | None = Field(default=None, examples=[1])


class FindingResult(BaseModel):
    key: str = Field(examples=["burned_in_text"])
    value: Any = Field(examples=["present"])
    value_code: CodeOut | None = None
    concept: CodeOut | None = None
    score: float | None = Field(default=None, examples=[0.93])


class JobResult(BaseModel):
    """What a succeeded job found, with codes and units, and its DICOM objects."""

    job_id: int = Field(examples=[42])
    model: ModelRef
    SeriesInstanceUID: str = Field(examples=[SERIES_UID])
    StudyInstanceUID: str = Field(examples=[STUDY_UID])
    slices: int | None = Field(default=None, examples=[24])
    segments: list[SegmentResult]
    measurements: list[MeasurementResult]
    findings: list[FindingResult]
    seg: ResultObject | None = None
    sr: ResultObject | None = None


class JobOut(BaseModel):
    """A job: state, stage timings (seconds), error, and its URLs."""

    id: int = Field(examples=[42])
    state: Literal["queued", "running", "retrying", "succeeded", "failed", "cancelled"]
    model: ModelRef
    run: int = Field(examples=[1])
    SeriesInstanceUID: str = Field(examples=[SERIES_UID])
    StudyInstanceUID: str = Field(examples=[STUDY_UID])
    trigger: str = Field(examples=["rest"])
    route: str = ""
    also_routes: list[str] = Field(
        default_factory=list,
        description="later routes (continue) that chose the same model: the job runs once, "
        "under route, and its results also go to these routes' send_to",
    )
    priority: str = Field(examples=["normal"])
    queue: str = Field(examples=["default"])
    attempts: int = Field(examples=[1])
    worker_host: str = ""
    timings_s: dict[str, float] = Field(
        examples=[{"load": 0.21, "preprocess": 0.02, "inference": 1.4, "postprocess": 0.05,
                   "write": 0.3, "total": 1.98}]
    )
    error: str = ""
    error_kind: str = ""
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str | None = None
    urls: JobUrls
    result: JobResult | None = Field(
        default=None, description="present once the job has succeeded"
    )


class JobPage(BaseModel):
    """One page of jobs, newest first."""

    total: int = Field(examples=[1])
    limit: int = Field(examples=[50])
    offset: int = Field(examples=[0])
    items: list[JobOut]


class FileOutcome(BaseModel):
    """What happened to one uploaded file."""

    file: str = Field(examples=["slice-001.dcm"])
    status: Literal["stored", "refused"]
    SOPInstanceUID: str | None = None
    SeriesInstanceUID: str | None = None
    duplicate: bool = False
    detail: str = ""
    http_status: int | None = Field(
        default=None, description="the status this file alone would have had (refused files)",
        examples=[415],
    )


class UploadReport(BaseModel):
    """Per-file outcome of ``POST /dicom/upload``."""

    stored: int = Field(examples=[24])
    refused: int = Field(examples=[0])
    series: list[str] = Field(examples=[[SERIES_UID]])
    files: list[FileOutcome]


class AnalyzeRequest(BaseModel):
    """A study or a series already in the hub, and optionally the models to run."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"SeriesInstanceUID": SERIES_UID},
            {"StudyInstanceUID": STUDY_UID, "models": ["ct-lung-seg"]},
        ]},
    )

    StudyInstanceUID: str | None = Field(default=None, max_length=64)
    SeriesInstanceUID: str | None = Field(default=None, max_length=64)
    models: list[str] | None = Field(
        default=None, max_length=32,
        description="models to run; omitted: the models the routing rules choose",
    )


class AnalyzeDecision(BaseModel):
    SeriesInstanceUID: str
    model: str = ""
    outcome: str = Field(examples=["submitted"])
    reason: str
    job_id: int | None = None


class AnalyzeAnswer(BaseModel):
    """The jobs created (or found) for the series, and every decision with its reason."""

    jobs: list[JobOut]
    decisions: list[AnalyzeDecision]


class CheckOut(BaseModel):
    ok: bool
    required: bool
    detail: str = Field(examples=["SELECT 1 answered (sqlite)"])


class ReadyOut(BaseModel):
    """Readiness: each sub-check; 503 when a required one fails."""

    status: Literal["ready", "not ready"]
    checks: dict[str, CheckOut]
