"""Pictures of calibration and uncertainty.

matplotlib is an optional dependency (``pip install skdistill[plot]``); it is
imported inside each function, never when this module is imported. Every
function draws on the ``ax`` it is given, or on a new figure, and returns the
Axes (or an array of Axes) so the caller can adjust and save.

Estimator arguments are duck-typed: anything with ``predict_proba``,
``predict_uncertainty`` or ``predict_members`` as each function needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from .metrics._classification import (
    _binned_gap,
    _calibration_bins,
    _check_binning,
    _check_classification,
    _check_labels,
)
from .metrics._ensemble import uncertainty_tv
from .uncertainty import _as_float_array, regression_uncertainty

__all__ = [
    "plot_decision_and_uncertainty",
    "plot_regression_band",
    "plot_reliability_diagram",
    "plot_uncertainty_histograms",
]

_COMPONENTS = ("total", "aleatoric", "epistemic")


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "skdistill.plotting needs matplotlib: pip install 'skdistill[plot]'."
        ) from exc
    return plt


def _axes(ax, n: int):
    """``n`` Axes: the given ones (checked), or those of a new figure."""
    if ax is None:
        plt = _pyplot()
        if n == 1:
            return plt.subplots(figsize=(5, 5))[1]
        return np.asarray(plt.subplots(1, n, figsize=(4.5 * n, 4), squeeze=True)[1])
    if n == 1:
        return ax
    axes = np.asarray(ax, dtype=object).ravel()
    if axes.shape[0] != n:
        raise ValueError(f"ax must hold {n} Axes; got {axes.shape[0]}.")
    return axes


def _like_input(X, grid: np.ndarray):
    """``grid`` as a DataFrame when ``X`` is one, so feature names match."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return grid
    import pandas as pd

    return pd.DataFrame(grid, columns=columns)


def plot_reliability_diagram(
    y_true: ArrayLike,
    probas,
    *,
    labels: ArrayLike | None = None,
    n_bins: int = 15,
    ax=None,
):
    """Reliability diagram: accuracy against confidence, one line per model.

    Samples are binned on their top-class confidence into ``n_bins``
    equal-width bins ``(lo, hi]``; each non-empty bin is drawn at its mean
    confidence and accuracy. The diagonal is perfect calibration. Each model's
    legend entry gives its expected calibration error.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, of any type.
    probas : array-like of shape (n_samples, n_classes) or dict of str to array-like
        Predicted probabilities of one model, or of several models by name
        (overlaid in one plot). A binary problem may be given as one column.
    labels : array-like of shape (n_classes,), default=None
        The labels of the probability columns, in order (an estimator's
        ``classes_``); None means the sorted unique values of ``y_true``.
    n_bins : int, default=15
        Number of bins.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure if None.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdistill.plotting import plot_reliability_diagram
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=500).fit(X, y)
    >>> ax = plot_reliability_diagram(y, {"logistic": clf.predict_proba(X)})
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('Confidence', 'Accuracy')
    """
    _check_binning(n_bins, "uniform")
    if not isinstance(probas, Mapping):
        probas = {"model": probas}
    if len(probas) == 0:
        raise ValueError("probas is empty.")
    curves = []  # everything is validated before anything is drawn
    for name, proba in probas.items():
        y_idx, p, _ = _check_classification(y_true, proba, labels)
        conf, hit = p.max(axis=1), p.argmax(axis=1) == y_idx
        counts, mean_conf, acc = _calibration_bins(conf, hit, n_bins=n_bins)
        full = counts > 0
        ece = _binned_gap(conf, hit, n_bins, "uniform")
        curves.append((mean_conf[full], acc[full], f"{name} (ECE {ece:.3f})"))
    ax = _axes(ax, 1)
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="Perfect calibration")
    for x, y, label in curves:
        ax.plot(x, y, marker="o", label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Confidence")
    ax.set_ylabel("Accuracy")
    ax.set_title("Reliability diagram")
    ax.legend(loc="upper left")
    return ax


def _components(unc, X, name: str) -> dict:
    """total / aleatoric / epistemic arrays from a Bunch-like or an estimator."""
    if hasattr(unc, "predict_uncertainty"):
        if X is None:
            raise ValueError(
                f"{name} is an estimator: pass X= to compute its uncertainty."
            )
        unc = unc.predict_uncertainty(X)
    out = {}
    for part in _COMPONENTS:
        if isinstance(unc, Mapping) or hasattr(unc, "columns"):  # Bunch, dict, frame
            if part not in unc:
                raise TypeError(
                    f"{name} must have total, aleatoric and epistemic (a Bunch "
                    f"from predict_uncertainty); '{part}' is missing."
                )
            value = unc[part]
        elif hasattr(unc, part):
            value = getattr(unc, part)
        else:
            raise TypeError(
                f"{name} must have total, aleatoric and epistemic (a Bunch from "
                f"predict_uncertainty) or be an estimator with predict_uncertainty; "
                f"got {type(unc).__name__}."
            )
        value = _as_float_array(value, f"{name}.{part}").ravel()
        if value.shape[0] == 0:
            raise ValueError(f"{name}.{part} is empty.")
        out[part] = value
    return out


def plot_uncertainty_histograms(
    teacher_unc,
    student_unc,
    *,
    names: Sequence[str] = ("teacher", "student"),
    bins: int = 30,
    X: ArrayLike | None = None,
    ax=None,
):
    """Histograms of total, aleatoric and epistemic uncertainty, two models overlaid.

    Three panels; in each the two histograms share their bins (spanning the
    union of both ranges) and are normalised as densities, and the title gives
    their total variation distance (:func:`skdistill.metrics.uncertainty_tv`).

    Parameters
    ----------
    teacher_unc, student_unc : Bunch, mapping or estimator
        Uncertainties with ``total``, ``aleatoric`` and ``epistemic`` (what
        ``predict_uncertainty`` returns, a dict, a DataFrame), or fitted
        estimators with ``predict_uncertainty``, which is then called on ``X``.
    names : sequence of two str, default=("teacher", "student")
        Legend names.
    bins : int, default=30
        Number of bins per panel.
    X : array-like, default=None
        Inputs, needed when an estimator is passed.
    ax : sequence of three matplotlib Axes, default=None
        Where to draw; a new figure with three panels if None.

    Returns
    -------
    axes : ndarray of three matplotlib Axes
        Total, aleatoric, epistemic.

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill.plotting import plot_uncertainty_histograms
    >>> from skdistill.uncertainty import classification_uncertainty
    >>> rng = np.random.default_rng(0)
    >>> teacher = classification_uncertainty(rng.dirichlet([1, 1, 1], (5, 50)))
    >>> student = classification_uncertainty(rng.dirichlet([2, 2, 2], (3, 50)))
    >>> axes = plot_uncertainty_histograms(teacher, student)
    >>> [a.get_title().split()[0] for a in axes]
    ['Total', 'Aleatoric', 'Epistemic']
    """
    if isinstance(names, str) or len(names) != 2:
        raise ValueError(f"names must be two strings; got {names!r}.")
    teacher = _components(teacher_unc, X, "teacher_unc")
    student = _components(student_unc, X, "student_unc")
    axes = _axes(ax, 3)
    for a, part in zip(axes, _COMPONENTS):
        t, s = teacher[part], student[part]
        edges = np.histogram_bin_edges(np.concatenate([t, s]), bins=bins)
        for values, name in zip((t, s), names):
            a.hist(
                values,
                bins=edges,
                density=True,
                histtype="stepfilled",
                alpha=0.45,
                label=name,
            )
        tv = uncertainty_tv(t, s, bins=edges)
        a.set_title(f"{part.capitalize()} (TV {tv:.3f})")
        a.set_xlabel(f"{part} uncertainty")
        a.set_ylabel("Density")
        a.legend()
    return axes


def plot_decision_and_uncertainty(
    estimator,
    X: ArrayLike,
    y: ArrayLike,
    *,
    grid_resolution: int = 100,
    ax=None,
):
    """Decision regions and epistemic uncertainty of a classifier on 2-D inputs.

    Two panels over a grid covering the data (plus a 10% margin): the
    predicted class (arg-max of ``predict_proba``) and the epistemic
    uncertainty (``predict_uncertainty(grid).epistemic``, in nats, with a
    colour bar); both show the training points coloured by class.

    Parameters
    ----------
    estimator : fitted classifier
        Has ``predict_proba`` and ``predict_uncertainty`` (and, optionally,
        ``classes_`` to match colours to ``y``).
    X : array-like of shape (n_samples, 2)
        Training inputs; exactly two features.
    y : array-like of shape (n_samples,)
        Their labels.
    grid_resolution : int, default=100
        Grid points along each axis.
    ax : sequence of two matplotlib Axes, default=None
        Where to draw; a new figure with two panels if None.

    Returns
    -------
    axes : ndarray of two matplotlib Axes
        Decision map, epistemic map.

    Raises
    ------
    ValueError
        If ``X`` does not have exactly two features, or ``y`` has another length.
    TypeError
        If ``estimator`` lacks ``predict_proba`` or ``predict_uncertainty``.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from skdistill import EnsembleClassifier
    >>> from skdistill.plotting import plot_decision_and_uncertainty
    >>> X, y = make_moons(200, noise=0.2, random_state=0)
    >>> ens = EnsembleClassifier(n_members=5, max_epochs=50).fit(X, y)  # doctest: +SKIP
    >>> axes = plot_decision_and_uncertainty(ens, X, y)  # doctest: +SKIP
    >>> axes[0].figure.savefig("moons.png")  # doctest: +SKIP
    """
    X_arr = _as_float_array(X, "X")
    if X_arr.ndim != 2 or X_arr.shape[1] != 2:
        raise ValueError(
            f"X must be 2-D with exactly 2 features for a 2-D map; got shape "
            f"{X_arr.shape}."
        )
    y = np.asarray(y)
    if y.shape != (X_arr.shape[0],):
        raise ValueError(
            f"y must be 1-D with one label per row of X ({X_arr.shape[0]}); "
            f"got shape {y.shape}."
        )
    if int(grid_resolution) < 2:
        raise ValueError(f"grid_resolution must be at least 2; got {grid_resolution}.")
    for method in ("predict_proba", "predict_uncertainty"):
        if not hasattr(estimator, method):
            raise TypeError(f"estimator has no {method} method.")
    lo, hi = X_arr.min(axis=0), X_arr.max(axis=0)
    margin = 0.1 * np.where(hi > lo, hi - lo, 1.0)
    g0 = np.linspace(lo[0] - margin[0], hi[0] + margin[0], int(grid_resolution))
    g1 = np.linspace(lo[1] - margin[1], hi[1] + margin[1], int(grid_resolution))
    xx, yy = np.meshgrid(g0, g1)
    grid = _like_input(X, np.c_[xx.ravel(), yy.ravel()])
    proba = np.asarray(estimator.predict_proba(grid))
    decision = proba.argmax(axis=1).reshape(xx.shape)
    epistemic = np.asarray(estimator.predict_uncertainty(grid).epistemic)
    epistemic = epistemic.reshape(xx.shape)
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        classes = np.unique(y)
    y_idx = _check_labels(y, classes)[0]  # colour index of each point
    n_colors = max(proba.shape[1], 2)

    axes = _axes(ax, 2)
    cmap = "tab10" if n_colors <= 10 else "tab20"
    axes[0].pcolormesh(
        xx,
        yy,
        decision,
        cmap=cmap,
        vmin=0,
        vmax=n_colors - 1,
        alpha=0.35,
        shading="auto",
    )
    # Uncertainty is never negative: the scale starts at 0, and a model with
    # none at all (a one-head student) gets a short scale from 0, not one
    # centred on 0.
    top = float(np.max(epistemic)) if np.max(epistemic) > 0 else 1e-3
    mesh = axes[1].pcolormesh(
        xx, yy, epistemic, cmap="viridis", shading="auto", vmin=0.0, vmax=top
    )
    axes[1].figure.colorbar(mesh, ax=axes[1], label="epistemic (nats)")
    for a in axes:
        a.scatter(
            X_arr[:, 0],
            X_arr[:, 1],
            c=y_idx,
            cmap=cmap,
            vmin=0,
            vmax=n_colors - 1,
            edgecolors="k",
            s=15,
        )
        names = getattr(X, "columns", ["x0", "x1"])
        a.set_xlabel(str(names[0]))
        a.set_ylabel(str(names[1]))
    axes[0].set_title("Predicted class")
    axes[1].set_title("Epistemic uncertainty")
    return axes


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
    outer band outside the inner one is the epistemic contribution. The data
    are drawn as points when ``y`` is given.

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

    ax = _axes(ax, 1)
    ax.fill_between(
        x_grid,
        mean - total_sd,
        mean + total_sd,
        color="tab:orange",
        alpha=0.3,
        label="±2σ total (aleatoric + epistemic)",
    )
    ax.fill_between(
        x_grid,
        mean - alea_sd,
        mean + alea_sd,
        color="tab:blue",
        alpha=0.3,
        label="±2σ aleatoric",
    )
    ax.plot(x_grid, mean, color="tab:blue", label="mean")
    if y is not None:
        ax.scatter(X_arr[:, 0], y, s=10, color="k", label="data")
    ax.set_xlabel(str(getattr(X, "columns", ["x"])[0]))
    ax.set_ylabel("y")
    ax.set_title("Predictive mean and uncertainty")
    ax.legend()
    return ax
