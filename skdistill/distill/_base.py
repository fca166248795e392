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
from functools import partial

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch
from sklearn.utils._tags import ClassifierTags, RegressorTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    check_memory,
    validate_data,
)

from .. import teachers as T
from .._base import (
    ACTIVATIONS_PER_INPUT,
    NeuralEstimatorMixin,
    _check_float32_range,
    _check_sizes,
    _from_tensor,
    predict_batch_rows,
    stacked_probabilities,
    transactional,
)
from ..nn.losses import LOG_PROB_FLOOR  # a tree's hard zero stays finite
from ..nn.modules import MultiHeadStudent, n_raw_outputs, reinitialised_copy
from ..training import TensorData, seeded
from ..uncertainty import (
    classification_uncertainty,
    mixture_mean_std,
    regression_uncertainty,
)
from ._extra import _NO_LABEL, _ExtraRows, scale_spread
from ._sizes import resolve_sizes

#: Training rows on which a fitted student is checked against its teacher.
_CHECK_ROWS = 2000


def _head_copy(head, width, out_features):
    """One head from a module instance: a copy with fresh parameters, checked."""
    module = reinitialised_copy(head)
    with torch.no_grad():
        try:
            shape = tuple(
                copy.deepcopy(module).cpu().eval()(torch.zeros(2, width)).shape
            )
        except Exception as exc:
            raise ValueError(
                f"head={type(head).__name__}(...) cannot take the core's "
                f"{width} features: it raised {type(exc).__name__}: {exc}"
            ) from None
    if shape != (2, out_features):
        raise ValueError(
            f"head={type(head).__name__}(...) maps (2, {width}) to {shape}; a "
            f"head must output (batch, {out_features})"
        )
    return module


def _interrupted(teacher) -> bool:
    """Whether a (skdistill) teacher's training was stopped by Ctrl-C."""
    if isinstance(teacher, list | tuple):
        return any(_interrupted(t) for t in teacher)
    return bool(getattr(getattr(teacher, "net_", None), "interrupted_", False))


def _non_numeric_columns(X) -> list:
    """Names of a DataFrame's columns that are not numbers (none for arrays)."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(X, "columns"):
        return []
    import pandas as pd

    return [
        c
        for c, dtype in dtypes.items()
        if not (
            pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
        )
    ]


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
    members = teacher if isinstance(teacher, list | tuple) else [teacher]
    if all(T.teacher_is_fitted(m) for m in members):
        return True
    return callable(getattr(teacher, "partial_fit", None))


def _is_classification(est) -> bool:
    return est._task_from_teacher() == "classification"


def _is_regression(est) -> bool:
    return est._task_from_teacher() == "regression"


class BaseDistiller(NeuralEstimatorMixin, BaseEstimator):
    """Shared machinery of the distillers; see the subclasses."""

    _nested_prefixes = ("optimizer__", "callbacks__", "core__", "head__")

    #: Whether ``teacher="virtual"`` (teacher-free KD) is accepted.
    _allows_virtual = False

    def _n_heads(self) -> int:
        """Heads of the student; single-headed students keep 1."""
        return 1

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
        """Fit (if needed, through ``memory``) and run the teacher once."""
        memory = check_memory(self.memory)
        fitted = memory.cache(T.fit_teacher).call_and_shelve(
            self._teacher_spec(), X_teacher, y, sample_weight
        )
        self.teacher_ = fitted.get()
        if _interrupted(self.teacher_):
            # Ctrl-C while the teacher trained: there is no student to keep, and
            # the half-trained teacher must not stay in the cache.
            fitted.clear()
            raise KeyboardInterrupt("the teacher's training was interrupted")
        if self.task_ == "classification":
            T.check_teacher_classes(self.teacher_, self.classes_)
        out = self._teacher_targets(X_teacher, y)
        self.n_teacher_members_ = out.shape[1]
        return out

    def _teacher_targets(self, X_teacher, y=None) -> np.ndarray:
        """The teacher's member outputs on ``X_teacher``, batch-first, as trained on.

        Classification: member log-probabilities ``(n, N, K)`` (floored at
        ``LOG_PROB_FLOOR``, except a stored teacher's logits: their
        ``log_softmax`` as it is); regression: ``(n, N, 2)`` member means and
        variances in standardised target units. Cached through ``memory``.
        """
        run = check_memory(self.memory).cache(T.member_outputs)
        if self.task_ == "classification" and T.has_logits(self.teacher_):
            logp = self.teacher_.predict_members_log_proba(X_teacher)
            cols = T._positions(self.classes_, self.teacher_.classes_, "the teacher")
            return logp[:, :, cols].transpose(1, 0, 2).astype(np.float32)
        if self.task_ == "classification":
            probs = run(self.teacher_, X_teacher, classes=self.classes_)
            logp = np.log(np.clip(probs, np.exp(LOG_PROB_FLOOR), None))
            return logp.transpose(1, 0, 2).astype(np.float32)  # batch-first (n, N, K)
        means, variances = run(self.teacher_, X_teacher, y=y)
        scaled_means = (means - self.y_mean_) / self.y_scale_
        scaled_vars = variances / self.y_scale_**2
        out = np.stack((scaled_means, scaled_vars), axis=-1).transpose(1, 0, 2)
        return out.astype(np.float32)

    # -------------------------------------------------------------------- fit
    def _student_input(self, X_raw, X, *, fit):
        """The student's input: ``X``, or ``student_transform`` of the raw input.

        Cross-quality distillation gives the student a degraded view (fewer or
        coarser features) while the teacher sees everything. The transformer
        receives the input as the user passed it (a DataFrame keeps its
        column names) and is fitted on the training data.
        """
        transform = self._student_transform()
        if transform is None:
            return X
        if fit:
            self.student_transform_ = clone(transform).fit(X_raw)
        Xs = check_array(
            _from_tensor(self.student_transform_.transform(X_raw)),
            dtype=[np.float64, np.float32],
            accept_sparse=False,
            allow_nd=True,
        )
        _check_float32_range(Xs)
        fitted = getattr(self, "student_input_shape_", None)
        if not fit and fitted is not None and Xs.shape[1:] != fitted:
            raise ValueError(
                f"student_transform produced samples of shape {Xs.shape[1:]}; "
                f"the student was fitted on {fitted}"
            )
        return Xs

    def _student_transform(self):
        """``student_transform``, or a Pipeline teacher's preprocessing steps.

        The fallback applies only to a DataFrame with non-numeric columns
        (``raw_input_``): the student cannot take strings, and the teacher's
        own preprocessing is what turns them into numbers.
        """
        transform = getattr(self, "student_transform", None)
        if transform is not None or not getattr(self, "raw_input_", False):
            return transform
        teacher = self.teacher
        if isinstance(teacher, Pipeline) and len(teacher.steps) > 1:
            return teacher[:-1]
        return None

    def _validate_raw_frame(self, X, y):
        """A DataFrame with non-numeric columns: the teacher's, as it is.

        Only the student's input must be numbers, and it is
        ``student_transform``'s output (checked where it is made). The frame
        keeps its columns and dtypes; ``n_features_in_`` and
        ``feature_names_in_`` are its own, and ``y`` is validated as usual.
        """
        columns = _non_numeric_columns(X)
        has_steps = isinstance(self.teacher, Pipeline) and len(self.teacher.steps) > 1
        if getattr(self, "student_transform", None) is None and not has_steps:
            raise ValueError(
                f"X has non-numeric columns {columns[:5]}: the student needs "
                "numbers. Pass student_transform (e.g. a ColumnTransformer with "
                "a OneHotEncoder) to encode them for the student, or a Pipeline "
                "teacher whose first steps do; the teacher still gets X as it "
                "is. Or encode X before fit"
            )
        stand_in = np.zeros((len(X), 1))
        if self.task_ == "classification":
            _, y_out = self._validate_classification(stand_in, y)
            y_raw = y
        else:
            _, y_out = self._validate_regression(stand_in, y)
            y_raw = y_out
        validate_data(self, X, skip_check_array=True, reset=True)
        self.raw_input_ = True
        return X, y_out, y_raw

    def _validate_X(self, X, *, reset):
        if getattr(self, "raw_input_", False):
            self._check_frame(X)
            if not hasattr(X, "columns"):
                raise ValueError(
                    f"{type(self).__name__} was fitted on a DataFrame with "
                    "non-numeric columns; pass a DataFrame with the same columns"
                )
            validate_data(self, X, skip_check_array=True, reset=reset)
            return X
        return super()._validate_X(X, reset=reset)

    def _validate_fit_data(self, X, y):
        if self.teacher is None:
            # The default teacher follows the target, as a regressor for a
            # continuous y (scikit-learn's type_of_target), else a classifier.
            if y is None:
                raise ValueError(
                    f"{type(self).__name__} requires y to be passed, but the "
                    "target y is None"
                )
            # A distiller without a regression form validates y as classes
            # (and refuses a continuous y as scikit-learn's classifiers do).
            regression = self._supports("regression") and type_of_target(y) in (
                "continuous",
                "continuous-multioutput",
            )
            self.task_ = "regression" if regression else "classification"
            return self._validate_target(X, y)
        if isinstance(self.teacher, str):
            if self.teacher != "virtual":
                raise TypeError(
                    f"teacher={self.teacher!r} is not understood; pass an "
                    "estimator, a list of fitted estimators, or 'virtual'"
                )
            if not self._allows_virtual:
                raise TypeError(
                    "teacher='virtual' (teacher-free KD) is only supported by "
                    f"KDDistiller; {type(self).__name__} distils a real "
                    "teacher's members: pass an estimator or a list of them"
                )
        else:
            T.check_teacher(self.teacher)
        self.task_ = self._task_from_teacher()
        if not self._supports(self.task_):
            raise TypeError(
                f"{type(self).__name__} does not support {self.task_} teachers"
            )
        return self._validate_target(X, y)

    def _validate_target(self, X, y):
        if _non_numeric_columns(X):
            return self._validate_raw_frame(X, y)
        self.raw_input_ = False
        if self.task_ == "classification":
            Xv, y_enc = self._validate_classification(X, y)
            return Xv, y_enc, y
        Xv, y_float = self._validate_regression(X, y)
        return Xv, y_float, y_float

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
            weights; one that does not is fitted unweighted, with a warning.
            Rows of weight 0 are dropped.
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
        X_student = self._student_input(X_teacher, X, fit=True)
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

        def data(idx, pool=None):
            return self._student_data(
                X_student, y_student, teacher_out, weights, idx, pool
            )

        self.n_train_rows_ = len(tr)
        train = data(tr, extra.pool() if extra else None)
        valid = None
        if va is not None:
            # The held-out loss covers the teacher's disagreement too: the
            # validation rows plus one perturbed copy of each.
            held_out = extra.perturbed(va, 1) if extra else None
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
        """Warn about a student that plainly failed (a hook; EnDD's uses it)."""

    def _record_student_input(self, X_student) -> None:
        """``n_student_features_`` and ``student_input_shape_`` of the student's input."""
        self.student_input_shape_ = tuple(int(d) for d in X_student.shape[1:])
        self.n_student_features_ = int(np.prod(self.student_input_shape_))

    def _student_data(self, X_student, y, teacher_out, weights, idx, pool=None):
        """``TensorData`` of rows ``idx`` plus a pool of extra rows, on the device.

        Targets are ``y`` (the virtual teacher), else ``(y, teacher)``, with
        the row weights appended when there are any. Extra rows carry the
        "no label" mark, so only the distillation terms see them.
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
            targets.append(self._to_device(np.concatenate(parts_t)))
        if parts_w is not None:
            targets.append(self._to_device(np.concatenate(parts_w)))
        n_lab = len(idx) if pool is not None else None
        if len(targets) == 1:
            return TensorData(X_t, targets[0])
        return TensorData(X_t, tuple(targets), n_labelled=n_lab)

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
        supported here: encode it first.

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
        if not virtual:
            if teacher is not None:
                T.check_teacher(teacher)
            members = teacher if isinstance(teacher, list | tuple) else [teacher]
            fitted = teacher is not None and all(
                T.teacher_is_fitted(m) for m in members
            )
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
                self.task_ = self._task_from_teacher()
            if not self._supports(self.task_):
                raise TypeError(
                    f"{type(self).__name__} does not support {self.task_} teachers"
                )
            self.raw_input_ = False
        X_teacher = X
        if self.task_ == "classification":
            if first and classes is None and not (virtual or streamed):
                classes = T.teacher_classes(teacher)
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
        if first and self.task_ == "classification" and not virtual:
            T.check_teacher_classes(self.teacher_, self.classes_)
        if self.task_ == "regression":
            y_student = (y_student - self.y_mean_) / self.y_scale_
        if self.task_ == "regression":
            y_raw = np.asarray(y_raw, dtype=np.float64)
        teacher_out = None if virtual else self._teacher_targets(X_teacher, y_raw)
        if first and teacher_out is not None:
            self.n_teacher_members_ = teacher_out.shape[1]
        X_student = self._student_input(X_teacher, Xv, fit=first)
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
        train = self._student_data(
            X_student, y_student, teacher_out, weights, rows, pool
        )
        if first:
            module = self._build_student(self._n_heads(), seed)
            net = self._student_net(module, self._criterion(), None, seed)
            self.spread_ = 1.0
        else:
            net = self.net_
        self._fit_net(self._streaming_net(net), train, seed, epochs=1)
        return self

    def _n_extra_copies(self) -> int:
        return int(self.n_extra) if self.extra_inputs is not None else 0

    def _after_fit(self, extra, train_rows, clean=None) -> None:
        """Post-training step with the teacher's outputs at hand (Hydra's spread).

        ``train_rows`` are the indices the student trained on; ``clean`` is
        the validation split as (student input, teacher outputs), or None.
        """

    def _n_outputs(self) -> int:
        return len(self.classes_) if self.task_ == "classification" else 1

    def _student_in_size(self):
        """What the student takes: a number of features, or a sample's shape."""
        shape = getattr(self, "student_input_shape_", None)
        if shape is None or len(shape) == 1:
            return self.n_student_features_
        return shape

    def _core_module(self):
        """A fresh shared core from ``core`` (None: the default MLP)."""
        core = getattr(self, "core", None)
        params = self._nested_params("core__")
        if params and (core is None or isinstance(core, torch.nn.Module)):
            raise ValueError(
                f"core__{next(iter(params))} needs core= to be a module class "
                "(or factory) that takes it; the default MLP core is set with "
                "core_layer_sizes"
            )
        if core is None:
            return None
        if isinstance(core, torch.nn.Module):
            return reinitialised_copy(core)
        module = core(**params)
        if not isinstance(module, torch.nn.Module):
            raise TypeError(
                f"core() returned {type(module).__name__}, not a torch.nn.Module"
            )
        return module

    def _head_factory(self):
        """``head`` as ``factory(width, out_features)`` (None: the default heads)."""
        head = getattr(self, "head", None)
        params = self._nested_params("head__")
        if params:
            if head is None or isinstance(head, torch.nn.Module):
                raise ValueError(
                    f"head__{next(iter(params))} needs head= to be a module class "
                    "(or factory) that takes it; the default heads are set with "
                    "head_layer_sizes"
                )
            head = head(**params)  # one head, copied for each (sizes checked)
        if head is None or not isinstance(head, torch.nn.Module):
            return head
        return partial(_head_copy, head)

    def _build_student(self, n_heads, seed):
        with seeded(seed, self.device_):
            try:
                return MultiHeadStudent(
                    n_heads,
                    self._student_in_size(),
                    self._n_outputs(),
                    task=self.task_,
                    core_layer_sizes=self.core_layer_sizes_,
                    head_layer_sizes=self.head_layer_sizes_,
                    activation=self.activation,
                    dropout=self.dropout,
                    core=self._core_module(),
                    head=self._head_factory(),
                )
            except ValueError as exc:
                raise ValueError(f"{type(self).__name__}'s student: {exc}") from None

    def _student_net(self, module, criterion, valid, seed, diversity=None):
        diversity = self._diversity() if diversity is None else diversity
        width = max(
            (module.core_width, *self.core_layer_sizes_, *self.head_layer_sizes_)
        )
        sample = getattr(self, "student_input_shape_", None) or (1,)
        core = 0
        if getattr(self, "core", None) is not None or len(sample) > 1:
            # A core of the user's (a CNN on images) runs once per row, with
            # activations that follow the input's size.
            core = ACTIVATIONS_PER_INPUT * int(np.prod(sample))
        return self._make_net(
            module,
            criterion,
            valid_data=valid,
            seed=seed,
            predict_batch_size=predict_batch_rows(module.n_heads, width, shared=core),
            extra_ratio=self.extra_ratio,
            extra_callbacks=self._schedules(criterion, diversity),
            diversity=diversity,
        )

    def _diversity(self) -> float:
        """The weight of the penalty on the heads' weights (Hydra+'s lambda)."""
        return 0.0

    def _schedules(self, criterion, diversity) -> list:
        """``(name, CriterionSchedule)`` callbacks of the loss (none by default)."""
        return []

    def _build_net(self, valid, seed):
        """The untrained student net of the fitted architecture (for loading)."""
        # A fitted student knows its heads (Hydra interrupted in its first
        # stage keeps 1 head, whatever n_heads says).
        n_heads = getattr(self, "n_heads_", None) or self._n_heads()
        module = self._build_student(n_heads, seed)
        return self._student_net(module, self._criterion(), valid, seed)

    def _fit_student(self, train, valid, seed):
        module = self._build_student(self._n_heads(), seed)
        net = self._student_net(module, self._criterion(), valid, seed)
        self._fit_net(net, train, seed)

    def _planned_heads(self) -> int:
        """Heads the student will have (as ``_n_heads``, without its warning)."""
        return 1

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
        )
        self.core_layer_sizes_ = () if custom_core else core
        self.head_layer_sizes_ = head

    def _check_params(self):
        """What the constraints cannot say: the entries of the size sequences."""
        for name in ("core_layer_sizes", "head_layer_sizes"):
            if getattr(self, name) is not None:
                _check_sizes(name, getattr(self, name))

    # ---------------------------------------------------------------- predict
    def _student_outputs(self, X, reduce=None) -> np.ndarray:
        """Stacked student outputs, or ``reduce`` of each batch of them.

        Batch by batch (see ``_reduce_outputs``): predicting a reduction (the
        mean over heads, the uncertainty) never holds every head's output for
        every row at once.
        """
        check_is_fitted(self, "net_")
        X_raw = X
        X = self._student_input(X_raw, self._validate_X(X, reset=False), fit=False)
        return self._reduce_outputs(X, reduce, name="student")

    def _members(self, out):
        out = scale_spread(out, getattr(self, "spread_", 1.0), self.task_)
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
        return self._student_outputs(X, lambda out: self._members(out).mean(axis=0))

    @available_if(_is_classification)
    def predict_log_proba(self, X) -> np.ndarray:
        """Log of :meth:`predict_proba`."""
        return np.log(np.clip(self.predict_proba(X), 1e-300, None))

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

        def reduce(out):
            members = self._members(out)
            if self.task_ == "classification":
                return classification_uncertainty(members)
            return regression_uncertainty(*members)

        return self._student_outputs(X, reduce)

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy for classification, R^2 for regression."""
        if self._task_from_teacher() == "classification":
            return accuracy_score(y, self.predict(X), sample_weight=sample_weight)
        return r2_score(y, self.predict(X), sample_weight=sample_weight)

    def to_onnx(self, path, **kwargs) -> None:
        """Export the fitted model to ONNX; see :func:`skdistill.to_onnx`."""
        from .._export import to_onnx

        to_onnx(self, path, **kwargs)
