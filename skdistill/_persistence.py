"""Saving and loading fitted estimators, and the version check on unpickling.

Two ways to keep a fitted model:

- **pickle / joblib** (``joblib.dump(est, "model.joblib")``): the whole
  estimator, as scikit-learn users expect. skorch maps the network's tensors
  to the CPU where CUDA is missing, so a model fitted on a GPU loads on a
  CPU-only machine.
- **est.save(path) / skdistill.load(path)**: one zip file holding the
  network's weights, optimizer state and history written by skorch's
  ``save_params`` (plain ``torch.save`` state dicts, read back with
  ``weights_only=True``), plus the rest of the estimator pickled without its
  network, plus a small JSON header. ``load`` rebuilds the network from the
  estimator's fitted attributes and can put it on any device.

Both paths record the skdistill version. A model saved by a version with a
different ``major.minor`` release (``0.minor`` before 1.0, when any minor
release may change the internal classes) raises
:class:`IncompatibleVersionError` naming both versions; a different patch
release only warns (:class:`VersionWarning`). Loading any pickle, or the
estimator part of a saved file, runs code: load only files you trust.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
import warnings
import zipfile

import torch
from sklearn.utils.fixes import parse_version
from sklearn.utils.validation import check_is_fitted

__all__ = ["IncompatibleVersionError", "VersionWarning", "load"]

FORMAT = "skdistill"
FORMAT_VERSION = 1
_HEADER = "skdistill.json"
_ESTIMATOR = "estimator.pkl"
_NET_FILES = {
    "f_params": "params.pt",
    "f_optimizer": "optimizer.pt",
    "f_criterion": "criterion.pt",
    "f_history": "history.json",
}


class IncompatibleVersionError(ValueError):
    """A model was saved by a skdistill release this one cannot load safely."""


class VersionWarning(UserWarning):
    """A model was saved by another, compatible, skdistill release."""


def current_version() -> str:
    import skdistill

    return skdistill.__version__


def _series(version: str) -> tuple:
    """The part of a version that must match: (0, minor) before 1.0, else (major,)."""
    release = parse_version(version).release
    return tuple(release[:2]) if release[0] == 0 else tuple(release[:1])


def check_version(saved: str | None, what: str) -> None:
    """Raise or warn when ``saved`` (the version that wrote a model) is not ours."""
    current = current_version()
    if saved == current:
        return
    advice = (
        f"install that release (pip install skdistill=={saved}) to load it, "
        "then re-fit or re-save it with this one"
        if saved
        else "re-fit it with this release"
    )
    try:
        compatible = saved is not None and _series(saved) == _series(current)
    except Exception:  # an unparsable version string is not compatible
        compatible = False
    if not compatible:
        raise IncompatibleVersionError(
            f"this {what} was saved by skdistill {saved or '(unknown version)'} "
            f"and cannot be loaded by skdistill {current}: releases differing in "
            f"their major.minor version may store models differently; {advice}"
        )
    warnings.warn(
        f"this {what} was saved by skdistill {saved} and is loaded by skdistill "
        f"{current}; patch releases keep the format, but check its predictions",
        VersionWarning,
        stacklevel=3,
    )


def save(estimator, path) -> None:
    """Write ``estimator`` to ``path``; see :meth:`save` on the estimators."""
    check_is_fitted(estimator, "net_")
    net = estimator.net_
    skeleton = object.__new__(type(estimator))
    skeleton.__dict__.update(
        {k: v for k, v in estimator.__dict__.items() if k not in ("net_", "history_")}
    )
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skdistill": current_version(),
        "torch": torch.__version__,
        "class": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        "device": str(net.device) if net.device is not None else "cpu",
    }
    from .training import StackedNet

    with tempfile.TemporaryDirectory() as tmp:
        files = {k: os.path.join(tmp, name) for k, name in _NET_FILES.items()}
        # The plain skorch method: an accelerated net's version waits for every
        # process, but saving is done by the main process alone.
        StackedNet.save_params(net, **files)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(_HEADER, json.dumps(header, indent=1))
            zf.writestr(_ESTIMATOR, pickle.dumps(skeleton))
            for key, name in _NET_FILES.items():
                zf.write(files[key], name)


def load(path, *, device=None):
    """Load an estimator written by ``est.save(path)``.

    Parameters
    ----------
    path : str or path-like
    device : str, default=None
        Where to put the network. None: where it was saved, or the CPU when
        that was a CUDA device and this machine has none (with a warning).
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``... as for the
        estimators' ``device`` parameter.

    Returns
    -------
    estimator
        The fitted estimator, predicting exactly as the saved one did.

    Raises
    ------
    IncompatibleVersionError
        The file was written by an incompatible skdistill release.
    ValueError
        The file is not a skdistill model.
    """
    from .training import resolve_device

    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(f"{path} is not a model saved by skdistill's save()") from None
    with zf, tempfile.TemporaryDirectory() as tmp:
        try:
            header = json.loads(zf.read(_HEADER))
        except KeyError:
            raise ValueError(
                f"{path} is not a model saved by skdistill's save()"
            ) from None
        if header.get("format") != FORMAT or header.get("format_version", 0) > (
            FORMAT_VERSION
        ):
            raise IncompatibleVersionError(
                f"{path} has format {header.get('format')!r} version "
                f"{header.get('format_version')}; skdistill {current_version()} "
                f"reads {FORMAT!r} up to version {FORMAT_VERSION}"
            )
        what = header.get("class", "model").rsplit(".", 1)[-1]
        check_version(header.get("skdistill"), what)
        with warnings.catch_warnings():
            # The header check above has already warned about the version.
            warnings.simplefilter("ignore", VersionWarning)
            estimator = pickle.loads(zf.read(_ESTIMATOR))
        files = {}
        for key, name in _NET_FILES.items():
            files[key] = zf.extract(name, tmp)
        if device is None:
            device = header.get("device", "cpu")
            if torch.device(device).type == "cuda" and not torch.cuda.is_available():
                warnings.warn(
                    f"the model was saved from {device} but CUDA is not available "
                    "here; loading it on the CPU",
                    UserWarning,
                    stacklevel=2,
                )
                device = "cpu"
        estimator.device_ = resolve_device(device)
        estimator.data_device_ = estimator.device_
        net = estimator._init_net()
        net.load_params(**files)
    estimator.net_ = net
    estimator.history_ = net.history
    return estimator
