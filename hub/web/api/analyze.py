"""``POST /api/v1/ai/analyze``: run the routed (or named) models on a study or series in the hub.

The series' facts are read from its stored files as series completion does
(:func:`hub.routing.facts.stored_facts`); without ``models`` the ``[[routes]]`` are evaluated
(:func:`hub.routing.rules.evaluate`, the same rules as for received series), with ``models``
each named model is checked against its manifest. Accepted models are submitted as jobs
(``trigger="rest"``); a job that already exists for the series and model version is
returned as it is. The hub's own results (SEG/SR series) are never analyzed.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hub.web.api.schemas import AnalyzeAnswer, AnalyzeDecision, AnalyzeRequest
from hub.web.api.views import job_view
from hub.web.auth import Runner
from hub.web.problems import ProblemError, problem_responses

log = logging.getLogger(__name__)
router = APIRouter(tags=["inference"])


def target_series(request: AnalyzeRequest) -> list[Any]:
    """The stored series the request names (404 for an unknown UID; 422 for neither/both)."""
    from hub.storage.models import Series
    from hub.storage.uids import validate_uid

    if bool(request.StudyInstanceUID) == bool(request.SeriesInstanceUID):
        raise ProblemError(422, "give exactly one of StudyInstanceUID and SeriesInstanceUID",
                           field="SeriesInstanceUID")
    keyword = "StudyInstanceUID" if request.StudyInstanceUID else "SeriesInstanceUID"
    uid = request.StudyInstanceUID or request.SeriesInstanceUID or ""
    validate_uid(uid, keyword)  # InvalidUIDError -> 422 naming the field
    if keyword == "StudyInstanceUID":
        found = list(Series.objects.filter(study_instance_uid=uid).order_by("id"))
    else:
        found = list(Series.objects.filter(series_instance_uid=uid))
    if not found:
        raise ProblemError(404, f"no {keyword} {uid} in the hub", field=keyword,
                           fix="store the images first (C-STORE, STOW-RS or POST /dicom/upload)")
    return found


def _named(facts: Any, names: list[str]) -> list[tuple[str, str, str, str]]:
    """(model, outcome, reason, priority) for each named model: accepted or skipped."""
    from hub.errors import PluginError, UnknownModelError
    from hub.inference.acceptance import refusal
    from hub.plugins.manager import get_registry

    registry = get_registry()
    plan: list[tuple[str, str, str, str]] = []
    for name in dict.fromkeys(names):
        try:
            manifest = registry.get(name).manifest
        except UnknownModelError as exc:
            raise ProblemError(404, exc.cause, fix=exc.fix, model=name) from None
        except PluginError as exc:
            raise ProblemError(409, exc.cause, fix=exc.fix, model=name) from None
        why = refusal(manifest, facts.as_series())
        if why is None:
            plan.append((name, "accepted", f"model {name} named in the request", "normal"))
        else:
            plan.append((name, "skipped", f"model {name} skipped: {why}", "normal"))
    return plan


def _routed(facts: Any) -> list[tuple[str, str, str, str]]:
    from hub.jobs.toggles import switched_off
    from hub.plugins.manager import get_registry
    from hub.routing.rules import evaluate
    from hub.settings import get_settings

    plan = evaluate(facts, get_settings().routes, get_registry(), switched_off())
    return [(d.model, str(d.outcome), d.reason, d.priority) for d in plan.decisions]


def analyze_series(request: AnalyzeRequest) -> AnalyzeAnswer:
    """Evaluate and submit for every target series (sync)."""
    from hub.errors import HubError
    from hub.jobs.models import Job
    from hub.jobs.services import submit_job
    from hub.routing.completion import series_folder
    from hub.routing.facts import stored_facts
    from hub.web.auth import refresh_db_connection

    refresh_db_connection()
    priorities = {label: value for value, label in Job.Priority.choices}
    jobs: dict[int, Any] = {}
    decisions: list[AnalyzeDecision] = []
    for series in target_series(request):
        uid = series.series_instance_uid
        if series.hub_results:
            decisions.append(AnalyzeDecision(
                SeriesInstanceUID=uid, outcome="not_routed",
                reason="the series holds results written by the hub; never analyzed"))
            continue
        try:
            facts = stored_facts(series)
        except HubError as exc:
            decisions.append(AnalyzeDecision(SeriesInstanceUID=uid, outcome="error",
                                             reason=exc.cause))
            continue
        plan = _named(facts, request.models) if request.models else _routed(facts)
        for model, outcome, reason, priority in plan:
            job_id = None
            if outcome == "accepted":
                try:
                    job = submit_job(
                        uid, series.study_instance_uid, model,
                        [series_folder(series.study_instance_uid, uid)],
                        trigger=Job.Trigger.REST,
                        priority=priorities.get(priority, Job.Priority.NORMAL),
                    )
                except HubError as exc:
                    outcome, reason = "skipped", f"model {model} skipped: {exc.cause}"
                else:
                    outcome, job_id = "submitted", job.pk
                    reason = f"{reason}: job {job.pk} (run {job.run}, {job.state})"
                    jobs[job.pk] = job
            decisions.append(AnalyzeDecision(SeriesInstanceUID=uid, model=model,
                                             outcome=outcome, reason=reason, job_id=job_id))
    return AnalyzeAnswer(jobs=[job_view(job) for job in jobs.values()], decisions=decisions)


@router.post(
    "/ai/analyze",
    summary="Run the routed or named models on a study or series already in the hub",
    status_code=202,
    response_model=AnalyzeAnswer,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def analyze(request: AnalyzeRequest, principal: Runner) -> JSONResponse:
    """Give ``StudyInstanceUID`` or ``SeriesInstanceUID`` of images stored in the hub, and
    optionally ``models``. Without ``models`` the routing rules choose (every enabled model
    whose manifest accepts the series when no routes are configured). Needs
    ``run_inference``. 202 with the jobs and each decision's reason; 404 for an unknown UID
    or model."""
    from fastapi.concurrency import run_in_threadpool

    answer = await run_in_threadpool(analyze_series, request)
    return JSONResponse(answer.model_dump(mode="json"), status_code=202)
