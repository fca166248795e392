"""Toy data generators: shapes, reproducibility and the stated geometry."""

import numpy as np
import pandas as pd
import pytest

from skdistill.datasets import (
    make_spiral,
    make_spiral_ood,
    make_toy_regression,
    make_toy_regression_ood,
    ood_mask,
    toy_regression_mean,
)


def _f(x):
    """The regression mean as stated in the docs, written out independently."""
    return np.sin(x) - 0.1 * x + 0.1 * x**2 + 0.01 * x**3


# ----------------------------------------------------------------- spiral
def test_spiral_shapes_dtypes_and_balance():
    X, y = make_spiral(40, random_state=0)
    assert X.shape == (120, 2) and y.shape == (120,)
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [40, 40, 40]
    assert np.isfinite(X).all()


def test_spiral_reproducible_and_seed_dependent():
    X1, y1 = make_spiral(30, random_state=7)
    X2, y2 = make_spiral(30, random_state=7)
    X3, _ = make_spiral(30, random_state=8)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(X1, X3)
    X4, _ = make_spiral(30, random_state=np.random.RandomState(7))
    np.testing.assert_array_equal(X1, X4)


def test_spiral_shuffle():
    _, y = make_spiral(20, shuffle=False, random_state=0)
    assert y.tolist() == [0] * 20 + [1] * 20 + [2] * 20
    _, y = make_spiral(20, random_state=0)
    assert y.tolist() != sorted(y.tolist())


def test_noise_free_spiral_lies_on_rotated_arms():
    # Without noise, arm k is r = theta at polar angle theta + 2 pi k / 3.
    X, y = make_spiral(200, noise=0.0, random_state=1)
    r = np.hypot(X[:, 0], X[:, 1])
    phi = np.arctan2(X[:, 1], X[:, 0])
    assert r.max() <= 2 * np.pi + 1e-12
    residual = np.angle(np.exp(1j * (phi - r - 2 * np.pi * y / 3)))  # wrapped
    np.testing.assert_allclose(residual, 0.0, atol=1e-9)


def test_spiral_arms_are_rotations_of_each_other():
    X, y = make_spiral(4000, random_state=2)
    arms = []
    for k in range(3):
        a = -2 * np.pi * k / 3
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        arms.append(X[y == k] @ rot.T)  # rotate arm k back onto arm 0
    # The un-rotated arms share their distribution: compare moments and radii.
    for k in (1, 2):
        np.testing.assert_allclose(arms[k].mean(axis=0), arms[0].mean(axis=0), atol=0.2)
        np.testing.assert_allclose(np.cov(arms[k].T), np.cov(arms[0].T), atol=0.6)
    # Without undoing the rotation the arms are clearly different.
    assert np.abs(X[y == 1].mean(axis=0) - X[y == 0].mean(axis=0)).max() > 0.5
    # sqrt(u) makes theta's density grow linearly: P(theta < pi) = 1/4.
    X0, _ = make_spiral(4000, noise=0.0, random_state=3)
    assert np.mean(np.hypot(X0[:, 0], X0[:, 1]) < np.pi) == pytest.approx(
        0.25, abs=0.02
    )


def test_spiral_noise_is_uniform_with_the_stated_half_width():
    clean, _ = make_spiral(500, noise=0.0, shuffle=False, random_state=4)
    noisy, _ = make_spiral(500, noise=0.3, shuffle=False, random_state=4)
    delta = noisy - clean
    assert np.abs(delta).max() <= 0.3
    assert np.abs(delta).max() > 0.29
    assert delta.var() == pytest.approx(0.3**2 / 3, rel=0.1)


def test_spiral_as_frame():
    X, y = make_spiral(10, random_state=0, as_frame=True)
    assert isinstance(X, pd.DataFrame) and list(X.columns) == ["x0", "x1"]
    assert isinstance(y, pd.Series) and y.name == "target"
    Xa, ya = make_spiral(10, random_state=0)
    np.testing.assert_array_equal(X.to_numpy(), Xa)
    np.testing.assert_array_equal(y.to_numpy(), ya)


# ------------------------------------------------ spiral, Hydra+ reference preset
def _unrotate(X, y):
    """Rotate every point of arm k back by 2 pi k / 3, onto arm 0's frame."""
    a = -2 * np.pi * y / 3
    c, s = np.cos(a), np.sin(a)
    return np.column_stack([c * X[:, 0] - s * X[:, 1], s * X[:, 0] + c * X[:, 1]])


def test_hydra_plus_spiral_shapes_classes_and_determinism():
    X, y = make_spiral(preset="hydra_plus", random_state=0)
    assert X.shape == (300, 2) and y.shape == (300,)  # the reference's N = 300
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [100, 100, 100]
    X2, y2 = make_spiral(preset="hydra_plus", random_state=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = make_spiral(preset="hydra_plus", random_state=1)
    assert not np.allclose(X, X3)
    # Another noise model than the package's spiral from the same seed.
    assert not np.allclose(X, make_spiral(random_state=0)[0])


def test_hydra_plus_spiral_noise_is_one_sided_in_each_arms_frame():
    # The same seed draws the same angles, so the difference from the noise-free
    # spiral is the noise alone: U(0, 0.5) per coordinate before the rotation.
    clean, y = make_spiral(
        2000, noise=0.0, preset="hydra_plus", shuffle=False, random_state=5
    )
    noisy, _ = make_spiral(2000, preset="hydra_plus", shuffle=False, random_state=5)
    # Noise-free, the preset's arms are the package's arms.
    np.testing.assert_allclose(
        clean, make_spiral(2000, noise=0.0, shuffle=False, random_state=5)[0]
    )
    local = _unrotate(noisy - clean, y)
    assert local.min() >= -1e-12 and local.max() <= 0.5
    assert local.min() < 0.01 and local.max() > 0.49
    np.testing.assert_allclose(local.mean(axis=0), [0.25, 0.25], atol=0.01)
    np.testing.assert_allclose(local.var(axis=0), 0.5**2 / 12, rtol=0.1)
    # Seen without undoing the rotation, arms 1 and 2 have negative offsets.
    assert (noisy - clean)[y == 1].min() < -0.1


def test_hydra_plus_spiral_points_lie_on_their_arm_plus_the_stated_noise():
    # Each point, rotated back onto arm 0, is (t cos t, t sin t) + (a, b) for some
    # t in [0, 2 pi] and a, b in [0, 0.5): search t on a fine grid.
    X, y = make_spiral(100, preset="hydra_plus", random_state=6)
    t = np.linspace(0, 2 * np.pi, 20001)
    curve = np.column_stack([t * np.cos(t), t * np.sin(t)])
    offsets = _unrotate(X, y)[:, None, :] - curve[None, :, :]
    # Distance from each offset to the box [0, 0.5]^2; the best t must reach it.
    gap = np.clip(-offsets, 0, None) + np.clip(offsets - 0.5, 0, None)
    assert gap.max(axis=2).min(axis=1).max() < 5e-3
    # The package's centred noise fails the same check (negative offsets).
    Xp, yp = make_spiral(100, random_state=6)
    offsets = _unrotate(Xp, yp)[:, None, :] - curve[None, :, :]
    gap = np.clip(-offsets, 0, None) + np.clip(offsets - 0.5, 0, None)
    assert gap.max(axis=2).min(axis=1).max() > 0.1


def test_spiral_bad_preset():
    with pytest.raises(ValueError, match="preset"):
        make_spiral(preset="hydra")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_samples_per_arm": 0},
        {"n_samples_per_arm": -3},
        {"n_samples_per_arm": 2.5},
        {"n_samples_per_arm": True},
        {"noise": -0.1},
        {"noise": float("nan")},
    ],
)
def test_spiral_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_spiral(**kwargs)


def test_spiral_ood_grid_covers_beyond_the_data():
    X, _ = make_spiral(500, random_state=0)
    grid = make_spiral_ood(40)
    assert grid.shape == (1600, 2) and grid.dtype == np.float64
    data_radius = np.abs(X).max()
    assert grid.min() <= -2 * data_radius and grid.max() >= 2 * data_radius
    assert len(np.unique(grid[:, 0])) == 40 and len(np.unique(grid[:, 1])) == 40
    # meshgrid "xy" layout: reshaped, rows follow x1 and columns x0.
    xx, yy = grid[:, 0].reshape(40, 40), grid[:, 1].reshape(40, 40)
    assert np.all(np.diff(xx, axis=1) > 0) and np.all(np.diff(yy, axis=0) > 0)
    frame = make_spiral_ood(5, extent=2.0, as_frame=True)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == ["x0", "x1"]


@pytest.mark.parametrize(
    "kwargs", [{"resolution": 1}, {"resolution": 0}, {"extent": 0.0}, {"extent": -1.0}]
)
def test_spiral_ood_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_spiral_ood(**kwargs)


def test_ood_mask_flags_far_points_only():
    X, _ = make_spiral(300, random_state=0)
    grid = make_spiral_ood(30)
    mask = ood_mask(grid, X, min_distance=1.0)
    assert mask.dtype == bool and mask.shape == (900,)
    # Brute-force distances as the reference.
    nearest = np.sqrt(((grid[:, None, :] - X[None]) ** 2).sum(-1)).min(axis=1)
    np.testing.assert_array_equal(mask, nearest > 1.0)
    assert 0.5 < mask.mean() < 1.0  # most, not all, of the wide grid is far away
    assert not ood_mask(X, X).any()  # training points are never OOD
    with pytest.raises(ValueError):
        ood_mask(grid, X[:, :1])
    with pytest.raises(ValueError):
        ood_mask(grid, X, min_distance=-1.0)


# ----------------------------------------------------------------- regression
def test_toy_regression_shapes_and_range():
    X, y = make_toy_regression(200, random_state=0)
    assert X.shape == (200, 1) and y.shape == (200,)
    assert X.dtype == np.float64 and y.dtype == np.float64
    assert X.min() >= -6 and X.max() <= 6
    assert X.min() < -5.5 and X.max() > 5.5


def test_toy_regression_reproducible_and_seed_dependent():
    X1, y1 = make_toy_regression(50, random_state=3)
    X2, y2 = make_toy_regression(50, random_state=3)
    X3, y3 = make_toy_regression(50, random_state=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(X1, X3)


def test_toy_regression_follows_the_stated_function():
    X, y = make_toy_regression(20000, noise=1.0, random_state=0)
    residual = y - _f(X[:, 0])
    assert residual.mean() == pytest.approx(0.0, abs=0.05)
    assert residual.var() == pytest.approx(1.0, abs=0.05)
    # A wrong mean function would leave structure in the residuals.
    assert abs(np.corrcoef(residual, X[:, 0] ** 3)[0, 1]) < 0.05
    # noise scales the residuals, and noise=0 gives the function exactly.
    X, y = make_toy_regression(20000, noise=0.5, random_state=1)
    assert (y - _f(X[:, 0])).std() == pytest.approx(0.5, abs=0.02)
    X, y = make_toy_regression(100, noise=0.0, random_state=2)
    np.testing.assert_allclose(y, _f(X[:, 0]), atol=1e-12)
    np.testing.assert_allclose(toy_regression_mean(X[:, 0]), _f(X[:, 0]), atol=1e-12)


def test_toy_regression_as_frame():
    X, y = make_toy_regression(10, random_state=0, as_frame=True)
    assert isinstance(X, pd.DataFrame) and list(X.columns) == ["x0"]
    assert isinstance(y, pd.Series) and y.name == "target"


def test_toy_regression_ood():
    X, y, is_ood = make_toy_regression_ood(2000, random_state=0)
    assert X.shape == (2000, 1) and y.shape == (2000,) and is_ood.dtype == bool
    x = X[:, 0]
    assert x.min() >= -12 and x.max() <= 12 and x.min() < -11 and x.max() > 11
    assert np.all(np.diff(x) >= 0)
    np.testing.assert_array_equal(is_ood, np.abs(x) > 6)
    assert is_ood.mean() == pytest.approx(0.5, abs=0.05)
    X2, y2, _ = make_toy_regression_ood(2000, random_state=0)
    np.testing.assert_array_equal(y, y2)
    _, y0, _ = make_toy_regression_ood(50, noise=0.0, random_state=0)
    X0, _, _ = make_toy_regression_ood(50, noise=0.0, random_state=0)
    np.testing.assert_allclose(y0, _f(X0[:, 0]), atol=1e-12)


@pytest.mark.parametrize(
    ("fn", "kwargs"),
    [
        (make_toy_regression, {"n_samples": 0}),
        (make_toy_regression, {"noise": -1.0}),
        (make_toy_regression, {"n_samples": "10"}),
        (make_toy_regression_ood, {"n_samples": -5}),
        (make_toy_regression_ood, {"noise": -0.5}),
    ],
)
def test_toy_regression_bad_arguments(fn, kwargs):
    with pytest.raises(ValueError):
        fn(**kwargs)
