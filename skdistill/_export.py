"""Export a fitted ensemble or student to ONNX, predictions included.

The exported graph is the whole prediction, not only the network: for a
classifier the softmax, the student's ``spread_`` rescaling and the mean over
members (or heads); for a regressor the spread, the return from standardised
units to ``y``'s (``y_mean_``, ``y_scale_``) and the Gaussian mixture. Its
outputs match ``predict_proba`` / ``predict_members`` / ``predict(X,
return_std=True)`` to float32 precision, and any ONNX runtime can serve the
model without Python, PyTorch or skdistill.

**The exporter.** :func:`to_onnx` uses PyTorch's TorchScript-based exporter
(``torch.onnx.export(..., dynamo=False)``). It is present in every PyTorch
this package supports (2.2 on) and needs nothing beyond PyTorch, whereas the
``torch.export``-based exporter (``dynamo=True``) needs ``onnxscript`` and
only exists from PyTorch 2.5. The TorchScript exporter is deprecated in
recent PyTorch releases (its ``DeprecationWarning`` is silenced here); the
module exported is plain tensor code with no Python control flow, which both
exporters handle, so switching when PyTorch removes it is a one-line change.
Members built from a custom ``module=`` run under :func:`torch.vmap` during
training (:class:`~skdistill.nn.layers.VmapStack`), which the TorchScript
exporter cannot trace; for export they are unrolled into one copy of the
module per member, with the fitted weights.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import numbers
import os
import tempfile
import warnings
from pathlib import Path

import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._version import __version__
from .distill._extra import scale_spread
from .nn.layers import VmapStack
from .nn.losses import MAX_LOG_CONCENTRATION

__all__ = ["to_exported_program", "to_onnx"]

#: The input's name in every exported graph.
INPUT_NAME = "X"

#: Output names, by kind of model.
OUTPUTS = {
    "classification": ("probabilities", "member_probabilities"),
    "regression": ("mean", "std", "member_means", "member_variances"),
    "dirichlet": ("probabilities", "alpha"),
}


#: Selects the TorchScript exporter: the default before PyTorch 2.9, and
#: ``dynamo=False`` from PyTorch 2.5 on.
_TORCHSCRIPT = (
    {"dynamo": False}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters
    else {}
)


class _UnrolledStack(nn.Module):
    """A :class:`VmapStack`'s members as separate modules, run one after another.

    The same function as the ``VmapStack`` it is built from (same weights and
    buffers), without ``torch.vmap``, which the TorchScript exporter cannot
    trace.
    """

    def __init__(self, stack: VmapStack):
        super().__init__()
        params, buffers = stack._state()
        members = []
        for i in range(stack.n_stack):
            member = copy.deepcopy(stack._template).to_empty(device="cpu")
            state = {k: v[i].detach().cpu() for k, v in {**params, **buffers}.items()}
            member.load_state_dict(state, strict=True)
            members.append(member.eval())
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members], dim=1)


def _export_copy(module: nn.Module) -> nn.Module:
    """A CPU, float32, evaluation-mode copy of the fitted module, vmap unrolled."""
    module = copy.deepcopy(module).to(device="cpu", dtype=torch.float32).eval()
    # An ensemble's members (``body``) or a student's heads (``heads``) of a
    # user's module: stacked under vmap, which the exporter cannot trace.
    for name in ("body", "heads"):
        if isinstance(getattr(module, name, None), VmapStack):
            setattr(module, name, _UnrolledStack(getattr(module, name)).eval())
    return module.requires_grad_(False)


class _PredictionGraph(nn.Module):
    """The fitted network followed by the estimator's prediction arithmetic.

    Parameters
    ----------
    module : torch.nn.Module
        Maps ``(B, n_features)`` to stacked outputs ``(B, M, n_out)``:
        logits (classification), or standardised means and variances
        (regression).
    kind : {"classification", "regression", "dirichlet"}
    spread : float
        A student's ``spread_`` (1 for an ensemble).
    y_mean, y_scale : float
        Regression's target standardisation.
    """

    def __init__(self, module, kind, spread=1.0, y_mean=0.0, y_scale=1.0):
        super().__init__()
        self.module = module
        self.kind = kind
        self.spread = float(spread)
        self.y_mean = float(y_mean)
        self.y_scale = float(y_scale)

    def _spread_logits(self, out):
        return scale_spread(out, self.spread, "classification")  # the estimators' rule

    def forward(self, x):
        out = self.module(x)
        if self.kind == "dirichlet":
            z = out[:, 0, :].clamp(-MAX_LOG_CONCENTRATION, MAX_LOG_CONCENTRATION)
            concentration = torch.exp(z)
            return concentration / concentration.sum(dim=1, keepdim=True), concentration
        if self.kind == "classification":
            members = torch.softmax(self._spread_logits(out), dim=-1).transpose(0, 1)
            return members.mean(dim=0), members
        # Regression, in standardised units until the end: (M, B) each.
        mu = out[..., 0].transpose(0, 1)
        var = out[..., 1].transpose(0, 1)
        center = mu.mean(dim=0, keepdim=True)
        if self.spread != 1.0 and out.shape[1] >= 2:
            mu = center + self.spread * (mu - center)
        total = var.mean(dim=0) + ((mu - center) ** 2).mean(dim=0)
        mean = center[0] * self.y_scale + self.y_mean
        std = torch.sqrt(total) * self.y_scale
        return (
            mean,
            std,
            mu * self.y_scale + self.y_mean,
            var * (self.y_scale * self.y_scale),
        )


def _graph_for(estimator) -> tuple[_PredictionGraph, int, str]:
    """The prediction graph of a fitted estimator, its input width and its kind."""
    from ._ensemble_base import _BaseEnsemble
    from .distill._base import BaseDistiller
    from .distill._endd import EnDDDistiller

    if not isinstance(estimator, _BaseEnsemble | BaseDistiller):
        raise TypeError(
            "only a skdistill ensemble or distilled student can be exported; "
            f"got {type(estimator).__name__}"
        )
    check_is_fitted(estimator, "net_")
    name = type(estimator).__name__
    if isinstance(estimator, BaseDistiller):
        if getattr(estimator, "student_transform_", None) is not None:
            raise ValueError(
                f"this {name} has a student_transform: the scikit-learn "
                "transformer cannot go into the network's exported graph. Export "
                "the fitted transformer (student_transform_) separately, e.g. "
                "with skl2onnx, and feed its output to the student's graph; "
                "or distil without student_transform"
            )
        task = estimator.task_
        n_features = getattr(estimator, "student_input_shape_", None) or (
            estimator.n_student_features_,
        )
        spread = getattr(estimator, "spread_", 1.0)
    else:
        task = estimator._task
        n_features = getattr(estimator, "input_shape_", None) or (
            estimator.n_features_in_,
        )
        spread = 1.0
    kind = "dirichlet" if isinstance(estimator, EnDDDistiller) else task
    module = _export_copy(estimator.net_.module_)
    graph = _PredictionGraph(
        module,
        kind,
        spread=spread,
        y_mean=getattr(estimator, "y_mean_", 0.0),
        y_scale=getattr(estimator, "y_scale_", 1.0),
    )
    return graph.eval(), tuple(int(d) for d in n_features), kind


def _metadata(estimator, kind) -> dict[str, str]:
    meta = {
        "skdistill_version": __version__,
        "estimator": type(estimator).__name__,
        "kind": kind,
        "n_features_in": str(estimator.n_features_in_),
    }
    classes = getattr(estimator, "classes_", None)
    if classes is not None:
        meta["classes"] = json.dumps(
            [
                c if isinstance(c, int | float | str) else str(c)
                for c in classes.tolist()
            ]
        )
    return meta


def _max_opset() -> int | None:
    """The newest opset the TorchScript exporter writes (None: unknown)."""
    try:
        from torch.onnx import _constants
    except ImportError:  # pragma: no cover - a private module's name moved
        return None
    return getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", None)


def _check_opset(opset):
    if opset is None:
        return None
    if isinstance(opset, bool) or not isinstance(opset, numbers.Integral) or opset < 9:
        raise ValueError(f"opset must be None or an integer >= 9; got {opset!r}")
    top = _max_opset()
    if top is not None and opset > top:
        raise ValueError(
            f"opset={opset} is newer than this PyTorch's ONNX exporter writes "
            f"(at most {top})"
        )
    return int(opset)


def to_onnx(estimator, path, *, opset=None) -> None:
    """Write a fitted ensemble or student, with its prediction step, as ONNX.

    The graph takes one float32 input ``X`` of shape ``(batch, n_features)``
    (the batch size is free) and returns:

    * a classifier: ``probabilities`` ``(batch, n_classes)``, as
      ``predict_proba``, and ``member_probabilities`` ``(n_members, batch,
      n_classes)``, as ``predict_members`` (a student's heads, with its
      ``spread_`` applied);
    * a regressor: ``mean`` and ``std`` ``(batch,)``, as ``predict(X,
      return_std=True)``, and ``member_means`` and ``member_variances``
      ``(n_members, batch)``, as ``predict_members``, in ``y``'s units;
    * an :class:`~skdistill.EnDDDistiller`: ``probabilities`` and the
      Dirichlet's concentrations, named ``alpha``, ``(batch, n_classes)``, as
      ``predict_concentration`` (its ``predict_members`` draws at random and
      is not exported).

    The model's metadata (``metadata_props``) holds the skdistill version,
    the estimator's class, the kind of outputs and, for a classifier,
    ``classes`` as a JSON list: the label of column ``j`` of
    ``probabilities`` is ``classes[j]``. The input is the validated array
    the estimator predicts from: a DataFrame's columns in the order of
    ``feature_names_in_``, as float32.

    Parameters
    ----------
    estimator : fitted skdistill ensemble or distiller
    path : str or path-like
        The file to write (``.onnx``). The write is atomic: the model is
        written to a temporary file in the same folder and renamed over
        ``path``, so a failed export leaves no partial file.
    opset : int, default=None
        The ONNX opset; None takes PyTorch's default.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        The estimator is not fitted.
    TypeError
        ``estimator`` is not a skdistill ensemble or distiller.
    ValueError
        A distiller with a ``student_transform`` (export the transformer
        separately and feed its output to the student), a custom member
        ``module=`` that PyTorch cannot export, or a bad ``opset``.

    Examples
    --------
    >>> import onnxruntime as ort                                 # doctest: +SKIP
    >>> skdistill.to_onnx(student, "student.onnx")               # doctest: +SKIP
    >>> session = ort.InferenceSession("student.onnx")           # doctest: +SKIP
    >>> proba, members = session.run(None, {"X": X.astype("float32")})  # doctest: +SKIP
    """
    opset = _check_opset(opset)
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ImportError(
            "to_onnx needs the onnx package: pip install 'skdistill[onnx]'"
        ) from None
    graph, n_features, kind = _graph_for(estimator)
    path = Path(os.fspath(path))
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        _export(graph, n_features, kind, tmp, opset, estimator)
        _add_metadata(tmp, _metadata(estimator, kind))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _export(graph, n_features, kind, file, opset, estimator) -> None:
    custom = getattr(estimator, "module", None) is not None
    example = torch.zeros(2, *n_features, dtype=torch.float32)
    outputs = OUTPUTS[kind]
    dynamic = {INPUT_NAME: {0: "batch"}}
    for name in outputs:
        dynamic[name] = {1 if name.startswith("member") else 0: "batch"}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                graph,
                (example,),
                file,
                **_TORCHSCRIPT,
                input_names=[INPUT_NAME],
                output_names=list(outputs),
                dynamic_axes=dynamic,
                opset_version=opset,
                do_constant_folding=True,
            )
    except Exception as exc:
        if not custom:
            raise
        raise ValueError(
            f"the custom member module {estimator.module!r} could not be "
            f"exported to ONNX by PyTorch: {type(exc).__name__}: {exc}"
        ) from exc


def _add_metadata(file, meta) -> None:
    import onnx

    model = onnx.load(file)
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, file)
    with open(file, "rb+") as f:
        os.fsync(f.fileno())


def to_exported_program(estimator) -> torch.export.ExportedProgram:
    """The fitted model and its prediction step as a ``torch.export`` program.

    The same graph as :func:`to_onnx`, for PyTorch deployment paths (AOT
    Inductor, ExecuTorch, ``torch.export.save``) instead of ONNX. The
    program takes one float32 tensor ``(batch, n_features)``, any batch size,
    and returns a tuple of tensors named, in order, as :func:`to_onnx`'s
    outputs (``probabilities`` and ``member_probabilities`` for a
    classifier, and so on).

    Parameters
    ----------
    estimator : fitted skdistill ensemble or distiller

    Returns
    -------
    torch.export.ExportedProgram
        On the CPU; ``program.module()(X)`` runs it.

    Raises
    ------
    sklearn.exceptions.NotFittedError, TypeError, ValueError
        As :func:`to_onnx` (``opset`` aside).

    Examples
    --------
    >>> program = skdistill.to_exported_program(student)         # doctest: +SKIP
    >>> torch.export.save(program, "student.pt2")                # doctest: +SKIP
    >>> proba, heads = torch.export.load("student.pt2").module()(
    ...     torch.as_tensor(X, dtype=torch.float32))              # doctest: +SKIP
    """
    graph, n_features, _ = _graph_for(estimator)
    example = torch.zeros(2, *n_features, dtype=torch.float32)
    batch = torch.export.Dim("batch", min=1)
    with torch.no_grad():
        return torch.export.export(graph, (example,), dynamic_shapes={"x": {0: batch}})
