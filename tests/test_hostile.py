"""Hostile input: every case fits and predicts finite values, or fails clearly.

"Clearly" means a ``ValueError`` or ``TypeError`` whose message names the
problem (each case lists the words one of which must appear). Shapes,
dtypes, NaN/inf and values are fuzzed with hypothesis; the named corner
cases (empty frames, duplicated columns, 3-D X, ...) and the distillers'
teacher checks are listed explicitly.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import LinearSVC

from skdistill import (
    EnDDDistiller,
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    KDDistiller,
)

NET = dict(hidden_layer_sizes=(4,), max_epochs=1, batch_size=16, lr=1e-2)
NET.update(device="cpu", random_state=0)
STUDENT = dict(core_layer_sizes=(4,), head_layer_sizes=(2,), max_epochs=1)
STUDENT.update(batch_size=16, lr=1e-2, device="cpu", random_state=0)

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples on every run: no flaky CI
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Words that name a numerical problem with extreme (but finite) values.
EXTREME = ["loss became", "non-finite", "too large", "infinity", "overflow"]


def _finite(result):
    if isinstance(result, dict):
        return all(_finite(v) for v in result.values())
    if isinstance(result, tuple):
        return all(_finite(v) for v in result)
    return bool(np.all(np.isfinite(np.asarray(result, dtype=float))))


def fit_predict(est, X, y, X_pred=None):
    """Fit, then run every prediction method; all outputs must be finite."""
    X_pred = X if X_pred is None else X_pred
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
        pred = est.predict(X_pred)
        assert len(pred) == len(X_pred)
        if hasattr(est, "predict_proba"):
            proba = est.predict_proba(X_pred)
            assert _finite(proba)
            np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
            assert set(np.unique(pred)) <= set(est.classes_)
        else:
            assert _finite(pred)
        assert _finite(est.predict_uncertainty(X_pred))
    return est


def fails_clearly(exc, words):
    """The exception is a ValueError/TypeError naming one of ``words``."""
    assert isinstance(exc, ValueError | TypeError), repr(exc)
    message = str(exc).lower()
    assert any(w.lower() in message for w in words), (words, str(exc))


def outcome(est, X, y, *, words, X_pred=None, must_fit=False):
    """Either a clean fit and finite predictions, or a clear error."""
    try:
        fit_predict(est, X, y, X_pred)
    except Exception as exc:  # noqa: BLE001 - judged below
        if must_fit:
            raise
        fails_clearly(exc, words)
        return False
    return True


# ------------------------------------------------------------------ fuzzing
DTYPES = st.sampled_from(["float64", "float32", "int64", "int8", "bool", "object"])


@st.composite
def feature_matrix(draw, wild=False, max_rows=24, max_features=4):
    """An (n, d) array of one dtype; ``wild`` allows NaN, inf and huge values."""
    n = draw(st.integers(1, max_rows))
    d = draw(st.integers(1, max_features))
    dtype = draw(DTYPES)
    if wild:
        elements = st.floats(allow_nan=True, allow_infinity=True, width=64)
    else:
        elements = st.floats(-1e3, 1e3, allow_nan=False, width=64)
    X = draw(hnp.arrays(np.float64, (n, d), elements=elements))
    if dtype in ("int64", "int8", "bool"):
        X = np.nan_to_num(X, nan=0.0, posinf=1.0, neginf=-1.0)
        bound = 100 if dtype == "int8" else 1e6
        X = np.clip(X, -bound, bound).astype(dtype)
    elif dtype == "object":
        X = X.astype(object)  # numbers held in an object array
    else:
        with np.errstate(over="ignore"):  # float32 overflow: inf, as a user would get
            X = X.astype(dtype)
    return X


LABELS = st.sampled_from([[0, 1, 2], ["a", "b"], [True, False], [-1.0, 2.0], [7]])


@FUZZ
@given(X=feature_matrix(), labels=LABELS, data=st.data())
def test_fuzz_classifier_inputs(X, labels, data):
    y = np.array(
        data.draw(st.lists(st.sampled_from(labels), min_size=len(X), max_size=len(X)))
    )
    n_classes = len(np.unique(y))
    fitted = outcome(
        EnsembleClassifier(n_members=2, **NET), X, y,
        words=["class"], must_fit=n_classes >= 2,
    )  # fmt: skip
    assert fitted == (n_classes >= 2)


@FUZZ
@given(X=feature_matrix(), data=st.data())
def test_fuzz_regressor_inputs(X, data):
    y = data.draw(
        hnp.arrays(np.float64, len(X), elements=st.floats(-1e6, 1e6, width=64))
    )
    outcome(EnsembleRegressor(n_members=2, **NET), X, y, words=[], must_fit=True)


@FUZZ
@given(X=feature_matrix(wild=True), data=st.data())
def test_fuzz_nan_inf_and_huge_values(X, data):
    y = np.arange(len(X)) % 2
    as_float = X.astype(np.float64)
    if np.isnan(as_float).any():
        words = ["NaN"]
    elif np.isinf(as_float).any():
        words = ["infinity"]
    elif len(X) < 2:
        words = ["class"]
    else:
        words = EXTREME
    est = data.draw(
        st.sampled_from(
            [
                EnsembleClassifier(n_members=2, **NET),
                HydraDistiller(LogisticRegression(), n_heads=2, **STUDENT),
            ]
        )
    )
    fitted = outcome(est, X, y, words=words)
    if words != EXTREME:  # NaN, inf, one class: must be refused
        assert not fitted
    elif np.abs(as_float).max() < 1e3:  # moderate values must work
        assert fitted


@FUZZ
@given(X=feature_matrix(wild=True, max_rows=8))
def test_fuzz_predict_time_input(X):
    """Any array at predict time: finite predictions or a clear error."""
    d = X.shape[1]
    Xtr, ytr = make_classification(
        n_samples=40, n_features=d + 2, n_informative=2, n_redundant=0, random_state=0
    )
    est = EnsembleClassifier(n_members=2, **NET).fit(Xtr[:, :d], ytr)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            proba = est.predict_proba(X)
            unc = est.predict_uncertainty(X)
    except (ValueError, TypeError) as exc:
        fails_clearly(exc, ["NaN", "infinity", "non-finite", "float32"])
        assert (
            not np.isfinite(X.astype(float)).all()
            or np.abs(X.astype(float)).max() > 1e3
        )
    else:
        assert _finite(proba) and _finite(unc)


@st.composite
def frames(draw):
    """DataFrames with mixed column types, possibly object strings."""
    n = draw(st.integers(2, 16))
    kinds = draw(
        st.lists(
            st.sampled_from(["float", "int", "bool", "object_num", "object_str", "category"]),
            min_size=1, max_size=4,
        )
    )  # fmt: skip
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    columns = {}
    for i, kind in enumerate(kinds):
        values = rng.normal(size=n)
        if kind == "int":
            values = rng.integers(-5, 5, size=n)
        elif kind == "bool":
            values = values > 0
        elif kind == "object_num":
            values = pd.Series(values, dtype=object)
        elif kind == "object_str":
            values = pd.Series(rng.choice(["x", "y", "1.5e"], size=n), dtype=object)
        elif kind == "category":
            values = pd.Categorical(rng.choice(["lo", "hi"], size=n))
        columns[f"c{i}"] = values
    return pd.DataFrame(columns), kinds


@FUZZ
@given(frame=frames())
def test_fuzz_dataframes(frame):
    X, kinds = frame
    y = np.arange(len(X)) % 2
    has_strings = any(k in ("object_str", "category") for k in kinds)
    est = EnsembleClassifier(n_members=2, **NET)
    fitted = outcome(est, X, y, words=["convert", "string", "float"])
    assert fitted == (not has_strings)
    if fitted:
        assert list(est.feature_names_in_) == list(X.columns)
        with pytest.raises(ValueError, match="feature names"):
            est.predict(X.rename(columns={X.columns[0]: "renamed"}))


# ------------------------------------------------------------ named corners
X0, Y0 = make_classification(
    n_samples=40, n_features=4, n_informative=2, n_redundant=0, random_state=0
)


def _clf():
    return EnsembleClassifier(n_members=2, **NET)


def _reg():
    return EnsembleRegressor(n_members=2, **NET)


def _hydra():
    return HydraDistiller(LogisticRegression(), n_heads=2, **STUDENT)


CORNERS = {
    # name: (estimator factory, X, y, words; None = must fit)
    "empty_frame": (_clf, pd.DataFrame(), [], ["empty"]),
    "empty_frame_rows": (_clf, pd.DataFrame({"a": []}), [], ["empty", "0 sample"]),
    "empty_frame_hydra": (_hydra, pd.DataFrame(), [], ["empty"]),
    "zero_rows": (_clf, X0[:0], Y0[:0], ["0 sample"]),
    "zero_features": (_clf, X0[:, :0], Y0, ["0 feature"]),
    "duplicated_columns": (
        _clf, pd.DataFrame(X0, columns=["a", "a", "b", "c"]), Y0, ["unique", "duplicate"],
    ),
    "duplicated_columns_reg": (
        _reg, pd.DataFrame(X0, columns=["a", "b", "b", "c"]), Y0, ["unique", "duplicate"],
    ),
    "int_and_str_column_names": (
        _clf, pd.DataFrame(X0, columns=["a", 1, "b", "c"]), Y0, ["feature name"],
    ),
    "one_sample_clf": (_clf, X0[:1], Y0[:1], ["class"]),
    "one_sample_hydra": (_hydra, X0[:1], Y0[:1], ["class"]),
    "one_sample_reg": (_reg, X0[:1], [3.0], None),
    "two_samples": (_clf, X0[:2], [0, 1], None),
    "one_feature": (_clf, X0[:, :1], Y0, None),
    "one_feature_hydra": (_hydra, X0[:, :1], Y0, None),
    "mixed_label_objects": (
        _clf, X0, np.array([1, "a"] * 20, dtype=object), ["label type"],
    ),
    "mixed_labels_list": (_clf, X0, [1, "a"] * 20, None),  # numpy makes strings
    "float_labels_continuous": (_clf, X0, X0[:, 0], ["continuous", "label"]),
    "nan_label": (_clf, X0, np.where(Y0 == 1, np.nan, 0.0), ["NaN"]),
    "string_target_regression": (_reg, X0, np.array(["a"] * 40), ["convert", "float"]),
    "nan_target_regression": (_reg, X0, np.where(Y0 == 1, np.nan, 0.0), ["NaN"]),
    "huge_target_regression": (_reg, X0, Y0 * 1e300, ["too large"]),
    # Samples of any shape (images, sequences) are accepted: the module's job.
    "X_3d": (_clf, X0.reshape(40, 2, 2), Y0, None),
    "X_1d": (_clf, X0[:, 0], Y0, ["2D", "reshape"]),
    "X_scalar": (_clf, 3.0, Y0, ["scalar"]),
    "y_too_short": (_clf, X0, Y0[:-1], ["inconsistent"]),
    "y_too_long": (_reg, X0, np.r_[Y0, 0.0], ["inconsistent"]),
    "y_2d": (_clf, X0, np.c_[Y0, Y0], ["1d array"]),
    "y_column": (_clf, X0, Y0[:, None], None),  # sklearn ravels it (with a warning)
    "y_none": (_clf, X0, None, ["requires y"]),
    "sparse": (_clf, __import__("scipy.sparse").sparse.csr_matrix(X0), Y0, ["sparse"]),
    "complex": (_clf, X0 + 1j, Y0, ["complex"]),
    "strings": (_clf, np.full((40, 4), "x"), Y0, ["convert"]),
    "nested_lists": (_clf, X0.tolist(), Y0.tolist(), None),
    "bool_labels": (_clf, X0, Y0.astype(bool), None),
    "one_class": (_clf, X0, np.zeros(40), ["class"]),
    "huge_X": (_clf, X0 * 1e300, Y0, EXTREME),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CORNERS))
def test_named_corner_cases(name):
    make, X, y, words = CORNERS[name]
    fitted = outcome(make(), X, y, words=words or [], must_fit=words is None)
    if words is not None and words is not EXTREME:
        assert not fitted, f"{name} should have been refused"


@pytest.fixture(scope="module")
def fitted_clf():
    return EnsembleClassifier(n_members=2, **NET).fit(
        pd.DataFrame(X0, columns=list("abcd")), Y0
    )


@pytest.mark.parametrize(
    "X_pred, words",
    [
        (X0[:, :3], ["feature"]),
        (X0[:0], ["0 sample"]),
        (X0[0], ["2D", "reshape"]),
        (X0.reshape(40, 2, 2), ["samples of shape (2, 2)", "(4,)"]),
        (np.where(X0 > 1, np.nan, X0), ["NaN"]),
        (np.where(X0 > 1, -np.inf, X0), ["infinity"]),
        (np.full((3, 4), "x"), ["convert"]),
        (X0 * 1e300, ["non-finite", "too large for float32"]),
        (pd.DataFrame(X0, columns=list("abce")), ["feature names"]),
        (pd.DataFrame(), ["empty"]),
    ],
    ids=["n_features", "no_rows", "1d", "3d", "nan", "inf", "strings", "huge",
         "renamed", "empty_frame"],
)  # fmt: skip
@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_uncertainty"])
def test_predict_rejects_clearly(fitted_clf, X_pred, words, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((ValueError, TypeError)) as info:
            getattr(fitted_clf, method)(X_pred)
    fails_clearly(info.value, words)


# ---------------------------------------------------------------- teachers
class NotAnEstimator:
    """Has neither fit nor predict."""


class PredictOnly:
    """Has predict but no fit, and is not fitted."""

    def predict(self, X):
        return np.zeros(len(X))


def _fitted_logreg(y):
    return LogisticRegression().fit(X0, y)


TEACHERS = {
    # name: (distiller class, teacher, y, words)
    "string_not_virtual": (HydraDistiller, "ensemble", Y0, ["not understood"]),
    "string_wrong_case": (KDDistiller, "Virtual", Y0, ["not understood"]),
    "virtual_for_hydra": (HydraDistiller, "virtual", Y0, ["only supported by KDDistiller"]),
    "virtual_for_endd": (EnDDDistiller, "virtual", Y0, ["only supported by KDDistiller"]),
    "int": (HydraDistiller, 3, Y0, ["estimator"]),
    # No teacher: the default ensemble follows y; EnDD has no regression form.
    "none_continuous_y_for_endd": (EnDDDistiller, None, X0[:, 0], ["regression"]),
    "object": (HydraDistiller, NotAnEstimator(), Y0, ["estimator"]),
    "predict_only_unfitted": (EnDDDistiller, PredictOnly(), Y0, ["estimator", "fit"]),
    "class_not_instance": (HydraDistiller, LogisticRegression, Y0, ["class", "instance"]),
    "empty_list": (HydraDistiller, [], Y0, ["empty"]),
    "list_with_junk": (KDDistiller, [LogisticRegression(), 1], Y0, ["estimator"]),
    "linear_svc": (HydraDistiller, LinearSVC(), Y0, ["predict_proba"]),
    "linear_svc_fitted": (KDDistiller, LinearSVC().fit(X0, Y0), Y0, ["predict_proba"]),
    "regressor_for_endd": (EnDDDistiller, LinearRegression(), Y0, ["regression"]),
    "fitted_regressor_for_endd": (
        EnDDDistiller, LinearRegression().fit(X0, Y0), Y0, ["regression"],
    ),
    "ensemble_regressor_for_endd": (
        EnDDDistiller, EnsembleRegressor(n_members=2, **NET), Y0, ["regression"],
    ),
    "classes_shifted": (HydraDistiller, _fitted_logreg(Y0), Y0 + 1, ["classes"]),
    "class_unknown_to_teacher": (
        KDDistiller, _fitted_logreg(Y0), np.r_[Y0[:-2], 2, 2], ["classes"],
    ),
    "classes_as_strings": (
        EnDDDistiller, _fitted_logreg(Y0), np.array(["a", "b"])[Y0], ["classes"],
    ),
    "teacher_knows_more_classes": (
        KDDistiller, _fitted_logreg(np.r_[Y0[:-4], 2, 2, 2, 2]), Y0, ["superset"],
    ),
    "forest_other_classes": (
        HydraDistiller, RandomForestClassifier(n_estimators=3).fit(X0, Y0 + 5), Y0,
        ["classes"],
    ),
    "classifier_teacher_continuous_y": (
        HydraDistiller, LogisticRegression(), X0[:, 0], ["continuous", "label"],
    ),
    "fitted_teacher_other_features": (
        KDDistiller, LogisticRegression().fit(X0[:, :3], Y0), Y0, ["feature"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(TEACHERS))
def test_bad_teachers_fail_clearly(name):
    cls, teacher, y, words = TEACHERS[name]
    kw = {"n_heads": 2} if cls is HydraDistiller else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((ValueError, TypeError)) as info:
            cls(teacher, **kw, **STUDENT).fit(X0, y)
    fails_clearly(info.value, words)
    assert not re.search(r"unpack|has no attribute|object is not", str(info.value))
