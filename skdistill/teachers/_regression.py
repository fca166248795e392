"""Regression member outputs: a mean and a variance per member and sample.

Two ways to compute them, chosen by the adapter (:mod:`._adapters`): member
estimators called one by one (:func:`member_gaussians`), whose variance is
chosen per kind of member (see the package docstring, "Regression
variances"), or one ``predict_members`` call that returns every member's
means and variances at once (:func:`stacked_gaussians`).
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeRegressor

from ..uncertainty import VARIANCE_FLOOR
from ._common import (
    MIN_VARIANCE_FRACTION,
    _batches,
    _n_rows,
    _name,
    _rows,
)

_MSE_CRITERIA = ("squared_error", "friedman_mse")


def _as_1d(pred, where: str) -> np.ndarray:
    pred = np.asarray(pred, dtype=np.float64)
    if pred.ndim == 2 and pred.shape[1] == 1:
        pred = pred[:, 0]
    if pred.ndim != 1:
        raise ValueError(
            f"{where} returned predictions of shape {pred.shape}; only "
            "single-output regression teachers are supported"
        )
    return pred


def _variance_kind(est) -> str:
    """How a member's variance is found: its leaves, ``return_std`` or residuals."""
    if isinstance(est, DecisionTreeRegressor):
        if est.n_outputs_ != 1:
            raise ValueError(f"multi-output trees are not supported ({_name(est)})")
        return "tree" if est.criterion in _MSE_CRITERIA else "tree_y"
    # A Pipeline's predict takes ``**params`` and hands them to its last step:
    # whether it gives a variance is that step's matter.
    last = est[-1] if isinstance(est, Pipeline) else est
    try:
        params = inspect.signature(last.predict).parameters
    except (TypeError, ValueError):
        params = {}
    return "std" if "return_std" in params else "residual"


def _relative_floor(variance: float) -> float:
    """``MIN_VARIANCE_FRACTION`` of a variance of ``y``: the floor in y's units.

    Relative, so that a student learns the same in any unit of ``y`` (an
    absolute floor of 1e-12 raised every variance of a target measured in
    units of 1e-6 to it); ``VARIANCE_FLOOR`` only where ``y`` does not vary.
    """
    floor = MIN_VARIANCE_FRACTION * float(variance)
    return floor if floor > 0 else VARIANCE_FLOOR


def _floor(y) -> float:
    """The variance floor: relative to ``Var(y)``; without ``y`` (new rows),
    only positive (a caller that knows y's scale floors in it: the distillers
    floor the standardised variances at ``MIN_VARIANCE_FRACTION``)."""
    if y is None:
        return float(np.finfo(np.float64).tiny)
    return _relative_floor(np.var(y) if len(y) > 1 else 0.0)


def _leaf_spread(leaves, y, prediction, n_nodes) -> np.ndarray:
    """Mean squared deviation of ``y`` from the prediction, within each leaf."""
    counts = np.bincount(leaves, minlength=n_nodes)
    sq = np.bincount(leaves, weights=(y - prediction) ** 2, minlength=n_nodes)
    return (sq / np.maximum(counts, 1))[leaves]


def _check_regression(mean, variance, where: str) -> None:
    if not np.all(np.isfinite(mean)):
        raise ValueError(f"{where} returned NaN or infinite predictions")
    if not np.all(np.isfinite(variance)) or np.any(variance < 0):
        raise ValueError(f"{where} returned NaN, infinite or negative variances")


def member_gaussians(members, X, y, batch_size) -> tuple[np.ndarray, np.ndarray]:
    """``(means, variances)`` of member estimators called one by one, in batches.

    ``members`` are ``Member`` tuples; ``y`` (validated, or None) gives the
    variance of point regressors and of trees grown with a criterion other
    than squared error, and the floor of every variance that is not a tree's.
    """
    n = _n_rows(X)
    means = np.empty((len(members), n))
    variances = np.empty((len(members), n))
    floored = counted = 0
    for m, (est, feats, _, where) in enumerate(members):
        kind = _variance_kind(est)
        if kind in ("residual", "tree_y") and y is None:
            raise ValueError(
                f"{where} predicts no variance; it is estimated from the member's "
                "errors on the training data, so pass y (the targets of X)"
            )
        leaves = np.empty(n, dtype=np.intp) if kind == "tree_y" else None
        for start, stop in _batches(n, batch_size):
            Xb = _rows(X, start, stop, feats)
            if kind in ("tree", "tree_y"):
                leaf = est.apply(Xb)
                means[m, start:stop] = est.tree_.value[leaf, 0, 0]
                if kind == "tree":  # E[y^2] - E[y]^2 may round below 0
                    variances[m, start:stop] = np.maximum(est.tree_.impurity[leaf], 0)
                else:
                    leaves[start:stop] = leaf
            elif kind == "std":
                mean, std = est.predict(Xb, return_std=True)
                means[m, start:stop] = _as_1d(mean, where)
                variances[m, start:stop] = _as_1d(std, where) ** 2
            else:
                means[m, start:stop] = _as_1d(est.predict(Xb), where)
        if kind == "tree":
            floor = _relative_floor(est.tree_.impurity[0])
        else:
            floor = _floor(y)
        if kind == "tree_y":
            variances[m] = _leaf_spread(leaves, y, means[m], est.tree_.node_count)
        elif kind == "residual":
            variances[m] = np.mean((y - means[m]) ** 2)
        _check_regression(means[m], variances[m], where)
        if kind in ("tree", "tree_y"):
            floored += int(np.count_nonzero(variances[m] <= floor))
            counted += n
        np.maximum(variances[m], floor, out=variances[m])
    if counted and floored > counted / 2:
        warnings.warn(
            f"{floored / counted:.0%} of the tree members' leaf variances are at "
            f"the floor ({MIN_VARIANCE_FRACTION:g} x the target variance): the "
            "trees are grown to (nearly) pure leaves, so the teacher's aleatoric "
            "uncertainty is underestimated; grow it with a larger min_samples_leaf",
            UserWarning,
            stacklevel=4,
        )
    return means, variances


def stacked_gaussians(teacher, X, y, batch_size) -> tuple[np.ndarray, np.ndarray]:
    """``(means, variances)`` of every member at once, from ``predict_members``.

    Each member's outputs are checked; the variances are floored as a point
    regressor's are (``MIN_VARIANCE_FRACTION`` times ``Var(y)`` when ``y`` is
    given).
    """
    n, means, variances = _n_rows(X), None, None
    for start, stop in _batches(n, batch_size):
        out = teacher.predict_members(_rows(X, start, stop))
        if not isinstance(out, tuple) or len(out) != 2:
            raise ValueError(
                f"{_name(teacher)}.predict_members must return (means, variances) "
                "for a regressor"
            )
        mu, var = (np.asarray(a, dtype=np.float64) for a in out)
        if mu.ndim != 2 or mu.shape[1] != stop - start or var.shape != mu.shape:
            raise ValueError(
                f"{_name(teacher)}.predict_members returned shapes {mu.shape} and "
                f"{var.shape}; expected (n_members, {stop - start}) each"
            )
        if means is None:
            means = np.empty((mu.shape[0], n))
            variances = np.empty((mu.shape[0], n))
        means[:, start:stop] = mu
        variances[:, start:stop] = var
    floor = _floor(y)
    for m in range(means.shape[0]):
        _check_regression(means[m], variances[m], f"member {m} of {_name(teacher)}")
    return means, np.maximum(variances, floor)
