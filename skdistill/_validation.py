"""Input checks shared by every estimator: parameters, data, targets, weights.

scikit-learn's ``validate_data`` covers the first axis and the values (no
NaN, no infinity, a float dtype); samples may have any shape (a row, an
image ``(C, H, W)``), recorded as ``input_shape_``, and the module gets them
as they are. Errors name the problem (a single class, a wrong shape, a value
too large for float32).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, validate_data


def _check_int(name, value, low=1):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < low
    ):
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")


def _check_float32_range(X):
    """Refuse inputs that overflow float32, the precision the networks run in."""
    if X.size:
        top = max(float(X.max()), -float(X.min()))  # no copy of X
        if top > float(np.finfo(np.float32).max):
            raise ValueError(
                f"X has values too large for float32 (max |x| = {top:.3g}), the "
                "precision the networks compute in; scale the inputs, e.g. "
                "with StandardScaler"
            )
    return X


def _check_sizes(name, sizes):
    if isinstance(sizes, numbers.Integral):
        sizes = (sizes,)
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of positive integers") from None
    for s in sizes:
        _check_int(f"every entry of {name}", s)
    return tuple(int(s) for s in sizes)


def _from_tensor(X):
    """A torch tensor as a NumPy array (from any device); anything else as it is."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu()
        if X.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds it
            X = X.float()
        return X.numpy()
    return X


class DataChecksMixin:
    """Validation of ``X``, ``y`` and row weights (part of the estimators' mixin)."""

    def _check_frame(self, X):
        """Refuse an empty DataFrame clearly (sklearn fails on it in numpy)."""
        X = _from_tensor(X)
        shape = getattr(X, "shape", None)
        if hasattr(X, "columns") and shape is not None and 0 in tuple(shape):
            raise ValueError(
                f"X is an empty DataFrame (shape={tuple(shape)}); "
                f"{type(self).__name__} needs at least 1 sample and 1 feature"
            )

    def _check_input_shape(self, X, reset):
        """Record (``reset``) or check the shape of one sample, ``input_shape_``.

        Samples may have any shape: a row of features ``(n_features,)``, an
        image ``(C, H, W)``, a sequence. scikit-learn's checks cover the
        first axis and the values; the rest is the module's.
        """
        shape = tuple(int(d) for d in np.shape(X)[1:])
        if reset:
            self.input_shape_ = shape
            return X
        fitted = getattr(self, "input_shape_", shape)
        if shape != fitted:
            raise ValueError(
                f"X has samples of shape {shape}; {type(self).__name__} was "
                f"fitted on samples of shape {fitted}"
            )
        return X

    def _validate_X(self, X, *, reset):
        self._check_frame(X)
        fitted = getattr(self, "input_shape_", None)
        nd = len(getattr(X, "shape", ()))  # arrays, tensors, frames; never a list
        if not reset and fitted and (len(fitted) > 1 or nd > 2):
            # Images: say so in their terms, before scikit-learn counts
            # "features" along axis 1 (the channels).
            self._check_input_shape(_from_tensor(X), reset=False)
        X = validate_data(
            self,
            _from_tensor(X),
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_min_samples=1,
            allow_nd=True,
        )
        return _check_float32_range(self._check_input_shape(X, reset))

    def _validate_classification(self, X, y):
        self._check_frame(X)
        y_obj = y if y is None or hasattr(y, "dtype") else np.asarray(y, dtype=object)
        if getattr(y_obj, "dtype", None) is np.dtype(object) and any(
            v is None for v in np.ravel(y_obj)
        ):
            raise ValueError(
                "y contains None: every sample needs a class label (drop or "
                "fill the unlabelled rows)"
            )
        X, y = validate_data(
            self, _from_tensor(X), _from_tensor(y), dtype=[np.float64, np.float32],
            allow_nd=True,
        )  # fmt: skip
        _check_float32_range(self._check_input_shape(X, True))
        check_classification_targets(y)
        classes, y_enc = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes; "
                f"the data contain 1 class: {classes[0]!r}"
            )
        self.classes_ = classes
        return X, y_enc

    def _validate_partial_classes(self, X, y, classes, first):
        """``partial_fit``'s data: classes fixed by the first call.

        On the first call ``classes`` lists every class the stream will
        hold (a batch may miss some), as for scikit-learn's ``partial_fit``;
        later calls may repeat it, and their labels must be among them.
        """
        self._check_frame(X)
        X, y = validate_data(
            self, _from_tensor(X), _from_tensor(y), reset=first,
            dtype=[np.float64, np.float32], allow_nd=True,
        )  # fmt: skip
        _check_float32_range(self._check_input_shape(X, first))
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit: "
                    "every class the data will hold (a batch may miss some)"
                )
            classes = np.unique(np.asarray(classes))
            if len(classes) < 2:
                raise ValueError(
                    f"classes must hold at least 2 classes; got {classes.tolist()}"
                )
            self.classes_ = classes
        elif classes is not None and not np.array_equal(
            np.unique(np.asarray(classes)), self.classes_
        ):
            raise ValueError(
                f"classes={np.unique(classes).tolist()} differs from the classes "
                f"of the first partial_fit call, {self.classes_.tolist()}"
            )
        unknown = np.setdiff1d(y, self.classes_)
        if len(unknown):
            raise ValueError(
                f"y holds classes {unknown.tolist()} that are not in classes "
                f"{self.classes_.tolist()} (given on the first partial_fit call)"
            )
        return X, np.searchsorted(self.classes_, y)

    def _check_partial_class_weight(self):
        if isinstance(getattr(self, "class_weight", None), str):
            raise ValueError(
                f"class_weight={self.class_weight!r} needs the class counts of "
                "all the data, which partial_fit never sees; pass a dict of "
                "weights (or sample_weight) instead"
            )

    def _validate_regression(self, X, y, reset=True):
        self._check_frame(X)
        X, y = validate_data(
            self, _from_tensor(X), _from_tensor(y), reset=reset,
            dtype=[np.float64, np.float32], y_numeric=True, allow_nd=True,
        )  # fmt: skip
        _check_float32_range(self._check_input_shape(X, reset))
        y = np.asarray(y, dtype=np.float64)
        if not np.all(np.isfinite(y)):
            raise ValueError("Input y contains NaN or infinity.")
        with np.errstate(over="ignore", invalid="ignore"):
            # The targets are standardised, and variances scaled back by
            # std(y) ** 2: both must stay finite.
            spread = np.std(y) ** 2
        if not np.isfinite(spread):
            raise ValueError(
                "Input y has values too large to standardise (the variance of y "
                "overflows float64); rescale y, e.g. to other units"
            )
        return X, y

    def _row_weights(self, X, y, sample_weight, y_raw=None):
        """Per-row loss weights from ``sample_weight`` and ``class_weight``.

        ``y`` holds the encoded classes (indices into ``classes_``) for a
        classifier, ``y_raw`` the labels as given (``class_weight``'s dict
        keys). The product of the two weights is scaled to mean 1, so that
        multiplying every weight by a constant changes nothing, and the
        learning rate means the same with or without weights.

        Returns
        -------
        weights : ndarray of shape (n_kept,) or None
            The kept rows' weights; None when every kept row weighs the same:
            the fit is then exactly the unweighted one.
        keep : ndarray of int or None
            The rows of non-zero weight, when some weigh 0; the caller drops
            the others, which is exactly what a zero weight means. None: all.
        """
        class_weight = getattr(self, "class_weight", None)
        if sample_weight is None and class_weight is None:
            return None, None
        w = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        if class_weight is not None:
            if not hasattr(self, "classes_") or self._is_regression_fit():
                raise ValueError(
                    "class_weight applies to classification only; this "
                    f"{type(self).__name__} is fitted for regression"
                )
            labels = self.classes_[y] if y_raw is None else np.asarray(y_raw)
            per_class = compute_class_weight(
                class_weight, classes=self.classes_, y=labels
            )
            bad = ~(np.isfinite(per_class) & (per_class >= 0))
            if bad.any():
                raise ValueError(
                    "class_weight must give every class a finite, non-negative "
                    f"weight; got {per_class[bad].tolist()} for class(es) "
                    f"{self.classes_[bad].tolist()}"
                )
            w = w * per_class[y]
        if not np.all(np.isfinite(w)):
            raise ValueError("sample_weight contains NaN or infinity")
        total = w.sum()
        if not total > 0:
            raise ValueError(
                "the sample weights (sample_weight times class_weight) are all "
                "zero: at least one row needs a non-zero weight"
            )
        keep = None
        if not w.all():
            keep = np.flatnonzero(w)
            w = w[keep]
        if np.all(w == w[0]):
            return None, keep
        return w * (len(w) / total), keep

    def _is_regression_fit(self) -> bool:
        return getattr(self, "_task", None) == "regression" or (
            getattr(self, "task_", None) == "regression"
        )
