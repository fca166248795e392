"""Ctrl-C during ``fit``: the model stays usable, says so, and can train on.

A KeyboardInterrupt is raised from a skorch callback, as if the user pressed
Ctrl-C during that epoch (skorch's ``partial_fit`` catches it and keeps the
model as it is).
"""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification, make_regression
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback

from skdistill import (
    EnDDDistiller,
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    KDDistiller,
    load,
)

NET = dict(hidden_layer_sizes=(8,), max_epochs=5, batch_size=32, lr=1e-2)
NET.update(device="cpu", random_state=0)
STUDENT = dict(core_layer_sizes=(8,), head_layer_sizes=(4,), max_epochs=5)
STUDENT.update(batch_size=32, lr=1e-2, device="cpu", random_state=0)

#: Which epochs raised (a module-level record: callbacks are copied per fit).
RAISED = []


class CtrlCAtEpoch(Callback):
    """Raise KeyboardInterrupt at the end of epoch ``epoch`` (1-based)."""

    def __init__(self, epoch=2, once=False):
        self.epoch = epoch
        self.once = once

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch and not (self.once and RAISED):
            RAISED.append(self.epoch)
            raise KeyboardInterrupt


class CtrlCAtBatch(Callback):
    """Raise KeyboardInterrupt after the second training batch of epoch 2."""

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training and len(net.history) == 2 and len(net.history[-1, "batches"]) == 2:
            raise KeyboardInterrupt


@pytest.fixture(autouse=True)
def _reset():
    RAISED.clear()
    yield


@pytest.fixture(scope="module")
def clf_data():
    X, y = make_classification(
        n_samples=120, n_features=5, n_informative=3, n_redundant=0, n_classes=3,
        random_state=0,
    )  # fmt: skip
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def reg_data():
    X, y = make_regression(n_samples=100, n_features=4, noise=5.0, random_state=0)
    return StandardScaler().fit_transform(X), y


def _fit_interrupted(est, X, y):
    with pytest.warns(UserWarning, match="interrupted") as record:
        est.fit(X, y)
    message = next(str(w.message) for w in record if "interrupted" in str(w.message))
    assert "KeyboardInterrupt" in message and "2 epoch" in message
    return est


def _usable(est, X):
    if hasattr(est, "predict_proba"):
        assert np.all(np.isfinite(est.predict_proba(X)))
    else:
        assert np.all(np.isfinite(est.predict(X)))
    for value in est.predict_uncertainty(X).values():
        assert np.all(np.isfinite(value))
    assert len(est.predict(X)) == len(X)


@pytest.mark.parametrize("cls", [EnsembleClassifier, EnsembleRegressor])
def test_ensemble_interrupted_then_warm_started(cls, clf_data, reg_data):
    X, y = clf_data if cls is EnsembleClassifier else reg_data
    est = cls(n_members=3, callbacks=[CtrlCAtEpoch(2)], warm_start=True, **NET)
    _fit_interrupted(est, X, y)
    assert len(est.history_) == 2
    assert est.net_.interrupted_
    _usable(est, X)
    weights = {k: v.clone() for k, v in est.net_.module_.state_dict().items()}

    # warm_start continues the same net: the callback does not fire again.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        est.fit(X, y)
    assert len(est.history_) == 2 + NET["max_epochs"]
    assert not est.net_.interrupted_
    changed = [
        not torch.equal(weights[k], v) for k, v in est.net_.module_.state_dict().items()
    ]
    assert any(changed)
    _usable(est, X)


def test_interrupted_model_pickles_and_saves(clf_data, tmp_path):
    X, y = clf_data
    est = EnsembleClassifier(n_members=2, callbacks=[CtrlCAtEpoch(2)], **NET)
    _fit_interrupted(est, X, y)
    for loaded in (pickle.loads(pickle.dumps(est)), _save_load(est, tmp_path)):
        np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
        assert len(loaded.history_) == 2


def _save_load(est, tmp_path):
    path = tmp_path / "model.skd"
    est.save(path)
    # The callbacks are the test's own classes: code the file names, trusted here.
    own = sorted({f"{type(cb).__module__}.{type(cb).__qualname__}"
                  for cb in est.callbacks or []})  # fmt: skip
    return load(path, trusted=own)


def test_interrupt_mid_epoch(clf_data):
    X, y = clf_data
    est = EnsembleClassifier(n_members=2, callbacks=[CtrlCAtBatch()], **NET)
    with pytest.warns(UserWarning, match=r"interrupted .* after 1 epoch\(s\)"):
        est.fit(X, y)  # one epoch done: the second was cut short
    # The second epoch is recorded as far as it went.
    assert len(est.history_) == 2
    assert len(est.history_[-1, "batches"]) == 2
    _usable(est, X)


def test_without_warm_start_refit_starts_again(clf_data):
    X, y = clf_data
    est = EnsembleClassifier(n_members=2, callbacks=[CtrlCAtEpoch(2, once=True)], **NET)
    _fit_interrupted(est, X, y)
    est.fit(X, y)
    assert len(est.history_) == NET["max_epochs"]


@pytest.mark.parametrize(
    "cls, task",
    [(HydraDistiller, "clf"), (HydraDistiller, "reg"), (KDDistiller, "clf"),
     (EnDDDistiller, "clf")],
    ids=["hydra", "hydra_reg", "kd", "endd"],
)  # fmt: skip
def test_student_interrupted(cls, task, clf_data, reg_data):
    X, y = clf_data if task == "clf" else reg_data
    teacher = (EnsembleClassifier if task == "clf" else EnsembleRegressor)(
        n_members=3, **{**NET, "max_epochs": 2}
    )
    kw = {"n_heads": 2} if cls is HydraDistiller else {}
    est = cls(teacher, callbacks=[CtrlCAtEpoch(2)], **kw, **STUDENT)
    _fit_interrupted(est, X, y)
    assert len(est.history_) == 2
    assert len(est.teacher_.history_) == 2  # the teacher finished its fit
    _usable(est, X)
    if cls is HydraDistiller:
        members = est.predict_members(X)
        means = members[0] if isinstance(members, tuple) else members
        assert len(means) == 2  # both heads


def test_hydra_interrupted_in_first_stage(clf_data, tmp_path):
    """Ctrl-C while Hydra trains its single mean head: that student is kept."""
    X, y = clf_data
    est = HydraDistiller(
        EnsembleClassifier(n_members=3, **{**NET, "max_epochs": 2}),
        n_heads=3, mean_head_init=True, callbacks=[CtrlCAtEpoch(2)],
        **{**STUDENT, "max_epochs": 6},
    )  # fmt: skip
    _fit_interrupted(est, X, y)
    assert est.n_heads_ == 1
    assert len(est.history_) == 2
    assert not hasattr(est, "stage1_history_")
    assert est.predict_members(X).shape == (1, len(X), 3)
    _usable(est, X)
    loaded = _save_load(est, tmp_path)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


class CtrlCInSecondStage(Callback):
    """Raise KeyboardInterrupt at epoch 2 of a multi-head student only."""

    def on_epoch_end(self, net, **kwargs):
        if net.module_.n_heads > 1 and len(net.history) == 2:
            raise KeyboardInterrupt


def test_hydra_interrupted_in_second_stage(clf_data):
    X, y = clf_data
    est = HydraDistiller(
        EnsembleClassifier(n_members=3, **{**NET, "max_epochs": 2}),
        n_heads=3, mean_head_init=True, callbacks=[CtrlCInSecondStage()],
        **{**STUDENT, "max_epochs": 6},
    )  # fmt: skip
    _fit_interrupted(est, X, y)
    assert est.n_heads_ == 3
    assert len(est.stage1_history_) == 3  # stage 1 ran all of its epochs
    assert len(est.history_) == 2
    assert est.predict_members(X).shape == (3, len(X), 3)
    _usable(est, X)


def test_teacher_interrupted_stops_the_distiller(clf_data, tmp_path):
    """Ctrl-C while the teacher trains: the distiller stops, nothing is cached."""
    X, y = clf_data
    teacher = EnsembleClassifier(
        n_members=2, callbacks=[CtrlCAtEpoch(2, once=True)], **{**NET, "max_epochs": 3}
    )
    est = HydraDistiller(teacher, n_heads=2, memory=str(tmp_path), **STUDENT)
    with pytest.warns(UserWarning, match="interrupted"):
        with pytest.raises(KeyboardInterrupt):
            est.fit(X, y)
    assert not hasattr(est, "net_")
    # The same call again: the half-trained teacher was not cached, so the
    # teacher is fitted anew and trains all its epochs.
    est.fit(X, y)
    assert RAISED == [2]
    assert len(est.teacher_.history_) == 3
    _usable(est, X)
