"""From the fitted net to predictions: batches of stacked outputs, reduced.

Predictions run one batch at a time and each batch is reduced (to the mean
over members, or an uncertainty decomposition) into arrays allocated once,
so that the peak memory is the result plus one batch.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from .training import TensorData


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


def log_probabilities(proba: np.ndarray) -> np.ndarray:
    """``log(proba)``, a zero probability giving the log of the smallest
    positive float64 (about -708) rather than ``-inf``."""
    return np.log(np.maximum(proba, np.finfo(np.float64).tiny))


#: Up to this many classes, :func:`stacked_probabilities` runs classes first.
_CLASSES_FIRST_MAX = 32


def stacked_probabilities(logits: np.ndarray) -> np.ndarray:
    """Stacked ``(n, M, K)`` logits -> member probabilities ``(M, n, K)``.

    torch's softmax, not scipy's: over a last axis of a few classes neither
    vectorises, so up to ``_CLASSES_FIRST_MAX`` classes the softmax runs
    over the first axis of a classes-first copy (float64, one thread: 2,400
    rows of 8 members and 3 classes took 1.19 ms with scipy, 0.20 ms so;
    1,000 x 8 x 10: 0.66 against 0.25 ms). With many classes the last axis
    is the fast one (500 x 16 x 100: scipy 7.9 ms, torch 2.0 ms). Where it
    counts is the distiller's set-up, on whole arrays (the teacher's
    outputs, the spread fit): a 1-epoch Hydra+ fit took 69 -> 54 ms.
    Inside ``predict_proba``'s batches of about 1,300 rows the two cost
    the same (an ensemble's 100,000-row prediction: 127.5 against 131.8
    ms). The result is a view of ``(K, M, n)`` or ``(n, M, K)`` memory.
    """
    values = _host_tensor(logits)
    if values.shape[-1] > _CLASSES_FIRST_MAX:
        return torch.softmax(values, dim=-1).numpy().transpose(1, 0, 2)
    proba = torch.softmax(values.permute(2, 1, 0).contiguous(), dim=0)
    return proba.permute(1, 2, 0).numpy()


def mean_probability(logits: torch.Tensor) -> torch.Tensor:
    """Stacked ``(b, M, K)`` logits -> the members' mean probability ``(b, K)``.

    The torch twin of ``stacked_probabilities(logits).mean(axis=0)``, run
    where the outputs are: on a GPU only ``(b, K)`` comes back to the host.
    """
    return torch.softmax(logits, dim=-1).mean(dim=1)


def member_entropies(logits: torch.Tensor) -> Bunch:
    """Stacked ``(b, M, K)`` logits -> the entropy decomposition, in nats.

    The torch twin of :func:`skdistill.uncertainty.classification_uncertainty`
    on the members' softmax (tests compare the two): ``total`` the entropy
    of the mean, ``aleatoric`` the mean entropy, ``epistemic`` their
    non-negative difference, each ``(b,)``.
    """
    proba = torch.softmax(logits, dim=-1)
    total = torch.special.entr(proba.mean(dim=1)).sum(dim=-1)
    aleatoric = torch.special.entr(proba).sum(dim=-1).mean(dim=1)
    return Bunch(
        total=total,
        aleatoric=aleatoric,
        epistemic=torch.clamp(total - aleatoric, min=0.0),
    )


def _reduce_on_device(out: torch.Tensor) -> bool:
    """Whether a batch's outputs are reduced where they are: on CUDA (other
    accelerators, such as Apple's MPS, have no float64; the CPU is faster
    with scipy's reductions, see ``benchmarks/RESULTS.md``)."""
    return out.device.type == "cuda"


def _to_host(part):
    """Tensors (alone, in a tuple or a Bunch) as numpy arrays on the CPU."""
    if isinstance(part, dict):
        return type(part)(**{k: _to_host(v) for k, v in part.items()})
    if isinstance(part, tuple):
        return tuple(_to_host(v) for v in part)
    return part.cpu().numpy()


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


def _finite_part(part) -> bool:
    """Whether every float array of a reduced batch (array, tuple, Bunch) is finite."""
    values = part.values() if isinstance(part, dict) else (
        part if isinstance(part, tuple) else (part,)
    )  # fmt: skip
    return all(
        np.isfinite(v).all()
        for v in values
        if isinstance(v, np.ndarray) and v.dtype.kind == "f"
    )


#: A module of the user's (a CNN, say) holds about this many activations per
#: input value of a sample: a guess that keeps prediction batches of images
#: within memory (a ResNet-8 on 32x32 images holds some 50 per value).
ACTIVATIONS_PER_INPUT = 64


#: Activations per prediction batch, in floats, on a CUDA device and on the CPU.
PREDICT_BUDGET_CUDA = 1 << 24
PREDICT_BUDGET_CPU = 1 << 21


def predict_batch_rows(
    n_stack: int,
    width: int,
    budget: int | None = None,
    shared: int = 0,
    device="cpu",
) -> int:
    """Rows per prediction batch so activations stay within ``budget`` floats.

    Each row holds ``width`` activations per stacked copy and ``shared``
    more once (a student's shared core). The default budget is 64 MB on a
    CUDA device and 8 MB on the CPU. On the CPU, a tensor above glibc's
    mmap threshold (at most 32 MB) is handed back to the system when freed
    and page-faulted in afresh at the next batch: an ensemble of 8 MLPs
    (100 units) predicted 122k rows/s in batches of 21k rows (64 MB) and
    326k rows/s in batches of 2k (AMD EPYC VM, one thread), the difference
    being the page faults. CUDA's caching allocator keeps its blocks, and
    there larger batches are faster. (Since the stacked MLPs' hidden
    activations reuse their buffers during a prediction call, budgets of 2
    to 32 MB measured within about 10% of each other on the CPU; 8 MB is
    kept for its smaller memory.)
    """
    if budget is None:
        on_cuda = str(device).startswith("cuda")
        budget = PREDICT_BUDGET_CUDA if on_cuda else PREDICT_BUDGET_CPU
    rows = budget // max(1, n_stack * max(1, width) + shared)
    return int(min(65536, max(256, rows)))


class OutputsMixin:
    """Target scale and prediction batches (part of the estimators' mixin)."""

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

    def _predict_stacked(self, X, reduce=None, device_reduce=None):
        """Validated ``X`` through the fitted net, one prediction batch at a time.

        Without ``reduce``: the stacked outputs ``(n, n_stack, n_out)``,
        float64. With ``reduce``: ``reduce(out)`` of every batch's outputs,
        assembled (see :meth:`_reduce_outputs`).
        """
        check_is_fitted(self, "net_")
        return self._reduce_outputs(
            self._validate_X(X, reset=False), reduce, device_reduce=device_reduce
        )

    def _reduce_outputs(self, X, reduce=None, name="network", device_reduce=None):
        """Run a validated 2-D array through the net and reduce each batch.

        ``reduce(out)`` receives one batch's stacked outputs, ``(b, n_stack,
        n_out)`` float64, and returns an array, a tuple of arrays or a
        ``Bunch`` of arrays, each with ``b`` rows. ``device_reduce``, its
        torch twin, is used instead where the net is on CUDA: it receives a
        float64 tensor there, and only its result comes back to the host.
        (On a GPU the softmax and entropies over every member's output, done
        by the host, were the whole cost of a prediction.) The results
        are written into arrays allocated once for all rows, so the peak
        memory is the result plus one batch: ``predict_proba`` on 10^7 rows
        never holds every member's output at once. ``X`` is cast to float32
        batch by batch, never copied whole.
        """
        n = len(X)
        result, start = None, 0
        for out in self.net_.iter_stacked(TensorData(_host_tensor(X))):
            on_device = device_reduce is not None and _reduce_on_device(out)
            if on_device:
                out = out.to(torch.float64)
                finite = bool(torch.isfinite(out).all())
            else:
                out = out.cpu().numpy().astype(np.float64)
                finite = bool(np.isfinite(out).all())
            if not finite:
                raise ValueError(
                    f"the {name} produced non-finite outputs for this input; its "
                    "values may lie far outside the training range"
                )
            if on_device:
                part = _to_host(device_reduce(out))
            else:
                part = out if reduce is None else reduce(out)
            if not _finite_part(part):
                # Finite outputs, but their reduction in y's units overflowed
                # (a regressor fitted on targets near float64's limit).
                raise ValueError(
                    f"the {name}'s predictions for this input are not finite "
                    "once scaled to y's units; y's scale leaves no room for them"
                )
            if result is None:
                result = _allocate_like(part, n)
            _assign_rows(result, part, start)
            start += len(out)
        return result
