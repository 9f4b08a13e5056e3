"""The model runner: 2D batching, 3D runs, session reuse, settings and error paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hub.errors import InferenceError, NotAcceptedError
from hub.inference import clear_sessions, get_session, load_series, run_model
from hub.inference.sessions import resolve_providers, session_count
from hub.sdk import CODES, ModelManifest, ModelPlugin, Result, SegmentSpec, TensorSpec
from hub.settings import InferenceOptions, override_settings
from hub.testing.dicom import write_series
from hub.testing.onnx_models import threshold_segmenter


@dataclass
class Loaded:
    plugin: ModelPlugin
    manifest: ModelManifest
    model_path: Path


class Threshold(ModelPlugin):
    def __init__(self, manifest: ModelManifest) -> None:
        self.manifest = manifest  # type: ignore[misc]

    def preprocess(self, series):
        if self.manifest.dimensionality == "3d":
            return {"image": series.volume[None, None]}
        return {"image": series.volume[:, None]}

    def postprocess(self, outputs, series):
        labels = outputs["logits"].argmax(axis=1).astype(np.uint8)
        if self.manifest.dimensionality == "3d":
            labels = labels[0]
        return Result(labelmap=labels)


def make_model(tmp_path: Path, dimensionality: str = "2d", **fields) -> Loaded:
    shape = (None, 1, None, None) if dimensionality == "2d" else (1, 1, None, None, None)
    path = tmp_path / f"threshold-{dimensionality}.onnx"
    sha = threshold_segmenter(path, threshold=100.0, labels=1, shape=shape)
    manifest = ModelManifest(
        name="threshold",
        version="1",
        modalities=fields.pop("modalities", ("CT",)),
        model_file=path,
        sha256=sha,
        inputs=(TensorSpec("image", shape, "float32"),),
        outputs=("SEG",),
        dimensionality=dimensionality,
        segments=(
            SegmentSpec(1, "bright", CODES["anatomical_structure"], CODES["lung"]),
        ),
        **fields,
    )
    return Loaded(Threshold(manifest), manifest, path)


@pytest.fixture
def series(tmp_path):
    rng = np.random.default_rng(3)
    volume = rng.integers(-200, 400, size=(9, 10, 12)).astype(np.float32)
    write_series(volume, tmp_path / "ct", order="shuffled")
    return load_series([tmp_path / "ct"])


def test_2d_model_runs_in_batches_slice_wise(tmp_path, series):
    override_settings(inference=InferenceOptions(batch_size=4))
    clear_sessions()
    calls = []
    outcome = run_model(make_model(tmp_path), series, progress=lambda d, t: calls.append((d, t)))
    np.testing.assert_array_equal(outcome.result.labelmap, series.volume > 100)
    assert calls == [(4, 9), (8, 9), (9, 9)]
    assert set(outcome.timings) == {"preprocess", "inference", "session_run", "postprocess"}
    assert outcome.timings["session_run"] <= outcome.timings["inference"]


def test_3d_model_gets_the_volume_once(tmp_path, series):
    calls = []
    model = make_model(tmp_path, "3d")
    outcome = run_model(model, series, progress=lambda d, t: calls.append((d, t)))
    np.testing.assert_array_equal(outcome.result.labelmap, series.volume > 100)
    assert calls == [(1, 1)]


def test_one_session_per_model_reused(tmp_path, series):
    clear_sessions()
    model = make_model(tmp_path)
    run_model(model, series)
    first = get_session(model.model_path, model.manifest.sha256)
    run_model(model, series)
    assert session_count() == 1
    assert get_session(model.model_path, model.manifest.sha256) is first


def test_thread_counts_come_from_settings(tmp_path):
    override_settings(inference=InferenceOptions(intra_op_threads=1, inter_op_threads=1))
    clear_sessions()
    model = make_model(tmp_path)
    options = get_session(model.model_path, model.manifest.sha256).get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.inter_op_num_threads == 1


def test_providers_auto_and_explicit():
    assert resolve_providers(InferenceOptions())[-1] == "CPUExecutionProvider"
    with pytest.raises(InferenceError, match="not available"):
        resolve_providers(InferenceOptions(providers=["NoSuchExecutionProvider"]))


def test_wrong_modality_refused_naming_field(tmp_path, series):
    with pytest.raises(NotAcceptedError) as info:
        run_model(make_model(tmp_path, modalities=("MR",)), series)
    assert "Modality is 'CT'" in info.value.cause and "modalities ['MR']" in info.value.cause


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"min_slices": 20}, "min_slices=20"),
        ({"max_slices": 3}, "max_slices=3"),
        ({"sop_classes": ("1.2.840.10008.5.1.4.1.1.4",)}, "sop_classes"),
    ],
)
def test_manifest_constraints_refused(tmp_path, series, fields, word):
    with pytest.raises(NotAcceptedError, match=word):
        run_model(make_model(tmp_path, **fields), series)


def test_body_part_refused_only_when_series_names_another(tmp_path):
    volume = np.zeros((3, 4, 4), dtype=np.float32)
    write_series(volume, tmp_path / "head", body_part="HEAD", seed="head")
    write_series(volume, tmp_path / "none", seed="none")
    model = make_model(tmp_path, body_parts=("CHEST",))
    with pytest.raises(NotAcceptedError, match="BodyPartExamined is 'HEAD'"):
        run_model(model, load_series([tmp_path / "head"]))
    assert run_model(model, load_series([tmp_path / "none"])).result.labelmap.shape == (3, 4, 4)


def test_plugin_exception_becomes_inference_error(tmp_path, series):
    model = make_model(tmp_path)
    model.plugin.preprocess = lambda s: 1 / 0  # type: ignore[method-assign]
    with pytest.raises(InferenceError, match="failed in preprocess: ZeroDivisionError"):
        run_model(model, series)


def test_wrong_input_dtype_from_preprocess(tmp_path, series):
    model = make_model(tmp_path)
    model.plugin.preprocess = lambda s: {"image": s.volume[:, None].astype(np.float64)}  # type: ignore[method-assign]
    with pytest.raises(InferenceError, match="manifest says float32"):
        run_model(model, series)


def test_postprocess_must_return_result(tmp_path, series):
    model = make_model(tmp_path)
    model.plugin.postprocess = lambda o, s: {"labelmap": None}  # type: ignore[method-assign]
    with pytest.raises(InferenceError, match="not Result"):
        run_model(model, series)


def test_2d_outputs_must_be_batch_first(tmp_path, series):
    import onnx
    from onnx import TensorProto, helper

    from hub.testing.onnx_models import write_model

    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["mean"], keepdims=0)],
        "scalar",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 1, "h", "w"])],
        [helper.make_tensor_value_info("mean", TensorProto.FLOAT, [])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    loaded = make_model(tmp_path)
    loaded.model_path = tmp_path / "scalar.onnx"
    sha = write_model(model, loaded.model_path)
    from dataclasses import replace

    loaded.manifest = replace(loaded.manifest, sha256=sha, model_file=loaded.model_path)
    with pytest.raises(InferenceError, match="slice batch .* as first axis"):
        run_model(loaded, series)


def test_2d_outputs_identical_to_one_big_run(tmp_path, series):
    override_settings(inference=InferenceOptions(batch_size=2))
    clear_sessions()
    model = make_model(tmp_path)
    session = get_session(model.model_path, model.manifest.sha256)
    (whole,) = session.run(["logits"], {"image": series.volume[:, None]})
    model.plugin.postprocess = lambda outputs, s: Result(  # type: ignore[method-assign]
        measurements={"check": float(np.abs(outputs["logits"] - whole).max())}
    )
    outcome = run_model(model, series)
    assert outcome.result.measurements["check"] == 0.0
