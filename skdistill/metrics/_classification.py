"""Proper scores and calibration errors of predicted class probabilities."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..uncertainty import _as_float_array, _check_proba_values

__all__ = [
    "brier_score",
    "classwise_expected_calibration_error",
    "expected_calibration_error",
    "negative_log_likelihood",
]

#: Probabilities are clipped to [PROBA_EPS, 1] before a logarithm is taken.
PROBA_EPS = float(np.finfo(np.float64).eps)

_STRATEGIES = ("uniform", "quantile")


def _missing(value) -> bool:
    """Whether an object label is missing: NaN, None or pandas' NA."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN is the one value unequal to itself
    except TypeError:  # pd.NA: its comparisons are NA, whose truth is ambiguous
        return True


def _check_labels(y_true, labels) -> tuple[np.ndarray, np.ndarray]:
    """Encode ``y_true`` as column indices into ``labels``.

    Returns ``(y_idx, classes)``: ``classes`` is ``labels`` as given (column j
    of the probabilities belongs to ``classes[j]``), or the sorted unique values
    of ``y_true`` when ``labels`` is None.
    """
    y = np.asarray(y_true)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D; got shape {y.shape}.")
    if y.shape[0] == 0:
        raise ValueError("y_true is empty.")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise ValueError("y_true contains NaN.")
    if y.dtype.kind == "O" and any(_missing(v) for v in y):
        raise ValueError("y_true contains missing values (NaN, None or pd.NA).")
    if labels is None:
        classes = np.unique(y)
    else:
        classes = np.asarray(labels)
        if classes.ndim != 1 or classes.shape[0] == 0:
            raise ValueError("labels must be a non-empty 1-D sequence.")
        if np.unique(classes).shape[0] != classes.shape[0]:
            raise ValueError("labels contains duplicates.")
    try:
        order = np.argsort(classes, kind="stable")
        pos = np.searchsorted(classes, y, sorter=order)
        y_idx = order[np.minimum(pos, classes.shape[0] - 1)]
        unknown = np.asarray(classes[y_idx] != y, dtype=bool)
    except TypeError as exc:
        raise ValueError(
            f"y_true (dtype {y.dtype}) and labels (dtype {classes.dtype}) cannot "
            f"be compared: {exc}"
        ) from exc
    if np.any(unknown):
        missing = np.unique(y[unknown])
        raise ValueError(
            f"y_true contains labels that are not in labels: {missing[:5].tolist()}."
        )
    return y_idx, classes


def _check_classification(
    y_true, y_proba, labels
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate targets and probabilities; returns ``(y_idx, proba, classes)``.

    ``proba`` is always ``(n_samples, n_classes)``: a binary problem given as
    one column (the probability of ``classes[1]``) is widened to two.
    """
    y_idx, classes = _check_labels(y_true, labels)
    p = _as_float_array(y_proba, "y_proba")
    if p.ndim == 1:
        p = p[:, None]
    if p.ndim != 2:
        raise ValueError(
            f"y_proba must be 1-D or 2-D (n_samples, n_classes); got shape {p.shape}."
        )
    if p.shape[0] != y_idx.shape[0]:
        raise ValueError(
            f"y_true and y_proba have different numbers of samples "
            f"({y_idx.shape[0]} and {p.shape[0]})."
        )
    n_classes = classes.shape[0]
    if p.shape[1] == 1:
        if n_classes != 2:
            hint = " Pass labels= explicitly." if labels is None else ""
            raise ValueError(
                "y_proba with one column means a binary problem (the probability "
                f"of the second label), but there are {n_classes} labels: "
                f"{classes[:5].tolist()}.{hint}"
            )
        _check_proba_values(p, "y_proba", check_sum=False)
        p = np.hstack([1.0 - p, p])
    elif p.shape[1] != n_classes:
        hint = (
            " y_true may lack some classes: pass labels= (e.g. estimator.classes_)."
            if labels is None
            else ""
        )
        raise ValueError(
            f"y_proba has {p.shape[1]} columns but there are {n_classes} labels "
            f"{classes[:5].tolist()}.{hint}"
        )
    else:
        _check_proba_values(p, "y_proba")
    return y_idx, p, classes


def _check_binning(n_bins, strategy) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)):
        raise TypeError(f"n_bins must be an int; got {n_bins!r}.")
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1; got {n_bins}.")
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {_STRATEGIES}; got {strategy!r}.")


def _bin_edges(values: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    return np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1))


def _calibration_bins(
    confidence: np.ndarray,
    hit: np.ndarray,
    *,
    n_bins: int = 15,
    strategy: str = "uniform",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin sample counts, mean confidence and mean hit rate.

    Bins are half-open on the left, ``(lo, hi]``; a value at or below the first
    edge goes into the first bin. Empty bins have count 0 and NaN means.
    """
    edges = _bin_edges(confidence, n_bins, strategy)
    ids = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(ids, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(ids, weights=confidence, minlength=n_bins) / counts
        acc = (
            np.bincount(ids, weights=hit.astype(np.float64), minlength=n_bins) / counts
        )
    return counts, conf, acc


def _binned_gap(confidence, hit, n_bins, strategy) -> float:
    counts, conf, acc = _calibration_bins(
        confidence, hit, n_bins=n_bins, strategy=strategy
    )
    full = counts > 0
    return float(np.sum(counts[full] * np.abs(acc[full] - conf[full])) / counts.sum())


def negative_log_likelihood(
    y_true: ArrayLike, y_proba: ArrayLike, *, labels: ArrayLike | None = None
) -> float:
    """Mean negative log-likelihood (log loss) of the true classes, in nats.

    Probabilities are clipped to ``[eps, 1]`` (``eps`` the float64 machine
    epsilon) before the logarithm, so a confident mistake costs about 36 nats
    rather than infinity.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, of any type (ints, strings, ...).
    y_proba : array-like of shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities. Column j belongs to ``labels[j]``. A binary
        problem may be given as one column, the probability of ``labels[1]``.
    labels : array-like of shape (n_classes,), default=None
        The labels of the columns of ``y_proba``, in column order (pass the
        estimator's ``classes_``). None means the sorted unique values of
        ``y_true``, as in :func:`sklearn.metrics.log_loss`.

    Returns
    -------
    nll : float
        Lower is better; 0 for a perfect, confident prediction.

    Raises
    ------
    ValueError
        On NaN or infinity, different numbers of samples, a number of columns
        that does not match the labels, a label of ``y_true`` missing from
        ``labels``, or rows that do not sum to 1.

    Examples
    --------
    >>> from skdistill.metrics import negative_log_likelihood
    >>> round(negative_log_likelihood(["a", "b"], [[0.5, 0.5], [0.2, 0.8]]), 6)
    0.458145
    >>> round(negative_log_likelihood([0, 1], [0.5, 0.8]), 6)  # binary, one column
    0.458145
    """
    y_idx, p, _ = _check_classification(y_true, y_proba, labels)
    picked = p[np.arange(y_idx.shape[0]), y_idx]
    return float(-np.mean(np.log(np.clip(picked, PROBA_EPS, 1.0))))


def brier_score(
    y_true: ArrayLike, y_proba: ArrayLike, *, labels: ArrayLike | None = None
) -> float:
    """Multi-class Brier score: mean over samples of the squared error summed over classes.

    Per sample :math:`\\sum_c (p_c - 1[y = c])^2`, between 0 (perfect) and 2.
    For a binary problem this is twice :func:`sklearn.metrics.brier_score_loss`
    (which by default keeps the positive class only), so that the score means
    the same thing for every number of classes.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, of any type.
    y_proba : array-like of shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities; see :func:`negative_log_likelihood`.
    labels : array-like of shape (n_classes,), default=None
        The labels of the columns of ``y_proba``, in column order; None means
        the sorted unique values of ``y_true``.

    Returns
    -------
    score : float
        Lower is better.

    Raises
    ------
    ValueError
        As :func:`negative_log_likelihood`.

    Examples
    --------
    >>> from skdistill.metrics import brier_score
    >>> brier_score([0, 2], [[1.0, 0.0, 0.0], [0.5, 0.0, 0.5]], labels=[0, 1, 2])
    0.25
    """
    y_idx, p, _ = _check_classification(y_true, y_proba, labels)
    onehot = np.zeros_like(p)
    onehot[np.arange(y_idx.shape[0]), y_idx] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def expected_calibration_error(
    y_true: ArrayLike,
    y_proba: ArrayLike,
    *,
    n_bins: int = 15,
    strategy: str = "uniform",
    labels: ArrayLike | None = None,
) -> float:
    """Expected calibration error of the top-class confidence.

    The confidence of a sample is its largest probability and its prediction
    that class (the first one on ties). Samples are binned on the confidence;
    ECE is :math:`\\sum_b \\frac{|B_b|}{n} |\\mathrm{acc}(B_b) -
    \\mathrm{conf}(B_b)|`, empty bins left out.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, of any type.
    y_proba : array-like of shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities; see :func:`negative_log_likelihood`.
    n_bins : int, default=15
        Number of bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        ``"uniform"``: equal-width bins over [0, 1], each ``(lo, hi]``.
        ``"quantile"``: edges at the quantiles of the confidences, so the bins
        hold (nearly) equal numbers of samples; also ``(lo, hi]``, the smallest
        confidence going into the first bin. Tied confidences share a bin.
    labels : array-like of shape (n_classes,), default=None
        The labels of the columns of ``y_proba``, in column order; None means
        the sorted unique values of ``y_true``.

    Returns
    -------
    ece : float
        Between 0 (calibrated) and 1; lower is better.

    Raises
    ------
    ValueError
        As :func:`negative_log_likelihood`, or for a bad ``n_bins`` or
        ``strategy``.

    Examples
    --------
    >>> from skdistill.metrics import expected_calibration_error
    >>> # always 90% confident, right 3 times out of 4: a gap of 0.15
    >>> proba = [[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.9, 0.1]]
    >>> round(expected_calibration_error([0, 0, 0, 1], proba), 6)
    0.15
    """
    _check_binning(n_bins, strategy)
    y_idx, p, _ = _check_classification(y_true, y_proba, labels)
    hit = p.argmax(axis=1) == y_idx
    return _binned_gap(p.max(axis=1), hit, n_bins, strategy)


def classwise_expected_calibration_error(
    y_true: ArrayLike,
    y_proba: ArrayLike,
    *,
    n_bins: int = 15,
    strategy: str = "uniform",
    labels: ArrayLike | None = None,
) -> float:
    """Class-wise expected calibration error (Kull et al., 2019).

    For each class c, every sample's probability :math:`p_c` is binned as in
    :func:`expected_calibration_error` and compared with the frequency of
    ``y == c`` in its bin; the result is the mean over classes of
    :math:`\\sum_b \\frac{|B_{b,c}|}{n} |\\mathrm{freq}_c(B_{b,c}) -
    \\mathrm{mean}\\,p_c(B_{b,c})|`.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, of any type.
    y_proba : array-like of shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities; see :func:`negative_log_likelihood`. A binary
        one-column input counts as two classes.
    n_bins : int, default=15
        Number of bins per class.
    strategy : {"uniform", "quantile"}, default="uniform"
        Binning, as in :func:`expected_calibration_error` (quantiles are taken
        per class).
    labels : array-like of shape (n_classes,), default=None
        The labels of the columns of ``y_proba``, in column order; None means
        the sorted unique values of ``y_true``.

    Returns
    -------
    ece : float
        Between 0 and 1; lower is better.

    Raises
    ------
    ValueError
        As :func:`expected_calibration_error`.

    Examples
    --------
    >>> from skdistill.metrics import classwise_expected_calibration_error
    >>> proba = [[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.9, 0.1]]
    >>> round(classwise_expected_calibration_error([0, 0, 0, 1], proba), 6)
    0.15
    """
    _check_binning(n_bins, strategy)
    y_idx, p, _ = _check_classification(y_true, y_proba, labels)
    gaps = [
        _binned_gap(p[:, c], y_idx == c, n_bins, strategy) for c in range(p.shape[1])
    ]
    return float(np.mean(gaps))
