"""skdistill.predict_uncertainty / predict_members through pipelines and searches."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import skdistill
from skdistill import EnsembleClassifier

NET = dict(hidden_layer_sizes=(8,), max_epochs=3, batch_size=32, device="cpu",
           random_state=0)  # fmt: skip


@pytest.fixture(scope="module")
def frame():
    X, y = make_classification(n_samples=60, n_features=3, n_informative=2,
                               n_redundant=0, random_state=0)  # fmt: skip
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df["colour"] = np.where(X[:, 0] > 0, "red", "blue")
    return df, y


def test_through_a_column_transformer_pipeline(frame):
    df, y = frame
    ct = ColumnTransformer([("num", StandardScaler(), ["a", "b", "c"]),
                            ("cat", OneHotEncoder(), ["colour"])])  # fmt: skip
    pipe = make_pipeline(ct, EnsembleClassifier(n_members=3, **NET)).fit(df, y)
    got = skdistill.predict_uncertainty(pipe, df)
    direct = pipe[-1].predict_uncertainty(pipe[:-1].transform(df))
    for key in ("total", "aleatoric", "epistemic"):
        np.testing.assert_array_equal(got[key], direct[key])
    members = skdistill.predict_members(pipe, df)
    assert members.shape == (3, len(df), 2)
    search = GridSearchCV(pipe, {"ensembleclassifier__n_members": [2, 3]}, cv=2)
    search.fit(df, y)
    assert skdistill.predict_uncertainty(search, df).epistemic.shape == (len(df),)


def test_a_last_step_without_uncertainty_is_named(frame):
    df, y = frame
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(df[["a"]], y)
    with pytest.raises(
        TypeError, match="LogisticRegression has no predict_uncertainty"
    ):
        skdistill.predict_uncertainty(pipe, df[["a"]])
