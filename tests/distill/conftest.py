import pytest
from distill_settings import TINY
from sklearn.datasets import make_classification, make_regression
from sklearn.preprocessing import StandardScaler

from skdistill import EnsembleClassifier, EnsembleRegressor


@pytest.fixture(scope="session")
def clf_data():
    X, y = make_classification(
        n_samples=240, n_features=6, n_informative=4, n_redundant=0, n_classes=3,
        class_sep=1.5, random_state=0,
    )  # fmt: skip
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="session")
def reg_data():
    X, y = make_regression(n_samples=200, n_features=4, noise=10.0, random_state=0)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="session")
def fitted_ensemble(clf_data):
    return EnsembleClassifier(n_members=4, random_state=0, **TINY).fit(*clf_data)


@pytest.fixture(scope="session")
def fitted_reg_ensemble(reg_data):
    return EnsembleRegressor(n_members=3, random_state=0, **TINY).fit(*reg_data)
