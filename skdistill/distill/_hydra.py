"""Hydra and Hydra+: distil an ensemble into one core with several heads."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import partial

from .._constraints import HYDRA, constraints_for
from ..nn.criteria import HydraCriterion
from ..nn.losses import diversity_weight, prepare_teacher_targets
from ..training import CriterionSchedule, seeded
from ._base import BaseDistiller
from ._extra import _SPREAD_ROWS, fit_spread

__all__ = ["HydraDistiller"]


class HydraDistiller(BaseDistiller):
    """Distil an ensemble into one shared core with light heads (Hydra, Hydra+).

    The student is one network: a shared core followed by ``n_heads`` heads
    held as stacked weights and run in one batched operation. Each head
    imitates some of the teacher's members, so the heads keep the ensemble's
    spread, and with it its epistemic uncertainty, at a fraction of the cost.

    Member ``i mod N`` of the teacher is mapped to head ``i mod M`` for
    ``i = 0 .. max(N, M) - 1``. The loss is

    ``L = (1 - alpha) L1 + alpha [(1 - beta) L2 + beta L3] + lambda(epoch) L4``

    * L1, correctness: cross-entropy of every head with the labels (Gaussian
      NLL for regression);
    * L2, aggregation: ``T_agg^2 KL(mean teacher || mean student)`` (for
      regression, between the moment-matched mixtures);
    * L3, individuality: ``T^2`` times the mean over mapped pairs of
      ``KL(teacher member || its head)`` at temperature ``T``;
    * L4, diversity: for every head layer and unit, how aligned each head's
      weight vector is with every other head's, ``max(0, cos)``, summed over
      units and layers and averaged over the other heads (identical heads
      score ``M`` per unit, as in the Hydra+ reference, so its ``lambda``
      values carry over). Head weights only; training steps only.
      ``lambda`` is 0 for the first ``diversity_start`` of the epochs, then
      rises linearly to ``diversity`` over the next ``diversity_warmup``.

    **Where the teacher disagrees.** The members of an ensemble agree on the
    rows they were trained on; their disagreement lives between and beyond
    them. So the student also learns the teacher's outputs at extra inputs:
    ``n_extra`` perturbed copies of every training row (``extra_inputs``),
    and any rows passed as ``fit(X, y, X_unlabelled=...)``. The teacher is
    run on them once per fit; every training batch of labelled rows carries
    ``extra_ratio`` times as many extra rows, drawn afresh each epoch; they
    count in L2 and L3, never in L1.

    **The spread scale.** A head that imitates several members learns their
    barycentre, so with ``M < N`` heads the heads disagree less than the
    members (about ``(M - 1) / (N - 1)`` of the size). After training,
    ``spread_`` rescales the heads' log-probabilities (regression: means)
    around their mean so that the student's mean epistemic uncertainty
    matches the teacher's on inputs it did not train on: the geometric mean
    of the ratios on fresh perturbed copies of the training rows (drawn after
    training) and on the validation rows is 1. It changes ``predict_members``,
    ``predict_uncertainty`` and, for classification, ``predict_proba``
    only as far as the rescaled heads' mean changes (the mean log-probability
    over heads is kept); a regression student's mixture mean and aleatoric
    variance do not change, its epistemic variance scales by ``spread_**2``.

    Hydra (Tran et al., 2020) is ``alpha=1, beta=1, diversity=0``, with
    ``mean_head_init=True`` for its two-stage start. Hydra+ (Ferianc &
    Rodrigues, 2022) is the default.

    Parameters
    ----------
    teacher : estimator, list of estimators or None, default=None
        A skdistill ensemble; a scikit-learn ensemble exposing ``estimators_``
        (random forest, extra trees, bagging, soft voting); a list of fitted
        estimators; or one probabilistic model. An unfitted teacher is cloned
        and fitted on ``(X, y)`` inside ``fit``. None: a default teacher is
        fitted inside ``fit``, an :class:`~skdistill.EnsembleRegressor` when
        ``y`` is continuous (scikit-learn's ``type_of_target``), else an
        :class:`~skdistill.EnsembleClassifier`; five members, ``batch_size=
        "auto"``, early stopping on 10% of the rows, at most 500 epochs.
    n_heads : int, default=None
        Number of heads; None is one per teacher member.
    core_layer_sizes : tuple of int or None, default=None
        Hidden sizes of the shared core. None follows the teacher: its
        members' hidden sizes (an MLP ensemble of skdistill or a
        scikit-learn MLP, also in bagging or voting or as a Pipeline's last
        step), else ``(100,)`` (trees, other models). Resolved as
        ``core_layer_sizes_``.
    head_layer_sizes : tuple of int or None, default=None
        Hidden sizes inside each head, before its output layer. None is one
        hidden layer of 32 units (none for a teacher without hidden
        layers). With both sizes None and a neural teacher, the student is
        kept within ``min(1, M / N)`` of the teacher's parameter count (all
        ``N`` members; ``M`` heads): the heads narrow to 16 units, then the
        core narrows (see ``skdistill.distill._sizes``). Resolved as
        ``head_layer_sizes_``.
    core : torch.nn.Module or callable, default=None
        The student's shared core instead of the MLP of
        ``core_layer_sizes``: any module mapping a batch of samples ``(B,
        *sample_shape)`` to features ``(B, width)``, a convolutional network
        for images, say (``width`` is read off a dummy batch). An instance is
        copied and re-initialised at every fit (as ``clone`` expects); a
        callable is called with no arguments. Modules with running
        statistics (batch norm) are fine here: the core is one network.
    head : torch.nn.Module or callable, default=None
        One head instead of the MLP of ``head_layer_sizes``: a module mapping
        ``(B, width)`` to ``(B, n_outputs)`` (``n_outputs`` is the number of
        classes, or 2 for regression: mean and raw variance), copied and
        re-initialised per head, or a callable ``head(width, n_outputs)``
        returning one. The heads are stacked and run in one batched call
        (``torch.vmap``); the diversity term compares their weights of two
        or more dimensions (one incoming vector per unit or channel).
    alpha : float, default=0.9
        Weight of the distillation terms against correctness.
    beta : float, default=0.5
        Weight of individuality (L3) against aggregation (L2).
    diversity : float, default=0.01
        The diversity weight lambda (on the scale of the Hydra+ reference's).
    diversity_start : float, default=0.0
        Fraction of ``max_epochs`` before lambda starts to rise.
    diversity_warmup : float, default=0.5
        Fraction of ``max_epochs`` over which lambda then rises from 0.
    temperature : float, default=3.0
        Temperature of the individuality term.
    aggregation_temperature : float, default=1.0
        Temperature of the aggregation term.
    mean_head_init : bool, default=False
        Hydra's two-stage start: first train one head on the ensemble mean
        for half of ``max_epochs``, then copy it into every head (plus small
        noise) and train for the other half.
    extra_inputs : {"noise", "mixup", "noise+mixup"} or None, default="noise"
        The perturbed copies the student also learns the teacher on.
        ``"noise"``: Gaussian noise, each copy at its own scale, log-uniform
        between 1/2 and 4 times ``noise_scale`` standard deviations of each
        feature; ``"mixup"``: a random convex mix of the row and another
        training row; ``"noise+mixup"``: either, at random. None: only the
        training rows (and ``X_unlabelled``).
    n_extra : int, default=3
        Perturbed copies per training row in the pool of extra rows.
    noise_scale : float, default=1.0
        Median-ish scale of the noise, in standard deviations of each feature.
    extra_ratio : float, default=1.0
        Extra rows per labelled row in every training batch.
    spread_calibration : bool or "auto", default="auto"
        Fit ``spread_`` after training. ``"auto"``: when there are fewer
        heads than teacher members (with as many, the heads keep the
        members' spread by themselves; calibrating them as well overshot,
        to 3.1 times the ensemble's size on breast_cancer).
    class_weight : dict, "balanced" or None, default=None
        Weight of each class in every term of the loss, for classification,
        as in scikit-learn's classifiers (it multiplies ``fit``'s
        ``sample_weight``); an unfitted teacher that takes ``sample_weight``
        is fitted with the same weights.
    student_transform : transformer, default=None
        What the student sees: ``student_transform`` fitted on ``X`` and
        applied to it, while the teacher sees ``X`` as given (cross-quality
        distillation, or a DataFrame with string or categorical columns that
        the student needs encoded). None: ``X`` itself, except for a
        DataFrame with non-numeric columns and a ``Pipeline`` teacher, whose
        preprocessing steps (``teacher[:-1]``, refitted) are then used.
    memory : str, joblib.Memory or None, default=None
        Caches the teacher's fit and outputs, as in ``Pipeline``: a grid
        search over student parameters then fits each fold's teacher once.
    max_epochs : int, default=1000
        The cap; training normally ends earlier, by early stopping.
    batch_size : int or "auto", default="auto"
        Labelled rows per step; ``"auto"`` is about ten steps per epoch,
        between 16 and 200 rows.
    validation_fraction : float, default=0.1
        Training rows held out (with one perturbed copy each) for the
        early-stopping signal and the spread scale.
    early_stopping : bool, default=True
        Stop when the held-out loss (correctness, aggregation and
        individuality, without the weight penalty L4) has not improved for
        ``n_iter_no_change`` epochs, and keep the best epoch's weights.
    n_iter_no_change : int, default=20
    activation, dropout, lr, weight_decay, optimizer, callbacks, verbose, \
device, random_state, device_data, accelerator :
        As for :class:`~skdistill.EnsembleClassifier`.
    **kwargs
        Nested parameters, as for :class:`~skdistill.EnsembleClassifier`:
        ``optimizer__<param>``, ``callbacks__<name>__<param>``, and
        ``core__<param>``/``head__<param>``, with which ``core``/``head``
        (a class) is called as ``core(**core__params)`` (one head module,
        copied for each head).

    Attributes
    ----------
    teacher_ : estimator
        The fitted teacher.
    n_teacher_members_ : int
    n_heads_ : int
    core_layer_sizes_, head_layer_sizes_ : tuple of int
        The student's sizes, None resolved (see ``core_layer_sizes``).
    spread_ : float
        The heads' spread scale (1 when not calibrated); see above.
    classes_ : ndarray (classification)
    y_mean_, y_scale_ : float (regression)
    task_ : {"classification", "regression"}
    n_features_in_, feature_names_in_, net_, history_ :
        As for the ensembles.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdistill import EnsembleClassifier, HydraDistiller
    >>> X, y = load_iris(return_X_y=True)
    >>> ens = EnsembleClassifier(n_members=4, max_epochs=5, random_state=0)
    >>> student = HydraDistiller(teacher=ens, n_heads=2, max_epochs=5,
    ...                          random_state=0).fit(X, y)
    >>> student.predict_members(X[:3]).shape
    (2, 3, 3)
    """

    def __init__(
        self,
        teacher=None,
        *,
        n_heads: int | None = None,
        core_layer_sizes: Sequence[int] | None = None,
        head_layer_sizes: Sequence[int] | None = None,
        core=None,
        head=None,
        alpha: float = 0.9,
        beta: float = 0.5,
        diversity: float = 0.01,
        diversity_start: float = 0.0,
        diversity_warmup: float = 0.5,
        temperature: float = 3.0,
        aggregation_temperature: float = 1.0,
        mean_head_init: bool = False,
        extra_inputs: str | None = "noise",
        n_extra: int = 3,
        noise_scale: float = 1.0,
        extra_ratio: float = 1.0,
        spread_calibration="auto",
        class_weight=None,
        student_transform=None,
        memory=None,
        activation: str = "relu",
        dropout: float = 0.0,
        max_epochs: int = 1000,
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
        self.n_heads = n_heads
        self.core_layer_sizes = core_layer_sizes
        self.head_layer_sizes = head_layer_sizes
        self.core = core
        self.head = head
        self.alpha = alpha
        self.beta = beta
        self.diversity = diversity
        self.diversity_start = diversity_start
        self.diversity_warmup = diversity_warmup
        self.temperature = temperature
        self.aggregation_temperature = aggregation_temperature
        self.mean_head_init = mean_head_init
        self.extra_inputs = extra_inputs
        self.n_extra = n_extra
        self.noise_scale = noise_scale
        self.extra_ratio = extra_ratio
        self.spread_calibration = spread_calibration
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

    def _check_params(self):
        super()._check_params()
        if self.mean_head_init and self.max_epochs < 2:
            raise ValueError("mean_head_init=True needs max_epochs >= 2 (two stages)")

    def _planned_heads(self) -> int:
        return int(
            self.n_heads if self.n_heads is not None else self.n_teacher_members_
        )

    def _size_share(self) -> float:
        """M heads of an N-member teacher: at most M/N of its parameters.

        A student with fewer heads than members is asked for because it is
        cheaper; sized like M members, it is (at most the whole teacher's
        size from M = N on).
        """
        members = getattr(self, "n_teacher_members_", None)
        if not members:
            return 1.0
        return min(1.0, self._planned_heads() / members)

    def _resolve_n_heads(self) -> int:
        """``n_heads_`` for this fit, with a warning for more heads than members."""
        n = self._planned_heads()
        if n > self.n_teacher_members_:
            warnings.warn(
                f"n_heads={n} is more than the teacher's {self.n_teacher_members_} "
                f"members: head i imitates member i mod {self.n_teacher_members_}, "
                "so some heads repeat a member (with its own initialisation)",
                UserWarning,
                stacklevel=4,
            )
        self.n_heads_ = n
        return n

    def _criterion(self, **overrides):
        params = dict(
            task=self.task_,
            alpha=self.alpha,
            beta=self.beta,
            temperature=self.temperature,
            aggregation_temperature=self.aggregation_temperature,
            prepared=self._prepares_teacher(),
        )
        return HydraCriterion, {**params, **overrides}

    def _prepares_teacher(self) -> bool:
        """Whether the criterion reads the teacher prepared (``_teacher_tensor``)."""
        return self.task_ == "classification"

    def _teacher_tensor(self, teacher, n_heads):
        if not self._prepares_teacher():
            return teacher
        return prepare_teacher_targets(
            teacher, n_heads, self.temperature, self.aggregation_temperature
        )

    def _diversity(self) -> float:
        return float(self.diversity)

    def _schedules(self, diversity) -> list:
        if diversity <= 0:
            return []
        schedule = partial(
            diversity_weight,
            diversity=diversity,
            warmup=self.diversity_warmup,
            start=self.diversity_start,
        )
        warmup = CriterionSchedule("diversity_now_", schedule, target="net")
        return [("diversity_schedule", warmup)]

    def _calibrates_spread(self) -> bool:
        if self.spread_calibration == "auto":
            return self.n_heads_ < self.n_teacher_members_
        return bool(self.spread_calibration) and self.n_heads_ > 1

    def _after_fit(self, extra, train_rows, clean=None) -> None:
        """Fit ``spread_`` on inputs the student did not train on.

        Two sets: fresh perturbed copies of (up to 2,000) training rows,
        drawn after training, so the student never saw them; and, with a
        validation split, the clean validation rows ``clean``. Perturbing
        the many training rows, rather than the few validation rows,
        measured steadier: on wine (12 validation rows) the spread fitted on
        perturbed validation rows alone gave 6.9 times the ensemble's size.
        """
        self.spread_ = 1.0
        if not self._calibrates_spread():
            return
        if len(train_rows) > _SPREAD_ROWS:
            train_rows = extra.rng.choice(train_rows, size=_SPREAD_ROWS, replace=False)
        fresh = extra.perturbed(train_rows, 1)
        sets = [(fresh.X, fresh.targets)]
        if clean is not None:
            sets.append(clean)
        sets = [
            (self._reduce_outputs(X_set, None, name="student"), targets.astype(float))
            for X_set, targets in sets
            if targets is not None and len(X_set)
        ]
        self.spread_ = fit_spread(sets, self.task_)

    def _fit_student(self, train, valid, seed):
        if not self.mean_head_init:
            return super()._fit_student(train, valid, seed)
        n_heads = self._resolve_n_heads()
        # Stage 1: one head learns the ensemble mean (aggregation only).
        first = self.max_epochs // 2
        net = self._student_net(
            1, self._criterion(beta=0.0), valid, seed, diversity=0.0
        )
        net.max_epochs = first
        self._fit_net(net, train, seed)
        single, stage1_history = net.plain_module, net.history
        if net.interrupted_:  # Ctrl-C in stage 1: keep its one-head student
            self.n_heads_ = 1
            return None
        # Stage 2: every head starts from that head, plus a little noise.
        net = self._student_net(n_heads, self._criterion(), valid, seed + 1)
        with seeded(seed + 2, self.device_):
            net.plain_module.start_from_single_head(single, noise=0.01)
        net.max_epochs = self.max_epochs - first
        self._fit_net(net, train, seed + 1)
        self.stage1_history_ = stage1_history
        return None


HydraDistiller._parameter_constraints = constraints_for(HYDRA, HydraDistiller)
