"""Stored teacher outputs: distil from an ensemble that lives elsewhere.

A :class:`~skdistill.TeacherOutputs` holds the members' outputs (probabilities or
logits, or regression means and variances) for the rows they were computed
on, and answers for exactly those rows, found by their values.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted


class UnknownRowsError(ValueError):
    """Rows of ``X`` that a :class:`~skdistill.TeacherOutputs` holds no outputs for.

    A distiller's perturbed extra inputs are such rows: it catches this error,
    warns once and trains without extra inputs.
    """


def _row_keys(X, where: str) -> np.ndarray:
    """One hashable key per row of ``X``, equal for equal rows.

    Numeric input (arrays, numeric DataFrames): the bytes of the row as
    float64, with ``-0.0`` read as ``0.0`` (float32 input is widened exactly,
    so a validated copy of the same rows gives the same keys). A DataFrame
    with non-numeric columns: pandas' per-row hash of its values.
    """
    if sp.issparse(X):
        X = X.toarray()
    if hasattr(X, "columns"):
        import pandas as pd

        numeric = all(
            pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t)
            for t in X.dtypes
        )
        if not numeric:
            return pd.util.hash_pandas_object(X, index=False).to_numpy()
    try:
        A = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} cannot be read as numbers ({exc})") from None
    if A.ndim != 2:
        raise ValueError(f"{where} must be 2-D (n_samples, n_features); got {A.shape}")
    A = np.ascontiguousarray(A + 0.0)  # -0.0 + 0.0 == +0.0
    return A.view(np.dtype((np.void, A.dtype.itemsize * A.shape[1]))).ravel()


def _as_float_array(value, name: str, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of numbers ({exc})") from None
    if arr.ndim != ndim:
        shape = (
            "(n_members, n_samples, n_classes)"
            if ndim == 3
            else "(n_members, n_samples)"
        )
        raise ValueError(f"{name} must have shape {shape}; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


class TeacherOutputs(BaseEstimator):
    """A teacher that lives elsewhere, given by its members' stored outputs.

    Pass the outputs of an ensemble's members on the rows ``X`` (members
    first) and use it as any fitted teacher: ``HydraDistiller(teacher=
    TeacherOutputs(X, probabilities=P)).fit(X, y)``. Exactly one kind of
    output is given:

    * ``probabilities`` ``(n_members, n_samples, n_classes)``: every entry
      finite and ``>= 0``, every row summing to 1; as any probability teacher,
      the distiller floors them at ``1e-8`` before taking logs;
    * ``logits`` ``(n_members, n_samples, n_classes)``: the members'
      probabilities are their softmax, and the distiller trains on their
      ``log_softmax``, *not* floored (a member's confidence beyond ``1 -
      1e-8`` is kept);
    * ``means`` and ``variances`` ``(n_members, n_samples)`` each (regression):
      every variance ``> 0``.

    **Rows.** The outputs belong to the rows of ``X``, in order. A distiller
    hands the teacher the rows it is fitted on, and this teacher finds each
    by its content (a hash of the row's values): any subset of ``X``'s rows,
    in any order, gets its stored outputs. That is what cross-validation
    needs: store the outputs for the full ``X`` given to ``GridSearchCV`` or
    ``cross_val_score``, and every split's training rows are a subset of it
    (cross-validation does not copy or alter rows; a DataFrame's index is
    ignored, its values matched). Rows are matched *exactly*: scale ``X``
    after building the teacher and no row is found. Equal rows must have
    equal outputs (out-of-fold outputs of duplicated rows are ambiguous: add
    an id column to make them distinct). A row not in ``X`` raises
    :class:`UnknownRowsError`; a distiller's perturbed extra inputs are such
    rows (as are the perturbed copies of validation rows it scores early
    stopping on), so it warns once and trains without them.
    ``X_unlabelled`` rows must be among ``X``'s too.

    ``fit`` only checks the stored outputs and indexes ``X`` (the rows it is
    given must be known); a distiller calls it on a clone, so the instance
    passed in stays unfitted, like any teacher to be fitted in ``fit``.

    Parameters
    ----------
    X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
        The rows the outputs were computed on, as the distiller's teacher will
        see them (a DataFrame as it is, an array as numbers).
    probabilities : array-like of shape (n_members, n_samples, n_classes), default=None
    logits : array-like of shape (n_members, n_samples, n_classes), default=None
    means, variances : array-like of shape (n_members, n_samples), default=None
    classes : array-like of shape (n_classes,), default=None
        The labels of the output columns (classification);
        ``None``: ``0, ..., n_classes - 1``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Classification only.
    n_members_ : int
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill import TeacherOutputs
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    >>> P = np.array([[[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]],
    ...               [[0.7, 0.3], [0.4, 0.6], [0.5, 0.5]]])
    >>> teacher = TeacherOutputs(X, probabilities=P, classes=["a", "b"]).fit(X)
    >>> teacher.predict_proba(X[[1, 0]])
    array([[0.3, 0.7],
           [0.8, 0.2]])
    """

    def __init__(
        self,
        X=None,
        *,
        probabilities=None,
        logits=None,
        means=None,
        variances=None,
        classes=None,
    ):
        self.X = X
        self.probabilities = probabilities
        self.logits = logits
        self.means = means
        self.variances = variances
        self.classes = classes

    # ---------------------------------------------------------------- kind
    def _task(self) -> str:
        if self.probabilities is not None or self.logits is not None:
            return "classification"
        return "regression"

    def __sklearn_tags__(self):
        from sklearn.utils._tags import ClassifierTags, RegressorTags

        tags = super().__sklearn_tags__()
        if self._task() == "classification":
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        else:
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        return tags

    @property
    def n_members(self) -> int:
        """How many members the stored outputs have."""
        for value in (self.probabilities, self.logits, self.means):
            if value is not None:
                return int(np.shape(value)[0])
        raise ValueError(
            "TeacherOutputs holds no outputs; pass probabilities=, logits= or "
            "means= and variances="
        )

    # ----------------------------------------------------------------- fit
    def _check_outputs(self, n_rows):
        given = [
            name
            for name in ("probabilities", "logits", "means", "variances")
            if getattr(self, name) is not None
        ]
        kinds = {"probabilities", "logits"} & set(given)
        if len(kinds) > 1 or (kinds and {"means", "variances"} & set(given)):
            raise ValueError(
                f"TeacherOutputs takes one kind of output; got {given}: pass "
                "probabilities=, or logits=, or means= and variances="
            )
        if not given:
            raise ValueError(
                "TeacherOutputs holds no outputs; pass probabilities=, logits= "
                "or means= and variances="
            )
        if self._task() == "regression":
            if self.means is None or self.variances is None:
                missing = "variances" if self.variances is None else "means"
                raise ValueError(
                    f"regression outputs need means= and variances=; {missing}= "
                    "is missing"
                )
            means = _as_float_array(self.means, "means", 2)
            variances = _as_float_array(self.variances, "variances", 2)
            if variances.shape != means.shape:
                raise ValueError(
                    f"means has shape {means.shape} but variances {variances.shape}"
                )
            if np.any(variances <= 0):
                raise ValueError("variances must all be > 0")
            outputs = (means, variances)
        elif self.probabilities is not None:
            P = _as_float_array(self.probabilities, "probabilities", 3)
            if np.any(P < 0):
                raise ValueError(
                    f"probabilities contains negative values (min {P.min():.4g})"
                )
            sums = P.sum(axis=-1)
            if np.any(np.abs(sums - 1.0) > 1e-3):
                raise ValueError(
                    "probabilities rows must sum to 1 (sums from "
                    f"{sums.min():.4g} to {sums.max():.4g}); pass logits= for "
                    "unnormalised scores"
                )
            outputs = (P / sums[..., None],)
        else:
            outputs = (_as_float_array(self.logits, "logits", 3),)
        if outputs[0].shape[1] != n_rows:
            raise ValueError(
                f"the outputs are for {outputs[0].shape[1]} rows (axis 1 of shape "
                f"{outputs[0].shape}) but X has {n_rows} rows"
            )
        return outputs

    def fit(self, X=None, y=None, sample_weight=None):
        """Check the stored outputs and index the rows of ``self.X``.

        ``X`` (the rows a distiller trains on, optional) must be among them;
        ``y`` and ``sample_weight`` are ignored (the outputs are given).
        """
        if self.X is None:
            raise ValueError(
                "TeacherOutputs needs X, the rows its outputs belong to: "
                "TeacherOutputs(X, probabilities=P)"
            )
        keys = _row_keys(self.X, "TeacherOutputs' X")
        outputs = self._check_outputs(len(keys))
        if self._task() == "classification":
            n_classes = outputs[0].shape[2]
            classes = (
                np.arange(n_classes)
                if self.classes is None
                else np.asarray(self.classes)
            )
            if classes.ndim != 1 or len(classes) != n_classes:
                raise ValueError(
                    f"classes has {np.size(classes)} labels but the outputs "
                    f"have {n_classes} columns"
                )
            if len(np.unique(classes)) != n_classes:
                raise ValueError(f"classes has repeated labels: {classes.tolist()}")
            self.classes_ = classes
        index: dict = {}
        for i, key in enumerate(keys.tolist()):
            j = index.setdefault(key, i)
            if j != i and not all(np.array_equal(o[:, i], o[:, j]) for o in outputs):
                raise ValueError(
                    f"rows {j} and {i} of X are equal but their stored outputs "
                    "differ, so the row cannot be looked up; add a column that "
                    "tells them apart (an id) to X"
                )
        self._index = index
        self._outputs = outputs
        self.n_members_ = int(outputs[0].shape[0])
        self.n_features_in_ = int(np.shape(self.X)[1])
        if X is not None:
            self._lookup(X)
        return self

    def __getstate__(self):
        # The row index and checked outputs are rebuilt from the parameters
        # on first use: a saved (pickled, skops) teacher holds plain data.
        state = super().__getstate__()
        state.pop("_index", None)
        state.pop("_outputs", None)
        return state

    def _lookup(self, X) -> np.ndarray:
        check_is_fitted(self)
        if getattr(self, "_index", None) is None:
            self.fit()
        n_features = np.shape(X)[1] if np.ndim(X) == 2 or sp.issparse(X) else None
        if n_features != self.n_features_in_:
            raise ValueError(
                f"X has shape {np.shape(X)}; the stored outputs' X has "
                f"{self.n_features_in_} features"
            )
        keys = _row_keys(X, "X").tolist()
        rows = np.fromiter((self._index.get(k, -1) for k in keys), np.intp, len(keys))
        missing = np.flatnonzero(rows < 0)
        if len(missing):
            raise UnknownRowsError(
                f"{len(missing)} of the {len(keys)} rows of X (the first at "
                f"position {missing[0]}) are not among the {len(self._index)} "
                "distinct rows whose teacher outputs are stored; TeacherOutputs "
                "only knows the rows of its X, matched exactly"
            )
        return rows

    # ------------------------------------------------------------- predict
    def predict_members(self, X):
        """The stored outputs of every member on the rows ``X``.

        Returns
        -------
        ndarray of shape (n_members, n_samples, n_classes)
            Classification: probabilities (the softmax of stored logits).
        (means, variances) : tuple of ndarrays of shape (n_members, n_samples)
            Regression.
        """
        rows = self._lookup(X)
        if self._task() == "regression":
            means, variances = self._outputs
            return means[:, rows], variances[:, rows]
        return np.exp(self.predict_members_log_proba(X, rows=rows))

    def predict_members_log_proba(self, X, *, rows=None):
        """Members' log-probabilities ``(n_members, n_samples, n_classes)``.

        From stored logits, their ``log_softmax`` (no floor); from stored
        probabilities, their log (``-inf`` where a probability is 0).
        """
        from scipy.special import log_softmax

        if self._task() != "classification":
            raise AttributeError("regression outputs have no probabilities")
        rows = self._lookup(X) if rows is None else rows
        stored = self._outputs[0][:, rows]
        if self.logits is not None:
            return log_softmax(stored, axis=-1)
        with np.errstate(divide="ignore"):
            return np.log(stored)

    def predict_proba(self, X):
        """Mean over members of the probabilities, ``(n_samples, n_classes)``."""
        return self.predict_members(X).mean(axis=0)

    def predict(self, X):
        """The most probable class, or (regression) the members' mean."""
        if self._task() == "classification":
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return self.predict_members(X)[0].mean(axis=0)
