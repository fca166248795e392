"""Conformal intervals and prediction sets with MAPIE around skdistill models."""

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

from skdistill import EnsembleClassifier, EnsembleRegressor, HydraDistiller

mapie = pytest.importorskip("mapie")
from mapie.classification import SplitConformalClassifier  # noqa: E402
from mapie.regression import SplitConformalRegressor  # noqa: E402

FIT = dict(max_epochs=40, batch_size=32, device="cpu", random_state=0)
TARGET = 0.9


def _split(X, y):
    # 300 rows to fit, 1700 to conformalize, 2000 to measure coverage: the
    # calibration quantile and the measured coverage then each vary by less
    # than a point from draw to draw, well inside the 3 points asked for.
    return (X[:300], y[:300]), (X[300:2000], y[300:2000]), (X[2000:], y[2000:])


@pytest.fixture(scope="module")
def reg():
    return _split(*make_regression(n_samples=4000, n_features=5, noise=15.0,
                                   random_state=0))  # fmt: skip


@pytest.fixture(scope="module")
def ensemble_reg(reg):
    return EnsembleRegressor(n_members=3, hidden_layer_sizes=(32,), **FIT).fit(*reg[0])


@pytest.mark.parametrize("kind", ["ensemble", "hydra"])
def test_split_conformal_intervals_cover_as_promised(reg, ensemble_reg, kind):
    (X_fit, y_fit), cal, (X_test, y_test) = reg
    model = ensemble_reg
    if kind == "hydra":
        model = HydraDistiller(teacher=ensemble_reg, n_heads=2, max_epochs=40,
                               device="cpu", random_state=0).fit(X_fit, y_fit)  # fmt: skip
    conformal = SplitConformalRegressor(model, confidence_level=TARGET, prefit=True)
    conformal.conformalize(*cal)
    _, intervals = conformal.predict_interval(X_test)
    lo, hi = intervals[:, 0, 0], intervals[:, 1, 0]
    coverage = np.mean((y_test >= lo) & (y_test <= hi))
    assert abs(coverage - TARGET) <= 0.03, coverage
    assert np.all(hi > lo)


def test_split_conformal_sets_cover_as_promised():
    X, y = make_classification(n_samples=4000, n_features=6, n_informative=4,
                               n_classes=3, random_state=0)  # fmt: skip
    (X_fit, y_fit), cal, (X_test, y_test) = _split(X, y)
    clf = EnsembleClassifier(n_members=3, hidden_layer_sizes=(32,), **FIT)
    clf.fit(X_fit, y_fit)
    conformal = SplitConformalClassifier(clf, confidence_level=TARGET, prefit=True)
    conformal.conformalize(*cal)
    _, sets = conformal.predict_set(X_test)
    coverage = np.mean(sets[np.arange(len(y_test)), y_test, 0])
    assert abs(coverage - TARGET) <= 0.03, coverage
