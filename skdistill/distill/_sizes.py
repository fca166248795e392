"""The student's default size: the core follows the teacher, the heads are 32 wide.

``core_layer_sizes=None`` takes the hidden sizes of the teacher's members (an
MLP ensemble of skdistill, or a scikit-learn ``MLPClassifier``/
``MLPRegressor``, alone, in bagging or voting, or as the last step of a
Pipeline); any other teacher gives ``DEFAULT_CORE``. ``head_layer_sizes=
None`` gives each head one hidden layer of ``HEAD_WIDTH`` units (none for a
teacher without hidden layers, whose student is linear like it). Explicit
sizes are kept as given.

Heads budgeted to keep the student within the teacher's parameter count
were tried and measured (``benchmarks/bench_distill_quality.py``, 3 seeds,
N=8): on the small-input tables the budget leaves 3 to 5 units per head,
and the student's uncertainty suffers. The toy regression's 8-head student
read 11.9 +- 15.5 times the ensemble's epistemic uncertainty in
distribution (1.06 with 32-unit heads; one seed blew up), the spiral's rank
correlation fell from 0.94 to 0.88. On wider tables (digits, breast_cancer)
the budget did not bind. Keeping the uncertainty is the point of the
student, so the heads stay 32 wide: an 8-head student then has up to 2.9
times the parameters of an ensemble of small MLPs, and still predicts 2.5-3
times faster (one shared core). ``teacher_n_params`` and
``student_n_params`` count both, for the cost benchmark.
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


def resolve_sizes(core, head, *, teacher, n_heads=None, in_features=None, n_raw=None):
    """``(core_layer_sizes, head_layer_sizes)`` with None resolved; see the module.

    ``n_heads``, ``in_features`` and ``n_raw`` are accepted for the callers'
    sake; the default sizes do not depend on them.
    """
    if core is None:
        core = teacher_hidden_sizes(teacher)
        core = DEFAULT_CORE if core is None else core
    core = _check_sizes("core_layer_sizes", core)
    if head is None:
        # A teacher without hidden layers (a linear ensemble) gets a linear
        # student; otherwise one hidden layer per head.
        head = (HEAD_WIDTH,) if core else ()
    return core, _check_sizes("head_layer_sizes", head)
