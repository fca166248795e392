"""Every parameter is validated by scikit-learn's constraints, once, in fit."""

import pytest
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import check_param_validation

from skdistill import (
    EnDDDistiller,
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    KDDistiller,
)

FAST = dict(max_epochs=2, device="cpu", early_stopping=False, validation_fraction=0.0)
TEACHER = EnsembleClassifier(2, max_epochs=2, device="cpu", random_state=0)


@pytest.mark.parametrize(
    "est",
    [
        EnsembleClassifier(2, **FAST),
        EnsembleRegressor(2, **FAST),
        HydraDistiller(TEACHER, **FAST),
        KDDistiller(TEACHER, **FAST),
        EnDDDistiller(TEACHER, **FAST),
    ],
    ids=lambda est: type(est).__name__,
)
def test_scikit_learn_parameter_validation(est):
    # A constraint for every parameter, and an InvalidParameterError naming
    # the parameter for a value of the wrong type or range, from fit and
    # partial_fit alike.
    check_param_validation(type(est).__name__, est)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"lr": 0.0}, r"The 'lr' parameter of EnsembleClassifier must be a float in the range \(0.0, inf\)"),
        ({"batch_size": "big"}, r"'batch_size' parameter .* must be .*'auto'"),
        ({"optimizer": "lbfgs"}, r"'optimizer' parameter .* must be a str among"),
        ({"n_members": 0}, r"'n_members' parameter .* must be an int in the range \[1, inf\)"),
    ],
)  # fmt: skip
def test_bad_values_name_the_parameter(params, match):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    with pytest.raises(InvalidParameterError, match=match) as info:
        EnsembleClassifier(**{**FAST, **params}).fit(X, y)
    assert isinstance(info.value, ValueError)  # what users catch keeps working
