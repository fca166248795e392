"""Where the teacher disagrees: extra inputs for the student, and its spread.

An ensemble's members agree on the rows they were trained on; their
disagreement, the epistemic uncertainty a student must keep, lives between
and beyond those rows. A student that only sees training rows never sees it.
:class:`_ExtraRows` builds a pool of extra inputs (perturbed copies of the
training rows, and rows the user gives without labels) with the teacher's
outputs on them, computed once per fit; the student trains on them with the
distillation terms only.

After training, a student with fewer heads than the teacher has members can
rescale its heads' spread around their mean (``spread_``) so that its mean
epistemic uncertainty on held-out perturbed inputs matches the teacher's
(:func:`fit_spread`, :func:`scale_spread`).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from scipy.optimize import brentq

from .._base import stacked_probabilities
from ..teachers import UnknownRowsError
from ..uncertainty import classification_uncertainty

#: The label that marks an extra (unlabelled) row, per task.
_NO_LABEL = {"classification": -1, "regression": np.nan}

#: Noise scales span a factor of 8 (1/2 to 4 times ``noise_scale``).
_NOISE_SPAN = 8.0

#: Held-out perturbed rows used to fit ``spread_`` (at most).
_SPREAD_ROWS = 2000

#: ``spread_`` is searched in ``[0, _MAX_SPREAD]``.
_MAX_SPREAD = 50.0


class _Rows(NamedTuple):
    """Extra rows: the student's input, the teacher's outputs, the row weights."""

    X: np.ndarray
    targets: np.ndarray | None
    weights: np.ndarray | None


def _code_columns(X_teacher, numeric, X) -> list:
    """Columns of the perturbed array that a DataFrame holds as integers or
    bools: category codes, more often than not (a teacher's one-hot encoder
    refuses a code of 1.37). They are copied from the row, not perturbed;
    unless no other column is left to perturb.
    """
    dtypes = getattr(X_teacher, "dtypes", None)
    if dtypes is None or np.ndim(X) != 2:
        return []
    import pandas as pd

    kinds = list(dtypes)
    if numeric is not None:  # a frame with non-numeric columns: its numeric ones
        kinds = [kinds[pos] for pos in numeric]
    codes = [
        j
        for j, dtype in enumerate(kinds)
        if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    ]
    return codes if len(codes) < np.shape(X)[1] else []


class _ExtraRows:
    """The pool of extra student inputs of one fit, with the teacher's outputs.

    Parameters
    ----------
    est : BaseDistiller
        The distiller being fitted (its teacher already fitted).
    X : ndarray of shape (n_samples, n_features)
        The validated training input.
    X_teacher : ndarray or DataFrame
        The same rows as the teacher sees them.
    rng : numpy.random.Generator
    weights : ndarray of shape (n_samples,) or None
        The rows' loss weights (mean 1): a perturbed copy carries its row's
        weight, a row of ``X_unlabelled`` weight 1 (the mean).
    """

    def __init__(self, est, X, X_teacher, rng, weights=None):
        self.est = est
        self.weights = weights
        self.columns = getattr(X_teacher, "columns", None)
        self.frame = None
        if hasattr(X, "columns"):
            # A DataFrame with non-numeric columns (the student sees it through
            # student_transform): the numeric columns are perturbed, the
            # others copied from the row.
            from ._base import _non_numeric_columns

            other = set(_non_numeric_columns(X))
            self.numeric = [i for i, c in enumerate(X.columns) if c not in other]
            self.frame = X.reset_index(drop=True)
            X = self.frame.iloc[:, self.numeric].to_numpy(dtype=np.float64)
        self.X = X
        self.codes = _code_columns(X_teacher, self.numeric if self.frame is not None
                                   else None, X)  # fmt: skip
        self.rng = rng
        self.std = np.nanstd(X, axis=0) if len(X) > 1 else np.zeros(X.shape[1:])
        self.enabled = True  # perturbed copies
        self.no_variance = False  # the teacher gives no variance without y
        self._X_parts: list[np.ndarray] = []
        self._t_parts: list[np.ndarray] = []
        self._w_parts: list[np.ndarray] = []

    # ------------------------------------------------------------ inputs
    def _make(self, idx, n_copies) -> np.ndarray:
        """``n_copies`` perturbed copies of the rows ``idx`` of ``X``."""
        kind = self.est.extra_inputs or "noise"
        base = np.concatenate([self.X[idx]] * n_copies) if n_copies else self.X[:0]
        if len(base) == 0:
            return base
        # One draw per copy, broadcast over the sample's shape (a row, an image).
        per_copy = (len(base),) + (1,) * (base.ndim - 1)
        # Each copy draws its own distance: log-uniform between 1/2 and 4
        # times noise_scale feature standard deviations, so the student sees
        # the teacher both just off the data and far from it (one scale
        # taught it little about inputs far away: digits' noise images).
        scale = self.est.noise_scale * _NOISE_SPAN ** self.rng.uniform(
            -1 / 3, 2 / 3, size=per_copy
        )
        noisy = base + scale * self.std * self.rng.standard_normal(base.shape)
        # Inputs near float32's limit (valid ones) must not be pushed past it
        # by the noise: the float32 check would blame the user's X.
        top = float(np.finfo(np.float32).max)
        np.clip(noisy, -top, top, out=noisy)
        if self.codes:  # integer and bool columns: codes, kept as they are
            noisy[:, self.codes] = base[:, self.codes]
        if kind == "noise":
            return noisy
        partners = self.X[self.rng.choice(idx, size=len(base))]
        lam = self.rng.uniform(size=per_copy)
        mixed = lam * base + (1 - lam) * partners
        if self.codes:
            mixed[:, self.codes] = base[:, self.codes]
        if kind == "mixup":
            return mixed
        return np.where(self.rng.random(per_copy) < 0.5, noisy, mixed)

    def _for_teacher(self, rows, source):
        """Perturbed ``rows`` (of the rows ``source``) in the teacher's format."""
        if self.frame is not None:
            frame = self.frame.iloc[source].reset_index(drop=True)
            for j, pos in enumerate(self.numeric):
                frame[frame.columns[pos]] = rows[:, j]
            return frame
        if self.columns is None:
            return rows
        import pandas as pd

        return pd.DataFrame(rows, columns=self.columns)

    def _targets(self, X_teacher_rows, unlabelled=False):
        """(student input, teacher outputs) of rows given in the teacher's format.

        Where the teacher cannot give outputs for perturbed rows (stored
        outputs; a point regressor's variance needs y), the perturbed copies
        are switched off with a warning. ``X_unlabelled`` rows that stored
        outputs do not cover are an error; they are the user's own rows.
        """
        est = self.est
        try:
            targets = est._teacher_targets(X_teacher_rows)
        except UnknownRowsError as exc:
            if unlabelled:  # the user's rows: they must be among the stored
                raise ValueError(
                    f"X_unlabelled holds rows the stored teacher outputs do "
                    f"not cover ({exc}): store the members' outputs on them too"
                ) from None
            # Stored teacher outputs: only the rows they were computed on.
            warnings.warn(
                f"{type(est).__name__}: the teacher has no outputs for the "
                f"perturbed extra inputs ({exc}); training (and validating) "
                "without extra inputs",
                UserWarning,
                stacklevel=4,
            )
            self.enabled = False
            return None
        except ValueError as exc:
            if "pass y" not in str(exc):
                raise
            # A point regressor's variance comes from its errors on labelled
            # rows: it has none to give on rows without labels.
            if self.no_variance:
                return None  # said once
            self.no_variance = True
            warnings.warn(
                f"{type(est).__name__}: the teacher needs targets to predict a "
                f"variance ({exc}); training without extra inputs",
                UserWarning,
                stacklevel=4,
            )
            self.enabled = False
            return None
        X_valid = est._validate_X(X_teacher_rows, reset=False)
        X_student = est._student_input(X_teacher_rows, X_valid, fit=False)
        return np.asarray(X_student, dtype=np.float32), targets

    def perturbed(self, idx, n_copies) -> _Rows:
        """Perturbed copies of rows ``idx``, with the teacher's outputs."""
        idx = np.asarray(idx)
        rows = self._make(idx, n_copies)
        if not self.enabled or len(rows) == 0:
            return self._empty()
        out = self._targets(self._for_teacher(rows, np.tile(idx, n_copies)))
        if out is None:
            return self._empty()
        w = None if self.weights is None else np.tile(self.weights[idx], n_copies)
        return _Rows(*out, w)

    def _empty(self) -> _Rows:
        shape = getattr(self.est, "student_input_shape_", None) or (
            self.est.n_student_features_,
        )
        X = np.empty((0, *shape), np.float32)
        return _Rows(X, None, None if self.weights is None else np.empty(0))

    def add_perturbed(self, idx, n_copies) -> None:
        if n_copies > 0:
            self._add(self.perturbed(idx, n_copies))

    def add_unlabelled(self, X_unlabelled) -> None:
        est = self.est
        X_valid = est._validate_X(X_unlabelled, reset=False)
        rows = X_unlabelled if hasattr(X_unlabelled, "columns") else X_valid
        if self.no_variance or len(X_valid) == 0:
            return
        # Not skipped when only the perturbed copies are off: stored outputs
        # may well cover the user's unlabelled rows.
        out = self._targets(rows, unlabelled=True)
        if out is not None:
            w = None if self.weights is None else np.ones(len(out[0]))
            self._add(_Rows(*out, w))

    def _add(self, rows: _Rows) -> None:
        if rows.targets is not None and len(rows.X):
            self._X_parts.append(rows.X)
            self._t_parts.append(rows.targets)
            if rows.weights is not None:
                self._w_parts.append(rows.weights)

    def pool(self) -> _Rows | None:
        """Every extra row so far, or None."""
        if not self._X_parts:
            return None
        w = np.concatenate(self._w_parts) if self.weights is not None else None
        return _Rows(np.concatenate(self._X_parts), np.concatenate(self._t_parts), w)

    def sizes(self) -> tuple:
        return (*self._X_parts, *self._t_parts)


# ------------------------------------------------------------------ spread
def scale_spread(out: np.ndarray, spread: float, task: str) -> np.ndarray:
    """Scale the heads' deviations from their mean by ``spread``.

    Classification: each head's log-probabilities ``l_m`` become ``bar l +
    spread (l_m - bar l)`` (``bar l`` their mean over heads), then renormalise
    through the softmax. Returned as logits with that softmax: ``l_m`` and
    the logits ``z_m`` differ by a constant per head and row, which the
    softmax ignores, so ``(1 - spread) bar z + spread z_m`` is computed
    instead, without a log-softmax (a quarter of a 2-head student's
    ``predict_proba`` time). Regression: each head's mean ``mu_m`` becomes ``bar
    mu + spread (mu_m - bar mu)``; variances (the aleatoric part) and the
    mixture mean are unchanged, and the epistemic variance scales by exactly
    ``spread ** 2``.

    Parameters
    ----------
    out : ndarray of shape (n, M, K) or (n, M, 2)
        Stacked head outputs: logits, or Gaussian means and variances.
    spread : float
    task : {"classification", "regression"}

    Returns
    -------
    ndarray of the same shape
    """
    if spread == 1.0 or out.shape[1] < 2:
        return out
    if task == "classification":
        center = out.mean(axis=1, keepdims=True)
        return (1.0 - spread) * center + spread * out
    scaled = out.copy()
    means = out[..., 0]
    center = means.mean(axis=1, keepdims=True)
    scaled[..., 0] = center + spread * (means - center)
    return scaled


def teacher_epistemic(targets: np.ndarray, task: str) -> float:
    """Mean epistemic uncertainty of teacher outputs as the student trains on them."""
    if task == "classification":
        members = stacked_probabilities(targets.astype(np.float64))
        return float(classification_uncertainty(members).epistemic.mean())
    return float(targets[..., 0].astype(np.float64).var(axis=1).mean())


def _student_epistemic(out: np.ndarray, spread: float, task: str) -> float:
    scaled = scale_spread(out, spread, task)
    if task == "classification":
        members = stacked_probabilities(scaled)
        return float(classification_uncertainty(members).epistemic.mean())
    return float(scaled[..., 0].var(axis=1).mean())


def fit_spread(sets, task: str) -> float:
    """The spread that gives the student's heads the teacher's epistemic size.

    With ``r_i(s)`` the ratio of the student's mean epistemic uncertainty
    (heads scaled by ``s``, see :func:`scale_spread`) to the teacher's on
    held-out set ``i``, the spread solves ``sum_i log r_i(s) = 0``: the
    geometric mean of the ratios is 1. The sets are inputs the student did
    not train on, for instance validation rows (where members agree) and
    fresh perturbed copies of training rows (where they do not), so neither
    kind of input dominates the fit.

    Parameters
    ----------
    sets : list of (out, targets)
        ``out`` the student's stacked outputs ``(n, M, K)`` or ``(n, M, 2)``;
        ``targets`` the teacher's member outputs ``(n, N, K)`` or ``(n, N, 2)``
        on the same rows, as the student trained on them.
    task : {"classification", "regression"}

    Returns
    -------
    spread : float
        In ``[0, 50]``; 1 where the heads cannot be rescaled (they agree
        exactly, or the teacher has no epistemic uncertainty there).
    """
    pairs = []
    for out, targets in sets:
        target = teacher_epistemic(targets, task)
        current = _student_epistemic(out, 1.0, task)
        if target > 0 and current > 0:
            pairs.append((out, target, current))
    if not pairs:
        return 1.0
    if task == "regression":  # each epistemic variance scales as spread**2
        log_gap = np.mean([np.log(t / c) for _, t, c in pairs])
        return float(min(_MAX_SPREAD, np.exp(log_gap / 2)))

    def gap(s):
        return sum(
            np.log(max(_student_epistemic(out, s, task), 1e-300) / target)
            for out, target, _ in pairs
        )

    hi = 2.0
    while gap(hi) < 0 and hi < _MAX_SPREAD:
        hi = min(_MAX_SPREAD, 2 * hi)
    if gap(hi) < 0:
        return hi
    return float(brentq(gap, 1e-6, hi, xtol=1e-4))
