"""Does a model's manifest accept a series? Each refusal names the manifest field."""

from __future__ import annotations

from hub.errors import NotAcceptedError
from hub.sdk.manifest import ModelManifest
from hub.sdk.types import Series


def refusal(manifest: ModelManifest, series: Series) -> str | None:
    """Why ``manifest`` does not accept ``series`` (naming the field), or ``None`` if it does."""
    name = manifest.name
    if series.modality not in manifest.modalities:
        return (
            f"series Modality is {series.modality or '(empty)'!r}; model {name} accepts "
            f"modalities {list(manifest.modalities)}"
        )
    if manifest.body_parts and series.body_part:
        wanted = {part.upper() for part in manifest.body_parts}
        if series.body_part.upper() not in wanted:
            return (
                f"series BodyPartExamined is {series.body_part!r}; model {name} accepts "
                f"body_parts {list(manifest.body_parts)}"
            )
    if manifest.sop_classes and series.sop_class_uid not in manifest.sop_classes:
        return (
            f"series SOPClassUID is {series.sop_class_uid}; model {name} accepts "
            f"sop_classes {list(manifest.sop_classes)}"
        )
    count = series.volume.shape[0]
    if count < manifest.min_slices:
        return f"series has {count} slices; model {name} needs min_slices={manifest.min_slices}"
    if manifest.max_slices is not None and count > manifest.max_slices:
        return f"series has {count} slices; model {name} allows max_slices={manifest.max_slices}"
    return None


def check_acceptance(manifest: ModelManifest, series: Series) -> None:
    """Raise :class:`NotAcceptedError` when the manifest does not accept the series."""
    reason = refusal(manifest, series)
    if reason is not None:
        raise NotAcceptedError(
            reason,
            "choose a model that accepts this series ('pacs-hub plugins list' shows each "
            "model's modalities, body parts and slice range)",
        )
