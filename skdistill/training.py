"""The training layer: a thin skorch ``NeuralNet`` subclass and its data path.

Data goes to the device once, as float32 tensors inside a :class:`TensorData`
that :class:`BatchIterator` slices by index (both in ``_batches``); the
callbacks every net carries live in ``_callbacks``. Both are re-exported
here.

:class:`StackedNet` plugs this into skorch through its hooks only
(``get_dataset``, ``get_iterator``, ``get_loss``, ``train_step_single``), so
skorch's callbacks (``EarlyStopping``, ``Checkpoint``, ``LRScheduler``,
``ProgressBar``) and history work unchanged.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping
from skorch.callbacks.scoring import ScoringBase
from skorch.dataset import unpack_data

from ._batches import BatchIterator, TensorData, _gather, _slice, _to  # noqa: F401
from ._callbacks import (  # noqa: F401  (re-exported: skdistill.training.*)
    CriterionSchedule,
    DelayedEarlyStopping,
    NonFiniteLossError,
    _likely_cause,
    _StopOnNonFiniteLoss,
    _WarnOnDivergence,
    mean_prediction,
    scoring_view,
)
from .nn.layers import reused_activations
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
    elif dev.type not in ("cpu", "cuda", "mps"):
        # xpu, meta, ...: an accelerator torch may know but this machine lacks,
        # or a device that holds no data (meta); say so here, not deep in torch.
        backend = getattr(torch, dev.type, None)
        available = getattr(backend, "is_available", None)
        if dev.type == "meta" or not (callable(available) and available()):
            raise ValueError(
                f"device={device!r} is not available for training on this "
                "machine; use device='cpu', 'cuda' or 'auto'"
            )
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


#: Evaluation batches smaller than this run padded to it (see ``StackedNet.infer``).
_MIN_EVAL_ROWS = 16


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
        to (see ``mean_prediction``), so that skorch's scoring callbacks
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

    def _set_training(self, training=True):
        """Train or evaluation mode, set only where the module is not in it.

        skorch sets the mode at every step, and ``Module.train`` walks every
        submodule (0.18 ms of a 4 ms Hydra+ step on the CPU); between an
        epoch's steps nothing changes it, so a module already in the mode is
        left as it is.
        """
        for name in self._modules + self._criteria:
            module = getattr(self, name + "_")
            if isinstance(module, torch.nn.Module) and module.training != training:
                module.train(training)

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

    def infer(self, x, **fit_params):
        """``module_(x)``; in evaluation, batches under 16 rows run padded to 16.

        A row's prediction then does not depend on the size of the batch it
        came in: torch's CPU matrix products take other code paths for one
        row (or a few) than for many, which round differently (a row alone
        and the same row among 20 differed by 1-2e-7 in float32; from 16
        rows on, the results measured bitwise equal). The padding repeats
        the last row and is cut off again.
        """
        n = len(x) if isinstance(x, torch.Tensor) and x.ndim else 0
        if not 0 < n < _MIN_EVAL_ROWS or self.module_.training or fit_params:
            return super().infer(x, **fit_params)
        pad = x[-1:].expand(_MIN_EVAL_ROWS - n, *x.shape[1:])
        return super().infer(torch.cat([x, pad]))[:n]

    def predict_proba(self, X):
        """The mean prediction: class probabilities ``(n, K)`` (regression: means).

        The stacked outputs of every member are ``forward``'s; this is
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
            loss = loss + lam * hydra_diversity(self.plain_module.head_weights())
        return loss

    @property
    def plain_module(self) -> torch.nn.Module:
        """``module_``, unwrapped from ``DistributedDataParallel`` (Accelerate)."""
        module = self.module_
        if isinstance(module, torch.nn.parallel.DistributedDataParallel):
            module = module.module  # multi-process training
        return module

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

    def forward_iter(self, X, training=False, device="cpu"):
        # Batch after batch of one module: its hidden activations can reuse
        # their memory (see reused_activations).
        with reused_activations():
            yield from super().forward_iter(X, training=training, device=device)

    def iter_stacked(self, X):
        """Yield the stacked outputs of each prediction batch, on the net's device.

        Nothing is concatenated, so a caller that reduces every batch (to the
        members' mean, say) never holds the outputs of all rows at once; and
        nothing is moved, so the reduction can run where the outputs are.
        """
        yield from self.forward_iter(X, training=False, device=None)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_compiled", None)  # rebuilt on the next training step
        return state
