"""``GET /api/v1/viewer/frames/{sop_instance_uid}/{frame}``: a frame rendered with an overlay.

The server-rendered path of the viewer (where WebGL is missing) and of quick previews:
``window_center``/``window_width`` in modality units (default: the file's window, else the
frame's value range), ``format`` png (default) or jpeg, ``overlay`` the SOP Instance UID of a
SEG, or ``auto`` for the newest SEG of the study that references the image's series, drawn
at ``opacity``, each segment in its own colour. The answer names the SEG drawn in
``X-Overlay-SOPInstanceUID`` (empty when none applies).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from hub.web.auth import Viewer
from hub.web.dicomweb import catalog
from hub.web.dicomweb.common import check_uids, not_found, stored_image
from hub.web.dicomweb.frames import FrameError
from hub.web.dicomweb.stored import UnreadableFileError, absolute_path
from hub.web.problems import ProblemError, problem_responses
from hub.web.render import Window, render_frame
from hub.web.viewer.overlay import SEG_CLASSES, Overlay, load_overlay, masks_for

router = APIRouter(prefix="/viewer", tags=["viewer"])


def auto_overlay(entry: catalog.InstanceEntry) -> tuple[str, Overlay] | None:
    """The newest SEG of the image's study that references its series (or the image)."""
    candidates = catalog.find_instances([entry.study_instance_uid], [], None, list(SEG_CLASSES))
    for seg in reversed(candidates):
        try:
            overlay = load_overlay(absolute_path(seg.path))
        except (UnreadableFileError, OSError):
            continue
        if entry.series_instance_uid in overlay.referenced_series or any(
            uid == entry.sop_instance_uid for uid, _ in overlay.by_reference
        ):
            return seg.sop_instance_uid, overlay
    return None


def chosen_overlay(entry: catalog.InstanceEntry, overlay: str) -> tuple[str, Overlay] | None:
    """The overlay the ``overlay`` parameter names (404/422 problems when it cannot be)."""
    if overlay.lower() == "auto":
        return auto_overlay(entry)
    check_uids(overlay=overlay)
    seg = catalog.instance_by_uid(overlay)
    if seg is None:
        raise not_found(f"segmentation {overlay}")
    if seg.sop_class_uid not in SEG_CLASSES:
        raise ProblemError(422, f"instance {overlay} is not a segmentation (SOP Class "
                           f"{seg.sop_class_uid})", field="overlay")
    try:
        return seg.sop_instance_uid, load_overlay(absolute_path(seg.path))
    except (UnreadableFileError, OSError) as exc:
        raise ProblemError(500, f"the segmentation cannot be read: {exc}") from None


@router.get(
    "/frames/{sop_instance_uid}/{frame}",
    summary="Viewer: a frame rendered with window/level and an optional SEG overlay",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}},
                     "description": "The rendered frame"},
               **problem_responses(400, 401, 403, 404, 422)},
)
def viewer_frame(
    principal: Viewer,
    sop_instance_uid: Annotated[str, Path(description="SOPInstanceUID of the image")],
    frame: Annotated[int, Path(ge=1, le=100000, description="frame number, from 1")],
    window_center: Annotated[float | None, Query(
        allow_inf_nan=False, description="window center (modality units)")] = None,
    window_width: Annotated[float | None, Query(
        gt=0, allow_inf_nan=False, description="window width (modality units)")] = None,
    format: Annotated[Literal["png", "jpeg"], Query(description="image format")] = "png",
    overlay: Annotated[str | None, Query(
        description="SOP Instance UID of a SEG, or 'auto'", max_length=64)] = None,
    opacity: Annotated[float, Query(
        ge=0, le=1, allow_inf_nan=False, description="overlay opacity")] = 0.5,
) -> Response:
    """Frame ``frame`` of the image rendered as PNG or JPEG (see the module docstring)."""
    check_uids(SOPInstanceUID=sop_instance_uid)
    if (window_center is None) != (window_width is None):
        missing = "window_width" if window_width is None else "window_center"
        raise ProblemError(422, "window_center and window_width go together", field=missing)
    entry = catalog.instance_by_uid(sop_instance_uid)
    if entry is None:
        raise not_found(f"instance {sop_instance_uid}")
    path, header, total = stored_image(entry.path, sop_instance_uid)
    if frame > total:
        raise not_found(f"frame {frame} of instance {sop_instance_uid} (it has {total})")
    drawn = chosen_overlay(entry, overlay) if overlay else None
    masks = masks_for(drawn[1], sop_instance_uid, frame, header) if drawn else []
    window = (
        Window(window_center, window_width)
        if window_center is not None and window_width is not None
        else None
    )
    media = "image/png" if format == "png" else "image/jpeg"
    try:
        body = render_frame(path, header, frame, media, window=window, masks=masks,
                            opacity=opacity)  # type: ignore[arg-type]
    except FrameError as exc:
        raise ProblemError(500, str(exc)) from None
    return Response(body, media_type=media, headers={
        "Cache-Control": "private, no-cache",
        "X-Overlay-SOPInstanceUID": drawn[0] if drawn else "",
        "X-Overlay-Segments": str(len(masks)),
    })
