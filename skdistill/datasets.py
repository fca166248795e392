"""Toy data sets of the Hydra+ experiments, as scikit-learn style generators.

* :func:`make_spiral` - three interleaved spiral arms (classification), with
  :func:`make_spiral_ood` (a wide grid around them) and :func:`ood_mask` (which
  grid points are far from the training data) for out-of-distribution scoring;
* :func:`make_toy_regression` - a noisy 1-D cubic-plus-sine on ``[-6, 6]``, with
  :func:`make_toy_regression_ood` on ``[-12, 12]`` and its out-of-range mask.

Every generator takes ``random_state`` (``None``, an int or a
:class:`numpy.random.RandomState`), returns float64 features of shape
``(n_samples, n_features)`` and, where there are labels, int64 labels.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "make_spiral",
    "make_spiral_ood",
    "make_toy_regression",
    "make_toy_regression_ood",
    "ood_mask",
    "toy_regression_mean",
]

N_ARMS = 3
#: Spiral presets: ``None`` is the package's, ``"hydra_plus"`` the Hydra+ reference's.
SPIRAL_PRESETS = (None, "hydra_plus")
#: Training inputs of the toy regression lie in ``[-TOY_RANGE, TOY_RANGE]``.
TOY_RANGE = 6.0


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _check_non_negative(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}.")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}.")
    return float(value)


def _as_frame(X: np.ndarray, y: np.ndarray | None):
    import pandas as pd  # imported lazily: only needed for as_frame=True

    columns = [f"x{j}" for j in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=columns)
    if y is None:
        return frame
    return frame, pd.Series(y, name="target")


# --------------------------------------------------------------------------- spiral
def make_spiral(
    n_samples_per_arm: int = 100,
    *,
    noise: float = 0.5,
    shuffle: bool = True,
    random_state=None,
    as_frame: bool = False,
    preset: str | None = None,
):
    """Three-arm spiral classification data (Hydra+, Ferianc & Rodrigues 2022).

    Each arm draws ``u ~ U(0, 1)`` and ``theta = 2 pi sqrt(u)`` (uniform in area
    along the arm), places the point at ``(theta cos theta, theta sin theta)``,
    rotates it by 0, 120 or 240 degrees for arms 0, 1 and 2 (its label), and adds
    independent ``U(-noise, noise)`` noise to each coordinate. Without noise the
    points lie within radius ``2 pi``; adjacent arms are ``2 pi / 3 ~ 2.1`` apart
    along any ray, so the default ``noise=0.5`` blurs them without merging them.

    ``preset="hydra_plus"`` draws the spiral of the Hydra+ reference code
    (``martinferianc/hydra_plus``, the paper's experiments) instead: the same
    arms, but the noise is one-sided, ``U(0, noise)`` on each coordinate, and
    it is added *before* the rotation (so it points the same way relative to
    each arm). With the reference's ``noise=0.5`` and 100 points per arm (300
    in all, its ``N``) the arms are less blurred than with the package's
    default: each coordinate's noise spans an interval 0.5 wide, against 1.0
    (a quarter of the variance), and the points sit on average
    ``(0.25, 0.25)`` off the curve in each arm's own frame. The Hydra+ paper
    reports 0.00 % test error on it for both its ensemble and Hydra+.

    Parameters
    ----------
    n_samples_per_arm : int, default=100
        Number of points in each arm; the data set has ``3 * n_samples_per_arm``.
    noise : float, default=0.5
        Half-width of the uniform noise added to each coordinate (``>= 0``).
    shuffle : bool, default=True
        Shuffle the samples; if False they come arm by arm.
    random_state : int, RandomState instance or None, default=None
        Seed or generator for reproducible output.
    as_frame : bool, default=False
        Return a :class:`pandas.DataFrame` (columns ``x0``, ``x1``) and a
        :class:`pandas.Series` named ``"target"``.
    preset : {None, "hydra_plus"}, default=None
        None: centred noise ``U(-noise, noise)`` added after the rotation.
        ``"hydra_plus"``: the Hydra+ reference's one-sided noise
        ``U(0, noise)`` added before the rotation (see above).

    Returns
    -------
    X : ndarray of shape (3 * n_samples_per_arm, 2), float64
    y : ndarray of shape (3 * n_samples_per_arm,), int64
        The arm of each point: 0, 1 or 2.

    Examples
    --------
    >>> X, y = make_spiral(50, random_state=0)
    >>> X.shape, y.shape, np.bincount(y).tolist()
    ((150, 2), (150,), [50, 50, 50])
    >>> X, y = make_spiral(preset="hydra_plus", random_state=0)
    >>> X.shape
    (300, 2)
    """
    n = _check_positive_int("n_samples_per_arm", n_samples_per_arm)
    noise = _check_non_negative("noise", noise)
    if preset not in SPIRAL_PRESETS:
        raise ValueError(f"preset must be one of {SPIRAL_PRESETS}, got {preset!r}.")
    rng = check_random_state(random_state)

    theta = 2.0 * np.pi * np.sqrt(rng.uniform(size=(N_ARMS, n)))
    rotation = 2.0 * np.pi * np.arange(N_ARMS)[:, None] / N_ARMS
    if preset == "hydra_plus":
        # One-sided noise in each arm's own frame, then the rotation.
        local = np.stack([theta * np.cos(theta), theta * np.sin(theta)], axis=-1)
        local = local + rng.uniform(0.0, noise, size=local.shape)
        cos, sin = np.cos(rotation), np.sin(rotation)
        X = np.stack(
            [
                cos * local[..., 0] - sin * local[..., 1],
                sin * local[..., 0] + cos * local[..., 1],
            ],
            axis=-1,
        )
    else:
        X = np.stack(
            [theta * np.cos(theta + rotation), theta * np.sin(theta + rotation)],
            axis=-1,
        )
        X = X + rng.uniform(-noise, noise, size=X.shape)
    X = X.reshape(N_ARMS * n, 2)
    y = np.repeat(np.arange(N_ARMS, dtype=np.int64), n)
    if shuffle:
        order = rng.permutation(len(y))
        X, y = X[order], y[order]
    if as_frame:
        return _as_frame(X, y)
    return X, y


def make_spiral_ood(
    resolution: int = 100, *, extent: float = 15.0, as_frame: bool = False
):
    """A square grid around the spiral, for out-of-distribution scoring and maps.

    The grid spans ``[-extent, extent]^2`` with ``resolution`` points per side.
    The spiral of :func:`make_spiral` (default noise) lies within radius about
    7, so the default ``extent=15`` reaches about twice as far: most of the grid
    is out of distribution. Typical uses:

    * draw uncertainty maps: ``u = est.predict_uncertainty(X_grid).epistemic``
      then ``u.reshape(resolution, resolution)`` is an image whose rows follow
      ``x1`` and columns ``x0`` (``numpy.meshgrid``'s ``"xy"`` layout, as
      ``matplotlib.pyplot.contourf`` expects);
    * score OOD detection: take ``mask = ood_mask(X_grid, X_train)`` and compare
      an uncertainty on ``X_grid[mask]`` (out) with one on held-out spiral data
      (in), e.g. with an AUROC.

    Parameters
    ----------
    resolution : int, default=100
        Number of grid points per side (``>= 2``); the grid has
        ``resolution ** 2`` points.
    extent : float, default=15.0
        Half-width of the square (``> 0``).
    as_frame : bool, default=False
        Return a :class:`pandas.DataFrame` with columns ``x0``, ``x1``.

    Returns
    -------
    X_grid : ndarray of shape (resolution ** 2, 2), float64

    Examples
    --------
    >>> X_grid = make_spiral_ood(3, extent=1.0)
    >>> X_grid[:4].tolist()
    [[-1.0, -1.0], [0.0, -1.0], [1.0, -1.0], [-1.0, 0.0]]
    """
    resolution = _check_positive_int("resolution", resolution)
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, got {resolution}.")
    extent = _check_non_negative("extent", extent)
    if extent == 0:
        raise ValueError("extent must be > 0, got 0.")
    axis = np.linspace(-extent, extent, resolution)
    xx, yy = np.meshgrid(axis, axis)
    X_grid = np.column_stack([xx.ravel(), yy.ravel()])
    if as_frame:
        return _as_frame(X_grid, None)
    return X_grid


def ood_mask(X, X_train, *, min_distance: float = 1.0) -> np.ndarray:
    """Flag the points of ``X`` farther than ``min_distance`` from all of ``X_train``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Points to flag, e.g. from :func:`make_spiral_ood`.
    X_train : array-like of shape (n_train, n_features)
        The training inputs.
    min_distance : float, default=1.0
        Euclidean distance to the nearest training point beyond which a point
        counts as out of distribution (``>= 0``). The default is about half the
        gap between spiral arms.

    Returns
    -------
    mask : ndarray of shape (n_samples,), bool
        True where the point is out of distribution.

    Examples
    --------
    >>> ood_mask([[0.0, 0.0], [5.0, 0.0]], [[0.5, 0.0]]).tolist()
    [False, True]
    """
    from scipy.spatial import cKDTree

    min_distance = _check_non_negative("min_distance", min_distance)
    X = np.asarray(X, dtype=np.float64)
    X_train = np.asarray(X_train, dtype=np.float64)
    if X.ndim != 2 or X_train.ndim != 2 or X.shape[1] != X_train.shape[1]:
        raise ValueError(
            "X and X_train must be 2-D with the same number of columns; "
            f"got shapes {X.shape} and {X_train.shape}."
        )
    if len(X_train) == 0:
        raise ValueError("X_train must contain at least one point.")
    distance, _ = cKDTree(X_train).query(X, k=1)
    return distance > min_distance


# --------------------------------------------------------------------------- regression
def toy_regression_mean(x):
    """The noise-free toy regression function.

    .. math:: f(x) = \\sin x - 0.1 x + 0.1 x^2 + 0.01 x^3

    Examples
    --------
    >>> float(toy_regression_mean(0.0))
    0.0
    """
    x = np.asarray(x, dtype=np.float64)
    return np.sin(x) - 0.1 * x + 0.1 * x**2 + 0.01 * x**3


def make_toy_regression(
    n_samples: int = 1000,
    *,
    noise: float = 1.0,
    random_state=None,
    as_frame: bool = False,
):
    """Noisy 1-D regression: ``y = sin x - 0.1 x + 0.1 x^2 + 0.01 x^3 + e``.

    ``x ~ U(-6, 6)`` and ``e ~ N(0, noise^2)`` (homoscedastic).

    Parameters
    ----------
    n_samples : int, default=1000
    noise : float, default=1.0
        Standard deviation of the Gaussian noise (``>= 0``).
    random_state : int, RandomState instance or None, default=None
    as_frame : bool, default=False
        Return a :class:`pandas.DataFrame` (column ``x0``) and a
        :class:`pandas.Series` named ``"target"``.

    Returns
    -------
    X : ndarray of shape (n_samples, 1), float64
    y : ndarray of shape (n_samples,), float64

    See Also
    --------
    toy_regression_mean : the noise-free function.
    make_toy_regression_ood : inputs on the wider range ``[-12, 12]``.

    Examples
    --------
    >>> X, y = make_toy_regression(20, random_state=0)
    >>> X.shape, y.shape, bool(np.abs(X).max() <= 6)
    ((20, 1), (20,), True)
    """
    n = _check_positive_int("n_samples", n_samples)
    noise = _check_non_negative("noise", noise)
    rng = check_random_state(random_state)
    x = rng.uniform(-TOY_RANGE, TOY_RANGE, size=n)
    y = toy_regression_mean(x) + noise * rng.standard_normal(n)
    X = x[:, None]
    if as_frame:
        return _as_frame(X, y)
    return X, y


def make_toy_regression_ood(
    n_samples: int = 1000, *, noise: float = 1.0, random_state=None
):
    """Toy regression on ``[-12, 12]``, with a mask of the points outside ``[-6, 6]``.

    The inputs are ``n_samples`` draws of ``U(-12, 12)``, sorted ascending (ready
    to plot as a curve). They **include** the training range: about half the
    points lie in ``[-6, 6]`` (in distribution) and half outside it, flagged by
    ``is_ood``, so one call gives both sides of an in/out comparison (e.g.
    epistemic uncertainty on ``X[is_ood]`` against ``X[~is_ood]``). Targets
    follow the same function and noise as :func:`make_toy_regression`.

    Parameters
    ----------
    n_samples : int, default=1000
    noise : float, default=1.0
        Standard deviation of the Gaussian noise (``>= 0``).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, 1), float64
    y : ndarray of shape (n_samples,), float64
    is_ood : ndarray of shape (n_samples,), bool
        True where ``|x| > 6``, outside the training range.

    Examples
    --------
    >>> X, y, is_ood = make_toy_regression_ood(200, random_state=0)
    >>> bool(np.all(is_ood == (np.abs(X[:, 0]) > 6)))
    True
    """
    n = _check_positive_int("n_samples", n_samples)
    noise = _check_non_negative("noise", noise)
    rng = check_random_state(random_state)
    x = np.sort(rng.uniform(-2 * TOY_RANGE, 2 * TOY_RANGE, size=n))
    y = toy_regression_mean(x) + noise * rng.standard_normal(n)
    return x[:, None], y, np.abs(x) > TOY_RANGE
