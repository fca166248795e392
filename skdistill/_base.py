"""What every skdistill estimator shares, by concept.

An estimator stores its parameters in ``__init__`` and nothing else. ``fit``
validates the data (:mod:`._validation`), moves it to the device once,
builds a :class:`~skdistill.training.StackedNet` around a torch module and a
loss (:mod:`._netplan`), and keeps the fitted net as ``net_`` (its history as
``history_``); predictions are reduced batch by batch (:mod:`._outputs`).
This module joins the three and adds what a fit and a file need: all-or-
nothing fits and persistence.
"""

from __future__ import annotations

import copy
import functools

from . import _persistence
from ._netplan import (  # noqa: F401  (re-exported)
    OPTIMIZERS,
    NetBuildingMixin,
    _fresh_callback,
    _is_optimizer_class,
    _silent,
    auto_batch_size,
)
from ._outputs import (  # noqa: F401  (re-exported)
    ACTIVATIONS_PER_INPUT,
    OutputsMixin,
    _allocate_like,
    _assign_rows,
    _host_tensor,
    predict_batch_rows,
    stacked_probabilities,
)
from ._validation import (  # noqa: F401  (re-exported)
    DataChecksMixin,
    _check_float32_range,
    _check_int,
    _check_sizes,
    _from_tensor,
)


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
    exception, ``KeyboardInterrupt`` included. ``partial_fit`` trains the
    network in place, so a copy of it is kept until the fit ends (a warm
    start trains a new net that takes over the fitted weights, see
    ``_warm_net``). A fit that starts anew begins without the previous
    fit's attributes, so none of them outlives it (a classifier's
    ``classes_`` on a model refitted for regression, say).
    A Ctrl-C *after* the first epoch is not an exception here: the training
    layer ends the fit normally with the weights it has, and warns.
    """

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        before = _fitted_state(self)
        net = before.get("net_")
        in_place = fit.__name__ == "partial_fit"
        kept_net = copy.deepcopy(net) if net is not None and in_place else None
        if not (in_place or getattr(self, "warm_start", False)):
            for key in before:
                del self.__dict__[key]
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


class NeuralEstimatorMixin(DataChecksMixin, NetBuildingMixin, OutputsMixin):
    """Data checks, the skorch net and output reduction, for every estimator.

    The three concepts live in :class:`DataChecksMixin`,
    :class:`NetBuildingMixin` and :class:`OutputsMixin`; subclasses write
    the fit logic (``_build_net``, the criterion) and call :meth:`_fit_net`
    with tensor data already on the device.
    """

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
