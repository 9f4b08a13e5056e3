"""hub.testing.phantoms: deterministic chest-CT phantoms with lung labels."""

from __future__ import annotations

import numpy as np
import pytest

from hub.testing.phantoms import LEFT_LUNG, RIGHT_LUNG, chest_ct_phantom

SHAPE = (24, 96, 96)
SPACING = (12.0, 3.8, 3.8)


@pytest.fixture(scope="module")
def phantom() -> tuple[np.ndarray, np.ndarray]:
    return chest_ct_phantom(*SHAPE, spacing=SPACING, seed=3)


def test_shapes_and_dtypes(phantom: tuple[np.ndarray, np.ndarray]) -> None:
    hu, labels = phantom
    assert hu.shape == labels.shape == SHAPE
    assert hu.dtype == np.float32 and labels.dtype == np.uint8
    assert set(np.unique(labels).tolist()) == {0, RIGHT_LUNG, LEFT_LUNG}


def test_same_seed_same_arrays(phantom: tuple[np.ndarray, np.ndarray]) -> None:
    hu, labels = chest_ct_phantom(*SHAPE, spacing=SPACING, seed=3)
    np.testing.assert_array_equal(hu, phantom[0])
    np.testing.assert_array_equal(labels, phantom[1])


def test_other_seed_other_anatomy(phantom: tuple[np.ndarray, np.ndarray]) -> None:
    hu, labels = chest_ct_phantom(*SHAPE, spacing=SPACING, seed=4)
    assert not np.array_equal(labels, phantom[1])
    assert not np.allclose(hu, phantom[0])


def test_right_lung_at_low_columns(phantom: tuple[np.ndarray, np.ndarray]) -> None:
    _, labels = phantom
    right_columns = np.nonzero(labels == RIGHT_LUNG)[2]
    left_columns = np.nonzero(labels == LEFT_LUNG)[2]
    assert right_columns.max() < left_columns.min()
    assert right_columns.mean() < SHAPE[2] / 2 < left_columns.mean()


def test_hounsfield_ranges(phantom: tuple[np.ndarray, np.ndarray]) -> None:
    hu, labels = phantom
    assert -1024.0 <= hu.min() and hu.max() <= 3071.0
    assert np.median(hu[labels > 0]) == pytest.approx(-850, abs=60)
    assert np.median(hu[:, :3, :]) == pytest.approx(-1000, abs=30)  # air above the chest
    body = (hu > -500) & (labels == 0)
    assert np.median(hu[body]) == pytest.approx(40, abs=40)  # soft tissue dominates
    assert hu.max() > 500  # bone


def test_lungs_taper_toward_apex_and_base(phantom: tuple[np.ndarray, np.ndarray]) -> None:
    _, labels = phantom
    per_slice = np.count_nonzero(labels, axis=(1, 2))
    middle = per_slice[len(per_slice) // 2]
    assert per_slice[0] < middle / 4 and per_slice[-1] < middle / 4


def test_anatomy_scales_with_spacing() -> None:
    _, coarse = chest_ct_phantom(8, 64, 64, (40.0, 6.0, 6.0), seed=5)
    _, fine = chest_ct_phantom(8, 128, 128, (40.0, 3.0, 3.0), seed=5)
    # Same seed and field of view: lung volume in mm^3 agrees within partial-volume error.
    assert np.count_nonzero(coarse) * 36 == pytest.approx(np.count_nonzero(fine) * 9, rel=0.05)


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="spacing"):
        chest_ct_phantom(4, 32, 32, (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="too small"):
        chest_ct_phantom(0, 32, 32)
