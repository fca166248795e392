"""Training criteria: loss modules the skorch net calls as ``criterion_(y_pred, y_true)``.

Each criterion only wires the pure loss functions of :mod:`skdistill.nn.losses`
to the batch layout. Where a loss changes over training (Hydra's diversity
warm-up, EnDD's temperature), a callback sets the criterion's attribute every
epoch (:class:`~skdistill.training.CriterionSchedule`).
"""

from __future__ import annotations

import torch
from torch import nn

from . import losses as L
from .losses._baselines import _prepare_wsl_targets, _prepared_kd, _prepared_wsl
from .losses._hydra import _prepared_classification

__all__ = [
    "EnDDCriterion",
    "EnsembleCriterion",
    "HydraCriterion",
    "KDCriterion",
    "labelled_rows",
]


def split_targets(y_true, n_parts: int):
    """``y_true`` as ``n_parts`` targets plus the per-row sample weights (or None).

    A fit with ``sample_weight`` appends the weights as the last element of
    the target tuple: ``y``, ``(y, w)``, ``(y, teacher)`` or ``(y, teacher,
    w)``. Without weights, every row counts once.
    """
    parts = y_true if isinstance(y_true, tuple) else (y_true,)
    if len(parts) == n_parts + 1:
        return (*parts[:n_parts], parts[n_parts])
    if len(parts) != n_parts:
        raise ValueError(
            f"expected {n_parts} target tensor(s) (plus optional sample weights); "
            f"got {len(parts)}"
        )
    return (*parts, None)


class EnsembleCriterion(nn.Module):
    """Loss of independent members, optionally with mutual learning.

    ``y_pred`` is ``(B, N, K)`` logits or ``(B, N, 2)`` Gaussian outputs;
    ``y_true`` is ``(B, N)`` (each member its own rows) or ``(B,)``.
    The value is the mean over members. ``mutual_learning_form`` is
    ``"ensemble"`` (DML_e, :func:`~skdistill.nn.losses.mutual_learning_loss`)
    or ``"cohort"`` (:func:`~skdistill.nn.losses.cohort_mutual_learning_loss`).
    """

    def __init__(
        self,
        task: str = "classification",
        mutual_learning: float = 0.0,
        mutual_learning_form: str = "ensemble",
    ):
        super().__init__()
        self.task = task
        self.mutual_learning = float(mutual_learning)
        self.mutual_learning_form = mutual_learning_form

    def forward(self, y_pred, y_true):
        y, w = split_targets(y_true, 1)
        if self.task == "regression":
            return L.member_gaussian_nll(y_pred, y, w)
        if self.mutual_learning > 0:
            loss = (
                L.cohort_mutual_learning_loss
                if self.mutual_learning_form == "cohort"
                else L.mutual_learning_loss
            )
            return loss(y_pred, y, self.mutual_learning, w)
        return L.member_cross_entropy(y_pred, y, w)


def labelled_rows(y: torch.Tensor) -> torch.Tensor | None:
    """Which rows of a distillation batch carry a label (None: all of them).

    Extra rows (perturbed copies, the user's unlabelled rows) are marked with
    label ``-1`` (classification) or target ``NaN`` (regression); only the
    distillation terms see them.
    """
    if y.is_floating_point():
        mask = torch.isfinite(y)
    else:
        mask = y >= 0
    return mask


def _training() -> bool:
    """Whether the loss is being computed for a gradient step (not validation)."""
    return torch.is_grad_enabled()


class HydraCriterion(nn.Module):
    """Hydra+ data terms: ``(1-a) L1 + a [(1-b) L2 + b L3]``.

    ``y_pred`` is the student's ``(B, M, K)`` logits (or ``(B, M, 2)`` Gaussian
    outputs); ``y_true`` is ``(y, teacher)`` with ``y`` the ``(B,)`` targets and
    ``teacher`` the ``(B, N, K)`` member log-probabilities (or ``(B, N, 2)``
    Gaussian outputs). Rows without a label (see :func:`labelled_rows`) count
    in L2 and L3 only. Terms with zero weight are not computed.

    With ``prepared=True`` (classification; what the distiller uses),
    ``teacher`` is instead the ``(B, 2 + K + M K)`` rows of
    :func:`~skdistill.nn.losses.prepare_teacher_targets`, made once per fit
    at this criterion's temperatures and the student's ``M``: the same loss
    and gradient without tempering the teacher at every step. The terms and
    their gradient are then computed together, in closed form; the
    prepared rows are constants of the fit (a tensor of them that requires
    grad is refused).

    Hydra+'s fourth term, the diversity penalty ``lambda(epoch) L4`` on the
    heads' weights, is not a fit to data: the net adds it to training steps
    (``StackedNet.get_loss``, the way skorch adds a
    regulariser), so a validation loss does not rise just because
    ``lambda`` does.
    """

    def __init__(
        self,
        task="classification",
        alpha=0.9,
        beta=0.5,
        temperature=3.0,
        aggregation_temperature=1.0,
        prepared=False,
    ):
        super().__init__()
        self.task = task
        self.alpha = alpha
        self.beta = beta
        self.temperature = temperature
        self.aggregation_temperature = aggregation_temperature
        self.prepared = prepared

    def forward(self, y_pred, y_true):
        y, teacher, w = split_targets(y_true, 2)
        a, b = self.alpha, self.beta
        if self.task != "regression":
            if not self.prepared:  # member log-probabilities: prepared here
                teacher = L.prepare_teacher_targets(
                    teacher, y_pred.shape[1], self.temperature,
                    self.aggregation_temperature,
                )  # fmt: skip
            return _prepared_classification(
                y_pred, y, teacher, a, b, self.temperature,
                self.aggregation_temperature,
                labelled_rows(y) if a < 1 else None, w,
            )  # fmt: skip
        loss = y_pred.new_zeros(())
        if a < 1:
            l1 = L.hydra_regression_correctness(y_pred, y, labelled_rows(y), w)
            loss = loss + (1 - a) * l1
        if a > 0 and b < 1:
            loss = loss + a * (1 - b) * L.hydra_regression_aggregation(
                y_pred, teacher, w
            )
        if a > 0 and b > 0:
            l3 = L.hydra_regression_individuality(y_pred, teacher, w)
            loss = loss + a * b * l3
        return loss


class KDCriterion(nn.Module):
    """Single-student distillation losses.

    ``mode`` is ``"kd"`` (Hinton), ``"wsl"`` (Weighted Soft Labels) or
    ``"virtual"`` (teacher-free KD; ``y_true`` is then the labels alone, and
    ``virtual_form`` is the tempering of the virtual teacher, see
    :func:`~skdistill.nn.losses.virtual_teacher_loss`).
    For regression, ``"kd"`` is ``(1-a) NLL + a KL(teacher mixture || student)``.
    Rows without a label (see :func:`labelled_rows`) count in the
    distillation term only. With ``prepared=True`` (classification; what
    the distiller uses) the teacher comes prepared once per fit at this
    criterion's temperature: for ``"kd"`` the ``(B, 1 + K)`` rows of
    :func:`~skdistill.nn.losses.prepare_mean_targets`, for ``"wsl"`` the
    ``(B, 2 K)`` rows of the members' mean log-probabilities at 1 and mean
    probabilities at the temperature: the same loss and gradient, without
    tempering the members at every step.
    """

    def __init__(
        self,
        task="classification",
        mode="kd",
        temperature=4.0,
        alpha=0.9,
        virtual_a=0.9,
        virtual_form="log",
        prepared=False,
    ):
        super().__init__()
        self.task = task
        self.mode = mode
        self.temperature = temperature
        self.alpha = alpha
        self.virtual_a = virtual_a
        self.virtual_form = virtual_form
        self.prepared = prepared

    def forward(self, y_pred, y_true):
        if self.mode == "virtual":
            y, w = split_targets(y_true, 1)
            return L.virtual_teacher_loss(
                y_pred[:, 0],
                y,
                self.virtual_a,
                self.temperature,
                self.alpha,
                w,
                form=self.virtual_form,
            )
        y, teacher, w = split_targets(y_true, 2)
        labelled = labelled_rows(y)
        if self.task == "regression":
            nll = L.hydra_regression_correctness(y_pred, y, labelled, w)
            kl = L.hydra_regression_aggregation(y_pred, teacher, w)
            return (1 - self.alpha) * nll + self.alpha * kl
        if self.mode == "kd":
            if not self.prepared:  # member log-probabilities: prepared here
                teacher = L.prepare_mean_targets(teacher, self.temperature)
            return _prepared_kd(
                y_pred[:, 0], teacher, y, self.temperature, self.alpha,
                labelled=labelled, sample_weight=w,
            )  # fmt: skip
        if not self.prepared:  # member log-probabilities: prepared here
            teacher = _prepare_wsl_targets(teacher, self.temperature)
        return _prepared_wsl(
            y_pred[:, 0], teacher, y, self.temperature, self.alpha,
            labelled=labelled, sample_weight=w,
        )  # fmt: skip


class EnDDCriterion(nn.Module):
    """Ensemble distribution distillation: Dirichlet NLL of the members.

    ``temperature`` is the current training temperature; an
    :class:`~skdistill.training.CriterionSchedule` callback anneals it every
    epoch. Validation losses are computed at ``T = 1``, the model's own.
    """

    def __init__(self, temperature=1.0):
        super().__init__()
        self.temperature = temperature

    def forward(self, y_pred, y_true):
        _, teacher, w = split_targets(y_true, 2)
        temperature = self.temperature if _training() else 1.0
        return L.endd_loss(y_pred[:, 0], teacher, temperature, sample_weight=w)
