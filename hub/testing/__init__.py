"""Helpers for plugin authors and the hub's own tests.

- :mod:`hub.testing.dicom` writes numpy volumes as DICOM series (shuffled, reversed, oblique,
  multi-frame, compressed).
- :mod:`hub.testing.phantoms` makes deterministic CT/MR phantoms with known label maps.
- :mod:`hub.testing.onnx_models` builds tiny ONNX models without torch.
- :func:`assert_plugin_valid` checks a plugin the way the hub does at load, then runs it.
"""

from hub.testing.plugin import assert_plugin_valid

__all__ = ["assert_plugin_valid"]
