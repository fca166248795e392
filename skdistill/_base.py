"""What every skdistill estimator shares: parameters, validation, the skorch net.

An estimator stores its parameters in ``__init__`` and nothing else. ``fit``
validates the data, moves it to the device once, builds a
:class:`~skdistill.training.StackedNet` around a torch module and a loss, and
keeps the fitted net as ``net_`` (its history as ``history_``).
"""

from __future__ import annotations

import copy
import functools
import logging
import numbers
import warnings

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)
from skorch.callbacks import Callback
from skorch.helper import predefined_split

from . import _persistence
from .training import (
    DelayedEarlyStopping,
    StackedNet,
    TensorData,
    resolve_device,
    seeded,
)

logger = logging.getLogger("skdistill")

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
        hi = ")" if high_open or high is None else "]"
        top = "inf" if high is None else high
        raise ValueError(f"{name} must be in {lo}{low}, {top}{hi}; got {value!r}")


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


def _fitted_state(est) -> dict:
    return {
        k: v
        for k, v in est.__dict__.items()
        if k.endswith("_") and not k.startswith("__")
    }


def transactional(fit):
    """Make ``fit`` all or nothing: a fit that raises leaves the estimator as it was.

    The fitted attributes (names ending in ``_``) are put back exactly as
    they were before the call, or removed if there were none, whatever the
    exception, ``KeyboardInterrupt`` included. With ``warm_start`` the
    network trains in place, so a copy of it is kept until the fit ends.
    A Ctrl-C *after* the first epoch is not an exception here: the training
    layer ends the fit normally with the weights it has, and warns.
    """

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        before = _fitted_state(self)
        net = before.get("net_")
        # warm_start and partial_fit train the fitted net in place.
        in_place = getattr(self, "warm_start", False) or fit.__name__ == "partial_fit"
        kept_net = copy.deepcopy(net) if net is not None and in_place else None
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            for key in _fitted_state(self):
                del self.__dict__[key]
            self.__dict__.update(before)
            if kept_net is not None:
                self.net_, self.history_ = kept_net, kept_net.history
            raise

    return wrapper


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
        if self.batch_size != "auto":
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
        device_data = getattr(self, "device_data", True)
        if not (isinstance(device_data, bool) or device_data == "auto"):
            raise ValueError(
                f"device_data must be True, False or 'auto'; got {device_data!r}"
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

    # ------------------------------------------------------------------- data
    def _check_frame(self, X):
        """Refuse an empty DataFrame clearly (sklearn fails on it in numpy)."""
        shape = getattr(X, "shape", None)
        if hasattr(X, "columns") and shape is not None and 0 in tuple(shape):
            raise ValueError(
                f"X is an empty DataFrame (shape={tuple(shape)}); "
                f"{type(self).__name__} needs at least 1 sample and 1 feature"
            )

    def _validate_X(self, X, *, reset):
        self._check_frame(X)
        X = validate_data(
            self, X, reset=reset, dtype=[np.float64, np.float32], ensure_min_samples=1
        )
        return _check_float32_range(X)

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
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        _check_float32_range(X)
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
        X, y = validate_data(self, X, y, reset=first, dtype=[np.float64, np.float32])
        _check_float32_range(X)
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
            self, X, y, reset=reset, dtype=[np.float64, np.float32], y_numeric=True
        )
        _check_float32_range(X)
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

    # ------------------------------------------------------- regression scale
    def _fit_target_scale(self, y, weights=None) -> None:
        """Record ``y_mean_`` and ``y_scale_``: the net trains on standardised y.

        With row weights, the weighted mean and standard deviation (so that
        integer weights give the scale of the repeated rows).
        """
        mean = float(np.average(y, weights=weights))
        scale = float(np.sqrt(np.average((y - mean) ** 2, weights=weights)))
        self.y_mean_ = mean
        self.y_scale_ = scale if scale > 0 else 1.0

    def _stacked_gaussians(self, out):
        """Stacked ``(n, M, 2)`` outputs -> (means, variances) in y's units, ``(M, n)``."""
        means = out[..., 0].T * self.y_scale_ + self.y_mean_
        return means, out[..., 1].T * self.y_scale_**2

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
        callbacks = copy.deepcopy(list(self.callbacks or []))
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
        valid_data=None,
        n_members=None,
        bootstrap=False,
        loss_scale=1.0,
        seed=0,
        predict_batch_size=4096,
        extra_ratio=1.0,
        extra_callbacks=(),
    ):
        opt = self._optimizer_class()
        kwargs = {"optimizer__weight_decay": self.weight_decay}
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
        return net_class(
            module,
            criterion,
            n_members=n_members,
            bootstrap=bootstrap,
            seed=seed,
            loss_scale=loss_scale,
            predict_batch_size=predict_batch_size,
            extra_ratio=extra_ratio,
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

    def _streaming_net(self, net):
        """``net`` ready for ``partial_fit``: no validation split, no early stop.

        A net fitted by ``fit`` with early stopping carries its callback, which
        needs a validation loss that a chunk of a stream does not have.
        """
        net.train_split = None

        def keep(entry):
            return not (isinstance(entry, tuple) and entry[0] == "early_stopping")

        net.callbacks = [c for c in net.callbacks or () if keep(c)]
        if hasattr(net, "callbacks_"):
            net.callbacks_ = [c for c in net.callbacks_ if keep(c)]
        return net

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
        if getattr(net, "interrupted_", False) and not any(
            "train_loss" in epoch for epoch in net.history
        ):
            # Ctrl-C before one epoch ended: nothing usable was trained, and
            # the estimator keeps its state from before this fit.
            raise KeyboardInterrupt(
                f"{type(self).__name__}: training was interrupted before its "
                "first epoch ended"
            )
        self.net_ = net
        self.history_ = net.history
        if getattr(net, "interrupted_", False):
            warnings.warn(
                f"{type(self).__name__}: training was interrupted (KeyboardInterrupt) "
                f"after {len(net.history)} epoch(s); the model keeps the weights "
                "it had then and can be used, or trained on with warm_start=True",
                UserWarning,
                stacklevel=3,
            )
        return net

    def _predict_stacked(self, X, reduce=None):
        """Validated ``X`` through the fitted net, one prediction batch at a time.

        Without ``reduce``: the stacked outputs ``(n, n_stack, n_out)``,
        float64. With ``reduce``: ``reduce(out)`` of every batch's outputs,
        assembled (see :meth:`_reduce_outputs`).
        """
        check_is_fitted(self, "net_")
        return self._reduce_outputs(self._validate_X(X, reset=False), reduce)

    def _reduce_outputs(self, X, reduce=None, name="network"):
        """Run a validated 2-D array through the net and reduce each batch.

        ``reduce(out)`` receives one batch's stacked outputs, ``(b, n_stack,
        n_out)`` float64, and returns an array, a tuple of arrays or a
        ``Bunch`` of arrays, each with ``b`` rows. The results are written
        into arrays allocated once for all rows, so the peak memory is the
        result plus one batch: ``predict_proba`` on 10^7 rows never holds
        every member's output at once. ``X`` is cast to float32 batch by
        batch, never copied whole.
        """
        n = len(X)
        result, start = None, 0
        for out in self.net_.iter_stacked(TensorData(_host_tensor(X))):
            out = out.astype(np.float64)
            if not np.all(np.isfinite(out)):
                raise ValueError(
                    f"the {name} produced non-finite outputs for this input; its "
                    "values may lie far outside the training range"
                )
            part = out if reduce is None else reduce(out)
            if result is None:
                result = _allocate_like(part, n)
            _assign_rows(result, part, start)
            start += len(out)
        return result

    # ------------------------------------------------------------ persistence
    def __getstate__(self):
        state = dict(super().__getstate__())  # never the live __dict__
        if state.get("accelerator") is not None:
            # An Accelerator belongs to the process (and device) that made it;
            # to train on with one after loading, pass a new one (set_params).
            state["accelerator"] = None
        state["_skdistill_version"] = _persistence.current_version()
        return state

    def __setstate__(self, state):
        saved = state.pop("_skdistill_version", None)
        _persistence.check_version(saved, type(self).__name__)
        super().__setstate__(state)
        net = self.__dict__.get("net_")
        if net is not None and "device_" in self.__dict__:
            # skorch maps a CUDA net to the CPU where there is no CUDA device.
            self.device_ = str(net.device) if net.device is not None else "cpu"
            if "data_device_" in self.__dict__:
                self.data_device_ = self.device_

    def _init_net(self):
        """A new, initialised net with the fitted architecture (for loading)."""
        net = self._build_net(None, 0)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*initialized.*module.*")
            net.initialize()
        return net

    def save(self, path) -> None:
        """Save the fitted estimator to one file that holds data, not code.

        Loading the file with :func:`skdistill.load` runs no code from it:
        parameters and fitted attributes are JSON and ``.npy`` arrays, the
        network's weights skorch's ``save_params`` files (read with
        ``weights_only=True``), scikit-learn teachers ``skops.io``
        blobs. The write is atomic: a temporary file in the same folder,
        synced, then renamed over ``path``, so a save that fails leaves an
        earlier file as it was. ``load`` can place the model on another
        device (a CUDA-fitted model on a CPU machine, say).

        Parameters
        ----------
        path : str or path-like
            The file to write (a zip archive; ``.skd`` is a good suffix).

        Raises
        ------
        TypeError
            An attribute or parameter cannot be stored as data (a lambda,
            say); nothing is written.
        """
        _persistence.save(self, path)


def _host_tensor(array, dtype=None) -> torch.Tensor:
    """A CPU tensor sharing ``array``'s memory where it may.

    A read-only array (a joblib or dask memory map, say) is shared too: the
    tensor is only ever read (sliced, gathered, copied to the device), so
    there is no need to copy it, whatever its size.
    """
    array = np.ascontiguousarray(array, dtype=dtype)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not writ.*", category=UserWarning)
        return torch.from_numpy(array)


def stacked_probabilities(logits: np.ndarray) -> np.ndarray:
    """Stacked ``(n, M, K)`` logits -> member probabilities ``(M, n, K)``."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).transpose(1, 0, 2)


def _allocate_like(part, n):
    """Empty arrays shaped like ``part`` (an array, tuple or Bunch) with ``n`` rows."""
    if isinstance(part, dict):
        return type(part)(**{k: _allocate_like(v, n) for k, v in part.items()})
    if isinstance(part, tuple):
        return tuple(_allocate_like(v, n) for v in part)
    return np.empty((n, *np.shape(part)[1:]), dtype=np.asarray(part).dtype)


def _assign_rows(result, part, start):
    if isinstance(part, dict):
        for k, v in part.items():
            _assign_rows(result[k], v, start)
    elif isinstance(part, tuple):
        for r, v in zip(result, part):
            _assign_rows(r, v, start)
    else:
        result[start : start + len(part)] = part


def auto_batch_size(n_rows: int) -> int:
    """``batch_size="auto"``: about ten steps per epoch, between 16 and 200 rows.

    ``min(200, n)`` (scikit-learn's MLP rule) gives a table of a few hundred
    rows one or two optimiser steps per epoch, and a network that has barely
    moved after a hundred epochs; this rule keeps ten steps per epoch on small
    tables and 200-row batches on large ones.
    """
    return int(min(200, max(16, n_rows // 10), max(1, n_rows)))


def predict_batch_rows(n_stack: int, width: int, budget: int = 1 << 24) -> int:
    """Rows per prediction batch so activations stay within ``budget`` floats."""
    rows = budget // max(1, n_stack * max(1, width))
    return int(min(65536, max(256, rows)))
