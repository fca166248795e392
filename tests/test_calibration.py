"""Our classifiers inside scikit-learn's post-hoc calibration.

``CalibratedClassifierCV`` clones and fits the estimator per fold (or takes a
fitted one wrapped in ``FrozenEstimator``) and maps its ``predict_proba``
through a calibrator. Each case checks that calibration really happened: the
calibrated probabilities are valid, differ from the raw ones, and do not
make the held-out NLL much worse.
"""

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_classification
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skdistill import EnsembleClassifier, HydraDistiller, KDDistiller
from skdistill.metrics import negative_log_likelihood

TINY = dict(hidden_layer_sizes=(16,), max_epochs=20, lr=1e-2, batch_size=64,
            device="cpu")  # fmt: skip
STUDENT = dict(core_layer_sizes=(16,), head_layer_sizes=(8,), max_epochs=20, lr=1e-2,
               batch_size=64, device="cpu")  # fmt: skip


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=600, n_features=6, n_informative=4, n_redundant=0, n_classes=3,
        flip_y=0.1, random_state=0,
    )  # fmt: skip
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)


def _check(calibrated, raw_proba, X_te, y_te):
    proba = calibrated.predict_proba(X_te)
    assert proba.shape == raw_proba.shape
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert not np.allclose(proba, raw_proba, atol=1e-4), "calibration changed nothing"
    raw_nll = negative_log_likelihood(y_te, raw_proba)
    assert negative_log_likelihood(y_te, proba) < raw_nll + 0.1


@pytest.mark.parametrize("method", ["sigmoid", "isotonic", "temperature"])
def test_ensemble_in_calibrated_classifier_cv(data, method):
    X_tr, X_te, y_tr, y_te = data
    ens = EnsembleClassifier(n_members=3, random_state=0, **TINY)
    raw = ens.fit(X_tr, y_tr).predict_proba(X_te)
    calibrated = CalibratedClassifierCV(ens, method=method, cv=2).fit(X_tr, y_tr)
    assert len(calibrated.calibrated_classifiers_) == 2
    np.testing.assert_array_equal(calibrated.classes_, np.unique(y_tr))
    _check(calibrated, raw, X_te, y_te)


@pytest.mark.parametrize("method", ["sigmoid", "temperature"])
def test_frozen_fitted_ensemble(data, method):
    X_tr, X_te, y_tr, y_te = data
    X_fit, X_cal, y_fit, y_cal = train_test_split(X_tr, y_tr, random_state=0)
    ens = EnsembleClassifier(n_members=3, random_state=0, **TINY).fit(X_fit, y_fit)
    before = ens.predict_proba(X_te)
    calibrated = CalibratedClassifierCV(FrozenEstimator(ens), method=method)
    calibrated.fit(X_cal, y_cal)
    _check(calibrated, before, X_te, y_te)
    # The frozen ensemble was not refitted.
    np.testing.assert_array_equal(ens.predict_proba(X_te), before)


@pytest.mark.parametrize(
    "make",
    [
        lambda: HydraDistiller(
            teacher=LogisticRegression(), n_heads=2, random_state=0, **STUDENT
        ),
        lambda: KDDistiller(teacher="virtual", random_state=0, **STUDENT),
    ],
    ids=["hydra", "tfkd"],
)
def test_distillers_in_calibrated_classifier_cv(data, make):
    X_tr, X_te, y_tr, y_te = data
    raw = make().fit(X_tr, y_tr).predict_proba(X_te)
    calibrated = CalibratedClassifierCV(make(), method="sigmoid", cv=2)
    calibrated.fit(X_tr, y_tr)
    _check(calibrated, raw, X_te, y_te)


def test_plain_sklearn_classifier_with_our_scorers(data):
    """The same wrapper around a plain sklearn model, scored with our scorer."""
    from sklearn.model_selection import cross_val_score

    from skdistill.metrics import ece_scorer

    X_tr, _, y_tr, _ = data
    calibrated = CalibratedClassifierCV(LogisticRegression(), method="temperature")
    scores = cross_val_score(calibrated, X_tr, y_tr, cv=3, scoring=ece_scorer)
    assert scores.shape == (3,)
    assert np.all((scores <= 0) & (scores > -1))
