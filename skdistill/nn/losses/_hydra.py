"""Hydra and Hydra+ losses (classification and regression)."""

from __future__ import annotations

import functools
import math

import torch

from ._common import (
    _DIVERSITY_EPS,
    _batch_shares,
    _check_fraction,
    _check_temperature,
    _classes_first,
    _floored,
    _gaussian_nll_terms,
    _kl_from_log,
    _log_mean_probs,
    _masked_mean,
    _mean_member_rows,
    _moment_matched,
    _prepared_rows,
    _split_gaussian,
    _teacher_shape,
)
from ._members import (
    _classes_first_log_probs,
    _member_nll,
    member_cross_entropy,
    member_gaussian_nll,
)


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


def _paired(teacher: torch.Tensor, student: torch.Tensor):
    """Members and heads along axis 1, lined up by :func:`head_member_map`.

    With as many heads as members the pairs are (m, m): nothing is gathered.
    """
    n_members, n_heads = teacher.shape[1], student.shape[1]
    if n_members == n_heads:
        return teacher, student
    member_idx, head_idx = _pair_indices(n_members, n_heads, teacher.device)
    return teacher[:, member_idx], student[:, head_idx]


@functools.lru_cache(maxsize=64)
def _pair_indices(n_members: int, n_heads: int, device: torch.device):
    """:func:`head_member_map` on ``device``, made once (not copied every step)."""
    return tuple(idx.to(device) for idx in head_member_map(n_members, n_heads))


def _tempered(student_logits, teacher_floored, temperature):
    """Heads' and members' log-probabilities at ``temperature``, checked.

    ``teacher_floored`` has no ``-inf`` (see ``_floored``).
    """
    _check_temperature(temperature)
    return (
        torch.log_softmax(student_logits / temperature, dim=-1),
        torch.log_softmax(teacher_floored / temperature, dim=-1),
    )


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
    return _correctness(
        _classes_first_log_probs(student_logits), y, labelled, sample_weight
    )


def _correctness(student_logp, y, labelled, sample_weight):
    """L1 from the heads' classes-first log-probabilities ``(M, K, B)`` (see
    hydra_correctness)."""
    if labelled is not None:
        y = torch.where(labelled, y, torch.zeros_like(y))
    nll = _member_nll(student_logp, y).mean(dim=1)  # (B,)
    return _masked_mean(nll, labelled, sample_weight)


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
    student_t, teacher_t = _tempered(
        student_logits, _floored(teacher_logp), temperature
    )
    return _aggregation(student_t, teacher_t, temperature, sample_weight)


def _aggregation(student_logp, teacher_logp, temperature, sample_weight):
    """L2 from tempered log-probabilities of heads and members (see hydra_aggregation)."""
    kl = _kl_from_log(_log_mean_probs(teacher_logp), _log_mean_probs(student_logp))
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
    student_t, teacher_t = _tempered(
        student_logits, _floored(teacher_logp), temperature
    )
    return _individuality(student_t, teacher_t, temperature, sample_weight)


def _individuality(student_logp, teacher_logp, temperature, sample_weight):
    """L3 from tempered log-probabilities of heads and members (see hydra_individuality)."""
    teacher_logp, student_logp = _paired(teacher_logp, student_logp)
    kl = _kl_from_log(teacher_logp, student_logp).mean(dim=1)
    return temperature**2 * _masked_mean(kl, None, sample_weight)


def prepare_teacher_targets(
    teacher_logp: torch.Tensor,
    n_heads: int,
    temperature: float = 3.0,
    aggregation_temperature: float = 1.0,
) -> torch.Tensor:
    """The teacher's part of Hydra+'s L2 and L3, computed once per fit.

    The teacher does not change while the student trains, so everything the
    two KL terms need of it is computed here, once, instead of at every
    step: with ``p_i`` member ``i``'s probabilities at ``temperature`` and
    the pairs of :func:`head_member_map` (``P = max(N, M)`` of them),

    * ``c3 = (1/P) sum_pairs sum_k p_ik log p_ik`` and, per head ``m``,
      ``q_m = (1/P) sum_{pairs (i, m)} p_i``, so that
      ``L3 = T^2 (c3 - sum_m sum_k q_mk log s_mk)`` for the heads'
      tempered log-probabilities ``log s``: the same value as the mean of
      ``KL(p_i || s_m)`` over the pairs, and the same gradient;
    * the mean member ``pbar`` at ``aggregation_temperature`` and ``c2 =
      sum_k pbar_k log pbar_k``, so that ``L2 = T_agg^2 (c2 - sum_k pbar_k
      log sbar_k)`` for the heads' mean ``sbar``.

    A training step then needs no softmax of the teacher, no gather of its
    members and no KL of ``(B, N, K)`` tensors: the loss's forward and
    backward took 0.48 ms instead of 1.29 ms (400 rows, N=8, M=2, K=3, one
    CPU thread). The result is also smaller than the teacher's outputs
    when ``M < N``.

    Parameters
    ----------
    teacher_logp : Tensor of shape (n, N, K)
        Member log-probabilities (``-inf`` counts as ``LOG_PROB_FLOOR``).
    n_heads : int
        ``M``, the student's heads.
    temperature, aggregation_temperature : float
        Of L3 and of L2.

    Returns
    -------
    Tensor of shape (n, 2 + K + M K)
        Per row ``[c3, c2, pbar, q]`` (``q`` flattened head by head), in
        ``teacher_logp``'s dtype; see :class:`~skdistill.nn.criteria.HydraCriterion`.
    """
    _check_temperature(temperature)
    _check_temperature(aggregation_temperature)
    n_members, n_classes = _teacher_shape(teacher_logp)
    member_idx, head_idx = _pair_indices(n_members, n_heads, teacher_logp.device)
    n_pairs = len(member_idx)

    def rows(t, out):
        out[:, 1 : 2 + n_classes] = _mean_member_rows(t, aggregation_temperature)
        logp = _classes_first(t, temperature)[:, member_idx]  # (K, P, n)
        p = logp.exp()
        out[:, 0] = (p * logp).sum(dim=(0, 1)) / n_pairs
        q = p.new_zeros(n_classes, n_heads, len(t)).index_add_(1, head_idx, p)
        out[:, 2 + n_classes :] = (q / n_pairs).permute(2, 1, 0).reshape(len(t), -1)

    return _prepared_rows(teacher_logp, 2 + n_classes * (1 + n_heads), rows)


def _prepared_classification(
    student_logits: torch.Tensor,
    y: torch.Tensor,
    prepared: torch.Tensor,
    alpha: float,
    beta: float,
    temperature: float,
    aggregation_temperature: float,
    labelled: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Hydra+'s data terms ``(1-a) L1 + a [(1-b) L2 + b L3]`` from prepared rows.

    ``prepared`` is :func:`prepare_teacher_targets`' output for these rows:
    the same value (to rounding) and gradient as :func:`hydra_correctness`,
    :func:`hydra_aggregation` and :func:`hydra_individuality` combined, the
    heads' ``T = 1`` log-probabilities shared between L1 and L2 (at
    ``aggregation_temperature=1``), the two KL terms summed per row before
    one mean. Terms with zero weight are not computed.
    """
    batch, n_heads, n_classes = student_logits.shape
    width = prepared.shape[-1] if prepared.dim() == 2 else -1
    if width < 2 + n_classes or (
        beta > 0 and alpha > 0 and width != 2 + n_classes * (1 + n_heads)
    ):
        raise ValueError(
            f"prepared teacher targets of shape {tuple(prepared.shape)} do not "
            f"fit a student of {n_heads} heads and {n_classes} classes: expected "
            f"(B, {2 + n_classes * (1 + n_heads)}) from prepare_teacher_targets "
            f"with n_heads={n_heads}"
        )
    if prepared.requires_grad and torch.is_grad_enabled():
        raise ValueError(
            "prepared teacher targets are constants of the fit: got a tensor "
            "that requires grad (detach it, or use hydra_aggregation and "
            "hydra_individuality to differentiate through a teacher)"
        )
    args = (y, prepared, alpha, beta, temperature, aggregation_temperature,
            labelled, sample_weight)  # fmt: skip
    if torch.is_grad_enabled() and student_logits.requires_grad:
        return _PreparedHydraTerms.apply(student_logits, *args)
    return _prepared_terms(student_logits, *args, need_grad=False)[0]


class _PreparedHydraTerms(torch.autograd.Function):
    """:func:`_prepared_terms` as one autograd node: its gradient is computed
    with its value, in closed form, and the backward only scales it.

    The tensors are small, so every operation costs its few microseconds of
    overhead whatever its size. Forward and backward against autograd's
    graph of the same terms (rows, heads, classes; one CPU thread): (256,
    2, 3) 402 -> 273 us, (1024, 4, 10) 889 -> 725 us; a 20-epoch Hydra+
    fit about 10-15% less. Where the arithmetic dominates it is slower,
    as it makes more passes over the tensors: (256, 16, 100) 5.4 -> 6.3 ms.
    """

    @staticmethod
    def forward(ctx, student_logits, *args):
        loss, grad = _prepared_terms(student_logits, *args, need_grad=True)
        ctx.save_for_backward(grad)
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        (grad,) = ctx.saved_tensors
        return (grad * grad_out, *([None] * 8))


def _prepared_terms(
    student_logits, y, prepared, a, b, temperature, aggregation_temperature,
    labelled, sample_weight, need_grad,
):  # fmt: skip
    """Value and, with ``need_grad``, gradient of Hydra+'s data terms.

    The terms, with ``s_m = softmax(z_m / t)`` of head ``m``, ``sbar`` the
    heads' mean at ``t_agg``, ``omega_b`` a row's share of the batch mean
    (``omega'_b`` over labelled rows), and the prepared ``c2, pbar, c3, q``
    (see :func:`prepare_teacher_targets`)::

        L1 = sum_b omega'_b (1/M) sum_m -log s_m[y_b]            (t = 1)
        L2 = t_agg^2 sum_b omega_b (c2 - sum_k pbar_k log sbar_k)
        L3 = T^2 sum_b omega_b (c3 - sum_m sum_k q_mk log s_mk)  (t = T)

    and their gradients with respect to ``z_m`` (``r_m = s_m / (M sbar)``,
    head ``m``'s share of the heads' mean)::

        dL1 = omega'_b / M (s_m - onehot(y_b))
        dL2 = t_agg omega_b (s_m sum_k pbar_k r_mk - pbar r_m)
        dL3 = T omega_b (s_m sum_k q_mk - q_m)

    Every operation here costs a few microseconds whatever its size (the
    tensors are small), so the code keeps their number down: constants
    are Python floats and in-place updates reuse buffers.

    Computed classes first, rows last (``(M, K, B)``): on a CPU, torch's
    softmax and broadcasting kernels vectorise over the innermost axis (a
    ``(400, 2, 3)`` log-softmax over its last axis took 32 us, over the
    first of ``(3, 400, 2)`` 3 us, one thread). Terms with zero weight are
    not computed. Returns ``(loss, grad)`` with ``grad`` of the shape of
    ``student_logits`` (None without ``need_grad``).
    """
    batch, n_heads, n_classes = student_logits.shape
    z = student_logits.permute(1, 2, 0).contiguous()  # (M, K, B)
    if z.dtype in (torch.float16, torch.bfloat16):  # mixed precision: in full
        z = z.float()
    prepared = prepared.T.contiguous()  # (width, B)
    loss, grad, logp, probs = 0.0, None, None, None
    if a < 1:
        omega = _batch_shares(z, labelled, sample_weight)
        coef = omega * ((1 - a) / n_heads)
        if labelled is not None:
            y = torch.where(labelled, y, 0)
        index = y.view(1, 1, batch).expand(n_heads, 1, batch)
        logp = torch.log_softmax(z, dim=1)
        picked = logp.gather(1, index).sum(dim=(0, 1))  # (B,)
        loss = -(picked * coef).sum()
        if need_grad:
            probs = logp.exp()  # shared with L2 at t_agg = 1
            grad = probs * coef
            if not torch.is_tensor(coef):
                coef = z.new_full((1, 1, 1), coef)
            grad.scatter_add_(1, index, (-coef).expand(n_heads, 1, batch))
    if a == 0:
        return loss, _batch_first(grad)
    omega = _batch_shares(z, None, sample_weight)
    row = 0.0
    if b < 1:
        t = aggregation_temperature
        _check_temperature(t)
        scale = a * (1 - b) * t**2
        if t == 1.0 and logp is not None:
            logp_t = logp
        else:
            logp_t, probs = torch.log_softmax(z / t, dim=1), None
        # log sbar, stably: the heads' log-sum-exp over their largest value
        top = logp_t.amax(dim=0)  # (K, B)
        share = (logp_t - top).exp_()  # (M, K, B)
        total = share.sum(dim=0)
        log_mean = total.log().add_(top).sub_(math.log(n_heads))
        pbar = prepared[2 : 2 + n_classes]
        row = scale * (prepared[1] - (pbar * log_mean).sum(dim=0))
        if need_grad:
            share.div_(total).mul_(pbar)  # pbar_k r_mk
            probs = logp_t.exp() if probs is None else probs
            step = probs.mul(share.sum(dim=1, keepdim=True)).sub_(share)
            grad = _accumulate(grad, step, omega, scale / t)
    if b > 0:
        t = temperature
        _check_temperature(t)
        scale = a * b * t**2
        logp_t = torch.log_softmax(z / t, dim=1)
        q = prepared[2 + n_classes :].view(n_heads, n_classes, batch)
        row = row + scale * (prepared[0] - (q * logp_t).sum(dim=(0, 1)))
        if need_grad:
            step = logp_t.exp_().mul_(q.sum(dim=1, keepdim=True))
            grad = _accumulate(grad, step.sub_(q), omega, scale / t)
    return loss + (row * omega).sum(), _batch_first(grad)


def _accumulate(grad, step, omega, scale):
    """``grad + omega scale step`` (``grad`` None: 0), in place, one pass."""
    if torch.is_tensor(omega):
        if grad is None:
            return step.mul_(omega * scale)
        return grad.addcmul_(step, omega, value=scale)
    if grad is None:
        return step.mul_(omega * scale)
    return grad.add_(step, alpha=omega * scale)


def _batch_first(grad):
    """A classes-first ``(M, K, B)`` gradient as ``(B, M, K)`` (a view)."""
    return None if grad is None else grad.permute(2, 0, 1)


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
    for weight in head_weights:
        if weight.dim() != 3:
            raise ValueError(
                "each head weight must have shape (M, in, out); "
                f"got {tuple(weight.shape)}."
            )
    weights = [w for w in head_weights if w.shape[0] >= 2]
    if not weights:  # single heads: nothing to compare
        return head_weights[0].new_zeros(())
    groups: dict[int, list] = {}  # layers of the same number of heads, batched
    for w in weights:
        groups.setdefault(w.shape[0], []).append(w)
    terms = [_Diversity.apply(*group) for group in groups.values()]
    return terms[0] if len(terms) == 1 else sum(terms)


class _Diversity(torch.autograd.Function):
    """L4 over head layers of at least 2 heads, with a closed-form gradient.

    With ``a`` a unit's head vectors, ``G = a a^T``, ``r_i = (G_ii +
    eps)^{-1/2}``, ``C_ij = G_ij r_i r_j`` and ``g_ij = [C_ij >= 0] / (M -
    1)`` off the diagonal (the clamp's own subgradient), ``dL/dG_ij = g_ij
    r_i r_j`` off the diagonal, ``dL/dG_ii = -r_i^2 sum_j g_ij C_ij``, and
    ``dL/da = 2 (dL/dG) a`` (``G`` is symmetric).

    The tensors are tiny (a few units of a few heads), so each operation
    costs its overhead more than its arithmetic, and the code keeps their
    number down: each layer's Gram matrices come from one batched product
    of its units (a units-first copy of its weights: batched products over
    the permuted view were slower from 100 inputs or 8 heads on), all
    layers' go into one ``(units, M, M)`` tensor for the rest, and the
    masks of the pairs are constants. Autograd's graph of the formula took
    about 80 operations. Forward and backward, against every layer
    zero-padded into one batch before (one CPU thread): 2 heads of 55-16-3
    235 -> 180 us, 8 heads of 66-16-3 252 -> 205 us, 2 heads of 100-16-2
    224 -> 185 us, 8 heads of 100-28-2 293 -> 239 us.
    """

    @staticmethod
    def forward(ctx, *weights):
        device = weights[0].device.type
        if torch.is_autocast_enabled(device):  # mixed precision: L4 in full
            with torch.autocast(device, enabled=False):
                return _Diversity.forward(ctx, *weights)
        n_heads = weights[0].shape[0]
        units = [w.permute(2, 0, 1).contiguous() for w in weights]  # (out, M, in)
        grams = [torch.bmm(u, u.transpose(1, 2)) for u in units]
        gram = grams[0] if len(grams) == 1 else torch.cat(grams)  # (units, M, M)
        inv_norm = torch.rsqrt(gram.diagonal(dim1=1, dim2=2) + _DIVERSITY_EPS)
        outer = inv_norm.unsqueeze(2) * inv_norm.unsqueeze(1)
        cos = gram * outer
        pairs, _ = _pair_masks(n_heads, gram.device, gram.dtype)
        ctx.save_for_backward(cos, outer, inv_norm, *units)
        # Every pair but a head with itself, weighted 1 / (M - 1).
        return (cos * pairs).clamp_min_(0.0).sum()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        cos, outer, inv_norm, *units = ctx.saved_tensors
        _, twice = _pair_masks(cos.shape[1], cos.device, cos.dtype)
        g = (cos >= 0) * twice  # 2 g_ij: the 2 of dL/da folded in
        d_gram = g * outer
        d_gram.diagonal(dim1=1, dim2=2).sub_(
            (g * cos).sum(2).mul_(inv_norm).mul_(inv_norm)
        )
        d_gram.mul_(grad)
        grads, start = [], 0
        for u in units:
            n_out = u.shape[0]
            unit_grads = torch.bmm(d_gram[start : start + n_out], u)  # (out, M, in)
            grads.append(unit_grads.permute(1, 2, 0))  # (M, in, out)
            start += n_out
        return tuple(grads)


@functools.lru_cache(maxsize=16)
def _pair_masks(n_heads: int, device: torch.device, dtype: torch.dtype):
    """``1 / (M - 1)`` off the diagonal, 0 on it (L4's pairs), and twice that."""
    pairs = (1 - torch.eye(n_heads, device=device, dtype=dtype)) / (n_heads - 1)
    return pairs, 2 * pairs


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
    nll = _gaussian_nll_terms(mean, var, y)
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
    teacher_out, student_out = _paired(teacher_out, student_out)
    mu_t, var_t = _split_gaussian(teacher_out)
    mu_s, var_s = _split_gaussian(student_out)
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
