"""Vectorised building blocks: many independent networks evaluated as one.

Every tensor here is batch-first. A *stacked* layer holds ``n_stack``
independent weight matrices shaped ``(n_stack, in, out)`` and evaluates all of
them with one batched matrix multiply:

* a shared input ``(B, in)`` is fed to every copy and gives ``(B, n_stack, out)``;
* a per-copy input ``(B, n_stack, in)`` gives ``(B, n_stack, out)``.

Internally the work is done copy-first, ``(n_stack, B, features)``, which is
the layout ``torch.baddbmm`` wants; :class:`StackedMLP` keeps that layout
between its layers and transposes only at its two ends.
"""

from __future__ import annotations

import contextlib
import copy
import math
import threading
from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "StackedLinear", "StackedMLP", "VmapStack", "get_activation"]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "identity": nn.Identity,
}


def get_activation(name: str) -> nn.Module:
    """Return a fresh activation module from its name (see ``ACTIVATIONS``)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"activation={name!r} is not supported; choose one of {sorted(ACTIVATIONS)}"
        ) from None


#: A stacked layer with at most this many outputs (and more inputs than
#: outputs) runs transposed on the CPU, see :func:`_narrow_affine`.
_NARROW_OUT = 16
#: ... in training only from this many input elements ``n * B * in`` on: its
#: backward is Python, about 20 us a step, more than the transposed product
#: saves on small inputs (one thread: a break-even near 20k elements, e.g.
#: ``(1, 400, 32)`` lost 18 us, ``(4, 400, 32)`` gained 56 us).
_NARROW_TRAIN_MIN = 1 << 15


def _narrow_affine(h, weight, bias):
    """``(bias + h @ weight)^T``, computed as ``bias^T + weight^T @ h^T``.

    For ``(n, B, in)`` inputs and a narrow ``(n, in, out)`` weight (an output
    layer of a few classes), torch's CPU batched product is several times
    faster with the long batch axis as the output's last dimension: at
    ``(8, 200, 100) @ (8, 100, 3)``, one CPU thread, 48 us against 190 us.
    Returns the contiguous ``(n, out, B)`` product; its transpose is the
    layer's output.
    """
    return torch.baddbmm(
        bias.transpose(1, 2), weight.transpose(1, 2).contiguous(), h.transpose(1, 2)
    )


class _NarrowAffine(torch.autograd.Function):
    """:func:`_narrow_affine` with a backward that keeps the fast layouts.

    Autograd's own backward of the transposed product returns the input's
    gradient transposed too, and the activation's backward on that layout
    was 10x slower; here it is one contiguous ``(n, B, in)`` product, and
    the weight's gradient is again taken with the batch axis inside.
    """

    @staticmethod
    def forward(ctx, h, weight, bias):
        ctx.save_for_backward(h, weight)
        return _narrow_affine(h, weight, bias)

    @staticmethod
    def backward(ctx, grad):  # grad: (n, out, B)
        h, weight = ctx.saved_tensors
        grad_h = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_h = torch.bmm(grad.transpose(1, 2), weight.transpose(1, 2))
        if ctx.needs_input_grad[1]:
            grad_weight = torch.bmm(grad, h).transpose(1, 2)
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum(2).unsqueeze(1)
        return grad_h, grad_weight, grad_bias


_scratch = threading.local()


@contextlib.contextmanager
def reused_activations():
    """Within: :class:`StackedMLP` evaluated without autograd on the CPU writes
    its hidden activations into buffers kept from one call to the next.

    A prediction loop runs the same module on batch after batch; fresh
    megabyte-sized activations are page-faulted in on every batch whenever
    glibc has handed their memory back to the system, which doubled an
    ensemble's ``predict_proba`` time on this project's VM (60k page faults
    a call on 100k rows). The buffers are per thread (a model may predict
    in several threads at once), used only inside one forward call (never
    returned), and dropped when the outermost block exits.
    """
    outer = getattr(_scratch, "buffers", None)
    if outer is None:
        _scratch.buffers = {}
    try:
        yield
    finally:
        if outer is None:
            _scratch.buffers = None


def _scratch_buffer(key, shape, like: torch.Tensor) -> torch.Tensor | None:
    """This thread's reusable buffer of ``shape`` (``like``'s dtype), or None:
    outside ``reused_activations``, with autograd on, or off the CPU."""
    buffers = getattr(_scratch, "buffers", None)
    if buffers is None or torch.is_grad_enabled() or like.device.type != "cpu":
        return None
    size = math.prod(shape)
    buf = buffers.get(key)
    if buf is None or buf.numel() < size or buf.dtype != like.dtype:
        buf = buffers[key] = torch.empty(size, dtype=like.dtype)
    return buf[:size].view(shape)


class StackedLinear(nn.Module):
    """``n_stack`` independent affine maps held as one ``(n_stack, in, out)`` weight.

    Each copy is initialised exactly like :class:`torch.nn.Linear` (uniform in
    ``±1/sqrt(in_features)`` for weights and biases), independently.

    Parameters
    ----------
    n_stack : int
        Number of independent copies (ensemble members or student heads).
    in_features, out_features : int
        Sizes of each copy.
    """

    def __init__(self, n_stack: int, in_features: int, out_features: int):
        super().__init__()
        self.n_stack = n_stack
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(n_stack, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(n_stack, 1, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features else 0.0
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward_stacked(self, h: torch.Tensor, reuse: bool = False) -> torch.Tensor:
        """Copy-first forward: ``(n_stack, B, in)`` or shared ``(B, in)`` in,
        ``(n_stack, B, out)`` out. With ``reuse`` (an output used only inside
        the caller's forward), evaluation on the CPU inside
        ``reused_activations`` writes it into this thread's buffer for
        the layer."""
        if h.dim() == 2:
            # Shared input: a stride-0 view, no copy of the input per member;
            # the bias is added inside the product (a separate add cost a
            # second pass over the output, and on large prediction batches a
            # second fresh buffer to page-fault in).
            h = h.expand(self.n_stack, *h.shape)
        elif (
            h.device.type == "cpu"
            and self.out_features <= _NARROW_OUT
            and self.out_features < self.in_features
        ):
            training = torch.is_grad_enabled() and (
                h.requires_grad or self.weight.requires_grad
            )
            if not training:
                return _narrow_affine(h, self.weight, self.bias).transpose(1, 2)
            if h.numel() >= _NARROW_TRAIN_MIN:
                return _NarrowAffine.apply(h, self.weight, self.bias).transpose(1, 2)
        shape = (self.n_stack, h.shape[-2], self.out_features)
        buf = _scratch_buffer(id(self), shape, h) if reuse else None
        if buf is not None:
            return torch.baddbmm(self.bias, h, self.weight, out=buf)
        return torch.baddbmm(self.bias, h, self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Batch-first forward: ``(B, in)`` or ``(B, n_stack, in)`` in,
        ``(B, n_stack, out)`` out."""
        h = x if x.dim() == 2 else x.transpose(0, 1)
        return self.forward_stacked(h).transpose(0, 1)

    def extra_repr(self) -> str:
        return f"n_stack={self.n_stack}, in={self.in_features}, out={self.out_features}"


class StackedMLP(nn.Module):
    """``n_stack`` independent multi-layer perceptrons evaluated together.

    Parameters
    ----------
    n_stack : int
        Number of independent networks.
    in_features : int
        Input size.
    hidden_layer_sizes : sequence of int
        Sizes of the hidden layers (may be empty: then each copy is linear).
    out_features : int
        Output size of each copy.
    activation : str, default="relu"
        Name of the hidden activation.
    dropout : float, default=0.0
        Dropout probability after each hidden activation.
    """

    def __init__(
        self,
        n_stack: int,
        in_features: int,
        hidden_layer_sizes: Sequence[int],
        out_features: int,
        activation: str = "relu",
        dropout: float = 0.0,
    ):
        super().__init__()
        sizes = [in_features, *hidden_layer_sizes, out_features]
        self.layers = nn.ModuleList(
            StackedLinear(n_stack, a, b) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.activation = get_activation(activation)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.n_stack = n_stack

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in)`` (shared) or ``(B, n_stack, in)`` in, ``(B, n_stack, out)`` out."""
        h = x if x.dim() == 2 else x.transpose(0, 1)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            h = layer.forward_stacked(h, reuse=i < last)  # never the output
            if i < last:
                # The product's output is fresh and not needed by its
                # backward, so ReLU (the default) may overwrite it.
                act = self.activation
                inplace = type(act) is nn.ReLU and h.is_contiguous()
                h = torch.relu_(h) if inplace else act(h)
                h = self.dropout(h)
        return h.transpose(0, 1)

    def weight_matrices(self) -> list[torch.Tensor]:
        """The ``(n_stack, in, out)`` weights of every layer, input to output."""
        return [layer.weight for layer in self.layers]


def _flat(name: str) -> str:
    return name.replace(".", "__")


class VmapStack(nn.Module):
    """Stack ``n_stack`` copies of an arbitrary module and run them with ``vmap``.

    The copies are built by calling ``factory()`` ``n_stack`` times (so each has
    its own initialisation); their parameters are stacked with
    :func:`torch.func.stack_module_state` and evaluated together with
    :func:`torch.func.functional_call` under :func:`torch.vmap`.

    The member module maps a batch of samples ``(B, *sample_shape)`` to
    ``(B, out)``: a row of features (``sample_shape = (in,)``), an image
    ``(C, H, W)``, a sequence. Modules with buffers that change in training
    (batch norm running statistics) are not supported, since ``vmap``
    cannot update them in place: use ``GroupNorm`` or ``LayerNorm``.

    Parameters
    ----------
    factory : callable
        Returns a new member module each call.
    n_stack : int
        Number of copies.
    input_ndim : int, default=1
        Dimensions of one sample (1 for a row of features, 3 for an image):
        an input with ``input_ndim + 1`` dimensions is shared by every copy,
        one with ``input_ndim + 2`` holds each copy's own batch on axis 1.
    """

    def __init__(
        self, factory: Callable[[], nn.Module], n_stack: int, input_ndim: int = 1
    ):
        super().__init__()
        self.input_ndim = int(input_ndim)
        members = [factory() for _ in range(n_stack)]
        if not all(isinstance(m, nn.Module) for m in members):
            raise TypeError("the member module factory must return torch.nn.Module")
        params, buffers = torch.func.stack_module_state(members)
        self._names = list(params)
        self._buffer_names = list(buffers)
        self.stacked = nn.ParameterDict(
            {_flat(k): nn.Parameter(v.detach().clone()) for k, v in params.items()}
        )
        for k, v in buffers.items():
            self.register_buffer("buf__" + _flat(k), v.clone())
        # A stateless template: its own weights are never used.
        template = copy.deepcopy(members[0]).to("meta")
        object.__setattr__(self, "_template", template)
        self.n_stack = n_stack

    def _state(self):
        params = {k: self.stacked[_flat(k)] for k in self._names}
        buffers = {k: getattr(self, "buf__" + _flat(k)) for k in self._buffer_names}
        return params, buffers

    def weight_matrices(self) -> list[torch.Tensor]:
        """Every weight of the copies as ``(n_stack, fan_in, units)`` (biases left out).

        A ``Linear`` weight ``(out, in)`` gives ``(n_stack, in, out)``, as
        :meth:`StackedMLP.weight_matrices` does; a convolution's ``(out, in,
        *kernel)`` gives ``(n_stack, in * prod(kernel), out)``: one incoming
        weight vector per unit (output channel).
        """
        return [
            self.stacked[_flat(k)].flatten(2).transpose(1, 2)
            for k in self._names
            if self.stacked[_flat(k)].dim() >= 3
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, *sample)`` (shared) or ``(B, n_stack, *sample)`` in,
        ``(B, n_stack, out)`` out."""
        params, buffers = self._state()
        template = self._template
        template.train(self.training)

        def one(p, b, xi):
            return torch.func.functional_call(template, (p, b), (xi,))

        in_x = None if x.dim() == getattr(self, "input_ndim", 1) + 1 else 1
        out = torch.vmap(one, in_dims=(0, 0, in_x), randomness="different")(
            params, buffers, x
        )
        return out.transpose(0, 1)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_template"] = None
        state["_template_cpu"] = copy.deepcopy(self._template).to_empty(device="cpu")
        return state

    def __setstate__(self, state):
        template = state.pop("_template_cpu").to("meta")
        state["_template"] = template
        self.__dict__.update(state)
