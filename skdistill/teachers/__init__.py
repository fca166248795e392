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
times ``Var(y)`` when ``y`` is given (a tree's at that fraction of its root's
variance): a floor relative to ``y``'s scale, so that a student learns the
same whatever the unit of ``y``. Only where ``y`` does not vary is it the
absolute 1e-12; without ``y`` (new rows) variances are only kept positive,
and a distiller floors them, standardised, at ``MIN_VARIANCE_FRACTION``. A ``Pipeline`` whose last step's ``predict`` takes
``return_std`` gives that step's variances.

Adapters
--------
:func:`as_teacher` checks a teacher and tells its family once, returning a
:class:`TeacherAdapter`: one small class per family (a single estimator, a
forest, bagging, voting, a list, a Pipeline ending in one of these ensembles,
anything with ``predict_members``, stored outputs, the virtual teacher). The
adapter knows the teacher's task, members, classes, how to fit it and how to
prepare ``X`` for it, and computes its member outputs in batches. A distiller
builds one per fit and asks it everything; the functions below are thin
wrappers that build one per call.

Caching
-------
:func:`fit_teacher` and :func:`member_outputs` are module-level functions of
their arguments only (no global state), so ``joblib.Memory(...).cache`` can wrap
them and hash their inputs. An adapter holds nothing but its teacher and task,
so it hashes (and pickles) as its teacher does.
"""

from __future__ import annotations

import numpy as np

from .._stored_outputs import (  # noqa: F401  (re-exported: skdistill.teachers.*)
    TeacherOutputs,
    UnknownRowsError,
    _as_float_array,
    _row_keys,
)
from ._adapters import TeacherAdapter, as_teacher
from ._common import (
    MIN_VARIANCE_FRACTION,
    VIRTUAL,
    is_virtual,
    teacher_is_fitted,
    teacher_task,
)

__all__ = [
    "MIN_VARIANCE_FRACTION",
    "VIRTUAL",
    "TeacherAdapter",
    "TeacherOutputs",
    "UnknownRowsError",
    "as_teacher",
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


def check_teacher(teacher) -> None:
    """Raise ``TypeError`` unless ``teacher`` is something a distiller accepts.

    Accepted: an estimator, a list or tuple of estimators (all classifiers with
    ``predict_proba`` or all regressors), or the string ``"virtual"``. A
    classification teacher must have ``predict_proba`` (or ``predict_members``).
    An empty list raises ``ValueError``. The same checks as :func:`as_teacher`.
    """
    as_teacher(teacher)


def fit_teacher(teacher, X, y, sample_weight=None):
    """The teacher, fitted: a fitted teacher as it is, else ``clone(teacher).fit(X, y)``.

    A list must be all fitted (returned as it is) or all unfitted (each member is
    cloned and fitted on ``(X, y)``; a new list is returned); a mixture raises
    ``ValueError``. The teacher passed in is never modified. ``sample_weight``
    goes to every ``fit`` that takes it; a teacher whose ``fit`` does not is
    fitted without it, with a warning. See :meth:`TeacherAdapter.fit`.
    """
    return as_teacher(teacher).fit(X, y, sample_weight).estimator


def n_members(teacher) -> int:
    """How many members the teacher has (fitted or not, where that can be told).

    See :attr:`TeacherAdapter.n_members`.
    """
    return as_teacher(teacher).n_members


def teacher_classes(teacher) -> np.ndarray:
    """The classes the teacher was fitted on (``classes_``).

    For a list, all members must know the same classes (``ValueError`` if not);
    they are returned sorted.
    """
    return as_teacher(teacher).classes()


def check_teacher_classes(teacher, classes) -> None:
    """Raise ``ValueError`` unless the teacher knows exactly ``classes`` (y's).

    Order does not matter: outputs are aligned by value. A teacher knowing more
    classes than ``y`` (a superset) is an error, like one missing a class of ``y``.
    """
    as_teacher(teacher).check_classes(classes)


def member_outputs(
    teacher, X, *, classes=None, y=None, batch_size: int = 4096
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The outputs of every member of a fitted teacher on ``X``, members first.

    Parameters
    ----------
    teacher : estimator, list of estimators or TeacherAdapter
        A fitted teacher (see the module docstring for the kinds accepted),
        or its adapter (:func:`as_teacher`).
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
    return as_teacher(teacher).member_outputs(
        X, classes=classes, y=y, batch_size=batch_size
    )


def has_logits(teacher) -> bool:
    """Whether ``teacher`` is a :class:`~skdistill.TeacherOutputs` holding logits."""
    return isinstance(teacher, TeacherOutputs) and teacher.logits is not None
