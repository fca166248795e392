"""A distiller's inputs: what the teacher sees, and what the student sees.

The teacher gets ``X`` as the user gave it (a DataFrame with string columns
included); the student gets numbers, of any sample shape, through
``student_transform`` (cross-quality distillation) or a pipeline teacher's
own preprocessing.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_array, validate_data

from .. import teachers as T
from .._base import _check_float32_range, _from_tensor


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


class DistillerInputsMixin:
    """Validation of a distiller's data and the student's view of it."""

    def _student_input(self, X_raw, X, *, fit, y=None):
        """The student's input: ``X``, or ``student_transform`` of the raw input.

        Cross-quality distillation gives the student a degraded view (fewer or
        coarser features) while the teacher sees everything. The transformer
        receives the input as the user passed it (a DataFrame keeps its
        column names) and is fitted on the training data and its labels
        ``y``, as a Pipeline fits its steps (a supervised selector such as
        ``SelectKBest`` needs them). Sparse output (a one-hot encoding of
        many categories) is made dense: the student's layers take dense rows.
        """
        transform = self._student_transform()
        if transform is None:
            return X
        if fit:
            self.student_transform_ = clone(transform).fit(X_raw, y)
        out = _from_tensor(self.student_transform_.transform(X_raw))
        if sp.issparse(out):
            out = out.toarray()
        Xs = check_array(
            out,
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
            self._teacher_adapter_ = None  # made for the default teacher later
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
        # The teacher is checked and its family told once per fit: the
        # adapter answers every later question about it.
        self._teacher_adapter_ = T.as_teacher(self.teacher)
        self.task_ = self._teacher_adapter_.task
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
