"""What every distiller shares: the teacher, its cached outputs, the student net.

A distiller is a meta-estimator. Its estimator type follows its teacher (as
``Pipeline`` follows its last step), and methods that do not apply are hidden
with ``available_if``. An unfitted teacher is cloned and fitted inside ``fit``
on the same data (so cross-validation never leaks); a fitted teacher is used
as it is. The teacher's member outputs on the training rows are computed once,
in batches, and kept on the device beside ``X``: the student never calls the
teacher during training.
"""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import Bunch
from sklearn.utils._tags import ClassifierTags, RegressorTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import (
    check_is_fitted,
    check_memory,
)

from .. import teachers as T
from .._base import (
    NeuralEstimatorMixin,
    stacked_probabilities,
    transactional,
)
from .._outputs import log_probabilities, mean_probability, member_entropies
from ..metrics import ensemble_kl
from ..nn.losses import LOG_PROB_FLOOR  # a tree's hard zero stays finite
from ..teachers import MIN_VARIANCE_FRACTION
from ..training import TensorData
from ..uncertainty import (
    classification_uncertainty,
    mixture_mean_std,
    regression_uncertainty,
)
from ._extra import _NO_LABEL, _ExtraRows, scale_spread
from ._inputs import DistillerInputsMixin, _non_numeric_columns  # noqa: F401
from ._student import StudentMixin

#: Training rows on which a fitted student is checked against its teacher.
_CHECK_ROWS = 2000


def _interrupted(teacher) -> bool:
    """Whether a (skdistill) teacher's training was stopped by Ctrl-C."""
    if isinstance(teacher, list | tuple):
        return any(_interrupted(t) for t in teacher)
    return bool(getattr(getattr(teacher, "net_", None), "interrupted_", False))


def _can_stream(est) -> bool:
    """Whether ``partial_fit`` applies: a teacher that is fitted, or can stream.

    A fitted teacher (or ``"virtual"``) labels every chunk; an unfitted one
    must learn the stream itself, through its own ``partial_fit`` (``None``
    stands for the default ensemble, which has one). Otherwise the method
    is hidden, as a Pipeline hides what its last step lacks.
    """
    teacher = est.teacher
    if teacher is None or (isinstance(teacher, str) and teacher == "virtual"):
        return True
    if isinstance(teacher, str):
        return False
    if T.teacher_is_fitted(teacher):
        return True
    return callable(getattr(teacher, "partial_fit", None))


def _fit_teacher(adapter, X, y, sample_weight=None):
    """The adapter of the fitted teacher (a function, for ``joblib.Memory``)."""
    return adapter.fit(X, y, sample_weight)


def _member_outputs(adapter, X, classes=None, y=None):
    """The teacher's member outputs (a function, for ``joblib.Memory``)."""
    return adapter.member_outputs(X, classes=classes, y=y)


def _is_classification(est) -> bool:
    return est._task_from_teacher() == "classification"


def _is_regression(est) -> bool:
    return est._task_from_teacher() == "regression"


class BaseDistiller(
    DistillerInputsMixin, StudentMixin, NeuralEstimatorMixin, BaseEstimator
):
    """Shared machinery of the distillers; see the subclasses."""

    _nested_prefixes = ("optimizer__", "callbacks__", "core__", "head__")

    #: Whether ``teacher="virtual"`` (teacher-free KD) is accepted.
    _allows_virtual = False

    def _resolve_n_heads(self) -> int:
        """The student's heads for this fit (once per fit; Hydra records ``n_heads_``)."""
        return self._planned_heads()

    def _supports(self, task) -> bool:
        return True

    # ---------------------------------------------------------------- teacher
    def _task_from_teacher(self) -> str:
        if hasattr(self, "task_"):
            return self.task_
        if self.teacher is None or (
            isinstance(self.teacher, str) and self.teacher == "virtual"
        ):
            return "classification"
        try:
            return T.teacher_task(self.teacher)
        except TypeError:
            return "classification"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self._task_from_teacher() == "regression":
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        else:
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        tags.non_deterministic = False
        return tags

    def _teacher_spec(self):
        """The teacher to fit or use: ``teacher``, or for None an ensemble at its
        own defaults (five members, early-stopped), of ``y``'s task."""
        if self.teacher is not None:
            return self.teacher
        from ..ensemble import EnsembleClassifier, EnsembleRegressor

        cls = (
            EnsembleClassifier if self.task_ == "classification" else EnsembleRegressor
        )
        return cls(device=self.device, random_state=self._seed())

    def _prepare_teacher(self, X_teacher, y, sample_weight=None):
        """Fit (if needed, through ``memory``) and run the teacher once.

        Uses the adapter made when the data was validated (for ``teacher=
        None``, of the default ensemble, made here) and keeps the fitted
        teacher's adapter as ``_teacher_adapter_``.
        """
        adapter = self._teacher_adapter_
        if adapter is None:
            adapter = T.as_teacher(self._teacher_spec())
        if self.task_ == "classification" and not adapter.is_fitted():
            self._check_no_weightless_class(y)
        memory = check_memory(self.memory)
        fitted = memory.cache(_fit_teacher).call_and_shelve(
            adapter, X_teacher, y, sample_weight
        )
        adapter = fitted.get()
        self.teacher_ = adapter.estimator
        if _interrupted(self.teacher_):
            # Ctrl-C while the teacher trained: there is no student to keep, and
            # the half-trained teacher must not stay in the cache.
            fitted.clear()
            raise KeyboardInterrupt("the teacher's training was interrupted")
        self._teacher_adapter_ = adapter
        if self.task_ == "classification":
            adapter.check_classes(self.classes_)
        out = self._teacher_targets(X_teacher, y)
        self.n_teacher_members_ = out.shape[1]
        return out

    def _check_no_weightless_class(self, y_kept) -> None:
        """Refuse a class whose rows all have weight 0, before a teacher is fitted.

        Rows of weight 0 are dropped before the teacher sees the data, so a
        teacher fitted here would never meet such a class (and the class
        check after it would blame the teacher's labels).
        """
        missing = np.setdiff1d(self.classes_, np.asarray(y_kept))
        if missing.size:
            raise ValueError(
                f"every row of class(es) {missing.tolist()} has weight 0 "
                "(sample_weight times class_weight): rows of weight 0 are "
                "dropped before the teacher is fitted, so it cannot learn these "
                "classes, nor the student from it. Give those rows a weight, "
                "or leave the classes out of y"
            )

    def _teacher_view(self):
        """The adapter of ``teacher_``: the one made in fit, or (after unpickling,
        which drops it) a new one."""
        adapter = self.__dict__.get("_teacher_adapter_")
        if adapter is None or adapter.estimator is not self.teacher_:
            adapter = self._teacher_adapter_ = T.as_teacher(self.teacher_)
        return adapter

    def __getstate__(self):
        # The adapter holds nothing but teacher_ and the task: it is made anew
        # rather than stored twice (pickles and ``save`` files keep teacher_).
        state = super().__getstate__()
        state.pop("_teacher_adapter_", None)
        return state

    def _teacher_targets(self, X_teacher, y=None) -> np.ndarray:
        """The teacher's member outputs on ``X_teacher``, batch-first, as trained on.

        Classification: member log-probabilities ``(n, N, K)`` (floored at
        ``LOG_PROB_FLOOR``, except a stored teacher's logits: their
        ``log_softmax`` as it is); regression: ``(n, N, 2)`` member means and
        variances in standardised target units. Cached through ``memory``.
        """
        adapter = self._teacher_view()
        run = check_memory(self.memory).cache(_member_outputs)
        if self.task_ == "classification" and adapter.has_logits:
            logp = adapter.member_log_probabilities(X_teacher, self.classes_)
            return logp.transpose(1, 0, 2).astype(np.float32)
        if self.task_ == "classification":
            probs = run(adapter, X_teacher, classes=self.classes_)
            if not probs.flags.writeable:  # a read-only (memory-mapped) cache hit
                probs = probs.copy()
            # In place: a fresh (N, n, K) float64 array for the floor and another
            # for the log cost their page faults (once per fit, but 4 of 4.4 s
            # at 400k rows, 8 members and 10 classes on this project's VM).
            logp = np.log(
                np.maximum(probs, np.exp(LOG_PROB_FLOOR), out=probs), out=probs
            )
            return logp.transpose(1, 0, 2).astype(np.float32)  # batch-first (n, N, K)
        means, variances = run(adapter, X_teacher, y=y)
        scaled_means = (means - self.y_mean_) / self.y_scale_
        # Floored in y's own scale, so that rows with and without y (the
        # perturbed extra rows) and targets in any unit are taught alike.
        scaled_vars = np.maximum(variances / self.y_scale_**2, MIN_VARIANCE_FRACTION)
        out = np.stack((scaled_means, scaled_vars), axis=-1).transpose(1, 0, 2)
        return out.astype(np.float32)

    @_fit_context(prefer_skip_nested_validation=False)
    @transactional
    def fit(self, X, y, sample_weight=None, *, X_unlabelled=None):
        """Fit (or take) the teacher, then distil it into the student.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            The teacher sees ``X`` as given; the student sees it validated
            (and transformed, for cross-quality distillation).
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row (times ``class_weight``'s) in
            every term of the student's loss, ground truth and distillation
            alike (the weight penalty aside); perturbed copies of a row carry
            its weight, ``X_unlabelled`` rows the mean weight. An unfitted
            teacher that accepts ``sample_weight`` is fitted with the same
            weights (a ``Pipeline``: its last step, or with scikit-learn's
            metadata routing on, the steps that request them); one that does
            not is fitted unweighted, with a warning.
            Rows of weight 0 are dropped (a class left with none is an
            error that names it).
        X_unlabelled : array-like or DataFrame of shape (n_unlabelled, n_features), \
default=None
            Rows without labels, in ``X``'s format: the student learns the
            teacher's outputs there too (the distillation terms only, never
            the ground-truth term). They join the perturbed copies of
            ``extra_inputs`` in the pool of extra rows.

        Returns
        -------
        self
        """
        X_teacher = X
        X, y_student, y_raw = self._validate_fit_data(X, y)
        if not hasattr(X_teacher, "columns"):
            # Only a DataFrame goes to the teacher as given (its pipeline may
            # select columns by name); anything else goes validated, so that a
            # teacher never sees an object array or a list it may mishandle.
            X_teacher = X
        self._check_common_params()
        self._check_params()
        weights, keep = self._row_weights(X, y_student, sample_weight, y_raw)
        if keep is not None:  # a row of weight 0 is a row that is not there
            y_student, y_raw = y_student[keep], np.asarray(y_raw)[keep]
            X = X.iloc[keep] if hasattr(X, "iloc") else X[keep]
            X_teacher = X_teacher.iloc[keep] if hasattr(X_teacher, "iloc") else X
        if self.task_ == "regression":
            self._fit_target_scale(y_student, weights)
            y_student = (y_student - self.y_mean_) / self.y_scale_
        virtual = isinstance(self.teacher, str) and self.teacher == "virtual"
        if virtual and X_unlabelled is not None:
            raise ValueError(
                "X_unlabelled needs a real teacher: the virtual teacher has no "
                "outputs for rows without labels"
            )
        teacher_out = None
        if not virtual:
            teacher_out = self._prepare_teacher(X_teacher, y_raw, weights)
        X_student = self._student_input(X_teacher, X, fit=True, y=y_raw)
        self._record_student_input(X_student)
        self._resolve_sizes()

        seed = self._seed()
        rng = np.random.default_rng(seed)
        rows = np.arange(len(X))
        tr, _, va, _ = self._split(
            rows, y_student, seed, stratify=self.task_ == "classification"
        )
        extra = None if virtual else _ExtraRows(self, X, X_teacher, rng, weights)
        if extra is not None:
            extra.add_perturbed(tr, self._n_extra_copies())
            if X_unlabelled is not None:
                extra.add_unlabelled(X_unlabelled)
        self._plan_data(X_student, teacher_out, *(extra.sizes() if extra else ()))

        n_heads = self._planned_heads()

        def data(idx, pool=None):
            return self._student_data(
                X_student, y_student, teacher_out, weights, idx, pool, n_heads
            )

        self.n_train_rows_ = len(tr)
        train = data(tr, extra.pool() if extra else None)
        valid = None
        if va is not None:
            # The held-out loss covers the teacher's disagreement too: the
            # validation rows plus one perturbed copy of each.
            # (Not with extra_inputs=None: then only the rows themselves.)
            perturb = extra is not None and self.extra_inputs is not None
            held_out = extra.perturbed(va, 1) if perturb else None
            valid = data(va, held_out)
        self._fit_student(train, valid, seed)
        if extra is not None:
            clean = None if va is None else (X_student[va], teacher_out[va])
            self._after_fit(extra, tr, clean)
        if teacher_out is not None:
            rows = tr[:_CHECK_ROWS]
            self._check_student(X_student[rows], teacher_out[rows])
        return self

    def _check_student(self, X_rows, teacher_rows) -> None:
        """Warn when the student learnt nothing of its teacher on training rows.

        Classification: the student's mean prediction is as far from the
        teacher's (KL divergence, nats) as the best constant prediction, the
        teacher's average, is (at least 0.9 times as far), where the teacher
        varies enough to tell (the constant at least 0.05 nats off).
        Regression: the same in mean squared difference from the teacher's
        mean (R^2 at most 0.1), where the teacher's mean varies by at least
        5% of ``y``'s variance. Either means it has not learnt; the usual cause is a
        learning rate far too high (the weights blew up and every ReLU
        died: confident, constant predictions), or far too few epochs.
        Hydra+'s and EnDD's losses follow schedules, so the divergence check
        of the loss cannot judge them; this looks at the predictions. A loss
        already reported as diverged is not reported twice.
        """
        divergence = dict(getattr(self.net_, "callbacks_", ())).get("divergence")
        if not len(X_rows) or getattr(divergence, "warned_", False):
            return
        members = self._members(self._reduce_outputs(X_rows, None, name="student"))
        if self.task_ == "classification":
            teacher = np.exp(teacher_rows.astype(np.float64)).mean(axis=1)
            teacher /= teacher.sum(axis=1, keepdims=True)  # the log floor's excess
            average = np.broadcast_to(teacher.mean(axis=0), teacher.shape)
            off, constant = ensemble_kl(teacher, members), ensemble_kl(teacher, average)
            if constant < 0.05 or off < 0.9 * constant:
                return
            what = (
                f"is as far from its teacher's predictions on the training "
                f"rows (KL {off:.3g} nats) as a constant prediction is "
                f"({constant:.3g})"
            )
        else:
            scaled = teacher_rows[:, :, 0].astype(np.float64).mean(axis=1)
            teacher = scaled * self.y_scale_ + self.y_mean_
            student = np.asarray(members[0], dtype=np.float64).mean(axis=0)
            error = float(np.mean((student - teacher) ** 2))
            constant = float(np.var(teacher))
            if constant < 0.05 * float(self.y_scale_) ** 2 or error < 0.9 * constant:
                return
            what = (
                f"is as far from its teacher's mean prediction on the training "
                f"rows (mean squared difference {error:.3g}) as a constant is "
                f"({constant:.3g})"
            )
        start = getattr(divergence, "start_", 0)  # this fit's epochs only
        losses = [
            b["train_loss"]
            for epoch in self.net_.history[start:]
            for b in epoch["batches"]
            if "train_loss" in b
        ]
        first = losses[0] if losses else 0.0
        peak = max((v for v in losses if math.isfinite(v)), default=first)
        if peak > first + 10.0 * max(1.0, abs(first)):
            advice = (
                f"Its training loss blew up (to {peak:.3g}, from {first:.3g} "
                f"at the first step): lower the learning rate (lr={self.lr:g})"
            )
        else:
            advice = (
                f"Train it longer (max_epochs={self.max_epochs}), or check the "
                f"learning rate (lr={self.lr:g})"
            )
        warnings.warn(
            f"{type(self).__name__}: the student {what}: it has not learnt. {advice}",
            ConvergenceWarning,
            stacklevel=4,
        )

    def _record_student_input(self, X_student) -> None:
        """``n_student_features_`` and ``student_input_shape_`` of the student's input."""
        self.student_input_shape_ = tuple(int(d) for d in X_student.shape[1:])
        self.n_student_features_ = int(np.prod(self.student_input_shape_))

    def _student_data(
        self, X_student, y, teacher_out, weights, idx, pool=None, n_heads=1
    ):
        """``TensorData`` of rows ``idx`` plus a pool of extra rows, on the device.

        Targets are ``y`` (the virtual teacher), else ``(y, teacher)``, with
        the row weights appended when there are any; ``teacher`` is what
        ``_teacher_tensor`` makes of the teacher's outputs for a student of
        ``n_heads`` heads. Extra rows carry the "no label" mark, so only the
        distillation terms see them.
        """
        y_dtype = torch.long if self.task_ == "classification" else torch.float32
        parts_X, parts_y = [X_student[idx]], [y[idx]]
        parts_t = None if teacher_out is None else [teacher_out[idx]]
        parts_w = None if weights is None else [weights[idx]]
        if pool is not None and len(pool.X):
            parts_X.append(pool.X)
            parts_y.append(np.full(len(pool.X), _NO_LABEL[self.task_]))
            parts_t.append(pool.targets)
            if parts_w is not None:
                parts_w.append(pool.weights)
        X_t = self._to_device(np.concatenate(parts_X))
        targets = [self._to_device(np.concatenate(parts_y), y_dtype)]
        if parts_t is not None:
            teacher = self._to_device(np.concatenate(parts_t))
            targets.append(self._teacher_tensor(teacher, n_heads))
        if parts_w is not None:
            targets.append(self._to_device(np.concatenate(parts_w)))
        n_lab = len(idx) if pool is not None else None
        if len(targets) == 1:
            return TensorData(X_t, targets[0])
        return TensorData(X_t, tuple(targets), n_labelled=n_lab)

    def _teacher_tensor(self, teacher: torch.Tensor, n_heads: int) -> torch.Tensor:
        """The teacher's outputs as the criterion reads them (as they are, here).

        A hook, run once per fit on the device: Hydra's criterion reads the
        teacher's part of its loss, prepared (see ``HydraDistiller``).
        """
        return teacher

    @available_if(_can_stream)
    @_fit_context(prefer_skip_nested_validation=False)
    @transactional
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train the student for one epoch on ``(X, y)``: the streaming path.

        For data that never fits in memory at once: call it once per chunk.
        A fitted teacher (or ``"virtual"``) labels every chunk as it is. An
        unfitted teacher with ``partial_fit`` of its own (a skdistill
        ensemble, and the default one of ``teacher=None``) learns the stream
        alongside: each call first trains it one epoch on the chunk, then
        the student on its outputs. Any other unfitted teacher is refused.
        Each call is one epoch over the chunk and its perturbed extra
        copies, in ``batch_size`` steps; ``validation_fraction``,
        ``early_stopping`` and Hydra's ``mean_head_init`` play no part, the
        spread scale ``spread_`` stays 1 (it needs held-out rows), and
        schedules (Hydra's diversity warm-up, EnDD's temperature) count one
        call as one epoch of ``max_epochs``. ``student_transform`` is fitted
        on the first chunk. A DataFrame with non-numeric columns is not
        supported here: encode it first. Later calls take ``lr``,
        ``weight_decay``, ``optimizer__*`` and ``batch_size`` as they are
        then (the optimizer's state carries on), and the loss's parameters
        (``temperature``, ``alpha``, ``soft_label_weighting``...) as they
        are then; the optimizer class, the callbacks (the schedules of
        Hydra's diversity and EnDD's temperature among them) and the
        student's architecture stay those of the first call.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            Classification: every class of the stream. Default: the fitted
            teacher's classes; required with ``teacher="virtual"`` and with
            a teacher that learns the stream.
        sample_weight : array-like of shape (n_samples,), default=None
            As for :meth:`fit`.

        Returns
        -------
        self
        """
        first = not hasattr(self, "net_")
        teacher = self.teacher
        virtual = isinstance(teacher, str) and teacher == "virtual"
        streamed = False  # the teacher learns the stream too
        adapter = None  # the teacher's, made once per call
        if not virtual:
            if teacher is not None:
                adapter = T.as_teacher(teacher)
            fitted = adapter is not None and adapter.is_fitted()
            streamed = not fitted
            if streamed and not (
                teacher is None or callable(getattr(teacher, "partial_fit", None))
            ):
                raise ValueError(
                    f"partial_fit needs a fitted teacher, or one with partial_fit "
                    f"that learns the stream alongside the student; "
                    f"{type(teacher).__name__} is neither: fit it first and pass "
                    "it fitted"
                )
        if first:
            if teacher is None:
                self.task_ = (
                    "regression"
                    if self._supports("regression")
                    and type_of_target(y) in ("continuous", "continuous-multioutput")
                    else "classification"
                )
            else:
                self.task_ = "classification" if virtual else adapter.task
            if not self._supports(self.task_):
                raise TypeError(
                    f"{type(self).__name__} does not support {self.task_} teachers"
                )
            self.raw_input_ = False
        X_teacher = X
        if self.task_ == "classification":
            if first and classes is None and not (virtual or streamed):
                classes = adapter.classes()
            Xv, y_student = self._validate_partial_classes(X, y, classes, first)
            y_raw = self.classes_[y_student]
        else:
            Xv, y_student = self._validate_regression(X, y, reset=first)
            y_raw = y_student
        if not hasattr(X_teacher, "columns"):
            X_teacher = Xv
        self._check_common_params()
        self._check_params()
        self._check_partial_class_weight()
        weights, keep = self._row_weights(Xv, y_student, sample_weight, y_raw)
        if keep is not None:
            Xv, y_student, y_raw = Xv[keep], y_student[keep], y_raw[keep]
            X_teacher = X_teacher.iloc[keep] if hasattr(X_teacher, "iloc") else Xv
        if first:
            if self.task_ == "regression":
                self._fit_target_scale(y_student, weights)
            self.teacher_ = clone(self._teacher_spec()) if streamed else teacher
        if streamed:
            if not first:  # trained on a copy: a failed call keeps the old one
                self.teacher_ = copy.deepcopy(self.teacher_)
            kw = {"sample_weight": None if weights is None else weights}
            if self.task_ == "classification":
                kw["classes"] = self.classes_
            self.teacher_.partial_fit(X_teacher, y_raw, **kw)
        if not virtual:
            if adapter is None:  # the default ensemble
                adapter = T.as_teacher(self.teacher_)
            elif adapter.estimator is not self.teacher_:
                # A streamed clone of the teacher; or the teacher of the first
                # call, where the parameter has changed since.
                adapter = (
                    adapter.bind(self.teacher_)
                    if streamed
                    else T.as_teacher(self.teacher_)
                )
            self._teacher_adapter_ = adapter
        if first and self.task_ == "classification" and not virtual:
            adapter.check_classes(self.classes_)
        if self.task_ == "regression":
            y_student = (y_student - self.y_mean_) / self.y_scale_
        if self.task_ == "regression":
            y_raw = np.asarray(y_raw, dtype=np.float64)
        teacher_out = None if virtual else self._teacher_targets(X_teacher, y_raw)
        if first and teacher_out is not None:
            self.n_teacher_members_ = teacher_out.shape[1]
        X_student = self._student_input(X_teacher, Xv, fit=first, y=y_raw)
        if first:
            self._record_student_input(X_student)
            self.n_train_rows_ = len(Xv)
            self._resolve_sizes()
        seed = self._seed() + len(getattr(self, "history_", ()))
        rows = np.arange(len(Xv))
        pool = None
        if not virtual:
            extra = _ExtraRows(
                self, Xv, X_teacher, np.random.default_rng(seed), weights
            )
            extra.add_perturbed(rows, self._n_extra_copies())
            pool = extra.pool()
        self._plan_data(X_student, teacher_out, *(pool or ()))
        n_heads = self._planned_heads() if first else getattr(self, "n_heads_", 1)
        train = self._student_data(
            X_student, y_student, teacher_out, weights, rows, pool, n_heads
        )
        if first:
            net = self._student_net(
                self._resolve_n_heads(), self._criterion(), None, seed
            )
            self.spread_ = 1.0
        else:
            net = self.net_
            # Today's loss parameters (temperature, alpha, ...): the teacher's
            # targets were just prepared with them, and the loss must match.
            # (The criterion's class follows the distiller's: it never changes.)
            for name, value in self._criterion()[1].items():
                setattr(net.criterion_, name, value)
        self._fit_net(
            self._streaming_net(net, continuing=not first), train, seed, epochs=1
        )
        return self

    def _n_extra_copies(self) -> int:
        return int(self.n_extra) if self.extra_inputs is not None else 0

    def _after_fit(self, extra, train_rows, clean=None) -> None:
        """Post-training step with the teacher's outputs at hand (Hydra's spread).

        ``train_rows`` are the indices the student trained on; ``clean`` is
        the validation split as (student input, teacher outputs), or None.
        """

    # ---------------------------------------------------------------- predict
    def _student_outputs(self, X, reduce=None, device_reduce=None) -> np.ndarray:
        """Stacked student outputs, or ``reduce`` of each batch of them.

        Batch by batch (see ``_reduce_outputs``): predicting a reduction (the
        mean over heads, the uncertainty) never holds every head's output for
        every row at once.
        """
        check_is_fitted(self, "net_")
        X_raw = X
        X = self._student_input(X_raw, self._validate_X(X, reset=False), fit=False)
        return self._reduce_outputs(
            X, reduce, name="student", device_reduce=device_reduce
        )

    def _spread(self, out):
        """Stacked outputs (an array or a tensor) with ``spread_`` applied."""
        return scale_spread(out, getattr(self, "spread_", 1.0), self.task_)

    def _members(self, out):
        out = self._spread(out)
        if self.task_ == "classification":
            return stacked_probabilities(out)
        return self._stacked_gaussians(out)

    def predict_members(self, X):
        """Per-head predictions.

        Returns
        -------
        ndarray of shape (n_heads, n_samples, n_classes)
            Class probabilities of every head, for classification; or
        (means, variances) : tuple of ndarray of shape (n_heads, n_samples)
            for regression.
        """
        return self._members(self._student_outputs(X))

    @available_if(_is_classification)
    def predict_proba(self, X) -> np.ndarray:
        """Mean over heads of the class probabilities, ``(n_samples, n_classes)``."""
        return self._student_outputs(
            X,
            lambda out: self._members(out).mean(axis=0),
            lambda out: mean_probability(self._spread(out)),
        )

    @available_if(_is_classification)
    def predict_log_proba(self, X) -> np.ndarray:
        """Log of :meth:`predict_proba`."""
        return log_probabilities(self.predict_proba(X))

    def predict(self, X, return_std: bool = False):
        """Predicted class, or (regression) the mixture mean and optionally its std."""
        if self._task_from_teacher() == "classification":
            if return_std:
                raise TypeError("return_std is only defined for regression")
            proba = self.predict_proba(X)
            return self.classes_[np.argmax(proba, axis=1)]
        mean, std = self._student_outputs(
            X, lambda out: mixture_mean_std(*self._members(out))
        )
        return (mean, std) if return_std else mean

    def predict_uncertainty(self, X) -> Bunch:
        """Bunch(total, aleatoric, epistemic) over the heads (nats, or variances)."""
        check_is_fitted(self, "net_")
        if self.task_ == "classification":
            return self._student_outputs(
                X,
                lambda out: classification_uncertainty(self._members(out)),
                lambda out: member_entropies(self._spread(out)),
            )
        return self._student_outputs(
            X, lambda out: regression_uncertainty(*self._members(out))
        )

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy for classification, R^2 for regression."""
        if self._task_from_teacher() == "classification":
            return accuracy_score(y, self.predict(X), sample_weight=sample_weight)
        return r2_score(y, self.predict(X), sample_weight=sample_weight)

    def to_onnx(self, path, **kwargs) -> None:
        """Export the fitted model to ONNX; see :func:`skdistill.to_onnx`."""
        from .._export import to_onnx

        to_onnx(self, path, **kwargs)
