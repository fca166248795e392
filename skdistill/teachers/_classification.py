"""Classification member outputs: probabilities aligned to the distiller's classes.

Two ways to compute them, chosen by the adapter (:mod:`._adapters`): member
estimators called one by one (:func:`member_probabilities`), or one
``predict_members`` call that returns every member at once
(:func:`stacked_probabilities`). Both return ``(n_members, n_samples,
n_classes)`` float64 arrays whose rows are checked and renormalised.
"""

from __future__ import annotations

import numpy as np

from ._common import _batches, _n_rows, _name, _own_classes, _positions, _rows


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


def member_probabilities(members, X, classes, own, batch_size) -> np.ndarray:
    """Probabilities of member estimators called one by one, in batches.

    ``members`` are ``Member`` tuples; ``own`` the teacher's classes (an
    encoded member's column ``j`` is ``own[member.classes_[j]]``), ``classes``
    the output's column order.
    """
    n = _n_rows(X)
    own_to_target = _positions(own, classes, "the teacher")
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


def stacked_probabilities(teacher, X, classes, own, batch_size) -> np.ndarray:
    """Probabilities of every member at once, from ``teacher.predict_members``."""
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
