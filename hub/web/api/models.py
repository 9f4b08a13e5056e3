"""Models: ``GET /models``, ``GET /models/{name}`` (manifests and status) and the operator's
switch ``POST /models/{name}/disable`` / ``enable`` (``manage_plugins``; a radiologist may
not). A switched-off model is refused by job submission (routing skips it, infer answers 409);
the switch is :mod:`hub.jobs.toggles`, the same one the web app's plugins page sets."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from hub.web.api.schemas import FindingOut, ModelList, ModelOut, ToggleRequest
from hub.web.api.views import model_view
from hub.web.auth import Principal, Viewer, refresh_db_connection, require
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
    toggles = model_toggles()
    return ModelList(
        ok=registry.ok,
        models=[model_view(model, toggles.get(model.manifest.name)) for model in registry.models],
        findings=[FindingOut.model_validate(f.as_json()) for f in registry.findings],
    )


def model_toggles() -> dict[str, Any]:
    """Every operator switch, by model name (sync)."""
    from hub.jobs.models import ModelToggle

    refresh_db_connection()
    return {toggle.model_name: toggle for toggle in ModelToggle.objects.all()}


def find_model(name: str) -> Any:
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
    model = find_model(name)
    return model_view(model, model_toggles().get(model.manifest.name))


def switch(name: str, enabled: bool, body: ToggleRequest | None, principal: Principal
           ) -> ModelOut:
    from hub.jobs.toggles import set_enabled

    model = find_model(name)
    toggle = set_enabled(model.manifest.name, enabled, changed_by=principal.username,
                         reason=body.reason if body else "")
    return model_view(model, toggle)


@router.post(
    "/models/{name}/disable",
    summary="Switch a model off (jobs for it are refused)",
    responses=problem_responses(401, 403, 404, 422),
)
def disable(name: ModelName, principal: Annotated[Principal, require("manage_plugins")],
            body: ToggleRequest | None = None) -> ModelOut:
    """Needs ``manage_plugins`` (ML engineer, admin). Infer answers 409 and routing skips the
    model until it is enabled again; jobs already queued still run."""
    return switch(name, False, body, principal)


@router.post(
    "/models/{name}/enable",
    summary="Switch a model on again",
    responses=problem_responses(401, 403, 404, 422),
)
def enable(name: ModelName, principal: Annotated[Principal, require("manage_plugins")],
           body: ToggleRequest | None = None) -> ModelOut:
    """Needs ``manage_plugins``. A model disabled by validation stays disabled (its
    ``finding_ids`` say why)."""
    return switch(name, True, body, principal)
