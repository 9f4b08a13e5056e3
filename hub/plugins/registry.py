"""The registry of loaded models: lookup by name, findings, and the JSON listing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hub.errors import PluginError, UnknownModelError
from hub.plugins.validation import Finding, LoadedModel
from hub.sdk import Code, ModelManifest


@dataclass
class Registry:
    """Every model found at load (enabled or not) and every finding, in load order."""

    models: list[LoadedModel] = field(default_factory=list)
    #: All findings: per-model ones and plugin-level ones (``model`` is None).
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no finding is an error."""
        return not any(f.severity == "error" for f in self.findings)

    def enabled(self) -> list[LoadedModel]:
        """The models that may run."""
        return [m for m in self.models if m.enabled]

    def get(self, name: str, version: str | None = None) -> LoadedModel:
        """The enabled model ``name`` (at ``version``, else its highest enabled version).

        Raises :class:`UnknownModelError` when no model has that name (and version), and
        :class:`PluginError` when it exists but is disabled.
        """
        matches = [
            m
            for m in self.models
            if m.manifest.name == name and (version is None or m.manifest.version == version)
        ]
        wanted = name if version is None else f"{name}@{version}"
        if not matches:
            enabled = sorted({m.key for m in self.enabled()})
            if enabled:
                fix = f"use one of the enabled models: {', '.join(enabled)}"
            else:
                fix = (
                    "no model is enabled; install a model plugin with "
                    "`pip install <plugin package>` and check it with `pacs-hub plugins list`"
                )
            raise UnknownModelError(f"no model named '{wanted}' is installed", fix)
        enabled_matches = [m for m in matches if m.enabled]
        if not enabled_matches:
            ids = sorted({f.id for m in matches for f in m.findings})
            raise PluginError(
                f"model '{wanted}' is disabled ({', '.join(ids) or 'no findings'})",
                "run `pacs-hub plugins check` to see why and how to fix it",
            )
        return max(enabled_matches, key=lambda m: _version_key(m.manifest.version))

    def as_json(self) -> dict[str, Any]:
        """A JSON-able description of all models and findings (``plugins list --json``)."""
        return {
            "ok": self.ok,
            "models": [model_as_json(m) for m in self.models],
            "findings": [f.as_json() for f in self.findings],
        }


def model_as_json(model: LoadedModel) -> dict[str, Any]:
    """One model's manifest, status and findings as a JSON-able dict."""
    manifest: ModelManifest = model.manifest
    return {
        "name": manifest.name,
        "version": manifest.version,
        "description": manifest.description,
        "plugin": model.plugin_name,
        "enabled": model.enabled,
        "source": model.source,
        "distribution": model.distribution,
        "modalities": list(manifest.modalities),
        "body_parts": list(manifest.body_parts),
        "sop_classes": list(manifest.sop_classes),
        "min_slices": manifest.min_slices,
        "max_slices": manifest.max_slices,
        "dimensionality": manifest.dimensionality,
        "outputs": list(manifest.outputs),
        "seg_type": manifest.seg_type,
        "inputs": [
            {"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in manifest.inputs
        ],
        "segments": [
            {
                "label": s.label,
                "name": s.name,
                "category": _code(s.category),
                "type": _code(s.type),
                "laterality": _code(s.laterality) if s.laterality else None,
            }
            for s in manifest.segments
        ],
        "measurements": [
            {
                "key": m.key,
                "concept": _code(m.concept),
                "unit": _code(m.unit),
                "segment_label": m.segment_label,
            }
            for m in manifest.measurements
        ],
        "finding_specs": [
            {
                "key": f.key,
                "concept": _code(f.concept),
                "values": {k: _code(v) for k, v in f.values.items()},
            }
            for f in manifest.findings
        ],
        "algorithm_family": _code(manifest.algorithm_family),
        "model_file": str(model.model_path),
        "sha256": manifest.sha256,
        "findings": [f.as_json() for f in model.findings],
    }


def _code(code: Code) -> dict[str, str]:
    return {"value": code.value, "scheme": code.scheme, "meaning": code.meaning}


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    parts = re.split(r"[.+_-]", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)
