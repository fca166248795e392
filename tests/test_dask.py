"""Model selection on a dask cluster: ``joblib.parallel_config(backend="dask")``.

A two-process ``distributed.LocalCluster`` is started once for the module.
``GridSearchCV`` and ``cross_val_score`` over skdistill estimators (with a
member module class defined inside the test, which cloudpickle must carry to
the workers) give the same results as in this process.
"""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.preprocessing import StandardScaler
from torch import nn

from skdistill import EnsembleClassifier, EnsembleRegressor, HydraDistiller

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

NET = dict(hidden_layer_sizes=(8,), max_epochs=2, batch_size=32, lr=1e-2)
NET.update(device="cpu", random_state=0)
STUDENT = dict(core_layer_sizes=(8,), head_layer_sizes=(4,), max_epochs=2)
STUDENT.update(batch_size=32, lr=1e-2, device="cpu", random_state=0)
CV = KFold(3, shuffle=True, random_state=0)


def _one_torch_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    )  # fmt: skip
    client = distributed.Client(cluster)
    # Each worker computes tiny networks: one torch thread each, as here.
    client.run(_one_torch_thread)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=150, n_features=5, n_informative=3, n_redundant=0, n_classes=3,
        random_state=0,
    )  # fmt: skip
    return StandardScaler().fit_transform(X), y


def on_cluster(client, fn):
    """Run ``fn()`` under the dask joblib backend; also return the task count."""
    with distributed.get_task_stream(client) as tasks:
        with joblib.parallel_config(backend="dask"):
            result = fn()
    return result, len(tasks.data)


def test_grid_search_ensemble_with_local_module_class(client, data):
    X, y = data

    class Member(nn.Module):  # defined here: only cloudpickle can ship it
        def __init__(self, in_features, out_features):
            super().__init__()
            self.hidden = nn.Linear(in_features, 6)
            self.out = nn.Linear(6, out_features)

        def forward(self, x):
            return self.out(torch.relu(self.hidden(x)))

    def search():
        grid = GridSearchCV(
            EnsembleClassifier(n_members=2, module=Member, **NET),
            {"lr": [1e-3, 1e-2]}, cv=CV,
        )  # fmt: skip
        return grid.fit(X, y)

    local = search()
    remote, n_tasks = on_cluster(client, search)
    assert n_tasks >= 6  # 2 candidates x 3 folds ran on the workers
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    np.testing.assert_array_equal(
        remote.cv_results_["split0_test_score"], local.cv_results_["split0_test_score"]
    )
    assert remote.best_params_ == local.best_params_
    # The refitted best model uses the local class and predicts alike.
    np.testing.assert_array_equal(
        remote.best_estimator_.predict_proba(X), local.best_estimator_.predict_proba(X)
    )


def test_cross_val_score_hydra(client, data):
    X, y = data

    def scores():
        student = HydraDistiller(
            EnsembleClassifier(n_members=3, **NET), n_heads=2, **STUDENT
        )
        return cross_val_score(student, X, y, cv=CV)

    local = scores()
    remote, n_tasks = on_cluster(client, scores)
    assert n_tasks >= 3
    np.testing.assert_array_equal(remote, local)


def test_grid_search_hydra_and_regressor(client, data):
    X, y = data
    reg_y = X[:, 0] * 2.0 + X[:, 1]

    def search():
        hydra = GridSearchCV(
            HydraDistiller(EnsembleClassifier(n_members=2, **NET), n_heads=2, **STUDENT),
            {"diversity": [0.0, 0.1]}, cv=CV,
        ).fit(X, y)  # fmt: skip
        reg = cross_val_score(EnsembleRegressor(n_members=2, **NET), X, reg_y, cv=CV)
        return hydra.cv_results_["mean_test_score"], reg

    local = search()
    remote, _ = on_cluster(client, search)
    np.testing.assert_array_equal(remote[0], local[0])
    np.testing.assert_array_equal(remote[1], local[1])
