"""Ensemble distribution distillation: a Dirichlet student."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import partial

import numpy as np
from scipy.special import softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Bunch, check_random_state, deprecated

from .._constraints import ENDD, constraints_for
from ..nn.criteria import EnDDCriterion
from ..nn.losses import MAX_LOG_CONCENTRATION, endd_temperature
from ..training import CriterionSchedule
from ..uncertainty import dirichlet_uncertainty
from ._base import BaseDistiller

__all__ = ["EnDDDistiller"]


class EnDDDistiller(BaseDistiller):
    """Ensemble distribution distillation (Malinin et al., 2020).

    The student predicts Dirichlet concentrations ``a = exp(z)`` and is
    trained with the Dirichlet negative log-likelihood of the teacher
    members' (smoothed) probabilities, so it models the *distribution* of the
    members' predictions, not only their mean. The temperature follows
    Malinin et al.'s schedule: held at ``initial_temperature`` for the first
    ``hold_fraction`` of ``max_epochs``, then decayed linearly to 1 over the
    next ``anneal_fraction`` (both the student's concentrations and the
    teacher's targets are heated, so early training matches flat targets).
    Early stopping starts watching once the temperature is 1.

    Uncertainty comes from the Dirichlet in closed form: total = entropy of
    the expected probabilities, aleatoric = expected entropy
    ``-sum_c (a_c / a_0) [psi(a_c + 1) - psi(a_0 + 1)]``,
    epistemic = their difference. ``predict_members`` draws member-like
    probability vectors from the Dirichlet (seeded by ``random_state``).

    Classification teachers only.

    Parameters
    ----------
    teacher : estimator, list of estimators or None, default=None
        As for :class:`HydraDistiller`; None fits a default
        :class:`~skdistill.EnsembleClassifier` (EnDD distils classifiers only).
    initial_temperature : float, default=10.0
    hold_fraction : float, default=0.2
        Fraction of ``max_epochs`` held at ``initial_temperature``.
    anneal_fraction : float, default=0.4
        Fraction of ``max_epochs`` over which the temperature then decays to 1.
    n_member_samples : int, default=None
        Draws returned by ``predict_members``; None is the teacher's size.
    max_epochs : int, default=500
    core_layer_sizes, head_layer_sizes, core, head, extra_inputs, n_extra, noise_scale, \
extra_ratio, class_weight, student_transform, memory, activation, dropout, batch_size, lr, weight_decay, optimizer, validation_fraction, early_stopping, \
n_iter_no_change, callbacks, verbose, device, random_state, \
device_data, accelerator, **kwargs :
        As for :class:`HydraDistiller`.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdistill import EnDDDistiller, EnsembleClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> ens = EnsembleClassifier(n_members=4, max_epochs=5, random_state=0)
    >>> endd = EnDDDistiller(teacher=ens, max_epochs=5, random_state=0).fit(X, y)
    >>> endd.predict_concentration(X[:2]).shape
    (2, 3)
    """

    def __init__(
        self,
        teacher=None,
        *,
        initial_temperature: float = 10.0,
        hold_fraction: float = 0.2,
        anneal_fraction: float = 0.4,
        n_member_samples: int | None = None,
        core_layer_sizes: Sequence[int] | None = None,
        head_layer_sizes: Sequence[int] | None = None,
        core=None,
        head=None,
        extra_inputs: str | None = "noise",
        n_extra: int = 3,
        noise_scale: float = 1.0,
        extra_ratio: float = 1.0,
        class_weight=None,
        student_transform=None,
        memory=None,
        activation: str = "relu",
        dropout: float = 0.0,
        max_epochs: int = 500,
        batch_size: int | str = "auto",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer="adam",
        validation_fraction: float = 0.1,
        early_stopping: bool = True,
        n_iter_no_change: int = 20,
        callbacks=None,
        verbose: int = 0,
        device: str = "auto",
        random_state=None,
        device_data="auto",
        accelerator=None,
        **kwargs,
    ):
        self.teacher = teacher
        self.initial_temperature = initial_temperature
        self.hold_fraction = hold_fraction
        self.anneal_fraction = anneal_fraction
        self.n_member_samples = n_member_samples
        self.core_layer_sizes = core_layer_sizes
        self.head_layer_sizes = head_layer_sizes
        self.core = core
        self.head = head
        self.extra_inputs = extra_inputs
        self.n_extra = n_extra
        self.noise_scale = noise_scale
        self.extra_ratio = extra_ratio
        self.class_weight = class_weight
        self.student_transform = student_transform
        self.memory = memory
        self.activation = activation
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.verbose = verbose
        self.device = device
        self.random_state = random_state
        self.device_data = device_data
        self.accelerator = accelerator
        self._set_nested(kwargs)

    def _supports(self, task) -> bool:
        return task == "classification"

    def _criterion(self):
        return EnDDCriterion, dict(temperature=self.initial_temperature)

    def _early_stopping_start(self) -> float:
        # The validation loss is at T = 1 while training anneals from T0: it
        # only means what it says once the annealing is over.
        return self.hold_fraction + self.anneal_fraction

    def _check_student(self, X_rows, teacher_rows) -> None:
        """Warn when the student ends far less sure than its teacher.

        The temperature schedule holds the targets near uniform for the
        first epochs; with too few epochs after it (``max_epochs=20`` at
        ``initial_temperature=10``: near-uniform predictions, chance
        accuracy on digits) the student has not learnt the classes yet.
        """
        if self.task_ != "classification" or not len(X_rows):
            return super()._check_student(X_rows, teacher_rows)
        # The Dirichlet's mean, softmax of the (clipped) log-concentrations.
        z = self._reduce_outputs(X_rows, None, name="student")[:, 0]
        student = softmax(
            np.clip(z, -MAX_LOG_CONCENTRATION, MAX_LOG_CONCENTRATION), axis=-1
        )
        teacher = np.exp(teacher_rows).mean(axis=1)
        top_s = float(student.max(axis=1).mean())
        top_t = float(teacher.max(axis=1).mean())
        chance = 1.0 / teacher.shape[1]
        if top_s - chance >= 0.25 * (top_t - chance):
            super()._check_student(X_rows, teacher_rows)
        else:
            warnings.warn(
                f"{type(self).__name__}: the student is far less sure than its "
                f"teacher on the training rows (mean top probability "
                f"{top_s:.2f} against {top_t:.2f}, chance {chance:.2f}): it has "
                f"not finished learning. The temperature schedule keeps its "
                f"targets near uniform at first (initial_temperature="
                f"{self.initial_temperature:g}); raise max_epochs (now "
                f"{self.max_epochs}) or lower initial_temperature. (Constant "
                f"predictions can also mean a learning rate far too high: "
                f"lr={self.lr:g}.)",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _schedules(self, diversity) -> list:
        schedule = partial(
            endd_temperature,
            t0=self.initial_temperature,
            anneal_fraction=self.anneal_fraction,
            hold_fraction=self.hold_fraction,
        )
        return [("temperature_schedule", CriterionSchedule("temperature", schedule))]

    def predict_concentration(self, X) -> np.ndarray:
        """Dirichlet concentrations ``exp(z)``, ``(n_samples, n_classes)``.

        The log-concentrations ``z`` are clipped to ``[-MAX_LOG_CONCENTRATION,
        MAX_LOG_CONCENTRATION]`` (20), the bound the training loss uses.
        """
        z = self._student_outputs(X)[:, 0, :]
        return np.exp(np.clip(z, -MAX_LOG_CONCENTRATION, MAX_LOG_CONCENTRATION))

    @deprecated(
        "`predict_alpha` was renamed `predict_concentration` in 0.2.0 and will "
        "be removed in 0.4.0."
    )
    def predict_alpha(self, X) -> np.ndarray:
        """Deprecated alias of :meth:`predict_concentration` (removed in 0.4.0)."""
        return self.predict_concentration(X)

    def predict_proba(self, X) -> np.ndarray:
        """The Dirichlet's mean, ``concentration / concentration.sum(axis=1)``."""
        concentration = self.predict_concentration(X)
        return concentration / concentration.sum(axis=1, keepdims=True)

    def predict_members(self, X) -> np.ndarray:
        """Member-like draws from the Dirichlet, ``(n_samples_drawn, n, n_classes)``.

        Random draws (seeded by ``random_state``, over the whole of ``X`` at
        once): their mean and their mutual information estimate
        ``predict_proba`` and ``predict_uncertainty(X).epistemic`` (the
        closed forms), the latter biased low with few draws; raise
        ``n_member_samples`` for a closer estimate.
        """
        concentration = self.predict_concentration(X)
        n_draws = self.n_member_samples or self.n_teacher_members_
        rng = check_random_state(self.random_state)
        shape = (n_draws, *concentration.shape)
        g = rng.standard_gamma(np.broadcast_to(concentration, shape))
        g = np.maximum(g, np.finfo(float).tiny)
        return g / g.sum(axis=-1, keepdims=True)

    def predict_uncertainty(self, X) -> Bunch:
        """Closed-form Dirichlet decomposition (nats)."""
        return dirichlet_uncertainty(self.predict_concentration(X))


EnDDDistiller._parameter_constraints = constraints_for(ENDD, EnDDDistiller)
