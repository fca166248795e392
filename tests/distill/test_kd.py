import numpy as np
import pytest
from distill_settings import STUDENT, TINY
from sklearn.base import BaseEstimator, TransformerMixin, is_regressor
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from skdistill import EnsembleClassifier, KDDistiller


def test_hinton_kd_student_has_zero_epistemic(clf_data, fitted_ensemble):
    X, y = clf_data
    kd = KDDistiller(teacher=fitted_ensemble, random_state=0, **STUDENT).fit(X, y)
    assert kd.predict_members(X).shape == (1, len(X), 3)
    u = kd.predict_uncertainty(X)
    np.testing.assert_array_equal(u.epistemic, 0.0)
    np.testing.assert_allclose(u.total, u.aleatoric)
    assert kd.score(X, y) > 0.8
    # The student follows its teacher closely on the training data.
    agree = np.mean(kd.predict(X) == fitted_ensemble.predict(X))
    assert agree > 0.85


def test_weighted_soft_labels(clf_data, fitted_ensemble):
    X, y = clf_data
    wsl = KDDistiller(teacher=fitted_ensemble, soft_label_weighting="wsl", alpha=2.5,
                      temperature=2.0, random_state=0, **STUDENT).fit(X, y)  # fmt: skip
    kd = KDDistiller(teacher=fitted_ensemble, random_state=0, **STUDENT).fit(X, y)
    assert wsl.score(X, y) > 0.8
    assert not np.allclose(wsl.predict_proba(X), kd.predict_proba(X))
    with pytest.raises(ValueError, match="soft_label_weighting"):
        KDDistiller(teacher=fitted_ensemble, soft_label_weighting="nope",
                    **STUDENT).fit(X, y)  # fmt: skip


def test_teacher_free_virtual_teacher(clf_data):
    X, y = clf_data
    tf = KDDistiller(teacher="virtual", virtual_a=0.9, random_state=0, **STUDENT)
    tf.fit(X, y)
    assert not hasattr(tf, "teacher_")  # nothing to fit or run
    assert tf.score(X, y) > 0.8
    # The virtual teacher caps confidence near a: no prediction is one-hot.
    assert tf.predict_proba(X).max() < 0.999


def test_teacher_free_yuan_form_is_less_confident(clf_data):
    X, y = clf_data
    kw = dict(teacher="virtual", virtual_a=0.9, random_state=0, **STUDENT)
    log_form = KDDistiller(virtual_form="log", **kw).fit(X, y)
    yuan = KDDistiller(virtual_form="yuan", **kw).fit(X, y)
    assert yuan.net_.criterion_.virtual_form == "yuan"
    # softmax(q / T) is much flatter than softmax(log q / T): the student it
    # teaches is less confident on the training rows.
    assert yuan.predict_proba(X).max(1).mean() < log_form.predict_proba(X).max(1).mean()
    with pytest.raises(ValueError, match="virtual_form"):
        KDDistiller(virtual_form="exp", **kw).fit(X, y)


class RecordingForest(RandomForestClassifier):
    """Remembers the width of every X it was fitted on or asked about."""

    def fit(self, X, y, sample_weight=None):
        self.fit_widths_ = [np.asarray(X).shape[1]]
        return super().fit(X, y, sample_weight)


class FirstColumns(TransformerMixin, BaseEstimator):
    """A degraded view: the first k columns, rounded (coarser features)."""

    def __init__(self, k=2):
        self.k = k

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        return np.round(np.asarray(X, dtype=float)[:, : self.k], 1)


def test_cross_quality_student_sees_transformed_input(clf_data):
    X, y = clf_data
    teacher = RecordingForest(n_estimators=10, max_depth=4, random_state=0)
    kd = KDDistiller(teacher=teacher, student_transform=FirstColumns(k=2),
                     random_state=0, **STUDENT).fit(X, y)  # fmt: skip
    assert kd.teacher_.fit_widths_ == [X.shape[1]]  # the teacher saw everything
    assert kd.n_student_features_ == 2 and kd.n_features_in_ == X.shape[1]
    assert kd.net_.module_.core[0].in_features == 2
    # Predictions take the full input and degrade it the same way.
    proba = kd.predict_proba(X)
    assert proba.shape == (len(X), 3)
    # The student only depends on the first two (rounded) columns.
    X_noise = X.copy()
    X_noise[:, 2:] = np.random.RandomState(1).normal(size=X_noise[:, 2:].shape)
    np.testing.assert_allclose(kd.predict_proba(X_noise), proba)


def test_kd_with_list_and_single_model_teachers(clf_data):
    X, y = clf_data
    members = [LogisticRegression(C=c).fit(X, y) for c in (0.1, 1.0, 10.0)]
    kd = KDDistiller(teacher=members, random_state=0, **STUDENT).fit(X, y)
    assert kd.n_teacher_members_ == 3 and kd.score(X, y) > 0.8
    single = KDDistiller(teacher=LogisticRegression(), random_state=0, **STUDENT)
    assert single.fit(X, y).n_teacher_members_ == 1


def test_kd_regression(reg_data, fitted_reg_ensemble):
    X, y = reg_data
    kd = KDDistiller(teacher=fitted_reg_ensemble, random_state=0,
                     **{**STUDENT, "max_epochs": 40}).fit(X, y)  # fmt: skip
    assert is_regressor(kd) and not hasattr(kd, "predict_proba")
    assert kd.score(X, y) > 0.7
    np.testing.assert_array_equal(kd.predict_uncertainty(X).epistemic, 0.0)


def test_kd_cross_val(clf_data):
    X, y = clf_data
    teacher = EnsembleClassifier(
        n_members=2, random_state=0, **{**TINY, "max_epochs": 3}
    )
    kd = KDDistiller(teacher=teacher, random_state=0, **{**STUDENT, "max_epochs": 3})
    assert cross_val_score(kd, X, y, cv=3).shape == (3,)


def test_virtual_teacher_and_wsl_conflict_is_an_error():
    from sklearn.datasets import make_classification

    X, y = make_classification(60, 4, random_state=0)
    student = KDDistiller(teacher="virtual", soft_label_weighting="wsl", max_epochs=2)
    with pytest.raises(ValueError, match="teacher='virtual' has none"):
        student.fit(X, y)
