"""One small adapter class per family of teacher, made once by :func:`as_teacher`.

:func:`as_teacher` checks a teacher and tells its family once; the adapter it
returns answers everything a distiller asks of the teacher (its task, members,
classes, how to fit it, how to prepare ``X`` for it, and its member outputs)
without telling the family again. The families:

==========================  =================================================
``VirtualTeacher``          the string ``"virtual"`` (teacher-free KD)
``MembersTeacher``          anything with ``predict_members`` (skdistill
                            ensembles and distillers, duck-typed ones)
``StoredOutputsTeacher``    a :class:`~skdistill.TeacherOutputs`
``ForestTeacher``           random forests and extra trees
``BaggingTeacher``          bagging (members see their feature subsets)
``VotingTeacher``           voting (soft, equal weights)
``ListTeacher``             a list or tuple of estimators
``PipelineTeacher``         a Pipeline whose last step is one of the
                            ensembles above (its members see the
                            transformed input)
``EstimatorTeacher``        any other estimator: one member
==========================  =================================================
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.ensemble import (
    BaggingClassifier,
    BaggingRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import (
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from .._stored_outputs import TeacherOutputs
from ._classification import member_probabilities, stacked_probabilities
from ._common import (
    VIRTUAL,
    _check_batch_size,
    _clone_fit,
    _fmt,
    _n_rows,
    _name,
    _own_classes,
    _positions,
    check_teacher_type,
    is_virtual,
    teacher_is_fitted,
    teacher_task,
)
from ._regression import member_gaussians, stacked_gaussians

_FORESTS = (
    RandomForestClassifier,
    RandomForestRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
)
_BAGGING = (BaggingClassifier, BaggingRegressor)
_VOTING = (VotingClassifier, VotingRegressor)


class Member(NamedTuple):
    """One member estimator of a teacher, as its outputs are computed."""

    estimator: Any
    #: Columns of ``X`` the member sees (bagging), or None for all of them.
    features: np.ndarray | None
    #: Whether the member was fitted on the parent's encoded labels 0..K-1.
    encoded: bool
    #: How error messages name the member.
    where: str


class TeacherAdapter:
    """A checked teacher of a known family; made by :func:`as_teacher`.

    The base class is the behaviour of a single estimator (one member); each
    family of teacher overrides what differs. An adapter holds the teacher
    (``estimator``) and its ``task``; everything else is read from the
    teacher when asked, so an adapter of an unfitted teacher can still tell
    its task and (where that can be told) its number of members, and
    :meth:`fit` returns an adapter of the same family for the fitted teacher.

    Parameters
    ----------
    estimator : estimator, list of estimators or str
        The teacher, already checked.
    task : {"classification", "regression"}
        Its task.

    Attributes
    ----------
    family : str
        The family's name: ``"estimator"``, ``"forest"``, ``"bagging"``,
        ``"voting"``, ``"list"``, ``"pipeline"``, ``"members"``,
        ``"stored"`` or ``"virtual"``.
    has_logits : bool
        Whether the teacher holds member logits (a
        :class:`~skdistill.TeacherOutputs` given ``logits``).
    """

    family = "estimator"
    has_logits = False

    def __init__(self, estimator, task):
        self.estimator = estimator
        self.task = task

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {_name(self.estimator)} ({self.task})>"

    def bind(self, estimator) -> TeacherAdapter:
        """An adapter of the same family for ``estimator`` (a clone of the teacher).

        Returns
        -------
        TeacherAdapter
        """
        return type(self)(estimator, self.task)

    # ------------------------------------------------------------- members
    @property
    def n_members(self) -> int:
        """How many members the teacher has (fitted or not, where that can be told)."""
        return 1

    def members(self) -> list[Member]:
        """The member estimators of the fitted teacher, each called on its own.

        Returns
        -------
        list of Member
            ``(estimator, features, encoded, where)`` each: the columns of
            ``X`` the member sees (None for all), whether it was fitted on
            its parent's encoded labels, and its name in error messages. A
            teacher whose members are computed together (``predict_members``)
            has none of its own: ``[]``.
        """
        return [Member(self.estimator, None, False, f"the teacher ({self._name()})")]

    def _name(self) -> str:
        return _name(self.estimator)

    # ------------------------------------------------------------- fitting
    def is_fitted(self) -> bool:
        """Whether the teacher (every member of a list) is fitted."""
        return teacher_is_fitted(self.estimator)

    def _check_fitted(self) -> None:
        check_is_fitted(self.estimator)

    def fit(self, X, y, sample_weight=None) -> TeacherAdapter:
        """The adapter of the fitted teacher: itself if fitted, else of a fitted clone.

        The teacher held is never modified. ``sample_weight`` goes to its
        ``fit`` if it takes it; otherwise it is fitted unweighted, with a
        warning.

        Returns
        -------
        TeacherAdapter
        """
        if self.is_fitted():
            return self
        return self.bind(_clone_fit(self.estimator, X, y, sample_weight))

    # ------------------------------------------------------------- classes
    def classes(self) -> np.ndarray:
        """The classes the fitted teacher knows (``classes_``).

        Returns
        -------
        ndarray of shape (n_classes,)
        """
        if self.task != "classification":
            raise TypeError(f"a regression teacher ({self._name()}) has no classes")
        return self._own_classes()

    def _own_classes(self) -> np.ndarray:
        return _own_classes(self.estimator, "teacher")

    def check_classes(self, classes) -> None:
        """Raise ``ValueError`` unless the teacher knows exactly ``classes``.

        Order does not matter. A teacher knowing more classes than ``y`` (a
        superset) is an error, like one missing a class of ``y``.
        """
        own = set(self.classes().tolist())
        wanted = set(np.asarray(classes).ravel().tolist())
        if own == wanted:
            return
        problems = []
        unknown = wanted - own
        if unknown:
            problems.append(f"y's classes {_fmt(unknown)} are unknown to the teacher")
        extra = own - wanted
        if extra:
            problems.append(
                f"the teacher's classes {_fmt(extra)} do not occur in y (a teacher "
                "knowing a superset of y's classes is not accepted: the student's "
                "outputs must match the teacher's)"
            )
        raise ValueError(
            f"the teacher was fitted on classes {_fmt(own)} but y has classes "
            f"{_fmt(wanted)}: " + "; ".join(problems) + ". Fit the teacher on the "
            "same labels, or pass it unfitted so that it is fitted on the "
            "training data."
        )

    # ------------------------------------------------------------- outputs
    def prepare_X(self, X):
        """``X`` as the members take it (a CSR matrix for sparse input)."""
        if sp.issparse(X):
            return X.tocsr()
        return X if hasattr(X, "shape") or hasattr(X, "iloc") else np.asarray(X)

    def member_outputs(self, X, *, classes=None, y=None, batch_size=4096):
        """The outputs of every member of the fitted teacher on ``X``, members first.

        See :func:`~skdistill.teachers.member_outputs`, which calls this.

        Returns
        -------
        probabilities : ndarray of shape (n_members, n_samples, n_classes)
            Classification.
        (means, variances) : tuple of ndarrays of shape (n_members, n_samples)
            Regression.
        """
        batch_size = _check_batch_size(batch_size)
        self._check_fitted()
        X = self.prepare_X(X)
        n = _n_rows(X)
        if n == 0:
            raise ValueError("X has no rows")
        if self.task == "classification":
            own = self.classes()
            if classes is None:
                classes = own
            else:
                self.check_classes(classes)
            return self._probabilities(X, np.asarray(classes), own, batch_size)
        if y is not None:
            y = column_or_1d(y, dtype=np.float64)
            if len(y) != n:
                raise ValueError(f"y has {len(y)} rows but X has {n}")
            if not np.all(np.isfinite(y)):
                raise ValueError("y contains NaN or infinity")
        return self._gaussians(X, y, batch_size)

    def _probabilities(self, X, classes, own, batch_size):
        return member_probabilities(self.members(), X, classes, own, batch_size)

    def _gaussians(self, X, y, batch_size):
        return member_gaussians(self.members(), X, y, batch_size)


class EstimatorTeacher(TeacherAdapter):
    """Any single estimator: one member (a Pipeline ending in one too)."""


class MembersTeacher(TeacherAdapter):
    """Anything with ``predict_members``: every member at once, in batches."""

    family = "members"

    @property
    def n_members(self) -> int:
        for attr in ("n_members_", "n_members"):
            value = getattr(self.estimator, attr, None)
            if isinstance(value, numbers.Integral):
                return int(value)
        raise ValueError(f"cannot tell how many members {self._name()} has")

    def members(self) -> list[Member]:
        return []

    def _probabilities(self, X, classes, own, batch_size):
        return stacked_probabilities(self.estimator, X, classes, own, batch_size)

    def _gaussians(self, X, y, batch_size):
        return stacked_gaussians(self.estimator, X, y, batch_size)


class StoredOutputsTeacher(MembersTeacher):
    """A :class:`~skdistill.TeacherOutputs`: outputs looked up by row."""

    family = "stored"

    @property
    def has_logits(self) -> bool:
        return self.estimator.logits is not None

    def member_log_probabilities(self, X, classes) -> np.ndarray:
        """Member log-probabilities ``(n_members, n_samples, n_classes)`` of stored
        logits (their ``log_softmax``), columns in the order of ``classes``."""
        logp = self.estimator.predict_members_log_proba(X)
        cols = _positions(classes, self.estimator.classes_, "the teacher")
        return logp[:, :, cols]


class _SklearnEnsemble(TeacherAdapter):
    """A scikit-learn ensemble that averages its fitted ``estimators_``."""

    #: The dtype its members were fitted on (None: as the input is).
    _dtype = None

    def _check_weights(self) -> None:
        """Refuse what is not a plain average (voting overrides)."""

    @property
    def n_members(self) -> int:
        if self.is_fitted():
            return len(self.estimator.estimators_)
        return int(self.estimator.n_estimators)

    def members(self) -> list[Member]:
        self._check_weights()
        teacher, parent = self.estimator, self._name()
        features = getattr(teacher, "estimators_features_", None)
        n_features = getattr(teacher, "n_features_in_", None)
        out = []
        for i, est in enumerate(teacher.estimators_):
            feats = None if features is None else np.asarray(features[i])
            if feats is not None and np.array_equal(feats, np.arange(n_features)):
                feats = None
            out.append(
                Member(est, feats, True, f"member {i} ({_name(est)}) of {parent}")
            )
        return out

    def prepare_X(self, X):
        # The members were fitted on the validated arrays the parent made.
        return validate_data(
            self.estimator,
            X,
            reset=False,
            accept_sparse="csr",
            dtype=self._dtype,
            ensure_all_finite=False,
        )


class ForestTeacher(_SklearnEnsemble):
    """A random forest or extra trees: each tree is a member (float32 input)."""

    family = "forest"
    _dtype = np.float32


class BaggingTeacher(_SklearnEnsemble):
    """Bagging: each fitted estimator is a member, seeing its feature subset."""

    family = "bagging"


class VotingTeacher(_SklearnEnsemble):
    """Soft voting with equal weights: each fitted estimator is a member."""

    family = "voting"

    @property
    def n_members(self) -> int:
        if self.is_fitted():
            return len(self.estimator.estimators_)
        return sum(1 for _, est in self.estimator.estimators if est != "drop")

    def prepare_X(self, X):
        return TeacherAdapter.prepare_X(self, X)

    def _check_weights(self) -> None:
        teacher, parent = self.estimator, self._name()
        if isinstance(teacher, VotingClassifier) and teacher.voting != "soft":
            raise TypeError(
                "a VotingClassifier with voting='hard' has no probabilities to "
                "distil; use voting='soft'"
            )
        weights = teacher.weights
        if weights is not None:
            kept = [w for (_, e), w in zip(teacher.estimators, weights) if e != "drop"]
            if np.ptp(np.asarray(kept, dtype=float)) > 0:
                raise ValueError(
                    f"{parent}(weights={list(weights)}) averages its estimators "
                    "with unequal weights, but distillation weights members "
                    "equally; use weights=None, or pass the estimators as a list "
                    "to distil them equally"
                )


class ListTeacher(TeacherAdapter):
    """A list or tuple of estimators, each one a member."""

    family = "list"

    def _name(self) -> str:
        return "list"

    @property
    def n_members(self) -> int:
        return len(self.estimator)

    def members(self) -> list[Member]:
        return [
            Member(m, None, False, f"teacher[{i}] ({_name(m)})")
            for i, m in enumerate(self.estimator)
        ]

    def _check_fitted(self) -> None:
        for est in self.estimator:
            check_is_fitted(est)

    def fit(self, X, y, sample_weight=None) -> TeacherAdapter:
        fitted = [teacher_is_fitted(m) for m in self.estimator]
        if all(fitted):
            return self
        if any(fitted):
            unfitted = [i for i, f in enumerate(fitted) if not f]
            raise ValueError(
                f"teacher members {unfitted} are not fitted but the others are; "
                "pass a list of fitted estimators, or of unfitted ones to fit "
                "each on the training data"
            )
        return self.bind([_clone_fit(m, X, y, sample_weight) for m in self.estimator])

    def _own_classes(self) -> np.ndarray:
        sets = [_own_classes(m, f"teacher[{i}]") for i, m in enumerate(self.estimator)]
        first = set(sets[0].tolist())
        for i, c in enumerate(sets[1:], start=1):
            if set(c.tolist()) != first:
                raise ValueError(
                    f"the members of a teacher list must know the same classes; "
                    f"teacher[0] knows {_fmt(first)}, teacher[{i}] knows "
                    f"{_fmt(set(c.tolist()))}"
                )
        return np.unique(sets[0])


class PipelineTeacher(TeacherAdapter):
    """A Pipeline ending in an ensemble: the final step's members, on ``X`` transformed.

    Attributes
    ----------
    final : TeacherAdapter
        The adapter of the last step.
    """

    family = "pipeline"

    def __init__(self, estimator, task):
        super().__init__(estimator, task)
        final = estimator[-1]
        self.final = _family(final)(final, teacher_task(final))

    @property
    def n_members(self) -> int:
        return self.final.n_members

    def members(self) -> list[Member]:
        return self.final.members()

    def member_outputs(self, X, *, classes=None, y=None, batch_size=4096):
        batch_size = _check_batch_size(batch_size)
        self._check_fitted()
        return self.final.member_outputs(
            self.estimator[:-1].transform(X),
            classes=classes,
            y=y,
            batch_size=batch_size,
        )


class VirtualTeacher(TeacherAdapter):
    """The teacher-free KD marker ``"virtual"``: no members, no outputs."""

    family = "virtual"

    def __init__(self, estimator=VIRTUAL, task="classification"):
        super().__init__(estimator, task)

    def __repr__(self) -> str:
        return "<VirtualTeacher>"

    @property
    def n_members(self) -> int:
        raise ValueError("the virtual teacher has no members")

    def members(self) -> list[Member]:
        raise ValueError("the virtual teacher has no members")

    def is_fitted(self) -> bool:
        return True

    def fit(self, X, y, sample_weight=None) -> TeacherAdapter:
        return self

    def classes(self) -> np.ndarray:
        raise ValueError("the virtual teacher has no classes of its own; use y's")

    def check_classes(self, classes) -> None:
        return None

    def member_outputs(self, X, *, classes=None, y=None, batch_size=4096):
        raise ValueError(
            "the virtual teacher has no member outputs; the distiller builds its "
            "targets from y"
        )


def _family(teacher, *, outer: bool = True) -> type[TeacherAdapter]:
    """The adapter class of an (already checked) teacher."""
    if is_virtual(teacher):
        return VirtualTeacher
    if isinstance(teacher, list | tuple):
        return ListTeacher
    if isinstance(teacher, TeacherOutputs):
        return StoredOutputsTeacher
    if callable(getattr(teacher, "predict_members", None)):
        return MembersTeacher
    if isinstance(teacher, _FORESTS):
        return ForestTeacher
    if isinstance(teacher, _BAGGING):
        return BaggingTeacher
    if isinstance(teacher, _VOTING):
        return VotingTeacher
    if (
        outer
        and isinstance(teacher, Pipeline)
        and len(teacher.steps) > 1
        and teacher.steps[-1][1] not in (None, "passthrough")
        and _family(teacher[-1], outer=False) is not EstimatorTeacher
    ):
        return PipelineTeacher
    return EstimatorTeacher


def as_teacher(teacher) -> TeacherAdapter:
    """Check a teacher and return the adapter of its family.

    A distiller calls it once per fit; the adapter then answers every
    question about the teacher (see
    :class:`~skdistill.teachers.TeacherAdapter`).

    Parameters
    ----------
    teacher : estimator, list of estimators, "virtual" or TeacherAdapter
        What a distiller accepts as ``teacher`` (see the module docstring),
        fitted or not. An adapter is returned as it is.

    Returns
    -------
    TeacherAdapter
        An instance of the family's class (``ForestTeacher``,
        ``ListTeacher``, ``MembersTeacher``, ...; its ``family`` names it).

    Raises
    ------
    TypeError
        If ``teacher`` is not something a distiller accepts (see
        :func:`~skdistill.teachers.check_teacher`).
    ValueError
        If ``teacher`` is an empty list.

    Examples
    --------
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skdistill.teachers import as_teacher
    >>> adapter = as_teacher(RandomForestClassifier(n_estimators=3))
    >>> adapter.family, adapter.task, adapter.n_members
    ('forest', 'classification', 3)
    """
    if isinstance(teacher, TeacherAdapter):
        return teacher
    check_teacher_type(teacher)
    return _family(teacher)(teacher, teacher_task(teacher))
