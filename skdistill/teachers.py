"""Turn any teacher into per-member outputs, computed once and in batches.

A distiller accepts many kinds of teacher; this module reduces each of them to
the same thing, the outputs of its *members* on the training data, members first:

- classification: probabilities ``(n_members, n_samples, n_classes)``, float64,
  columns aligned to a given ``classes`` array (the distiller's ``classes_``);
- regression: ``(means, variances)``, each ``(n_members, n_samples)``, float64,
  every variance > 0.

Teachers
--------
1. A skdistill ensemble, or anything with a ``predict_members(X)`` method (it is
   duck-typed): classifiers return ``(n_members, n_samples, n_classes)``
   probabilities whose columns follow their ``classes_``, regressors return
   ``(means, variances)``.
2. A scikit-learn ensemble whose prediction is the plain mean of its fitted
   ``estimators_``: :class:`~sklearn.ensemble.RandomForestClassifier`,
   :class:`~sklearn.ensemble.ExtraTreesClassifier`, their regressors,
   :class:`~sklearn.ensemble.BaggingClassifier`,
   :class:`~sklearn.ensemble.BaggingRegressor`, a soft
   :class:`~sklearn.ensemble.VotingClassifier` and a
   :class:`~sklearn.ensemble.VotingRegressor` (and their subclasses). Each fitted
   estimator is one member. Their members were fitted on *encoded* labels, so a
   member's column ``j`` belongs to the parent's class ``classes_[member.classes_[j]]``;
   a bagging member that saw only some classes gets probability 0 for the others,
   as in ``BaggingClassifier.predict_proba``. Bagging members see only their
   ``estimators_features_``. Bagging members without ``predict_proba`` vote: their
   member output is the one-hot vector of their prediction (as bagging does).
   Other estimators holding ``estimators_`` -- gradient boosting (an array of
   regression trees on a shared loss), AdaBoost (a weighted vote), stacking (a
   learned combination) -- are *not* an average of members: they are treated as
   one probabilistic model, like any other estimator.
3. A list (or tuple) of fitted estimators, each one a member. All must be
   classifiers with ``predict_proba`` or all regressors. A list of *unfitted*
   estimators is accepted by :func:`fit_teacher`, which clones and fits each.
4. Any single estimator: one member (a classifier needs ``predict_proba``).
5. The string ``"virtual"`` (teacher-free KD): only checked here; the distiller
   builds its targets from ``y`` (see :func:`is_virtual`).
6. :class:`~skdistill.TeacherOutputs`: an ensemble that lives elsewhere, given by its
   members' stored outputs (probabilities or logits; means and variances) on
   known rows, which it looks up by their content. Rows it does not hold
   raise :class:`~skdistill.UnknownRowsError`.

Weighted voting
---------------
The distiller weights members equally, so a Voting teacher whose ``weights`` are
not all equal raises ``ValueError`` instead of being silently distilled into a
different average. Equal weights (or ``None``) are fine. To distil the members
equally on purpose, pass the (unfitted) estimators as a list instead; a Voting
teacher's fitted ``estimators_`` know only its encoded labels 0..K-1.

Classes
-------
A classification teacher must know *exactly* the classes of ``y``: a class of
``y`` unknown to the teacher, and a teacher class absent from ``y`` (a superset),
both raise ``ValueError`` (:func:`check_teacher_classes`). The student's columns
are ``y``'s classes, and dropping teacher columns would change the teacher's
distribution. Fitting the teacher inside ``fit`` (pass it unfitted) avoids both.

Regression variances
--------------------
Members that predict a variance keep it. The others predict a point; their
variance is an *aleatoric* (noise) estimate, chosen per kind of member:

- **decision trees** (the members of a RandomForest/ExtraTrees regressor,
  bagged trees, a single tree): the spread of the training targets in the leaf
  the sample falls into, i.e. their mean squared deviation from the leaf's
  prediction. For the ``"squared_error"`` and ``"friedman_mse"`` criteria this
  is the leaf's stored impurity ``tree_.impurity[tree.apply(X)]`` -- the weighted
  variance of the tree's own training targets (bootstrap copies counted), so no
  ``y`` is needed. For other criteria (``"absolute_error"``, ``"poisson"``) it is
  computed from the ``y`` passed in (all training rows, in-bag or not). It is
  floored at ``MIN_VARIANCE_FRACTION`` (1e-3) times the tree's target variance
  (its root impurity; ``Var(y)`` for the other criteria). Limit: fully grown
  trees (``min_samples_leaf=1``) have mostly pure leaves, whose variance is the
  floor, so the aleatoric part is underestimated -- a warning says so when most
  outputs are floored; grow the teacher with ``min_samples_leaf`` >= 5 or so.
- **models whose** ``predict`` **takes** ``return_std`` (BayesianRidge,
  ARDRegression, GaussianProcessRegressor, skdistill regressors): ``std**2``.
  For BayesianRidge this is the predictive variance (noise plus parameter
  uncertainty); for a GaussianProcessRegressor it holds the noise only through a
  ``WhiteKernel``.
- **any other point regressor**: a homoscedastic variance, the member's mean
  squared residual on the training data ``(X, y)`` passed to
  :func:`member_outputs` (``y`` is then required). It is the maximum-likelihood
  noise variance of a Gaussian around the member's predictions; on training data
  it is optimistic for flexible members (an overfitted member has tiny
  residuals), and it cannot vary with ``x``.

Every variance that is not a tree's is floored at ``MIN_VARIANCE_FRACTION``
times ``Var(y)`` when ``y`` is given; all are at least 1e-12.

Caching
-------
:func:`fit_teacher` and :func:`member_outputs` are module-level functions of
their arguments only (no global state), so ``joblib.Memory(...).cache`` can wrap
them and hash their inputs.
"""

from __future__ import annotations

import inspect
import numbers
import warnings
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
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
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils import get_tags
from sklearn.utils.validation import (
    check_is_fitted,
    column_or_1d,
    has_fit_parameter,
    validate_data,
)

from ._stored_outputs import (  # noqa: F401  (re-exported: skdistill.teachers.*)
    TeacherOutputs,
    UnknownRowsError,
    _as_float_array,
    _row_keys,
)

__all__ = [
    "MIN_VARIANCE_FRACTION",
    "VIRTUAL",
    "TeacherOutputs",
    "UnknownRowsError",
    "check_teacher",
    "check_teacher_classes",
    "fit_teacher",
    "has_logits",
    "is_virtual",
    "member_outputs",
    "n_members",
    "teacher_classes",
    "teacher_is_fitted",
    "teacher_task",
]

VIRTUAL = "virtual"
MIN_VARIANCE_FRACTION = 1e-3
_MIN_VARIANCE = 1e-12
_MSE_CRITERIA = ("squared_error", "friedman_mse")
_FORESTS = (
    RandomForestClassifier,
    RandomForestRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
)
_BAGGING = (BaggingClassifier, BaggingRegressor)
_VOTING = (VotingClassifier, VotingRegressor)


# --------------------------------------------------------------------- checks
def is_virtual(teacher) -> bool:
    """Whether ``teacher`` is the teacher-free KD marker ``"virtual"``."""
    return isinstance(teacher, str) and teacher == VIRTUAL


def _name(obj) -> str:
    return type(obj).__name__


def _check_estimator(obj, where: str) -> None:
    if isinstance(obj, type):
        raise TypeError(
            f"{where} is the class {obj.__name__}, not an estimator; "
            f"pass an instance, e.g. {obj.__name__}()"
        )
    if isinstance(obj, str | bytes) or not callable(getattr(obj, "fit", None)):
        raise TypeError(
            f"{where} must be an estimator (an object with fit and predict or "
            f"predict_proba); got {_name(obj)}: {obj!r:.80}"
        )
    if not any(
        callable(getattr(obj, m, None))
        for m in ("predict", "predict_proba", "predict_members")
    ):
        raise TypeError(f"{where} ({_name(obj)}) has no predict method")


def _check_probabilistic(est, where: str) -> None:
    if callable(getattr(est, "predict_members", None)) or callable(
        getattr(est, "predict_proba", None)
    ):
        return
    hint = (
        "; a VotingClassifier needs voting='soft'"
        if isinstance(est, VotingClassifier)
        else ""
    )
    raise TypeError(
        f"{where} ({_name(est)}) is a classifier without predict_proba, so it has "
        f"no probabilities to distil{hint}"
    )


def check_teacher(teacher) -> None:
    """Raise ``TypeError`` unless ``teacher`` is something a distiller accepts.

    Accepted: an estimator, a list or tuple of estimators (all classifiers with
    ``predict_proba`` or all regressors), or the string ``"virtual"``. A
    classification teacher must have ``predict_proba`` (or ``predict_members``).
    An empty list raises ``ValueError``.
    """
    if is_virtual(teacher):
        return
    if isinstance(teacher, str):
        raise TypeError(
            f"teacher={teacher!r} is not understood; the only string accepted is "
            f"{VIRTUAL!r} (teacher-free KD)"
        )
    if isinstance(teacher, list | tuple):
        if len(teacher) == 0:
            raise ValueError("teacher is an empty list; give at least one estimator")
        for i, member in enumerate(teacher):
            _check_estimator(member, f"teacher[{i}]")
        if teacher_task(teacher) == "classification":
            for i, member in enumerate(teacher):
                _check_probabilistic(member, f"teacher[{i}]")
        return
    _check_estimator(teacher, "teacher")
    if teacher_task(teacher) == "classification":
        _check_probabilistic(teacher, "teacher")


def teacher_task(teacher) -> Literal["classification", "regression"]:
    """``"classification"`` or ``"regression"``, from the estimator tags.

    A list must hold only classifiers or only regressors (``TypeError`` if they
    are mixed or undecidable). The virtual teacher is a classification teacher.
    """
    if is_virtual(teacher):
        return "classification"
    if isinstance(teacher, list | tuple):
        tasks = [_single_task(m, f"teacher[{i}]") for i, m in enumerate(teacher)]
        if len(set(tasks)) > 1:
            kinds = ", ".join(
                f"teacher[{i}] ({_name(m)}): {t}"
                for i, (m, t) in enumerate(zip(teacher, tasks))
            )
            raise TypeError(
                f"a teacher list must hold only classifiers or only regressors; "
                f"got {kinds}"
            )
        if not tasks:
            raise ValueError("teacher is an empty list; give at least one estimator")
        return tasks[0]
    return _single_task(teacher, "teacher")


def _single_task(est, where: str) -> Literal["classification", "regression"]:
    try:
        kind = get_tags(est).estimator_type
    except (AttributeError, TypeError):  # no sklearn tags: the old attribute
        kind = getattr(est, "_estimator_type", None)
    if kind in ("classifier", "regressor"):
        return "classification" if kind == "classifier" else "regression"
    raise TypeError(
        f"cannot tell whether {where} ({_name(est)}) is a classifier or a "
        f"regressor (its estimator type is {kind!r}); use an estimator with "
        "scikit-learn's classifier or regressor tags"
    )


def teacher_is_fitted(teacher) -> bool:
    """Whether the teacher (every member of a list) is fitted, as sklearn sees it."""
    if is_virtual(teacher):
        return True
    if isinstance(teacher, list | tuple):
        return all(teacher_is_fitted(m) for m in teacher)
    try:
        check_is_fitted(teacher)
    except NotFittedError:
        return False
    return True


def fit_teacher(teacher, X, y, sample_weight=None):
    """The teacher, fitted: a fitted teacher as it is, else ``clone(teacher).fit(X, y)``.

    A list must be all fitted (returned as it is) or all unfitted (each member is
    cloned and fitted on ``(X, y)``; a new list is returned); a mixture raises
    ``ValueError``. The teacher passed in is never modified. ``sample_weight``
    goes to every ``fit`` that takes it; a teacher whose ``fit`` does not is
    fitted without it, with a warning.
    """
    check_teacher(teacher)
    if is_virtual(teacher):
        return teacher
    if isinstance(teacher, list | tuple):
        fitted = [teacher_is_fitted(m) for m in teacher]
        if all(fitted):
            return teacher
        if any(fitted):
            unfitted = [i for i, f in enumerate(fitted) if not f]
            raise ValueError(
                f"teacher members {unfitted} are not fitted but the others are; "
                "pass a list of fitted estimators, or of unfitted ones to fit "
                "each on the training data"
            )
        return [_clone_fit(m, X, y, sample_weight) for m in teacher]
    if teacher_is_fitted(teacher):
        return teacher
    return _clone_fit(teacher, X, y, sample_weight)


def _clone_fit(est, X, y, sample_weight=None):
    est = clone(est)
    if sample_weight is None:
        est.fit(X, y)
        return est
    if has_fit_parameter(est, "sample_weight"):
        est.fit(X, y, sample_weight=sample_weight)
        return est
    warnings.warn(
        f"the teacher {_name(est)} does not take sample_weight in fit: it is "
        "fitted unweighted (the student's loss is still weighted). For a "
        "Pipeline, enable scikit-learn's metadata routing or fit the teacher "
        "yourself and pass it fitted",
        UserWarning,
        stacklevel=4,
    )
    est.fit(X, y)
    return est


# -------------------------------------------------------------------- classes
def _fmt(values) -> str:
    try:
        return str(sorted(values))
    except TypeError:
        return str(sorted(values, key=repr))


def _own_classes(est, where: str) -> np.ndarray:
    check_is_fitted(est)
    classes = getattr(est, "classes_", None)
    if classes is None:
        raise AttributeError(f"{where} ({_name(est)}) has no classes_ attribute")
    if isinstance(classes, list) or np.ndim(classes) != 1:
        raise ValueError(
            f"{where} ({_name(est)}) is a multi-output classifier; only "
            "single-output teachers are supported"
        )
    return np.asarray(classes)


def teacher_classes(teacher) -> np.ndarray:
    """The classes the teacher was fitted on (``classes_``).

    For a list, all members must know the same classes (``ValueError`` if not);
    they are returned sorted.
    """
    if is_virtual(teacher):
        raise ValueError("the virtual teacher has no classes of its own; use y's")
    if teacher_task(teacher) != "classification":
        raise TypeError(f"a regression teacher ({_name(teacher)}) has no classes")
    if isinstance(teacher, list | tuple):
        sets = [_own_classes(m, f"teacher[{i}]") for i, m in enumerate(teacher)]
        first = set(sets[0].tolist())
        for i, c in enumerate(sets[1:], start=1):
            if set(c.tolist()) != first:
                raise ValueError(
                    f"the members of a teacher list must know the same classes; "
                    f"teacher[0] knows {_fmt(first)}, teacher[{i}] knows "
                    f"{_fmt(set(c.tolist()))}"
                )
        return np.unique(sets[0])
    return _own_classes(teacher, "teacher")


def check_teacher_classes(teacher, classes) -> None:
    """Raise ``ValueError`` unless the teacher knows exactly ``classes`` (y's).

    Order does not matter: outputs are aligned by value. A teacher knowing more
    classes than ``y`` (a superset) is an error, like one missing a class of ``y``.
    """
    if is_virtual(teacher):
        return
    own = set(teacher_classes(teacher).tolist())
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
        f"{_fmt(wanted)}: " + "; ".join(problems) + ". Fit the teacher on the same "
        "labels, or pass it unfitted so that it is fitted on the training data."
    )


def _positions(source, target, where: str) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(np.asarray(target).tolist())}
    try:
        return np.array([lookup[c] for c in np.asarray(source).tolist()], dtype=np.intp)
    except KeyError as exc:
        raise ValueError(
            f"{where} predicts class {exc.args[0]!r}, which is not among {_fmt(lookup)}"
        ) from None


# -------------------------------------------------------------------- members
def _kind(teacher) -> str:
    if isinstance(teacher, list | tuple):
        return "list"
    if callable(getattr(teacher, "predict_members", None)):
        return "stacked"
    if isinstance(teacher, _FORESTS):
        return "forest"
    if isinstance(teacher, _BAGGING):
        return "bagging"
    if isinstance(teacher, _VOTING):
        return "voting"
    return "single"


def _final_has_members(teacher) -> bool:
    """Whether ``teacher`` is a Pipeline whose last step is an ensemble."""
    return (
        isinstance(teacher, Pipeline)
        and len(teacher.steps) > 1
        and teacher.steps[-1][1] not in (None, "passthrough")
        and _kind(teacher[-1]) != "single"
    )


def n_members(teacher) -> int:
    """How many members the teacher has (fitted or not, where that can be told)."""
    if is_virtual(teacher):
        raise ValueError("the virtual teacher has no members")
    if _final_has_members(teacher):
        return n_members(teacher[-1])
    kind = _kind(teacher)
    if kind == "list":
        return len(teacher)
    if kind == "single":
        return 1
    if kind == "stacked":
        for attr in ("n_members_", "n_members"):
            value = getattr(teacher, attr, None)
            if isinstance(value, numbers.Integral):
                return int(value)
        raise ValueError(f"cannot tell how many members {_name(teacher)} has")
    if teacher_is_fitted(teacher):
        return len(teacher.estimators_)
    if kind == "voting":
        return sum(1 for _, est in teacher.estimators if est != "drop")
    return int(teacher.n_estimators)


def _members(teacher) -> list[tuple[Any, np.ndarray | None, bool, str]]:
    """``(estimator, feature subset, labels encoded by the parent, label)`` each."""
    kind = _kind(teacher)
    if kind == "list":
        return [
            (m, None, False, f"teacher[{i}] ({_name(m)})")
            for i, m in enumerate(teacher)
        ]
    if kind == "single":
        return [(teacher, None, False, f"the teacher ({_name(teacher)})")]
    parent = _name(teacher)
    if kind == "voting":
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
    features = getattr(teacher, "estimators_features_", None)
    n_features = getattr(teacher, "n_features_in_", None)
    out = []
    for i, est in enumerate(teacher.estimators_):
        feats = None if features is None else np.asarray(features[i])
        if feats is not None and np.array_equal(feats, np.arange(n_features)):
            feats = None
        out.append((est, feats, True, f"member {i} ({_name(est)}) of {parent}"))
    return out


# ----------------------------------------------------------------------- data
def _prepare_X(teacher, X):
    kind = _kind(teacher)
    if kind in ("forest", "bagging"):  # members were fitted on validated arrays
        dtype = np.float32 if kind == "forest" else None
        return validate_data(
            teacher,
            X,
            reset=False,
            accept_sparse="csr",
            dtype=dtype,
            ensure_all_finite=False,
        )
    if sp.issparse(X):
        return X.tocsr()
    return X if hasattr(X, "shape") or hasattr(X, "iloc") else np.asarray(X)


def _n_rows(X) -> int:
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield start, min(start + batch_size, n)


def _rows(X, start: int, stop: int, features=None):
    Xb = X.iloc[start:stop] if hasattr(X, "iloc") else X[start:stop]
    if features is not None:
        Xb = Xb.iloc[:, features] if hasattr(Xb, "iloc") else Xb[:, features]
    return Xb


def _check_batch_size(batch_size) -> int:
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, numbers.Integral)
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be an integer >= 1; got {batch_size!r}")
    return int(batch_size)


# --------------------------------------------------------------------- public
def member_outputs(
    teacher, X, *, classes=None, y=None, batch_size: int = 4096
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The outputs of every member of a fitted teacher on ``X``, members first.

    Parameters
    ----------
    teacher : estimator or list of estimators
        A fitted teacher (see the module docstring for the kinds accepted).
    X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
    classes : array-like of shape (n_classes,), default=None
        Classification: the column order of the output (the distiller's
        ``classes_``); the teacher must know exactly these classes. ``None``
        uses the teacher's own.
    y : array-like of shape (n_samples,), default=None
        Regression only: the targets of ``X``, needed for the variance of point
        regressors that are not trees (their residual variance) and of trees
        grown with a criterion other than squared error.
    batch_size : int, default=4096
        Rows given to a member at once.

    Returns
    -------
    probabilities : ndarray of shape (n_members, n_samples, n_classes)
        Classification: every row finite, non-negative, summing to 1.
    (means, variances) : tuple of ndarrays of shape (n_members, n_samples)
        Regression: every variance finite and > 0.
    """
    check_teacher(teacher)
    if is_virtual(teacher):
        raise ValueError(
            "the virtual teacher has no member outputs; the distiller builds its "
            "targets from y"
        )
    batch_size = _check_batch_size(batch_size)
    for est in teacher if isinstance(teacher, list | tuple) else [teacher]:
        check_is_fitted(est)
    if _final_has_members(teacher):
        # A Pipeline ending in an ensemble: its members are the final step's,
        # each seeing the transformed input.
        return member_outputs(
            teacher[-1],
            teacher[:-1].transform(X),
            classes=classes,
            y=y,
            batch_size=batch_size,
        )
    X = _prepare_X(teacher, X)
    if _n_rows(X) == 0:
        raise ValueError("X has no rows")
    if teacher_task(teacher) == "classification":
        own = teacher_classes(teacher)
        if classes is None:
            classes = own
        else:
            check_teacher_classes(teacher, classes)
        return _classification(teacher, X, np.asarray(classes), own, batch_size)
    if y is not None:
        y = column_or_1d(y, dtype=np.float64)
        if len(y) != _n_rows(X):
            raise ValueError(f"y has {len(y)} rows but X has {_n_rows(X)}")
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinity")
    return _regression(teacher, X, y, batch_size)


# ------------------------------------------------------------- classification
def _check_proba(p: np.ndarray, where: str) -> None:
    """Validate a member's ``(n_samples, n_classes)`` block and renormalise it."""
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{where} returned NaN or infinite probabilities")
    if np.any(p < -1e-9):
        raise ValueError(f"{where} returned negative probabilities")
    np.clip(p, 0.0, None, out=p)
    sums = p.sum(axis=1, keepdims=True)
    if np.any(np.abs(sums - 1.0) > 1e-3):
        raise ValueError(
            f"{where} returned probabilities whose rows do not sum to 1 "
            f"(sums from {sums.min():.4g} to {sums.max():.4g})"
        )
    p /= sums


def _classification(teacher, X, classes, own, batch_size):
    n = _n_rows(X)
    if _kind(teacher) == "stacked":
        return _stacked_classification(teacher, X, classes, own, batch_size)
    own_to_target = _positions(own, classes, "the teacher")
    members = _members(teacher)
    out = np.zeros((len(members), n, len(classes)))
    for m, (est, feats, encoded, where) in enumerate(members):
        member_classes = _own_classes(est, where)
        if encoded:
            codes = member_classes.astype(np.intp)
            if not np.array_equal(codes, member_classes) or (
                codes.size and (codes.min() < 0 or codes.max() >= len(own))
            ):
                raise ValueError(
                    f"{where} has classes {member_classes.tolist()}, which are not "
                    f"indices into its parent's {len(own)} classes"
                )
            cols = own_to_target[codes]
        else:
            cols = _positions(member_classes, classes, where)
        has_proba = callable(getattr(est, "predict_proba", None))
        for start, stop in _batches(n, batch_size):
            Xb = _rows(X, start, stop, feats)
            block = out[m, start:stop]
            if has_proba:
                block[:, cols] = np.asarray(est.predict_proba(Xb), dtype=np.float64)
            else:  # a bagging member without probabilities votes
                pred = np.asarray(est.predict(Xb))
                block[
                    np.arange(stop - start),
                    cols[_positions(pred, member_classes, where)],
                ] = 1.0
        _check_proba(out[m], where)
    return out


def _stacked_classification(teacher, X, classes, own, batch_size):
    cols = _positions(own, classes, "the teacher")
    n, out = _n_rows(X), None
    for start, stop in _batches(n, batch_size):
        P = np.asarray(teacher.predict_members(_rows(X, start, stop)), dtype=np.float64)
        if P.ndim != 3 or P.shape[1] != stop - start or P.shape[2] != len(own):
            raise ValueError(
                f"{_name(teacher)}.predict_members returned shape {P.shape}; "
                f"expected (n_members, {stop - start}, {len(own)})"
            )
        if out is None:
            out = np.zeros((P.shape[0], n, len(classes)))
        out[:, start:stop][:, :, cols] = P
    for m in range(out.shape[0]):
        _check_proba(out[m], f"member {m} of {_name(teacher)}")
    return out


# ----------------------------------------------------------------- regression
def _as_1d(pred, where: str) -> np.ndarray:
    pred = np.asarray(pred, dtype=np.float64)
    if pred.ndim == 2 and pred.shape[1] == 1:
        pred = pred[:, 0]
    if pred.ndim != 1:
        raise ValueError(
            f"{where} returned predictions of shape {pred.shape}; only "
            "single-output regression teachers are supported"
        )
    return pred


def _variance_kind(est) -> str:
    if isinstance(est, DecisionTreeRegressor):
        if est.n_outputs_ != 1:
            raise ValueError(f"multi-output trees are not supported ({_name(est)})")
        return "tree" if est.criterion in _MSE_CRITERIA else "tree_y"
    try:
        params = inspect.signature(est.predict).parameters
    except (TypeError, ValueError):
        params = {}
    return "std" if "return_std" in params else "residual"


def _regression(teacher, X, y, batch_size):
    n = _n_rows(X)
    if _kind(teacher) == "stacked":
        means, variances = _stacked_regression(teacher, X, batch_size)
        floor = _floor(y)
        for m in range(means.shape[0]):
            _check_regression(means[m], variances[m], f"member {m} of {_name(teacher)}")
        return means, np.maximum(variances, floor)
    members = _members(teacher)
    means = np.empty((len(members), n))
    variances = np.empty((len(members), n))
    floored = counted = 0
    for m, (est, feats, _, where) in enumerate(members):
        kind = _variance_kind(est)
        if kind in ("residual", "tree_y") and y is None:
            raise ValueError(
                f"{where} predicts no variance; it is estimated from the member's "
                "errors on the training data, so pass y (the targets of X)"
            )
        leaves = np.empty(n, dtype=np.intp) if kind == "tree_y" else None
        for start, stop in _batches(n, batch_size):
            Xb = _rows(X, start, stop, feats)
            if kind in ("tree", "tree_y"):
                leaf = est.apply(Xb)
                means[m, start:stop] = est.tree_.value[leaf, 0, 0]
                if kind == "tree":  # E[y^2] - E[y]^2 may round below 0
                    variances[m, start:stop] = np.maximum(est.tree_.impurity[leaf], 0)
                else:
                    leaves[start:stop] = leaf
            elif kind == "std":
                mean, std = est.predict(Xb, return_std=True)
                means[m, start:stop] = _as_1d(mean, where)
                variances[m, start:stop] = _as_1d(std, where) ** 2
            else:
                means[m, start:stop] = _as_1d(est.predict(Xb), where)
        if kind == "tree":
            floor = max(
                MIN_VARIANCE_FRACTION * float(est.tree_.impurity[0]), _MIN_VARIANCE
            )
        else:
            floor = _floor(y)
        if kind == "tree_y":
            variances[m] = _leaf_spread(leaves, y, means[m], est.tree_.node_count)
        elif kind == "residual":
            variances[m] = np.mean((y - means[m]) ** 2)
        _check_regression(means[m], variances[m], where)
        if kind in ("tree", "tree_y"):
            floored += int(np.count_nonzero(variances[m] <= floor))
            counted += n
        np.maximum(variances[m], floor, out=variances[m])
    if counted and floored > counted / 2:
        warnings.warn(
            f"{floored / counted:.0%} of the tree members' leaf variances are at "
            f"the floor ({MIN_VARIANCE_FRACTION:g} x the target variance): the "
            "trees are grown to (nearly) pure leaves, so the teacher's aleatoric "
            "uncertainty is underestimated; grow it with a larger min_samples_leaf",
            UserWarning,
            stacklevel=3,
        )
    return means, variances


def _floor(y) -> float:
    scale = np.var(y) if y is not None and len(y) > 1 else 0.0
    return max(MIN_VARIANCE_FRACTION * float(scale), _MIN_VARIANCE)


def _leaf_spread(leaves, y, prediction, n_nodes) -> np.ndarray:
    """Mean squared deviation of ``y`` from the prediction, within each leaf."""
    counts = np.bincount(leaves, minlength=n_nodes)
    sq = np.bincount(leaves, weights=(y - prediction) ** 2, minlength=n_nodes)
    return (sq / np.maximum(counts, 1))[leaves]


def _check_regression(mean, variance, where: str) -> None:
    if not np.all(np.isfinite(mean)):
        raise ValueError(f"{where} returned NaN or infinite predictions")
    if not np.all(np.isfinite(variance)) or np.any(variance < 0):
        raise ValueError(f"{where} returned NaN, infinite or negative variances")


def _stacked_regression(teacher, X, batch_size):
    n, means, variances = _n_rows(X), None, None
    for start, stop in _batches(n, batch_size):
        out = teacher.predict_members(_rows(X, start, stop))
        if not isinstance(out, tuple) or len(out) != 2:
            raise ValueError(
                f"{_name(teacher)}.predict_members must return (means, variances) "
                "for a regressor"
            )
        mu, var = (np.asarray(a, dtype=np.float64) for a in out)
        if mu.ndim != 2 or mu.shape[1] != stop - start or var.shape != mu.shape:
            raise ValueError(
                f"{_name(teacher)}.predict_members returned shapes {mu.shape} and "
                f"{var.shape}; expected (n_members, {stop - start}) each"
            )
        if means is None:
            means = np.empty((mu.shape[0], n))
            variances = np.empty((mu.shape[0], n))
        means[:, start:stop] = mu
        variances[:, start:stop] = var
    return means, variances


def has_logits(teacher) -> bool:
    """Whether ``teacher`` is a :class:`~skdistill.TeacherOutputs` holding logits."""
    return isinstance(teacher, TeacherOutputs) and teacher.logits is not None
