"""Saving and loading fitted estimators, and the version check on unpickling.

Two ways to keep a fitted model:

- **est.save(path) / skdistill.load(path)**: one zip file that holds data,
  never code. Loading it runs nothing that came from the file: parameters
  and fitted attributes are JSON, arrays ``.npy`` files read with
  ``allow_pickle=False``, network weights skorch's ``save_params`` files
  read with ``torch.load(weights_only=True)``, scikit-learn teachers and
  transformers :mod:`skops.io` blobs, classes import paths. Types outside
  skdistill, torch, skorch, scikit-learn, numpy and scipy are refused at
  load time, with their names, unless passed in ``trusted=[...]`` (the skops
  convention). ``save`` writes a temporary file in the same folder, syncs
  it and renames it over the target: a save that fails leaves the earlier
  file as it was, and a reader sees the old file or the new one, whole.
- **pickle / joblib** (``joblib.dump(est, "model.joblib")``): the whole
  estimator, as scikit-learn users expect, and as trusted as any pickle:
  loading one runs whatever code it holds, so load only your own.

Both record the skdistill version. A model saved by a version with a
different ``major.minor`` release (``0.minor`` before 1.0, when any minor
release may change the internal classes) raises
:class:`IncompatibleVersionError` naming both versions; a different patch
release only warns (:class:`VersionWarning`). Files written by skdistill
0.1 held a pickle; :func:`convert_legacy_file` converts one, in a trusted
environment, on request.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import tempfile
import warnings
import zipfile
import zlib

import torch
from sklearn.utils.fixes import parse_version
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "IncompatibleVersionError",
    "VersionWarning",
    "convert_legacy_file",
    "load",
]

FORMAT = "skdistill"
FORMAT_VERSION = 2
_HEADER = "skdistill.json"
_ESTIMATOR = "estimator.json"
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
    from ._version import __version__

    return __version__


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


def _net_files(tmp, prefix):
    return {k: os.path.join(tmp, f"{prefix.replace('/', '_')}_{n}")
            for k, n in _NET_FILES.items()}  # fmt: skip


def _archive(estimator) -> dict[str, bytes]:
    """Every member of the archive of a fitted estimator, as bytes."""
    from ._codec import Writer
    from .training import StackedNet

    with tempfile.TemporaryDirectory() as tmp:

        def save_net(est, prefix):
            files = _net_files(tmp, prefix)
            # The plain skorch method: an accelerated net's version waits for
            # every process, but saving is done by the main process alone.
            StackedNet.save_params(est.net_, **files)
            names = {}
            for key, name in _NET_FILES.items():
                with open(files[key], "rb") as fh:
                    writer.files[f"{prefix}/{name}"] = fh.read()
                names[key] = f"{prefix}/{name}"
            return names

        writer = Writer(save_net)
        tree = writer.encode_estimator(estimator, type(estimator).__name__)
    net = estimator.net_
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skdistill": current_version(),
        "torch": torch.__version__,
        "class": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        "device": str(net.device) if net.device is not None else "cpu",
    }
    return {
        _HEADER: json.dumps(header, indent=1).encode(),
        _ESTIMATOR: json.dumps(tree).encode(),
        **writer.files,
    }


def save(estimator, path) -> None:
    """Write ``estimator`` to ``path``; see :meth:`save` on the estimators."""
    check_is_fitted(estimator, "net_")
    members = _archive(estimator)  # fails before any file is touched
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".skdistill-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for name, data in members.items():
                    zf.writestr(name, data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _bad(path, what):
    return ValueError(f"{path} is not a readable skdistill model file: {what}")


#: Parameters that building a network calls, and what each must be.
_BUILDERS = {
    "module": torch.nn.Module,
    "core": torch.nn.Module,
    "head": torch.nn.Module,
    "optimizer": torch.optim.Optimizer,
}


def _check_builders(est, path, trusted) -> None:
    """Refuse a file whose network would be built by calling something else.

    Rebuilding the network calls ``module``, ``core``, ``head`` and
    ``optimizer`` with keyword arguments read from the file. Each must be a
    name (a string), a torch module (or optimizer) class, a ``partial`` of
    one, or a callable the user named in ``trusted``: a tampered file must
    not make ``load`` call, say, a file-writing class of a trusted library.
    """
    import functools

    from ._codec import UntrustedTypeError, _qualname

    trusted = set(trusted or ())
    for key, base in _BUILDERS.items():
        value = est.__dict__.get(key)
        func = value.func if isinstance(value, functools.partial) else value
        if func is None or isinstance(func, str):
            continue
        if isinstance(func, type) and issubclass(func, base):
            continue
        name = _qualname(func) if hasattr(func, "__qualname__") else repr(func)
        if name not in trusted:
            raise UntrustedTypeError(path, [name])


def load(path, *, device=None, trusted=None):
    """Load an estimator written by ``est.save(path)``.

    Loading runs no code from the file (see :doc:`/user_guide/production`):
    types outside skdistill, torch, skorch, scikit-learn, numpy and scipy,
    such as your own ``module=`` class, are refused unless named in
    ``trusted``.

    Parameters
    ----------
    path : str or path-like
    device : str, default=None
        Where to put the network. None: where it was saved, or the CPU when
        that was a CUDA device and this machine has none (with a warning).
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``... as for the
        estimators' ``device`` parameter.
    trusted : list of str, default=None
        Import paths of further types to accept, e.g.
        ``["mypackage.nets.MyMember"]``; the error for an untrusted file lists
        the ones it holds.

    Returns
    -------
    estimator
        The fitted estimator, predicting exactly as the saved one did.

    Raises
    ------
    IncompatibleVersionError
        The file was written by an incompatible skdistill release (0.1's
        pickle-based files included: see :func:`convert_legacy_file`).
    ValueError
        The file is not a skdistill model, is damaged, or holds untrusted
        types (:class:`~skdistill._codec.UntrustedTypeError`, a subclass).
    """
    from ._codec import UntrustedTypeError
    from .training import resolve_device

    if device is not None:
        # A device this machine lacks is the caller's error, not the file's.
        resolve_device(device)
    try:
        return _load(path, device, trusted)
    except (IncompatibleVersionError, UntrustedTypeError):
        raise
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, zlib.error, KeyError, EOFError, OSError,
            json.JSONDecodeError, UnicodeDecodeError, RuntimeError, TypeError,
            AttributeError, IndexError, pickle.UnpicklingError) as exc:  # fmt: skip
        msg = str(exc).split("\n")[0]
        if "weights_only" in msg or "WeightsUnpickler" in msg:
            msg = "a weight file holds something other than tensors"
        raise _bad(path, f"{type(exc).__name__}: {msg[:200]}") from None
    except ValueError as exc:
        if str(path) in str(exc):
            raise
        raise _bad(path, str(exc).split("\n")[0][:200]) from None


def _read_header(zf, path):
    try:
        header = json.loads(zf.read(_HEADER))
    except KeyError:
        raise ValueError(f"{path} is not a model saved by skdistill's save()") from None
    if not isinstance(header, dict):
        raise _bad(path, "its header is not a JSON object")
    if header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a model saved by skdistill's save()")
    version = header.get("format_version")
    if version == 1:
        raise IncompatibleVersionError(
            f"{path} was written by skdistill 0.1, whose files hold a pickle "
            "(loading one runs any code it contains). If you trust the file, "
            "convert it once with skdistill.convert_legacy_file(path, new_path, "
            "i_trust_this_file=True) in an environment with skdistill 0.1's "
            "classes, then load the new file"
        )
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise IncompatibleVersionError(
            f"{path} has format {header.get('format')!r} version {version!r}; "
            f"skdistill {current_version()} reads {FORMAT!r} version "
            f"{FORMAT_VERSION}"
        )
    return header


def _load(path, device, trusted):
    from ._codec import Reader, UntrustedTypeError
    from .training import resolve_device

    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(f"{path} is not a model saved by skdistill's save()") from None
    with zf, tempfile.TemporaryDirectory() as tmp:
        header = _read_header(zf, path)
        what = str(header.get("class", "model")).rsplit(".", 1)[-1]
        check_version(header.get("skdistill"), what)
        tree = json.loads(zf.read(_ESTIMATOR))
        if not isinstance(tree, dict) or "class" not in tree:
            raise _bad(path, "its estimator entry is not a JSON object")
        if device is None:
            device = header.get("device", "cpu")
            if torch.device(device).type == "cuda" and not torch.cuda.is_available():
                warnings.warn(
                    f"the model was saved from {device} but CUDA is not available "
                    "here; loading it on the CPU",
                    UserWarning,
                    stacklevel=3,
                )
                device = "cpu"
        device = resolve_device(device)

        def load_net(est, names):
            if not isinstance(names, dict) or set(names) != set(_NET_FILES):
                raise _bad(path, "a network entry names the wrong files")
            files = {}
            for key, name in names.items():
                files[key] = os.path.join(tmp, f"{len(os.listdir(tmp))}_{key}")
                with open(files[key], "wb") as fh:
                    fh.write(zf.read(name))
            _check_builders(est, path, trusted)
            est.device_ = device
            est.data_device_ = device
            net = est._init_net()
            net.load_params(**files)
            est.net_ = net
            est.history_ = net.history

        reader = Reader(zf.read, load_net, trusted, path)
        bad = reader.untrusted({"__estimator__": tree})
        if bad:
            raise UntrustedTypeError(path, bad)
        with warnings.catch_warnings():
            # The header check above has already warned about the version.
            warnings.simplefilter("ignore", VersionWarning)
            estimator = reader.decode_estimator(tree)
    if getattr(estimator, "net_", None) is None:
        raise _bad(path, "it holds no fitted network")
    _check_consistent(estimator, header, tree, path)
    return estimator


def _check_consistent(estimator, header, tree, path) -> None:
    """The header, the estimator entry and the fitted state tell one story."""
    if header.get("class") != tree.get("class"):
        raise _bad(path, f"its header names {header.get('class')!r} but it holds "
                         f"a {tree.get('class')!r}")  # fmt: skip
    task = getattr(estimator, "task_", None) or getattr(estimator, "_task", None)
    needed = {"classification": ("classes_",), "regression": ("y_mean_", "y_scale_")}
    missing = [a for a in needed.get(task, ()) if not hasattr(estimator, a)]
    if missing:
        raise _bad(path, f"its fitted {task} model lacks {', '.join(missing)}")


def convert_legacy_file(path, new_path, *, i_trust_this_file=False) -> None:
    """Convert a file written by skdistill 0.1 (a pickle inside) to today's format.

    0.1's ``save`` pickled the estimator, and unpickling runs whatever code
    the file holds. This function does exactly that, so it refuses to run
    unless you say that you trust the file; do it once, in the environment
    that wrote it, then use the new file. The new file loads without running
    code.

    Parameters
    ----------
    path : str or path-like
        A file written by skdistill 0.1's ``save``.
    new_path : str or path-like
        Where to write the converted model.
    i_trust_this_file : bool, default=False
        Must be True: you vouch that the file is your own.
    """
    if i_trust_this_file is not True:
        raise ValueError(
            "convert_legacy_file unpickles the file, which runs any code it "
            "holds; pass i_trust_this_file=True only for a file you made"
        )
    with zipfile.ZipFile(path) as zf, tempfile.TemporaryDirectory() as tmp:
        header = json.loads(zf.read(_HEADER))
        if header.get("format") != FORMAT or header.get("format_version") != 1:
            raise ValueError(f"{path} is not a skdistill 0.1 file")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VersionWarning)
            estimator = pickle.loads(zf.read("estimator.pkl"))  # noqa: S301
        files = {k: zf.extract(n, tmp) for k, n in _NET_FILES.items()}
        estimator.device_ = estimator.data_device_ = "cpu"
        net = estimator._init_net()
        net.load_params(**files)
    estimator.net_ = net
    estimator.history_ = net.history
    save(estimator, new_path)
