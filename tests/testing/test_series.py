"""hub.testing.synthetic_ct_series gives a loaded series whose truth lines up with its volume."""

from __future__ import annotations

import numpy as np

from hub.testing import synthetic_ct_series


def test_synthetic_ct_series_matches_truth(tmp_path):
    series, truth = synthetic_ct_series(tmp_path / "a", slices=10, size=64)
    assert series.volume.shape == truth.shape == (10, 64, 64)
    assert series.modality == "CT" and series.body_part == "CHEST"
    lungs = series.volume[truth > 0]
    assert lungs.mean() < -500 and series.volume[truth == 0].mean() > lungs.mean()
    again, _ = synthetic_ct_series(tmp_path / "b", slices=10, size=64)
    np.testing.assert_array_equal(series.volume, again.volume)
