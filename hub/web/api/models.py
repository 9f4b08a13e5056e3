"""``GET /api/v1/models`` and ``GET /api/v1/models/{name}``: manifests and status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from hub.web.api.schemas import FindingOut, ModelList, ModelOut
from hub.web.api.views import model_view
from hub.web.auth import Viewer
from hub.web.problems import ProblemError, problem_responses

router = APIRouter(tags=["models"])

ModelName = Annotated[
    str,
    Path(description="the model's name (slug)", examples=["ct-lung-seg"], max_length=64),
]


@router.get(
    "/models",
    summary="Installed models: manifests and status",
    responses=problem_responses(401, 403),
)
def list_models(principal: Viewer) -> ModelList:
    """Every model found at load, enabled or disabled (with the IDs of the findings that
    disabled it), and the plugin-level findings. Needs ``view_studies``."""
    from hub.plugins.manager import get_registry

    registry = get_registry()
    return ModelList(
        ok=registry.ok,
        models=[model_view(model) for model in registry.models],
        findings=[FindingOut.model_validate(f.as_json()) for f in registry.findings],
    )


def find_model(name: str) -> object:
    """The registry's model ``name``: the enabled one that would run, else any version
    (disabled); 404 problem when none has that name."""
    from hub.errors import PluginError, UnknownModelError
    from hub.plugins.manager import get_registry

    registry = get_registry()
    try:
        return registry.get(name)
    except UnknownModelError as exc:
        raise ProblemError(404, exc.cause, fix=exc.fix, model=name) from None
    except PluginError:
        return next(m for m in registry.models if m.manifest.name == name)


@router.get(
    "/models/{name}",
    summary="One model: manifest and status",
    responses=problem_responses(401, 403, 404),
)
def get_model(name: ModelName, principal: Viewer) -> ModelOut:
    """The model's manifest (modalities, tensors, coded segments and measurements) and its
    status. Needs ``view_studies``."""
    return model_view(find_model(name))
