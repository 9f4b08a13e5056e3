"""``POST /api/v1/models/{name}/infer``: upload a series, get a job (and, waiting, its result).

Order of work, so that nothing is stored on any refusal and large bodies are refused early:
credentials (401/403) -> the model (404 unknown, 409 disabled) -> ``Content-Length``
(413) -> the body streamed into a spool folder, counted (413) -> zips checked in their
central directory, then extracted counting bytes (413/422/415) -> every file DICOM (415), one
series (422) the model accepts (422) -> stored like the SCP would (``source="rest"``) -> job
submitted (``trigger="rest"``) -> 202 with the job and its URLs. With ``?wait=N`` the job
table is polled (in a thread, never blocking the event loop) for up to N seconds: 200 with
the result when the job has finished by then, 202 otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from hub.settings import get_settings
from hub.web.api.models import ModelName
from hub.web.api.schemas import JobOut
from hub.web.api.views import job_view
from hub.web.auth import Runner
from hub.web.problems import ProblemError, problem_responses
from hub.web.uploads import receive_upload, spool_folder

log = logging.getLogger(__name__)
router = APIRouter(tags=["inference"])

#: How often ``?wait=`` looks at the job table (seconds).
POLL_INTERVAL = 0.1

#: The multipart body, for OpenAPI (the body is streamed by hand, so FastAPI cannot infer it).
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "DICOM Part-10 files of one series, or one zip "
                            "of them",
                        }
                    },
                    "required": ["files"],
                },
                "encoding": {"files": {"contentType": "application/dicom, application/zip"}},
            }
        },
    }
}


def enabled_model(name: str) -> Any:
    """The enabled model ``name``: 404 unknown, 409 disabled by validation or switched off by
    an operator (problem documents), checked before the upload is read."""
    from hub.errors import PluginError, UnknownModelError
    from hub.jobs.toggles import refuse_if_disabled
    from hub.plugins.manager import get_registry
    from hub.web.auth import refresh_db_connection

    refresh_db_connection()
    try:
        model = get_registry().get(name)
        refuse_if_disabled(model.manifest.name)
        return model
    except UnknownModelError as exc:
        raise ProblemError(404, exc.cause, fix=exc.fix, model=name) from None
    except PluginError as exc:
        raise ProblemError(409, exc.cause, fix=exc.fix, model=name) from None


def accept_and_submit(model: Any, files: list[Any]) -> JobOut:
    """Check the files against the model, store them, submit the job (sync)."""
    from hub.jobs.models import Job
    from hub.jobs.services import submit_job
    from hub.web.api.intake import check_series_for, store_checked
    from hub.web.auth import refresh_db_connection

    refresh_db_connection()
    checked = check_series_for(model.manifest, files)
    stored = store_checked(checked)
    first = stored[0]
    job = submit_job(
        first.series_instance_uid, first.study_instance_uid, model.manifest.name,
        [item.path for item in stored], trigger=Job.Trigger.REST,
    )
    log.info("REST upload of %d file(s) for %s: job %s", len(stored), model.key, job.pk)
    return job_view(job)


def load_job(job_id: int) -> JobOut:
    from hub.jobs.services import get_job
    from hub.web.auth import refresh_db_connection

    refresh_db_connection()
    return job_view(get_job(job_id))


async def wait_for_job(job: JobOut, seconds: float) -> JobOut:
    """Poll the job table until the job has finished or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    finished = ("succeeded", "failed", "cancelled")
    while job.state not in finished and time.monotonic() < deadline:
        await asyncio.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))
        job = await run_in_threadpool(load_job, job.id)
    return job


@router.post(
    "/models/{name}/infer",
    summary="Run a model on an uploaded series",
    status_code=202,
    response_model=JobOut,
    openapi_extra=UPLOAD_BODY,
    responses={
        200: {"model": JobOut, "description": "with ?wait: the job finished in time"},
        **problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 507),
    },
)
async def infer(
    name: ModelName,
    request: Request,
    principal: Runner,
    wait: Annotated[
        float,
        Query(ge=0, le=3600, description="seconds to wait for the result (capped by "
              "[api] max_wait_seconds); 0 answers at once"),
    ] = 0,
) -> JSONResponse:
    """Upload the DICOM files of one series (multipart file parts named ``files``, or one zip)
    and run model ``name`` on them. Needs ``run_inference``.

    202: the job was created (or found: the same series and model version give the same
    job); follow ``urls.self`` or ``urls.ws``. With ``?wait=N``: 200 and the result when the
    job finished within N seconds. Refusals store nothing: 413 too large (body, files, zip
    expansion), 415 not DICOM, 422 not one series or not accepted by the model (``field``
    names the attribute), 404 unknown model, 409 disabled model.
    """
    model = await run_in_threadpool(enabled_model, name)
    with spool_folder() as folder:
        upload = await receive_upload(request, folder)
        job = await run_in_threadpool(accept_and_submit, model, upload.files)
    limit = min(wait, get_settings().api.max_wait_seconds)
    if limit > 0:
        job = await wait_for_job(job, limit)
    done = job.state in ("succeeded", "failed", "cancelled")
    status = 200 if wait > 0 and done else 202
    return JSONResponse(
        job.model_dump(mode="json"), status_code=status, headers={"Location": job.urls.self}
    )
