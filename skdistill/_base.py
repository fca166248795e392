"""What every skdistill estimator shares: parameters, validation, the skorch net.

An estimator stores its parameters in ``__init__`` and nothing else. ``fit``
validates the data, moves it to the device once, builds a
:class:`~skdistill.training.StackedNet` around a torch module and a loss, and
keeps the fitted net as ``net_`` (its history as ``history_``).
"""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import Callback, EarlyStopping
from skorch.helper import predefined_split

from .training import StackedNet, TensorData, resolve_device, seeded

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


def _silent(*args, **kwargs):
    """A sink that prints nothing (picklable, unlike a lambda)."""


def _check_int(name, value, low=1):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < low
    ):
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")


def _check_float(name, value, low=0.0, high=None, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number; got {value!r}")
    bad_low = value <= low if low_open else value < low
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high or not np.isfinite(value):
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(
            f"{name} must be in {lo}{low}, {high or 'inf'}{hi}; got {value!r}"
        )


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


class NeuralEstimatorMixin:
    """Parameter checks, data handling and the skorch net, for every estimator.

    Subclasses define ``_build_module``, ``_build_criterion`` and the fit logic;
    they call :meth:`_fit_net` with tensor data already on the device.
    """

    # ----------------------------------------------------------------- params
    def _check_common_params(self):
        self.hidden_layer_sizes_ = _check_sizes(
            "hidden_layer_sizes", getattr(self, "hidden_layer_sizes", ())
        )
        _check_float("dropout", self.dropout, 0.0, 1.0, high_open=True)
        _check_int("max_epochs", self.max_epochs)
        _check_int("batch_size", self.batch_size)
        _check_float("lr", self.lr, 0.0, low_open=True)
        _check_float("weight_decay", self.weight_decay, 0.0)
        _check_float(
            "validation_fraction", self.validation_fraction, 0.0, 1.0, high_open=True
        )
        _check_int("n_iter_no_change", self.n_iter_no_change)
        if self.early_stopping and self.validation_fraction <= 0:
            raise ValueError(
                "early_stopping=True needs validation_fraction > 0 to hold out "
                "a validation set"
            )
        if isinstance(self.optimizer, str):
            if self.optimizer.lower() not in OPTIMIZERS:
                raise ValueError(
                    f"optimizer={self.optimizer!r} is unknown; use one of "
                    f"{sorted(OPTIMIZERS)} or a torch.optim.Optimizer class"
                )
        elif not (
            isinstance(self.optimizer, type)
            and issubclass(self.optimizer, torch.optim.Optimizer)
        ):
            raise TypeError("optimizer must be a name or a torch.optim.Optimizer class")
        if self.callbacks is not None and not all(
            isinstance(cb, Callback) or (isinstance(cb, tuple) and len(cb) == 2)
            for cb in self.callbacks
        ):
            raise TypeError(
                "callbacks must be a list of skorch callbacks or (name, callback) pairs"
            )
        self.device_ = resolve_device(self.device)

    # ------------------------------------------------------------------- data
    def _validate_X(self, X, *, reset):
        return validate_data(
            self, X, reset=reset, dtype=[np.float32, np.float64], ensure_min_samples=1
        )

    def _validate_classification(self, X, y):
        X, y = validate_data(self, X, y, dtype=[np.float32, np.float64])
        check_classification_targets(y)
        classes, y_enc = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes; "
                f"the data contain 1 class: {classes[0]!r}"
            )
        self.classes_ = classes
        return X, y_enc

    def _validate_regression(self, X, y):
        X, y = validate_data(self, X, y, dtype=[np.float32, np.float64], y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        if not np.all(np.isfinite(y)):
            raise ValueError("Input y contains NaN or infinity.")
        return X, y

    def _seed(self):
        """An integer seed drawn from ``random_state`` (sklearn's convention)."""
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _split(self, X, y, seed, stratify):
        """Hold out ``validation_fraction`` of the rows, as sklearn's MLP does."""
        if self.validation_fraction <= 0:
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

    def _to_device(self, array, dtype=torch.float32):
        return _host_tensor(array).to(device=self.device_, dtype=dtype)

    # -------------------------------------------------------------------- net
    def _optimizer_class(self):
        if isinstance(self.optimizer, str):
            return OPTIMIZERS[self.optimizer.lower()]
        return self.optimizer

    def _callbacks(self, has_valid):
        callbacks = copy.deepcopy(list(self.callbacks or []))
        if self.early_stopping and has_valid:
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
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
        valid_data=None,
        n_members=None,
        bootstrap=False,
        loss_scale=1.0,
        seed=0,
        predict_batch_size=4096,
    ):
        opt = self._optimizer_class()
        kwargs = {"optimizer__weight_decay": self.weight_decay}
        if torch.device(self.device_).type == "cuda" and opt in (
            torch.optim.Adam,
            torch.optim.AdamW,
        ):
            kwargs["optimizer__fused"] = True
        return StackedNet(
            module,
            criterion,
            n_members=n_members,
            bootstrap=bootstrap,
            seed=seed,
            loss_scale=loss_scale,
            predict_batch_size=predict_batch_size,
            optimizer=opt,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=predefined_split(valid_data)
            if valid_data is not None
            else None,
            callbacks=self._callbacks(valid_data is not None),
            verbose=int(self.verbose),
            device=self.device_,
            **kwargs,
        )

    def _fit_net(self, net, train_data, seed, epochs=None):
        """Fit ``net`` on ``train_data`` under a forked, seeded torch RNG."""
        with seeded(seed, self.device_), warnings.catch_warnings():
            # skorch warns that an initialised module passed in is re-used: intended.
            warnings.filterwarnings("ignore", message=".*initialized.*module.*")
            if epochs is None:
                net.fit(train_data, None)
            else:
                net.partial_fit(train_data, None, epochs=epochs)
        # The validation split must not travel with the fitted model.
        net.train_split = None
        self.net_ = net
        self.history_ = net.history
        return net

    def _predict_stacked(self, X) -> np.ndarray:
        """Validated ``X`` through the fitted net: ``(n, n_stack, n_out)`` float64."""
        check_is_fitted(self, "net_")
        X = self._validate_X(X, reset=False)
        out = self.net_.predict_stacked(TensorData(_host_tensor(X, np.float32)))
        out = out.astype(np.float64)
        if not np.all(np.isfinite(out)):
            raise ValueError(
                "the network produced non-finite outputs for this input; its "
                "values may lie far outside the training range"
            )
        return out


def _host_tensor(array, dtype=None) -> torch.Tensor:
    """A CPU tensor sharing ``array``'s memory where it may (copied if read-only)."""
    array = np.ascontiguousarray(array, dtype=dtype)
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array)


def predict_batch_rows(n_stack: int, width: int, budget: int = 1 << 24) -> int:
    """Rows per prediction batch so activations stay within ``budget`` floats."""
    rows = budget // max(1, n_stack * max(1, width))
    return int(min(65536, max(256, rows)))


class BaseNeuralEstimator(NeuralEstimatorMixin, BaseEstimator):
    """Base class (for ``isinstance`` checks and shared docs)."""
