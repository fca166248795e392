"""Ensemble diversity, student-versus-teacher fidelity and out-of-distribution metrics."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import rel_entr
from scipy.stats import spearmanr
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import roc_auc_score

from ..uncertainty import (
    _as_float_array,
    _check_member_proba,
    _check_proba_values,
    classification_uncertainty,
)
from ._classification import PROBA_EPS

__all__ = [
    "disagreement",
    "ensemble_kl",
    "mutual_information",
    "ood_auroc",
    "uncertainty_rank_agreement",
    "uncertainty_tv",
]


def _check_scores(x, name: str) -> np.ndarray:
    """A non-empty, finite, 1-D float array."""
    arr = _as_float_array(x, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}.")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty.")
    return arr


def _mean_proba(proba, name: str) -> np.ndarray:
    """Member probabilities (3-D) averaged over members, or 2-D probabilities."""
    p = _as_float_array(proba, name)
    if p.ndim == 3:
        return _check_member_proba(p, name).mean(axis=0)
    if p.ndim != 2:
        raise ValueError(
            f"{name} must be 3-D (n_members, n_samples, n_classes) or 2-D "
            f"(n_samples, n_classes); got shape {p.shape}."
        )
    _check_proba_values(p, name)
    return p


def mutual_information(member_proba: ArrayLike) -> float:
    """Mean mutual information between label and member (epistemic uncertainty).

    The average over samples of
    ``classification_uncertainty(member_proba).epistemic``: the entropy of the
    mean prediction minus the mean entropy of the members, in nats.

    Parameters
    ----------
    member_proba : array-like of shape (n_members, n_samples, n_classes)
        Class probabilities of each member (or head).

    Returns
    -------
    mi : float
        Non-negative; 0 when all members agree exactly.

    Raises
    ------
    ValueError
        As :func:`skdistill.uncertainty.classification_uncertainty`.

    Examples
    --------
    >>> from skdistill.metrics import mutual_information
    >>> round(mutual_information([[[1.0, 0.0]], [[0.0, 1.0]]]), 6)  # log 2
    0.693147
    """
    epistemic = classification_uncertainty(member_proba).epistemic
    if epistemic.size == 0:
        raise ValueError("mutual_information needs at least one sample.")
    return float(np.mean(epistemic))


def disagreement(member_proba: ArrayLike) -> float:
    """Mean fraction of member pairs that predict different classes.

    For each sample, over the :math:`M(M-1)/2` unordered pairs of distinct
    members, the fraction whose arg-max classes differ (ties in a member's
    probabilities go to the first class); then the mean over samples. It is 0
    when all members predict the same class, and for a single member (no
    pairs).

    Parameters
    ----------
    member_proba : array-like of shape (n_members, n_samples, n_classes)
        Class probabilities of each member (or head).

    Returns
    -------
    disagreement : float
        Between 0 and 1: 1 when every member predicts a class of its own
        (possible while members <= classes); with many more members than
        classes, at most about 1 - 1/n_classes.

    Raises
    ------
    ValueError
        As :func:`skdistill.uncertainty.classification_uncertainty`.

    Examples
    --------
    >>> from skdistill.metrics import disagreement
    >>> # three members vote 0, 0, 1: of the three pairs, two disagree
    >>> members = [[[0.9, 0.1]], [[0.6, 0.4]], [[0.2, 0.8]]]
    >>> round(disagreement(members), 6)
    0.666667
    """
    p = _check_member_proba(member_proba)
    n_members, n_samples, n_classes = p.shape
    if n_samples == 0:
        raise ValueError("disagreement needs at least one sample.")
    if n_members < 2:
        return 0.0
    votes = p.argmax(axis=2)  # (n_members, n_samples)
    counts = np.zeros((n_samples, n_classes))
    np.add.at(counts, (np.arange(n_samples)[None, :], votes), 1.0)
    agreeing = np.sum(counts * (counts - 1.0), axis=1) / 2.0
    pairs = n_members * (n_members - 1) / 2.0
    return float(np.mean(1.0 - agreeing / pairs))


def ensemble_kl(
    teacher_member_proba: ArrayLike, student_member_proba: ArrayLike
) -> float:
    """Mean KL divergence from the teacher's mean prediction to the student's.

    Per sample :math:`KL(\\bar p_T \\| \\bar p_S) = \\sum_c \\bar p_{T,c}
    \\log(\\bar p_{T,c} / \\bar p_{S,c})`, with :math:`0 \\log 0 = 0` and the
    student's probabilities clipped to ``[eps, 1]``; then the mean over samples.

    Parameters
    ----------
    teacher_member_proba : array-like of shape (n_members, n_samples, n_classes) \
            or (n_samples, n_classes)
        The teacher's member probabilities (averaged here), or their mean.
    student_member_proba : array-like of shape (n_heads, n_samples, n_classes) \
            or (n_samples, n_classes)
        The student's head probabilities (averaged here), or their mean.

    Returns
    -------
    kl : float
        In nats; 0 when the two mean predictions are equal.

    Raises
    ------
    ValueError
        On NaN, bad shapes, or different numbers of samples or classes.

    Examples
    --------
    >>> from skdistill.metrics import ensemble_kl
    >>> teacher = [[[1.0, 0.0]], [[0.0, 1.0]]]  # mean [0.5, 0.5]
    >>> ensemble_kl(teacher, [[0.5, 0.5]])
    0.0
    >>> round(ensemble_kl(teacher, [[0.9, 0.1]]), 6)
    0.510826
    """
    p_t = _mean_proba(teacher_member_proba, "teacher_member_proba")
    p_s = _mean_proba(student_member_proba, "student_member_proba")
    if p_t.shape != p_s.shape:
        raise ValueError(
            "teacher and student predictions must have the same numbers of samples "
            f"and classes; got {p_t.shape} and {p_s.shape}."
        )
    if p_t.shape[0] == 0:
        raise ValueError("ensemble_kl needs at least one sample.")
    # rel_entr, not scipy.stats.entropy: the rows are not renormalised.
    kl = rel_entr(p_t, np.clip(p_s, PROBA_EPS, 1.0)).sum(axis=1)
    return float(np.mean(kl))


def uncertainty_tv(
    u_teacher: ArrayLike, u_student: ArrayLike, *, bins: int | ArrayLike = 20
) -> float:
    """Total variation between the histograms of two uncertainty samples.

    Both samples (for instance the teacher's and the student's epistemic
    uncertainty over a test set) are binned on the same edges, spanning the
    range of their union; with bin frequencies :math:`p` and :math:`q` (each
    summing to 1) the result is :math:`\\frac12 \\sum_b |p_b - q_b|`.

    Parameters
    ----------
    u_teacher : array-like of shape (n_teacher,)
        Uncertainty values of the reference model.
    u_student : array-like of shape (n_student,)
        Uncertainty values of the model compared with it; the lengths may differ.
    bins : int or array-like of bin edges, default=20
        Number of equal-width bins over the union range, or the edges themselves
        (values outside given edges are not counted).

    Returns
    -------
    tv : float
        Between 0 (same histogram) and 1 (no overlap).

    Raises
    ------
    ValueError
        On NaN or infinity, or an empty or non-1-D input.

    Examples
    --------
    >>> from skdistill.metrics import uncertainty_tv
    >>> uncertainty_tv([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4])
    0.0
    >>> uncertainty_tv([0.0, 0.1], [0.9, 1.0], bins=2)
    1.0
    """
    a = _check_scores(u_teacher, "u_teacher")
    b = _check_scores(u_student, "u_student")
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins=bins)
    p = np.histogram(a, bins=edges)[0] / a.shape[0]
    q = np.histogram(b, bins=edges)[0] / b.shape[0]
    return float(0.5 * np.sum(np.abs(p - q)))


def _paired_scores(u_teacher, u_student):
    """Both uncertainties checked, over the same samples."""
    a = _check_scores(u_teacher, "u_teacher")
    b = _check_scores(u_student, "u_student")
    if a.shape != b.shape:
        raise ValueError(
            f"u_teacher and u_student must have the same length; got {a.shape[0]} "
            f"and {b.shape[0]}."
        )
    return a, b


def uncertainty_rank_agreement(u_teacher: ArrayLike, u_student: ArrayLike) -> float:
    """Spearman rank correlation between two uncertainties over the same samples.

    Answers "does the student find the same inputs uncertain as the teacher?",
    whatever the scale of each. Ties get average ranks.

    Parameters
    ----------
    u_teacher : array-like of shape (n_samples,)
        Uncertainty of the reference model.
    u_student : array-like of shape (n_samples,)
        Uncertainty of the model compared with it, on the same samples.

    Returns
    -------
    rho : float
        Between -1 and 1. NaN, with an :class:`~sklearn.exceptions.UndefinedMetricWarning`,
        when either input is constant (a one-head student has no epistemic
        uncertainty, for instance).

    Raises
    ------
    ValueError
        On NaN or infinity, or inputs of different lengths.

    Examples
    --------
    >>> from skdistill.metrics import uncertainty_rank_agreement
    >>> uncertainty_rank_agreement([0.1, 0.5, 0.2], [1.0, 30.0, 2.0])
    1.0
    """
    a, b = _paired_scores(u_teacher, u_student)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        warnings.warn(
            "An uncertainty is constant: the rank correlation is undefined; "
            "returning NaN.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        return float("nan")
    return float(np.clip(spearmanr(a, b)[0], -1.0, 1.0))


def epistemic_ratio(u_teacher: ArrayLike, u_student: ArrayLike) -> float:
    """Size of a student's uncertainty relative to its teacher's.

    The ratio of the means, :math:`\\bar u_S / \\bar u_T`, over the same
    inputs. Rank measures (:func:`uncertainty_rank_agreement`,
    :func:`ood_auroc`) are blind to scale: a student whose epistemic
    uncertainty is ten times smaller than its teacher's everywhere ranks the
    inputs perfectly. This is the number that shows it. 1 means the same
    size; call it once on test data and once on shifted or
    out-of-distribution data to see whether the student keeps the teacher's
    rise away from the training data.

    Parameters
    ----------
    u_teacher : array-like of shape (n_samples,)
        Uncertainty of the reference model (for instance the ensemble's
        epistemic part from ``predict_uncertainty``), non-negative.
    u_student : array-like of shape (n_samples,)
        Uncertainty of the model compared with it, on the same inputs.

    Returns
    -------
    ratio : float
        Non-negative; 0 for a student with no epistemic uncertainty.

    Raises
    ------
    ValueError
        On NaN or infinity, negative values, inputs of different lengths, or a
        teacher whose mean uncertainty is 0 (the ratio is undefined).

    Examples
    --------
    >>> from skdistill.metrics import epistemic_ratio
    >>> epistemic_ratio([0.1, 0.3], [0.05, 0.15])
    0.5
    """
    a, b = _paired_scores(u_teacher, u_student)
    if np.any(a < 0) or np.any(b < 0):
        raise ValueError("uncertainties must be non-negative.")
    mean_t = float(np.mean(a))
    if mean_t <= 0:
        raise ValueError("the teacher's mean uncertainty is 0: the ratio is undefined.")
    return float(np.mean(b)) / mean_t


def ood_auroc(scores_in: ArrayLike, scores_out: ArrayLike) -> float:
    """Area under the ROC curve for telling out-of-distribution inputs apart.

    Out-of-distribution samples are the positive class and a higher score
    means "more likely OOD" (use an uncertainty such as the epistemic part).
    0.5 is chance, 1 is perfect separation.

    Parameters
    ----------
    scores_in : array-like of shape (n_in,)
        Scores on in-distribution inputs.
    scores_out : array-like of shape (n_out,)
        Scores on out-of-distribution inputs.

    Returns
    -------
    auroc : float
        Between 0 and 1; ties count one half.

    Raises
    ------
    ValueError
        On NaN or infinity, or an empty or non-1-D input.

    Examples
    --------
    >>> from skdistill.metrics import ood_auroc
    >>> ood_auroc([0.1, 0.2, 0.3], [0.25, 0.9])
    0.8333333333333334
    """
    s_in = _check_scores(scores_in, "scores_in")
    s_out = _check_scores(scores_out, "scores_out")
    is_ood = np.r_[np.zeros(s_in.shape[0]), np.ones(s_out.shape[0])]
    return float(roc_auc_score(is_ood, np.r_[s_in, s_out]))
