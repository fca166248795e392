"""Scorers for :class:`~sklearn.model_selection.GridSearchCV` and friends.

A scorer is a callable ``scorer(estimator, X, y) -> float`` where greater is
better, so the losses here are negated (as sklearn's ``neg_log_loss``).

The classification scorers read the column order of ``predict_proba`` from
``estimator.classes_`` and pass it to the metric as ``labels``. Scorers built
with :func:`sklearn.metrics.make_scorer` cannot: they only see the labels of the
test fold, which break when a fold lacks a class, and they hand a binary
metric only the positive-class column.
"""

from __future__ import annotations

import numpy as np

from ._classification import (
    brier_score,
    expected_calibration_error,
    negative_log_likelihood,
)
from ._regression import gaussian_nll

__all__ = ["brier_scorer", "ece_scorer", "gaussian_nll_scorer", "nll_scorer"]


class _ProbaLossScorer:
    """``-metric(y, estimator.predict_proba(X), labels=estimator.classes_)``."""

    def __init__(self, metric, **kwargs):
        self._metric = metric
        self._kwargs = kwargs

    def __call__(self, estimator, X, y_true) -> float:
        proba = estimator.predict_proba(X)
        labels = getattr(estimator, "classes_", None)
        return -self._metric(y_true, proba, labels=labels, **self._kwargs)

    def __repr__(self) -> str:
        options = "".join(f", {k}={v!r}" for k, v in self._kwargs.items())
        return (
            f"proba_scorer({self._metric.__name__}{options}, "
            "response_method='predict_proba', greater_is_better=False)"
        )


class _GaussianNLLScorer:
    """``-gaussian_nll(y, mean, std**2)`` from ``estimator.predict(X, return_std=True)``."""

    def __call__(self, estimator, X, y_true) -> float:
        mean, std = estimator.predict(X, return_std=True)
        return -gaussian_nll(y_true, mean, np.square(std))

    def __repr__(self) -> str:
        return "gaussian_nll_scorer(response_method='predict(return_std=True)')"


ece_scorer = _ProbaLossScorer(expected_calibration_error)
ece_scorer.__doc__ = """Scorer: minus the expected calibration error (15 equal-width bins).

Greater is better. Use as ``scoring=ece_scorer`` in ``GridSearchCV``,
``cross_val_score`` and the like; the columns of ``predict_proba`` are mapped
with ``estimator.classes_``, so string labels and folds missing a class work.

Examples
--------
>>> from sklearn.datasets import load_iris
>>> from sklearn.linear_model import LogisticRegression
>>> from sklearn.model_selection import cross_val_score
>>> from skdistill.metrics import ece_scorer
>>> X, y = load_iris(return_X_y=True)
>>> scores = cross_val_score(LogisticRegression(max_iter=500), X, y, cv=3,
...                          scoring=ece_scorer)
>>> bool((scores <= 0).all())
True
"""

nll_scorer = _ProbaLossScorer(negative_log_likelihood)
nll_scorer.__doc__ = """Scorer: minus the negative log-likelihood (log loss) of ``predict_proba``.

Greater is better; see :data:`ece_scorer` for how it is called.

Examples
--------
>>> from sklearn.datasets import load_iris
>>> from sklearn.linear_model import LogisticRegression
>>> from skdistill.metrics import negative_log_likelihood, nll_scorer
>>> X, y = load_iris(return_X_y=True)
>>> clf = LogisticRegression(max_iter=500).fit(X, y)
>>> bool(nll_scorer(clf, X, y) == -negative_log_likelihood(y, clf.predict_proba(X)))
True
"""

brier_scorer = _ProbaLossScorer(brier_score)
brier_scorer.__doc__ = """Scorer: minus the multi-class Brier score of ``predict_proba``.

Greater is better; see :data:`ece_scorer` for how it is called.

Examples
--------
>>> from sklearn.datasets import load_iris
>>> from sklearn.linear_model import LogisticRegression
>>> from skdistill.metrics import brier_scorer
>>> X, y = load_iris(return_X_y=True)
>>> clf = LogisticRegression(max_iter=500).fit(X, y)
>>> -2 <= brier_scorer(clf, X, y) <= 0
True
"""

gaussian_nll_scorer = _GaussianNLLScorer()
gaussian_nll_scorer.__doc__ = """Scorer: minus the Gaussian NLL of a probabilistic regressor.

Calls ``estimator.predict(X, return_std=True)`` (skdistill regressors,
:class:`~sklearn.linear_model.BayesianRidge`,
:class:`~sklearn.gaussian_process.GaussianProcessRegressor`) and returns
``-gaussian_nll(y, mean, std ** 2)``: greater is better, like sklearn's
``neg_`` scorers.

Examples
--------
>>> import numpy as np
>>> from sklearn.linear_model import BayesianRidge
>>> from skdistill.metrics import gaussian_nll_scorer
>>> X = np.linspace(0, 1, 20)[:, None]
>>> y = 2 * X.ravel() + np.random.default_rng(0).normal(0, 0.1, 20)
>>> score = gaussian_nll_scorer(BayesianRidge().fit(X, y), X, y)
>>> bool(score > 0)  # NLL below 0 nats: a sharp, well-fitting Gaussian
True
"""

# The docstrings above belong to instances, which doctest does not collect alone.
__test__ = {
    name: obj.__doc__
    for name, obj in [
        ("ece_scorer", ece_scorer),
        ("nll_scorer", nll_scorer),
        ("brier_scorer", brier_scorer),
        ("gaussian_nll_scorer", gaussian_nll_scorer),
    ]
}
