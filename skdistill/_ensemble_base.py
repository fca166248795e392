"""What both deep ensembles share: parameters, data, the net of stacked members.

:class:`~skdistill.EnsembleClassifier` and :class:`~skdistill.EnsembleRegressor`
(in :mod:`skdistill.ensemble`) are this base plus their task's targets,
outputs and documentation.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator

from ._base import (
    ACTIVATIONS_PER_INPUT,
    NeuralEstimatorMixin,
    predict_batch_rows,
)
from .nn.criteria import EnsembleCriterion
from .nn.modules import StackedEnsemble, module_factory, n_outputs, output_width
from .training import TensorData, seeded

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
        the next ``fit`` instead of starting again: weights, optimizer state
        and history go on; the other parameters (``lr``, ``callbacks``, ...)
        are taken as they are now. The architecture must not change.
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
        long fits. ``compile__*`` parameters go to ``torch.compile`` as
        skorch passes them, e.g. ``compile__mode="reduce-overhead"`` (CUDA
        graphs on a GPU; on an H200 that fit at 0.86-0.88x the plain one's
        speed, since the loss and the optimiser step stay eager).
    **kwargs
        Nested parameters, named as for a skorch net and reached by
        ``get_params``, ``set_params``, ``clone`` and ``GridSearchCV``:
        ``optimizer__<param>`` (``optimizer__momentum=0.9``),
        ``callbacks__<name>__<param>`` (``callbacks__lr__step_size=3``, for
        ``callbacks=[("lr", LRScheduler(...))]``) and ``module__<param>``
        (the ``module`` class's own). Any other keyword is an error.
"""


class _BaseEnsemble(NeuralEstimatorMixin, BaseEstimator):
    _task = "classification"
    _nested_prefixes = ("optimizer__", "callbacks__", "module__", "compile__")

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
        factory = module_factory(
            self.module, self._nested_params("module__"), "module",
            "the default MLP is set with hidden_layer_sizes, activation and dropout",
        )  # fmt: skip
        if factory is None:
            return None
        # One member built here, to check its sizes on a dummy batch.
        n_out = 2 if self._task == "regression" else self._n_outputs()
        member = factory(self._in_size(), n_out)
        output_width(
            member, self.input_shape_, n_out,
            name=f"module={type(member).__name__}(...)",
            role="each member",
        )  # fmt: skip
        return factory

    def _n_outputs(self):
        return n_outputs(self._task, getattr(self, "classes_", None))

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
            net = self._warm_net(valid, seed)
            self._fit_net(net, train, seed, epochs=self.max_epochs, warm=True)
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
        self._fit_net(
            self._streaming_net(net, continuing=not first), train, seed, epochs=1
        )
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

    def _warm_net(self, valid, seed):
        """A net of today's parameters that goes on from the fitted one.

        ``warm_start`` continues the fitted weights, optimizer state and
        history, but with the parameters as they are now (``lr``,
        ``weight_decay``, ``batch_size``, ``callbacks``, ``optimizer``...),
        as scikit-learn's warm starts do; a new optimizer class starts from
        a fresh state. The fitted net itself is not touched, so a fit that
        fails or is interrupted leaves it as it was.
        """
        old = self.net_
        net = self._build_net(valid, seed)
        try:
            net.module_.load_state_dict(old.module_.state_dict())
        except RuntimeError:
            raise ValueError(
                "warm_start=True trains on from the fitted network, so its "
                "architecture (n_members, hidden_layer_sizes, module and its "
                "module__* parameters) must stay as it was; set warm_start="
                "False to fit a new one"
            ) from None
        if type(net.optimizer_) is type(old.optimizer_):
            hyper = [
                {k: v for k, v in group.items() if k != "params"}
                for group in net.optimizer_.param_groups
            ]
            net.optimizer_.load_state_dict(old.optimizer_.state_dict())
            for group, values in zip(net.optimizer_.param_groups, hyper):
                group.update(values)  # today's lr, weight decay, ...
        net.history = copy.deepcopy(old.history)
        return net

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
            predict_batch_size=predict_batch_rows(
                self.n_members, width, device=self.device_
            ),
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags

    def to_onnx(self, path, **kwargs) -> None:
        """Export the fitted model to ONNX; see :func:`skdistill.to_onnx`."""
        from ._export import to_onnx

        to_onnx(self, path, **kwargs)
