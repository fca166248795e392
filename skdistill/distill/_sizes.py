"""The student's default size: as the teacher's, never more parameters.

``core_layer_sizes=None`` takes the hidden sizes of the teacher's members (an
MLP ensemble of skdistill, or a scikit-learn ``MLPClassifier``/
``MLPRegressor``, alone, in bagging or voting, or as the last step of a
Pipeline); any other teacher gives ``DEFAULT_CORE``. ``head_layer_sizes=
None`` gives each head one hidden layer of ``HEAD_WIDTH`` units (none for a
teacher without hidden layers, whose student is linear like it).

With both left at None and a neural teacher whose parameters can be counted,
the student is then fitted into its share of the teacher's parameter count
(all members together): all of it for KD and EnDD students and for Hydra
with at least as many heads as members, ``M / N`` of it for Hydra with ``M``
heads of ``N`` members (a student asked for fewer heads is asked to be
cheaper: it gets about M members' parameters, and so their arithmetic per
row). It is fitted in this order:

1. the heads narrow, from 32 units down to ``MIN_HEAD_WIDTH`` (16);
2. the core narrows, every layer by the same factor, down to
   ``MIN_CORE_WIDTH`` (8) units, the heads staying 16 wide;
3. the heads narrow below 16 on the narrowest core, down to linear heads.

The heads keep their width before the core because the heads carry the
uncertainty: heads narrowed alone to fit (to 3 to 5 units on the
small-input tables, with a 100-unit core) lost it, while heads kept at 16
units on a narrower core kept it (``benchmarks/RESULTS.md``, the student
size table). Wide tables (digits) rarely bind: their members' cost is the
input layer, which the student's core holds once. Explicit sizes are kept as
given, even above the budget. ``teacher_n_params`` and ``student_n_params``
count both sides.
"""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline

from .._base import _check_sizes

#: The core for a teacher whose members' sizes cannot be read (trees, ...).
DEFAULT_CORE = (100,)

#: The widest hidden layer of a default head.
HEAD_WIDTH = 32

#: The heads narrow to this width before the core narrows.
MIN_HEAD_WIDTH = 16

#: The narrowest layer of a core narrowed to fit the budget.
MIN_CORE_WIDTH = 8


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


def _narrowed(core, factor) -> tuple[int, ...]:
    return tuple(max(min(w, MIN_CORE_WIDTH), round(w * factor)) for w in core)


def fit_budget(core, head, budget, *, n_heads, in_features, n_raw):
    """The widest default sizes, in the order of the module's docstring, whose
    student has at most ``budget`` parameters (the smallest tried if none)."""

    def size(c, h):
        return student_n_params(n_heads, in_features, n_raw, c, h)

    if not head or size(core, head) <= budget:
        return core, head
    width = head[0]
    for w in range(width - 1, min(width, MIN_HEAD_WIDTH) - 1, -1):
        if size(core, (w,)) <= budget:
            return core, (w,)
    width = min(width, MIN_HEAD_WIDTH)
    for factor in np.arange(0.99, 0.0, -0.01):
        smaller = _narrowed(core, factor)
        if size(smaller, (width,)) <= budget:
            return smaller, (width,)
    smaller = _narrowed(core, 0.0)
    for w in range(width - 1, 0, -1):
        if size(smaller, (w,)) <= budget:
            return smaller, (w,)
    return smaller, ()


def resolve_sizes(
    core, head, *, teacher, n_heads=1, in_features=None, n_raw=None, share=1.0
):
    """``(core_layer_sizes, head_layer_sizes)`` with None resolved; see the module.

    ``n_heads``, ``in_features`` (an int; a sample shape skips the budget) and
    ``n_raw`` (raw outputs per head) size the student for the budget: ``share``
    of the teacher's parameters (all members together).
    """
    budgeted = core is None and head is None
    if core is None:
        core = teacher_hidden_sizes(teacher)
        core = DEFAULT_CORE if core is None else core
    core = _check_sizes("core_layer_sizes", core)
    if head is None:
        # A teacher without hidden layers (a linear ensemble) gets a linear
        # student; otherwise one hidden layer per head.
        head = (HEAD_WIDTH,) if core else ()
    head = _check_sizes("head_layer_sizes", head)
    budget = teacher_n_params(teacher) if budgeted and teacher is not None else None
    if budget is not None:
        budget = budget * min(1.0, float(share))
    if budget is None or not isinstance(in_features, int | np.integer) or not n_raw:
        return core, head
    return fit_budget(
        core,
        head,
        budget,
        n_heads=int(n_heads),
        in_features=int(in_features),
        n_raw=int(n_raw),
    )
