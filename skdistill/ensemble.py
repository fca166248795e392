"""Deep ensembles as scikit-learn estimators, every member trained at once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from ._base import (
    stacked_probabilities,
    transactional,
)
from ._constraints import ENSEMBLE, ENSEMBLE_CLASSIFIER, constraints_for
from ._ensemble_base import _COMMON_PARAMS_DOC, _BaseEnsemble
from ._outputs import log_probabilities, mean_probability, member_entropies
from .uncertainty import (
    classification_uncertainty,
    mixture_mean_std,
    regression_uncertainty,
)

__all__ = ["EnsembleClassifier", "EnsembleRegressor"]


class EnsembleClassifier(ClassifierMixin, _BaseEnsemble):
    __doc__ = """A deep ensemble of MLP classifiers, all members trained at once.

    The members are held in one vectorised module (weights shaped
    ``(n_members, in, out)``) and trained together by a skorch net; each
    member has its own initialisation and its own shuffling of the data (and
    its own bootstrap sample with ``bootstrap=True``), so they are exactly
    independent networks, just computed together.

    Parameters
    ----------
    n_members : int, default=5
        Number of ensemble members.
    mutual_learning : float, default=0.0
        Deep mutual learning with an ensemble teacher (DML_e): member i's loss
        becomes ``(1 - w) * CE_i + w * KL(stopgrad(mean of the others) || p_i)``.
        With ``w > 0`` all members see the same batches (and ``bootstrap`` is
        ignored), since the term compares members on the same rows.
    mutual_learning_form : {"ensemble", "cohort"}, default="ensemble"
        Which deep mutual learning (Zhang et al., 2018) ``mutual_learning``
        trains: ``"ensemble"`` is DML_e above; ``"cohort"`` is the paper's
        original form (Sec. 3.2, eq. 10), each member matching every other
        member, ``(1 - w) * CE_i + w / (N - 1) * sum_{j != i}
        KL(stopgrad(p_j) || p_i)``. All members step at once against their
        peers' current predictions, which approximates the paper's
        one-network-after-the-other updates. With detached peers both forms
        give the same gradient; only the loss value (the validation loss
        early stopping watches) differs, by the peers' generalised
        Jensen-Shannon divergence. See
        :func:`~skdistill.nn.losses.cohort_mutual_learning_loss`.
    class_weight : dict, "balanced" or None, default=None
        Weight of each class in the loss, as in scikit-learn's classifiers:
        a dict ``{label: weight}`` (missing classes weigh 1), or
        ``"balanced"`` for ``n_samples / (n_classes * np.bincount(y))``. It
        multiplies ``fit``'s ``sample_weight``.
    bootstrap : bool, default=False
        Train each member on its own bootstrap sample.
    module : callable or torch.nn.Module, default=None
        A ``torch.nn.Module`` class (or factory) called as
        ``module(in_features, out_features)`` to build each member instead of
        an MLP; members are stacked with ``torch.func`` and run under ``vmap``.
        A module *instance* (as skorch accepts) is deep-copied for every
        member and re-initialised (``reset_parameters``); it must map
        ``(batch, *sample_shape)`` to ``(batch, n_classes)``, or to ``(batch,
        2)`` for a regressor (mean and raw variance), and a clear error says
        so otherwise. The instance passed in is never changed. With
        ``module__*`` parameters (skorch's way) the class is called as
        ``module(**module__params)`` instead, and the result is used as an
        instance.
    {_COMMON_PARAMS_DOC}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Defined when ``X`` has string column names.
    net_ : skdistill.training.StackedNet
        The fitted skorch net.
    history_ : skorch.History
        Per-epoch training (and validation) losses.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdistill import EnsembleClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> ens = EnsembleClassifier(n_members=3, max_epochs=5, random_state=0).fit(X, y)
    >>> ens.predict_members(X[:2]).shape
    (3, 2, 3)
    >>> sorted(ens.predict_uncertainty(X[:2]))
    ['aleatoric', 'epistemic', 'total']
    """.replace("{_COMMON_PARAMS_DOC}", _COMMON_PARAMS_DOC.strip("\n"))

    def __init__(
        self,
        n_members: int = 5,
        *,
        mutual_learning: float = 0.0,
        mutual_learning_form: str = "ensemble",
        class_weight=None,
        hidden_layer_sizes: Sequence[int] = (100,),
        activation: str = "relu",
        dropout: float = 0.0,
        bootstrap: bool = False,
        module=None,
        max_epochs: int = 500,
        batch_size: int | str = "auto",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer="adam",
        validation_fraction: float = 0.1,
        early_stopping: bool = True,
        n_iter_no_change: int = 20,
        callbacks=None,
        verbose: int = 0,
        device: str = "auto",
        random_state=None,
        warm_start: bool = False,
        device_data="auto",
        accelerator=None,
        compile: bool = False,
        **kwargs,
    ):
        super().__init__(
            n_members,
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            dropout=dropout,
            bootstrap=bootstrap,
            module=module,
            max_epochs=max_epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            optimizer=optimizer,
            validation_fraction=validation_fraction,
            early_stopping=early_stopping,
            n_iter_no_change=n_iter_no_change,
            callbacks=callbacks,
            verbose=verbose,
            device=device,
            random_state=random_state,
            warm_start=warm_start,
            device_data=device_data,
            accelerator=accelerator,
            compile=compile,
            **kwargs,
        )
        self.mutual_learning = mutual_learning
        self.mutual_learning_form = mutual_learning_form
        self.class_weight = class_weight

    def _mutual_learning(self):
        if self.mutual_learning > 0 and self.n_members < 2:
            raise ValueError("mutual_learning > 0 needs n_members >= 2")
        return float(self.mutual_learning)

    def _mutual_learning_form(self):
        return self.mutual_learning_form

    def _validate(self, X, y):
        return self._validate_classification(X, y)

    @_fit_context(prefer_skip_nested_validation=True)
    @transactional
    def fit(self, X, y, sample_weight=None):
        """Fit every member on ``(X, y)``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels of any type.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row in every member's loss (times
            ``class_weight``'s). Each batch's loss is the weighted mean
            ``sum_i w_i l_i / sum_i w_i``, so an integer weight acts like
            repeating the row (up to the batches a repeat would fall in), and
            a zero weight drops the row.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    @transactional
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train every member for one epoch on ``(X, y)``: the streaming path.

        For data that never fits in memory at once: call it once per chunk,
        as scikit-learn's ``MLPClassifier.partial_fit``. The first call builds
        the members and fixes ``classes_`` from ``classes``, which it
        requires. ``validation_fraction``, ``early_stopping``, ``max_epochs``
        and ``warm_start`` play no part: each call is one epoch over the
        chunk, in ``batch_size`` steps (``batch_size="auto"`` is set by the
        first chunk's size). Later calls take ``lr``, ``weight_decay``,
        ``optimizer__*`` and ``batch_size`` as they are then (the
        optimizer's state carries on); the optimizer class, the callbacks
        and the architecture stay those of the first call.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            Every class the stream holds; required on the first call (a
            chunk may miss some), optional after. ``class_weight="balanced"``
            is refused here (it needs the counts of all the data).
        sample_weight : array-like of shape (n_samples,), default=None
            As for :meth:`fit`.

        Returns
        -------
        self
        """
        return self._partial_fit(X, y, classes, sample_weight)

    def _members(self, logits):
        return stacked_probabilities(logits)

    def predict_members(self, X) -> np.ndarray:
        """Class probabilities of every member, ``(n_members, n_samples, n_classes)``."""
        return self._members(self._predict_stacked(X))

    def predict_proba(self, X) -> np.ndarray:
        """The members' mean probability, ``(n_samples, n_classes)``.

        Computed batch by batch: memory does not grow with ``n_members``.
        """
        return self._predict_stacked(
            X, lambda out: self._members(out).mean(axis=0), mean_probability
        )

    def predict_log_proba(self, X) -> np.ndarray:
        """Log of :meth:`predict_proba`."""
        return log_probabilities(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """The class with the highest mean probability."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_uncertainty(self, X) -> Bunch:
        """Decompose the predictive uncertainty, in nats.

        Returns
        -------
        Bunch with ``total`` (entropy of the mean), ``aleatoric`` (mean member
        entropy) and ``epistemic`` (their difference, the mutual information),
        each of shape (n_samples,). ``pd.DataFrame(result)`` is a table.
        """
        return self._predict_stacked(
            X,
            lambda out: classification_uncertainty(self._members(out)),
            member_entropies,
        )


class EnsembleRegressor(RegressorMixin, _BaseEnsemble):
    __doc__ = """A deep ensemble of heteroscedastic Gaussian MLP regressors.

    Each member predicts a mean and a variance (softplus, floored at 1e-6)
    and is trained with the Gaussian negative log-likelihood. The targets are
    standardised internally (``y_mean_``, ``y_scale_``) and predictions are
    mapped back. The ensemble predicts the equal-weight Gaussian mixture.

    Parameters
    ----------
    n_members : int, default=5
    bootstrap : bool, default=False
    module : callable, default=None
        As for :class:`EnsembleClassifier`; ``out_features`` is 2 (mean and
        raw variance).
    {_COMMON_PARAMS_DOC}

    Attributes
    ----------
    n_features_in_, feature_names_in_, net_, history_ :
        As for :class:`EnsembleClassifier`.
    y_mean_, y_scale_ : float
        Target standardisation.

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill import EnsembleRegressor
    >>> X = np.linspace(-1, 1, 50).reshape(-1, 1); y = X.ravel() ** 2
    >>> reg = EnsembleRegressor(n_members=3, max_epochs=5, random_state=0).fit(X, y)
    >>> mean, std = reg.predict(X[:4], return_std=True)
    >>> mean.shape, bool((std > 0).all())
    ((4,), True)
    """.replace("{_COMMON_PARAMS_DOC}", _COMMON_PARAMS_DOC.strip("\n"))

    _task = "regression"

    def _validate(self, X, y):
        return self._validate_regression(X, y)

    @_fit_context(prefer_skip_nested_validation=True)
    @transactional
    def fit(self, X, y, sample_weight=None):
        """Fit every member on ``(X, y)``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row in every member's loss, as for
            :meth:`EnsembleClassifier.fit`.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    @transactional
    def partial_fit(self, X, y, sample_weight=None):
        """Train every member for one epoch on ``(X, y)``: the streaming path.

        For data that never fits in memory at once: call it once per chunk,
        as scikit-learn's ``MLPRegressor.partial_fit``. The first call builds
        the members and fixes the target scale (``y_mean_``, ``y_scale_``)
        from its chunk. ``validation_fraction``, ``early_stopping``,
        ``max_epochs`` and ``warm_start`` play no part: each call is one
        epoch over the chunk, in ``batch_size`` steps (``batch_size="auto"``
        is set by the first chunk's size). Later calls take ``lr``,
        ``weight_decay``, ``optimizer__*`` and ``batch_size`` as they are
        then (the optimizer's state carries on); the optimizer class, the
        callbacks and the architecture stay those of the first call.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            As for :meth:`fit`.

        Returns
        -------
        self
        """
        return self._partial_fit(X, y, None, sample_weight)

    def _members(self, out):
        return self._stacked_gaussians(out)

    def predict_members(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Every member's mean and variance, each ``(n_members, n_samples)``."""
        check_is_fitted(self, "net_")
        return self._members(self._predict_stacked(X))

    def predict(self, X, return_std: bool = False):
        """The mixture mean (and, with ``return_std=True``, the mixture std)."""
        mean, std = self._predict_stacked(
            X, lambda out: mixture_mean_std(*self._members(out))
        )
        return (mean, std) if return_std else mean

    def predict_uncertainty(self, X) -> Bunch:
        """Decompose the predictive variance.

        Returns
        -------
        Bunch with ``aleatoric`` (mean member variance), ``epistemic``
        (variance of the member means) and ``total`` (their sum), each of
        shape (n_samples,), in squared target units.
        """
        return self._predict_stacked(
            X, lambda out: regression_uncertainty(*self._members(out))
        )


EnsembleClassifier._parameter_constraints = constraints_for(
    ENSEMBLE_CLASSIFIER, EnsembleClassifier
)
EnsembleRegressor._parameter_constraints = constraints_for(ENSEMBLE, EnsembleRegressor)
