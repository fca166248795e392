"""Many rows: prediction runs batch by batch, and ``device_data`` plans the fit.

``predict_proba`` and ``predict_uncertainty`` reduce every prediction batch
as it comes: nothing of shape ``(n_rows, n_members, n_classes)`` is ever
allocated, whatever the number of rows. Checked two ways: the net's
``iter_stacked`` is wrapped to count and measure the batches, and
``tracemalloc`` bounds the peak of numpy allocations during the call.
"""

import logging
import math
import tracemalloc

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification, make_regression
from sklearn.preprocessing import StandardScaler

from skdistill import EnsembleClassifier, EnsembleRegressor, HydraDistiller
from skdistill.training import BatchIterator, TensorData
from skdistill.uncertainty import classification_uncertainty, regression_uncertainty

N_ROWS, N_FEATURES, N_CLASSES, N_MEMBERS = 200_000, 10, 3, 5
PREDICT_BATCH = 4096
NET = dict(hidden_layer_sizes=(16,), max_epochs=2, batch_size=64, lr=1e-2)
NET.update(device="cpu", random_state=0)


@pytest.fixture(scope="module")
def train_clf():
    X, y = make_classification(
        n_samples=300, n_features=N_FEATURES, n_informative=5, n_classes=N_CLASSES,
        random_state=0,
    )  # fmt: skip
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def big_X():
    return np.random.default_rng(0).normal(size=(N_ROWS, N_FEATURES))


@pytest.fixture(scope="module")
def models(train_clf):
    X, y = train_clf
    Xr, yr = make_regression(n_samples=300, n_features=N_FEATURES, random_state=0)
    ens = EnsembleClassifier(n_members=N_MEMBERS, **NET).fit(X, y)
    reg = EnsembleRegressor(n_members=N_MEMBERS, **NET).fit(Xr, yr)
    hydra = HydraDistiller(
        EnsembleClassifier(n_members=N_MEMBERS, **NET), n_heads=N_MEMBERS,
        core_layer_sizes=(16,), head_layer_sizes=(8,), max_epochs=2, device="cpu",
        random_state=0,
    ).fit(X, y)  # fmt: skip
    for est in (ens, reg, hydra):
        est.net_.predict_batch_size = PREDICT_BATCH
    return {"ensemble": ens, "regressor": reg, "hydra": hydra}


class BatchSpy:
    """Wrap a net's ``iter_stacked`` and record every batch's shape."""

    def __init__(self, monkeypatch, net):
        self.shapes = []
        original = net.iter_stacked

        def spy(X):
            for out in original(X):
                self.shapes.append(out.shape)
                yield out

        monkeypatch.setattr(net, "iter_stacked", spy)


def _numpy_peak(fn):
    """``fn()`` and the peak of traced (numpy, Python) memory during it, in bytes."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return result, peak


def _nbytes(result):
    if isinstance(result, dict):
        return sum(v.nbytes for v in result.values())
    if isinstance(result, tuple):
        return sum(v.nbytes for v in result)
    return result.nbytes


@pytest.mark.parametrize(
    "name, method",
    [
        ("ensemble", "predict_proba"),
        ("ensemble", "predict_uncertainty"),
        ("ensemble", "predict"),
        ("regressor", "predict_uncertainty"),
        ("regressor", "predict"),
        ("hydra", "predict_proba"),
        ("hydra", "predict_uncertainty"),
    ],
)
def test_prediction_is_batched(models, big_X, name, method, monkeypatch):
    est = models[name]
    n_out = N_CLASSES if name != "regressor" else 2
    spy = BatchSpy(monkeypatch, est.net_)
    result, peak = _numpy_peak(lambda: getattr(est, method)(big_X))

    # Every batch is bounded; together they cover every row once.
    assert len(spy.shapes) == math.ceil(N_ROWS / PREDICT_BATCH)
    assert all(
        s[0] <= PREDICT_BATCH and s[1:] == (N_MEMBERS, n_out) for s in spy.shapes
    )
    assert sum(s[0] for s in spy.shapes) == N_ROWS

    # No array holding every member's output for every row: that alone would
    # be N_ROWS * N_MEMBERS * n_out * 8 bytes (float64). The peak is the result
    # plus a few batches' worth of temporaries.
    full_stack = N_ROWS * N_MEMBERS * n_out * 8
    batch_stack = PREDICT_BATCH * N_MEMBERS * n_out * 8
    assert peak < _nbytes(result) + 20 * batch_stack
    assert peak < full_stack / 2


def test_batched_results_equal_unbatched(models, big_X):
    """On a subset, the batched reductions equal the all-at-once computation."""
    X = big_X[:20_000]
    ens, reg, hydra = models["ensemble"], models["regressor"], models["hydra"]

    for est in (ens, hydra):
        members = est.predict_members(X)  # (N, n, K), all rows at once
        np.testing.assert_allclose(
            est.predict_proba(X), members.mean(axis=0), rtol=1e-12
        )
        expected = classification_uncertainty(members)
        got = est.predict_uncertainty(X)
        for key in ("total", "aleatoric", "epistemic"):
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(
            est.predict(X), est.classes_[members.mean(axis=0).argmax(axis=1)]
        )

    means, variances = reg.predict_members(X)
    expected = regression_uncertainty(means, variances)
    got = reg.predict_uncertainty(X)
    for key in ("total", "aleatoric", "epistemic"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-10)
    mean, std = reg.predict(X, return_std=True)
    np.testing.assert_allclose(mean, means.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(std**2, expected["total"], rtol=1e-8)

    # The batch size itself does not change the numbers (beyond float32
    # rounding of a differently blocked matrix product).
    ens.net_.predict_batch_size = len(X)
    try:
        one_batch = ens.predict_proba(X)
    finally:
        ens.net_.predict_batch_size = PREDICT_BATCH
    np.testing.assert_allclose(ens.predict_proba(X), one_batch, rtol=1e-5, atol=1e-7)


def test_threads_predicting_with_one_model_agree_with_one_thread(models, big_X):
    """Prediction reuses per-thread activation buffers: several threads
    predicting at once with the same fitted models get what one thread gets."""
    from concurrent.futures import ThreadPoolExecutor

    X = big_X[:40_000]
    chunks = [X[i::4] for i in range(4)]  # several prediction batches each
    for name in ("ensemble", "hydra"):
        est = models[name]
        alone = [est.predict_proba(c) for c in chunks]
        with ThreadPoolExecutor(4) as pool:
            together = list(pool.map(est.predict_proba, chunks * 3))
        for i, got in enumerate(together):
            np.testing.assert_array_equal(got, alone[i % 4])


def test_float32_input_is_not_copied_whole(models, big_X):
    """float32 input goes to the net without a float64 (or any) full copy."""
    X32 = big_X.astype(np.float32)
    est = models["ensemble"]
    result, peak = _numpy_peak(lambda: est.predict_proba(X32))
    assert peak < result.nbytes + X32.nbytes / 2


def test_default_predict_batch_size_is_bounded(train_clf):
    X, y = train_clf
    est = EnsembleClassifier(n_members=50, **{**NET, "max_epochs": 1}).fit(X, y)
    assert 256 <= est.net_.predict_batch_size <= 65536


# ---------------------------------------------------------------- device_data
@pytest.mark.parametrize(
    "make",
    [
        lambda dd: EnsembleClassifier(n_members=3, device_data=dd, **NET),
        lambda dd: EnsembleClassifier(
            n_members=3, device_data=dd, bootstrap=True, validation_fraction=0.2, **NET
        ),
        lambda dd: HydraDistiller(
            EnsembleClassifier(n_members=3, **NET), n_heads=2, device_data=dd,
            core_layer_sizes=(8,), max_epochs=2, device="cpu", random_state=0,
        ),
    ],
    ids=["ensemble", "ensemble_bootstrap_valid", "hydra"],
)  # fmt: skip
def test_device_data_settings_give_the_same_model_on_cpu(make, train_clf):
    X, y = train_clf
    fitted = {dd: make(dd).fit(X, y) for dd in (True, False, "auto")}
    reference = fitted[True].predict_proba(X)
    for dd, est in fitted.items():
        assert est.data_device_ == "cpu"
        np.testing.assert_array_equal(est.predict_proba(X), reference, err_msg=str(dd))
        assert est.history_[:, "train_loss"] == fitted[True].history_[:, "train_loss"]


@pytest.mark.parametrize("bad", ["yes", 1.5, None, "cuda"])
def test_device_data_is_validated(bad, train_clf):
    X, y = train_clf
    with pytest.raises(ValueError, match="device_data"):
        EnsembleClassifier(n_members=2, device_data=bad, **NET).fit(X, y)


@pytest.mark.parametrize(
    "setting, free, expected",
    [
        ("auto", 10 * 2**30, "cuda:0"),  # fits easily: on the device
        ("auto", 2**10, "cpu"),  # would not fit: host memory, logged
        (True, 2**10, "cuda:0"),  # forced onto the device
        (False, 10 * 2**30, "cpu"),  # forced onto the host
    ],
)
def test_plan_data_decision_on_cuda(setting, free, expected, monkeypatch, caplog):
    """The planning decision for a CUDA device, with CUDA's memory query faked.

    There is no GPU here: only the decision is tested (where the training
    tensors would live), not training on a GPU from host memory.
    """
    est = EnsembleClassifier(device_data=setting)
    est.device_ = "cuda:0"
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, free))
    X = np.zeros((1000, 10))
    with caplog.at_level(logging.INFO, logger="skdistill"):
        est._plan_data(X, np.zeros(1000))
    assert est.data_device_ == expected
    logged = any("host memory" in r.getMessage() for r in caplog.records)
    assert logged == (setting == "auto" and expected == "cpu")


def test_host_data_batches_go_to_the_device():
    """With data in host memory, the iterator moves each batch to the net's device.

    ``meta`` stands in for a GPU: the batches land there, the data stays put.
    """
    data = TensorData(torch.arange(10.0).reshape(5, 2), torch.arange(5))
    batches = list(BatchIterator(data, 2, device="meta", dtype=torch.float32))
    assert [b[0].device.type for b in batches] == ["meta"] * 3
    assert [len(b[0]) for b in batches] == [2, 2, 1]
    assert data.X.device.type == "cpu"


def test_host_batches_are_pinned_only_for_cuda():
    """Pinned memory is for copies to CUDA: batches for any other device are
    plain gathers (and a machine without CUDA never asks for pinned memory)."""
    data = TensorData(torch.arange(20.0).reshape(10, 2), torch.arange(10))
    for device in ("cpu", "meta"):
        it = BatchIterator(data, 4, shuffle=True, n_members=3, device=device)
        assert not it._pin
        for X, y in it:
            assert X.shape[1:] == (3, 2) and y.shape[1:] == (3,)


def test_member_batches_are_the_rows_each_member_drew():
    """A ``(B, N)`` batch of row indices gathers ``X[rows]`` and every target
    at the same rows, member by member (one ``index_select`` under the hood)."""
    X = torch.randn(50, 3, 2)  # samples of any shape
    y = (torch.arange(50), torch.rand(50, 4))
    it = BatchIterator(TensorData(X, y), 8, shuffle=True, n_members=3, device="cpu")
    seen = torch.zeros(3, 50, dtype=torch.long)
    for Xb, (yb, wb) in it:
        assert Xb.shape[1:] == (3, 3, 2) and wb.shape[1:] == (3, 4)
        for m in range(3):
            rows = yb[:, m]  # y is the row number: which rows member m drew
            torch.testing.assert_close(Xb[:, m], X[rows], rtol=0, atol=0)
            torch.testing.assert_close(wb[:, m], y[1][rows], rtol=0, atol=0)
            seen[m, rows] += 1
    assert (seen == 1).all()  # each member: every row once per epoch


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_host_batches_for_cuda_are_gathered_into_pinned_memory():
    X = torch.randn(1000, 4)
    data = TensorData(X, (torch.arange(1000), torch.rand(1000)))
    it = BatchIterator(data, 64, shuffle=True, n_members=3, device="cuda")
    assert it._pin
    order = it._order()[:64]
    Xb, (yb, wb) = it._take(order)
    assert Xb.is_pinned() and yb.is_pinned() and wb.is_pinned()
    torch.testing.assert_close(Xb, X[order])
    torch.testing.assert_close(yb, data.y[0][order])
    seen = list(it)
    assert all(b[0].device.type == "cuda" for b in seen)
    assert sum(len(b[0]) for b in seen) == 1000


def test_prediction_batches_follow_the_device():
    """CPU batches stay small enough for the allocator to reuse their memory;
    CUDA batches may be 8 times larger."""
    from skdistill._outputs import (
        PREDICT_BUDGET_CPU,
        PREDICT_BUDGET_CUDA,
        predict_batch_rows,
    )

    cpu, cuda = predict_batch_rows(8, 100), predict_batch_rows(8, 100, device="cuda:0")
    assert cpu < cuda
    assert 8 * 100 * cpu <= PREDICT_BUDGET_CPU < 8 * 100 * (cpu + 1)
    assert 8 * 100 * cuda <= PREDICT_BUDGET_CUDA
    assert predict_batch_rows(1000, 1000) == 256  # never fewer rows than this
    assert predict_batch_rows(1, 1, device="cuda") == 65536  # nor more
    X, y = make_classification(n_samples=120, n_features=6, random_state=0)
    ens = EnsembleClassifier(
        n_members=8, hidden_layer_sizes=(100,), max_epochs=1, device="cpu",
        early_stopping=False, random_state=0,
    ).fit(X, y)  # fmt: skip
    assert ens.net_.predict_batch_size == cpu
    student = HydraDistiller(teacher=ens, max_epochs=1, early_stopping=False,
                             device="cpu", random_state=0).fit(X, y)  # fmt: skip
    width = max(student.core_layer_sizes_ + student.head_layer_sizes_)
    assert student.net_.predict_batch_size * student.n_heads_ * width <= (
        PREDICT_BUDGET_CPU
    )


# ---------------------------------------------------------------------------
# Reductions where the outputs are: on a GPU, only the reduction comes back.
# ---------------------------------------------------------------------------


def test_device_reductions_match_the_numpy_ones():
    from skdistill._outputs import (
        mean_probability,
        member_entropies,
        stacked_probabilities,
    )

    rng = np.random.default_rng(0)
    for shape in [(50, 4, 3), (20, 1, 5), (10, 7, 2)]:
        logits = rng.normal(scale=8.0, size=shape)
        logits[0, 0, 0] = 60.0  # a saturated member: probabilities of 0 and 1
        members = stacked_probabilities(logits)
        got = mean_probability(torch.from_numpy(logits)).numpy()
        np.testing.assert_allclose(got, members.mean(axis=0), rtol=1e-12, atol=1e-15)
        u = member_entropies(torch.from_numpy(logits))
        ref = classification_uncertainty(members)
        assert set(u) == set(ref)
        for key in ref:
            np.testing.assert_allclose(
                u[key].numpy(), ref[key], rtol=1e-10, atol=1e-13, err_msg=key
            )
        if shape[1] == 1:
            np.testing.assert_array_equal(u["epistemic"].numpy(), 0.0)


def test_predictions_reduced_on_the_device_match_the_host(monkeypatch):
    """Force the device reductions on the CPU: the same predictions as the
    host's numpy reductions, for an ensemble and a student with a spread."""
    import skdistill._outputs as outputs

    X, y = make_classification(
        n_samples=300, n_features=6, n_informative=4, n_redundant=0, n_classes=3,
        random_state=0,
    )  # fmt: skip
    X = StandardScaler().fit_transform(X).astype(np.float32)
    ens = EnsembleClassifier(
        n_members=4, hidden_layer_sizes=(16,), max_epochs=5, device="cpu",
        random_state=0,
    ).fit(X, y)  # fmt: skip
    student = HydraDistiller(
        teacher=ens, n_heads=3, max_epochs=5, device="cpu", random_state=0
    ).fit(X, y)
    student.spread_ = 1.7  # as a calibrated spread would be
    for est in (ens, student):
        est.net_.predict_batch_size = 64  # several batches
    host = [(e.predict_proba(X), e.predict_uncertainty(X)) for e in (ens, student)]
    used = []

    def forced(out):
        used.append(out.shape)
        return True

    monkeypatch.setattr(outputs, "_reduce_on_device", forced)
    device = [(e.predict_proba(X), e.predict_uncertainty(X)) for e in (ens, student)]
    for (p_host, u_host), (p_dev, u_dev) in zip(host, device):
        np.testing.assert_allclose(p_dev, p_host, rtol=1e-12, atol=1e-15)
        assert p_dev.dtype == np.float64 and u_dev.total.dtype == np.float64
        for key in ("total", "aleatoric", "epistemic"):
            np.testing.assert_allclose(u_dev[key], u_host[key], rtol=1e-10, atol=1e-13)
    # Member probabilities come back whole: reduced on the host.
    assert student.predict_members(X).shape == (3, len(X), 3)
    assert len(used) == 4 * 5  # two calls of two estimators, 5 batches each


@pytest.mark.parametrize("n_classes", [2, 3, 32, 33, 100])
def test_stacked_probabilities_is_the_softmax_in_either_layout(n_classes):
    """Few classes run classes first, many over the last axis: both are
    scipy's softmax to rounding, (M, n, K), also from a read-only array
    (a memory map) and from float32 logits."""
    from scipy.special import softmax

    from skdistill._outputs import stacked_probabilities

    rng = np.random.default_rng(n_classes)
    logits = rng.normal(scale=6.0, size=(40, 3, n_classes))
    logits[0, 1, 0] = 80.0  # saturated
    want = softmax(logits, axis=-1).transpose(1, 0, 2)
    logits.setflags(write=False)
    got = stacked_probabilities(logits)
    assert got.shape == (3, 40, n_classes) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)
    single = stacked_probabilities(logits.astype(np.float32))
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, want, rtol=1e-5, atol=1e-7)
