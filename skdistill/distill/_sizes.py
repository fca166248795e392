"""The student's default size: it follows the teacher and never outgrows it.

``core_layer_sizes=None`` takes the hidden sizes of the teacher's members (an
MLP ensemble of skdistill, or a scikit-learn ``MLPClassifier``/
``MLPRegressor``, alone or as the last step of a Pipeline); any other
teacher gives ``DEFAULT_CORE``. ``head_layer_sizes=None`` gives linear heads:
each head is one output layer over the shared core, Hydra's original
student (the members' body shared, their last layer kept apart). A
one-head student (KD, EnDD) is then exactly one member's network.

When the teacher's parameters can be counted, the resolved student never
has more of them: with more heads than the teacher has members, the core is
narrowed until it fits. Explicit sizes are kept as given.
"""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline

from .._base import _check_sizes

#: The core for a teacher whose members' sizes cannot be read (trees, ...).
DEFAULT_CORE = (100,)


def _final(teacher):
    if isinstance(teacher, Pipeline) and len(teacher.steps) > 0:
        return teacher.steps[-1][1]
    return teacher


def teacher_hidden_sizes(teacher) -> tuple[int, ...] | None:
    """Hidden sizes of the teacher's members, or None where they are unknown."""
    teacher = _final(teacher)
    module = getattr(teacher, "module", None)
    if module is not None:  # a custom member network: no MLP sizes to follow
        return None
    for attr in ("hidden_layer_sizes_", "hidden_layer_sizes"):
        sizes = getattr(teacher, attr, None)
        if sizes is None:
            continue
        if isinstance(sizes, int | np.integer):
            sizes = (sizes,)
        try:
            sizes = tuple(int(s) for s in sizes)
        except (TypeError, ValueError):
            return None
        return sizes if all(s > 0 for s in sizes) else None
    return None


def teacher_n_params(teacher) -> int | None:
    """Trainable parameters of a fitted neural teacher (all its members)."""
    if isinstance(teacher, list | tuple):
        counts = [teacher_n_params(t) for t in teacher]
        return None if any(c is None for c in counts) else sum(counts)
    teacher = _final(teacher)
    module = getattr(getattr(teacher, "net_", None), "module_", None)
    if module is not None:
        return int(sum(p.numel() for p in module.parameters() if p.requires_grad))
    coefs = getattr(teacher, "coefs_", None)  # scikit-learn's MLPs
    if coefs is not None:
        return int(
            sum(c.size for c in coefs) + sum(b.size for b in teacher.intercepts_)
        )
    return None


def _mlp_params(sizes) -> int:
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def student_n_params(n_heads, in_features, n_raw, core, head) -> int:
    """Parameters of a :class:`~skdistill.nn.modules.MultiHeadStudent`."""
    core = tuple(core)
    width = core[-1] if core else in_features
    return _mlp_params((in_features, *core)) + n_heads * _mlp_params(
        (width, *tuple(head), n_raw)
    )


def resolve_sizes(core, head, *, teacher, n_heads, in_features, n_raw):
    """``(core_layer_sizes, head_layer_sizes)`` with None resolved; see the module."""
    core_given, head_given = core is not None, head is not None
    if not core_given:
        core = teacher_hidden_sizes(teacher) or DEFAULT_CORE
    if not head_given:
        head = ()
    core, head = (
        _check_sizes("core_layer_sizes", core),
        _check_sizes("head_layer_sizes", head),
    )
    budget = teacher_n_params(teacher)
    if core_given or budget is None:
        return core, head
    # More heads than members (or given heads): narrow the core until it fits.
    scale = 1.0
    sizes = core
    while (
        student_n_params(n_heads, in_features, n_raw, sizes, head) > budget
        and max(sizes, default=1) > 1
    ):
        scale *= 0.9
        sizes = tuple(max(1, int(s * scale)) for s in core)
    return sizes, head
