"""The printable AI report of a study, and the radiologist's accept/reject of each result."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from hub.jobs.models import Job
from hub.storage.models import Series
from hub.storage.uids import is_valid_uid
from hub.web.ui import audit
from hub.web.ui.access import can, require
from hub.web.ui.forms import ReviewForm
from hub.web.ui.models import ResultReview
from hub.web.ui.results import study_results
from hub.web.ui.studies import study_header


def _known_study(study_uid: str) -> None:
    if not is_valid_uid(study_uid) or not (
        Series.objects.filter(study_instance_uid=study_uid).exists()
        or Job.objects.filter(study_instance_uid=study_uid).exists()
    ):
        raise Http404("no such study")


@require_GET
@require("view_studies")
def report(request: HttpRequest, study_uid: str) -> HttpResponse:
    """Findings and measurements of every AI result of the study, with review forms."""
    _known_study(study_uid)
    entries = study_results(study_uid)
    audit.record(request, audit.Action.REPORT_VIEWED, study_uid,
                 f"{len(entries)} AI result(s)")
    return render(request, "ui/report.html", {
        "study_uid": study_uid,
        "header": study_header(study_uid),
        "series": Series.objects.filter(study_instance_uid=study_uid, hub_results=False),
        "entries": entries,
        "can_review": can(request.user, "review_results"),
        "form": ReviewForm(),
    })


@require_POST
@require("review_results")
def review(request: HttpRequest, study_uid: str, job_id: int) -> HttpResponse:
    """Store an accept/reject (with comment) of one succeeded job of the study; audited."""
    job = Job.objects.filter(pk=job_id, study_instance_uid=study_uid).first()
    if job is None:
        raise Http404("no such result in this study")
    form = ReviewForm(request.POST)
    if job.state != Job.State.SUCCEEDED or not form.is_valid():
        messages.error(request, "Only a finished result can be reviewed, with accept or reject.")
        return HttpResponseRedirect(reverse("ui:report", args=[study_uid]))
    decision = form.cleaned_data["decision"]
    ResultReview.objects.create(
        job=job, study_instance_uid=study_uid, decision=decision,
        comment=form.cleaned_data["comment"], reviewer=request.user,
        reviewer_name=request.user.get_username(),
    )
    action = (audit.Action.REVIEW_ACCEPTED if decision == ResultReview.Decision.ACCEPTED
              else audit.Action.REVIEW_REJECTED)
    comment = form.cleaned_data["comment"]
    audit.record(request, action, study_uid,
                 f"job {job.pk} {job.model_name}@{job.model_version}"
                 + (f"; comment: {comment}" if comment else ""))
    messages.success(request, f"{job.model_name} result {decision}.")
    return HttpResponseRedirect(reverse("ui:report", args=[study_uid]) + f"#job-{job.pk}")
