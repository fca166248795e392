"""Uncertainty decompositions for ensembles, multi-head students and Dirichlets.

Every function takes numpy arrays laid out members first and returns float64:

- classification member probabilities are ``(n_members, n_samples, n_classes)``;
- regression members are ``(means, variances)``, each ``(n_members, n_samples)``;
- Dirichlet concentrations are ``(n_samples, n_classes)``.

A decomposition is a :class:`sklearn.utils.Bunch` with ``total``, ``aleatoric``
and ``epistemic``, each ``(n_samples,)``: in nats for classification, as
variances for regression. ``pandas.DataFrame(bunch)`` turns one into a table.

The numerics are scipy's: entropies with ``scipy.special.entr``, the
Dirichlet decomposition's ``scipy.special.digamma``, the mixture likelihood's
``scipy.stats.norm.logpdf`` and ``scipy.special.logsumexp``.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, entr, logsumexp
from scipy.stats import norm
from sklearn.utils import Bunch

__all__ = [
    "classification_uncertainty",
    "dirichlet_uncertainty",
    "mixture_mean_std",
    "mixture_nll",
    "regression_uncertainty",
]

#: Largest deviation of a probability row's sum from 1 that is accepted. Loose
#: enough for float32 softmax outputs over many classes, tight enough to catch
#: logits or unnormalised scores passed by mistake.
PROBA_SUM_TOL = 1e-3

#: Variances below this are raised to it, so that log-densities stay finite.
VARIANCE_FLOOR = 1e-12


# --------------------------------------------------------------------------
# validation helpers (shared with skdistill.metrics)
# --------------------------------------------------------------------------


def _as_float_array(x, name: str) -> np.ndarray:
    """``x`` as a float64 array, or a ValueError naming ``name``."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN.")
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains infinity.")
    return arr


def _check_proba_values(p: np.ndarray, name: str, *, check_sum: bool = True) -> None:
    """Probabilities lie in [0, 1] and (optionally) each row sums to 1."""
    if p.size and (p.min() < 0 or p.max() > 1 + PROBA_SUM_TOL):
        raise ValueError(
            f"{name} must hold probabilities in [0, 1]; got values in "
            f"[{p.min():.4g}, {p.max():.4g}]."
        )
    if check_sum and p.size:
        err = np.abs(p.sum(axis=-1) - 1.0).max()
        if err > PROBA_SUM_TOL:
            raise ValueError(
                f"The rows of {name} must sum to 1 over the classes (last axis); "
                f"the largest deviation is {err:.3g}."
            )


def _check_member_proba(member_proba, name: str = "member_proba") -> np.ndarray:
    """Validate ``(n_members, n_samples, n_classes)`` member probabilities."""
    p = _as_float_array(member_proba, name)
    if p.ndim != 3:
        raise ValueError(
            f"{name} must be 3-D (n_members, n_samples, n_classes); "
            f"got shape {p.shape}."
        )
    if p.shape[0] == 0 or p.shape[2] == 0:
        raise ValueError(
            f"{name} needs at least one member and one class; got shape {p.shape}."
        )
    _check_proba_values(p, name)
    return p


def _check_members(means, variances) -> tuple[np.ndarray, np.ndarray]:
    """Validate regression members: two ``(n_members, n_samples)`` arrays."""
    mu = _as_float_array(means, "means")
    var = _as_float_array(variances, "variances")
    if mu.ndim != 2:
        raise ValueError(
            f"means must be 2-D (n_members, n_samples); got shape {mu.shape}."
        )
    if var.shape != mu.shape:
        raise ValueError(
            f"means and variances must have the same shape; got {mu.shape} "
            f"and {var.shape}."
        )
    if mu.shape[0] == 0:
        raise ValueError("means and variances need at least one member.")
    if var.size and var.min() < 0:
        raise ValueError("variances must be non-negative.")
    return mu, var


def _entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats over the last axis, with 0 log 0 = 0.

    ``entr`` (not ``scipy.stats.entropy``, which renormalises each row): rows
    are used as they are, within ``PROBA_SUM_TOL`` of summing to 1.
    """
    return entr(p).sum(axis=-1)


def _decomposition(total: np.ndarray, aleatoric: np.ndarray) -> Bunch:
    """Bunch of total, aleatoric and their (non-negative) difference."""
    # total >= aleatoric holds exactly (concavity); only rounding can break it.
    epistemic = np.maximum(total - aleatoric, 0.0)
    return Bunch(total=total, aleatoric=aleatoric, epistemic=epistemic)


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------


def classification_uncertainty(member_proba: ArrayLike) -> Bunch:
    """Decompose the entropy of an ensemble's mean prediction, in nats.

    With member probabilities :math:`p_m` and their mean :math:`\\bar p`:

    - ``total`` = :math:`H[\\bar p]`, the entropy of the mean prediction;
    - ``aleatoric`` = :math:`\\frac{1}{M} \\sum_m H[p_m]`, the expected entropy;
    - ``epistemic`` = ``total - aleatoric``, the mutual information between the
      label and the member, which is never negative (rounding error is clipped).

    Zero probabilities are handled with :math:`0 \\log 0 = 0`, so one-hot
    members (trees, for instance) give finite values.

    Parameters
    ----------
    member_proba : array-like of shape (n_members, n_samples, n_classes)
        Class probabilities of each member; each row sums to 1.

    Returns
    -------
    uncertainty : Bunch
        ``total``, ``aleatoric`` and ``epistemic``, each of shape (n_samples,),
        float64, in nats.

    Raises
    ------
    ValueError
        If ``member_proba`` is not 3-D, contains NaN or infinity, or is not a
        probability distribution over the last axis.

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill.uncertainty import classification_uncertainty
    >>> members = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # two confident members
    >>> u = classification_uncertainty(members)           # that disagree
    >>> print(np.round(u.total, 4), np.round(u.aleatoric, 4), np.round(u.epistemic, 4))
    [0.6931] [0.] [0.6931]
    """
    p = _check_member_proba(member_proba)
    total = _entropy(p.mean(axis=0))
    aleatoric = _entropy(p).mean(axis=0)
    return _decomposition(total, aleatoric)


def regression_uncertainty(means: ArrayLike, variances: ArrayLike) -> Bunch:
    """Decompose the variance of an equal-weight mixture of Gaussian members.

    With member means :math:`\\mu_m` and variances :math:`\\sigma_m^2`:

    - ``aleatoric`` = :math:`\\frac{1}{M} \\sum_m \\sigma_m^2`;
    - ``epistemic`` = :math:`\\frac{1}{M} \\sum_m (\\mu_m - \\bar\\mu)^2`, the
      spread of the member means (divided by M, not M - 1);
    - ``total`` = ``aleatoric + epistemic``, the variance of the mixture.

    Parameters
    ----------
    means : array-like of shape (n_members, n_samples)
        Predicted mean of each member.
    variances : array-like of shape (n_members, n_samples)
        Predicted variance of each member, non-negative.

    Returns
    -------
    uncertainty : Bunch
        ``total``, ``aleatoric`` and ``epistemic``, each of shape (n_samples,),
        float64, as variances.

    Raises
    ------
    ValueError
        If the shapes differ or are not 2-D, or on NaN, infinity or a negative
        variance.

    Examples
    --------
    >>> from skdistill.uncertainty import regression_uncertainty
    >>> u = regression_uncertainty([[0.0, 1.0], [2.0, 1.0]], [[1.0, 1.0], [3.0, 1.0]])
    >>> u.aleatoric, u.epistemic, u.total
    (array([2., 1.]), array([1., 0.]), array([3., 1.]))
    """
    mu, var = _check_members(means, variances)
    aleatoric = var.mean(axis=0)
    epistemic = ((mu - mu.mean(axis=0)) ** 2).mean(axis=0)
    return Bunch(total=aleatoric + epistemic, aleatoric=aleatoric, epistemic=epistemic)


def mixture_mean_std(
    means: ArrayLike, variances: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of an equal-weight Gaussian mixture.

    Parameters
    ----------
    means : array-like of shape (n_members, n_samples)
        Predicted mean of each member.
    variances : array-like of shape (n_members, n_samples)
        Predicted variance of each member, non-negative.

    Returns
    -------
    mean : ndarray of shape (n_samples,)
        The mean of the member means.
    std : ndarray of shape (n_samples,)
        The square root of the mixture variance, that is of
        ``regression_uncertainty(means, variances).total``.

    Examples
    --------
    >>> from skdistill.uncertainty import mixture_mean_std
    >>> mean, std = mixture_mean_std([[0.0], [2.0]], [[1.0], [1.0]])
    >>> mean, std
    (array([1.]), array([1.41421356]))
    """
    mu, var = _check_members(means, variances)
    mean = mu.mean(axis=0)
    total = var.mean(axis=0) + ((mu - mean) ** 2).mean(axis=0)
    return mean, np.sqrt(total)


def mixture_nll(y: ArrayLike, means: ArrayLike, variances: ArrayLike) -> float:
    """Mean negative log-likelihood of ``y`` under an equal-weight Gaussian mixture.

    Exact: per sample :math:`-\\log \\frac{1}{M} \\sum_m \\mathcal N(y;
    \\mu_m, \\sigma_m^2)`, computed with a log-sum-exp over the members, then
    averaged over the samples. Variances below ``VARIANCE_FLOOR`` (1e-12) are
    raised to it, so the result stays finite.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Observed targets.
    means : array-like of shape (n_members, n_samples)
        Predicted mean of each member.
    variances : array-like of shape (n_members, n_samples)
        Predicted variance of each member, non-negative.

    Returns
    -------
    nll : float
        Mean negative log-likelihood in nats (lower is better).

    Raises
    ------
    ValueError
        On NaN or infinity, negative variances, or shapes that do not match.

    Examples
    --------
    >>> from skdistill.uncertainty import mixture_nll
    >>> # one member: the Gaussian NLL, 0.5 * log(2 * pi) at the mean
    >>> round(mixture_nll([0.0], [[0.0]], [[1.0]]), 6)
    0.918939
    >>> # two members far apart: each point is explained by one of them
    >>> round(mixture_nll([-5.0, 5.0], [[-5.0, -5.0], [5.0, 5.0]], [[1.0, 1.0]] * 2), 6)
    1.612086
    """
    mu, var = _check_members(means, variances)
    y = _as_float_array(y, "y")
    if y.ndim != 1 or y.shape[0] != mu.shape[1]:
        raise ValueError(
            f"y must be 1-D with one value per sample ({mu.shape[1]}); "
            f"got shape {y.shape}."
        )
    if y.shape[0] == 0:
        raise ValueError("mixture_nll needs at least one sample.")
    var = np.maximum(var, VARIANCE_FLOOR)
    log_density = norm.logpdf(y, mu, np.sqrt(var))
    log_mix = logsumexp(log_density, axis=0) - np.log(mu.shape[0])
    return float(-np.mean(log_mix))


def dirichlet_uncertainty(
    concentration: ArrayLike | None = None, *, alpha: ArrayLike | None = None
) -> Bunch:
    """Decompose the uncertainty of Dirichlet predictions, in nats.

    For concentrations :math:`\\alpha` with :math:`\\alpha_0 = \\sum_c
    \\alpha_c` (the prediction of an EnDD student):

    - ``total`` = :math:`H[\\alpha / \\alpha_0]`, entropy of the expected
      categorical;
    - ``aleatoric`` = expected entropy of a categorical drawn from the
      Dirichlet, :math:`-\\sum_c \\frac{\\alpha_c}{\\alpha_0}
      [\\psi(\\alpha_c + 1) - \\psi(\\alpha_0 + 1)]`;
    - ``epistemic`` = ``total - aleatoric``, the mutual information (never
      negative; rounding error is clipped).

    Parameters
    ----------
    concentration : array-like of shape (n_samples, n_classes)
        Positive Dirichlet concentrations :math:`\\alpha`.
    alpha : array-like, deprecated
        The former name of ``concentration`` (a ``FutureWarning``); deprecated
        in 0.2.0, to be removed in 0.4.0.

    Returns
    -------
    uncertainty : Bunch
        ``total``, ``aleatoric`` and ``epistemic``, each of shape (n_samples,),
        float64, in nats.

    Raises
    ------
    ValueError
        If ``concentration`` is not 2-D, contains NaN or infinity, or is not
        positive.

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill.uncertainty import dirichlet_uncertainty
    >>> u = dirichlet_uncertainty([[1.0, 1.0], [1000.0, 1000.0]])
    >>> np.round(u.total, 4)  # the same mean prediction...
    array([0.6931, 0.6931])
    >>> np.round(u.epistemic, 4)  # ...but a flat Dirichlet is far less certain
    array([0.1931, 0.0002])
    """
    if alpha is not None:
        if concentration is not None:
            raise TypeError("give concentration only (alpha is its former name).")
        warnings.warn(
            "The alpha parameter of dirichlet_uncertainty was renamed "
            "concentration in 0.2.0 and will be removed in 0.4.0.",
            FutureWarning,
            stacklevel=2,
        )
        concentration = alpha
    if concentration is None:
        raise TypeError("dirichlet_uncertainty needs the concentrations.")
    c = _as_float_array(concentration, "concentration")
    if c.ndim != 2:
        raise ValueError(
            f"concentration must be 2-D (n_samples, n_classes); got shape {c.shape}."
        )
    if c.shape[1] == 0:
        raise ValueError("concentration needs at least one class.")
    if c.size and c.min() <= 0:
        raise ValueError("concentration (of a Dirichlet) must be positive.")
    c0 = c.sum(axis=1, keepdims=True)
    mean = c / c0
    total = _entropy(mean)
    aleatoric = -np.sum(mean * (digamma(c + 1.0) - digamma(c0 + 1.0)), axis=1)
    return _decomposition(total, aleatoric)
