"""A distiller's student: its size, its network and the skorch net that trains it.

The default student is an MLP core with stacked MLP heads, sized after the
teacher (:mod:`._sizes`); ``core=`` and ``head=`` put any network in their
place, the heads still stacked and run in one batched call.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .._base import ACTIVATIONS_PER_INPUT, _check_sizes, predict_batch_rows
from ..nn.modules import (
    MultiHeadStudent,
    module_factory,
    n_outputs,
    n_raw_outputs,
    output_width,
)
from ._sizes import resolve_sizes


def _checked_head(factory, width, out_features):
    """One head from ``factory``, checked to map ``(B, width)`` to ``(B, out)``."""
    module = factory(width, out_features)
    output_width(
        module, (width,), out_features, name=f"head={type(module).__name__}(...)",
        role="a head",
    )  # fmt: skip
    return module


class StudentMixin:
    """Building (and sizing) the student network and its net."""

    def _n_outputs(self) -> int:
        return n_outputs(self.task_, getattr(self, "classes_", None))

    def _student_in_size(self):
        """What the student takes: a number of features, or a sample's shape."""
        shape = getattr(self, "student_input_shape_", None)
        if shape is None or len(shape) == 1:
            return self.n_student_features_
        return shape

    def _core_factory(self):
        """``core`` as a factory of fresh shared cores (None: the default MLP).

        A factory, not a module: skorch builds the student (and so its core)
        when the net is initialised, and the net's parameters stay free of
        trained weights.
        """
        return module_factory(
            getattr(self, "core", None), self._nested_params("core__"), "core",
            "the default MLP core is set with core_layer_sizes",
        )  # fmt: skip

    def _head_factory(self):
        """``head`` as ``factory(width, out_features)`` (None: the default heads);
        every head it builds is checked on a dummy batch."""
        factory = module_factory(
            getattr(self, "head", None), self._nested_params("head__"), "head",
            "the default heads are set with head_layer_sizes",
        )  # fmt: skip
        return None if factory is None else partial(_checked_head, factory)

    def _student_params(self, n_heads) -> dict:
        """``module__*`` parameters of the :class:`MultiHeadStudent` to build."""
        return dict(
            n_heads=n_heads,
            in_features=self._student_in_size(),
            n_outputs=self._n_outputs(),
            task=self.task_,
            core_layer_sizes=self.core_layer_sizes_,
            head_layer_sizes=self.head_layer_sizes_,
            activation=self.activation,
            dropout=self.dropout,
            core=self._core_factory(),
            head=self._head_factory(),
        )

    def _student_net(self, n_heads, criterion, valid, seed, diversity=None):
        """The initialised net of a new ``n_heads``-head student.

        ``criterion`` is ``(criterion class, its parameters)``.
        """
        diversity = self._diversity() if diversity is None else diversity
        criterion_class, criterion_params = criterion
        try:
            net = self._make_net(
                MultiHeadStudent,
                criterion_class,
                module_params=self._student_params(n_heads),
                criterion_params=criterion_params,
                valid_data=valid,
                seed=seed,
                extra_ratio=self.extra_ratio,
                extra_callbacks=self._schedules(diversity),
                diversity=diversity,
            )
        except ValueError as exc:
            raise ValueError(f"{type(self).__name__}'s student: {exc}") from None
        width = max(
            (
                net.plain_module.core_width,
                *self.core_layer_sizes_,
                *self.head_layer_sizes_,
            )
        )
        sample = getattr(self, "student_input_shape_", None) or (1,)
        core = 0
        if getattr(self, "core", None) is not None or len(sample) > 1:
            # A core of the user's (a CNN on images) runs once per row, with
            # activations that follow the input's size.
            core = ACTIVATIONS_PER_INPUT * int(np.prod(sample))
        net.predict_batch_size = predict_batch_rows(
            n_heads, width, shared=core, device=self.device_
        )
        return net

    def _diversity(self) -> float:
        """The weight of the penalty on the heads' weights (Hydra+'s lambda)."""
        return 0.0

    def _schedules(self, diversity) -> list:
        """``(name, CriterionSchedule)`` callbacks of the loss (none by default)."""
        return []

    def _build_net(self, valid, seed):
        """The untrained student net of the fitted architecture (for loading)."""
        # A fitted student knows its heads (Hydra interrupted in its first
        # stage keeps 1 head, whatever n_heads says).
        n_heads = getattr(self, "n_heads_", None) or self._planned_heads()
        return self._student_net(n_heads, self._criterion(), valid, seed)

    def _fit_student(self, train, valid, seed):
        net = self._student_net(self._resolve_n_heads(), self._criterion(), valid, seed)
        self._fit_net(net, train, seed)

    def _planned_heads(self) -> int:
        """Heads the student will have (as ``_n_heads``, without its warning)."""
        return 1

    def _size_share(self) -> float:
        """The share of the teacher's parameters a default student may have."""
        return 1.0

    def _resolve_sizes(self) -> None:
        """``core_layer_sizes_`` and ``head_layer_sizes_``, None following the teacher.

        Needs the fitted teacher and the student's input size; see
        :mod:`skdistill.distill._sizes`.
        """
        custom_core = getattr(self, "core", None) is not None
        core, head = resolve_sizes(
            self.core_layer_sizes,
            self.head_layer_sizes,
            # A core of the user's: its parameters cannot be budgeted before
            # it is built, and default heads keep their full width.
            teacher=None if custom_core else getattr(self, "teacher_", None),
            n_heads=self._planned_heads(),
            in_features=self.n_student_features_,
            n_raw=n_raw_outputs(self.task_, self._n_outputs()),
            share=self._size_share(),
        )
        self.core_layer_sizes_ = () if custom_core else core
        self.head_layer_sizes_ = head

    def _check_params(self):
        """What the constraints cannot say: the entries of the size sequences."""
        for name in ("core_layer_sizes", "head_layer_sizes"):
            if getattr(self, name) is not None:
                _check_sizes(name, getattr(self, name))
