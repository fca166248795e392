"""A distiller tells its teacher's family once per fit and keeps the adapter."""

import pickle

import numpy as np
import pytest
from distill_settings import STUDENT
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

import skdistill.teachers as T
from skdistill import HydraDistiller, KDDistiller

FEW = {**STUDENT, "max_epochs": 2}


@pytest.fixture
def count_as_teacher(monkeypatch):
    calls = []
    real = T.as_teacher

    def counting(teacher):
        calls.append(teacher)
        return real(teacher)

    monkeypatch.setattr(T, "as_teacher", counting)
    return calls


@pytest.mark.parametrize("fitted", [True, False], ids=["fitted", "unfitted"])
def test_as_teacher_once_per_fit(clf_data, count_as_teacher, fitted):
    X, y = clf_data
    forest = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0)
    if fitted:
        forest.fit(X, y)
    student = HydraDistiller(teacher=forest, n_extra=1, random_state=0, **FEW)
    student.fit(X, y)  # perturbed extra rows ask the teacher again
    assert count_as_teacher == [forest]
    adapter = student._teacher_adapter_
    assert adapter.family == "forest" and adapter.estimator is student.teacher_
    assert (student.teacher_ is forest) == fitted
    student.fit(X, y)
    assert len(count_as_teacher) == 2


def test_regression_and_partial_fit_make_one_adapter(reg_data, count_as_teacher):
    X, y = reg_data
    forest = RandomForestRegressor(n_estimators=3, min_samples_leaf=5, random_state=0)
    forest.fit(X, y)
    KDDistiller(teacher=forest, random_state=0, **FEW).fit(X, y)
    assert len(count_as_teacher) == 1
    kd = KDDistiller(teacher=forest, random_state=0, **FEW)
    kd.partial_fit(X[:100], y[:100])
    kd.partial_fit(X[100:], y[100:])
    assert len(count_as_teacher) == 3  # one per call
    assert kd._teacher_adapter_.estimator is forest


def test_adapter_is_not_pickled_but_remade(clf_data):
    X, y = clf_data
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    student = KDDistiller(teacher=forest, random_state=0, **FEW).fit(X, y)
    copy = pickle.loads(pickle.dumps(student))
    assert "_teacher_adapter_" not in copy.__dict__
    np.testing.assert_allclose(
        copy._teacher_targets(X[:10]), student._teacher_targets(X[:10])
    )
    assert copy._teacher_adapter_.estimator is copy.teacher_
