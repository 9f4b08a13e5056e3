"""Helpers for plugin authors and the hub's own tests.

- :func:`synthetic_ct_series` gives a loaded chest CT :class:`~hub.sdk.Series` and its truth.
- :mod:`hub.testing.dicom` writes numpy volumes as DICOM series (shuffled, reversed, oblique,
  multi-frame, compressed).
- :mod:`hub.testing.phantoms` makes deterministic chest CT phantoms with known label maps.
- :mod:`hub.testing.onnx_models` builds tiny ONNX models without torch.
- :mod:`hub.testing.validators` runs dcmdump and dciodvfy on written objects.
- :func:`assert_plugin_valid` checks a plugin the way the hub does at load, then runs it.
"""

from hub.testing.plugin import assert_plugin_valid
from hub.testing.series import synthetic_ct_series

__all__ = ["assert_plugin_valid", "synthetic_ct_series"]
