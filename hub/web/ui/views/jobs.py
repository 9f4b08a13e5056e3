"""Jobs: list with filters, detail with stage timings and errors, retry and cancel."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from hub.jobs import services
from hub.jobs.models import Job
from hub.web.ui import audit
from hub.web.ui.access import require
from hub.web.ui.forms import JobFilter

PAGE_SIZE = 50
#: Stage timings in pipeline order (others follow alphabetically).
STAGES = ("load", "preprocess", "inference", "postprocess", "write", "send", "total")


@require_GET
@require("manage_jobs")
def job_list(request: HttpRequest) -> HttpResponse:
    """Jobs, newest first, filtered by state, model and study."""
    form = JobFilter(request.GET or None)
    query = Job.objects.all()
    data = form.cleaned_data if request.GET and form.is_valid() else {}
    if data.get("state"):
        query = query.filter(state=data["state"])
    if data.get("model"):
        query = query.filter(model_name=data["model"])
    if data.get("study"):
        query = query.filter(study_instance_uid=data["study"])
    page = Paginator(query.defer("result", "source_paths"), PAGE_SIZE).get_page(
        data.get("page") or 1
    )
    params = request.GET.copy()
    params.pop("page", None)
    models = Job.objects.values_list("model_name", flat=True).distinct().order_by("model_name")
    return render(request, "ui/jobs.html", {
        "form": form if request.GET else JobFilter(), "page": page,
        "query_string": params.urlencode(), "models": models,
    })


@require_GET
@require("manage_jobs")
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """One job: state, stage timings, error, result summary and its routing."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise Http404("no such job")
    timings = dict(job.timings or {})
    ordered = [(s, timings.pop(s)) for s in STAGES if s in timings] + sorted(timings.items())
    return render(request, "ui/job_detail.html", {
        "job": job, "timings": ordered, "summary": services.job_summary(job),
        "can_retry": job.state in (Job.State.FAILED, Job.State.CANCELLED),
        "can_cancel": job.state in (Job.State.QUEUED, Job.State.RETRYING, Job.State.RUNNING),
    })


@require_POST
@require("manage_jobs")
def job_retry(request: HttpRequest, job_id: int) -> HttpResponse:
    """Queue a failed or cancelled job again."""
    return _act(request, job_id, services.retry_job, audit.Action.JOB_RETRIED, "queued again")


@require_POST
@require("manage_jobs")
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    """Cancel a queued, retrying or running job."""
    return _act(request, job_id, services.cancel_job, audit.Action.JOB_CANCELLED, "cancelled")


def _act(request: HttpRequest, job_id: int, action: object, event: str, done: str
         ) -> HttpResponse:
    try:
        job = action(job_id)  # type: ignore[operator]
    except services.JobNotFoundError:
        raise Http404("no such job") from None
    except services.JobStateError as exc:
        messages.error(request, f"{exc.cause}. {exc.fix}")
    else:
        audit.record(request, event, f"job {job.pk}",
                     f"{job.model_name} on study {job.study_instance_uid}")
        messages.success(request, f"Job {job.pk} {done}.")
    return HttpResponseRedirect(reverse("ui:job", args=[job_id]))
