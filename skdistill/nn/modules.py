"""Whole networks: a stacked ensemble, and a shared-core multi-head student.

Outputs are batch-first and stacked: ``(B, n_stack, n_outputs)``. Classification
networks return logits. Regression networks return ``(B, n_stack, 2)`` with the
mean in ``[..., 0]`` and a positive variance in ``[..., 1]``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from .layers import StackedMLP, VmapStack, get_activation

__all__ = ["GaussianOutput", "StackedEnsemble", "MultiHeadStudent", "MIN_VARIANCE"]

#: Floor of every predicted variance.
MIN_VARIANCE = 1e-6


class GaussianOutput(nn.Module):
    """Turn raw ``(..., 2)`` outputs into ``(mean, variance)`` with a softplus."""

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        mean = raw[..., 0]
        var = F.softplus(raw[..., 1]) + MIN_VARIANCE
        return torch.stack((mean, var), dim=-1)


def n_outputs(task: str, classes=None) -> int:
    """Outputs per member the user sees: one per class, or 1 for regression."""
    return 1 if task == "regression" else len(classes)


def n_raw_outputs(task: str, n_outputs: int) -> int:
    if task == "regression":
        return 2
    return n_outputs


def _sample_shape(in_features) -> tuple[int, ...]:
    """``in_features`` as the shape of one sample: an int is ``(in,)``."""
    if isinstance(in_features, int):
        return (int(in_features),)
    return tuple(int(s) for s in in_features)


class _FlattenSample(nn.Module):
    """Flatten the last ``ndim`` dimensions (one sample) into features."""

    def __init__(self, ndim: int):
        super().__init__()
        self.ndim = ndim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.ndim == 1:
            return x
        return x.flatten(start_dim=x.dim() - self.ndim)


def output_width(
    module: nn.Module,
    sample_shape: Sequence[int],
    n_out: int | None = None,
    name: str | None = None,
    role: str = "it",
) -> int:
    """Features per sample that ``module`` outputs, from a dummy batch of 2.

    The module maps ``(B, *sample_shape)`` to ``(B, width)``; a copy in
    evaluation mode runs on zeros (so running statistics are not touched).
    With ``n_out``, the width must be ``n_out``. Raises a ``ValueError``
    that names the module (``name``, by default its class) when it cannot
    take this data or outputs another shape than ``role`` must.
    """
    probe = copy.deepcopy(module).cpu().eval()
    name = name or type(module).__name__
    try:
        with torch.no_grad():
            out = probe(torch.zeros(2, *sample_shape))
    except Exception as exc:
        raise ValueError(
            f"{name} cannot take this data: with samples of shape "
            f"{tuple(sample_shape)} it raised {type(exc).__name__}: {exc}"
        ) from None
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out)
    want = "width" if n_out is None else n_out
    if (
        not isinstance(out, torch.Tensor)
        or out.dim() != 2
        or out.shape[0] != 2
        or (n_out is not None and out.shape[1] != n_out)
    ):
        raise ValueError(
            f"{name} maps a batch of shape {(2, *sample_shape)} to {shape}; "
            f"{role} must output (batch, {want})"
        )
    return int(out.shape[1])


def build_module(spec, params: dict, name: str, *sizes) -> nn.Module:
    """One fresh module from a user's ``spec``, as skorch reads ``module=``.

    A module instance gives a re-initialised copy of itself; a class (or
    factory) is called anew, with its ``name__*`` parameters when there are
    any (its sizes are then its own business), else with ``sizes`` (the
    input and output sizes the caller passes, none for a core). Every call
    draws its own initialisation from torch's global generator.
    """
    if isinstance(spec, nn.Module):
        return reinitialised_copy(spec)
    module = spec(**params) if params else spec(*sizes)
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"{name}=... returned {type(module).__name__}, not a torch.nn.Module"
        )
    return module


def module_factory(spec, params: dict, name: str, default: str):
    """``spec`` with its ``name__*`` parameters as a factory of fresh modules.

    None for None (the package's default network, described by ``default``
    in the error when parameters are given for it); else a picklable
    ``factory(*sizes)`` calling :func:`build_module`.
    """
    if params and (spec is None or isinstance(spec, nn.Module)):
        raise ValueError(
            f"{name}__{next(iter(params))} needs {name}= to be a module class "
            f"(or factory) that takes it; {default}"
        )
    if spec is None:
        return None
    return partial(build_module, spec, dict(params), name)


def reinitialised_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` with freshly initialised parameters.

    Every submodule with a ``reset_parameters`` method (``Linear``,
    ``Conv2d``, norms) draws new weights from torch's global generator.
    """
    member = copy.deepcopy(module)
    for sub in member.modules():
        if hasattr(sub, "reset_parameters"):
            sub.reset_parameters()
    return member


class StackedEnsemble(nn.Module):
    """``n_members`` independent networks held and evaluated as one module.

    Parameters
    ----------
    n_members : int
        Number of members.
    in_features : int or tuple of int
        Input size, or the shape of one sample (``(C, H, W)`` for images):
        the default MLP members flatten it, a ``member_factory`` receives it
        as given.
    n_outputs : int
        Number of classes (ignored for regression, which outputs mean and variance).
    task : {"classification", "regression"}
    hidden_layer_sizes : sequence of int
        Hidden sizes of each member MLP (ignored when ``member_factory`` is given).
    activation, dropout :
        See :class:`~skdistill.nn.layers.StackedMLP`.
    member_factory : callable, optional
        ``member_factory(in_features, out_features)`` returns one member module
        mapping ``(B, *sample_shape)`` to ``(B, out)``; members are stacked
        with ``vmap``.
    """

    def __init__(
        self,
        n_members: int,
        in_features: int | Sequence[int],
        n_outputs: int,
        task: str = "classification",
        hidden_layer_sizes: Sequence[int] = (100,),
        activation: str = "relu",
        dropout: float = 0.0,
        member_factory: Callable[[int, int], nn.Module] | None = None,
    ):
        super().__init__()
        out = n_raw_outputs(task, n_outputs)
        shape = _sample_shape(in_features)
        self.flatten = _FlattenSample(len(shape))
        if member_factory is None:
            self.body = StackedMLP(
                n_members, math.prod(shape), hidden_layer_sizes, out, activation,
                dropout,
            )  # fmt: skip
        else:
            self.flatten = _FlattenSample(1)  # the members take samples as they are
            self.body = VmapStack(
                lambda: member_factory(in_features, out), n_members, len(shape)
            )
        self.output = GaussianOutput() if task == "regression" else nn.Identity()
        self.task = task

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.body(self.flatten(x)))


class MultiHeadStudent(nn.Module):
    """A shared core followed by ``n_heads`` light heads (Hydra's student).

    The core is one network (an MLP by default, or any module: a
    convolutional core for images); the heads are stacked copies fed with
    the core's output (a :class:`StackedMLP` by default, or a
    :class:`VmapStack` of a given head module), so all heads run in one
    batched operation.

    Parameters
    ----------
    n_heads : int
        Number of heads (1 for a plain student).
    in_features, n_outputs, task :
        As for :class:`StackedEnsemble`.
    core_layer_sizes : sequence of int
        Hidden sizes of the default MLP core (each followed by the
        activation); ignored with ``core``.
    head_layer_sizes : sequence of int
        Hidden sizes inside each default head, before its output layer;
        ignored with ``head``.
    core : torch.nn.Module or callable, optional
        The shared core, mapping ``(B, *sample_shape)`` to ``(B, width)``: a
        module, used as it is, or a factory ``core()`` returning one (so a
        skorch net given ``module__core`` builds its own at ``initialize``).
    head : callable, optional
        ``head(width, out_features)`` returns one head module mapping
        ``(B, width)`` to ``(B, out_features)``; called ``n_heads`` times.
    """

    def __init__(
        self,
        n_heads: int,
        in_features: int | Sequence[int],
        n_outputs: int,
        task: str = "classification",
        core_layer_sizes: Sequence[int] = (100,),
        head_layer_sizes: Sequence[int] = (),
        activation: str = "relu",
        dropout: float = 0.0,
        core: nn.Module | None = None,
        head: Callable[[int, int], nn.Module] | None = None,
    ):
        super().__init__()
        shape = _sample_shape(in_features)
        if core is None:
            # A flattening step only for multi-dimensional samples: the MLP
            # core's parameter names stay those of earlier versions.
            layers: list[nn.Module] = [_FlattenSample(len(shape))] * (len(shape) > 1)
            width = math.prod(shape)
            for size in core_layer_sizes:
                act = get_activation(activation)
                if type(act) is nn.ReLU:  # the Linear's fresh output: safe to overwrite
                    act.inplace = True
                layers += [nn.Linear(width, size), act]
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
                width = size
            self.core = nn.Sequential(*layers)
        else:
            if not isinstance(core, nn.Module):
                core = core()
            width = output_width(core, shape)
            self.core = core
        out = n_raw_outputs(task, n_outputs)
        if head is None:
            self.heads = StackedMLP(
                n_heads, width, head_layer_sizes, out, activation, dropout
            )
        else:
            self.heads = VmapStack(lambda: head(width, out), n_heads)
        self.core_width = width
        self.output = GaussianOutput() if task == "regression" else nn.Identity()
        self.task = task
        self.n_heads = n_heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.heads(self.core(x)))

    @torch.no_grad()
    def start_from_single_head(self, single: MultiHeadStudent, noise: float = 0.01):
        """Start from a trained one-head student: its core, and its head in every head.

        Each head is the one head plus Gaussian noise of ``noise`` times the
        parameter's spread (at least ``1e-3``), so the heads can move apart
        (Hydra's two-stage start). Draws from torch's global generator.
        """
        if single.n_heads != 1:
            raise ValueError(f"single has {single.n_heads} heads, not 1")
        self.core.load_state_dict(single.core.state_dict())
        # Stacked head parameters all lead with the head axis (1 -> n_heads).
        for p_src, p_dst in zip(single.heads.parameters(), self.heads.parameters()):
            p_dst.copy_(p_src.expand_as(p_dst))
            p_dst.add_(noise * p_src.std().clamp_min(1e-3) * torch.randn_like(p_dst))
        return self

    def head_weights(self) -> list[torch.Tensor]:
        """Weight matrices of the heads only, each ``(n_heads, in, out)``."""
        return self.heads.weight_matrices()
