"""DataFrames with string and categorical columns: the teacher's, as they are."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skdistill import (
    EnDDDistiller,
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    KDDistiller,
)
from skdistill.teachers import member_outputs, n_members

FAST = dict(max_epochs=60, device="cpu", random_state=0)


def _frame(n=240, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "city": rng.choice(["paris", "rome", "oslo"], n),
            "kind": pd.Categorical(rng.choice(["a", "b"], n)),
            "age": rng.normal(40, 10, n),
            "count": rng.integers(0, 5, n),
        }
    )
    y = ((df.city == "rome").to_numpy() ^ (df.age > 40).to_numpy()).astype(int)
    return df, y


def _encoder():
    return make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["city", "kind"]),
        (StandardScaler(), ["age", "count"]),
    )


def _teacher(task="classification"):
    cls = EnsembleClassifier if task == "classification" else EnsembleRegressor
    return make_pipeline(
        _encoder(), cls(n_members=3, max_epochs=40, batch_size=32, random_state=0)
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda t: HydraDistiller(t, n_heads=2, student_transform=_encoder(), **FAST),
        lambda t: KDDistiller(t, student_transform=_encoder(), **FAST),
        lambda t: EnDDDistiller(t, student_transform=_encoder(), **FAST),
        lambda t: HydraDistiller(t, n_heads=2, **FAST),  # the teacher's steps
    ],
    ids=["hydra", "kd", "endd", "hydra_teacher_steps"],
)
def test_string_and_categorical_columns_reach_the_teacher(make):
    df, y = _frame()
    student = make(_teacher()).fit(df, y)
    assert student.n_features_in_ == 4
    assert list(student.feature_names_in_) == ["city", "kind", "age", "count"]
    assert student.n_student_features_ == 7  # 3 + 2 one-hot, 2 scaled
    test, y_test = _frame(120, seed=1)
    assert student.score(test, y_test) > 0.7  # chance is about 0.5
    unc = student.predict_uncertainty(test)
    assert np.all(np.isfinite(unc.total))


def test_the_pipeline_teacher_keeps_its_members():
    df, y = _frame()
    teacher = _teacher().fit(df, y)
    assert n_members(teacher) == 3
    assert member_outputs(teacher, df).shape == (3, len(df), 2)
    student = HydraDistiller(teacher, **FAST).fit(df, y)
    assert student.n_teacher_members_ == 3 and student.n_heads_ == 3


def test_regression_on_a_mixed_frame():
    df, _ = _frame()
    y = df.age.to_numpy() * 0.1 + (df.city == "oslo").to_numpy()
    student = KDDistiller(_teacher("regression"), **FAST).fit(df, y)
    assert student.task_ == "regression"
    assert student.score(df, y) > 0.5


def test_extra_inputs_perturb_numbers_and_copy_categories():
    df, y = _frame()
    student = HydraDistiller(_teacher(), n_heads=2, n_extra=1, max_epochs=2)
    student.fit(df, y)
    from skdistill.distill._extra import _ExtraRows

    extra = _ExtraRows(student, df, df, np.random.default_rng(0))
    rows = extra._for_teacher(extra._make(np.arange(5), 2), np.tile(np.arange(5), 2))
    assert list(rows.columns) == list(df.columns)
    assert list(rows.city) == list(df.city[:5]) * 2
    assert rows.kind.dtype == df.kind.dtype
    assert not np.allclose(rows.age.to_numpy(), np.tile(df.age[:5], 2))


def test_strings_without_an_encoder_fail_clearly():
    df, y = _frame()
    with pytest.raises(ValueError, match=r"non-numeric columns \['city', 'kind'\]"):
        HydraDistiller(EnsembleClassifier(), **FAST).fit(df, y)


def test_predict_needs_the_same_frame():
    df, y = _frame()
    student = KDDistiller(_teacher(), **FAST).fit(df, y)
    with pytest.raises(ValueError, match="DataFrame"):
        student.predict(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="feature names"):
        student.predict(df.rename(columns={"age": "years"}))


def test_integer_code_columns_are_copied_not_perturbed():
    """An int column of a DataFrame is a code to a one-hot encoding teacher:
    noise turned 2 into 1.37, which the teacher's encoder refused."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "k": rng.integers(0, 3, 200)})
    y = ((frame["a"] > 0) ^ (frame["k"] == 1)).to_numpy().astype(int)
    encode = make_column_transformer(
        (StandardScaler(), ["a"]), (OneHotEncoder(), ["k"])
    )  # unknown categories are an error
    teacher = make_pipeline(encode, LogisticRegression()).fit(frame, y)
    seen = []
    predict = teacher.predict_proba

    def spy(X):
        seen.append(X)
        return predict(X)

    teacher.predict_proba = spy
    KDDistiller(teacher=teacher, max_epochs=2, random_state=0).fit(frame, y)
    extra = pd.concat(seen[1:])  # after the training rows: the perturbed ones
    assert set(extra["k"]) <= {0, 1, 2}
    assert not np.allclose(extra["a"].to_numpy()[:200], frame["a"].to_numpy())
