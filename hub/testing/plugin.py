"""``assert_plugin_valid``: check a plugin the way the hub does at load, then run it.

Use it in a plugin package's tests::

    from hub.testing import assert_plugin_valid
    import my_plugin

    def test_plugin_is_valid(ct_series):
        assert_plugin_valid(my_plugin, series=ct_series)
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import numpy as np

from hub.plugins.manager import collect_models, new_plugin_manager
from hub.plugins.validation import (
    Finding,
    LoadedModel,
    manifest_finding,
    manifest_of,
    validate_model,
)
from hub.sdk import ManifestError, ModelManifest, ModelPlugin, Result, Series


def assert_plugin_valid(plugin_or_module: Any, series: Series | None = None) -> list[LoadedModel]:
    """Validate a plugin (instance, class, or module with ``hub_models``) as the registry does.

    Raises :class:`AssertionError` listing every finding (``str(finding)``, one per line) when
    any is an error. When ``series`` is given and :func:`hub.inference.run_model` is available,
    each model then runs on it and its result is checked against the manifest (label map
    shape and labels, measurement keys, finding answers). Returns the validated models.
    """
    name = _name_of(plugin_or_module)
    plugins, findings = _plugins_of(plugin_or_module, name)
    models: list[LoadedModel] = []
    for plugin in plugins:
        model = validate_model(plugin, name)
        models.append(model)
        findings.extend(model.findings)
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise AssertionError(
            f"plugin {name} has {len(errors)} error finding(s):\n"
            + "\n".join(str(f) for f in findings)
        )
    if not models:
        raise AssertionError(
            f"plugin {name} provides no models" + "".join(f"\n{f}" for f in findings)
        )
    if series is not None:
        try:
            from hub.inference import run_model
        except ImportError:
            return models
        for model in models:
            outcome = run_model(model, series)
            check_result(model.manifest, outcome.result, series)
    return models


def _name_of(obj: Any) -> str:
    if inspect.ismodule(obj):
        return obj.__name__
    cls = obj if inspect.isclass(obj) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _plugins_of(obj: Any, name: str) -> tuple[list[ModelPlugin], list[Finding]]:
    if inspect.isclass(obj) and issubclass(obj, ModelPlugin):
        try:
            obj = obj()
        except ManifestError as exc:
            return [], [manifest_finding(name, exc)]
    if isinstance(obj, ModelPlugin):
        try:
            manifest_of(obj)
        except ManifestError as exc:
            return [], [manifest_finding(name, exc)]
        return [obj], []
    return collect_models(new_plugin_manager(), obj, name)


def check_result(manifest: ModelManifest, result: Result, series: Series) -> None:
    """Assert that ``result`` is what ``manifest`` promises for ``series``."""
    problems: list[str] = []
    if not isinstance(result, Result):
        raise AssertionError(f"postprocess returned {type(result).__name__}, not hub.sdk.Result")
    if "SEG" in manifest.outputs:
        problems.extend(_labelmap_problems(manifest, result.labelmap, series))
    declared_measurements = {m.key for m in manifest.measurements}
    problems.extend(
        f"measurement '{key}' is not declared (declared: {sorted(declared_measurements)})"
        for key in result.measurements
        if key not in declared_measurements
    )
    specs = {f.key: f for f in manifest.findings}
    for key, answer in result.findings.items():
        if key not in specs:
            problems.append(f"finding '{key}' is not declared (declared: {sorted(specs)})")
        elif answer not in specs[key].values:
            problems.append(
                f"finding '{key}' answered '{answer}', declared answers are "
                f"{sorted(specs[key].values)}"
            )
    problems.extend(
        f"score '{key}' is {value}, expected a value in [0, 1] for a declared finding"
        for key, value in result.scores.items()
        if key not in specs or not 0.0 <= float(value) <= 1.0
    )
    if problems:
        raise AssertionError(
            f"result of {manifest.key} does not match its manifest:\n" + "\n".join(problems)
        )


def _labelmap_problems(
    manifest: ModelManifest, labelmap: np.ndarray | None, series: Series
) -> Iterable[str]:
    if labelmap is None:
        yield "the manifest outputs SEG but the result has no labelmap"
        return
    if tuple(labelmap.shape) != tuple(series.volume.shape):
        yield f"labelmap shape {tuple(labelmap.shape)} != volume shape {series.volume.shape}"
    declared = {s.label for s in manifest.segments} | {0}
    extra = sorted(set(np.unique(labelmap).tolist()) - declared)
    if extra:
        yield f"labelmap has labels {extra} not declared as segments ({sorted(declared - {0})})"
