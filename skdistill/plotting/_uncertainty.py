"""Histograms of the uncertainty decomposition of two models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..metrics._ensemble import uncertainty_tv
from ..uncertainty import _as_float_array
from ._common import _axes

_COMPONENTS = ("total", "aleatoric", "epistemic")


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
    units: str | None = "auto",
    ax=None,
):
    """Histograms of total, aleatoric and epistemic uncertainty, two models overlaid.

    Three panels; in each the two histograms share their bins (spanning the
    union of both ranges) and are normalised as densities, the first model
    filled, the second as an outline (so neither hides the other), and the title gives
    their total variation distance (:func:`skdistill.metrics.uncertainty_tv`
    at its default binning, whatever the panel's bins and range).

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
    units : str, "auto" or None, default="auto"
        The unit in the x labels. ``"auto"``: from the estimators passed,
        ``"nats"`` for classifiers (entropies) and ``"variance, y units²"``
        for regressors (variances of the target); none with uncertainties
        passed as data (pass ``units="nats"`` for entropies). None: no unit.
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
    unit = _unit(units, teacher_unc, student_unc)
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
        # The metric's own bins: with sharex the display bins span every
        # component, and two different small samples could share one bin.
        tv = uncertainty_tv(t, s)
        a.set_title(f"{part.capitalize()} (TV {tv:.3f})")
        a.set_xlabel(f"{part} uncertainty" + (f" ({unit})" if unit else ""))
        a.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        a.set_ylabel("Density")
        a.legend()
    return axes


def _unit(units, *uncs):
    """The x labels' unit (see ``plot_uncertainty_histograms``' ``units``)."""
    if units != "auto":
        return units
    kinds = set()
    for u in uncs:
        if not hasattr(u, "predict_uncertainty"):
            continue
        # A distiller is fitted for either task (task_); a classifier has
        # classes_ once fitted, which a duck-typed one has too.
        task = getattr(u, "task_", None)
        if task is None:
            task = "classification" if hasattr(u, "classes_") else "regression"
        kinds.add(task)
    if kinds == {"regression"}:
        return "variance, y units²"
    if kinds == {"classification"}:
        return "nats"
    return None  # data alone does not say whether it is entropies or variances
