"""Every training loss as a pure function of tensors.

All tensors are batch-first: ``B`` samples, ``N`` ensemble (teacher) members,
``M`` student heads, ``K`` classes.

* member / head logits: ``(B, N, K)`` / ``(B, M, K)``;
* Gaussian outputs: ``(B, N, 2)`` / ``(B, M, 2)`` with ``[..., 0]`` the mean and
  ``[..., 1]`` the (positive) variance;
* teacher targets for classification: member **log-probabilities**
  ``(B, N, K)``. A temperature ``T`` is applied as ``softmax(log p / T)``, which
  equals ``softmax(z / T)`` for a softmax model, so teachers without logits
  (random forests, ...) work the same way. A teacher log-probability of
  ``-inf`` (a zero probability) is replaced by ``log(1e-8)`` so that it never
  gives NaN; finite ones are used as they are (the distillers floor a
  probability teacher's outputs at ``1e-8`` themselves, and use a teacher's
  stored logits, :class:`~skdistill.TeacherOutputs`, unfloored);
* labels: ``(B,)`` long, or ``(B, N)`` where each member sees its own rows.

Every loss returns a scalar tensor: the mean over the batch (and over members,
heads or member-head pairs where stated), in the dtype of its inputs.
Notation: ``p = softmax(z / T)``, ``KL(p || q) = sum_c p_c log(p_c / q_c)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "cohort_mutual_learning_loss",
    "diversity_weight",
    "endd_loss",
    "endd_temperature",
    "gaussian_kl",
    "gaussian_nll",
    "head_member_map",
    "hydra_aggregation",
    "hydra_correctness",
    "hydra_diversity",
    "hydra_individuality",
    "hydra_regression_aggregation",
    "hydra_regression_correctness",
    "hydra_regression_individuality",
    "kd_loss",
    "member_cross_entropy",
    "member_gaussian_nll",
    "mutual_learning_loss",
    "virtual_teacher_loss",
    "wsl_loss",
]

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
    floor = torch.full_like(teacher_logp, LOG_PROB_FLOOR)
    logp = torch.where(torch.isneginf(teacher_logp), floor, teacher_logp)
    return torch.log_softmax(logp / temperature, dim=-1)


def _log_mean_probs(log_probs: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """``log mean_n p_n`` computed stably from ``log p_n`` along ``dim``."""
    return torch.logsumexp(log_probs, dim=dim) - math.log(log_probs.shape[dim])


def _kl_from_log(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """``KL(p || q)`` over the last axis, from log-probabilities (no reduction)."""
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


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
    w = torch.ones_like(values) if sample_weight is None else sample_weight
    w = w.to(values.dtype)
    if labelled is not None:
        w = w * labelled.to(values.dtype)
    if values.dim() == 2 and w.dim() == 1:
        w = w.unsqueeze(1).expand_as(values)
    return ((values * w).sum(dim=0) / w.sum(dim=0).clamp_min(1e-12)).mean()


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


# --------------------------------------------------------------------------- members
def member_cross_entropy(
    logits: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy of every member, averaged over members and the batch.

    .. math:: \\frac{1}{N} \\sum_n \\frac{1}{B} \\sum_b -\\log
        \\operatorname{softmax}(z_{b,n})_{y_{b,n}}

    Parameters
    ----------
    logits : Tensor of shape (B, N, K)
        Member logits.
    y : LongTensor of shape (B,) or (B, N)
        Labels; ``(B,)`` labels are shared by all members.
    sample_weight : Tensor of shape (B,) or (B, N), default=None
        Per-row weights: each member's batch mean becomes the weighted mean
        ``sum_b w_b CE_b / sum_b w_b``. None: every row counts once.

    Returns
    -------
    loss : scalar Tensor

    Examples
    --------
    >>> import torch
    >>> logits = torch.zeros(4, 3, 2)
    >>> round(member_cross_entropy(logits, torch.tensor([0, 1, 0, 1])).item(), 4)
    0.6931
    """
    batch, n, k = logits.shape
    # Rows x members flattened, classes last: the gradient flows back in the
    # layout the stacked layers' batched matmuls take. Classes in dim 1
    # (``logits.transpose(1, 2)``) gave a gradient no ``bmm`` can read in
    # place: a copy per layer and a loop over the members every step.
    flat = logits.reshape(batch * n, k)
    y = _member_labels(y, batch, n).reshape(-1)
    if sample_weight is None:
        return F.cross_entropy(flat, y)
    ce = F.cross_entropy(flat, y, reduction="none").view(batch, n)
    return _masked_mean(ce, None, _member_labels(sample_weight, batch, n))


def gaussian_nll(
    mean: torch.Tensor, var: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Gaussian negative log-likelihood, averaged over all elements.

    .. math:: \\frac{1}{2}\\left[\\log 2\\pi + \\log\\sigma^2
        + \\frac{(y - \\mu)^2}{\\sigma^2}\\right]

    Parameters
    ----------
    mean, var : Tensor
        Predicted means and (positive) variances.
    y : Tensor
        Targets, broadcastable against ``mean``.

    Returns
    -------
    loss : scalar Tensor

    Examples
    --------
    >>> import math, torch
    >>> nll = gaussian_nll(torch.zeros(3), torch.ones(3), torch.zeros(3))
    >>> math.isclose(nll.item(), 0.5 * math.log(2 * math.pi), rel_tol=1e-6)
    True
    """
    return 0.5 * (_LOG_2PI + torch.log(var) + (y - mean) ** 2 / var).mean()


def member_gaussian_nll(
    out: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Gaussian NLL of every member, averaged over members and the batch.

    Parameters
    ----------
    out : Tensor of shape (B, N, 2)
        Member means ``out[..., 0]`` and variances ``out[..., 1]``.
    y : Tensor of shape (B,) or (B, N)
        Targets; ``(B,)`` targets are shared by all members.
    sample_weight : Tensor of shape (B,) or (B, N), default=None
        Per-row weights, as in :func:`member_cross_entropy`.

    Returns
    -------
    loss : scalar Tensor
        :func:`gaussian_nll` over all ``B * N`` predictions.
    """
    mean, var = _split_gaussian(out)
    batch, n = mean.shape
    y = _member_labels(y, batch, n).to(mean.dtype)
    if sample_weight is None:
        return gaussian_nll(mean, var, y)
    nll = 0.5 * (_LOG_2PI + torch.log(var) + (y - mean) ** 2 / var)
    return _masked_mean(nll, None, _member_labels(sample_weight, batch, n))


def mutual_learning_loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    weight: float,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mutual learning of ensemble members (DML_e).

    Member ``i`` is pulled towards the mean prediction of the *other* members,
    which is treated as a constant (stop-gradient):

    .. math:: \\mathcal{L} = \\frac{1}{N} \\sum_i \\Big[(1 - w)\\,\\mathrm{CE}_i
        + w\\, \\mathrm{KL}\\big(\\mathrm{sg}(\\bar p_{-i}) \\,\\|\\, p_i\\big)\\Big],
        \\qquad \\bar p_{-i} = \\frac{1}{N - 1} \\sum_{j \\ne i} p_j

    with ``p = softmax(z)`` (no temperature) and every term a batch mean.

    Parameters
    ----------
    logits : Tensor of shape (B, N, K)
        Member logits, ``N >= 2``.
    y : LongTensor of shape (B,) or (B, N)
        Labels.
    weight : float
        ``w`` in ``[0, 1]``; ``0`` gives :func:`member_cross_entropy`.
    sample_weight : Tensor of shape (B,), default=None
        Per-row weights of both terms' batch means.

    Returns
    -------
    loss : scalar Tensor

    Raises
    ------
    ValueError
        If there is a single member (there is no one to learn from) or ``weight``
        is outside ``[0, 1]``.
    """
    batch, n, _ = logits.shape
    if n < 2:
        raise ValueError(f"mutual learning needs at least 2 members, got {n}.")
    _check_fraction("weight", weight)
    ce = member_cross_entropy(logits, y, sample_weight)
    log_p = torch.log_softmax(logits, dim=-1)
    with torch.no_grad():
        p = log_p.exp()
        others = ((p.sum(dim=1, keepdim=True) - p) / (n - 1)).clamp(min=0.0)
        neg_entropy = torch.xlogy(others, others).sum(dim=-1)
    kl = neg_entropy - (others * log_p).sum(dim=-1)  # (B, N)
    return (1.0 - weight) * ce + weight * _masked_mean(kl, None, sample_weight)


def cohort_mutual_learning_loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    weight: float,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Deep mutual learning in its original cohort form (Zhang et al., 2018).

    Zhang et al.'s loss of network ``k`` in a cohort of ``K`` (Sec. 3.2,
    "Extension to larger student cohorts", eq. 10),
    ``L_Theta_k = L_C_k + 1/(K-1) sum_{l != k} D_KL(p_l || p_k)``, with the package's
    convex weighting of :func:`mutual_learning_loss`:

    .. math:: \\mathcal{L} = \\frac{1}{N} \\sum_k \\Big[(1 - w)\\,\\mathrm{CE}_k
        + \\frac{w}{N - 1} \\sum_{l \\ne k}
        \\mathrm{KL}\\big(\\mathrm{sg}(p_l) \\,\\|\\, p_k\\big)\\Big]

    with ``p = softmax(z)`` (no temperature) and every term a batch mean. Each
    peer ``p_l`` is a constant target in network ``k``'s update, as in the
    paper. The paper updates the networks one after the other, each seeing
    its peers' *updated* predictions; here all members take one simultaneous
    step against their peers' current (detached) predictions, which equals
    the alternating update only approximately (to first order in the step
    size).

    With detached peers, the gradient with respect to network ``k`` equals
    that of DML_e (:func:`mutual_learning_loss`): both are
    ``w (p_k - bar p_{-k}) / (N B)`` per logit. The two losses differ by
    ``w/N sum_k [H(bar p_{-k}) - 1/(N-1) sum_{l != k} H(p_l)]`` (the peers'
    generalised Jensen-Shannon divergence), which does not depend on network
    ``k``'s parameters: the value (validation loss, early stopping) differs,
    the step does not.

    Parameters
    ----------
    logits : Tensor of shape (B, N, K)
        Member logits, ``N >= 2``.
    y : LongTensor of shape (B,) or (B, N)
        Labels.
    weight : float
        ``w`` in ``[0, 1]``; ``0`` gives :func:`member_cross_entropy`.
    sample_weight : Tensor of shape (B,), default=None
        Per-row weights of both terms' batch means.

    Returns
    -------
    loss : scalar Tensor

    Raises
    ------
    ValueError
        If there is a single member or ``weight`` is outside ``[0, 1]``.
    """
    batch, n, _ = logits.shape
    if n < 2:
        raise ValueError(f"mutual learning needs at least 2 members, got {n}.")
    _check_fraction("weight", weight)
    ce = member_cross_entropy(logits, y, sample_weight)
    log_p = torch.log_softmax(logits, dim=-1)
    with torch.no_grad():
        p = log_p.exp()
        neg_entropy = torch.xlogy(p, p).sum(dim=-1)  # (B, N): -H(p_l)
        others_neg_entropy = (neg_entropy.sum(dim=1, keepdim=True) - neg_entropy) / (
            n - 1
        )
        others = ((p.sum(dim=1, keepdim=True) - p) / (n - 1)).clamp(min=0.0)
    # 1/(N-1) sum_{l != k} KL(p_l || p_k) = mean_l(-H(p_l)) - sum_c pbar_{-k,c} log p_k,c
    kl = others_neg_entropy - (others * log_p).sum(dim=-1)  # (B, N)
    return (1.0 - weight) * ce + weight * _masked_mean(kl, None, sample_weight)


# --------------------------------------------------------------------------- Hydra+
def head_member_map(n_members: int, n_heads: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs of (member, head) that Hydra+'s individuality term matches.

    Pair ``i = 0, ..., max(N, M) - 1`` maps member ``i mod N`` to head ``i mod M``;
    with ``N > M`` a head imitates several members, with ``N < M`` a member is
    imitated by several heads.

    Parameters
    ----------
    n_members : int
        ``N``, the number of teacher members.
    n_heads : int
        ``M``, the number of student heads.

    Returns
    -------
    member_idx, head_idx : LongTensor of shape (max(N, M),)

    Examples
    --------
    >>> member_idx, head_idx = head_member_map(3, 2)
    >>> member_idx.tolist(), head_idx.tolist()
    ([0, 1, 2], [0, 1, 0])
    """
    if n_members < 1 or n_heads < 1:
        raise ValueError(
            f"n_members and n_heads must be >= 1, got {n_members} and {n_heads}."
        )
    pairs = torch.arange(max(n_members, n_heads))
    return pairs % n_members, pairs % n_heads


def hydra_correctness(
    student_logits: torch.Tensor,
    y: torch.Tensor,
    labelled: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Hydra+ L1: every head's cross-entropy with the labels, averaged over heads.

    .. math:: \\mathcal{L}_1 = \\frac{1}{M} \\sum_m \\mathrm{CE}(z_S^m, y)

    Parameters
    ----------
    student_logits : Tensor of shape (B, M, K)
    y : LongTensor of shape (B,)
    labelled : BoolTensor of shape (B,), default=None
        Rows that have a label; the others (extra rows, any label value) are
        left out of the mean. None: every row.
    sample_weight : Tensor of shape (B,), default=None
        Per-row weights of the batch mean (``sum_b w_b l_b / sum_b w_b``).

    Returns
    -------
    loss : scalar Tensor
    """
    if labelled is None and sample_weight is None:
        return member_cross_entropy(student_logits, y)
    if labelled is not None:
        y = torch.where(labelled, y, torch.zeros_like(y))
    batch, n, k = student_logits.shape
    # Classes last, as in member_cross_entropy (a gradient bmm reads in place).
    ce = F.cross_entropy(
        student_logits.reshape(batch * n, k),
        _member_labels(y, batch, n).reshape(-1),
        reduction="none",
    ).view(batch, n)
    return _masked_mean(ce.mean(dim=1), labelled, sample_weight)


def hydra_aggregation(
    student_logits: torch.Tensor,
    teacher_logp: torch.Tensor,
    temperature: float = 1.0,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Hydra+ L2: KL from the teacher's mean prediction to the student's.

    .. math:: \\mathcal{L}_2 = T^2\\, \\mathrm{KL}(\\bar p_T \\,\\|\\, \\bar p_S),
        \\quad \\bar p_T = \\frac{1}{N}\\sum_n \\operatorname{softmax}(\\log p_T^n / T),
        \\quad \\bar p_S = \\frac{1}{M}\\sum_m \\operatorname{softmax}(z_S^m / T)

    Parameters
    ----------
    student_logits : Tensor of shape (B, M, K)
    teacher_logp : Tensor of shape (B, N, K)
        Teacher member log-probabilities.
    temperature : float, default=1.0
    sample_weight : Tensor of shape (B,), default=None
        Per-row weights of the batch mean (``sum_b w_b l_b / sum_b w_b``).

    Returns
    -------
    loss : scalar Tensor
    """
    _check_temperature(temperature)
    log_pt = _log_mean_probs(_teacher_log_probs(teacher_logp, temperature))
    log_ps = _log_mean_probs(torch.log_softmax(student_logits / temperature, dim=-1))
    kl = _kl_from_log(log_pt, log_ps)
    return temperature**2 * _masked_mean(kl, None, sample_weight)


def hydra_individuality(
    student_logits: torch.Tensor,
    teacher_logp: torch.Tensor,
    temperature: float = 3.0,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Hydra+ L3: each head imitates its mapped member(s) at temperature ``T``.

    .. math:: \\mathcal{L}_3 = \\frac{T^2}{P} \\sum_{i=0}^{P-1}
        \\mathrm{KL}\\big(p_T^{i \\bmod N} \\,\\|\\, p_S^{i \\bmod M}\\big),
        \\qquad P = \\max(N, M)

    i.e. a *mean* over the :func:`head_member_map` pairs (DESIGN's
    ``(T^2/K) sum_i`` with ``K`` the number of pairs), then over the batch.

    Parameters
    ----------
    student_logits : Tensor of shape (B, M, K)
    teacher_logp : Tensor of shape (B, N, K)
        Teacher member log-probabilities.
    temperature : float, default=3.0
    sample_weight : Tensor of shape (B,), default=None
        Per-row weights of the batch mean (``sum_b w_b l_b / sum_b w_b``).

    Returns
    -------
    loss : scalar Tensor
    """
    _check_temperature(temperature)
    member_idx, head_idx = head_member_map(
        teacher_logp.shape[1], student_logits.shape[1]
    )
    member_idx = member_idx.to(teacher_logp.device)
    head_idx = head_idx.to(student_logits.device)
    log_pt = _teacher_log_probs(teacher_logp, temperature)[:, member_idx]
    log_ps = torch.log_softmax(student_logits / temperature, dim=-1)[:, head_idx]
    kl = _kl_from_log(log_pt, log_ps).mean(dim=1)
    return temperature**2 * _masked_mean(kl, None, sample_weight)


def hydra_diversity(head_weights: list[torch.Tensor]) -> torch.Tensor:
    """Hydra+ L4: how aligned the heads' weight vectors are (lower = more diverse).

    For every head layer ``l`` with weights ``W_l`` of shape ``(M, in, out)``,
    head ``m``'s incoming weight vector of unit ``r`` is ``theta_{m,l,r} =
    W_l[m, :, r]``. Each head is compared with every other head, unit by
    unit, and only alignment is penalised:

    .. math:: \\mathcal{L}_4 = \\sum_l \\sum_r \\sum_m \\frac{1}{M - 1}
        \\sum_{m' \\ne m} \\max\\big(0, \\cos(\\theta_{m,l,r},
        \\theta_{m',l,r})\\big)

    with ``cos(a, b) = a.b / sqrt((|a|^2 + eps)(|b|^2 + eps))``, ``eps =
    1e-12``. Identical heads give ``M`` per unit, as the Hydra+ reference's
    ``sum_m (1 + cos(mean, theta_m)) / 2`` does, so its weights ``lambda``
    carry over; unlike it, the term cannot be lowered by heads that cancel
    out (a mean of zero) or by one head's norm outgrowing the others: cosine
    ignores norms, and opposed heads earn no more than orthogonal ones. The
    floor, 0, is reached by heads whose units are pairwise orthogonal, which
    any ``in >= M`` allows. A single head gives 0.

    Parameters
    ----------
    head_weights : list of Tensor, each of shape (M, in, out)
        The stacked weights of every head layer (never the shared core).

    Returns
    -------
    loss : scalar Tensor

    Examples
    --------
    >>> import torch
    >>> w = torch.randn(1, 4, 3).expand(2, 4, 3)  # two identical heads, 3 units
    >>> round(hydra_diversity([w]).item(), 5)
    6.0
    >>> eye = torch.eye(2).reshape(2, 2, 1)  # two orthogonal heads, 1 unit
    >>> hydra_diversity([eye]).item()
    0.0
    """
    if len(head_weights) == 0:
        raise ValueError("hydra_diversity needs at least one head layer.")
    total = head_weights[0].new_zeros(())
    for weight in head_weights:
        if weight.dim() != 3:
            raise ValueError(
                "each head weight must have shape (M, in, out); "
                f"got {tuple(weight.shape)}."
            )
        n_heads = weight.shape[0]
        if n_heads < 2:
            continue
        units = weight.permute(2, 0, 1)  # (out, M, in)
        norms = (units.pow(2).sum(dim=-1, keepdim=True) + _DIVERSITY_EPS).sqrt()
        unit_dirs = units / norms
        cos = unit_dirs @ unit_dirs.transpose(1, 2)  # (out, M, M)
        off_diagonal = ~torch.eye(n_heads, dtype=torch.bool, device=weight.device)
        total = total + cos.clamp_min(0.0)[:, off_diagonal].sum() / (n_heads - 1)
    return total


def diversity_weight(
    epoch: int,
    max_epochs: int,
    diversity: float,
    warmup: float,
    start: float = 0.0,
) -> float:
    """Weight ``lambda`` of the diversity term at a given epoch.

    Zero for the first ``start`` fraction of the epochs, then a linear ramp
    to ``diversity`` over the next ``warmup`` fraction, then constant (the
    Hydra+ reference starts late, so that the heads first learn the task):

    .. math:: \\lambda(e) = \\lambda \\operatorname{clip}\\Big(
        \\frac{e - s E}{w E}, 0, 1\\Big)

    for the 0-based epoch ``e`` of ``E`` epochs; ``w = 0`` jumps to
    ``lambda`` at ``e = sE``. With ``w > 0`` the epoch ``e = sE`` has weight 0.

    Parameters
    ----------
    epoch : int
        0-based index of the current epoch (values past the end are allowed).
    max_epochs : int
        Total number of epochs ``E >= 1``.
    diversity : float
        Final weight ``lambda >= 0``.
    warmup : float
        Fraction ``w`` in ``[0, 1]`` of the epochs spent ramping up.
    start : float, default=0.0
        Fraction ``s`` in ``[0, 1]`` of the epochs before the ramp starts.

    Returns
    -------
    weight : float

    Examples
    --------
    >>> [diversity_weight(e, 10, 1.0, 0.5) for e in (0, 1, 5, 9)]
    [0.0, 0.2, 1.0, 1.0]
    >>> [diversity_weight(e, 10, 1.0, 0.2, start=0.5) for e in (4, 5, 6, 7)]
    [0.0, 0.0, 0.5, 1.0]
    """
    if max_epochs < 1:
        raise ValueError(f"max_epochs must be >= 1, got {max_epochs!r}.")
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch!r}.")
    if diversity < 0:
        raise ValueError(f"diversity must be >= 0, got {diversity!r}.")
    _check_fraction("warmup", warmup)
    _check_fraction("start", start)
    since = epoch - start * max_epochs
    if since < 0:
        return 0.0
    if warmup == 0:
        return float(diversity)
    return float(diversity) * min(1.0, since / (warmup * max_epochs))


# --------------------------------------------------------------- Hydra+ regression
def hydra_regression_correctness(
    student_out: torch.Tensor,
    y: torch.Tensor,
    labelled: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Hydra+ regression L1: every head's Gaussian NLL, averaged over heads.

    Parameters
    ----------
    student_out : Tensor of shape (B, M, 2)
        Head means and variances.
    y : Tensor of shape (B,)
    labelled : BoolTensor of shape (B,), default=None
        Rows that have a target (the others may hold NaN); None: every row.
    sample_weight : Tensor of shape (B,), default=None
        Per-row weights of the batch mean (``sum_b w_b l_b / sum_b w_b``).

    Returns
    -------
    loss : scalar Tensor
    """
    if labelled is None and sample_weight is None:
        return member_gaussian_nll(student_out, y)
    mean, var = _split_gaussian(student_out)
    if labelled is not None:
        y = torch.where(labelled, y, torch.zeros_like(y))
    y = y.to(mean.dtype).unsqueeze(1)
    nll = 0.5 * (_LOG_2PI + torch.log(var) + (y - mean) ** 2 / var)
    return _masked_mean(nll.mean(dim=1), labelled, sample_weight)


def gaussian_kl(
    mu_p: torch.Tensor, var_p: torch.Tensor, mu_q: torch.Tensor, var_q: torch.Tensor
) -> torch.Tensor:
    """Elementwise ``KL(N(mu_p, var_p) || N(mu_q, var_q))``, no reduction.

    .. math:: \\frac{1}{2}\\left[\\log\\frac{\\sigma_q^2}{\\sigma_p^2}
        + \\frac{\\sigma_p^2 + (\\mu_p - \\mu_q)^2}{\\sigma_q^2} - 1\\right]

    Examples
    --------
    >>> import torch
    >>> one, zero = torch.ones(1), torch.zeros(1)
    >>> gaussian_kl(zero, one, zero, one).item()
    0.0
    """
    return 0.5 * (
        torch.log(var_q) - torch.log(var_p) + (var_p + (mu_p - mu_q) ** 2) / var_q - 1.0
    )


def hydra_regression_individuality(
    student_out: torch.Tensor,
    teacher_out: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Hydra+ regression L3: ``KL(N_T || N_S)`` averaged over mapped pairs.

    .. math:: \\mathcal{L}_3 = \\frac{1}{P}\\sum_{i=0}^{P-1}
        \\mathrm{KL}\\big(\\mathcal N_T^{i \\bmod N} \\,\\|\\,
        \\mathcal N_S^{i \\bmod M}\\big), \\qquad P = \\max(N, M)

    Parameters
    ----------
    student_out : Tensor of shape (B, M, 2)
    teacher_out : Tensor of shape (B, N, 2)
    sample_weight : Tensor of shape (B,), default=None
        Per-row weights of the batch mean (``sum_b w_b l_b / sum_b w_b``).

    Returns
    -------
    loss : scalar Tensor
    """
    member_idx, head_idx = head_member_map(teacher_out.shape[1], student_out.shape[1])
    mu_t, var_t = _split_gaussian(teacher_out[:, member_idx.to(teacher_out.device)])
    mu_s, var_s = _split_gaussian(student_out[:, head_idx.to(student_out.device)])
    kl = gaussian_kl(mu_t, var_t, mu_s, var_s).mean(dim=1)
    return _masked_mean(kl, None, sample_weight)


def hydra_regression_aggregation(
    student_out: torch.Tensor,
    teacher_out: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Hydra+ regression L2: KL between the moment-matched mixtures.

    Each mixture of ``n`` equal-weight Gaussians becomes one Gaussian with
    ``bar mu = mean_n mu_n`` and ``bar sigma^2 = mean_n sigma_n^2 +
    mean_n (mu_n - bar mu)^2`` (population variance of the means); the loss is
    ``KL(N(bar mu_T, bar sigma_T^2) || N(bar mu_S, bar sigma_S^2))``, batch mean.

    Parameters
    ----------
    student_out : Tensor of shape (B, M, 2)
    teacher_out : Tensor of shape (B, N, 2)
    sample_weight : Tensor of shape (B,), default=None
        Per-row weights of the batch mean (``sum_b w_b l_b / sum_b w_b``).

    Returns
    -------
    loss : scalar Tensor
    """
    mu_t, var_t = _moment_matched(teacher_out)
    mu_s, var_s = _moment_matched(student_out)
    return _masked_mean(gaussian_kl(mu_t, var_t, mu_s, var_s), None, sample_weight)


# --------------------------------------------------------------------------- baselines
def kd_loss(
    student_logits: torch.Tensor,
    teacher_logp: torch.Tensor,
    y: torch.Tensor,
    temperature: float = 4.0,
    alpha: float = 0.9,
    labelled: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Knowledge distillation (Hinton et al.) on the ensemble mean.

    .. math:: (1 - \\alpha)\\,\\mathrm{CE}(z_S, y) + \\alpha\\, T^2\\,
        \\mathrm{KL}\\big(\\bar p_T^{(T)} \\,\\|\\, \\operatorname{softmax}(z_S/T)\\big),
        \\quad \\bar p_T^{(T)} = \\frac{1}{N}\\sum_n
        \\operatorname{softmax}(\\log p_T^n / T)

    The CE is at temperature 1.

    Parameters
    ----------
    student_logits : Tensor of shape (B, K)
    teacher_logp : Tensor of shape (B, N, K)
        Teacher member log-probabilities.
    y : LongTensor of shape (B,)
    temperature : float, default=4.0
    alpha : float, default=0.9
        Weight of the distillation term, in ``[0, 1]``.
    labelled : BoolTensor of shape (B,), default=None
        Rows that have a label: the CE is averaged over those only, the KL
        over every row. None: every row.
    sample_weight : Tensor of shape (B,), default=None
        Per-row weights of the batch mean (``sum_b w_b l_b / sum_b w_b``).

    Returns
    -------
    loss : scalar Tensor
    """
    _check_temperature(temperature)
    _check_fraction("alpha", alpha)
    if labelled is None and sample_weight is None:
        ce = F.cross_entropy(student_logits, y)
    else:
        if labelled is not None:
            y = torch.where(labelled, y, torch.zeros_like(y))
        ce_rows = _sample_cross_entropy(student_logits, y)
        ce = _masked_mean(ce_rows, labelled, sample_weight)
    log_pt = _log_mean_probs(_teacher_log_probs(teacher_logp, temperature))
    log_ps = torch.log_softmax(student_logits / temperature, dim=-1)
    kl = _masked_mean(_kl_from_log(log_pt, log_ps), None, sample_weight)
    return (1.0 - alpha) * ce + alpha * temperature**2 * kl


def wsl_loss(
    student_logits: torch.Tensor,
    teacher_logp: torch.Tensor,
    y: torch.Tensor,
    temperature: float = 2.0,
    alpha: float = 2.5,
    labelled: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Weighted Soft Labels distillation (Zhou et al., 2021).

    Each sample's soft-label term is weighted by how much worse the student is
    than the teacher on it, both measured at temperature 1 and detached:

    .. math:: r(x) = \\frac{\\mathrm{CE}(p_S, y)}{\\mathrm{CE}(\\bar p_T, y)
        + 10^{-7}}, \\qquad w(x) = 1 - e^{-r(x)}

    .. math:: \\mathcal{L} = \\mathrm{CE}(z_S, y) + \\alpha\\, T^2\\,
        \\operatorname{mean}_x\\Big[w(x)\\, \\Big(-\\sum_c \\bar p_{T,c}^{(T)}
        \\log p_{S,c}^{(T)}\\Big)\\Big]

    with ``bar p_T`` the member mean (of ``softmax(log p / T)`` for the tempered
    version) and the soft term a cross-entropy (not a KL).

    Parameters
    ----------
    student_logits : Tensor of shape (B, K)
    teacher_logp : Tensor of shape (B, N, K)
        Teacher member log-probabilities.
    y : LongTensor of shape (B,)
    temperature : float, default=2.0
    alpha : float, default=2.5
        Weight of the soft-label term (``>= 0``; not a convex weight).
    labelled : BoolTensor of shape (B,), default=None
        Rows that have a label. The hard CE is averaged over those only; an
        unlabelled (extra) row's weight ``w(x)`` uses the teacher's most
        probable class in place of ``y``. None: every row.
    sample_weight : Tensor of shape (B,), default=None
        Per-row weights of the batch mean (``sum_b w_b l_b / sum_b w_b``).

    Returns
    -------
    loss : scalar Tensor
    """
    _check_temperature(temperature)
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha!r}.")
    with torch.no_grad():
        log_pt1 = _log_mean_probs(_teacher_log_probs(teacher_logp, 1.0))
        if labelled is not None:
            # An extra row has no label: its weight uses the teacher's class.
            y = torch.where(labelled, y, log_pt1.argmax(dim=-1))
    ce_student = _sample_cross_entropy(student_logits, y)
    with torch.no_grad():
        ce_teacher = -log_pt1.gather(1, y.unsqueeze(1)).squeeze(1)
        ratio = ce_student.detach() / (ce_teacher + 1e-7)
        weight = 1.0 - torch.exp(-ratio)
    log_pt = _log_mean_probs(_teacher_log_probs(teacher_logp, temperature))
    log_ps = torch.log_softmax(student_logits / temperature, dim=-1)
    soft_ce = -(log_pt.exp() * log_ps).sum(dim=-1)
    ce = _masked_mean(ce_student, labelled, sample_weight)
    soft = _masked_mean(weight * soft_ce, None, sample_weight)
    return ce + alpha * temperature**2 * soft


def virtual_teacher_loss(
    student_logits: torch.Tensor,
    y: torch.Tensor,
    a: float = 0.9,
    temperature: float = 4.0,
    alpha: float = 0.9,
    sample_weight: torch.Tensor | None = None,
    form: str = "log",
) -> torch.Tensor:
    """Teacher-free KD (Yuan et al., 2020) with a hand-made virtual teacher.

    The virtual teacher puts ``q_y = a`` on the true class and ``(1 - a)/(K - 1)``
    on each other class (Yuan et al.'s eq. 9). Two temperings of it:

    * ``form="log"``: tempered like any teacher, ``q^{(T)} = softmax(log q / T)``
      (with ``log q`` clamped at ``log 1e-8``, so ``a = 1`` is allowed), i.e.
      ``q^{(T)}`` proportional to ``q^{1/T}``; at ``T = 1`` it is ``q``
      itself, and a student matching it at ``T`` predicts ``q`` at
      temperature 1;
    * ``form="yuan"``: Tf-KD_reg as Yuan et al. define it (their eq. 10, the
      softened virtual teacher ``p^d_tau``), ``q^{(T)} = softmax(q / T)``: the
      probabilities themselves divided by ``T``, then the softmax. As
      ``q / T`` lies in ``[0, 1/T]``, this target is close to uniform at any
      ``T >= 1``: a stronger smoothing, and a student matching it at ``T``
      predicts ``softmax(q)`` at temperature 1, never more confident than
      ``e / (e + K - 1)``.

    Either way the loss is

    .. math:: (1 - \\alpha)\\,\\mathrm{CE}(z_S, y) + \\alpha\\, T^2\\,
        \\mathrm{KL}\\big(q^{(T)} \\,\\|\\, \\operatorname{softmax}(z_S / T)\\big)

    (the ``T^2`` scale is Hinton's, as in :func:`kd_loss`).

    Parameters
    ----------
    student_logits : Tensor of shape (B, K)
        ``K >= 2``.
    y : LongTensor of shape (B,)
    a : float, default=0.9
        Probability of the true class, in ``(0, 1]``.
    temperature : float, default=4.0
    alpha : float, default=0.9
        Weight of the distillation term, in ``[0, 1]``.
    sample_weight : Tensor of shape (B,), default=None
        Per-row weights of the batch mean (``sum_b w_b l_b / sum_b w_b``).
    form : {"log", "yuan"}, default="log"
        How the virtual teacher is tempered (see above).

    Returns
    -------
    loss : scalar Tensor
    """
    if form not in ("log", "yuan"):
        raise ValueError(f"form must be 'log' or 'yuan', got {form!r}.")
    n_classes = student_logits.shape[-1]
    if n_classes < 2:
        raise ValueError(f"virtual_teacher_loss needs >= 2 classes, got {n_classes}.")
    if not 0.0 < a <= 1.0:
        raise ValueError(f"a must be in (0, 1], got {a!r}.")
    q = torch.full_like(student_logits, (1.0 - a) / (n_classes - 1))
    q.scatter_(1, y.unsqueeze(1), a)
    if form == "yuan":
        # kd_loss tempers its teacher as softmax(l / T): with l = q - 1 (a
        # shift leaves a softmax unchanged) that is softmax(q / T) exactly,
        # and l in [-1, 0] is finite.
        teacher_logp = (q - 1.0).unsqueeze(1)
    else:
        teacher_logp = torch.log(q).unsqueeze(1)  # one virtual member
    return kd_loss(
        student_logits, teacher_logp, y, temperature, alpha, sample_weight=sample_weight
    )


def endd_loss(
    student_logits: torch.Tensor,
    teacher_logp: torch.Tensor,
    temperature: float = 1.0,
    eps: float = 1e-3,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Ensemble Distribution Distillation (Malinin et al., 2020): Dirichlet NLL.

    The student predicts Dirichlet concentrations ``alpha = exp(z / T)`` (with
    ``z / T`` clamped to ``[-20, 20]`` against overflow); the teacher members'
    probabilities are tempered the same way, ``pi^n = softmax(log p^n / T)``,
    and smoothed towards uniform, ``tilde pi = (1 - eps)(pi - 1/K) + 1/K``.
    The loss is the members' mean Dirichlet negative log-likelihood:

    .. math:: T^2\\, \\operatorname{mean}_x\\Big[\\sum_c \\ln\\Gamma(\\alpha_c)
        - \\ln\\Gamma(\\alpha_0) - \\sum_c (\\alpha_c - 1)\\,
        \\frac{1}{N}\\sum_n \\ln \\tilde\\pi_c^n\\Big], \\qquad
        \\alpha_0 = \\sum_c \\alpha_c

    Heating the targets too is deliberate: the annealing of EnDD starts at a
    high ``T`` where the student's Dirichlet is flat and wide, and that start
    only makes sense if the members it must explain are flat as well (heated
    members sit near the simplex centre, where a flat Dirichlet has high
    likelihood); at ``T = 1`` both reduce to the plain EnDD loss.

    Parameters
    ----------
    student_logits : Tensor of shape (B, K)
        Log-concentrations of a single Dirichlet head.
    teacher_logp : Tensor of shape (B, N, K)
        Teacher member log-probabilities.
    temperature : float, default=1.0
    eps : float, default=1e-3
        Smoothing of the targets, in ``[0, 1]``.
    sample_weight : Tensor of shape (B,), default=None
        Per-row weights of the batch mean (``sum_b w_b l_b / sum_b w_b``).

    Returns
    -------
    loss : scalar Tensor
    """
    _check_temperature(temperature)
    _check_fraction("eps", eps)
    n_classes = student_logits.shape[-1]
    log_alpha = (student_logits / temperature).clamp(
        -MAX_LOG_CONCENTRATION, MAX_LOG_CONCENTRATION
    )
    alpha = log_alpha.exp()
    pi = _teacher_log_probs(teacher_logp, temperature).exp()
    pi = (1.0 - eps) * (pi - 1.0 / n_classes) + 1.0 / n_classes
    mean_log_pi = torch.log(pi).mean(dim=1)  # (B, K)
    nll = (
        torch.lgamma(alpha).sum(dim=-1)
        - torch.lgamma(alpha.sum(dim=-1))
        - ((alpha - 1.0) * mean_log_pi).sum(dim=-1)
    )
    return temperature**2 * _masked_mean(nll, None, sample_weight)


def endd_temperature(
    epoch: int,
    max_epochs: int,
    t0: float = 10.0,
    anneal_fraction: float = 0.5,
    hold_fraction: float = 0.0,
) -> float:
    """EnDD's temperature schedule: hold ``t0``, decay linearly to 1, then 1.

    Malinin et al. (2020) train at a high temperature first, so that the
    student's Dirichlet starts wide, then anneal to 1:

    .. math:: T(e) = t_0 + (1 - t_0)\\, \\operatorname{clip}\\Big(
        \\frac{e - h E}{f E}, 0, 1\\Big)

    for the 0-based epoch ``e`` of ``E`` epochs, hold fraction ``h`` and
    annealing fraction ``f``; ``f = 0`` gives ``t0`` during the hold and 1
    after it.

    Parameters
    ----------
    epoch : int
        0-based index of the current epoch (values past the end are allowed).
    max_epochs : int
        Total number of epochs ``E >= 1``.
    t0 : float, default=10.0
        Initial temperature, ``> 0``.
    anneal_fraction : float, default=0.5
        Fraction ``f`` in ``[0, 1]`` of the epochs spent decaying.
    hold_fraction : float, default=0.0
        Fraction ``h`` in ``[0, 1]`` of the epochs held at ``t0`` first.

    Returns
    -------
    temperature : float

    Examples
    --------
    >>> [endd_temperature(e, 10) for e in (0, 1, 5, 9)]
    [10.0, 8.2, 1.0, 1.0]
    >>> [endd_temperature(e, 10, anneal_fraction=0.5, hold_fraction=0.2)
    ...  for e in (0, 2, 3, 7)]
    [10.0, 10.0, 8.2, 1.0]
    """
    if max_epochs < 1:
        raise ValueError(f"max_epochs must be >= 1, got {max_epochs!r}.")
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch!r}.")
    _check_temperature(t0)
    _check_fraction("anneal_fraction", anneal_fraction)
    _check_fraction("hold_fraction", hold_fraction)
    since = epoch - hold_fraction * max_epochs
    if since < 0:
        return float(t0)
    if anneal_fraction == 0:
        return 1.0
    progress = min(1.0, since / (anneal_fraction * max_epochs))
    return float(t0) + (1.0 - float(t0)) * progress
