"""The worklist page and the small JSON view its live updates read."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from hub.storage.models import Series
from hub.web.ui import audit
from hub.web.ui.access import require
from hub.web.ui.forms import WorklistFilter
from hub.web.ui.studies import StudyRow, all_modalities, attach_models
from hub.web.ui.worklist import Query, select

#: The REST API's live job changes (hub.web.api.ws); the session cookie authenticates it.
LIVE_WS_URL = "/ws/jobs"
#: How many studies one status request may ask about (a page holds 25).
MAX_STATUS_STUDIES = 100


@require_GET
@require("view_studies")
def worklist(request: HttpRequest) -> HttpResponse:
    """Studies with patient, modality, date, description and AI status; filter, sort, page."""
    form = WorklistFilter(request.GET or None, modalities=all_modalities())
    valid = form.is_valid() if request.GET else True
    query = Query.from_form(form.cleaned_data if request.GET and valid else {})
    page = select(query)
    params = request.GET.copy()
    params.pop("page", None)
    for_sort = params.copy()
    for_sort.pop("sort", None)
    audit.record(request, audit.Action.WORKLIST_VIEWED, "worklist",
                 f"page {page.number}, {page.paginator.count} studies")
    return render(request, "ui/worklist.html", {
        "form": form if request.GET else WorklistFilter(modalities=all_modalities()),
        "page": page,
        "rows": page.object_list,
        "query_string": params.urlencode(),
        "sort_prefix": "?" + (for_sort.urlencode() + "&" if for_sort else ""),
        "sort": query.sort,
        "latest": _latest_arrival(),
        "live_ws_url": LIVE_WS_URL,
        "invalid": request.GET and not valid,
    })


@require_GET
@require("view_studies")
def status(request: HttpRequest) -> JsonResponse:
    """``{"studies": {uid: {"status", "review", "html"}}, "latest": ...}`` for the given studies.

    The worklist's script asks for the studies on its page when a job changes (WebSocket
    message) or every few seconds, and swaps the AI-status cells whose HTML changed.
    """
    uids = request.GET.getlist("study")[:MAX_STATUS_STUDIES]
    rows = [StudyRow(uid, [], 0, 0, None) for uid in uids]  # type: ignore[arg-type]
    attach_models(rows)
    studies = {
        row.study_uid: {
            "status": row.status,
            "review": row.review,
            "html": render_to_string("ui/_ai_status.html", {"row": row}, request).strip(),
        }
        for row in rows
    }
    return JsonResponse({"studies": studies, "latest": _latest_arrival()})


def _latest_arrival() -> str:
    """When the newest source series was last added to (to tell "new studies arrived")."""
    newest = Series.objects.filter(hub_results=False).order_by("-last_received_at").first()
    return newest.last_received_at.isoformat() if newest else ""
