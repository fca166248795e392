"""Predictive mean and uncertainty bands of a 1-D regressor."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..uncertainty import _as_float_array, regression_uncertainty
from ._common import _axes, _like_input, _pyplot


def plot_regression_band(
    estimator,
    X: ArrayLike,
    y: ArrayLike | None = None,
    *,
    x_grid: ArrayLike | None = None,
    ax=None,
):
    """Predicted mean and ±2σ bands of a 1-D regressor, split into its sources.

    Draws the mixture mean, a ±2σ band of the total predictive variance and,
    inside it, a ±2σ band of the aleatoric variance alone: the part of the
    outer band outside the inner one is the epistemic contribution. Both bands
    are opaque (orange, then blue over it), so their colours match the legend
    wherever they overlap. The data are drawn as points when ``y`` is given. The
    key sits outside the axes, on their right, so it covers neither data nor
    bands.

    Parameters
    ----------
    estimator : fitted regressor
        Has ``predict_members`` (returning ``(means, variances)``), or else
        ``predict_uncertainty`` and ``predict``.
    X : array-like of shape (n_samples,) or (n_samples, 1)
        Inputs; one feature only.
    y : array-like of shape (n_samples,), default=None
        Targets, drawn as points if given.
    x_grid : array-like of shape (n_grid,), default=None
        Where to evaluate the model; default 200 points over the range of ``X``
        widened by 10% on each side.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure if None.

    Returns
    -------
    ax : matplotlib Axes

    Raises
    ------
    ValueError
        If ``X`` has more than one feature, or ``y`` has another length.
    TypeError
        If ``estimator`` has neither ``predict_members`` nor
        ``predict_uncertainty``.

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill import EnsembleRegressor
    >>> from skdistill.plotting import plot_regression_band
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-3, 3, size=(200, 1))
    >>> y = np.sin(X[:, 0]) + rng.normal(0, 0.1 + 0.1 * np.abs(X[:, 0]))
    >>> ens = EnsembleRegressor(n_members=5, max_epochs=100).fit(X, y)  # doctest: +SKIP
    >>> ax = plot_regression_band(ens, X, y, x_grid=np.linspace(-6, 6, 300))  # doctest: +SKIP
    """
    X_arr = _as_float_array(X, "X")
    if X_arr.ndim == 1:
        X_arr = X_arr[:, None]
    if X_arr.ndim != 2 or X_arr.shape[1] != 1:
        raise ValueError(
            f"X must have exactly one feature for a regression band; got shape "
            f"{X_arr.shape}."
        )
    if X_arr.shape[0] == 0:
        raise ValueError("X is empty.")
    if y is not None:
        y = _as_float_array(y, "y").ravel()
        if y.shape[0] != X_arr.shape[0]:
            raise ValueError(
                f"y must have one value per row of X ({X_arr.shape[0]}); "
                f"got {y.shape[0]}."
            )
    if x_grid is None:
        lo, hi = X_arr.min(), X_arr.max()
        pad = 0.1 * (hi - lo) if hi > lo else 1.0
        x_grid = np.linspace(lo - pad, hi + pad, 200)
    else:
        x_grid = _as_float_array(x_grid, "x_grid").ravel()
    x_grid = np.sort(x_grid)
    grid = _like_input(X, x_grid[:, None])
    if hasattr(estimator, "predict_members"):
        means, variances = estimator.predict_members(grid)
        unc = regression_uncertainty(means, variances)
        mean = np.mean(np.asarray(means, dtype=np.float64), axis=0)
    elif hasattr(estimator, "predict_uncertainty"):
        unc = estimator.predict_uncertainty(grid)
        mean = np.asarray(estimator.predict(grid), dtype=np.float64).ravel()
    else:
        raise TypeError(
            "estimator has neither predict_members nor predict_uncertainty."
        )
    total_sd = 2.0 * np.sqrt(np.asarray(unc.total, dtype=np.float64))
    alea_sd = 2.0 * np.sqrt(np.asarray(unc.aleatoric, dtype=np.float64))

    if ax is None:  # room on the right for the key, outside the data
        ax = _pyplot().subplots(figsize=(7.5, 4.5), layout="constrained")[1]
    ax = _axes(ax, 1)
    ax.fill_between(
        x_grid,
        mean - total_sd,
        mean + total_sd,
        color="#fdbe85",  # light orange, opaque: what shows is what the legend shows
        linewidth=0,
        label="±2σ total (aleatoric + epistemic)",
    )
    ax.fill_between(
        x_grid,
        mean - alea_sd,
        mean + alea_sd,
        color="#9ecae1",  # light blue, opaque, drawn over the total band
        linewidth=0,
        label="±2σ aleatoric",
    )
    ax.plot(x_grid, mean, color="#08519c", label="mean")
    if y is not None:
        ax.scatter(X_arr[:, 0], y, s=8, color="k", alpha=0.6, label="data", zorder=3)
    ax.set_xlabel(str(getattr(X, "columns", ["x"])[0]))
    ax.set_ylabel("y")
    ax.set_title("Predictive mean and uncertainty")
    # Outside the axes, right of them: inside, it covered data or the bands
    # wherever it went (matplotlib's "best" does not see filled bands).
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small",
              borderaxespad=0.0)  # fmt: skip
    return ax
