"""Reproducibility on CPU: the same integer ``random_state`` gives the same model.

Different seeds give different members, and within one fit the members (or
Hydra's heads) differ from each other. A fit does not disturb the caller's
global random state.
"""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification, make_regression
from sklearn.preprocessing import StandardScaler
from torch import nn

from skdistill import (
    EnDDDistiller,
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    KDDistiller,
)

NET = dict(hidden_layer_sizes=(8,), max_epochs=3, batch_size=32, lr=1e-2)
NET.update(device="cpu")
STUDENT = dict(core_layer_sizes=(8,), head_layer_sizes=(4,), max_epochs=3)
STUDENT.update(batch_size=32, lr=1e-2, device="cpu")


class TanhMember(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.hidden = nn.Linear(in_features, 8)
        self.out = nn.Linear(8, out_features)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x)))


@pytest.fixture(scope="module")
def clf_data():
    X, y = make_classification(
        n_samples=150, n_features=5, n_informative=3, n_redundant=0, n_classes=3,
        random_state=0,
    )  # fmt: skip
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def reg_data():
    X, y = make_regression(n_samples=120, n_features=4, noise=5.0, random_state=0)
    return StandardScaler().fit_transform(X), y


def _members(est, X):
    """Per-member (per-head) predictions as one float array, members first."""
    out = est.predict_members(X)
    if isinstance(out, tuple):  # regression: (means, variances)
        return np.stack(out, axis=-1)
    return out


ENSEMBLES = {
    "clf": lambda seed: EnsembleClassifier(n_members=4, random_state=seed, **NET),
    "clf_bootstrap_dropout": lambda seed: EnsembleClassifier(
        n_members=4, bootstrap=True, dropout=0.2, random_state=seed, **NET
    ),
    "clf_mutual_learning": lambda seed: EnsembleClassifier(
        n_members=4, mutual_learning=0.5, random_state=seed, **NET
    ),
    "clf_user_module": lambda seed: EnsembleClassifier(
        n_members=4, module=TanhMember, random_state=seed, **NET
    ),
    "reg": lambda seed: EnsembleRegressor(n_members=4, random_state=seed, **NET),
}

STUDENTS = {
    "hydra": lambda seed: HydraDistiller(
        EnsembleClassifier(n_members=4, random_state=seed, **NET),
        n_heads=3, random_state=seed, **STUDENT,
    ),
    "hydra_two_stage": lambda seed: HydraDistiller(
        EnsembleClassifier(n_members=4, random_state=seed, **NET),
        n_heads=3, mean_head_init=True, dropout=0.1, random_state=seed,
        **{**STUDENT, "max_epochs": 4},
    ),
    "hydra_reg": lambda seed: HydraDistiller(
        EnsembleRegressor(n_members=3, random_state=seed, **NET),
        n_heads=3, random_state=seed, **STUDENT,
    ),
}  # fmt: skip


def _data(name, clf_data, reg_data):
    return reg_data if name.endswith("reg") else clf_data


@pytest.mark.parametrize("name", [*ENSEMBLES, *STUDENTS])
def test_same_seed_same_model(name, clf_data, reg_data):
    make = {**ENSEMBLES, **STUDENTS}[name]
    X, y = _data(name, clf_data, reg_data)
    a, b = make(0).fit(X, y), make(0).fit(X, y)
    np.testing.assert_array_equal(_members(a, X), _members(b, X))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    for key, value in a.predict_uncertainty(X).items():
        np.testing.assert_array_equal(value, b.predict_uncertainty(X)[key])
    assert a.history_[:, "train_loss"] == b.history_[:, "train_loss"]
    for (k, p), (_, q) in zip(
        a.net_.module_.state_dict().items(), b.net_.module_.state_dict().items()
    ):
        assert torch.equal(p, q), k


@pytest.mark.parametrize("name", [*ENSEMBLES, *STUDENTS])
def test_other_seed_other_model(name, clf_data, reg_data):
    make = {**ENSEMBLES, **STUDENTS}[name]
    X, y = _data(name, clf_data, reg_data)
    a, b = _members(make(0).fit(X, y), X), _members(make(1).fit(X, y), X)
    assert a.shape == b.shape
    # Every member (head) differs from its namesake in the other fit.
    for i in range(len(a)):
        assert not np.allclose(a[i], b[i]), i


@pytest.mark.parametrize("name", [*ENSEMBLES, *STUDENTS])
def test_members_differ_within_a_fit(name, clf_data, reg_data):
    make = {**ENSEMBLES, **STUDENTS}[name]
    X, y = _data(name, clf_data, reg_data)
    members = _members(make(0).fit(X, y), X)
    for i in range(len(members)):
        for j in range(i + 1, len(members)):
            assert not np.allclose(members[i], members[j], atol=1e-6), (i, j)


def test_members_start_different(clf_data):
    """Each member has its own initialisation (not one init copied N times)."""
    X, y = clf_data
    est = EnsembleClassifier(n_members=4, random_state=0, **NET)
    est.set_params(max_epochs=1, lr=1e-12).fit(X, y)  # barely trained
    for name, p in est.net_.module_.state_dict().items():
        if p.dim() and p.shape[0] == 4 and p[0].numel() > 1:
            flat = p.reshape(4, -1)
            for i in range(4):
                for j in range(i + 1, 4):
                    assert not torch.allclose(flat[i], flat[j]), (name, i, j)


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: KDDistiller(
            EnsembleClassifier(n_members=3, random_state=seed, **NET),
            random_state=seed, **STUDENT,
        ),
        lambda seed: KDDistiller("virtual", random_state=seed, **STUDENT),
        lambda seed: EnDDDistiller(
            EnsembleClassifier(n_members=3, random_state=seed, **NET),
            random_state=seed, **STUDENT,
        ),
    ],
    ids=["kd", "kd_virtual", "endd"],
)  # fmt: skip
def test_single_head_students_are_reproducible(make, clf_data):
    X, y = clf_data
    a, b, c = make(0).fit(X, y), make(0).fit(X, y), make(1).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(_members(a, X), _members(b, X))
    assert not np.allclose(a.predict_proba(X), c.predict_proba(X))


def test_fit_leaves_global_random_state_alone(clf_data):
    X, y = clf_data
    torch.manual_seed(123)
    np.random.seed(123)
    expected_torch, expected_np = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(123)
    HydraDistiller(
        EnsembleClassifier(n_members=2, random_state=0, **NET),
        n_heads=2, dropout=0.1, random_state=0, **STUDENT,
    ).fit(X, y)  # fmt: skip
    assert torch.equal(torch.rand(3), expected_torch)
    np.testing.assert_array_equal(np.random.rand(3), expected_np)


def test_random_state_instance_and_none(clf_data):
    """sklearn's convention: a RandomState instance or None gives fresh draws."""
    X, y = clf_data
    rng = np.random.RandomState(0)
    est = EnsembleClassifier(n_members=2, random_state=rng, **NET)
    first = est.fit(X, y).predict_proba(X)
    second = est.fit(X, y).predict_proba(X)
    assert not np.allclose(first, second)
    # The same instance state again reproduces the sequence.
    est.set_params(random_state=np.random.RandomState(0))
    np.testing.assert_array_equal(est.fit(X, y).predict_proba(X), first)
