"""Uncertainty through scikit-learn containers: pipelines and searches."""

from __future__ import annotations

from sklearn.utils import Bunch

__all__ = ["predict_members", "predict_uncertainty"]


def _final(estimator, X, method):
    """The estimator that answers ``method`` and ``X`` as it must see it."""
    from sklearn.pipeline import Pipeline

    if hasattr(estimator, "best_estimator_"):  # a fitted GridSearchCV and friends
        return _final(estimator.best_estimator_, X, method)
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps[:-1]:
            if step is not None and step != "passthrough":
                X = step.transform(X)
        return _final(estimator.steps[-1][1], X, method)
    if not hasattr(estimator, method):
        raise TypeError(
            f"{type(estimator).__name__} has no {method}(): the last step must be "
            "a skdistill ensemble or distiller"
        )
    return estimator, X


def predict_uncertainty(estimator, X) -> Bunch:
    """``predict_uncertainty`` of a skdistill estimator, also at the end of a pipeline.

    A :class:`~sklearn.pipeline.Pipeline` runs its transforms on ``X`` and asks
    its last step; a fitted search (``GridSearchCV``) asks its
    ``best_estimator_``; a skdistill estimator answers itself.

    Parameters
    ----------
    estimator : fitted skdistill estimator, Pipeline ending in one, or search
    X : array-like or DataFrame
        The input as the pipeline (or estimator) takes it.

    Returns
    -------
    Bunch(total, aleatoric, epistemic)
        Each of shape ``(n_samples,)``; see the estimators' method.

    Raises
    ------
    TypeError
        The last step has no ``predict_uncertainty``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> import skdistill
    >>> X, y = load_iris(return_X_y=True)
    >>> pipe = make_pipeline(StandardScaler(), skdistill.EnsembleClassifier(
    ...     n_members=3, max_epochs=3, random_state=0)).fit(X, y)
    >>> skdistill.predict_uncertainty(pipe, X[:4]).epistemic.shape
    (4,)
    """
    est, Xt = _final(estimator, X, "predict_uncertainty")
    return est.predict_uncertainty(Xt)


def predict_members(estimator, X):
    """``predict_members`` of a skdistill estimator, also at the end of a pipeline.

    As :func:`predict_uncertainty`, for the members' (or heads') outputs.
    """
    est, Xt = _final(estimator, X, "predict_members")
    return est.predict_members(Xt)
