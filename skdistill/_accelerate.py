"""Training through Hugging Face Accelerate: mixed precision and several GPUs.

:class:`AcceleratedStackedNet` is skorch's ``AccelerateMixin`` on our
:class:`~skdistill.training.StackedNet`. The mixin alone does not fit our
data path, for two reasons, and this class fixes both:

- ``AccelerateMixin.get_iterator`` hands the iterator to
  ``accelerator.prepare``, which shards ``torch.utils.data.DataLoader`` s
  only and returns anything else unchanged. Our on-device
  :class:`~skdistill.training.BatchIterator` is not a DataLoader, so every
  process would train on every row (correct gradients, no speed-up) and
  evaluation would ``gather`` each process's full copy into duplicated rows.
  Here training batches are split over the processes by the iterator itself
  (each takes rows ``rank::num_processes`` of every batch, all processes
  drawing the same shuffle from the broadcast seed), and evaluation is not
  split, so nothing is gathered.
- The mixin's ``train_step_single`` drops ``StackedNet``'s ``loss_scale``
  (the ensemble's per-member gradient scale); ours keeps it.

The loss recorded in the history is averaged over the processes, so callbacks
(early stopping, the non-finite loss check) decide the same way everywhere.
The fitted net pickles as a plain ``StackedNet``: the accelerator belongs to
the process that trained.
"""

from __future__ import annotations

import copy

import torch
from skorch.dataset import unpack_data
from skorch.hf import AccelerateMixin

from .training import StackedNet

__all__ = ["AcceleratedStackedNet"]


class AcceleratedStackedNet(AccelerateMixin, StackedNet):
    """:class:`~skdistill.training.StackedNet` trained through an ``Accelerator``."""

    def _batch_device(self):
        return self.accelerator.device

    def _train_batches(self):
        n_proc = self.accelerator.num_processes
        split = getattr(self.accelerator, "split_batches", False)
        rows = self.batch_size if split else self.batch_size * n_proc
        return rows, n_proc, self.accelerator.process_index

    def get_iterator(self, dataset, training=False):
        # Not the mixin's: ``accelerator.prepare`` would return our iterator
        # unchanged; StackedNet's shards training batches through the hooks.
        return StackedNet.get_iterator(self, dataset, training=training)

    def evaluation_step(self, batch, training=False):
        # Evaluation batches are not split over processes: every process has
        # every row already, so there is nothing to gather.
        return StackedNet.evaluation_step(self, batch, training=training)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        with self.accelerator.autocast():
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        self.accelerator.backward(
            loss * self.loss_scale if self.loss_scale != 1.0 else loss
        )
        if self.accelerator.num_processes > 1:
            loss = self.accelerator.reduce(loss.detach(), reduction="mean")
        return {"loss": loss, "y_pred": y_pred}

    def _initialize_accelerator(self):
        # Our criteria hold no parameters: there is nothing to prepare, and
        # accelerate's multi-CPU path would wrap them in DistributedDataParallel,
        # which refuses a module without parameters. Hide them meanwhile.
        hidden = {
            name: getattr(self, name + "_")
            for name in self._criteria
            if not _has_parameters(getattr(self, name + "_"))
        }
        for name in hidden:
            setattr(self, name + "_", None)
        try:
            return super()._initialize_accelerator()
        finally:
            for name, criterion in hidden.items():
                setattr(self, name + "_", criterion)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        # After training the modules are unwrapped (so the net pickles); to
        # train on (warm_start), wrap them again. The optimizer stays prepared.
        if getattr(self, "initialized_", False) and not self._wrapped_with_accelerator:
            for name in self._modules + self._criteria:
                module = getattr(self, name + "_")
                if _has_parameters(module):
                    setattr(self, name + "_", self.accelerator.prepare(module))
            self._wrapped_with_accelerator = True
        return super().partial_fit(X, y, classes=classes, **fit_params)

    def __reduce_ex__(self, protocol):
        # Pickle (and deepcopy) as a plain StackedNet on the device it trained
        # on: an Accelerator is tied to its process and devices.
        self._unwrap_accelerator()
        device = str(self.accelerator.device)
        state = dict(self.__getstate__())
        for key in ("accelerator", "unwrap_after_train", "_wrapped_with_accelerator"):
            state.pop(key, None)
        state["device"] = device
        # The print log prints through the accelerator (main process only).
        state["callbacks__print_log__sink"] = print
        callbacks = []
        for name, callback in state.get("callbacks_", []):
            if getattr(getattr(callback, "sink", None), "__self__", None) is (
                self.accelerator
            ):
                callback = copy.copy(callback)
                callback.sink = print
            callbacks.append((name, callback))
        state["callbacks_"] = callbacks
        return (_plain_net, (state,))


def _plain_net(state):
    """Unpickle an accelerated net's state as a plain StackedNet."""
    net = StackedNet.__new__(StackedNet)
    net.__setstate__(state)
    return net


def _has_parameters(module) -> bool:
    return isinstance(module, torch.nn.Module) and any(
        True for _ in module.parameters()
    )
