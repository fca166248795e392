"""Training through Hugging Face Accelerate (``accelerator=``).

On this CPU machine the accelerator runs single-process on the CPU; the
multi-GPU and mixed-precision paths need CUDA and are marked ``cuda``.
"""

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification, make_regression
from sklearn.preprocessing import StandardScaler

from skdistill import (
    EnDDDistiller,
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    KDDistiller,
    load,
)
from skdistill.training import StackedNet

accelerate = pytest.importorskip("accelerate")
from accelerate import Accelerator  # noqa: E402
from accelerate.state import AcceleratorState, GradientState  # noqa: E402

from skdistill._accelerate import AcceleratedStackedNet  # noqa: E402

NET = dict(hidden_layer_sizes=(8,), max_epochs=2, batch_size=32, lr=1e-2)
NET.update(random_state=0)
STUDENT = dict(core_layer_sizes=(8,), head_layer_sizes=(4,), max_epochs=2)
STUDENT.update(batch_size=32, lr=1e-2, random_state=0)

cuda = pytest.mark.cuda
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """Accelerate keeps process-wide singletons; start and end each test clean."""
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


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


def _optimizer_steps(est):
    state = est.net_.optimizer_.state_dict()["state"]
    return int(next(iter(state.values()))["step"])


def _check_fitted(est, X, n_rows):
    assert len(est.history_) == est.max_epochs
    if hasattr(est, "predict_proba"):
        proba = est.predict_proba(X)
        assert proba.shape == (n_rows, 3)
        assert np.all(np.isfinite(proba))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    else:
        mean, std = est.predict(X, return_std=True)
        assert mean.shape == std.shape == (n_rows,)
        assert np.all(np.isfinite(mean)) and np.all(std > 0)
    unc = est.predict_uncertainty(X)
    assert all(np.all(np.isfinite(v)) for v in unc.values())


@pytest.mark.parametrize(
    "make, task",
    [
        (lambda acc: EnsembleClassifier(n_members=3, accelerator=acc, **NET), "clf"),
        (lambda acc: EnsembleRegressor(n_members=2, accelerator=acc, **NET), "reg"),
        (
            lambda acc: HydraDistiller(
                EnsembleClassifier(n_members=3, device="cpu", **NET),
                n_heads=2, accelerator=acc, **STUDENT,
            ),
            "clf",
        ),
        (
            lambda acc: KDDistiller(
                EnsembleRegressor(n_members=2, device="cpu", **NET),
                accelerator=acc, **STUDENT,
            ),
            "reg",
        ),
        (
            lambda acc: EnDDDistiller(
                EnsembleClassifier(n_members=3, device="cpu", **NET),
                accelerator=acc, **STUDENT,
            ),
            "clf",
        ),
    ],
    ids=["ensemble_clf", "ensemble_reg", "hydra", "kd_reg", "endd"],
)  # fmt: skip
def test_cpu_accelerator_fits_and_pickles_without_it(
    make, task, clf_data, reg_data, tmp_path
):
    X, y = clf_data if task == "clf" else reg_data
    acc = Accelerator(cpu=True)
    est = make(acc).fit(X, y)
    assert isinstance(est.net_, AcceleratedStackedNet)
    assert est.device_ == "cpu"
    _check_fitted(est, X, len(X))
    expected = est.predict_uncertainty(X)

    # The same fit without the accelerator: single-process, full precision,
    # so the accelerator changes nothing.
    plain = make(None).set_params(device="cpu").fit(X, y)
    for key, value in plain.predict_uncertainty(X).items():
        np.testing.assert_allclose(expected[key], value, rtol=1e-5, atol=1e-6)

    # Pickled, the model is a plain StackedNet and holds no accelerator.
    blob = pickle.dumps(est)
    assert b"accelerate.accelerator" not in blob
    loaded = pickle.loads(blob)
    assert loaded.accelerator is None
    assert type(loaded.net_) is StackedNet
    assert not hasattr(loaded.net_, "accelerator")
    for key, value in loaded.predict_uncertainty(X).items():
        np.testing.assert_array_equal(expected[key], value)
    # The estimator itself keeps its accelerator (pickling did not touch it).
    assert est.accelerator is acc

    # save/load gives a plain net too.
    est.save(tmp_path / "model.skd")
    reloaded = load(tmp_path / "model.skd")
    assert type(reloaded.net_) is StackedNet and reloaded.accelerator is None
    for key, value in reloaded.predict_uncertainty(X).items():
        np.testing.assert_array_equal(expected[key], value)


def test_gradient_accumulation(clf_data):
    """``gradient_accumulation_steps=2`` steps the optimizer every other batch."""
    X, y = clf_data
    plain = EnsembleClassifier(n_members=2, accelerator=Accelerator(cpu=True), **NET)
    plain.fit(X, y)
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    acc = Accelerator(cpu=True, gradient_accumulation_steps=2)
    est = EnsembleClassifier(n_members=2, accelerator=acc, **NET).fit(X, y)
    _check_fitted(est, X, len(X))
    n_batches = -(-len(X) // NET["batch_size"]) * NET["max_epochs"]
    assert _optimizer_steps(plain) == n_batches
    assert _optimizer_steps(est) == n_batches // 2
    assert not np.allclose(est.predict_proba(X), plain.predict_proba(X))


def test_warm_start_with_accelerator(clf_data):
    X, y = clf_data
    est = EnsembleClassifier(
        n_members=2, accelerator=Accelerator(cpu=True), warm_start=True, **NET
    )
    est.fit(X, y)
    first = est.predict_proba(X)
    est.fit(X, y)
    assert len(est.history_) == 2 * NET["max_epochs"]
    assert _optimizer_steps(est) == 2 * _optimizer_steps_per_fit(X)
    assert not np.array_equal(first, est.predict_proba(X))
    # After loading, training on needs a new accelerator (or none).
    loaded = pickle.loads(pickle.dumps(est))
    loaded.fit(X, y)
    assert len(loaded.history_) == 3 * NET["max_epochs"]


def _optimizer_steps_per_fit(X):
    return -(-len(X) // NET["batch_size"]) * NET["max_epochs"]


@pytest.mark.parametrize(
    "bad", ["cpu", 1, object(), Accelerator], ids=["str", "int", "object", "class"]
)
@pytest.mark.parametrize("cls", [EnsembleClassifier, HydraDistiller])
def test_accelerator_must_be_an_accelerator(bad, cls, clf_data):
    X, y = clf_data
    kw = (
        {"teacher": EnsembleClassifier(n_members=2, **NET)}
        if cls is HydraDistiller
        else {}
    )
    with pytest.raises(TypeError, match="accelerate.Accelerator"):
        cls(accelerator=bad, max_epochs=1, **kw).fit(X, y)


@pytest.mark.parametrize("device", ["cuda", "cpu", "cuda:0"])
def test_explicit_device_conflicts_with_accelerator(device, clf_data):
    X, y = clf_data
    est = EnsembleClassifier(n_members=2, accelerator=Accelerator(cpu=True))
    with pytest.raises(ValueError, match="conflicts with accelerator"):
        est.set_params(device=device, max_epochs=1).fit(X, y)


def test_device_none_or_auto_with_accelerator(clf_data):
    X, y = clf_data
    for device in ("auto", None):
        est = EnsembleClassifier(
            n_members=2, accelerator=Accelerator(cpu=True), device=device, **NET
        )
        assert est.fit(X, y).device_ == "cpu"


@cuda
@needs_cuda
def test_cuda_mixed_precision(clf_data):  # pragma: no cover - needs a GPU
    X, y = clf_data
    acc = Accelerator(mixed_precision="bf16")
    est = EnsembleClassifier(n_members=3, accelerator=acc, **NET).fit(X, y)
    assert torch.device(est.device_).type == "cuda"
    _check_fitted(est, X, len(X))
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    student = HydraDistiller(
        EnsembleClassifier(n_members=3, **NET), n_heads=2, accelerator=acc, **STUDENT
    ).fit(X, y)
    _check_fitted(student, X, len(X))
