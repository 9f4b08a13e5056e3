"""The study viewer page (``/dicom-viewer/<study>/``): the Cornerstone3D bundle's host page.

The page itself holds no image data: the bundle (``frontend/``, built by ``make frontend`` into
``hub/web/ui/static/ui/viewer/``) reads the study through the hub's DICOMweb endpoints with the
session cookie, and falls back to server-rendered PNG frames (``/api/v1/viewer/frames/...``)
where the browser has no WebGL or the URL says ``?fallback=1``. Opening it is audited.
"""

from __future__ import annotations

import logging

from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from hub.jobs.models import Job
from hub.storage.models import Series
from hub.storage.uids import is_valid_uid
from hub.web.ui import audit
from hub.web.ui.access import require
from hub.web.ui.studies import study_header

log = logging.getLogger(__name__)

#: Where the bundle's entry lies among the static files (vite's fixed entry name).
BUNDLE_ENTRY = "ui/viewer/viewer.js"
#: The endpoints the bundle reads from (same origin as the page).
DICOMWEB_ROOT = "/dicomweb"
FRAMES_URL = "/api/v1/viewer/frames"


def bundle_built() -> bool:
    """Whether ``make frontend`` has built the viewer bundle into the static files."""
    return finders.find(BUNDLE_ENTRY) is not None


def _known_study(study_uid: str) -> None:
    if not is_valid_uid(study_uid) or not (
        Series.objects.filter(study_instance_uid=study_uid).exists()
        or Job.objects.filter(study_instance_uid=study_uid).exists()
    ):
        raise Http404("no such study")


@require_GET
@require("view_studies")
def viewer(request: HttpRequest, study_uid: str) -> HttpResponse:
    """The viewer page of one study (login and ``view_studies``; 404 for an unknown study)."""
    _known_study(study_uid)
    built = bundle_built()
    series = request.GET.get("series", "")
    if not built:
        log.warning("viewer bundle missing (%s): run 'make frontend'", BUNDLE_ENTRY)
    audit.record(request, audit.Action.VIEWER_OPENED, study_uid, "opened in the viewer")
    return render(
        request,
        "ui/viewer.html",
        {
            "study_uid": study_uid,
            "header": study_header(study_uid),
            "bundle_built": built,
            "dicomweb_root": DICOMWEB_ROOT,
            "frames_url": FRAMES_URL,
            "report_url": reverse("ui:report", args=[study_uid]),
            "series_uid": series if is_valid_uid(series) else "",
        },
    )
