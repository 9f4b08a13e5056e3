"""Jobs: list, show, retry, cancel, and their results (JSON, SEG and SR downloads).

Reading needs ``view_studies``; retry and cancel need ``manage_jobs``. A retry of a job that
has not failed or been cancelled, or a cancel of a finished job, answers 409.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse

from hub.web.api.schemas import JobOut, JobPage, JobResult
from hub.web.api.views import job_view, result_file, result_view
from hub.web.auth import JobManager, Viewer
from hub.web.problems import ProblemError, problem_responses

router = APIRouter(tags=["jobs"])

JobId = Annotated[int, Path(ge=1, le=2**62, description="the job's id", examples=[42])]
State = Literal["queued", "running", "retrying", "succeeded", "failed", "cancelled"]
DICOM_DOWNLOAD = {
    200: {"content": {"application/dicom": {"schema": {"type": "string", "format": "binary"}}},
          "description": "the DICOM Part-10 file"},
    **problem_responses(401, 403, 404),
}


def _job(job_id: int) -> Any:
    from hub.jobs.services import JobNotFoundError, get_job
    from hub.web.auth import refresh_db_connection

    refresh_db_connection()
    try:
        return get_job(job_id)
    except JobNotFoundError as exc:
        raise ProblemError(404, exc.cause, fix="list jobs with GET /api/v1/jobs") from None


@router.get("/jobs", summary="Jobs, newest first", responses=problem_responses(401, 403, 422))
def list_jobs(
    principal: Viewer,
    state: Annotated[State | None, Query(description="only jobs in this state")] = None,
    model: Annotated[str | None, Query(max_length=64, description="only this model's jobs",
                                       examples=["ct-lung-seg"])] = None,
    series: Annotated[str | None, Query(max_length=64, alias="SeriesInstanceUID",
                                        description="only jobs on this series")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> JobPage:
    """One page of jobs with their states, stage timings and errors. Needs ``view_studies``."""
    from hub.jobs.models import Job
    from hub.web.auth import refresh_db_connection

    refresh_db_connection()
    query = Job.objects.all()
    if state:
        query = query.filter(state=state)
    if model:
        query = query.filter(model_name=model)
    if series:
        query = query.filter(series_instance_uid=series)
    total = query.count()
    items = [job_view(job, with_result=False) for job in query[offset:offset + limit]]
    return JobPage(total=total, limit=limit, offset=offset, items=items)


@router.get("/jobs/{job_id}", summary="One job", responses=problem_responses(401, 403, 404))
def get_job(job_id: JobId, principal: Viewer) -> JobOut:
    """The job's state, stage timings, error and, once succeeded, its result."""
    return job_view(_job(job_id))


@router.post(
    "/jobs/{job_id}/retry", summary="Queue a failed or cancelled job again",
    responses=problem_responses(401, 403, 404, 409),
)
def retry(job_id: JobId, principal: JobManager) -> JobOut:
    """Only failed or cancelled jobs (409 otherwise). Needs ``manage_jobs``."""
    from hub.jobs.services import JobStateError, retry_job

    _job(job_id)
    try:
        return job_view(retry_job(job_id))
    except JobStateError as exc:
        raise ProblemError(409, exc.cause, fix=exc.fix) from None


@router.delete(
    "/jobs/{job_id}", summary="Cancel a queued or running job",
    responses=problem_responses(401, 403, 404, 409),
)
def cancel(job_id: JobId, principal: JobManager) -> JobOut:
    """Queued, retrying and running jobs can be cancelled (409 for finished ones). Needs
    ``manage_jobs``."""
    from hub.jobs.services import JobStateError, cancel_job

    _job(job_id)
    try:
        return job_view(cancel_job(job_id))
    except JobStateError as exc:
        raise ProblemError(409, exc.cause, fix=exc.fix) from None


@router.get(
    "/jobs/{job_id}/result", summary="Findings and measurements with codes and units",
    responses=problem_responses(401, 403, 404),
)
def result(job_id: JobId, principal: Viewer) -> JobResult:
    """404 until the job has succeeded."""
    job = _job(job_id)
    if job.state != "succeeded":
        raise ProblemError(
            404, f"job {job_id} is {job.state}; it has no result yet",
            state=job.state,
            fix="follow the job (GET /api/v1/jobs/{id} or /ws/jobs) until it has succeeded",
        )
    return result_view(job)


def _download(job_id: int, kind: str) -> FileResponse:
    path, uid = result_file(_job(job_id), kind)
    return FileResponse(path, media_type="application/dicom", filename=f"{kind}-{uid}.dcm")


@router.get("/jobs/{job_id}/seg", summary="The job's DICOM SEG", response_class=FileResponse,
            responses=DICOM_DOWNLOAD)
def seg(job_id: JobId, principal: Viewer) -> FileResponse:
    """The segmentation as DICOM SEG (404 when the job has none yet)."""
    return _download(job_id, "seg")


@router.get("/jobs/{job_id}/sr", summary="The job's DICOM SR (TID 1500)",
            response_class=FileResponse, responses=DICOM_DOWNLOAD)
def sr(job_id: JobId, principal: Viewer) -> FileResponse:
    """The measurements and findings as DICOM SR TID 1500 (404 when the job has none yet)."""
    return _download(job_id, "sr")
