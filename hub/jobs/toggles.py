"""Model enable/disable switches set by an administrator on the plugins page.

The state lives in :class:`hub.jobs.models.ModelToggle` (this layer, so job submission and
routing can honour it without importing the web layer). A model whose plugin failed validation
is disabled by the registry itself; this switch is the operator's own, on top of that.
"""

from __future__ import annotations

import logging

from hub.errors import PluginError
from hub.jobs.models import ModelToggle

logger = logging.getLogger(__name__)


class ModelDisabledError(PluginError):
    """The model is installed and valid but an administrator switched it off."""

    exit_code = 4


def is_disabled(model_name: str) -> bool:
    """True when an administrator has disabled ``model_name``."""
    return ModelToggle.objects.filter(model_name=model_name, enabled=False).exists()


def disabled_models() -> dict[str, ModelToggle]:
    """Every switched-off model name and its toggle row."""
    return {t.model_name: t for t in ModelToggle.objects.filter(enabled=False)}


def describe(toggle: ModelToggle) -> str:
    """``disabled by NAME (reason)``: who switched a model off and why."""
    why = f" ({toggle.reason})" if toggle.reason else ""
    by = f" by {toggle.changed_by}" if toggle.changed_by else ""
    return f"disabled{by}{why}"


def refuse_if_disabled(model_name: str) -> None:
    """Raise :class:`ModelDisabledError` when ``model_name`` is switched off."""
    toggle = ModelToggle.objects.filter(model_name=model_name, enabled=False).first()
    if toggle is None:
        return
    raise ModelDisabledError(
        f"model '{model_name}' is {describe(toggle)}",
        "an ML engineer or admin can enable it on the /plugins/ page",
    )


def set_enabled(model_name: str, enabled: bool, *, changed_by: str = "", reason: str = ""
                ) -> ModelToggle:
    """Switch ``model_name`` on or off; returns the stored toggle."""
    toggle, _ = ModelToggle.objects.update_or_create(
        model_name=model_name,
        defaults={"enabled": enabled, "changed_by": changed_by[:150], "reason": reason[:200]},
    )
    logger.info("model %s %s by %s", model_name, "enabled" if enabled else "disabled",
                changed_by or "(unknown)")
    return toggle


def switched_off() -> dict[str, str]:
    """Switched-off model names and who switched them off and why (:func:`describe`); empty
    when the table cannot be read (a rule test on a machine not migrated yet)."""
    from django.db import DatabaseError

    try:
        return {name: describe(toggle) for name, toggle in disabled_models().items()}
    except DatabaseError:
        return {}
