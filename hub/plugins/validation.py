"""Load-time validation of one model plugin: findings with stable IDs and hints.

The registry (:mod:`hub.plugins.manager`) and :func:`hub.testing.assert_plugin_valid` share
:func:`validate_model`, so a plugin author's test sees exactly what ``pacs-hub plugins check``
reports. Validation is cheap: the ONNX graph is read with ``onnx.load`` (no external data, no
InferenceSession) and the model file is hashed in chunks.

Finding IDs (see :data:`FINDINGS` for the default hints):

========  ===============================================================
E001      plugin module fails to import
E002      ``hub_models`` raised, or returned something not a ModelPlugin
E003      input dtype differs between manifest and graph
E004      declared input is not a graph input
E005      input rank or fixed dimension differs between manifest and graph
E006      ONNX file missing
E007      ONNX file sha256 differs from the manifest
E008      ONNX file corrupt or rejected by ``onnx.checker``
E009      invalid manifest (ManifestError, or a plugin without a manifest)
E010      duplicate model name+version (the later one is disabled)
E011      graph has a required input the manifest does not declare
W001      plugin or model disabled by ``disabled_plugins``
W002      plugin module implements no ``hub_models`` hook
========  ===============================================================
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hub.errors import ManifestError
from hub.sdk import ModelManifest, ModelPlugin, TensorSpec, sha256_of

logger = logging.getLogger(__name__)

Severity = Literal["error", "warning"]
Source = Literal["builtin", "entry-point", "path"]

#: Default hint of each finding ID.
FINDINGS: dict[str, str] = {
    "plugins.E001": "reinstall the plugin / fix the import",
    "plugins.E002": "make hub_models() return a sequence of hub.sdk.ModelPlugin instances",
    "plugins.E003": "export the model with the manifest's dtype or change the manifest's dtype",
    "plugins.E004": "use one of the graph's input names in the manifest",
    "plugins.E005": "make the manifest's input shape match the graph (None for dynamic axes)",
    "plugins.E006": "ship the ONNX file in the plugin package (package data) or fix model_file",
    "plugins.E007": "update the manifest's sha256 (hub.sdk.sha256_of) or reinstall the plugin",
    "plugins.E008": "re-export the ONNX model; the file cannot be loaded",
    "plugins.E009": "fix the manifest field named in the message",
    "plugins.E010": "give one of the models a different name or version, or disable a plugin",
    "plugins.E011": "declare every required graph input in the manifest's inputs",
    "plugins.W001": "remove it from disabled_plugins (PACS_HUB_DISABLED_PLUGINS) to enable it",
    "plugins.W002": "decorate the module's hub_models function with @hub.sdk.hookimpl",
}


@dataclass(frozen=True)
class Finding:
    """One validation result, with a stable ID (``plugins.E003``) and a hint for the fix."""

    id: str
    severity: Severity
    plugin: str
    model: str | None
    message: str
    hint: str

    def __str__(self) -> str:
        where = self.plugin if self.model is None else f"{self.plugin}/{self.model}"
        return f"{self.id} [{where}] {self.message} (hint: {self.hint})"

    def as_json(self) -> dict[str, object]:
        """The finding as a JSON-able dict."""
        return {
            "id": self.id,
            "severity": self.severity,
            "plugin": self.plugin,
            "model": self.model,
            "message": self.message,
            "hint": self.hint,
        }


def make_finding(
    finding_id: str, plugin: str, model: str | None, message: str, hint: str | None = None
) -> Finding:
    """Build a finding; severity follows the ID (``E`` error, ``W`` warning)."""
    severity: Severity = "error" if finding_id.split(".")[-1].startswith("E") else "warning"
    return Finding(finding_id, severity, plugin, model, message, hint or FINDINGS[finding_id])


def manifest_finding(plugin: str, error: ManifestError, model: str | None = None) -> Finding:
    """E009 for a :class:`ManifestError`, naming field, value and expectation."""
    return make_finding(
        "plugins.E009",
        plugin,
        model,
        f"invalid manifest: field '{error.field}' has value {error.value!r}, "
        f"expected {error.expected}",
        f"change '{error.field}' in the plugin's manifest to {error.expected}",
    )


@dataclass
class LoadedModel:
    """A model the registry knows: the plugin instance, where it came from and its findings."""

    plugin_name: str
    plugin: ModelPlugin
    manifest: ModelManifest
    model_path: Path
    enabled: bool = True
    findings: list[Finding] = field(default_factory=list)
    source: Source = "entry-point"
    distribution: str | None = None

    @property
    def key(self) -> str:
        """``name@version`` of the model."""
        return self.manifest.key

    def disable(self, finding: Finding) -> None:
        """Record ``finding`` and disable the model when it is an error."""
        self.findings.append(finding)
        if finding.severity == "error":
            self.enabled = False


def resolve_model_path(plugin: ModelPlugin, manifest: ModelManifest) -> Path:
    """The manifest's model file: absolute as given, else relative to the plugin's module."""
    path = Path(manifest.model_file).expanduser()
    if path.is_absolute():
        return path
    try:
        base = Path(inspect.getfile(type(plugin))).resolve().parent
    except (TypeError, OSError):
        base = Path.cwd()
    return (base / path).resolve()


def loaded_model(
    plugin: ModelPlugin,
    plugin_name: str,
    *,
    source: Source = "path",
    distribution: str | None = None,
) -> LoadedModel:
    """A :class:`LoadedModel` for ``plugin``, not yet validated (enabled, no findings)."""
    manifest = manifest_of(plugin)
    return LoadedModel(
        plugin_name=plugin_name,
        plugin=plugin,
        manifest=manifest,
        model_path=resolve_model_path(plugin, manifest),
        source=source,
        distribution=distribution,
    )


def validate_model(
    plugin: ModelPlugin,
    plugin_name: str,
    *,
    source: Source = "path",
    distribution: str | None = None,
) -> LoadedModel:
    """Check one plugin instance; the returned model is disabled when any error was found.

    Raises :class:`ValueError` only when ``plugin`` has no valid manifest (the caller reports
    that as E009, see :func:`manifest_of`).
    """
    loaded = loaded_model(plugin, plugin_name, source=source, distribution=distribution)
    for finding in check_model_file(loaded):
        loaded.disable(finding)
    return loaded


def manifest_of(plugin: object) -> ModelManifest:
    """The plugin's manifest; raises ManifestError when it has none."""
    manifest = getattr(plugin, "manifest", None)
    if not isinstance(manifest, ModelManifest):
        raise ManifestError(
            "manifest", manifest, f"a hub.sdk.ModelManifest on {type(plugin).__name__}"
        )
    return manifest


def check_model_file(loaded: LoadedModel) -> list[Finding]:
    """E006/E007 for the file, then E008 and the graph checks (E003/E004/E005/E011)."""
    name, key, path = loaded.plugin_name, loaded.key, loaded.model_path
    if not path.is_file():
        return [make_finding("plugins.E006", name, key, f"ONNX file {path} does not exist")]
    findings: list[Finding] = []
    actual = sha256_of(str(path))
    if actual != loaded.manifest.sha256:
        findings.append(
            make_finding(
                "plugins.E007",
                name,
                key,
                f"ONNX file {path} has sha256 {actual}, manifest says {loaded.manifest.sha256}",
            )
        )
    findings.extend(check_graph(loaded))
    return findings


def check_graph(loaded: LoadedModel) -> list[Finding]:
    """Compare the manifest's inputs with the ONNX graph's inputs."""
    import onnx

    name, key, path = loaded.plugin_name, loaded.key, loaded.model_path
    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, OSError, ...
        message = f"ONNX file {path} cannot be loaded: {type(exc).__name__}: {exc}"
        return [make_finding("plugins.E008", name, key, message.strip()[:500])]
    initializers = {init.name for init in model.graph.initializer}
    graph_inputs = {i.name: i for i in model.graph.input if i.name not in initializers}
    findings: list[Finding] = []
    declared = {spec.name for spec in loaded.manifest.inputs}
    for spec in loaded.manifest.inputs:
        value_info = graph_inputs.get(spec.name)
        if value_info is None:
            findings.append(
                make_finding(
                    "plugins.E004",
                    name,
                    key,
                    f"input '{spec.name}' is not an input of the graph",
                    f"the graph's inputs are {sorted(graph_inputs)}; "
                    "use one of them in the manifest",
                )
            )
            continue
        findings.extend(_check_input(spec, value_info, name, key))
    for missing in sorted(set(graph_inputs) - declared):
        findings.append(
            make_finding(
                "plugins.E011",
                name,
                key,
                f"graph input '{missing}' is required but the manifest does not declare it",
            )
        )
    return findings


def _check_input(spec: TensorSpec, value_info: object, name: str, key: str) -> list[Finding]:
    import onnx

    tensor_type = value_info.type.tensor_type  # type: ignore[attr-defined]
    findings: list[Finding] = []
    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type).name
    except (KeyError, ValueError, TypeError):
        dtype = onnx.TensorProto.DataType.Name(tensor_type.elem_type).lower()
    if dtype != spec.dtype:
        findings.append(
            make_finding(
                "plugins.E003",
                name,
                key,
                f"input '{spec.name}' is {dtype}, manifest says {spec.dtype}",
            )
        )
    if not tensor_type.HasField("shape"):
        return findings  # rank unknown in the graph: nothing to compare
    dims: list[int | str] = [
        d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
        for d in tensor_type.shape.dim
    ]
    mismatch = len(dims) != len(spec.shape) or any(
        isinstance(g, int) and m is not None and g != m
        for g, m in zip(dims, spec.shape, strict=False)
    )
    if mismatch:
        shown = "[" + ",".join(str(d) for d in dims) + "]"
        findings.append(
            make_finding(
                "plugins.E005",
                name,
                key,
                f"input '{spec.name}' has shape {shown} in the graph, manifest says {spec.shape}",
            )
        )
    return findings
