"""Proper scores and coverage of Gaussian predictive distributions."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

from ..uncertainty import VARIANCE_FLOOR, _as_float_array, mixture_nll

__all__ = ["gaussian_crps", "gaussian_nll", "interval_coverage", "mixture_nll"]


def _check_regression(y, loc, scale, scale_name: str):
    """Three finite 1-D float arrays of one length; ``scale`` non-negative."""
    arrays = []
    for arr, name in ((y, "y"), (loc, "mean"), (scale, scale_name)):
        arr = _as_float_array(arr, name)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr.ravel()
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D; got shape {arr.shape}.")
        arrays.append(arr)
    y, loc, scale = arrays
    if not y.shape[0] == loc.shape[0] == scale.shape[0]:
        raise ValueError(
            f"y, mean and {scale_name} have different lengths "
            f"({y.shape[0]}, {loc.shape[0]} and {scale.shape[0]})."
        )
    if y.shape[0] == 0:
        raise ValueError("y is empty.")
    if scale.min() < 0:
        raise ValueError(f"{scale_name} must be non-negative.")
    return y, loc, scale


def gaussian_nll(y: ArrayLike, mean: ArrayLike, var: ArrayLike) -> float:
    """Mean negative log-likelihood of ``y`` under Gaussians N(mean, var).

    Per sample :math:`\\frac12 [\\log(2\\pi\\sigma^2) + (y - \\mu)^2 /
    \\sigma^2]`, in nats, averaged over samples. Variances below
    ``VARIANCE_FLOOR`` (1e-12) are raised to it, so the result stays finite.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Observed targets.
    mean : array-like of shape (n_samples,)
        Predicted means.
    var : array-like of shape (n_samples,)
        Predicted variances (not standard deviations), non-negative.

    Returns
    -------
    nll : float
        Lower is better.

    Raises
    ------
    ValueError
        On NaN or infinity, different lengths, or negative variances.

    Examples
    --------
    >>> from skdistill.metrics import gaussian_nll
    >>> round(gaussian_nll([0.0, 2.0], [0.0, 0.0], [1.0, 4.0]), 6)
    1.515512
    """
    y, mu, var = _check_regression(y, mean, var, "var")
    var = np.maximum(var, VARIANCE_FLOOR)
    return float(-np.mean(norm.logpdf(y, mu, np.sqrt(var))))


def interval_coverage(
    y: ArrayLike, mean: ArrayLike, std: ArrayLike, *, level: float = 0.95
) -> float:
    """Fraction of targets inside the central Gaussian prediction interval.

    The interval at ``level`` is :math:`\\mu \\pm z\\sigma` with :math:`z =
    \\Phi^{-1}((1 + \\text{level}) / 2)` (1.96 at 0.95), ends included. A
    calibrated model covers about ``level`` of the targets.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Observed targets.
    mean : array-like of shape (n_samples,)
        Predicted means.
    std : array-like of shape (n_samples,)
        Predicted standard deviations, non-negative.
    level : float, default=0.95
        Nominal coverage, strictly between 0 and 1.

    Returns
    -------
    coverage : float
        Between 0 and 1; compare it with ``level``.

    Raises
    ------
    ValueError
        On NaN or infinity, different lengths, negative ``std`` or a ``level``
        outside (0, 1).

    Examples
    --------
    >>> from skdistill.metrics import interval_coverage
    >>> interval_coverage([0.0, 1.0, 3.0, -0.5], [0.0, 0.0, 0.0, 0.0], [1.0] * 4)
    0.75
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be strictly between 0 and 1; got {level!r}.")
    y, mu, std = _check_regression(y, mean, std, "std")
    z = norm.ppf(0.5 + level / 2.0)
    return float(np.mean(np.abs(y - mu) <= z * std))


def gaussian_crps(y: ArrayLike, mean: ArrayLike, std: ArrayLike) -> float:
    """Mean continuous ranked probability score of Gaussian predictions.

    Closed form (Gneiting et al., 2005), with :math:`z = (y - \\mu) / \\sigma`:
    :math:`\\sigma [z (2\\Phi(z) - 1) + 2\\varphi(z) - 1/\\sqrt\\pi]`. A zero
    ``std`` gives the limit, :math:`|y - \\mu|`. CRPS is in the units of ``y``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Observed targets.
    mean : array-like of shape (n_samples,)
        Predicted means.
    std : array-like of shape (n_samples,)
        Predicted standard deviations, non-negative.

    Returns
    -------
    crps : float
        Lower is better; 0 only for a point prediction that is exactly right.

    Raises
    ------
    ValueError
        On NaN or infinity, different lengths or negative ``std``.

    Examples
    --------
    >>> from skdistill.metrics import gaussian_crps
    >>> round(gaussian_crps([0.0], [0.0], [1.0]), 6)  # (sqrt(2) - 1) / sqrt(pi)
    0.233695
    >>> gaussian_crps([3.0], [1.0], [0.0])  # a point forecast: the absolute error
    2.0
    """
    y, mu, std = _check_regression(y, mean, std, "std")
    point = std == 0
    sigma = np.where(point, 1.0, std)
    z = (y - mu) / sigma
    crps = sigma * (
        z * (2.0 * norm.cdf(z) - 1.0) + 2.0 * norm.pdf(z) - 1 / np.sqrt(np.pi)
    )
    return float(np.mean(np.where(point, np.abs(y - mu), crps)))
