"""teacher=None: the distillers fit a default ensemble of y's task."""

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_regression

from skdistill import (
    EnDDDistiller,
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    KDDistiller,
)

FAST = dict(max_epochs=20, device="cpu", random_state=0)


@pytest.mark.parametrize("cls", [HydraDistiller, KDDistiller, EnDDDistiller])
def test_default_teacher_for_classes_is_an_early_stopped_ensemble(cls):
    X, y = load_iris(return_X_y=True)
    est = cls(**FAST).fit(X, y)
    assert isinstance(est.teacher_, EnsembleClassifier)
    # The ensemble's own defaults (five members, early-stopped), with the
    # distiller's device and a seed drawn from its random_state.
    params = est.teacher_.get_params()
    defaults = EnsembleClassifier().get_params()
    different = {k for k in params if params[k] != defaults[k]}
    assert different == {"device", "random_state"}
    assert params["n_members"] == 5 and params["early_stopping"]
    # Early stopping ended the teacher's training before its cap.
    assert len(est.teacher_.history_) < params["max_epochs"]
    assert est.teacher_.score(X, y) > 0.9
    assert est.score(X, y) > 0.8
    assert est.teacher is None  # the parameter is left as given


@pytest.mark.parametrize("cls", [HydraDistiller, KDDistiller])
def test_default_teacher_follows_a_continuous_y(cls):
    X, y = make_regression(150, 4, noise=1.0, random_state=0)
    est = cls(**FAST).fit(X, y)
    assert isinstance(est.teacher_, EnsembleRegressor)
    assert est.task_ == "regression"
    assert est.score(X, y) > 0.5


def test_integer_targets_stay_classes():
    X, y = load_iris(return_X_y=True)
    est = HydraDistiller(n_heads=2, **FAST).fit(X, y.astype(float))
    assert est.task_ == "classification"
    assert np.array_equal(est.classes_, [0.0, 1.0, 2.0])


def test_endd_refuses_a_continuous_y_without_teacher():
    X, y = make_regression(50, 3, random_state=0)
    with pytest.raises(ValueError, match="Unknown label type"):
        EnDDDistiller(**FAST).fit(X, y)
