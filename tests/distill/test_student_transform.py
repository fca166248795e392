"""student_transform as scikit-learn users write it: supervised, sparse."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.datasets import make_classification
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.feature_selection import SelectKBest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skdistill import KDDistiller

OPTS = dict(max_epochs=3, random_state=0, device="cpu")


@pytest.mark.parametrize(
    "transform", [SelectKBest(k=2), LinearDiscriminantAnalysis(n_components=1)]
)
def test_a_supervised_transform_is_fitted_with_the_labels(transform):
    """As a Pipeline fits its steps: fit(X, y), not fit(X)."""
    X, y = make_classification(120, 6, n_informative=3, random_state=0)
    teacher = LogisticRegression().fit(X, y)
    student = KDDistiller(teacher=teacher, student_transform=transform, **OPTS)
    student.fit(X, y)
    width = 2 if isinstance(transform, SelectKBest) else 1
    assert student.n_student_features_ == width
    assert student.predict_proba(X).shape == (120, 2)


def test_a_sparse_one_hot_encoding_is_made_dense():
    """30 cities: the column transformer's output turns sparse (density < 0.3)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "city": rng.choice([f"c{i}" for i in range(30)], 300),
            "age": rng.normal(40, 10, 300),
        }  # fmt: skip
    )
    y = (frame["age"] > 40).to_numpy().astype(int)
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["city"]), (StandardScaler(), ["age"])
    )
    assert hasattr(encode.fit_transform(frame), "toarray")  # sparse indeed
    teacher = make_pipeline(encode, LogisticRegression()).fit(frame, y)
    for kw in ({"student_transform": encode}, {}):  # given, or the teacher's steps
        student = KDDistiller(teacher=teacher, **kw, **OPTS).fit(frame, y)
        assert student.n_student_features_ == 31
        assert np.isfinite(student.predict_proba(frame)).all()
