"""Reliability diagrams: accuracy against confidence."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from ..metrics._classification import (
    _bin_edges,
    _binned_gap,
    _calibration_bins,
    _check_binning,
    _check_classification,
)
from ._common import _axes


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
    # Lower right: over the bars' bodies, not their tops. Confident bins
    # are mostly right, so their tops and dots sit high; upper left covered
    # a binary model's (its x axis runs from 0.5) high-accuracy dots.
    ax.legend(loc="lower right", fontsize="x-small", framealpha=0.8)
    strip = ax.inset_axes([0.0, -0.33, 1.0, 0.25], sharex=ax)
    strip.bar(lo, counts, width=width, align="edge", color=color, alpha=0.6)
    if sparse.any():
        strip.bar(lo[sparse], counts[sparse], width=width[sparse], align="edge",
                  color="white", hatch="//", edgecolor="0.7")  # fmt: skip
    strip.set_xlabel("Confidence")
    strip.set_ylabel("Count", fontsize="small")
    strip.tick_params(labelsize="small")
