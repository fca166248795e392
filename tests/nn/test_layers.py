"""The stacked layers against a float64 per-copy reference, in every code path."""

import pytest
import torch
from torch import nn

from skdistill.nn import layers
from skdistill.nn.layers import StackedLinear, StackedMLP, _NarrowAffine


@pytest.fixture(params=["narrow backward always", "narrow backward by size"])
def narrow_threshold(request, monkeypatch):
    """Run a test with the transposed training path on every size, and as shipped
    (from ``_NARROW_TRAIN_MIN`` input elements on)."""
    if request.param == "narrow backward always":
        monkeypatch.setattr(layers, "_NARROW_TRAIN_MIN", 0)


def _reference(layer, h):
    """Copy by copy in float64: ``h_m @ W_m + b_m`` stacked copy-first."""
    w, b = layer.weight.double(), layer.bias.double()
    if h.dim() == 2:
        h = h.expand(layer.n_stack, *h.shape)
    return torch.stack([h[m].double() @ w[m] + b[m] for m in range(layer.n_stack)])


# (in, out): narrow outputs take the transposed path on the CPU, the others not.
SIZES = [(100, 3), (30, 1), (20, 16), (16, 16), (8, 100), (5, 17)]


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("grad", [False, True])
def test_stacked_linear_matches_each_copy_and_its_gradients(
    sizes, shared, grad, narrow_threshold
):
    torch.manual_seed(0)
    n_in, n_out = sizes
    layer = StackedLinear(4, n_in, n_out)
    shape = (37, n_in) if shared else (4, 37, n_in)
    h = torch.randn(*shape, requires_grad=grad)
    with torch.set_grad_enabled(grad):
        out = layer.forward_stacked(h)
    assert out.shape == (4, 37, n_out)
    torch.testing.assert_close(
        out.double(), _reference(layer, h.detach()), rtol=1e-5, atol=1e-5
    )
    if not grad:
        return
    g = torch.randn(4, 37, n_out)
    out.backward(g)
    got = [h.grad, layer.weight.grad, layer.bias.grad]
    h64 = h.detach().double().requires_grad_()
    w64 = layer.weight.detach().double().requires_grad_()
    b64 = layer.bias.detach().double().requires_grad_()
    hs = h64.expand(4, *h64.shape) if shared else h64
    (torch.baddbmm(b64, hs, w64) * g.double()).sum().backward()
    for a, b in zip(got, [h64.grad, w64.grad, b64.grad]):
        assert a.shape == b.shape
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-4)


def test_narrow_affine_gradients_are_exact():
    torch.manual_seed(0)
    h = torch.randn(3, 11, 9, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 9, 2, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 1, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_NarrowAffine.apply, (h, w, b))
    # Only the gradients asked for are computed.
    out = _NarrowAffine.apply(h.detach(), w, b.detach())
    out.sum().backward()
    assert w.grad is not None and h.grad is None and b.grad is None


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("hidden", [(32,), (12, 8)])
def test_stacked_mlp_matches_plain_mlps_forward_and_backward(
    activation, hidden, narrow_threshold
):
    """The in-place ReLU and the narrow layers give what separate MLPs give."""
    torch.manual_seed(0)
    n_in, n_out, n = 20, 3, 3
    mlp = StackedMLP(n, n_in, hidden, n_out, activation=activation)
    x = torch.randn(50, n_in)
    out = mlp(x)
    g = torch.randn_like(out)
    out.backward(g)
    act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]
    for m in range(n):
        layers = []
        for layer in mlp.layers:
            lin = nn.Linear(layer.in_features, layer.out_features).double()
            with torch.no_grad():
                lin.weight.copy_(layer.weight[m].T)
                lin.bias.copy_(layer.bias[m, 0])
            layers += [lin, act()]
        solo = nn.Sequential(*layers[:-1])
        ref = solo(x.double())
        torch.testing.assert_close(out[:, m].double(), ref, rtol=1e-5, atol=1e-5)
        (ref * g[:, m].double()).sum().backward()
        for layer, lin in zip(mlp.layers, solo[::2]):
            torch.testing.assert_close(
                layer.weight.grad[m].double(), lin.weight.grad.T, rtol=1e-4, atol=1e-4
            )
            torch.testing.assert_close(
                layer.bias.grad[m, 0].double(), lin.bias.grad, rtol=1e-4, atol=1e-4
            )


def test_stacked_mlp_with_dropout_trains(narrow_threshold):
    """Dropout after the in-place ReLU keeps a working backward."""
    torch.manual_seed(0)
    mlp = StackedMLP(2, 6, (16,), 2, dropout=0.5)
    x = torch.randn(30, 6)
    mlp(x).sum().backward()
    assert all(
        p.grad is not None and torch.isfinite(p.grad).all() for p in mlp.parameters()
    )
    mlp.eval()
    with torch.no_grad():
        torch.testing.assert_close(mlp(x), mlp(x))


def test_reused_activations_give_the_same_outputs_and_keep_their_buffers():
    torch.manual_seed(0)
    mlp = StackedMLP(3, 10, (32, 16), 4)
    x = torch.randn(200, 10)
    with torch.no_grad():
        expected = mlp(x).clone()
        with layers.reused_activations():
            first = mlp(x).clone()
            buffers = dict(layers._scratch.buffers)
            smaller = mlp(x[:50]).clone()  # a last, shorter batch
            again = mlp(x)
            assert {k: v.data_ptr() for k, v in layers._scratch.buffers.items()} == {
                k: v.data_ptr() for k, v in buffers.items()
            }
        assert layers._scratch.buffers is None  # dropped on exit
    # One buffer: the 32-unit layer's. The 16-unit one runs transposed (a
    # narrow layer) and takes none; the output layer never does.
    assert len(buffers) == 1
    torch.testing.assert_close(first, expected, rtol=0, atol=0)
    torch.testing.assert_close(again, expected, rtol=0, atol=0)
    torch.testing.assert_close(smaller, expected[:50], rtol=0, atol=0)


def test_reused_activations_follow_the_dtype():
    torch.manual_seed(0)
    mlp = StackedMLP(2, 6, (16,), 2)
    x = torch.randn(30, 6)
    with torch.no_grad(), layers.reused_activations():
        single = mlp(x)
        double = mlp.double()(x.double())
        assert double.dtype == torch.float64
        torch.testing.assert_close(double.float(), single)


def test_reused_activations_leave_training_alone():
    torch.manual_seed(0)
    mlp = StackedMLP(2, 6, (16,), 2)
    x = torch.randn(30, 6)
    with layers.reused_activations():
        mlp(x).sum().backward()
        assert layers._scratch.buffers == {}
    assert all(p.grad is not None for p in mlp.parameters())


def test_reused_activations_are_per_thread():
    """Threads predicting with one model at once each get their own buffers."""
    from concurrent.futures import ThreadPoolExecutor

    torch.manual_seed(0)
    mlp = StackedMLP(4, 12, (64,), 3)
    inputs = [torch.randn(500, 12) for _ in range(8)]
    with torch.no_grad():
        expected = [mlp(x) for x in inputs]

    def predict(x):
        with torch.no_grad(), layers.reused_activations():
            return [mlp(x) for _ in range(20)][-1]

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(predict, inputs))
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
