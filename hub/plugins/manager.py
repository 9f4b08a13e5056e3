"""Plugin discovery and the process-wide model registry.

Load order: built-ins (:data:`BUILTIN_PLUGINS`), then entry points in group ``pacs_hub``
(sorted by name, each imported on its own), then ``settings.plugin_paths`` (dotted module
names or ``.py`` files). Each plugin module is registered with a pluggy ``PluginManager`` and
each ``hub_models`` implementation is called on its own, so one that raises disables only its
own models. Every model is validated (:func:`hub.plugins.validation.validate_model`); nothing
raises out of :func:`load_registry`: problems become findings (see
:mod:`hub.plugins.validation` for the IDs).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pluggy

from hub.errors import ManifestError
from hub.plugins import hookspecs
from hub.plugins.registry import Registry
from hub.plugins.validation import (
    Finding,
    LoadedModel,
    Source,
    loaded_model,
    make_finding,
    manifest_finding,
    manifest_of,
    validate_model,
)
from hub.sdk import ModelPlugin
from hub.sdk.plugin import PROJECT_NAME
from hub.settings import Settings, get_settings

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "Finding",
    "LoadedModel",
    "Registry",
    "collect_models",
    "get_registry",
    "load_registry",
    "new_plugin_manager",
    "reset_registry",
    "validate_model",
]

logger = logging.getLogger(__name__)

#: Entry-point group plugin packages declare (``[project.entry-points.pacs_hub]``).
ENTRY_POINT_GROUP = PROJECT_NAME

#: Dotted names of plugin modules shipped with the hub, loaded first.
BUILTIN_PLUGINS: tuple[str, ...] = ()


@dataclass
class _Candidate:
    """A plugin to load: its name, how to import it and where it comes from."""

    name: str
    source: Source
    load: object  # callable returning the module (or namespace) to register
    distribution: str | None = None


def new_plugin_manager() -> pluggy.PluginManager:
    """A pluggy manager that knows the hub's hook specs."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def collect_models(
    pm: pluggy.PluginManager, module: object, plugin_name: str
) -> tuple[list[ModelPlugin], list[Finding]]:
    """Register ``module`` and call each of its ``hub_models`` implementations on its own.

    Returns the plugin instances (classes are instantiated) and plugin-level findings (E002,
    E009, W002). Never raises.
    """
    findings: list[Finding] = []
    try:
        pm.register(module, name=plugin_name)
    except Exception as exc:  # pluggy.PluginValidationError, ValueError (already registered)
        message = f"cannot register plugin: {type(exc).__name__}: {exc}"
        return [], [make_finding("plugins.E002", plugin_name, None, message)]
    impls = [i for i in pm.hook.hub_models.get_hookimpls() if i.plugin is module]
    if not impls:
        message = "the plugin module implements no hub_models hook"
        return [], [make_finding("plugins.W002", plugin_name, None, message)]
    plugins: list[ModelPlugin] = []
    for impl in impls:
        try:
            returned = impl.function(**{arg: None for arg in impl.argnames})
        except ManifestError as exc:
            findings.append(manifest_finding(plugin_name, exc))
            continue
        except Exception as exc:
            message = f"hub_models raised {type(exc).__name__}: {exc}"
            findings.append(make_finding("plugins.E002", plugin_name, None, message))
            continue
        items = [returned] if _is_plugin_like(returned) else returned
        try:
            items = list(items)
        except TypeError:
            message = f"hub_models returned {type(returned).__name__}, not a sequence"
            findings.append(make_finding("plugins.E002", plugin_name, None, message))
            continue
        for item in items:
            plugin, finding = _instantiate(item, plugin_name)
            if finding is not None:
                findings.append(finding)
            if plugin is not None:
                plugins.append(plugin)
    return plugins, findings


def _is_plugin_like(value: object) -> bool:
    return isinstance(value, ModelPlugin) or (
        inspect.isclass(value) and issubclass(value, ModelPlugin)
    )


def _instantiate(item: object, plugin_name: str) -> tuple[ModelPlugin | None, Finding | None]:
    if inspect.isclass(item) and issubclass(item, ModelPlugin):
        try:
            item = item()
        except ManifestError as exc:
            return None, manifest_finding(plugin_name, exc)
        except Exception as exc:
            message = f"constructing {item.__name__}() raised {type(exc).__name__}: {exc}"
            return None, make_finding("plugins.E002", plugin_name, None, message)
    if not isinstance(item, ModelPlugin):
        message = f"hub_models returned {item!r}, which is not a hub.sdk.ModelPlugin"
        return None, make_finding("plugins.E002", plugin_name, None, message)
    try:
        manifest_of(item)
    except ManifestError as exc:
        return None, manifest_finding(plugin_name, exc)
    return item, None


def _discover(settings: Settings) -> Iterator[_Candidate]:
    for dotted in BUILTIN_PLUGINS:
        yield _Candidate(dotted, "builtin", _importer(dotted))
    try:
        entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # a broken distribution's metadata must not stop the hub
        logger.exception("cannot read entry points of group %s", ENTRY_POINT_GROUP)
        entry_points = ()
    for ep in sorted(entry_points, key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        distribution = f"{dist.name}=={dist.version}" if dist is not None else None
        yield _Candidate(ep.name, "entry-point", ep.load, distribution)
    for entry in settings.plugin_paths:
        yield _Candidate(entry, "path", _importer(entry))


def _importer(entry: str) -> object:
    def load() -> ModuleType:
        if entry.endswith(".py") or "/" in entry or "\\" in entry:
            return _import_file(Path(entry))
        return importlib.import_module(entry)

    return load


def _import_file(path: Path) -> ModuleType:
    path = path.expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"plugin file {path} does not exist")
    name = f"pacs_hub_path_plugin_{path.stem}_{abs(hash(str(path))):x}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # inspect.getfile() and dataclasses need it there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_registry(settings: Settings | None = None) -> Registry:
    """Discover, load and validate every plugin; never raises for a broken plugin."""
    settings = settings or get_settings()
    disabled = set(settings.disabled_plugins)
    registry = Registry()
    pm = new_plugin_manager()
    seen: dict[str, LoadedModel] = {}
    for candidate in _discover(settings):
        if candidate.name in disabled:
            registry.findings.append(
                make_finding(
                    "plugins.W001",
                    candidate.name,
                    None,
                    f"plugin '{candidate.name}' is disabled by settings and was not loaded",
                )
            )
            continue
        for model in _load_candidate(pm, candidate, registry, disabled):
            _check_duplicate(model, seen)
            registry.models.append(model)
            registry.findings.extend(model.findings)
    # Findings are logged at INFO: the commands that care (plugins list/check, up) show them,
    # and a broken plugin must not add noise to every other command's output.
    for finding in registry.findings:
        logger.info("%s", finding)
    return registry


def _load_candidate(
    pm: pluggy.PluginManager, candidate: _Candidate, registry: Registry, disabled: set[str]
) -> list[LoadedModel]:
    name = candidate.name
    try:
        module = candidate.load()  # type: ignore[operator]
    except ManifestError as exc:
        registry.findings.append(manifest_finding(name, exc))
        return []
    except BaseException as exc:  # SystemExit in a plugin must not stop the hub either
        if isinstance(exc, KeyboardInterrupt):
            raise
        message = f"cannot import plugin module: {type(exc).__name__}: {exc}"
        registry.findings.append(make_finding("plugins.E001", name, None, message))
        return []
    plugins, findings = collect_models(pm, module, name)
    registry.findings.extend(findings)
    models: list[LoadedModel] = []
    for plugin in plugins:
        manifest = manifest_of(plugin)
        if manifest.name in disabled or manifest.key in disabled:
            model = loaded_model(
                plugin, name, source=candidate.source, distribution=candidate.distribution
            )
            model.enabled = False
            model.findings.append(
                make_finding(
                    "plugins.W001",
                    name,
                    manifest.key,
                    f"model '{manifest.name}' is disabled by settings",
                )
            )
        else:
            try:
                model = validate_model(
                    plugin, name, source=candidate.source, distribution=candidate.distribution
                )
            except Exception as exc:  # a bug in validation must not stop the hub
                logger.exception("validating %s from %s failed", manifest.key, name)
                message = f"validation failed: {type(exc).__name__}: {exc}"
                registry.findings.append(make_finding("plugins.E008", name, manifest.key, message))
                continue
        models.append(model)
    return models


def _check_duplicate(model: LoadedModel, seen: dict[str, LoadedModel]) -> None:
    first = seen.get(model.key)
    if first is None:
        seen[model.key] = model
        return
    model.disable(
        make_finding(
            "plugins.E010",
            model.plugin_name,
            model.key,
            f"model {model.key} from plugin '{model.plugin_name}' duplicates the one from "
            f"plugin '{first.plugin_name}'; the later one is disabled",
        )
    )


_REGISTRY: list[Registry] = []


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use with :func:`hub.settings.get_settings`."""
    if not _REGISTRY:
        _REGISTRY.append(load_registry())
    return _REGISTRY[0]


def reset_registry() -> None:
    """Forget the cached registry (tests; after changing settings)."""
    _REGISTRY.clear()
