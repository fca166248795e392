"""Metrics for probabilistic predictions, ensembles and distilled students.

All functions take numpy arrays (or array-likes) and return a Python float,
with sklearn-style signatures ``metric(y_true, y_proba, *, options)``.

- Classification: :func:`negative_log_likelihood`, :func:`brier_score`,
  :func:`expected_calibration_error`, :func:`classwise_expected_calibration_error`.
- Ensembles (member probabilities ``(n_members, n_samples, n_classes)``):
  :func:`mutual_information`, :func:`disagreement`, :func:`ensemble_kl`.
- Student versus teacher: :func:`uncertainty_tv`, :func:`uncertainty_rank_agreement`,
  :func:`epistemic_ratio` (the size, which rank measures hide);
  out-of-distribution detection: :func:`ood_auroc`.
- Regression: :func:`gaussian_nll`, :func:`mixture_nll`, :func:`interval_coverage`,
  :func:`gaussian_crps`.
- Scorers for model selection (greater is better): :data:`ece_scorer`,
  :data:`nll_scorer`, :data:`brier_scorer`, :data:`gaussian_nll_scorer`.
"""

from ._classification import (
    brier_score,
    classwise_expected_calibration_error,
    expected_calibration_error,
    negative_log_likelihood,
)
from ._ensemble import (
    disagreement,
    ensemble_kl,
    epistemic_ratio,
    mutual_information,
    ood_auroc,
    uncertainty_rank_agreement,
    uncertainty_tv,
)
from ._regression import gaussian_crps, gaussian_nll, interval_coverage, mixture_nll
from ._scorers import brier_scorer, ece_scorer, gaussian_nll_scorer, nll_scorer

__all__ = [
    "brier_score",
    "brier_scorer",
    "classwise_expected_calibration_error",
    "disagreement",
    "ece_scorer",
    "ensemble_kl",
    "epistemic_ratio",
    "expected_calibration_error",
    "gaussian_crps",
    "gaussian_nll",
    "gaussian_nll_scorer",
    "interval_coverage",
    "mixture_nll",
    "mutual_information",
    "negative_log_likelihood",
    "nll_scorer",
    "ood_auroc",
    "uncertainty_rank_agreement",
    "uncertainty_tv",
]
