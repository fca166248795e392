"""The training layer: a thin skorch ``NeuralNet`` subclass and its data path.

Data goes to the device once, as float32 tensors inside a :class:`TensorData`.
:class:`BatchIterator` slices those tensors by index: no per-sample
``__getitem__``, no collation. For ensembles each member draws its own
shuffle (all members' permutations in one ``argsort`` call) and, with
``bootstrap=True``, its own bootstrap sample; batches are then
``(B, n_members, ...)``.

:class:`StackedNet` plugs this into skorch through its hooks only
(``get_dataset``, ``get_iterator``, ``get_loss``, ``train_step_single``), so
skorch's callbacks (``EarlyStopping``, ``Checkpoint``, ``LRScheduler``,
``ProgressBar``) and history work unchanged.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping
from skorch.callbacks.scoring import ScoringBase
from skorch.dataset import unpack_data

from .nn.losses import hydra_diversity

__all__ = [
    "BatchIterator",
    "CriterionSchedule",
    "DelayedEarlyStopping",
    "NonFiniteLossError",
    "StackedNet",
    "TensorData",
    "resolve_device",
    "seeded",
]


def resolve_device(device) -> str:
    """Turn the user's ``device`` into a concrete torch device string.

    ``"auto"`` is CUDA when it is available, else CPU. Asking for CUDA where
    there is none raises a ``ValueError`` instead of failing deep inside torch.
    """
    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a valid torch device: {exc}"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on "
                "this machine; use device='cpu' or device='auto'"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only "
                f"{torch.cuda.device_count()} CUDA device(s) exist"
            )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} was requested but MPS is not available")
    return str(dev)


@contextlib.contextmanager
def seeded(seed: int | None, device: str):
    """Run a block under torch's global RNG seeded with ``seed``, then restore it.

    Initialisation and dropout draw from torch's global generator; forking it
    makes a fit reproducible without touching the caller's random state.
    """
    if seed is None:
        yield
        return
    devices = [torch.device(device)] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class TensorData(torch.utils.data.Dataset):
    """Row-aligned tensors: inputs ``X`` and optional targets ``y``.

    ``y`` may be one tensor or a tuple of tensors (labels plus teacher outputs,
    say); every tensor's first dimension is the row. With ``n_labelled``, the
    rows from ``n_labelled`` on are a pool of extra, unlabelled rows (teacher
    outputs only): a training :class:`BatchIterator` then adds a fresh draw of
    them to every batch of labelled rows.
    """

    def __init__(self, X: torch.Tensor, y=None, n_labelled: int | None = None):
        self.X = X
        self.y = y
        self.n_labelled = n_labelled

    def __len__(self) -> int:
        return len(self.X)

    def _take(self, index):
        if self.y is None:
            return self.X[index], None
        if isinstance(self.y, tuple):
            return self.X[index], tuple(t[index] for t in self.y)
        return self.X[index], self.y[index]

    def __getitem__(self, index):
        return self._take(index)


def _to(obj, device, dtype=None, pin=False):
    """``obj`` (a tensor, a tuple of them or None) on ``device``, asynchronously.

    With ``pin``, a host tensor that is not in page-locked memory is copied
    there first: only a copy from pinned memory runs asynchronously to CUDA
    (``non_blocking`` from pageable memory waits for the copy).
    """
    if obj is None:
        return None
    if isinstance(obj, tuple):
        return tuple(_to(t, device, dtype, pin) for t in obj)
    if pin and not obj.is_pinned():
        obj = obj.pin_memory()
    return obj.to(device, dtype, non_blocking=True)


def _gather(t: torch.Tensor, rows: torch.Tensor, pin: bool) -> torch.Tensor:
    """``t[rows]``; with ``pin``, gathered straight into page-locked memory.

    Pinned blocks come from torch's caching host allocator, which keeps a
    block until the asynchronous copy that reads it has finished.
    """
    if not pin:
        return t[rows]
    out = torch.empty((rows.numel(), *t.shape[1:]), dtype=t.dtype, pin_memory=True)
    torch.index_select(t, 0, rows.reshape(-1), out=out)
    return out.view(*rows.shape, *t.shape[1:])


class BatchIterator:
    """Iterate over a :class:`TensorData` in batches of index slices.

    Parameters
    ----------
    dataset : TensorData
    batch_size : int
    shuffle : bool
        Draw a new permutation every epoch (every ``iter()``).
    n_members : int or None
        If given, each member gets its own permutation and the batch gathers
        rows ``(B, n_members, ...)``; else one shared order, rows ``(B, ...)``.
    member_rows : tensor of shape (n_members, n_rows), optional
        The rows each member trains on (a bootstrap sample, say); by default
        every member sees every row.
    seed : int
        Seed of the iterator's own generator (independent of torch's global one).
    device : str
        Where batches go; a no-op when the data already lives there.
    dtype : torch.dtype, optional
        Cast the batches of ``X`` to this (prediction casts float64 input
        batch by batch, so the whole input is never copied).
    extra_ratio : float
        With a dataset that has a pool of extra rows (``n_labelled``), each
        training batch of ``B`` labelled rows also carries ``round(B *
        extra_ratio)`` extra rows, drawn afresh every epoch from the pool
        (without replacement while the pool lasts). An epoch is still one
        pass over the labelled rows.
    num_processes, process_index : int
        Split every batch over ``num_processes`` processes (multi-GPU
        training): this iterator yields the rows ``process_index::num_processes``
        of each batch, so the processes together see each batch once. A batch
        with fewer rows than processes is padded by repeating its rows, so
        every process takes the same number of steps.
    """

    def __init__(
        self,
        dataset: TensorData,
        batch_size: int,
        *,
        shuffle: bool = False,
        n_members: int | None = None,
        member_rows: torch.Tensor | None = None,
        seed: int = 0,
        device: str = "cpu",
        dtype: torch.dtype | None = None,
        num_processes: int = 1,
        process_index: int = 0,
        extra_ratio: float = 1.0,
    ):
        self.dataset = dataset
        self.extra_ratio = float(extra_ratio)
        self.batch_size = max(1, int(batch_size))
        self.shuffle = shuffle
        self.n_members = n_members
        self.member_rows = member_rows
        self.device = device
        self.dtype = dtype
        self.num_processes = max(1, int(num_processes))
        self.process_index = int(process_index)
        self._data_device = dataset.X.device
        # Data in host memory, batches for a CUDA device: every batch is
        # gathered into pinned memory and copied without blocking the host.
        self._pin = (
            self._data_device.type == "cpu"
            and torch.device(device).type == "cuda"
            and torch.cuda.is_available()
        )
        self._generator = torch.Generator(device=self._data_device)
        self._generator.manual_seed(int(seed))

    def _n_rows(self) -> int:
        if self.member_rows is not None:
            return self.member_rows.shape[1]
        if self._mixes_extra():
            return self.dataset.n_labelled
        return len(self.dataset)

    def _mixes_extra(self) -> bool:
        n_lab = getattr(self.dataset, "n_labelled", None)
        return (
            self.shuffle
            and self.n_members is None
            and n_lab is not None
            and n_lab < len(self.dataset)
            and self.extra_ratio > 0
        )

    def _extra_order(self) -> torch.Tensor:
        """This epoch's extra rows: ``extra_ratio`` per labelled row, fresh each epoch."""
        n_lab = self.dataset.n_labelled
        pool = len(self.dataset) - n_lab
        want = max(1, round(n_lab * self.extra_ratio))
        dev = self._data_device
        draws = [
            torch.randperm(pool, generator=self._generator, device=dev)
            for _ in range(-(-want // pool))
        ]
        return n_lab + torch.cat(draws)[:want]

    def __len__(self) -> int:
        return math.ceil(self._n_rows() / self.batch_size)

    def _order(self) -> torch.Tensor | None:
        n = self._n_rows()
        dev = self._data_device
        if self.n_members is None:
            if not self.shuffle:
                return None
            return torch.randperm(n, generator=self._generator, device=dev)
        # One call draws every member's permutation.
        keys = torch.rand(self.n_members, n, generator=self._generator, device=dev)
        perm = keys.argsort(dim=1)
        if self.member_rows is not None:
            perm = self.member_rows.gather(1, perm)
        return perm.T.contiguous()  # (n, n_members): batch-first

    def __iter__(self):
        order = self._order()
        n = self._n_rows()
        n_proc = self.num_processes
        if self._mixes_extra():
            yield from self._iter_with_extra(order, n)
            return
        if order is None and n_proc > 1:
            order = torch.arange(n, device=self._data_device)
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            if order is None:
                X, y = self.dataset.X[start:stop], _slice(self.dataset.y, start, stop)
            else:
                rows = order[start:stop]
                if n_proc > 1:
                    if len(rows) < n_proc:  # pad: every process steps together
                        pad = torch.arange(n_proc, device=rows.device) % len(rows)
                        rows = rows[pad]
                    rows = rows[self.process_index :: n_proc]
                X, y = self._take(rows)
            yield self._batch(X, y)

    def _take(self, rows):
        """The dataset's ``X`` and targets at ``rows`` (pinned where they travel)."""
        if not self._pin:
            return self.dataset._take(rows)
        X, y = self.dataset.X, self.dataset.y
        if isinstance(y, tuple):
            return _gather(X, rows, True), tuple(_gather(t, rows, True) for t in y)
        return _gather(X, rows, True), None if y is None else _gather(y, rows, True)

    def _batch(self, X, y):
        return (
            _to(X, self.device, self.dtype, self._pin),
            _to(y, self.device, pin=self._pin),
        )

    def _iter_with_extra(self, order, n):
        extra = self._extra_order()
        per_row = len(extra) / n
        n_proc = self.num_processes
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            rows = torch.cat(
                (
                    order[start:stop],
                    extra[round(start * per_row) : round(stop * per_row)],
                )
            )
            if n_proc > 1:
                if len(rows) < n_proc:
                    rows = rows[torch.arange(n_proc, device=rows.device) % len(rows)]
                rows = rows[self.process_index :: n_proc]
            X, y = self._take(rows)
            yield self._batch(X, y)


def _slice(y, start, stop):
    if y is None:
        return None
    if isinstance(y, tuple):
        return tuple(t[start:stop] for t in y)
    return y[start:stop]


def scoring_view(batch, y_pred):
    """A batch as a scoring callback should see it: labelled rows, labels only.

    Training targets may be a tuple (labels, teacher outputs, row weights),
    and a distiller's batches hold extra rows without labels (marked -1, or
    NaN for regression). skorch's ``EpochScoring`` and ``BatchScoring``
    compare predictions with ``y``: they get the labels of the labelled rows
    and the stacked outputs of those rows. An ensemble's training batch
    gives each member its own rows, ``(B, M, ...)``: each member is then
    scored on its own rows (the members' mean score).
    """
    X, y = unpack_data(batch)
    labels = y[0] if isinstance(y, tuple | list) else y
    if not isinstance(labels, torch.Tensor) or not isinstance(y_pred, torch.Tensor):
        return batch, y_pred
    if labels.dim() == 2 and y_pred.dim() == 3 and labels.shape[1] == y_pred.shape[1]:
        X, labels = X.flatten(0, 1), labels.flatten(0, 1)
        y_pred = y_pred.flatten(0, 1).unsqueeze(1)
    if labels.is_floating_point():
        keep = ~torch.isnan(labels)
    else:
        keep = labels >= 0
    if not bool(keep.all()):
        X, labels, y_pred = X[keep], labels[keep], y_pred[keep]
    return (X, labels), y_pred


def mean_prediction(stacked: np.ndarray, task: str | None) -> np.ndarray:
    """Stacked outputs ``(n, M, ...)`` -> the ensemble's (or student's) prediction.

    Classification: the mean over members of the softmax probabilities
    (for EnDD's log-concentrations, the Dirichlet's mean); regression: the
    mean of the members' means, in the units the net trains in.
    """
    if task == "regression":
        return stacked[..., 0].mean(axis=1)
    if task == "classification":
        z = stacked - stacked.max(axis=-1, keepdims=True)
        p = np.exp(z)
        return (p / p.sum(axis=-1, keepdims=True)).mean(axis=1)
    return stacked


class NonFiniteLossError(ValueError):
    """The training loss became NaN or infinite."""


class _StopOnNonFiniteLoss(Callback):
    """Stop training at the first batch whose loss is not finite."""

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        value = net.history[
            -1, "batches", -1, "train_loss" if training else "valid_loss"
        ]
        if not math.isfinite(value):
            epoch = len(net.history)
            n_batch = len(net.history[-1, "batches"])
            raise NonFiniteLossError(
                f"the {'training' if training else 'validation'} loss became {value} "
                f"at epoch {epoch}, batch {n_batch}; {_likely_cause(net, batch)}"
            )


def _likely_cause(net, batch) -> str:
    """The most likely reason for a non-finite loss, from what the net holds."""
    X = batch[0] if isinstance(batch, tuple | list) and batch else None
    if isinstance(X, torch.Tensor) and X.numel():
        top = float(X.detach().abs().max())
        if not math.isfinite(top) or top > 1e4:
            return (
                f"the inputs are very large (max |x| = {top:.3g}): scale them, "
                "e.g. with StandardScaler"
            )
    for name in ("temperature", "initial_temperature"):
        t = getattr(net.criterion_, name, None)
        if isinstance(t, int | float) and t > 100:
            return (
                f"the loss's {name} is very large ({t:g}): use a temperature "
                "between 1 and about 20"
            )
    return (
        f"the learning rate lr={net.lr:g} is probably too high: lower it; or check "
        "the targets for extreme values"
    )


class _WarnOnDivergence(Callback):
    """Warn when training ends with a loss far above where it started."""

    def on_train_begin(self, net, **kwargs):
        # A warm start or partial_fit continues an earlier history: this fit
        # is judged from its own first epoch, not the first fit's.
        self.start_ = len(net.history)

    def on_train_end(self, net, **kwargs):
        # A schedule (EnDD's temperature, Hydra's diversity weight) changes
        # what the loss measures from epoch to epoch: first and last epochs
        # are then not comparable, and no verdict is given.
        if any(isinstance(cb, CriterionSchedule) for _, cb in net.callbacks_):
            return
        epochs = net.history[getattr(self, "start_", 0) :]
        losses = [e["train_loss"] for e in epochs if "train_loss" in e]
        if not losses or not epochs[0]["batches"]:
            return
        # Where it started: the first step's loss, before the optimiser moved
        # (an epoch's mean already holds a divergence in its first steps).
        first = epochs[0]["batches"][0].get("train_loss")
        last = losses[-1]
        if first is None:
            return
        if math.isfinite(last) and last - first > max(1.0, abs(first)):
            warnings.warn(
                f"the training loss ended at {last:.4g}, far above where it "
                f"started ({first:.4g}): training diverged; the learning rate "
                f"lr={net.lr:g} is probably too high",
                ConvergenceWarning,
                stacklevel=2,
            )


class CriterionSchedule(Callback):
    """Set an attribute of the criterion (or the net) at the start of every epoch.

    ``schedule(epoch, max_epochs)`` gives the value for the 0-based epoch;
    EnDD's temperature annealing (on the criterion) and Hydra+'s diversity
    warm-up (on the net: ``diversity_now_``) are such schedules. A picklable
    callable (a module-level function or a ``functools.partial`` of one)
    keeps the net picklable.

    Parameters
    ----------
    attribute : str
        Name of the attribute.
    schedule : callable
        ``schedule(epoch, max_epochs) -> value``.
    target : {"criterion", "net"}, default="criterion"
        Whose attribute: the criterion's (``net.criterion_``) or the net's.
    """

    def __init__(self, attribute, schedule, target="criterion"):
        self.attribute = attribute
        self.schedule = schedule
        self.target = target

    def on_epoch_begin(self, net, **kwargs):
        epoch = max(0, len(net.history) - 1)
        owner = net if self.target == "net" else net.criterion_
        setattr(owner, self.attribute, self.schedule(epoch, net.max_epochs))


class DelayedEarlyStopping(EarlyStopping):
    """skorch's ``EarlyStopping`` that starts watching after a share of the epochs.

    Until ``start`` times ``max_epochs`` epochs have run, no epoch counts as
    a miss and none is kept as the best: a loss whose own schedule is still
    moving (EnDD's temperature annealing) would otherwise stop training
    before the model is the one the schedule ends with. ``start=0`` is plain
    ``EarlyStopping``.
    """

    def __init__(self, *args, start=0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.start = start

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) <= self.start * net.max_epochs:
            return
        super().on_epoch_end(net, **kwargs)


class StackedNet(NeuralNet):
    """skorch ``NeuralNet`` for stacked modules and on-device tensor data.

    It takes every parameter of skorch's ``NeuralNet``, plus those below.

    Parameters
    ----------
    n_members : int or None
        Give each member its own shuffle (ensembles); None shares the order
        (students).
    bootstrap : bool
        With ``n_members``, train each member on its own bootstrap sample.
    seed : int
        Seed for shuffling and bootstrap sampling.
    loss_scale : float
        The loss is multiplied by this before ``backward`` (but recorded
        unscaled). An ensemble uses ``n_members``: its loss is the mean over
        members, so scaling by ``n_members`` gives each member exactly the
        gradient it would get if trained alone, for any optimizer.
    predict_batch_size : int
        Rows per batch at prediction time.
    extra_ratio : float
        Extra (unlabelled) rows per labelled row in each training batch,
        for data with a pool of extra rows (see :class:`BatchIterator`).
    diversity : float
        Weight ``lambda`` of Hydra+'s diversity penalty on the heads'
        weights (:func:`~skdistill.nn.losses.hydra_diversity` of the module's
        ``head_weights()``), added to the loss of training steps only. A
        :class:`CriterionSchedule` on the net may set the current weight,
        ``diversity_now_``, every epoch (a warm-up); without one it is
        ``diversity``.
    task : {"classification", "regression"} or None
        What ``predict_proba`` and ``predict`` reduce the stacked outputs
        to (see :func:`mean_prediction`), so that skorch's scoring callbacks
        (``EpochScoring("accuracy")``, say) score the mean prediction.

    The criterion is called as ``criterion_(y_pred, y_true)``; a penalty on
    the weights (Hydra+'s diversity) is added by :meth:`get_loss`, as skorch's
    documentation adds a regulariser.
    """

    def __init__(
        self,
        module,
        criterion,
        *,
        n_members=None,
        bootstrap=False,
        seed=0,
        loss_scale=1.0,
        predict_batch_size=4096,
        extra_ratio=1.0,
        task=None,
        diversity=0.0,
        **kwargs,
    ):
        super().__init__(module, criterion, **kwargs)
        self.task = task
        self.diversity = diversity
        self.extra_ratio = extra_ratio
        self.n_members = n_members
        self.bootstrap = bootstrap
        self.seed = seed
        self.loss_scale = loss_scale
        self.predict_batch_size = predict_batch_size

    def get_default_callbacks(self):
        return [
            *super().get_default_callbacks(),
            ("nonfinite", _StopOnNonFiniteLoss()),
            ("divergence", _WarnOnDivergence()),
        ]

    def get_dataset(self, X, y=None):
        if isinstance(X, TensorData):
            return X
        if isinstance(X, np.ndarray):
            X = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        if isinstance(X, torch.Tensor):
            return TensorData(X, y)
        return super().get_dataset(X, y)

    def _member_rows(self, n_rows: int, device) -> torch.Tensor | None:
        if not (self.bootstrap and self.n_members):
            return None
        g = torch.Generator(device=device)
        g.manual_seed(int(self.seed) + 7919)
        return torch.randint(
            n_rows, (self.n_members, n_rows), generator=g, device=device
        )

    def _batch_device(self):
        """Where batches go (the accelerated net sends them to its process's device)."""
        return self.device

    def _train_batches(self) -> tuple[int, int, int]:
        """``(rows per step over all processes, num_processes, process_index)``."""
        return self.batch_size, 1, 0

    def get_iterator(self, dataset, training=False):
        if not isinstance(dataset, TensorData):
            return super().get_iterator(dataset, training=training)
        if not training:
            # Evaluation is never split over processes; X is cast batch by batch.
            return BatchIterator(
                dataset,
                self.predict_batch_size,
                device=self._batch_device(),
                dtype=torch.float32,
            )
        batch_size, n_proc, rank = self._train_batches()
        return BatchIterator(
            dataset,
            batch_size,
            shuffle=True,
            n_members=self.n_members,
            member_rows=self._member_rows(len(dataset), dataset.X.device),
            # A new stream per fit call, reproducible from the seed.
            seed=int(self.seed) + len(self.history),
            device=self._batch_device(),
            num_processes=n_proc,
            process_index=rank,
            extra_ratio=self.extra_ratio,
        )

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        # skorch's partial_fit swallows KeyboardInterrupt and keeps the model as
        # it is (Ctrl-C stops training, the net stays usable); record that it
        # happened, so the estimator can say so and a multi-stage fit can stop.
        self.interrupted_ = False
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:
            # skorch's EarlyStopping stops training by raising KeyboardInterrupt
            # too; that is a normal end, not an interruption.
            self.interrupted_ = not self._stopped_early()
            raise

    def _stopped_early(self) -> bool:
        return any(
            isinstance(cb, EarlyStopping) and cb.misses_ >= cb.patience
            for _, cb in getattr(self, "callbacks_", [])
        )

    def notify(self, method_name, **cb_kwargs):
        if method_name != "on_batch_end" or "y_pred" not in cb_kwargs:
            return super().notify(method_name, **cb_kwargs)
        getattr(self, method_name)(self, **cb_kwargs)
        view = None
        for _, cb in self.callbacks_:
            kwargs = cb_kwargs
            if isinstance(cb, ScoringBase):
                if view is None:
                    batch, y_pred = scoring_view(
                        cb_kwargs["batch"], cb_kwargs["y_pred"]
                    )
                    view = {**cb_kwargs, "batch": batch, "y_pred": y_pred}
                kwargs = view
            getattr(cb, method_name)(self, **kwargs)
        return None

    def predict_proba(self, X):
        """The mean prediction: class probabilities ``(n, K)`` (regression: means).

        The stacked outputs of every member are :meth:`forward`'s; this is
        what scikit-learn scorers (and skorch's scoring callbacks) see.
        """
        return mean_prediction(super().predict_proba(X), getattr(self, "task", None))

    def predict(self, X):
        """The predicted class index (regression: the mean, in training units)."""
        mean = self.predict_proba(X)
        if getattr(self, "task", None) == "classification":
            return mean.argmax(axis=-1)
        return mean

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = self.criterion_(y_pred, y_true)
        lam = getattr(self, "diversity_now_", getattr(self, "diversity", 0.0))
        if training and lam > 0:
            module = self.module_
            if isinstance(module, torch.nn.parallel.DistributedDataParallel):
                module = module.module  # multi-process training (Accelerate)
            loss = loss + lam * hydra_diversity(module.head_weights())
        return loss

    def torch_compile(self, module, name):
        # skorch would replace ``module_`` by its compiled wrapper (its
        # state_dict keys prefixed, pickled with the compiled graph); ours
        # stay the plain modules, and only training steps run compiled
        # (see ``_compiled_module``).
        return module

    def _compiled_module(self):
        """``module_`` under ``torch.compile``, made once per module."""
        cached = self.__dict__.get("_compiled")
        if cached is None or cached[0] is not self.module_:
            compiled = torch.compile(self.module_, **self.get_params_for("compile"))
            cached = self._compiled = (self.module_, compiled)
        return cached[1]

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        if self.compile and isinstance(Xi, torch.Tensor) and not fit_params:
            y_pred = self._compiled_module()(Xi)
        else:
            y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        (loss * self.loss_scale if self.loss_scale != 1.0 else loss).backward()
        return {"loss": loss, "y_pred": y_pred}

    @property
    def epoch_(self) -> int:
        """The current (1-based) epoch number."""
        return len(self.history)

    def iter_stacked(self, X):
        """Yield the stacked outputs of each prediction batch as float32 numpy.

        Nothing is concatenated, so a caller that reduces every batch (to the
        members' mean, say) never holds the outputs of all rows at once.
        """
        for out in self.forward_iter(X, training=False, device="cpu"):
            yield out.numpy()

    # ------------------------------------------------------------- pickling
    # skorch pickles ``module_``/``criterion_``/``optimizer_`` through
    # torch's loader with a ``map_location`` (so a net fitted on CUDA loads
    # on a CPU-only machine), but the init params ``module`` and ``criterion``
    # go through plain pickle. Ours are the very instances that training
    # used (``module is module_``), so pickling them again would store the
    # weights twice and, for a CUDA-fitted net, hold CUDA tensors that plain
    # pickle cannot map to the CPU. They are stored as a reference instead.
    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_compiled", None)  # rebuilt on the next training step
        for name in ("module", "criterion"):
            fitted = self.__dict__.get(name + "_")
            if fitted is not None and state.get(name) is fitted:
                state[name] = _SAME_AS_FITTED
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        for name in ("module", "criterion"):
            if isinstance(self.__dict__.get(name), str) and (
                self.__dict__[name] == _SAME_AS_FITTED
            ):
                self.__dict__[name] = self.__dict__[name + "_"]


#: Pickled in place of an init param that is the fitted instance itself.
_SAME_AS_FITTED = "__skdistill_same_as_fitted__"
