"""The student's default size: it follows the teacher and never outgrows it.

``core_layer_sizes=None`` takes the hidden sizes of the teacher's members (an
MLP ensemble of skdistill, or a scikit-learn ``MLPClassifier``/
``MLPRegressor``, alone or as the last step of a Pipeline); any other
teacher gives ``DEFAULT_CORE``. ``head_layer_sizes=None`` gives each head one
hidden layer of at most ``HEAD_WIDTH`` units, as wide as the teacher's
parameter count allows: the student (core plus every head) never has more
parameters than the teacher. A head whose hidden layer would be narrower
than its output is linear instead (one output layer over the core, Hydra's
original student). A teacher whose parameters cannot be counted (trees)
gets ``HEAD_WIDTH`` units.

Linear heads were measured first, and lost quality on the spiral (N=8, one
seed): the 8-head student's NLL rose from 0.132 to 0.165 (the ensemble's:
0.146), and EnDD, then a single linear layer over the core, fell to 34%
error. A budgeted hidden layer keeps one-head students (KD, EnDD) and
wide-input tables (digits) at the old ``(100,)`` core and 32-unit head.

With more heads than the teacher has members, or with given heads, the
core is narrowed until the student fits. Explicit sizes are kept as given.
"""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline

from .._base import _check_sizes

#: The core for a teacher whose members' sizes cannot be read (trees, ...).
DEFAULT_CORE = (100,)

#: The widest hidden layer of a default head.
HEAD_WIDTH = 32


def _final(teacher):
    if isinstance(teacher, Pipeline) and len(teacher.steps) > 0:
        return teacher.steps[-1][1]
    return teacher


def _estimators(teacher) -> list:
    """A fitted scikit-learn ensemble's members (none for anything else)."""
    members = getattr(teacher, "estimators_", None)
    if isinstance(members, list) and not hasattr(teacher, "net_"):
        return members
    return []


def teacher_hidden_sizes(teacher) -> tuple[int, ...] | None:
    """Hidden sizes of the teacher's members, or None where they are unknown."""
    teacher = _final(teacher)
    members = _estimators(teacher)
    if members:  # scikit-learn's bagging or voting over MLPs
        sizes = {teacher_hidden_sizes(m) for m in members}
        return sizes.pop() if len(sizes) == 1 else None
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
    members = _estimators(teacher)
    if members:
        return teacher_n_params(list(members))
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


def _head_width(budget, n_heads, in_features, n_raw, core) -> int:
    """The widest head hidden layer (at most ``HEAD_WIDTH``) within ``budget``."""
    if budget is None:
        return HEAD_WIDTH
    width = core[-1] if core else in_features
    left = budget - student_n_params(n_heads, in_features, n_raw, core, ())
    # One hidden layer of h units adds h (width + 1) + h n_raw per head,
    # less the linear head's width n_raw it replaces.
    per_unit = width + 1 + n_raw
    extra = left // max(n_heads, 1) + width * n_raw
    return int(min(HEAD_WIDTH, max(0, extra // per_unit)))


def resolve_sizes(core, head, *, teacher, n_heads, in_features, n_raw):
    """``(core_layer_sizes, head_layer_sizes)`` with None resolved; see the module."""
    core_given, head_given = core is not None, head is not None
    if not core_given:
        core = teacher_hidden_sizes(teacher)
        core = DEFAULT_CORE if core is None else core
    core = _check_sizes("core_layer_sizes", core)
    budget = teacher_n_params(teacher)
    if head_given:
        head = _check_sizes("head_layer_sizes", head)
    else:
        h = _head_width(budget, n_heads, in_features, n_raw, core)
        # A hidden layer narrower than the output is a bottleneck: linear then.
        head = (h,) if h >= max(n_raw, 2) else ()
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
