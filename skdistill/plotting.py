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
    _bin_edges,
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


def _axes(ax, n: int, panel_size=None):
    """``n`` Axes: the given ones (checked), or those of a new figure."""
    if ax is None:
        plt = _pyplot()
        if panel_size is not None:  # a row of panels, laid out to fit insets
            width, height = panel_size
            fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
            # Fixed margins in inches: room for the insets under the panels,
            # which constrained layout would not see.
            fig.subplots_adjust(
                left=0.75 / (width * n),
                right=1 - 0.15 / (width * n),
                bottom=1.4 / height,
                top=1 - 0.65 / height,
                wspace=0.3,
            )
            return axes[0, 0] if n == 1 else axes[0]
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
    strategy: str = "auto",
    min_count: int = 5,
    ax=None,
):
    """Reliability diagrams: accuracy against confidence, one panel per model.

    Samples are binned on their top-class confidence. In each model's panel a
    bar per bin spans the bin and rises to the bin's accuracy, a dot marks
    the bin's mean confidence and accuracy, and the dashed diagonal is perfect
    calibration: dots below it are overconfident bins. A strip under the
    panel shows how many samples fell in each bin. Bins holding fewer than
    ``min_count`` samples say little; their bars are drawn faded and hatched
    and they get no dot. The panel title gives the model's expected
    calibration error (:func:`skdistill.metrics.expected_calibration_error`)
    with the same bins.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, of any type.
    probas : array-like of shape (n_samples, n_classes) or dict of str to array-like
        Predicted probabilities of one model, or of several models by name
        (one panel each). A binary problem may be given as one column.
    labels : array-like of shape (n_classes,), default=None
        The labels of the probability columns, in order (an estimator's
        ``classes_``); None means the sorted unique values of ``y_true``.
    n_bins : int, default=15
        Number of bins. With quantile bins it is lowered, if needed, to
        ``n_samples // min_count`` (at least 1) so that every bin can be drawn.
    strategy : {"auto", "uniform", "quantile"}, default="auto"
        ``"uniform"``: equal-width bins over [0, 1]. ``"quantile"``: bins
        holding (nearly) equal numbers of samples, which suits small test
        sets, where most equal-width bins would be nearly empty. ``"auto"``:
        quantile bins below 1,000 samples, uniform ones from 1,000 on.
    min_count : int, default=5
        Bins with fewer samples are drawn faded and without a dot.
    ax : matplotlib Axes or sequence of Axes, default=None
        Where to draw, one Axes per model (the count strip goes in an inset
        under each); a new figure with one panel per model if None.

    Returns
    -------
    ax : matplotlib Axes or ndarray of Axes
        The reliability panel, or one per model when there are several. The
        count strip of a panel is its inset, ``ax.child_axes[0]``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdistill.plotting import plot_reliability_diagram
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=500).fit(X, y)
    >>> ax = plot_reliability_diagram(y, {"logistic": clf.predict_proba(X)})
    >>> ax.get_title().splitlines()
    ['logistic', 'ECE 0.071 (15 quantile bins)']
    >>> ax.get_ylabel(), ax.child_axes[0].get_xlabel()
    ('Accuracy', 'Confidence')
    """
    if strategy not in ("auto", "uniform", "quantile"):
        raise ValueError(
            f"strategy must be 'auto', 'uniform' or 'quantile'; got {strategy!r}."
        )
    _check_binning(n_bins, "uniform")
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)):
        raise TypeError(f"min_count must be an int; got {min_count!r}.")
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1; got {min_count}.")
    if not isinstance(probas, Mapping):
        probas = {"model": probas}
    if len(probas) == 0:
        raise ValueError("probas is empty.")
    panels = []  # everything is validated before anything is drawn
    for name, proba in probas.items():
        y_idx, p, _ = _check_classification(y_true, proba, labels)
        n = p.shape[0]
        kind = strategy
        if kind == "auto":
            kind = "quantile" if n < 1000 else "uniform"
        bins = n_bins
        if kind == "quantile":
            bins = int(max(1, min(n_bins, n // min_count)))
        conf, hit = p.max(axis=1), p.argmax(axis=1) == y_idx
        edges = _bin_edges(conf, bins, kind)
        counts, mean_conf, acc = _calibration_bins(
            conf, hit, n_bins=bins, strategy=kind
        )
        ece = _binned_gap(conf, hit, bins, kind)
        panels.append(
            (str(name), edges, counts, mean_conf, acc, ece, bins, kind, p.shape[1])
        )
    axes = _axes(ax, len(panels), panel_size=(3.6, 4.6))
    for a, (name, edges, counts, mean_conf, acc, ece, bins, kind, k) in zip(
        np.ravel(axes), panels
    ):
        _reliability_panel(a, name, edges, counts, mean_conf, acc, ece, min_count)
        # No prediction is less confident than 1 / n_classes: the axis starts
        # there (half the width goes to the data of a binary problem).
        a.set_xlim(1.0 / max(k, 1) if k > 1 else 0.0, 1.0)
        a.set_title(f"{name}\nECE {ece:.3f} ({bins} {kind} bins)")
    return axes


def _reliability_panel(ax, name, edges, counts, mean_conf, acc, ece, min_count):
    """One model: accuracy bars, dots and the diagonal; counts in an inset below."""
    lo, width = edges[:-1], np.diff(edges)
    enough = counts >= min_count
    sparse = (counts > 0) & ~enough
    color = "tab:blue"
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    ax.bar(lo[enough], acc[enough], width=width[enough], align="edge",
           color=color, alpha=0.35, edgecolor=color, label="accuracy per bin")  # fmt: skip
    ax.plot(mean_conf[enough], acc[enough], marker="o", linestyle="-", color=color,
            markersize=4, clip_on=False,
            label="bin mean (confidence, accuracy)")  # fmt: skip
    if sparse.any():
        ax.bar(lo[sparse], acc[sparse], width=width[sparse], align="edge",
               color=color, alpha=0.1, hatch="//", edgecolor="0.7",
               label=f"< {min_count} samples (faded)")  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("Accuracy")
    ax.tick_params(labelbottom=False)
    ax.legend(loc="upper left", fontsize="x-small")
    strip = ax.inset_axes([0.0, -0.33, 1.0, 0.25], sharex=ax)
    strip.bar(lo, counts, width=width, align="edge", color=color, alpha=0.6)
    if sparse.any():
        strip.bar(lo[sparse], counts[sparse], width=width[sparse], align="edge",
                  color="white", hatch="//", edgecolor="0.7")  # fmt: skip
    strip.set_xlabel("Confidence")
    strip.set_ylabel("Count", fontsize="small")
    strip.tick_params(labelsize="small")


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
    sharex: bool = False,
    ax=None,
):
    """Histograms of total, aleatoric and epistemic uncertainty, two models overlaid.

    Three panels; in each the two histograms share their bins (spanning the
    union of both ranges) and are normalised as densities, the first model
    filled, the second as an outline (so neither hides the other), and the title gives
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
    sharex : bool, default=False
        Put the three panels on one x range (from the smallest to the largest
        value of any component), to compare the sizes of the components at a
        glance; each panel then has ``bins`` bins over that range. By default
        each panel spans its own component, which shows its shape better.
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
    everything = np.concatenate([u[p] for u in (teacher, student) for p in _COMPONENTS])
    shared = (everything.min(), everything.max())
    for a, part in zip(axes, _COMPONENTS):
        t, s = teacher[part], student[part]
        edges = np.histogram_bin_edges(
            np.concatenate([t, s]), bins=bins, range=shared if sharex else None
        )
        a.hist(t, bins=edges, density=True, histtype="stepfilled",
               color="tab:blue", alpha=0.4, label=names[0])  # fmt: skip
        a.hist(s, bins=edges, density=True, histtype="step", color="tab:orange",
               linewidth=2, label=names[1])  # fmt: skip
        tv = uncertainty_tv(t, s, bins=edges)
        a.set_title(f"{part.capitalize()} (TV {tv:.3f})")
        a.set_xlabel(f"{part} uncertainty (nats)")
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
    """Decision regions and epistemic uncertainty of classifiers on 2-D inputs.

    Two panels per model over a grid covering the data (plus a 10% margin):
    the predicted class (arg-max of ``predict_proba``) and the epistemic
    uncertainty (``predict_uncertainty(grid).epistemic``, in nats); both show
    the training points coloured by class. Given several models, all their
    epistemic maps share one colour scale, from 0 to the largest value of any
    of them, with one colour bar, so a darker map means less disagreement. A
    model whose epistemic uncertainty is 0 everywhere (a one-head student
    cannot disagree with itself) gets a note saying so on its map.

    Parameters
    ----------
    estimator : fitted classifier or dict of str to fitted classifier
        Has ``predict_proba`` and ``predict_uncertainty`` (and, optionally,
        ``classes_`` to match colours to ``y``). A dict draws one row per
        model, titled with its name.
    X : array-like of shape (n_samples, 2)
        Training inputs; exactly two features.
    y : array-like of shape (n_samples,)
        Their labels.
    grid_resolution : int, default=100
        Grid points along each axis.
    ax : sequence of two matplotlib Axes, or array of shape (n_models, 2), default=None
        Where to draw; a new figure with a row of two panels per model if None.

    Returns
    -------
    axes : ndarray of matplotlib Axes
        Decision map and epistemic map: shape (2,) for one estimator, shape
        (n_models, 2) for a dict.

    Raises
    ------
    ValueError
        If ``X`` does not have exactly two features, or ``y`` has another length.
    TypeError
        If an estimator lacks ``predict_proba`` or ``predict_uncertainty``.

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
    several = isinstance(estimator, Mapping)
    models = dict(estimator) if several else {None: estimator}
    if not models:
        raise ValueError("estimator is an empty dict.")
    for est in models.values():
        for method in ("predict_proba", "predict_uncertainty"):
            if not hasattr(est, method):
                raise TypeError(f"estimator has no {method} method.")
    lo, hi = X_arr.min(axis=0), X_arr.max(axis=0)
    margin = 0.1 * np.where(hi > lo, hi - lo, 1.0)
    g0 = np.linspace(lo[0] - margin[0], hi[0] + margin[0], int(grid_resolution))
    g1 = np.linspace(lo[1] - margin[1], hi[1] + margin[1], int(grid_resolution))
    xx, yy = np.meshgrid(g0, g1)
    grid = _like_input(X, np.c_[xx.ravel(), yy.ravel()])
    maps = []
    for est in models.values():
        proba = np.asarray(est.predict_proba(grid))
        epistemic = np.asarray(est.predict_uncertainty(grid).epistemic)
        maps.append((proba, epistemic.reshape(xx.shape)))
    # Uncertainty is never negative: the shared scale starts at 0, and if no
    # model has any (one-head students only), it is a short scale from 0.
    top = max(float(np.max(epistemic)) for _, epistemic in maps)
    top = top if top > 0 else 1e-3

    if ax is None:
        plt = _pyplot()
        n = len(models)
        fig, axes = plt.subplots(
            n, 2, figsize=(10, 4.2 * n), layout="constrained", squeeze=False
        )
    else:
        axes = np.asarray(ax, dtype=object).reshape(-1, 2)
        if axes.shape[0] != len(models):
            raise ValueError(
                f"ax must hold {2 * len(models)} Axes (two per model); got {axes.size}."
            )
    for row, (name, est), (proba, epistemic) in zip(axes, models.items(), maps):
        mesh = _decision_row(row, est, X, X_arr, y, xx, yy, proba, epistemic, top)
        if name is None:
            row[0].set_title("Predicted class")
            row[1].set_title("Epistemic uncertainty")
        else:
            row[0].set_title(f"{name}: predicted class")
            row[1].set_title(f"{name}: epistemic uncertainty")
    if several:
        axes[0, 1].figure.colorbar(
            mesh,
            ax=list(axes[:, 1]),
            shrink=0.6,
            label="epistemic (nats), one scale for all",
        )
        return axes
    axes = axes[0]
    axes[1].figure.colorbar(mesh, ax=axes[1], label="epistemic (nats)")
    return axes


def _one_head(estimator, X) -> bool:
    """Whether ``estimator`` predicts with a single member or head."""
    if not hasattr(estimator, "predict_members"):
        return False
    members = estimator.predict_members(X)
    if isinstance(members, tuple):  # regression: (means, variances)
        members = members[0]
    return np.asarray(members).shape[0] == 1


def _decision_row(row, estimator, X, X_arr, y, xx, yy, proba, epistemic, top):
    """Decision map and epistemic map of one model; returns the epistemic mesh."""
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        classes = np.unique(y)
    y_idx = _check_labels(y, classes)[0]  # colour index of each point
    n_colors = max(proba.shape[1], 2)
    decision = proba.argmax(axis=1).reshape(xx.shape)
    cmap = "tab10" if n_colors <= 10 else "tab20"
    row[0].pcolormesh(xx, yy, decision, cmap=cmap, vmin=0, vmax=n_colors - 1,
                      alpha=0.35, shading="auto")  # fmt: skip
    mesh = row[1].pcolormesh(
        xx, yy, epistemic, cmap="viridis", shading="auto", vmin=0.0, vmax=top
    )
    if not np.any(epistemic > 0):
        corner = _like_input(X, X_arr[:1])
        text = (
            "one head:\nno epistemic uncertainty"
            if _one_head(estimator, corner)
            else "no epistemic uncertainty:\n0 everywhere"
        )
        row[1].text(0.5, 0.5, text, transform=row[1].transAxes, ha="center",
                    va="center", fontsize="large",
                    bbox=dict(facecolor="white", alpha=0.85, edgecolor="0.5"),
                    zorder=5)  # fmt: skip
    names = getattr(X, "columns", ["x0", "x1"])
    for a in row:
        a.scatter(X_arr[:, 0], X_arr[:, 1], c=y_idx, cmap=cmap, vmin=0,
                  vmax=n_colors - 1, edgecolors="k", s=15)  # fmt: skip
        a.set_xlabel(str(names[0]))
        a.set_ylabel(str(names[1]))
    return mesh


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
    wherever they overlap. The data are drawn as points when ``y`` is given.

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
    ax.legend()
    return ax
