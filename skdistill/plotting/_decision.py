"""Decision regions and epistemic uncertainty of classifiers on 2-D inputs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from ..metrics._classification import _check_labels
from ..uncertainty import _as_float_array
from ._common import _like_input, _pyplot


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
    the training points coloured by class, and a key names the classes (under
    the panels in a new figure; on the decision map when ``ax`` is given, or
    when the models' classes differ). Given several models, all their
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
    keys = [_class_key(est, y, proba.shape[1]) for est, (proba, _) in
            zip(models.values(), maps)]  # fmt: skip
    shared = ax is None and all(
        np.array_equal(labels, keys[0][0]) for labels, _ in keys
    )
    for row, (name, est), (proba, epistemic), (labels, cmap) in zip(
        axes, models.items(), maps, keys
    ):
        mesh = _decision_row(
            row, X, X_arr, y, xx, yy, proba, epistemic, top, labels, cmap, est
        )
        if not shared:
            row[0].legend(handles=_key_handles(labels, cmap), title="class",
                          loc="best", fontsize="small", framealpha=0.85)  # fmt: skip
        if name is None:
            row[0].set_title("Predicted class")
            row[1].set_title("Epistemic uncertainty")
        else:
            row[0].set_title(f"{name}: predicted class")
            row[1].set_title(f"{name}: epistemic uncertainty")
    if shared:
        labels, cmap = keys[0]
        axes[0, 0].figure.legend(
            handles=_key_handles(labels, cmap),
            title="class",
            loc="outside lower center",
            ncol=min(len(labels), 6),
            fontsize="small",
        )
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


def _class_key(estimator, y, n_outputs):
    """The classes a model's columns stand for, and one colour for each."""
    from matplotlib.colors import ListedColormap

    classes = getattr(estimator, "classes_", None)
    if classes is None:
        classes = np.unique(y)
    n_colors = max(n_outputs, len(classes), 2)
    base = _pyplot().get_cmap("tab10" if n_colors <= 10 else "tab20").colors
    colors = [base[i % len(base)] for i in range(n_colors)]
    return np.asarray(classes), ListedColormap(colors)


def _key_handles(labels, cmap):
    """Legend entries: a patch in each class's colour, named after the class."""
    from matplotlib.patches import Patch

    return [
        Patch(facecolor=cmap(i), edgecolor="k", label=str(label))
        for i, label in enumerate(labels)
    ]


def _decision_row(row, X, X_arr, y, xx, yy, proba, epistemic, top, classes, cmap,
                  estimator):  # fmt: skip
    """Decision map and epistemic map of one model; returns the epistemic mesh."""
    y_idx = _check_labels(y, classes)[0]  # colour index of each point
    top_color = cmap.N - 1
    decision = proba.argmax(axis=1).reshape(xx.shape)
    row[0].pcolormesh(xx, yy, decision, cmap=cmap, vmin=0, vmax=top_color,
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
                  vmax=top_color, edgecolors="k", s=15)  # fmt: skip
        a.set_xlabel(str(names[0]))
        a.set_ylabel(str(names[1]))
    return mesh
