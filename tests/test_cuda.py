"""The estimators on a real GPU: what a user does, end to end, on ``cuda``.

Every test here is marked ``cuda`` and needs a CUDA device; ``bash
benchmarks/cuda_check.sh`` runs them on a GPU machine. To check the tests'
own logic on a machine without one, point them at the CPU:

    SKDISTILL_TEST_DEVICE=cpu python -m pytest -m cuda tests/test_cuda.py
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

import skdistill
from skdistill import (
    EnDDDistiller,
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    KDDistiller,
)

DEVICE = os.environ.get("SKDISTILL_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        DEVICE.startswith("cuda") and not torch.cuda.is_available(),
        reason="needs CUDA (or SKDISTILL_TEST_DEVICE=cpu to check the tests)",
    ),
]
TYPE = torch.device(DEVICE).type
FAST = dict(max_epochs=30, lr=1e-2, batch_size=64, early_stopping=False,
            validation_fraction=0.0, random_state=0)  # fmt: skip


def _on(est):
    """The device type of ``est``'s trained network."""
    return next(est.net_.module_.parameters()).device.type


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=600, n_features=8, n_informative=5, n_redundant=0, n_classes=3,
        random_state=0,
    )  # fmt: skip
    X = StandardScaler().fit_transform(X).astype(np.float32)
    return train_test_split(X, y, test_size=0.5, random_state=0)


@pytest.fixture(scope="module")
def teacher(data):
    X, _, y, _ = data
    return EnsembleClassifier(n_members=4, device=DEVICE, **FAST).fit(X, y)


def test_ensemble_trains_on_the_device_and_matches_the_cpu(data, teacher):
    X, X_te, y, y_te = data
    assert _on(teacher) == TYPE
    cpu = EnsembleClassifier(n_members=4, device="cpu", **FAST).fit(X, y)
    # Different random streams, so not the same weights: the same quality.
    assert teacher.score(X_te, y_te) > 0.7
    assert abs(teacher.score(X_te, y_te) - cpu.score(X_te, y_te)) < 0.08
    u = teacher.predict_uncertainty(X_te)
    assert np.isfinite(u.total).all() and (u.epistemic > 0).any()
    np.testing.assert_allclose(u.total, u.aleatoric + u.epistemic, atol=1e-5)
    members = teacher.predict_members(X_te)  # reduced on the host
    assert members.shape == (4, len(X_te), 3)
    np.testing.assert_allclose(
        members.mean(axis=0), teacher.predict_proba(X_te), rtol=1e-6, atol=1e-7
    )
    from skdistill.uncertainty import classification_uncertainty

    ref = classification_uncertainty(members)
    for key in ("total", "aleatoric", "epistemic"):
        np.testing.assert_allclose(u[key], ref[key], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "cls, kw",
    [
        (HydraDistiller, dict(n_heads=2)),
        (HydraDistiller, dict(n_heads=1, alpha=1.0, beta=1.0, diversity=0.0,
                              mean_head_init=True)),  # Hydra's two stages
        (KDDistiller, {}),
        (KDDistiller, dict(soft_label_weighting="wsl")),
        (EnDDDistiller, {}),
    ],
    ids=["hydra+", "hydra", "kd", "wsl", "endd"],
)  # fmt: skip
def test_students_distil_on_the_device(data, teacher, cls, kw):
    X, X_te, y, y_te = data
    student = cls(teacher=teacher, device=DEVICE, **kw, **FAST).fit(X, y)
    assert _on(student) == TYPE
    proba = student.predict_proba(X_te)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert student.score(X_te, y_te) > teacher.score(X_te, y_te) - 0.12
    u = student.predict_uncertainty(X_te)
    assert np.isfinite(u.epistemic).all()
    if cls is HydraDistiller and student.n_heads_ > 1:
        assert (u.epistemic > 0).any()


def test_cpu_teacher_gpu_student_and_back(data, tmp_path):
    """A teacher fitted on the CPU teaches a student on the GPU; the student,
    saved there, loads on the CPU with the same predictions."""
    X, X_te, y, _ = data
    cpu_teacher = EnsembleClassifier(n_members=3, device="cpu", **FAST).fit(X, y)
    student = HydraDistiller(teacher=cpu_teacher, n_heads=2, device=DEVICE, **FAST).fit(
        X, y
    )
    assert _on(student) == TYPE and _on(cpu_teacher) == "cpu"
    student.save(tmp_path / "student.skd")
    loaded = skdistill.load(tmp_path / "student.skd", device="cpu")
    assert _on(loaded) == "cpu"
    # On the GPU the softmax and entropies run there; on the CPU, in numpy.
    np.testing.assert_allclose(
        loaded.predict_proba(X_te), student.predict_proba(X_te), rtol=1e-5, atol=1e-6
    )
    u_gpu, u_cpu = student.predict_uncertainty(X_te), loaded.predict_uncertainty(X_te)
    for key in ("total", "aleatoric", "epistemic"):
        np.testing.assert_allclose(u_gpu[key], u_cpu[key], rtol=1e-4, atol=1e-6)
    again = pickle.loads(pickle.dumps(student))
    np.testing.assert_allclose(
        again.predict_proba(X_te), student.predict_proba(X_te), rtol=1e-5, atol=1e-6
    )


def test_regressor_and_its_student_on_the_device():
    X, y = make_regression(n_samples=400, n_features=5, noise=5.0, random_state=0)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    ens = EnsembleRegressor(n_members=3, device=DEVICE, **FAST).fit(X, y)
    assert _on(ens) == TYPE
    assert ens.score(X, y) > 0.8
    u = ens.predict_uncertainty(X)
    assert np.isfinite(u.total).all() and (u.aleatoric > 0).all()
    student = HydraDistiller(teacher=ens, n_heads=2, device=DEVICE, **FAST).fit(X, y)
    assert _on(student) == TYPE
    assert student.score(X, y) > 0.7
    assert np.isfinite(student.predict(X)).all()


def test_partial_fit_streams_chunks_on_the_device(data):
    X, X_te, y, y_te = data
    est = EnsembleClassifier(n_members=3, device=DEVICE, **FAST)
    for _ in range(10):
        for chunk in np.array_split(np.arange(len(X)), 3):
            est.partial_fit(X[chunk], y[chunk], classes=np.unique(y))
    assert _on(est) == TYPE
    assert est.score(X_te, y_te) > 0.7


class _Cnn(nn.Module):
    def __init__(self, n_out=10):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64, n_out),
        )  # fmt: skip

    def forward(self, x):
        return self.body(x)


class _ConvCore(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        )  # fmt: skip

    def forward(self, x):
        return self.body(x)


def test_cnn_ensemble_and_cnn_student_on_the_device():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    X, X_te, y, y_te = X[:600], X[600:900], y[:600], y[600:900]
    ens = EnsembleClassifier(3, module=_Cnn(), device=DEVICE, **FAST).fit(X, y)
    assert _on(ens) == TYPE
    assert ens.score(X_te, y_te) > 0.8
    student = HydraDistiller(
        ens, core=_ConvCore(), head=nn.Linear(24, 10), n_heads=2, device=DEVICE,
        **FAST,
    ).fit(X, y)  # fmt: skip
    assert _on(student) == TYPE
    assert student.score(X_te, y_te) > 0.6
    assert student.predict_members(X_te).shape == (2, len(X_te), 10)


def test_onnx_export_of_a_gpu_student_matches_it(data, teacher, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    X, X_te, y, _ = data
    student = HydraDistiller(teacher=teacher, n_heads=2, device=DEVICE, **FAST).fit(
        X, y
    )
    path = tmp_path / "student.onnx"
    student.to_onnx(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    outputs = session.run(None, {name: X_te})
    ours = student.predict_proba(X_te)
    assert any(
        o.shape == ours.shape and np.allclose(o, ours, atol=1e-4) for o in outputs
    ), "no ONNX output matches predict_proba"
