"""scikit-learn's estimator checks over every public estimator.

Each expected failure is listed with its reason; everything else must pass.
"""

from sklearn.linear_model import BayesianRidge, LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdistill import (
    EnDDDistiller,
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    KDDistiller,
)

# Small but trainable settings: the checks fit dozens of times and some demand
# a real fit (accuracy > 0.83 on an easy problem, R^2 > 0.5).
FAST = dict(max_epochs=30, lr=1e-2, batch_size=64, device="cpu", random_state=0)
NET = dict(hidden_layer_sizes=(32,), **FAST)
# Students early-stop by default; with a fixed number of epochs here, the
# checks that compare fits on float32 and float64 copies of the same data
# (lists become float32) compare models trained for as long.
STUDENT = dict(
    core_layer_sizes=(32,), head_layer_sizes=(16,), early_stopping=False, **FAST
)

# The distillers' checks test the estimator API; they get fast scikit-learn
# teachers (fitted inside every fit, as an unfitted teacher must be). Their
# ensemble teachers are exercised in tests/distill/.
ESTIMATORS = [
    EnsembleClassifier(n_members=2, **NET),
    EnsembleRegressor(n_members=2, **NET),
    HydraDistiller(teacher=LogisticRegression(), n_heads=2, **STUDENT),
    HydraDistiller(teacher=BayesianRidge(), n_heads=2, **STUDENT),
    KDDistiller(teacher=LogisticRegression(), **STUDENT),
    KDDistiller(teacher="virtual", **STUDENT),
    EnDDDistiller(teacher=LogisticRegression(), **STUDENT),
    # teacher=None: each fit trains the default ensemble teacher (with the
    # fast settings here; the defaults' cost is 20+ minutes of checks).
    HydraDistiller(n_heads=2, **STUDENT),
    KDDistiller(**STUDENT),
    EnDDDistiller(**STUDENT),
]

# Integer sample weights against repeated rows (scikit-learn's check demands
# float64 agreement to 1e-7):
# - the ensembles train in float32: with one batch per epoch the weighted and
#   the repeated fits agree to about 1e-5 relative, not 1e-7 (and with several
#   batches per epoch, repeats fall into other batches than their weighted
#   row); tests/test_sample_weight.py checks both agreements at their sizes.
# - a distiller draws its validation rows and perturbed extra inputs per row,
#   so repeated rows change what is drawn: equal in expectation, not fit by fit.
_WEIGHTS_ARE_NOT_REPEATS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "stochastic float32 training: equivalent in expectation, not to 1e-7; "
        "see tests/test_sample_weight.py"
    ),
}
EXPECTED_FAILURES = {
    name: _WEIGHTS_ARE_NOT_REPEATS
    for name in (
        "EnsembleClassifier",
        "EnsembleRegressor",
        "HydraDistiller",
        "KDDistiller",
        "EnDDDistiller",
    )
}


# teacher=None fits the default teacher of y's task, so a continuous y gives a
# regression student (as the default teacher of a meta-estimator follows y);
# scikit-learn's check expects a classifier to refuse it. EnDD, which has no
# regression form, does refuse it.
_FOLLOWS_Y = {
    "check_classifiers_regression_target": (
        "teacher=None follows y: a continuous y fits a regression student"
    ),
}


def _expected_failed_checks(estimator):
    expected = dict(EXPECTED_FAILURES.get(type(estimator).__name__, {}))
    if getattr(estimator, "teacher", "") is None:
        if not isinstance(estimator, EnDDDistiller):
            expected.update(_FOLLOWS_Y)
    return expected


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
