"""Distilling a teacher given by its members' stored outputs (TeacherOutputs)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from distill_settings import STUDENT
from scipy.special import log_softmax, softmax
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skdistill import (
    HydraDistiller,
    KDDistiller,
    TeacherOutputs,
    UnknownRowsError,
)
from skdistill import teachers as T

NOVAL = dict(validation_fraction=0.0, early_stopping=False)


def _logits(n_members, n, k, seed=0, scale=3.0):
    return np.random.default_rng(seed).normal(scale=scale, size=(n_members, n, k))


def test_probabilities_distil_like_the_ensemble_they_came_from(
    clf_data, fitted_ensemble
):
    X, y = clf_data
    P = fitted_ensemble.predict_members(X)
    stored = TeacherOutputs(X, probabilities=P, classes=fitted_ensemble.classes_)
    kw = dict(n_heads=2, extra_inputs=None, random_state=0, **STUDENT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no validation copies
        from_outputs = HydraDistiller(teacher=stored, **kw).fit(X, y)
    direct = HydraDistiller(teacher=fitted_ensemble, **NOVAL, **kw)
    from_outputs_nv = HydraDistiller(teacher=stored, **NOVAL, **kw)
    direct.fit(X, y)
    from_outputs_nv.fit(X, y)
    # Same targets, same seed: the same training as with the live teacher.
    np.testing.assert_allclose(
        from_outputs_nv.history_[:, "train_loss"],
        direct.history_[:, "train_loss"],
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        from_outputs_nv._teacher_targets(X), direct._teacher_targets(X), atol=1e-6
    )
    assert from_outputs.n_teacher_members_ == P.shape[0]
    assert from_outputs.score(X, y) > 0.8
    # The instance passed in stays unfitted; the fitted clone looks rows up.
    assert not T.teacher_is_fitted(stored)
    rows = np.array([5, 0, 17])
    np.testing.assert_allclose(
        from_outputs.teacher_.predict_members(X[rows]), P[:, rows], atol=1e-12
    )


def test_logits_are_used_without_the_probability_floor(clf_data):
    X, y = clf_data
    Z = _logits(3, len(X), 3, scale=15.0)  # gaps far beyond log(1e-8) = -18.4
    kd = KDDistiller(
        teacher=TeacherOutputs(X, logits=Z),
        extra_inputs=None,
        **NOVAL,
        random_state=0,
        **STUDENT,
    ).fit(X, y)
    targets = kd._teacher_targets(X)  # (n, N, K), as trained on
    expected = log_softmax(Z, axis=-1).transpose(1, 0, 2)
    assert expected.min() < -40
    np.testing.assert_allclose(targets, expected, rtol=1e-6)
    np.testing.assert_allclose(
        kd.teacher_.predict_members(X[:4]), softmax(Z[:, :4], axis=-1), atol=1e-12
    )
    # Probabilities of the same members are floored, as for any teacher.
    kd_p = clone(kd).set_params(
        teacher=TeacherOutputs(X, probabilities=softmax(Z, axis=-1))
    )
    kd_p.fit(X, y)
    assert kd_p._teacher_targets(X).min() == pytest.approx(np.log(1e-8), rel=1e-6)


def test_classes_label_the_columns(clf_data):
    X, y = clf_data
    names = np.array(["a", "b", "c"])
    Z = _logits(2, len(X), 3)
    # Columns stored in the order c, a, b.
    stored = TeacherOutputs(X, logits=Z, classes=["c", "a", "b"])
    kd = KDDistiller(teacher=stored, extra_inputs=None, **NOVAL, **STUDENT).fit(
        X, names[y]
    )
    np.testing.assert_allclose(
        kd._teacher_targets(X[:5])[:, 0], log_softmax(Z[0, :5], -1)[:, [1, 2, 0]]
    )
    with pytest.raises(ValueError, match="classes"):
        KDDistiller(teacher=stored, **STUDENT).fit(X, y)  # labels 0..2


def test_regression_means_and_variances(reg_data, fitted_reg_ensemble):
    X, y = reg_data
    means, variances = fitted_reg_ensemble.predict_members(X)
    stored = TeacherOutputs(X, means=means, variances=variances)
    assert T.teacher_task(stored) == "regression"
    kw = dict(n_heads=2, extra_inputs=None, **NOVAL, random_state=0)
    h = HydraDistiller(teacher=stored, **kw, **STUDENT).fit(X, y)
    direct = HydraDistiller(teacher=fitted_reg_ensemble, **kw, **STUDENT).fit(X, y)
    np.testing.assert_allclose(h.predict(X), direct.predict(X), rtol=1e-4, atol=1e-3)
    got_m, got_v = h.teacher_.predict_members(X[[3, 1]])
    np.testing.assert_array_equal(got_m, means[:, [3, 1]])
    np.testing.assert_array_equal(got_v, variances[:, [3, 1]])


def test_grid_search_over_a_student_parameter(clf_data, fitted_ensemble):
    X, y = clf_data
    P = fitted_ensemble.predict_members(X)
    search = GridSearchCV(
        HydraDistiller(
            teacher=TeacherOutputs(X, probabilities=P),
            n_heads=2,
            extra_inputs=None,
            random_state=0,
            **STUDENT,
        ),
        {"alpha": [0.5, 0.9]},
        cv=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        search.fit(X, y)
    assert np.all(search.cv_results_["mean_test_score"] > 0.7)
    assert search.best_estimator_.teacher_.n_members_ == P.shape[0]


def test_dataframe_rows_are_matched_by_value_not_index(clf_data):
    X, y = clf_data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    Z = _logits(2, len(X), 3)
    stored = TeacherOutputs(frame, logits=Z).fit()
    shuffled = frame.iloc[[9, 2, 4]].reset_index(drop=True)
    np.testing.assert_allclose(
        stored.predict_members(shuffled), softmax(Z[:, [9, 2, 4]], -1)
    )
    # A float32 X is found from its exact float64 copy (a validated array).
    X32 = X.astype(np.float32)
    stored32 = TeacherOutputs(X32, logits=Z).fit()
    np.testing.assert_array_equal(
        stored32.predict_members(X32[[9]].astype(np.float64)),
        stored.predict_members(X[[9]]),
    )
    # -0.0 and 0.0 are the same value.
    zero = np.zeros((1, X.shape[1]))
    signed = TeacherOutputs(zero, logits=Z[:, :1]).fit()
    assert signed.predict_members(-zero).shape == (2, 1, 3)


def test_unknown_rows_raise_and_extra_inputs_are_dropped_with_one_warning(clf_data):
    X, y = clf_data
    stored = TeacherOutputs(X, logits=_logits(2, len(X), 3)).fit()
    with pytest.raises(UnknownRowsError, match="not among"):
        stored.predict_members(X[:3] + 1e-9)
    assert issubclass(UnknownRowsError, ValueError)
    with pytest.raises(UnknownRowsError):
        TeacherOutputs(X[:100], logits=_logits(2, 100, 3)).fit(X)
    informative = 4.0 * np.eye(3)[y] + _logits(2, len(X), 3, scale=1.0)
    kd = KDDistiller(
        teacher=TeacherOutputs(X, logits=informative),
        extra_inputs="noise",
        random_state=0,
        **STUDENT,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kd.fit(X, y)
    mine = [w for w in caught if "no outputs for the perturbed" in str(w.message)]
    assert len(mine) == 1
    assert kd.n_train_rows_ < len(X)  # a validation split, no extra rows
    assert kd.score(X, y) > 0.8


def test_stored_unlabelled_rows_reach_the_student_and_unknown_ones_raise(clf_data):
    """Stored outputs on extra rows, passed as X_unlabelled, are used even when
    the perturbed copies cannot be (the default extra_inputs="noise")."""
    X, y = clf_data
    X_extra = X + np.random.default_rng(1).normal(size=X.shape)
    X_all = np.vstack([X, X_extra])
    logits = 4.0 * np.eye(3)[np.r_[y, y]] + _logits(2, len(X_all), 3, scale=1.0)
    teacher = TeacherOutputs(X_all, logits=logits)
    from unittest import mock

    from skdistill.distill._extra import _ExtraRows

    pools = []
    real_pool = _ExtraRows.pool

    def pool(self):
        rows = real_pool(self)
        pools.append(0 if rows is None else len(rows.X))
        return rows

    with warnings.catch_warnings(), mock.patch.object(_ExtraRows, "pool", pool):
        warnings.simplefilter("ignore", UserWarning)  # no perturbed copies
        kd = KDDistiller(teacher=teacher, random_state=0, **STUDENT, **NOVAL)
        kd.fit(X, y, X_unlabelled=X_extra)
    assert pools == [len(X_extra)]  # every unlabelled row, no perturbed copy
    only_X = TeacherOutputs(X, logits=logits[:, : len(X)])
    with pytest.raises(ValueError, match="X_unlabelled holds rows the stored"):
        KDDistiller(teacher=only_X, **STUDENT).fit(X, y, X_unlabelled=X + 5.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(probabilities=np.full((2, 10, 3), np.nan)), "NaN"),
        (dict(logits=np.full((2, 10, 3), np.inf)), "NaN or infinity"),
        (dict(probabilities=np.tile([1.2, -0.2, 0.0], (2, 10, 1))), "negative"),
        (dict(probabilities=np.full((2, 10, 3), 0.5)), "sum to 1"),
        (dict(probabilities=np.full((10, 3), 1 / 3)), "shape"),
        (dict(logits=np.zeros((2, 9, 3))), "9 rows"),
        (dict(means=np.zeros((2, 10))), "variances= is missing"),
        (dict(means=np.zeros((2, 10)), variances=np.zeros((2, 10))), "> 0"),
        (dict(means=np.zeros((2, 10)), variances=np.ones((2, 9))), "shape"),
        (dict(logits=np.zeros((2, 10, 3)), means=np.zeros((2, 10))), "one kind"),
        (dict(), "no outputs"),
        (dict(logits=np.zeros((2, 10, 3)), classes=["a", "b"]), "2 labels"),
        (dict(logits=np.zeros((2, 10, 3)), classes=["a", "b", "a"]), "repeated"),
    ],
)
def test_bad_outputs_raise_clear_errors(kwargs, match):
    X = np.arange(20.0).reshape(10, 2)
    with pytest.raises(ValueError, match=match):
        TeacherOutputs(X, **kwargs).fit()


def test_missing_x_wrong_width_and_ambiguous_duplicates():
    X = np.arange(20.0).reshape(10, 2)
    with pytest.raises(ValueError, match="needs X"):
        TeacherOutputs(logits=np.zeros((2, 10, 3))).fit()
    stored = TeacherOutputs(X, logits=np.zeros((2, 10, 3))).fit()
    with pytest.raises(ValueError, match="2 features"):
        stored.predict_members(np.zeros((3, 3)))
    X_dup = X.copy()
    X_dup[4] = X_dup[1]
    Z = _logits(2, 10, 3)
    with pytest.raises(ValueError, match="rows 1 and 4"):
        TeacherOutputs(X_dup, logits=Z).fit()
    Z[:, 4] = Z[:, 1]  # equal rows with equal outputs are fine
    assert TeacherOutputs(X_dup, logits=Z).fit().predict_members(X[[1]]).shape == (
        2,
        1,
        3,
    )


def test_a_student_of_stored_outputs_saves_and_loads(clf_data, tmp_path):
    import pickle

    from skdistill import load

    X, y = clf_data
    Z = 4.0 * np.eye(3)[y] + _logits(2, len(X), 3, scale=1.0)
    kd = KDDistiller(
        teacher=TeacherOutputs(X, logits=Z), extra_inputs=None, **NOVAL, **STUDENT
    ).fit(X, y)
    kd.save(tmp_path / "kd.skd")
    for copy in (load(tmp_path / "kd.skd"), pickle.loads(pickle.dumps(kd))):
        np.testing.assert_allclose(copy.predict_proba(X), kd.predict_proba(X))
        np.testing.assert_allclose(
            copy.teacher_.predict_members(X[[7, 3]]), softmax(Z[:, [7, 3]], -1)
        )


def test_no_extra_inputs_means_no_perturbed_validation_rows(clf_data):
    """extra_inputs=None is "only the rows": no noisy copies, not even held out
    (they raised the stored outputs' warning, and fed category codes noise)."""
    X, y = clf_data
    teacher = TeacherOutputs(X, logits=_logits(2, len(X), 3))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*perturbed", category=UserWarning)
        KDDistiller(teacher=teacher, extra_inputs=None, random_state=0, **STUDENT).fit(
            X, y
        )
