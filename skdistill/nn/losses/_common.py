"""Constants and helpers shared by the loss functions."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: A teacher log-probability of ``-inf`` (a zero probability) becomes this value.
LOG_PROB_FLOOR = math.log(1e-8)
#: EnDD clamps ``z / T`` to ``[-MAX_LOG_CONCENTRATION, MAX_LOG_CONCENTRATION]``.
MAX_LOG_CONCENTRATION = 20.0
_LOG_2PI = math.log(2.0 * math.pi)
_DIVERSITY_EPS = 1e-12


# --------------------------------------------------------------------------- helpers
def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}.")


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}.")


def _member_labels(y: torch.Tensor, batch: int, n: int) -> torch.Tensor:
    """Broadcast ``(B,)`` labels to ``(B, n)``; ``(B, n)`` passes through."""
    if y.dim() == 1:
        return y.unsqueeze(1).expand(batch, n)
    if y.dim() == 2 and y.shape == (batch, n):
        return y
    raise ValueError(
        f"targets must have shape (B,) or (B, {n}) = ({batch}, {n}); "
        f"got {tuple(y.shape)}."
    )


def _teacher_log_probs(teacher_logp: torch.Tensor, temperature: float) -> torch.Tensor:
    """Tempered member log-probabilities ``log softmax(log p / T)``.

    ``log p = -inf`` (a zero probability) counts as ``LOG_PROB_FLOOR``; finite
    values, however small, are kept (a stored teacher's logits are not floored).
    """
    return torch.log_softmax(_floored(teacher_logp) / temperature, dim=-1)


def _floored(teacher_logp: torch.Tensor) -> torch.Tensor:
    """``teacher_logp`` with ``-inf`` (a zero probability) at ``LOG_PROB_FLOOR``."""
    return teacher_logp.nan_to_num(nan=math.nan, posinf=math.inf, neginf=LOG_PROB_FLOOR)


def _log_mean_probs(log_probs: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """``log mean_n p_n`` computed stably from ``log p_n`` along ``dim``."""
    return torch.logsumexp(log_probs, dim=dim) - math.log(log_probs.shape[dim])


def _kl_from_log(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """``KL(p || q)`` over the last axis, from log-probabilities (no reduction)."""
    return F.kl_div(log_q, log_p, reduction="none", log_target=True).sum(dim=-1)


def _gaussian_nll_terms(
    mean: torch.Tensor, var: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Elementwise Gaussian NLL ``0.5 [log 2 pi + log var + (y - mean)^2 / var]``."""
    # Kept over F.gaussian_nll_loss(full=True, eps=0): 138-172 us against
    # 200-283 us fwd+bwd at (200, 8), whose var check also waits for the device.
    return 0.5 * (_LOG_2PI + torch.log(var) + (y - mean) ** 2 / var)


def _sample_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample CE for ``(B, K)`` logits and ``(B,)`` labels."""
    return F.cross_entropy(logits, y, reduction="none")


def _masked_mean(
    values: torch.Tensor,
    labelled: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Weighted mean of per-sample ``values`` over the labelled rows.

    ``values`` is ``(B,)``, or ``(B, N)`` for ``N`` stacked networks (each
    column its own rows: a member's loss is normalised by its own weights,
    then the columns are averaged). ``labelled`` (``(B,)`` bool) leaves extra
    rows (teacher outputs but no label) out of a ground-truth term;
    ``sample_weight`` (``(B,)`` or like ``values``) weights each row, as
    ``sum_b w_b v_b / sum_b w_b``. Computed with weighted sums, not
    indexing, so it never waits for the device; a batch without weight (no
    labelled rows, say) gives 0.
    """
    if labelled is None and sample_weight is None:
        return values.mean()
    if values.dim() == 1:
        return (values * _batch_shares(values, labelled, sample_weight)).sum()
    w = torch.ones_like(values) if sample_weight is None else sample_weight
    w = w.to(values.dtype)
    if labelled is not None:
        w = w * labelled.to(values.dtype)
    if values.dim() == 2 and w.dim() == 1:
        w = w.unsqueeze(1).expand_as(values)
    return ((values * w).sum(dim=0) / w.sum(dim=0).clamp_min(1e-12)).mean()


def _batch_shares(like, labelled, sample_weight):
    """``(B,)`` shares of a batch mean (``w_b / sum w``, see ``_masked_mean``);
    a float ``1 / B`` when every row counts once."""
    if labelled is None and sample_weight is None:
        return 1.0 / like.shape[-1]
    w = (
        labelled.to(like.dtype)
        if sample_weight is None
        else sample_weight.to(like.dtype)
    )
    if labelled is not None and sample_weight is not None:
        w = w * labelled
    return w / w.sum().clamp_min(1e-12)


def _split_gaussian(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if out.shape[-1] != 2:
        raise ValueError(
            "Gaussian outputs must end in an axis of size 2 (mean, variance); "
            f"got shape {tuple(out.shape)}."
        )
    return out[..., 0], out[..., 1]


def _moment_matched(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of the equal-weight mixture of ``(B, N, 2)`` Gaussians."""
    mean, var = _split_gaussian(out)
    mix_mean = mean.mean(dim=1)
    spread = ((mean - mix_mean.unsqueeze(1)) ** 2).mean(dim=1)
    return mix_mean, var.mean(dim=1) + spread


#: Rows prepared at a time by the ``prepare_*_targets`` functions (bounds
#: their temporaries).
_PREPARE_ROWS = 1 << 16


def _teacher_shape(teacher_logp) -> tuple[int, int]:
    """``(N, K)`` of ``(n, N, K)`` member log-probabilities, checked."""
    if teacher_logp.dim() != 3:
        raise ValueError(
            f"teacher_logp must have shape (n, N, K); got {tuple(teacher_logp.shape)}."
        )
    return teacher_logp.shape[1], teacher_logp.shape[2]


def _prepared_rows(teacher_logp, width, fill) -> torch.Tensor:
    """``(n, width)`` rows, ``fill(floored chunk, rows of the chunk)`` chunk by chunk.

    Chunks of ``_PREPARE_ROWS`` rows bound the temporaries (the tempered
    members of every row would be as large as the teacher's outputs again).
    """
    out = teacher_logp.new_empty((len(teacher_logp), width))
    for start in range(0, len(teacher_logp), _PREPARE_ROWS):
        stop = start + _PREPARE_ROWS
        fill(_floored(teacher_logp[start:stop]), out[start:stop])
    return out


def _classes_first(teacher_floored, temperature):
    """``(n, N, K)`` member log-probabilities as tempered ``(K, N, n)`` ones.

    Prepared once per fit, but over every training row: torch's CPU
    log-softmax over a last axis of a few classes does not vectorise (4,800
    rows of 8 members and 3 classes: 3.6 ms over the last axis, 0.5 ms
    over the first of the same values laid out classes first, one thread).
    """
    z = (teacher_floored / temperature).permute(2, 1, 0).contiguous()
    return torch.log_softmax(z, dim=0)


def _mean_member_rows(teacher_floored, temperature):
    """Per row ``[sum_k pbar_k log pbar_k, pbar]`` of the mean member at ``temperature``.

    ``pbar = mean_n softmax(log p_n / T)``: the teacher's part of any
    ``KL(pbar || s) = c - sum_k pbar_k log s_k`` (Hydra+'s L2, Hinton's KD).
    Returned as an ``(n, 1 + K)`` view of classes-first memory.
    """
    log_mean = _log_mean_probs(_classes_first(teacher_floored, temperature))
    mean = log_mean.exp()  # (K, n)
    return torch.cat([(mean * log_mean).sum(dim=0, keepdim=True), mean]).T
