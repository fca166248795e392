import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from distill_settings import STUDENT, TINY
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdistill import EnsembleClassifier, EnsembleRegressor, HydraDistiller
from skdistill.metrics import ece_scorer


@pytest.fixture(scope="module")
def hydra(fitted_ensemble, clf_data):
    return HydraDistiller(teacher=fitted_ensemble, n_heads=2, random_state=0,
                          **STUDENT).fit(*clf_data)  # fmt: skip


def test_outputs_and_uncertainty(hydra, clf_data):
    X, y = clf_data
    members = hydra.predict_members(X)
    assert members.shape == (2, len(X), 3)
    np.testing.assert_allclose(members.sum(-1), 1.0, rtol=1e-9)
    np.testing.assert_allclose(hydra.predict_proba(X), members.mean(0))
    u = hydra.predict_uncertainty(X)
    np.testing.assert_allclose(u.total, u.aleatoric + u.epistemic, atol=1e-10)
    assert u.epistemic.max() > 0  # two heads disagree somewhere
    assert hydra.score(X, y) > 0.8
    assert is_classifier(hydra) and not is_regressor(hydra)


def test_fitted_teacher_is_used_as_is(hydra, fitted_ensemble):
    assert hydra.teacher_ is fitted_ensemble
    assert hydra.n_teacher_members_ == 4


def test_unfitted_teacher_is_cloned_and_fitted(clf_data):
    teacher = EnsembleClassifier(n_members=3, random_state=0, **TINY)
    student = HydraDistiller(teacher=teacher, random_state=0, **STUDENT)
    student.fit(*clf_data)
    assert not hasattr(teacher, "net_")  # the user's object is untouched
    assert student.teacher_ is not teacher and hasattr(student.teacher_, "net_")
    assert student.n_heads_ == 3  # default: one head per member


@pytest.mark.parametrize("n_members, n_heads", [(5, 2), (2, 5), (3, 3)])
def test_any_member_head_ratio(clf_data, n_members, n_heads):
    teacher = EnsembleClassifier(n_members=n_members, random_state=0,
                                 **{**TINY, "max_epochs": 3})  # fmt: skip
    student = HydraDistiller(teacher=teacher, n_heads=n_heads, random_state=0,
                             **{**STUDENT, "max_epochs": 3}).fit(*clf_data)  # fmt: skip
    assert student.predict_members(clf_data[0]).shape[0] == n_heads


def test_random_forest_teacher_trees_as_members(clf_data):
    X, y = clf_data
    forest = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0)
    student = HydraDistiller(teacher=forest.fit(X, y), n_heads=8, random_state=0,
                             **STUDENT).fit(X, y)  # fmt: skip
    assert student.n_teacher_members_ == 20
    assert student.predict_members(X).shape == (8, len(X), 3)
    assert student.score(X, y) > 0.75


def test_hydra_original_configuration_with_mean_head_init(clf_data, fitted_ensemble):
    student = HydraDistiller(
        teacher=fitted_ensemble, n_heads=3, alpha=1.0, beta=1.0, diversity=0.0,
        mean_head_init=True, random_state=0, **STUDENT,
    ).fit(*clf_data)  # fmt: skip
    assert len(student.stage1_history_) == STUDENT["max_epochs"] // 2
    assert len(student.history_) == STUDENT["max_epochs"] - len(student.stage1_history_)
    members = student.predict_members(clf_data[0])
    assert members.shape[0] == 3
    assert np.abs(members[0] - members[1]).max() > 1e-4  # heads moved apart


def _mean_head_cosine(student):
    sims = []
    for w in student.net_.module_.head_weights():
        w = w.detach()
        mean = w.mean(0, keepdim=True)
        sims.append(torch.nn.functional.cosine_similarity(w, mean, dim=1).mean())
    return float(torch.stack(sims).mean())


def test_diversity_pushes_heads_apart(clf_data, fitted_ensemble):
    common = dict(
        teacher=fitted_ensemble, n_heads=4, random_state=0, diversity_warmup=0.0
    )
    common.update(STUDENT)
    plain = HydraDistiller(diversity=0.0, **common).fit(*clf_data)
    diverse = HydraDistiller(diversity=5.0, **common).fit(*clf_data)
    assert _mean_head_cosine(diverse) < _mean_head_cosine(plain) - 0.05


def test_regression_teacher(reg_data, fitted_reg_ensemble):
    X, y = reg_data
    student = HydraDistiller(teacher=fitted_reg_ensemble, n_heads=2, random_state=0,
                             **{**STUDENT, "max_epochs": 40}).fit(X, y)  # fmt: skip
    assert is_regressor(student) and not is_classifier(student)
    assert not hasattr(student, "predict_proba")
    means, variances = student.predict_members(X)
    assert means.shape == variances.shape == (2, len(X)) and (variances > 0).all()
    mean, std = student.predict(X, return_std=True)
    np.testing.assert_allclose(std**2, variances.mean(0) + means.var(0), rtol=1e-9)
    assert student.score(X, y) > 0.7
    u = student.predict_uncertainty(X)
    np.testing.assert_allclose(u.total, std**2, rtol=1e-9)


def test_teacher_with_other_classes_is_rejected(clf_data):
    X, y = clf_data
    teacher = LogisticRegression().fit(X, y)
    y_other = np.where(y == 2, 7, y)
    with pytest.raises(ValueError, match="class"):
        HydraDistiller(teacher=teacher, **STUDENT).fit(X, y_other)


@pytest.mark.parametrize("teacher", ["forest", 42, [1, 2]])
def test_bad_teacher_type(clf_data, teacher):
    with pytest.raises(TypeError):
        HydraDistiller(teacher=teacher, **STUDENT).fit(*clf_data)


class CountingEnsemble(EnsembleClassifier):
    """Counts its fits across clones (a class attribute, not a parameter)."""

    fits = 0

    def fit(self, X, y):
        type(self).fits += 1
        return super().fit(X, y)


def test_memory_fits_each_folds_teacher_once(clf_data, tmp_path):
    X, y = clf_data
    CountingEnsemble.fits = 0
    teacher = CountingEnsemble(n_members=2, random_state=0, **{**TINY, "max_epochs": 2})
    student = HydraDistiller(teacher=teacher, memory=str(tmp_path), random_state=0,
                             **{**STUDENT, "max_epochs": 2})  # fmt: skip
    grid = {"diversity": [0.0, 0.01, 0.1], "beta": [0.5, 1.0]}
    search = GridSearchCV(student, grid, scoring=ece_scorer, cv=3).fit(X, y)
    assert len(search.cv_results_["params"]) == 6
    # 3 folds + the refit on all the data, each fitted once for 6 settings.
    assert CountingEnsemble.fits == 4
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_memory_mapped_cache_gives_the_same_student(
    clf_data, fitted_ensemble, tmp_path
):
    """A read-only (memory-mapped) cache hit of the teacher's outputs is copied
    before its log is taken in place: the student trains as without a cache."""
    from joblib import Memory

    X, y = clf_data
    memory = Memory(str(tmp_path), mmap_mode="r", verbose=0)
    kwargs = dict(
        teacher=fitted_ensemble, random_state=0, **{**STUDENT, "max_epochs": 2}
    )
    plain = HydraDistiller(**kwargs).fit(X, y)
    HydraDistiller(memory=memory, **kwargs).fit(X, y)  # fills the cache
    cached = HydraDistiller(memory=memory, **kwargs).fit(X, y)  # read-only hits
    np.testing.assert_allclose(cached.predict_proba(X), plain.predict_proba(X))


def test_pipeline_grid_search_and_cross_val(clf_data):
    X, y = clf_data
    teacher = EnsembleClassifier(
        n_members=2, random_state=0, **{**TINY, "max_epochs": 3}
    )
    pipe = make_pipeline(
        StandardScaler(),
        HydraDistiller(teacher=teacher, random_state=0, **{**STUDENT, "max_epochs": 3}),
    )
    grid = {"hydradistiller__alpha": [0.5, 0.9], "hydradistiller__diversity": [0, 0.1]}
    search = GridSearchCV(pipe, grid, scoring=ece_scorer, cv=2).fit(X, y)
    assert search.best_params_["hydradistiller__alpha"] in (0.5, 0.9)
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and (scores > 0.3).all()


def test_pandas_input_and_pickle(clf_data, fitted_ensemble):
    X, y = clf_data
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    labels = pd.Series(np.array(["a", "b", "c"])[y])
    teacher = clone(fitted_ensemble)
    student = HydraDistiller(teacher=teacher, n_heads=2, random_state=0,
                             **STUDENT).fit(df, labels)  # fmt: skip
    assert list(student.feature_names_in_) == list(df.columns)
    assert set(student.predict(df)) <= {"a", "b", "c"}
    again = pickle.loads(pickle.dumps(student))
    np.testing.assert_array_equal(again.predict_proba(df), student.predict_proba(df))


def test_regression_ensemble_as_unfitted_teacher(reg_data):
    X, y = reg_data
    teacher = EnsembleRegressor(
        n_members=2, random_state=0, **{**TINY, "max_epochs": 3}
    )
    student = HydraDistiller(teacher=teacher, random_state=0, **STUDENT).fit(X, y)
    assert student.n_heads_ == 2 and np.isfinite(student.predict(X)).all()


@pytest.mark.parametrize(
    "params, match",
    [({"alpha": 1.5}, "alpha"), ({"n_heads": 0}, "n_heads"),
     ({"diversity": -1}, "diversity"), ({"temperature": 0}, "temperature")],
)  # fmt: skip
def test_bad_parameters(clf_data, fitted_ensemble, params, match):
    with pytest.raises(ValueError, match=match):
        HydraDistiller(teacher=fitted_ensemble, **{**STUDENT, **params}).fit(*clf_data)
