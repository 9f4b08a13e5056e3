"""hub.testing.assert_plugin_valid: the registry's validation, then a run checked against the
manifest."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from hub.sdk import CODES, ModelManifest, ModelPlugin, Result, SegmentSpec, TensorSpec
from hub.testing import assert_plugin_valid
from hub.testing.onnx_models import threshold_segmenter

FACTORY = Path(__file__).resolve().parents[1] / "fixtures" / "plugins" / "factory.py"


def _series():
    name = "hub_test_plugin_factory"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FACTORY)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name].synthetic_series()


def make_plugin(tmp_path: Path, *, sha256: str | None = None, postprocess=None) -> ModelPlugin:
    digest = threshold_segmenter(tmp_path / "m.onnx", 100.0, labels=1)

    class Segmenter(ModelPlugin):
        manifest = ModelManifest(
            name="helper-seg",
            version="1.0",
            modalities=("CT",),
            model_file=tmp_path / "m.onnx",
            sha256=sha256 or digest,
            inputs=(TensorSpec("image", (None, 1, None, None)),),
            outputs=("SEG",),
            segments=(SegmentSpec(1, "Bright", CODES["anatomical_structure"], CODES["lung"]),),
        )

        def preprocess(self, series):
            return {"image": series.volume[:, None].astype(np.float32)}

        def postprocess(self, outputs, series):
            if postprocess is not None:
                return postprocess(outputs, series)
            return Result(labelmap=outputs["logits"].argmax(1).astype(np.uint8))

    return Segmenter()


def test_valid_plugin_passes_and_runs(tmp_path) -> None:
    (model,) = assert_plugin_valid(make_plugin(tmp_path), series=_series())
    assert model.enabled and model.findings == []


def test_plugin_class_is_accepted(tmp_path) -> None:
    assert assert_plugin_valid(type(make_plugin(tmp_path)))


def test_findings_are_listed_in_the_assertion(tmp_path) -> None:
    with pytest.raises(AssertionError) as raised:
        assert_plugin_valid(make_plugin(tmp_path, sha256="5" * 64))
    assert "plugins.E007 [" in str(raised.value) and "(hint: " in str(raised.value)


def test_wrong_labelmap_is_reported(tmp_path) -> None:
    def bad(outputs, series):
        return Result(labelmap=np.full((1, 2, 2), 7, np.uint8), measurements={"nope": 1.0})

    pytest.importorskip("hub.inference")
    with pytest.raises(AssertionError) as raised:
        assert_plugin_valid(make_plugin(tmp_path, postprocess=bad), series=_series())
    message = str(raised.value)
    assert "labelmap shape" in message and "[7]" in message and "'nope'" in message


def test_module_without_hook_fails() -> None:
    module = type(sys)("empty_plugin_module")
    with pytest.raises(AssertionError) as raised:
        assert_plugin_valid(module)
    assert "no models" in str(raised.value) and "plugins.W002" in str(raised.value)
