"""Training criteria: loss modules the skorch net calls as ``criterion_(y_pred, y_true, net=...)``.

Each criterion only wires the pure loss functions of :mod:`skdistill.nn.losses`
to the batch layout and, where a loss changes over training (Hydra's diversity
warm-up, EnDD's temperature), reads the epoch from the net.
"""

from __future__ import annotations

from torch import nn

from . import losses as L

__all__ = ["EnDDCriterion", "EnsembleCriterion", "HydraCriterion", "KDCriterion"]


class EnsembleCriterion(nn.Module):
    """Loss of independent members, optionally with mutual learning (DML_e).

    ``y_pred`` is ``(B, N, K)`` logits or ``(B, N, 2)`` Gaussian outputs;
    ``y_true`` is ``(B, N)`` (each member its own rows) or ``(B,)``.
    The value is the mean over members.
    """

    def __init__(self, task: str = "classification", mutual_learning: float = 0.0):
        super().__init__()
        self.task = task
        self.mutual_learning = float(mutual_learning)

    def forward(self, y_pred, y_true, net=None):
        if self.task == "regression":
            return L.member_gaussian_nll(y_pred, y_true)
        if self.mutual_learning > 0:
            return L.mutual_learning_loss(y_pred, y_true, self.mutual_learning)
        return L.member_cross_entropy(y_pred, y_true)


class HydraCriterion(nn.Module):
    """Hydra+ loss: ``(1-a) L1 + a [(1-b) L2 + b L3] + lambda(epoch) L4``.

    ``y_pred`` is the student's ``(B, M, K)`` logits (or ``(B, M, 2)`` Gaussian
    outputs); ``y_true`` is ``(y, teacher)`` with ``y`` the ``(B,)`` targets and
    ``teacher`` the ``(B, N, K)`` member log-probabilities (or ``(B, N, 2)``
    Gaussian outputs). Terms with zero weight are not computed.
    """

    def __init__(
        self,
        task="classification",
        alpha=0.9,
        beta=0.5,
        diversity=0.0,
        diversity_warmup=0.5,
        temperature=3.0,
        aggregation_temperature=1.0,
        max_epochs=1,
    ):
        super().__init__()
        self.task = task
        self.alpha = alpha
        self.beta = beta
        self.diversity = diversity
        self.diversity_warmup = diversity_warmup
        self.temperature = temperature
        self.aggregation_temperature = aggregation_temperature
        self.max_epochs = max_epochs

    def forward(self, y_pred, y_true, net=None):
        y, teacher = y_true
        a, b = self.alpha, self.beta
        regression = self.task == "regression"
        loss = y_pred.new_zeros(())
        if a < 1:
            l1 = (
                L.hydra_regression_correctness(y_pred, y)
                if regression
                else L.hydra_correctness(y_pred, y)
            )
            loss = loss + (1 - a) * l1
        if a > 0 and b < 1:
            l2 = (
                L.hydra_regression_aggregation(y_pred, teacher)
                if regression
                else L.hydra_aggregation(y_pred, teacher, self.aggregation_temperature)
            )
            loss = loss + a * (1 - b) * l2
        if a > 0 and b > 0:
            l3 = (
                L.hydra_regression_individuality(y_pred, teacher)
                if regression
                else L.hydra_individuality(y_pred, teacher, self.temperature)
            )
            loss = loss + a * b * l3
        if self.diversity > 0 and net is not None:
            lam = L.diversity_weight(
                net.epoch_ - 1, self.max_epochs, self.diversity, self.diversity_warmup
            )
            if lam > 0:
                student = net.module_
                if isinstance(student, nn.parallel.DistributedDataParallel):
                    student = student.module  # multi-GPU training (Accelerate)
                loss = loss + lam * L.hydra_diversity(student.head_weights())
        return loss


class KDCriterion(nn.Module):
    """Single-student distillation losses.

    ``mode`` is ``"kd"`` (Hinton), ``"wsl"`` (Weighted Soft Labels) or
    ``"virtual"`` (teacher-free KD; ``y_true`` is then the labels alone).
    For regression, ``"kd"`` is ``(1-a) NLL + a KL(teacher mixture || student)``.
    """

    def __init__(
        self,
        task="classification",
        mode="kd",
        temperature=4.0,
        alpha=0.9,
        virtual_a=0.9,
    ):
        super().__init__()
        self.task = task
        self.mode = mode
        self.temperature = temperature
        self.alpha = alpha
        self.virtual_a = virtual_a

    def forward(self, y_pred, y_true, net=None):
        if self.mode == "virtual":
            return L.virtual_teacher_loss(
                y_pred[:, 0], y_true, self.virtual_a, self.temperature, self.alpha
            )
        y, teacher = y_true
        if self.task == "regression":
            nll = L.hydra_regression_correctness(y_pred, y)
            kl = L.hydra_regression_aggregation(y_pred, teacher)
            return (1 - self.alpha) * nll + self.alpha * kl
        if self.mode == "wsl":
            return L.wsl_loss(y_pred[:, 0], teacher, y, self.temperature, self.alpha)
        return L.kd_loss(y_pred[:, 0], teacher, y, self.temperature, self.alpha)


class EnDDCriterion(nn.Module):
    """Ensemble distribution distillation: Dirichlet NLL of the members, annealed."""

    def __init__(self, initial_temperature=10.0, anneal_fraction=0.5, max_epochs=1):
        super().__init__()
        self.initial_temperature = initial_temperature
        self.anneal_fraction = anneal_fraction
        self.max_epochs = max_epochs

    def temperature_at(self, net) -> float:
        if net is None or not net.module_.training:
            return 1.0
        return L.endd_temperature(
            net.epoch_ - 1, self.max_epochs, self.initial_temperature,
            self.anneal_fraction,
        )  # fmt: skip

    def forward(self, y_pred, y_true, net=None):
        _, teacher = y_true
        return L.endd_loss(y_pred[:, 0], teacher, self.temperature_at(net))
