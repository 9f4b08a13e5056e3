"""Each validation finding ID, produced by a fixture plugin found through a real entry point."""

from __future__ import annotations

from onnx import TensorProto, helper

from hub.plugins.manager import Registry, load_registry
from hub.plugins.validation import FINDINGS, Finding
from hub.settings import build_settings
from hub.testing.onnx_models import IR_VERSION, OPSET


def load(**settings: object) -> Registry:
    return load_registry(build_settings(**settings))


def findings_of(registry: Registry, plugin: str) -> list[Finding]:
    return [f for f in registry.findings if f.plugin == plugin]


def only(registry: Registry, plugin: str, finding_id: str) -> Finding:
    matches = [f for f in findings_of(registry, plugin) if f.id == finding_id]
    assert len(matches) == 1, findings_of(registry, plugin)
    return matches[0]


def model_named(registry: Registry, name: str):
    (model,) = [m for m in registry.models if m.manifest.name == name]
    return model


def test_good_plugin_has_no_findings(plugins) -> None:
    plugins.make("good-seg")
    registry = load()
    model = model_named(registry, "good-seg")
    assert model.enabled and model.findings == []
    assert model.source == "entry-point"
    assert model.distribution == "good_seg==0.1"
    assert model.model_path == plugins.root / "good_seg.onnx"
    assert findings_of(registry, "good-seg") == []


def test_e001_import_error(plugins) -> None:
    plugins.make("broken-import", prelude="import no_such_module_for_hub_tests")
    finding = only(load(), "broken-import", "plugins.E001")
    assert finding.severity == "error" and finding.model is None
    assert "ModuleNotFoundError" in finding.message
    assert "no_such_module_for_hub_tests" in finding.message
    assert finding.hint == "reinstall the plugin / fix the import"


def test_e002_hook_raises(plugins) -> None:
    hook = "@hookimpl\ndef hub_models():\n    raise RuntimeError('boom')\n"
    plugins.make("raising-hook", hook=hook)
    finding = only(load(), "raising-hook", "plugins.E002")
    assert "RuntimeError: boom" in finding.message


def test_e002_hook_returns_non_plugin_keeps_the_valid_ones(plugins) -> None:
    hook = "@hookimpl\ndef hub_models():\n    return [42, Plugin()]\n"
    plugins.make("odd-hook", hook=hook)
    registry = load()
    assert "42" in only(registry, "odd-hook", "plugins.E002").message
    assert model_named(registry, "odd-hook").enabled


def test_e003_dtype_mismatch(plugins) -> None:
    plugins.make("half-seg", graph_dtype="float16", dtype="float32")
    registry = load()
    finding = only(registry, "half-seg", "plugins.E003")
    assert finding.message == "input 'image' is float16, manifest says float32"
    assert finding.model == "half-seg@1.0"
    assert str(finding).startswith(
        "plugins.E003 [half-seg/half-seg@1.0] input 'image' is float16, manifest says float32"
        " (hint: "
    )
    assert not model_named(registry, "half-seg").enabled


def test_e004_declared_input_not_in_graph(plugins) -> None:
    plugins.make("renamed-seg", input_name="pixels", graph_input="image")
    registry = load()
    finding = only(registry, "renamed-seg", "plugins.E004")
    assert "'pixels'" in finding.message
    assert "['image']" in finding.hint
    assert only(registry, "renamed-seg", "plugins.E011")  # and 'image' is undeclared


def test_e005_fixed_dimension_mismatch(plugins) -> None:
    plugins.make("sized-seg", graph_shape=("N", 1, 256, 256), shape=(None, 1, 128, 128))
    finding = only(load(), "sized-seg", "plugins.E005")
    assert finding.message == (
        "input 'image' has shape [N,1,256,256] in the graph, manifest says (None, 1, 128, 128)"
    )


def test_e005_rank_mismatch(plugins) -> None:
    plugins.make("rank-seg", shape=(None, 1, None, None, None))
    assert (
        "manifest says (None, 1, None, None, None)"
        in only(load(), "rank-seg", "plugins.E005").message
    )


def test_e006_missing_file(plugins) -> None:
    made = plugins.make("missing-seg")
    made.model_path.unlink()
    finding = only(load(), "missing-seg", "plugins.E006")
    assert str(made.model_path) in finding.message


def test_e007_checksum_mismatch(plugins) -> None:
    made = plugins.make("tampered-seg", sha256="0" * 64)
    finding = only(load(), "tampered-seg", "plugins.E007")
    assert made.sha256 in finding.message and "0" * 64 in finding.message


def test_e008_corrupt_file(plugins) -> None:
    plugins.make("corrupt-seg", onnx_bytes=b"this is not a protobuf \x00\xff")
    registry = load()
    finding = only(registry, "corrupt-seg", "plugins.E008")
    assert "cannot be loaded" in finding.message
    assert [f.id for f in findings_of(registry, "corrupt-seg")] == ["plugins.E008"]


def test_e009_invalid_modality(plugins) -> None:
    plugins.make("xx-seg", modalities=("XX",))
    registry = load()
    finding = only(registry, "xx-seg", "plugins.E009")
    assert "'modalities'" in finding.message and "'XX'" in finding.message
    assert "DICOM Modality" in finding.message
    assert "modalities" in finding.hint
    assert [m for m in registry.models if m.plugin_name == "xx-seg"] == []


def test_e009_manifest_error_in_hook_and_missing_manifest(plugins) -> None:
    hook = (
        "class Bare(ModelPlugin):\n    pass\n\n@hookimpl\ndef hub_models():\n    return [Bare()]\n"
    )
    plugins.make("bare-plugin", hook=hook)
    finding = only(load(), "bare-plugin", "plugins.E009")
    assert "'manifest'" in finding.message and "Bare" in finding.message


def test_e010_duplicate_name_and_version(plugins) -> None:
    plugins.make("dup-a", model_name="same-seg")
    plugins.make("dup-b", model_name="same-seg")
    registry = load()
    first, second = [m for m in registry.models if m.manifest.name == "same-seg"]
    assert first.enabled and not second.enabled
    finding = only(registry, "dup-b", "plugins.E010")
    assert "'dup-a'" in finding.message and "'dup-b'" in finding.message


def test_e011_undeclared_graph_input(plugins) -> None:
    graph = helper.make_graph(
        [helper.make_node("Add", ["image", "mask"], ["logits"])],
        "two_inputs",
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 1, "h", "w"]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["n", 1, "h", "w"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 1, "h", "w"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    plugins.make("two-input-seg", onnx_bytes=model.SerializeToString())
    registry = load()
    finding = only(registry, "two-input-seg", "plugins.E011")
    assert "'mask'" in finding.message
    assert [f.id for f in findings_of(registry, "two-input-seg")] == ["plugins.E011"]


def test_w001_disabled_by_entry_point_name_is_not_imported(plugins) -> None:
    plugins.make("off-plugin", prelude="import no_such_module_for_hub_tests")
    registry = load(disabled_plugins=["off-plugin"])
    finding = only(registry, "off-plugin", "plugins.W001")
    assert finding.severity == "warning"
    assert [f.id for f in findings_of(registry, "off-plugin")] == ["plugins.W001"]


def test_w001_disabled_by_model_name_is_listed(plugins) -> None:
    plugins.make("quiet-plugin", model_name="quiet-seg")
    registry = load(disabled_plugins=["quiet-seg"])
    model = model_named(registry, "quiet-seg")
    assert not model.enabled
    assert [f.id for f in model.findings] == ["plugins.W001"]


def test_w002_undecorated_hook(plugins) -> None:
    plugins.make("plain-hook", hook="def hub_models():\n    return [Plugin]\n")
    finding = only(load(), "plain-hook", "plugins.W002")
    assert "hookimpl" in finding.hint


def test_every_finding_id_has_a_hint() -> None:
    assert all(hint for hint in FINDINGS.values())
    assert len(FINDINGS) == 13
