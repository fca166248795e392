"""Estimator state as data: a JSON tree plus arrays, tensors and skops blobs.

:func:`encode` turns an estimator's ``__dict__`` (its parameters and fitted
attributes) into a JSON-able tree. What JSON cannot hold goes beside it, in
the archive, as data: numpy arrays as ``.npy`` files (``allow_pickle=False``),
the weights of a skdistill estimator's network through skorch's
``save_params`` (read back with ``torch.load(weights_only=True)``), and
scikit-learn objects (a forest teacher, a pipeline, a ``student_transform``)
through ``skops.io``, the scikit-learn community's format that refuses
types it is not told to trust. A class (``optimizer=torch.optim.SGD``,
``module=MyNet``) is stored by its import path.

:func:`decode` rebuilds the tree and **never runs code that came from the
file**: no pickle; a class is only imported by name, and only when its
module is one of :data:`TRUSTED_MODULES` or the user names it in
``trusted``; skops blobs are loaded with the same trust. Anything else is
refused with an :class:`UntrustedTypeError` that lists the types found.
Trust by module covers that module's own classes only: a function, or a
name that resolves to an object of another module (``torch.os.system``),
must be named in ``trusted``.
"""

from __future__ import annotations

import functools
import importlib
import io
from collections.abc import Callable

import numpy as np
from sklearn.utils import Bunch

#: Modules whose own classes are trusted without being named (functions are not).
TRUSTED_MODULES = ("skdistill", "torch", "skorch", "sklearn", "numpy", "scipy")

_TAGS = (
    "__bunch__",
    "__tuple__",
    "__dict__",
    "__items__",
    "__array__",
    "__objarray__",
    "__scalar__",
    "__type__",
    "__partial__",
    "__skops__",
    "__estimator__",
    "__history__",
    "__object__",
)


class UntrustedTypeError(ValueError):
    """A saved model names types that are not trusted; pass them in ``trusted``."""

    def __init__(self, path, types):
        self.types = sorted(set(types))
        super().__init__(
            f"{path} refers to types skdistill does not trust by default: "
            f"{self.types}. Loading them imports (and may later run) their "
            "code; if you trust this file, pass load(..., trusted=[...]) with "
            "these names"
        )


def _qualname(obj) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _is_trusted(name: str, trusted) -> bool:
    top = name.split(".", 1)[0]
    return top in TRUSTED_MODULES or name in trusted


class Writer:
    """Collects the side files of one archive while a tree is encoded.

    ``files`` maps archive member names to bytes; ``net_saver(est, prefix)``
    writes a fitted skdistill network's files and returns their names.
    """

    def __init__(self, net_saver: Callable):
        self.files: dict[str, bytes] = {}
        self._net_saver = net_saver

    def _add(self, folder, suffix, data) -> str:
        name = f"{folder}/{len(self.files)}{suffix}"
        self.files[name] = data
        return name

    def encode(self, obj, where="estimator"):
        """A JSON-able tree for ``obj``; ``where`` names it in errors."""
        from sklearn.base import BaseEstimator
        from skorch.history import History

        if obj is None or isinstance(obj, bool | int | float | str):
            return obj
        if isinstance(obj, np.generic):
            return {"__scalar__": obj.item(), "dtype": str(obj.dtype)}
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind == "O":
                return {
                    "__objarray__": [self.encode(v, where) for v in obj.ravel()],
                    "shape": list(obj.shape),
                }
            buf = io.BytesIO()
            np.save(buf, obj, allow_pickle=False)
            return {"__array__": self._add("arrays", ".npy", buf.getvalue())}
        if isinstance(obj, History):
            return {"__history__": self.encode(list(obj), where)}
        if isinstance(obj, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v, where) for v in obj]}
        if isinstance(obj, Bunch):  # scikit-learn's dict with attribute access
            return {"__bunch__": self.encode(dict(obj), where)}
        if isinstance(obj, dict):
            if all(isinstance(k, str) for k in obj):
                return {
                    "__dict__": {
                        k: self.encode(v, f"{where}.{k}") for k, v in obj.items()
                    }
                }
            return {
                "__items__": [
                    [self.encode(k, where), self.encode(v, where)]
                    for k, v in obj.items()
                ]
            }
        if isinstance(obj, type) or (callable(obj) and hasattr(obj, "__qualname__")):
            if "<locals>" in obj.__qualname__ or "<lambda>" in obj.__qualname__:
                raise TypeError(
                    f"{where}: {obj!r} is defined inside a function and cannot be "
                    "stored by name; define it at the top level of a module"
                )
            return {"__type__": _qualname(obj)}
        if isinstance(obj, functools.partial):
            return {
                "__partial__": self.encode(obj.func, where),
                "args": self.encode(obj.args, where),
                "keywords": self.encode(obj.keywords, where),
            }
        if _is_skdistill_estimator(obj):
            return {"__estimator__": self.encode_estimator(obj, where)}
        if isinstance(obj, BaseEstimator) and _holds_skdistill(vars(obj)):
            # A scikit-learn container (a Pipeline, a voting or bagging
            # ensemble) of skdistill estimators: its attributes go through
            # this encoder, so that each skdistill estimator is stored as one
            # (its network in a folder of its own). skops would pickle them
            # whole, skorch net and all, into names no load trusts.
            return {
                "__object__": _qualname(type(obj)),
                "state": self.encode(dict(vars(obj)), where),
            }
        if isinstance(obj, BaseEstimator) or type(obj).__module__.startswith(
            ("sklearn.", "numpy.", "scipy.")
        ):
            import skops.io as sio

            try:
                blob = sio.dumps(obj)
            except Exception as exc:
                raise TypeError(f"{where}: {type(obj).__name__} cannot be saved "
                                f"as data ({exc})") from None  # fmt: skip
            # skops stores functions by name: a lambda's or a local
            # function's name can never be imported again, so the file would
            # never load. Refuse it now, before anything is written.
            unnamed = [
                name
                for name in sio.get_untrusted_types(data=blob)
                if "<lambda>" in name or "<locals>" in name
            ]
            if unnamed:
                raise TypeError(
                    f"{where}: {type(obj).__name__} holds "
                    f"{', '.join(unnamed)}, defined inside a function or as a "
                    "lambda, which cannot be stored by name; define it at the "
                    "top level of a module"
                )
            return {"__skops__": self._add("objects", ".skops", blob)}
        import torch

        if isinstance(obj, torch.device):
            return str(obj)
        if hasattr(obj, "__dict__") and not isinstance(
            obj, torch.nn.Module | torch.Tensor
        ):
            # A plain object (a skorch callback, say): its class by name and
            # its attributes as data. Loading imports the class only if it
            # is trusted, and never calls it.
            return {
                "__object__": _qualname(type(obj)),
                "state": self.encode(dict(vars(obj)), where),
            }
        raise TypeError(
            f"{where}: an object of type {_qualname(type(obj))} cannot be saved as "
            "data; skdistill stores plain values, arrays, classes by name, "
            "skdistill estimators and scikit-learn objects"
        )

    def encode_estimator(self, est, where):
        state = {
            k: v
            for k, v in est.__getstate__().items()
            if k not in ("net_", "history_", "_skdistill_version")
        }
        net = None
        if getattr(est, "net_", None) is not None:
            net = self._net_saver(est, f"nets/{len(self.files)}")
        return {
            "class": _qualname(type(est)),
            "state": self.encode(state, where),
            "net": net,
        }


def _holds_skdistill(value) -> bool:
    """Whether ``value`` holds a skdistill estimator, in containers or estimators."""
    from sklearn.base import BaseEstimator

    if _is_skdistill_estimator(value):
        return True
    if isinstance(value, dict):
        return any(_holds_skdistill(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_skdistill(v) for v in value)
    if isinstance(value, BaseEstimator):
        return _holds_skdistill(vars(value))
    return False


def _is_skdistill_estimator(obj) -> bool:
    from ._base import NeuralEstimatorMixin

    return isinstance(obj, NeuralEstimatorMixin)


class Reader:
    """Rebuilds a tree written by :class:`Writer`, importing only trusted names.

    ``read(name)`` returns an archive member's bytes; ``net_loader(est,
    files)`` rebuilds a skdistill estimator's network; ``trusted`` adds
    type names to :data:`TRUSTED_MODULES`.
    """

    def __init__(self, read: Callable, net_loader: Callable, trusted=(), path=""):
        self.read = read
        self.net_loader = net_loader
        self.trusted = set(trusted or ())
        self.path = path

    def untrusted(self, tree) -> list[str]:
        """Every type name in ``tree`` (skops blobs included) not trusted."""
        import skops.io as sio

        found = []

        def walk(node):
            if isinstance(node, list):
                for v in node:
                    walk(v)
            elif isinstance(node, dict):
                for key in ("__type__", "__object__"):
                    if key in node and not _is_trusted(node[key], self.trusted):
                        found.append(node[key])
                if "__estimator__" in node:
                    name = node["__estimator__"]["class"]
                    if not name.startswith("skdistill."):
                        found.append(name)
                if "__skops__" in node:
                    types = sio.get_untrusted_types(data=self.read(node["__skops__"]))
                    found.extend(t for t in types if not _is_trusted(t, self.trusted))
                for v in node.values():
                    walk(v)

        walk(tree)
        return found

    def _import(self, name):
        if not _is_trusted(name, self.trusted):
            raise UntrustedTypeError(self.path, [name])
        module, _, attr = name.rpartition(".")
        obj = None
        # Nested names (Outer.Inner): import the longest importable prefix.
        parts = name.split(".")
        for i in range(len(parts) - 1, 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for part in parts[i:]:
                obj = getattr(obj, part)
            if name not in self.trusted:
                self._check_default_trust(name, obj)
            return obj
        raise ValueError(f"{self.path}: cannot import {name!r} ({module}.{attr})")

    def _check_default_trust(self, name, obj) -> None:
        """What a trusted module's prefix vouches for: its own classes, no more.

        A name is trusted by its first part, so it must name the class it
        resolves to (``torch.os.system`` resolves through ``torch``'s import
        of ``os`` to a function of another module), and a function is never
        trusted by its module alone (``numpy.savetxt`` writes files): the
        user names such a function in ``trusted``.
        """
        if not isinstance(obj, type) or _qualname(obj) != name:
            raise UntrustedTypeError(self.path, [name])

    def decode(self, node):
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict):
            return node
        tag = next((t for t in _TAGS if t in node), None)
        if tag is None:
            raise ValueError(f"{self.path}: unknown entry {sorted(node)[:3]}")
        value = node[tag]
        if tag == "__tuple__":
            return tuple(self.decode(v) for v in value)
        if tag == "__dict__":
            return {k: self.decode(v) for k, v in value.items()}
        if tag == "__bunch__":
            return Bunch(**self.decode(value))
        if tag == "__items__":
            return {self.decode(k): self.decode(v) for k, v in value}
        if tag == "__array__":
            return np.load(io.BytesIO(self.read(value)), allow_pickle=False)
        if tag == "__objarray__":
            out = np.empty(len(value), dtype=object)
            out[:] = [self.decode(v) for v in value]
            return out.reshape(node["shape"])
        if tag == "__scalar__":
            return np.dtype(node["dtype"]).type(value)
        if tag == "__type__":
            return self._import(value)
        if tag == "__partial__":
            return functools.partial(
                self.decode(value),
                *self.decode(node["args"]),
                **self.decode(node["keywords"]),
            )
        if tag == "__history__":
            from skorch.history import History

            return History(self.decode(value))
        if tag == "__skops__":
            import skops.io as sio

            blob = self.read(value)
            types = sio.get_untrusted_types(data=blob)
            bad = [t for t in types if not _is_trusted(t, self.trusted)]
            if bad:
                raise UntrustedTypeError(self.path, bad)
            return sio.loads(blob, trusted=types)
        if tag == "__object__":
            cls = self._import(value)
            if not isinstance(cls, type):
                raise ValueError(f"{self.path}: {value} is not a class")
            obj = object.__new__(cls)
            obj.__dict__.update(self.decode(node["state"]))
            return obj
        return self.decode_estimator(value)

    def decode_estimator(self, node):
        name = node["class"]
        if not name.startswith("skdistill."):
            raise UntrustedTypeError(self.path, [name])
        cls = self._import(name)
        if not (isinstance(cls, type) and _is_skdistill_class(cls)):
            raise ValueError(f"{self.path}: {name} is not a skdistill estimator")
        est = object.__new__(cls)
        est.__dict__.update(self.decode(node["state"]))
        if node.get("net") is not None:
            self.net_loader(est, node["net"])
        return est


def _is_skdistill_class(cls) -> bool:
    from ._base import NeuralEstimatorMixin

    return issubclass(cls, NeuralEstimatorMixin)
