"""Whole networks: a stacked ensemble, and a shared-core multi-head student.

Outputs are batch-first and stacked: ``(B, n_stack, n_outputs)``. Classification
networks return logits. Regression networks return ``(B, n_stack, 2)`` with the
mean in ``[..., 0]`` and a positive variance in ``[..., 1]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


def n_raw_outputs(task: str, n_outputs: int) -> int:
    if task == "regression":
        return 2
    return n_outputs


class StackedEnsemble(nn.Module):
    """``n_members`` independent networks held and evaluated as one module.

    Parameters
    ----------
    n_members : int
        Number of members.
    in_features : int
        Input size.
    n_outputs : int
        Number of classes (ignored for regression, which outputs mean and variance).
    task : {"classification", "regression"}
    hidden_layer_sizes : sequence of int
        Hidden sizes of each member MLP (ignored when ``member_factory`` is given).
    activation, dropout :
        See :class:`~skdistill.nn.layers.StackedMLP`.
    member_factory : callable, optional
        ``member_factory(in_features, out_features)`` returns one member module
        mapping ``(B, in)`` to ``(B, out)``; members are stacked with ``vmap``.
    """

    def __init__(
        self,
        n_members: int,
        in_features: int,
        n_outputs: int,
        task: str = "classification",
        hidden_layer_sizes: Sequence[int] = (100,),
        activation: str = "relu",
        dropout: float = 0.0,
        member_factory: Callable[[int, int], nn.Module] | None = None,
    ):
        super().__init__()
        out = n_raw_outputs(task, n_outputs)
        if member_factory is None:
            self.body = StackedMLP(
                n_members, in_features, hidden_layer_sizes, out, activation, dropout
            )
        else:
            self.body = VmapStack(lambda: member_factory(in_features, out), n_members)
        self.output = GaussianOutput() if task == "regression" else nn.Identity()
        self.task = task

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.body(x))


class MultiHeadStudent(nn.Module):
    """A shared core followed by ``n_heads`` light heads (Hydra's student).

    The core is one MLP; the heads are a :class:`StackedMLP` fed with the core's
    output, so all heads run in one batched operation.

    Parameters
    ----------
    n_heads : int
        Number of heads (1 for a plain student).
    in_features, n_outputs, task :
        As for :class:`StackedEnsemble`.
    core_layer_sizes : sequence of int
        Hidden sizes of the shared core (each followed by the activation).
    head_layer_sizes : sequence of int
        Hidden sizes inside each head, before its output layer.
    """

    def __init__(
        self,
        n_heads: int,
        in_features: int,
        n_outputs: int,
        task: str = "classification",
        core_layer_sizes: Sequence[int] = (100,),
        head_layer_sizes: Sequence[int] = (),
        activation: str = "relu",
        dropout: float = 0.0,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for size in core_layer_sizes:
            layers += [nn.Linear(width, size), get_activation(activation)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        self.core = nn.Sequential(*layers)
        self.heads = StackedMLP(
            n_heads,
            width,
            head_layer_sizes,
            n_raw_outputs(task, n_outputs),
            activation,
            dropout,
        )
        self.output = GaussianOutput() if task == "regression" else nn.Identity()
        self.task = task
        self.n_heads = n_heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.heads(self.core(x)))

    def head_weights(self) -> list[torch.Tensor]:
        """Weight matrices of the heads only, each ``(n_heads, in, out)``."""
        return self.heads.weight_matrices()
