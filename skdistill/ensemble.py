"""Deep ensembles as scikit-learn estimators, every member trained at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted
from skorch.helper import predefined_split

from ._base import (
    ACTIVATIONS_PER_INPUT,
    NeuralEstimatorMixin,
    predict_batch_rows,
    stacked_probabilities,
    transactional,
)
from ._constraints import ENSEMBLE, ENSEMBLE_CLASSIFIER, constraints_for
from .nn.criteria import EnsembleCriterion
from .nn.modules import StackedEnsemble, output_width, reinitialised_copy
from .training import TensorData, seeded
from .uncertainty import (
    classification_uncertainty,
    mixture_mean_std,
    regression_uncertainty,
)

__all__ = ["EnsembleClassifier", "EnsembleRegressor"]


_COMMON_PARAMS_DOC = """
    hidden_layer_sizes : tuple of int, default=(100,)
        Hidden layer sizes of each member MLP.
    activation : {"relu", "tanh", "gelu", "silu", "elu", "leaky_relu"}, default="relu"
    dropout : float, default=0.0
        Dropout probability after each hidden layer.
    max_epochs : int, default=500
        The cap; with the default early stopping, training normally ends
        much earlier.
    batch_size : int or "auto", default="auto"
        Rows per member per step. ``"auto"``: about ten steps per epoch,
        between 16 and 200 rows (``min(200, max(16, n_train // 10))``). A
        fixed 256 gave a table of a few hundred rows one step per epoch and
        an underfit ensemble (see ``benchmarks/bench_defaults.py``).
    lr : float, default=1e-3
    weight_decay : float, default=0.0
    optimizer : str or torch.optim.Optimizer class, default="adam"
        ``"adam"``, ``"adamw"``, ``"sgd"``, ``"rmsprop"`` or a class. Fused
        Adam (one kernel per step) is used on CUDA and on the CPU.
    validation_fraction : float, default=0.1
        Fraction of the training rows held out (stratified for classifiers);
        its loss is recorded as ``valid_loss`` in ``history_``. 0 trains on
        every row.
    early_stopping : bool, default=True
        Stop when ``valid_loss`` has not improved for ``n_iter_no_change``
        epochs and restore the best weights (needs ``validation_fraction >
        0``). On by default: measured on every bundled table
        (``benchmarks/bench_defaults.py``), it is the only setting whose
        test NLL is never far from the best (fixed epochs overfit some
        tables and underfit others). ``early_stopping=False,
        validation_fraction=0`` trains ``max_epochs`` epochs on every row.
    n_iter_no_change : int, default=20
    callbacks : list of skorch callbacks, default=None
        For example ``ProgressBar()``, ``Checkpoint()``, ``LRScheduler(...)``.
        They are copied at every fit.
    verbose : int, default=0
        1 prints skorch's per-epoch table.
    device : str, default="auto"
        ``"auto"`` is CUDA when available, else CPU. Asking for ``"cuda"``
        where there is none raises a ``ValueError``.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, bootstrap samples and dropout.
        Fits with the same integer seed are identical on CPU. On CUDA they
        are identical in distribution but not bitwise: some CUDA kernels
        (atomic adds in backward passes, cuBLAS's choice of algorithm) sum in
        a varying order; ``torch.use_deterministic_algorithms(True)`` and
        ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` make them repeat on one machine.
        CPU and CUDA fits of the same seed differ.
    warm_start : bool, default=False
        Continue training the fitted members for ``max_epochs`` more epochs on
        the next ``fit`` instead of starting again.
    device_data : bool or "auto", default="auto"
        Where the training data lives. True: on the device, once (the fast
        path; batches are device slices). False: in host memory, each batch
        gathered there (into pinned memory, for CUDA) and copied to the
        device without blocking, for data larger than the GPU's memory. ``"auto"``: on the device unless, on CUDA, the data
        would fill more than half of its free memory (the switch is logged to
        the ``"skdistill"`` logger). On CPU the three are the same.
    accelerator : accelerate.Accelerator, default=None
        Train through Hugging Face Accelerate (skorch's ``AccelerateMixin``):
        mixed precision (``Accelerator(mixed_precision="bf16")``), gradient
        accumulation, and data-parallel training on several GPUs. With more
        than one process each training batch is split over the processes
        (``split_batches=False``, the default, keeps ``batch_size`` rows per
        process), gradients are averaged, and every process ends with the
        same model; ``random_state``'s seed comes from the main process. Leave
        ``device="auto"``: the accelerator places the model. The fitted
        network is plain after training (pickled without the accelerator).
        Launch a script with ``accelerate launch --multi_gpu --num_processes
        4 train.py``, where ``train.py`` builds the estimator with
        ``accelerator=Accelerator()``, fits it, and saves it on the main
        process only (``if accelerator.is_main_process: est.save(path)``).
    compile : bool, default=False
        Train through a ``torch.compile``-d forward pass (skorch's
        ``compile``). The fitted network stays a plain module: saving,
        export and prediction are unchanged. Compiling takes about a minute
        at the first fit in a process (on the CPU it needs a C++ compiler);
        measured on a 2-core CPU, training steps were then about 8% faster
        (``benchmarks/bench_ensemble_speed.py``), so it pays off only for
        long fits.
    **kwargs
        Nested parameters, named as for a skorch net and reached by
        ``get_params``, ``set_params``, ``clone`` and ``GridSearchCV``:
        ``optimizer__<param>`` (``optimizer__momentum=0.9``),
        ``callbacks__<name>__<param>`` (``callbacks__lr__step_size=3``, for
        ``callbacks=[("lr", LRScheduler(...))]``) and ``module__<param>``
        (the ``module`` class's own). Any other keyword is an error.
"""


def _reinitialised_copy(module, in_features, out_features):
    """A member from a module instance: a copy with fresh parameters."""
    return reinitialised_copy(module)


class _BaseEnsemble(NeuralEstimatorMixin, BaseEstimator):
    _task = "classification"
    _nested_prefixes = ("optimizer__", "callbacks__", "module__")

    def __init__(
        self,
        n_members: int = 5,
        *,
        hidden_layer_sizes: Sequence[int] = (100,),
        activation: str = "relu",
        dropout: float = 0.0,
        bootstrap: bool = False,
        module: Callable[[int, int], torch.nn.Module] | None = None,
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
        self.n_members = n_members
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.bootstrap = bootstrap
        self.module = module
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.verbose = verbose
        self.device = device
        self.random_state = random_state
        self.warm_start = warm_start
        self.device_data = device_data
        self.accelerator = accelerator
        self.compile = compile
        self._set_nested(kwargs)

    # ------------------------------------------------------------------ fit
    def _mutual_learning(self):
        return 0.0

    def _mutual_learning_form(self):
        return "ensemble"

    def _check_params(self):
        self._check_common_params()

    def _member_factory(self):
        """``module`` as a factory ``(in_features, out_features) -> member``.

        A module *instance* (as skorch accepts) is deep-copied for every
        member and each copy re-initialised (``reset_parameters`` of every
        submodule that has one), so the members start apart; its input and
        output sizes must fit the data, which is checked on a dummy batch.
        """
        module = self.module
        params = self._nested_params("module__")
        if params:
            # skorch's way: the class gets its own parameters, and the sizes
            # are its business (checked on a dummy batch below).
            if module is None or isinstance(module, torch.nn.Module):
                raise ValueError(
                    f"module__{next(iter(params))} needs module= to be a module "
                    "class (or factory) that takes it; the default MLP is set "
                    "with hidden_layer_sizes, activation and dropout"
                )
            module = module(**params)
            if not isinstance(module, torch.nn.Module):
                raise TypeError(
                    f"module(**module__ parameters) returned {type(module).__name__}, "
                    "not a torch.nn.Module"
                )
        if not isinstance(module, torch.nn.Module):
            return module
        n_out = 2 if self._task == "regression" else self._n_outputs()
        output_width(
            module, self.input_shape_, n_out,
            name=f"module={type(module).__name__}(...)",
            role="each member",
        )  # fmt: skip
        return partial(_reinitialised_copy, module)

    def _n_outputs(self):
        return len(self.classes_) if self._task == "classification" else 1

    def _in_size(self):
        """What a member takes: ``n_features_in_``, or a sample's shape (N-D input)."""
        shape = getattr(self, "input_shape_", (self.n_features_in_,))
        return shape[0] if len(shape) == 1 else shape

    def _targets(self, y):
        if self._task == "classification":
            return y, torch.long
        return (y - self.y_mean_) / self.y_scale_, torch.float32

    def _fit(self, X, y, sample_weight=None):
        warm = self.warm_start and hasattr(self, "net_")
        if warm:
            old = (self._in_size(), getattr(self, "classes_", None))
        y_raw = y
        X, y = self._validate(X, y)
        self._check_params()
        weights, keep = self._row_weights(X, y, sample_weight, y_raw)
        if keep is not None:  # a row of weight 0 is a row that is not there
            X, y = X[keep], y[keep]
        if warm and (
            old[0] != self._in_size()
            or (old[1] is not None and not np.array_equal(old[1], self.classes_))
        ):
            raise ValueError(
                "warm_start=True needs the same features and classes as the "
                "previous fit"
            )
        seed = self._seed()
        stratify = self._task == "classification"
        tr, _, va, _ = self._split(np.arange(len(X)), y, seed, stratify)
        self.n_train_rows_ = len(tr)
        if self._task == "regression" and not warm:
            self._fit_target_scale(y[tr], None if weights is None else weights[tr])
        self._plan_data(X, y)
        train = self._tensor_data(X, y, weights, tr)
        valid = None if va is None else self._tensor_data(X, y, weights, va)
        if warm:
            net = self.net_
            net.train_split = predefined_split(valid) if valid is not None else None
            self._fit_net(net, train, seed, epochs=self.max_epochs)
            return self
        self._fit_net(self._build_net(valid, seed), train, seed)
        return self

    def _partial_fit(self, X, y, classes=None, sample_weight=None):
        first = not hasattr(self, "net_")
        y_raw = y
        if self._task == "classification":
            X, y = self._validate_partial_classes(X, y, classes, first)
        else:
            X, y = self._validate_regression(X, y, reset=first)
        self._check_params()
        self._check_partial_class_weight()
        weights, keep = self._row_weights(X, y, sample_weight, y_raw)
        if keep is not None:
            X, y = X[keep], y[keep]
        seed = self._seed() + len(getattr(self, "history_", ()))
        if first:
            self.n_train_rows_ = len(X)
            if self._task == "regression":
                self._fit_target_scale(y, weights)
        self._plan_data(X, y)
        train = self._tensor_data(X, y, weights, np.arange(len(X)))
        net = self._build_net(None, seed) if first else self.net_
        self._fit_net(self._streaming_net(net), train, seed, epochs=1)
        return self

    def _tensor_data(self, X, y, weights, rows):
        """``TensorData`` of the given rows: inputs, targets and their weights."""
        if len(rows) != len(X):
            X, y = X[rows], y[rows]
            weights = None if weights is None else weights[rows]
        targets, dtype = self._targets(y)
        targets = self._to_device(targets, dtype)
        if weights is not None:
            targets = (targets, self._to_device(weights))
        return TensorData(self._to_device(X), targets)

    def _build_net(self, valid, seed):
        """The untrained skorch net holding every member in one module."""
        width = max(self.hidden_layer_sizes_ or (1,))
        sample = getattr(self, "input_shape_", (self.n_features_in_,))
        if self.module is not None or len(sample) > 1:
            # A member of the user's (a CNN on images): its activations follow
            # the input's size, not hidden_layer_sizes.
            width = max(width, ACTIVATIONS_PER_INPUT * int(np.prod(sample)))
        with seeded(seed, self.device_):
            # A member of the user's is checked (and its template built) here,
            # under the fit's seed, not from the caller's random state.
            member_factory = self._member_factory()
        # Mutual learning compares members on the same rows: shared batches.
        per_member = self._mutual_learning() == 0
        return self._make_net(
            StackedEnsemble,
            EnsembleCriterion,
            module_params=dict(
                n_members=self.n_members,
                in_features=self._in_size(),
                n_outputs=self._n_outputs(),
                task=self._task,
                hidden_layer_sizes=self.hidden_layer_sizes_,
                activation=self.activation,
                dropout=self.dropout,
                member_factory=member_factory,
            ),
            criterion_params=dict(
                task=self._task,
                mutual_learning=self._mutual_learning(),
                mutual_learning_form=self._mutual_learning_form(),
            ),
            valid_data=valid,
            n_members=self.n_members if per_member else None,
            bootstrap=self.bootstrap and per_member,
            loss_scale=float(self.n_members),
            seed=seed,
            predict_batch_size=predict_batch_rows(self.n_members, width),
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags

    def to_onnx(self, path, **kwargs) -> None:
        """Export the fitted model to ONNX; see :func:`skdistill.to_onnx`."""
        from ._export import to_onnx

        to_onnx(self, path, **kwargs)


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
        first chunk's size).

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
        return self._predict_stacked(X, lambda out: self._members(out).mean(axis=0))

    def predict_log_proba(self, X) -> np.ndarray:
        """Log of :meth:`predict_proba`."""
        return np.log(np.clip(self.predict_proba(X), 1e-300, None))

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
            X, lambda out: classification_uncertainty(self._members(out))
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
        is set by the first chunk's size).

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
