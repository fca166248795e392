import numpy as np
import pytest
import torch
from sklearn.utils import check_random_state
from torch import nn
from torch.nn import functional as F

from skdistill import EnsembleClassifier
from skdistill.nn import StackedEnsemble
from skdistill.training import BatchIterator, TensorData, resolve_device, seeded


def _rows(n):
    return TensorData(torch.arange(n, dtype=torch.float32)[:, None])


def test_shared_order_is_a_permutation_and_changes_each_epoch():
    it = BatchIterator(_rows(50), 16, shuffle=True, seed=0)
    assert len(it) == 4
    epochs = [torch.cat([xb[:, 0] for xb, _ in it]).long() for _ in range(2)]
    for order in epochs:
        assert torch.equal(order.sort().values, torch.arange(50))
    assert not torch.equal(epochs[0], epochs[1])


def test_unshuffled_iteration_keeps_order_and_targets_aligned():
    X = torch.arange(10, dtype=torch.float32)[:, None]
    y = (torch.arange(10) * 3, torch.arange(10) * 5)
    batches = list(BatchIterator(TensorData(X, y), 4))
    assert [len(xb) for xb, _ in batches] == [4, 4, 2]
    x_all = torch.cat([xb[:, 0] for xb, _ in batches]).long()
    y0 = torch.cat([yb[0] for _, yb in batches])
    assert torch.equal(x_all, torch.arange(10)) and torch.equal(y0, x_all * 3)


def test_member_rows_restrict_each_member():
    rows = torch.tensor([[0, 0, 1, 1], [2, 3, 2, 3]])
    it = BatchIterator(_rows(4), 2, shuffle=True, n_members=2, member_rows=rows)
    order = torch.cat([xb[..., 0] for xb, _ in it]).long()  # (4, 2)
    assert sorted(order[:, 0].tolist()) == [0, 0, 1, 1]
    assert sorted(order[:, 1].tolist()) == [2, 2, 3, 3]


def test_member_trained_in_ensemble_equals_member_trained_alone():
    """Vectorising changes nothing: replay one member's batches on a plain MLP."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(64, 5)).astype(np.float32)
    y = rng.randint(0, 3, size=64)
    params = dict(
        n_members=3, hidden_layer_sizes=(8,), optimizer="sgd", lr=0.1,
        batch_size=16, max_epochs=2, device="cpu",
        early_stopping=False, validation_fraction=0.0,
    )  # fmt: skip
    ens = EnsembleClassifier(random_state=0, **params).fit(X, y)
    # The same seed the estimator draws, the same initial weights and orders.
    seed = int(check_random_state(0).randint(0, 2**31 - 1))
    with seeded(seed, "cpu"):
        init = StackedEnsemble(3, 5, 3, hidden_layer_sizes=(8,))
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    members = ens.predict_members(X)
    for m in range(3):
        solo = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
        with torch.no_grad():
            for lin, stacked in zip(solo[::2], init.body.layers):
                lin.weight.copy_(stacked.weight[m].T)
                lin.bias.copy_(stacked.bias[m, 0])
        opt = torch.optim.SGD(solo.parameters(), lr=0.1)
        # A fresh iterator per member: its generator advances every epoch.
        order = BatchIterator(_rows(64), 16, shuffle=True, n_members=3, seed=seed)
        for _ in range(2):
            for xb, _ in order:
                rows = xb[:, m, 0].long()
                loss = F.cross_entropy(solo(Xt[rows]), yt[rows])
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            solo_proba = F.softmax(solo(Xt), dim=1).numpy()
        np.testing.assert_allclose(members[m], solo_proba, atol=2e-5)


def test_resolve_device():
    assert resolve_device("cpu") == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == expected
    with pytest.raises(ValueError, match="not a valid torch device"):
        resolve_device("gpu-please")
    # A device that holds no data, and one this build or machine lacks.
    with pytest.raises(ValueError, match="'meta' is not available"):
        resolve_device("meta")
    if not (hasattr(torch, "xpu") and torch.xpu.is_available()):
        with pytest.raises(ValueError, match="'xpu' is not available"):
            resolve_device("xpu")


def test_a_bfloat16_tensor_is_taken_as_float32():
    X = torch.randn(60, 3)
    y = (X[:, 0] > 0).long().numpy()
    est = EnsembleClassifier(n_members=2, hidden_layer_sizes=(4,), max_epochs=1,
                             random_state=0)  # fmt: skip
    est.fit(X.bfloat16(), y)
    proba = est.predict_proba(X.bfloat16())
    np.testing.assert_array_equal(proba, est.predict_proba(X.bfloat16().float()))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_and_predict_on_cuda():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(128, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    ens = EnsembleClassifier(
        n_members=3, hidden_layer_sizes=(16,), max_epochs=20, lr=1e-2,
        device="cuda", random_state=0,
    ).fit(X, y)  # fmt: skip
    assert next(ens.net_.module_.parameters()).is_cuda
    assert ens.score(X, y) > 0.8


def _compile_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int)


COMPILE_NET = dict(
    n_members=3, hidden_layer_sizes=(16,), max_epochs=2, batch_size=64,
    random_state=0, device="cpu", early_stopping=False, validation_fraction=0,
)  # fmt: skip


@pytest.fixture
def compile_calls(monkeypatch):
    """``torch.compile`` replaced by a recorder: (module, kwargs) per call."""
    calls = []

    def fake_compile(module, **kwargs):
        calls.append((module, kwargs))
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    return calls


def test_compile_trains_through_a_compiled_forward_and_keeps_the_module_plain(
    compile_calls,
):
    X, y = _compile_data()
    est = EnsembleClassifier(compile=True, **COMPILE_NET).fit(X, y)
    assert est.get_params()["compile"] is True
    # compiled once, for the training steps
    assert [module for module, _ in compile_calls] == [est.net_.module_]
    assert type(est.net_.module_) is StackedEnsemble
    assert "_compiled" not in est.net_.__getstate__()
    plain = EnsembleClassifier(**COMPILE_NET).fit(X, y)
    assert not plain.net_.compile
    np.testing.assert_array_equal(est.predict_proba(X), plain.predict_proba(X))


def test_compile_parameters_reach_torch_compile(compile_calls):
    X, y = _compile_data()
    est = EnsembleClassifier(
        compile=True, compile__mode="reduce-overhead", compile__dynamic=False,
        **COMPILE_NET,
    ).fit(X, y)  # fmt: skip
    assert [kw for _, kw in compile_calls] == [
        {"mode": "reduce-overhead", "dynamic": False}
    ]
    assert est.get_params()["compile__mode"] == "reduce-overhead"
    with pytest.raises(TypeError, match="compile_mode"):
        EnsembleClassifier(compile_mode="default", **COMPILE_NET).fit(X, y)


@pytest.mark.slow
def test_compiled_fit_matches_the_plain_fit():
    X, y = _compile_data()
    compiled = EnsembleClassifier(compile=True, **COMPILE_NET).fit(X, y)
    plain = EnsembleClassifier(**COMPILE_NET).fit(X, y)
    np.testing.assert_allclose(
        compiled.predict_proba(X), plain.predict_proba(X), atol=1e-5
    )


class _TinyCore(nn.Module):
    def __init__(self, width=6):
        super().__init__()
        self.layer = nn.Linear(4, width)

    def forward(self, x):
        return torch.relu(self.layer(x))


def _param_shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("kind", ["ensemble", "student"])
def test_nets_are_built_the_skorch_way(kind):
    """The fitted net holds a module class and a criterion class plus their
    ``module__*``/``criterion__*`` parameters: cloning it and initialising
    the clone rebuilds the same architecture, and no parameter of the net
    is a module (pickling stores the trained weights once, in ``module_``)."""
    import pickle

    from sklearn.base import clone

    from skdistill import HydraDistiller
    from skdistill.nn import MultiHeadStudent
    from skdistill.nn.criteria import EnsembleCriterion, HydraCriterion

    rng = check_random_state(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    ens = EnsembleClassifier(
        n_members=3, hidden_layer_sizes=(8,), max_epochs=2, device="cpu"
    ).fit(X, y)
    if kind == "ensemble":
        est, module, criterion = ens, StackedEnsemble, EnsembleCriterion
        assert ens.net_.module__n_members == 3
    else:
        est = HydraDistiller(
            teacher=ens, core=_TinyCore, core__width=5, n_heads=2, max_epochs=2,
            device="cpu",
        ).fit(X, y)  # fmt: skip
        module, criterion = MultiHeadStudent, HydraCriterion
        assert est.net_.module__n_heads == 2
        assert est.net_.module_.core_width == 5
    net = est.net_
    assert net.module is module and net.criterion is criterion
    assert not any(
        isinstance(v, nn.Module) for k, v in net.get_params().items() if "__" in k
    )
    fresh = clone(net).initialize()
    assert _param_shapes(fresh.module_) == _param_shapes(net.module_)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(restored.predict_proba(X), est.predict_proba(X))


def test_a_row_predicts_the_same_alone_and_in_a_batch():
    """Evaluation batches under 16 rows run padded: one row alone, a few
    rows and the same rows among many predict alike (scikit-learn's subset
    invariance asks 1e-7; unpadded, one row differed by 1-2e-7 on the CPU)."""
    from skdistill import HydraDistiller

    rng = check_random_state(0)
    X = (3 * rng.uniform(size=(40, 3))).astype(np.float32)
    y = (X[:, 0] > 1.5).astype(int)
    ens = EnsembleClassifier(n_members=2, hidden_layer_sizes=(32,), max_epochs=5,
                             device="cpu", random_state=0).fit(X, y)  # fmt: skip
    student = HydraDistiller(teacher=ens, n_heads=2, max_epochs=5, device="cpu",
                             random_state=0).fit(X, y)  # fmt: skip
    for est in (ens, student):
        full = est.predict_proba(X)
        alone = np.concatenate([est.predict_proba(X[i : i + 1]) for i in range(40)])
        few = np.concatenate([est.predict_proba(X[i : i + 3]) for i in range(0, 39, 3)])
        np.testing.assert_allclose(alone, full, rtol=0, atol=1e-7)
        np.testing.assert_allclose(few, full[:39], rtol=0, atol=1e-7)
    # Only evaluation pads: in training the module sees exactly its rows.
    net, seen = ens.net_, []
    hook = net.module_.register_forward_pre_hook(lambda m, a: seen.append(len(a[0])))
    x = torch.as_tensor(X[:3])
    net.module_.eval()
    net.infer(x)
    net.module_.train()
    net.infer(x)
    hook.remove()
    assert seen == [16, 3]
