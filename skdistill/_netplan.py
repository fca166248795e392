"""How an estimator builds and trains its skorch net: parameters, data plan, callbacks.

Nested parameters are named as skorch names them (``optimizer__momentum``,
``callbacks__<name>__<param>``, ``module__*``, ``core__*``) and handed on to
the net or the module; ``_make_net`` builds the :class:`StackedNet`,
``_fit_net`` trains it under a seeded RNG.
"""

from __future__ import annotations

import copy
import functools
import logging
import warnings

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from skorch.callbacks import Callback
from skorch.helper import predefined_split

from ._outputs import _host_tensor
from ._validation import _check_sizes
from .training import DelayedEarlyStopping, StackedNet, resolve_device, seeded

logger = logging.getLogger("skdistill")

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


def _silent(*args, **kwargs):
    """A sink that prints nothing (picklable, unlike a lambda)."""


def _is_optimizer_class(opt) -> bool:
    """A ``torch.optim.Optimizer`` class, or a ``functools.partial`` of one."""
    if isinstance(opt, functools.partial):
        opt = opt.func
    return isinstance(opt, type) and issubclass(opt, torch.optim.Optimizer)


def _fresh_callback(entry):
    """A copy of a callback (or ``(name, callback)``) for one fit.

    A fit must not change the user's callback objects (skorch sets state on
    them); one that cannot be copied, such as ``TensorBoard`` holding a
    ``SummaryWriter`` (a thread lock, an open file), is used as given.
    """
    try:
        return copy.deepcopy(entry)
    except (TypeError, AttributeError, copy.Error):
        return entry


def auto_batch_size(n_rows: int) -> int:
    """``batch_size="auto"``: about ten steps per epoch, between 16 and 200 rows.

    ``min(200, n)`` (scikit-learn's MLP rule) gives a table of a few hundred
    rows one or two optimiser steps per epoch, and a network that has barely
    moved after a hundred epochs; this rule keeps ten steps per epoch on small
    tables and 200-row batches on large ones.
    """
    return int(min(200, max(16, n_rows // 10), max(1, n_rows)))


class NetBuildingMixin:
    """Parameters, the data plan and the skorch net (part of the estimators' mixin)."""

    #: Prefixes of the nested parameters, named as skorch names them:
    #: ``optimizer__momentum``, ``callbacks__<name>__<param>``, and the
    #: networks' own (``module__*`` for ensembles, ``core__*``/``head__*``
    #: for distillers' students).
    _nested_prefixes: tuple[str, ...] = ("optimizer__", "callbacks__")

    # ----------------------------------------------------------------- params
    def _set_nested(self, params) -> None:
        """Store nested parameters (``optimizer__momentum=0.9``) as attributes.

        Nothing is checked here (scikit-learn's rule for ``__init__`` and
        ``set_params``): a keyword that is no nested parameter is refused
        by ``fit``, with its name.
        """
        keys = list(getattr(self, "_nested_keys", ()))
        for key, value in params.items():
            setattr(self, key, value)
            if key not in keys:
                keys.append(key)
        self._nested_keys = tuple(keys)

    def _nested_params(self, prefix=None) -> dict:
        """The nested parameters set; with ``prefix``, those under it, unprefixed."""
        found = {k: getattr(self, k) for k in getattr(self, "_nested_keys", ())}
        if prefix is None:
            return found
        return {k[len(prefix) :]: v for k, v in found.items() if k.startswith(prefix)}

    def _check_nested(self) -> None:
        for key in self._nested_params():
            if not key.startswith(self._nested_prefixes) or key.endswith("__"):
                raise TypeError(
                    f"{type(self).__name__} got an unexpected keyword argument "
                    f"{key!r}; nested parameters start with "
                    f"{', '.join(repr(p) for p in self._nested_prefixes)}"
                )
            if key.startswith("callbacks__") and key.count("__") < 2:
                raise ValueError(
                    f"{key} names no callback parameter: use "
                    "callbacks__<name>__<parameter>, with the callback's name "
                    "as given in callbacks=[(name, callback)] (or its class name)"
                )

    def get_params(self, deep=True):
        """Parameters of the estimator, nested ones (``optimizer__lr``, ...) included."""
        params = super().get_params(deep=deep)
        params.update(self._nested_params())
        return params

    def set_params(self, **params):
        """Set parameters, nested ones included: ``optimizer__momentum=0.9``,
        ``callbacks__lr__step_size=3``, ``module__channels=32`` (ensembles)
        or ``core__width=2`` (distillers), as for a skorch net."""
        valid = set(self._get_param_names())
        nested = {
            k: v
            for k, v in params.items()
            if k.startswith(self._nested_prefixes) or k.split("__", 1)[0] not in valid
        }
        self._set_nested(nested)
        rest = {k: v for k, v in params.items() if k not in nested}
        return super().set_params(**rest) if rest else self

    def _check_common_params(self):
        """Validate the parameters, once per fit: the constraints, then the rest.

        ``_parameter_constraints`` cover each parameter's type and range
        (``fit`` and ``partial_fit`` check them first, through scikit-learn's
        ``_fit_context``); this covers what a constraint cannot: entries of a sequence, parameters that must agree,
        the optimizer class, the callbacks' entries, the device.
        """
        self.hidden_layer_sizes_ = _check_sizes(
            "hidden_layer_sizes", getattr(self, "hidden_layer_sizes", ())
        )
        if self.early_stopping and self.validation_fraction <= 0:
            raise ValueError(
                "early_stopping=True needs validation_fraction > 0 to hold out "
                "a validation set"
            )
        if not isinstance(self.optimizer, str) and not _is_optimizer_class(
            self.optimizer
        ):
            raise TypeError(
                "optimizer must be a name, a torch.optim.Optimizer class, or a "
                "functools.partial of one (e.g. partial(torch.optim.SGD, "
                "momentum=0.9)); or set optimizer__momentum=0.9"
            )
        self._check_nested()
        if self.callbacks is not None and not all(
            isinstance(cb, Callback) or (isinstance(cb, tuple) and len(cb) == 2)
            for cb in self.callbacks
        ):
            raise TypeError(
                "callbacks must be a list of skorch callbacks or (name, callback) pairs"
            )
        accelerator = getattr(self, "accelerator", None)
        if accelerator is None:
            self.device_ = resolve_device(self.device)
            return
        try:
            from accelerate import Accelerator
        except ImportError:  # pragma: no cover - an accelerator implies accelerate
            Accelerator = ()
        if not isinstance(accelerator, Accelerator):
            raise TypeError(
                "accelerator must be an accelerate.Accelerator instance or None; "
                f"got {type(accelerator).__name__}"
            )
        if self.device not in ("auto", None):
            raise ValueError(
                f"device={self.device!r} conflicts with accelerator: the "
                "accelerator places the model on its own device; leave "
                "device='auto'"
            )
        self.device_ = str(accelerator.device)

    def _seed(self):
        """An integer seed drawn from ``random_state`` (sklearn's convention).

        Under a multi-process accelerator every process must shuffle alike
        (each takes its share of the same batches), so the main process's
        seed is broadcast to the others.
        """
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        accelerator = getattr(self, "accelerator", None)
        if accelerator is not None and accelerator.num_processes > 1:
            from accelerate.utils import broadcast_object_list

            seed = int(broadcast_object_list([seed], from_process=0)[0])
        return seed

    def _split(self, X, y, seed, stratify):
        """Hold out ``validation_fraction`` of the rows, as sklearn's MLP does."""
        if self.validation_fraction <= 0:
            return X, y, None, None
        if len(X) < 2:
            # Nothing to hold out: train on the one row, without early stopping.
            warnings.warn(
                f"{type(self).__name__}: {len(X)} training row cannot be split "
                f"for validation_fraction={self.validation_fraction}; training on "
                "it without a validation set (and without early stopping)",
                UserWarning,
                stacklevel=4,
            )
            return X, y, None, None
        strat = y if stratify else None
        if stratify and np.min(np.bincount(y)) < 2:
            strat = None
        try:
            X_tr, X_va, y_tr, y_va = train_test_split(
                X,
                y,
                test_size=self.validation_fraction,
                random_state=seed,
                stratify=strat,
            )
        except ValueError:
            X_tr, X_va, y_tr, y_va = train_test_split(
                X, y, test_size=self.validation_fraction, random_state=seed
            )
        if len(X_va) == 0 or len(X_tr) == 0:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves an empty "
                f"training or validation set with {len(X)} samples"
            )
        return X_tr, y_tr, X_va, y_va

    def _plan_data(self, *arrays):
        """Decide, once per fit, whether the training tensors go to the device.

        ``device_data=True`` moves them there (the fast path: batches are
        device slices); ``False`` keeps them in host memory and moves each
        batch; ``"auto"`` keeps them on the host only when, on CUDA, they
        would fill more than half of the device's free memory, and says so
        in the ``"skdistill"`` logger.
        """
        setting = getattr(self, "device_data", True)
        device = torch.device(self.device_)
        on_device = setting is True or device.type == "cpu"
        if setting == "auto" and device.type == "cuda":
            nbytes = sum(4 * int(np.prod(np.shape(a))) for a in arrays if a is not None)
            free, _ = torch.cuda.mem_get_info(device)
            on_device = nbytes <= free // 2
            if not on_device:
                msg = (
                    f"the training data ({nbytes / 2**20:.0f} MiB as float32) "
                    f"would fill more than half of the free memory of {device} "
                    f"({free / 2**20:.0f} MiB): keeping it in host memory and "
                    "moving each batch (device_data='auto')"
                )
                logger.info(msg)
                if self.verbose:
                    print(msg)
        self.data_device_ = str(device) if on_device else "cpu"

    def _to_device(self, array, dtype=torch.float32):
        device = getattr(self, "data_device_", None) or self.device_
        return _host_tensor(array).to(device=device, dtype=dtype)

    # -------------------------------------------------------------------- net
    def _optimizer_class(self):
        if isinstance(self.optimizer, str):
            return OPTIMIZERS[self.optimizer.lower()]
        return self.optimizer

    def _batch_rows(self) -> int:
        """Rows per training step: ``batch_size``, or the ``"auto"`` rule's choice."""
        if self.batch_size != "auto":
            return int(self.batch_size)
        return auto_batch_size(getattr(self, "n_train_rows_", 200))

    def _early_stopping_start(self) -> float:
        """Share of ``max_epochs`` before early stopping starts to watch."""
        return 0.0

    def _callbacks(self, has_valid):
        callbacks = [_fresh_callback(cb) for cb in self.callbacks or []]
        if self.early_stopping and has_valid:
            callbacks.append(
                (
                    "early_stopping",
                    DelayedEarlyStopping(
                        start=self._early_stopping_start(),
                        monitor="valid_loss",
                        patience=self.n_iter_no_change,
                        load_best=True,
                        sink=print if self.verbose else _silent,
                    ),
                )
            )
        return callbacks

    def _make_net(
        self,
        module,
        criterion,
        *,
        module_params=None,
        criterion_params=None,
        valid_data=None,
        n_members=None,
        bootstrap=False,
        loss_scale=1.0,
        seed=0,
        predict_batch_size=4096,
        extra_ratio=1.0,
        extra_callbacks=(),
        diversity=0.0,
    ):
        """The initialised :class:`StackedNet` of ``module`` and ``criterion``.

        As a skorch user writes it: ``module`` and ``criterion`` are classes,
        given their ``module__*``/``criterion__*`` parameters from
        ``module_params``/``criterion_params``, and the optimizer is a class
        (or partial) with ``optimizer__*``. ``initialize`` builds them here,
        under ``seed``, so a fit is reproducible without touching the
        caller's random state; :meth:`_fit_net` then trains.
        """
        opt = self._optimizer_class()
        kwargs = {"optimizer__weight_decay": self.weight_decay}
        # skorch takes the nested optimizer and callback parameters as they are.
        kwargs.update(
            (k, v)
            for k, v in self._nested_params().items()
            if k.startswith(("optimizer__", "callbacks__", "compile__"))
        )
        if torch.device(self.device_).type in ("cuda", "cpu") and opt in (
            torch.optim.Adam,
            torch.optim.AdamW,
        ):
            # One kernel per step instead of one per operation and tensor: on
            # the CPU the optimiser step is about 5 times faster than torch's
            # default (per-tensor) Adam, some 5% of a training step.
            kwargs["optimizer__fused"] = True
        net_class, device = StackedNet, self.device_
        accelerator = getattr(self, "accelerator", None)
        if accelerator is not None:
            from ._accelerate import AcceleratedStackedNet

            net_class = AcceleratedStackedNet
            kwargs["accelerator"] = accelerator
            # The mixin's print log prints whatever verbose says; "auto"
            # prints through the accelerator, on the main process only.
            kwargs["callbacks__print_log__sink"] = "auto" if self.verbose else _silent
            device = None if accelerator.device_placement else self.device_
        # skorch's way: classes plus ``module__*``/``criterion__*`` parameters,
        # instantiated by ``initialize`` (below, under the fit's seed).
        for prefix, params in (
            ("module", module_params),
            ("criterion", criterion_params),
        ):
            kwargs.update((f"{prefix}__{k}", v) for k, v in (params or {}).items())
        net = net_class(
            module,
            criterion,
            n_members=n_members,
            bootstrap=bootstrap,
            seed=seed,
            loss_scale=loss_scale,
            predict_batch_size=predict_batch_size,
            extra_ratio=extra_ratio,
            task=getattr(self, "task_", None) or getattr(self, "_task", None),
            diversity=diversity,
            optimizer=opt,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self._batch_rows(),
            train_split=predefined_split(valid_data)
            if valid_data is not None
            else None,
            callbacks=[*extra_callbacks, *self._callbacks(valid_data is not None)],
            verbose=int(self.verbose),
            device=device,
            compile=bool(getattr(self, "compile", False)),
            **kwargs,
        )
        with seeded(seed, self.device_):
            net.initialize()
        return net

    def _streaming_net(self, net, continuing=False):
        """``net`` ready for ``partial_fit``: no validation split, no early stop.

        A net fitted by ``fit`` with early stopping carries its callback, which
        needs a validation loss that a chunk of a stream does not have. A
        ``continuing`` net (fitted before) takes today's ``lr``,
        ``weight_decay``, ``optimizer__*`` and ``batch_size``, as skorch's
        ``set_params`` applies them to a fitted net: into the optimizer's
        parameter groups, its state (Adam's moments) kept. Its optimizer class
        and callbacks stay those of the call that built it (their state
        carries from chunk to chunk); a changed ``optimizer`` says so.
        """
        if continuing:
            hyper = {"lr": self.lr, "optimizer__weight_decay": self.weight_decay}
            hyper.update(
                (k, v)
                for k, v in self._nested_params().items()
                if k.startswith("optimizer__")
            )
            net.set_params(**hyper)
            net.batch_size = self._batch_rows()
            built = getattr(net.optimizer_, "optimizer", net.optimizer_)  # accelerate
            wanted = self._optimizer_class()
            wanted = getattr(wanted, "func", wanted)  # a partial
            if type(built) is not wanted:
                warnings.warn(
                    f"partial_fit goes on with the {type(built).__name__} "
                    f"optimizer of its first call (its state carries on); "
                    f"optimizer={self.optimizer!r} applies from the next fit",
                    UserWarning,
                    stacklevel=4,
                )
        net.train_split = None

        def keep(entry):
            return not (isinstance(entry, tuple) and entry[0] == "early_stopping")

        net.callbacks = [c for c in net.callbacks or () if keep(c)]
        if hasattr(net, "callbacks_"):
            net.callbacks_ = [c for c in net.callbacks_ if keep(c)]
        return net

    def _fit_net(self, net, train_data, seed, epochs=None, warm=False):
        """Train the initialised ``net`` on ``train_data`` under a seeded torch RNG.

        ``epochs`` (None: ``max_epochs``) more epochs: the net was initialised
        when it was made, so a fresh net and a warm start train alike. With
        ``warm`` (a fitted net trained on in place by ``warm_start``), only
        this call's epochs count (``net`` carries the fitted net's history;
        see ``_warm_net``, which leaves the fitted net untouched).
        """
        done_before = len(net.history) if warm else 0
        with seeded(seed, self.device_):
            net.partial_fit(train_data, None, epochs=epochs)
        # The validation split must not travel with the fitted model.
        net.train_split = None
        if getattr(net, "interrupted_", False) and not any(
            "train_loss" in epoch for epoch in net.history[done_before:]
        ):
            # Ctrl-C before one epoch of this call ended: nothing usable was
            # trained, and the estimator keeps its state from before this fit.
            raise KeyboardInterrupt(
                f"{type(self).__name__}: training was interrupted before its "
                "first epoch ended"
            )
        self.net_ = net
        self.history_ = net.history
        if getattr(net, "interrupted_", False):
            # The epoch cut short is in the history as far as it went (its
            # batches), without epoch losses: it is not counted as done.
            done = sum("train_loss" in e for e in net.history[done_before:])
            warnings.warn(
                f"{type(self).__name__}: training was interrupted (KeyboardInterrupt) "
                f"after {done} epoch(s) of this fit; the "
                "model keeps the weights "
                "it had then and can be used, or trained on with warm_start=True",
                UserWarning,
                stacklevel=3,
            )
        return net

    def _init_net(self):
        """A new, initialised net with the fitted architecture (for loading)."""
        return self._build_net(None, 0)
