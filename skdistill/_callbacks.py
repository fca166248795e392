"""What the training loop's callbacks see and do.

The scoring view (labelled rows, the members' mean prediction) for skorch's
scoring callbacks; the non-finite-loss stop and the divergence warning every
net carries; the per-epoch schedules of a loss (EnDD's temperature, Hydra+'s
diversity warm-up) and an early stopping that waits for them.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from scipy.special import softmax
from sklearn.exceptions import ConvergenceWarning
from skorch.callbacks import Callback, EarlyStopping
from skorch.dataset import unpack_data


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
        return softmax(stacked, axis=-1).mean(axis=1)
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
        self.warned_ = False

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
            self.warned_ = True
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
