"""What every teacher adapter shares: constants, checks, classes, batching.

Nothing here depends on the family of a teacher (see :mod:`._adapters`): the
task of an estimator comes from its scikit-learn tags, whether it is fitted
from ``check_is_fitted``, and the helpers slice rows and place columns.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Literal

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import VotingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted, has_fit_parameter

VIRTUAL = "virtual"
MIN_VARIANCE_FRACTION = 1e-3


def is_virtual(teacher) -> bool:
    """Whether ``teacher`` is the teacher-free KD marker ``"virtual"``."""
    return isinstance(teacher, str) and teacher == VIRTUAL


def _name(obj) -> str:
    return type(obj).__name__


def _fmt(values) -> str:
    try:
        return str(sorted(values))
    except TypeError:
        return str(sorted(values, key=repr))


# --------------------------------------------------------------------- checks
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


def check_teacher_type(teacher) -> None:
    """Raise ``TypeError`` unless ``teacher`` is something a distiller accepts."""
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


def _clone_fit(est, X, y, sample_weight=None):
    est = clone(est)
    if sample_weight is None:
        est.fit(X, y)
        return est
    if has_fit_parameter(est, "sample_weight"):
        est.fit(X, y, sample_weight=sample_weight)
        return est
    from sklearn import get_config
    from sklearn.pipeline import Pipeline

    if get_config().get("enable_metadata_routing") and hasattr(
        est, "get_metadata_routing"
    ):
        # Routing on: scikit-learn sends the weights where the steps asked
        # for them (set_fit_request), or says which step did not ask.
        est.fit(X, y, sample_weight=sample_weight)
        return est
    if isinstance(est, Pipeline):
        name, last = est.steps[-1]
        if hasattr(last, "fit") and has_fit_parameter(last, "sample_weight"):
            # scikit-learn's classic spelling: the weights go to the last step.
            est.fit(X, y, **{f"{name}__sample_weight": sample_weight})
            return est
    warnings.warn(
        f"the teacher {_name(est)} does not take sample_weight in fit: it is "
        "fitted unweighted (the student's loss is still weighted). For a "
        "Pipeline whose steps need the weights, enable scikit-learn's "
        "metadata routing, or fit the teacher yourself and pass it fitted",
        UserWarning,
        stacklevel=4,
    )
    est.fit(X, y)
    return est


# -------------------------------------------------------------------- classes
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


def _positions(source, target, where: str) -> np.ndarray:
    """The index in ``target`` of every value of ``source`` (``ValueError`` if absent)."""
    lookup = {c: i for i, c in enumerate(np.asarray(target).tolist())}
    try:
        return np.array([lookup[c] for c in np.asarray(source).tolist()], dtype=np.intp)
    except KeyError as exc:
        raise ValueError(
            f"{where} predicts class {exc.args[0]!r}, which is not among {_fmt(lookup)}"
        ) from None


# ----------------------------------------------------------------------- rows
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
