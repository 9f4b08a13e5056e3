"""WADO-RS rendered resources (PS3.18 10.4.1.1.3-4): ``/rendered`` and ``/thumbnail``.

Query parameters of the rendered resources (PS3.18 8.3.5.1): ``window=center,width[,function]``
(LINEAR, LINEAR_EXACT or SIGMOID), ``viewport=width,height`` (fit into that box) and
``quality`` (JPEG, 1-100). Without ``window`` the file's own window applies, else the frame's
value range. ``image/jpeg`` (default) or ``image/png``. Thumbnails are 128 x 128 at most;
a study's or series' thumbnail shows the middle instance of its first image series.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from hub.web.auth import Viewer
from hub.web.dicomweb.accept import NotAcceptableError, plan_rendered
from hub.web.dicomweb.catalog import InstanceEntry
from hub.web.dicomweb.common import not_acceptable, not_found, stored_image
from hub.web.dicomweb.frames import FrameError, frame_count
from hub.web.dicomweb.stored import UnreadableFileError, absolute_path, read_header
from hub.web.dicomweb.wado import instances_of, one_instance
from hub.web.problems import ProblemError, problem_responses
from hub.web.render import Window, render_frame

router = APIRouter(tags=["DICOMweb"])
StudyUID = Annotated[str, Path(description="StudyInstanceUID")]
SeriesUID = Annotated[str, Path(description="SeriesInstanceUID")]
InstanceUID = Annotated[str, Path(description="SOPInstanceUID")]
WindowParam = Annotated[str | None, Query(
    description="center,width[,function] in modality units", examples=["-600,1500"])]
ViewportParam = Annotated[str | None, Query(description="width,height of the box to fit")]
QualityParam = Annotated[int, Query(ge=1, le=100, description="JPEG quality")]
THUMBNAIL = (128, 128)
_IMAGE_DOC = {
    200: {"description": "The rendered image",
          "content": {"image/jpeg": {}, "image/png": {}}},
    **problem_responses(400, 401, 403, 404, 406),
}


def parse_window(text: str | None) -> Window | None:
    """A :class:`Window` from ``center,width[,function]``; 400 problem when malformed."""
    if not text:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        center, width = float(parts[0]), float(parts[1])
    except (ValueError, IndexError):
        raise ProblemError(400, f"window {text!r} must be center,width[,function]",
                           field="window") from None
    function = parts[2].upper() if len(parts) > 2 and parts[2] else "LINEAR"
    finite = math.isfinite(center) and math.isfinite(width)
    if not finite or width <= 0 or function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        raise ProblemError(400, f"window {text!r}: center and width must be finite, width > 0 "
                           "and the function LINEAR, LINEAR_EXACT or SIGMOID", field="window")
    return Window(center, width, function)


def _viewport(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        width, height = (int(float(p)) for p in text.split(",")[:2])
    except (ValueError, OverflowError):
        raise ProblemError(400, f"viewport {text!r} must be width,height",
                           field="viewport") from None
    if not (1 <= width <= 4096 and 1 <= height <= 4096):
        raise ProblemError(400, "viewport sizes must be between 1 and 4096", field="viewport")
    return width, height


def render_entry(
    request: Request, entry: InstanceEntry, number: int, window: Window | None,
    size: tuple[int, int] | None, quality: int,
) -> Response:
    """Frame ``number`` of ``entry`` rendered as the Accept header asks."""
    try:
        fmt = plan_rendered(request.headers.get("accept"))
    except NotAcceptableError as exc:
        raise not_acceptable(exc) from None
    path, header, total = stored_image(entry.path, entry.sop_instance_uid)
    if not 1 <= number <= total:
        raise not_found(f"frame {number} of instance {entry.sop_instance_uid} (it has {total})")
    try:
        body = render_frame(path, header, number, fmt, window=window, size=size,
                            quality=quality)  # type: ignore[arg-type]
    except FrameError as exc:
        raise ProblemError(500, str(exc)) from None
    return Response(body, media_type=fmt)


def _first_frame(text: str) -> int:
    try:
        return int(text.split(",")[0])
    except ValueError:
        raise ProblemError(400, f"frame list {text!r} must be whole numbers") from None


def _middle_image(entries: list[InstanceEntry]) -> InstanceEntry:
    by_series: dict[str, list[InstanceEntry]] = {}
    for entry in entries:
        by_series.setdefault(entry.series_instance_uid, []).append(entry)
    ordered = sorted(by_series.values(), key=lambda group: group[0].source == "result")
    for group in ordered:
        entry = group[len(group) // 2]
        try:
            if frame_count(read_header(absolute_path(entry.path))):
                return entry
        except UnreadableFileError:
            continue
    raise not_found("an image to make a thumbnail of")


@router.get("/studies/{study}/series/{series}/instances/{instance}/rendered",
            summary="WADO-RS: rendered instance (first frame)", responses=_IMAGE_DOC)
def rendered_instance(request: Request, principal: Viewer, study: StudyUID, series: SeriesUID,
                      instance: InstanceUID, window: WindowParam = None,
                      viewport: ViewportParam = None, quality: QualityParam = 90) -> Response:
    """The instance's first frame as a consumer image."""
    entry = one_instance(study, series, instance)
    return render_entry(request, entry, 1, parse_window(window), _viewport(viewport), quality)


@router.get("/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/rendered",
            summary="WADO-RS: rendered frame", responses=_IMAGE_DOC)
def rendered_frame(request: Request, principal: Viewer, study: StudyUID, series: SeriesUID,
                   instance: InstanceUID, frames: str, window: WindowParam = None,
                   viewport: ViewportParam = None, quality: QualityParam = 90) -> Response:
    """One frame as a consumer image (the first of a frame list)."""
    entry = one_instance(study, series, instance)
    return render_entry(request, entry, _first_frame(frames), parse_window(window),
                        _viewport(viewport), quality)


@router.get("/studies/{study}/thumbnail", summary="WADO-RS: study thumbnail",
            responses=_IMAGE_DOC)
def study_thumbnail(request: Request, principal: Viewer, study: StudyUID,
                    viewport: ViewportParam = None) -> Response:
    """A small image of the study's first image series (its middle instance)."""
    entry = _middle_image(instances_of(study))
    return render_entry(request, entry, 1, None, _viewport(viewport) or THUMBNAIL, 80)


@router.get("/studies/{study}/series/{series}/thumbnail", summary="WADO-RS: series thumbnail",
            responses=_IMAGE_DOC)
def series_thumbnail(request: Request, principal: Viewer, study: StudyUID, series: SeriesUID,
                     viewport: ViewportParam = None) -> Response:
    """A small image of the series' middle instance."""
    entry = _middle_image(instances_of(study, series))
    return render_entry(request, entry, 1, None, _viewport(viewport) or THUMBNAIL, 80)


@router.get("/studies/{study}/series/{series}/instances/{instance}/thumbnail",
            summary="WADO-RS: instance thumbnail", responses=_IMAGE_DOC)
def instance_thumbnail(request: Request, principal: Viewer, study: StudyUID, series: SeriesUID,
                       instance: InstanceUID, viewport: ViewportParam = None) -> Response:
    """A small image of the instance's first frame."""
    entry = one_instance(study, series, instance)
    return render_entry(request, entry, 1, None, _viewport(viewport) or THUMBNAIL, 80)


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/thumbnail",
    summary="WADO-RS: frame thumbnail", responses=_IMAGE_DOC)
def frame_thumbnail(request: Request, principal: Viewer, study: StudyUID, series: SeriesUID,
                    instance: InstanceUID, frames: str,
                    viewport: ViewportParam = None) -> Response:
    """A small image of one frame."""
    entry = one_instance(study, series, instance)
    return render_entry(request, entry, _first_frame(frames), None,
                        _viewport(viewport) or THUMBNAIL, 80)
