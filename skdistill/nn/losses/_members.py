"""Ensemble members' losses: cross-entropy, Gaussian NLL, mutual learning."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import (
    _check_fraction,
    _gaussian_nll_terms,
    _masked_mean,
    _member_labels,
    _split_gaussian,
)

#: From this many logits on, a CPU cross-entropy runs classes-first (see
#: ``member_cross_entropy``); below, torch's fused kernel is faster.
_CLASSES_FIRST_MIN = 4096


def _classes_first_log_probs(logits: torch.Tensor) -> torch.Tensor:
    """``(B, N, K)`` logits as ``(N, K, B)`` log-probabilities, rows innermost.

    torch's CPU softmax does not vectorise over a last axis of a few
    classes: over the 3 classes of a ``(400, 2, 3)`` tensor it took 32 us,
    over the leading axis of the same values laid out ``(3, 400, 2)`` 3 us
    (one thread). The copy's backward hands the stacked layers a gradient
    of their own layout.
    """
    return torch.log_softmax(logits.permute(1, 2, 0).contiguous(), dim=1)


def _member_nll(log_p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(B, N)`` negative log-likelihoods of labels ``(B,)`` or ``(B, N)``
    under ``(N, K, B)`` log-probabilities (see ``_classes_first_log_probs``)."""
    n, _, batch = log_p.shape
    index = _member_labels(y, batch, n).T.unsqueeze(1)  # (N, 1, B)
    return -log_p.gather(1, index).squeeze(1).T


def _members_mean(values: torch.Tensor, sample_weight) -> torch.Tensor:
    """Mean of ``(B, N)`` per-member values: each member's (weighted) batch
    mean, then the members' mean."""
    if sample_weight is None:
        return values.mean()
    batch, n = values.shape
    return _masked_mean(values, None, _member_labels(sample_weight, batch, n))


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
    if logits.device.type == "cpu" and logits.numel() >= _CLASSES_FIRST_MIN:
        # Classes first (see _classes_first_log_probs): cross-entropy of
        # (256 rows x 10 members, 10 classes) took 687 us forward and
        # backward from (B*N, K) rows, 130-169 us from (N, K, B) (one
        # thread); a 20-epoch 8-member fit on 3,000 rows of 3 classes about
        # 8% less. Below about 3,000 logits the copy costs more than it
        # saves ((200, 1, 3): 68 us fused, 110 us this way).
        ce = _member_nll(_classes_first_log_probs(logits), y)
        return _members_mean(ce, sample_weight)
    # Elsewhere (a GPU, whose step is bound by kernel launches) torch's fused
    # cross-entropy, on rows x members flattened, classes last: the gradient
    # flows back in the layout the stacked layers' batched matmuls take.
    flat = logits.reshape(batch * n, k)
    y = _member_labels(y, batch, n).reshape(-1)
    if sample_weight is None:
        return F.cross_entropy(flat, y)
    ce = F.cross_entropy(flat, y, reduction="none").view(batch, n)
    return _members_mean(ce, sample_weight)


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
    return _gaussian_nll_terms(mean, var, y).mean()


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
    nll = _gaussian_nll_terms(mean, var, y)
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
    # One classes-first log-softmax for both terms: the cross-entropy and the
    # KL's sum then run over a leading axis, not the last one.
    log_p = _classes_first_log_probs(logits)  # (N, K, B)
    ce = _members_mean(_member_nll(log_p, y), sample_weight)
    with torch.no_grad():
        p = log_p.exp()
        others = ((p.sum(dim=0, keepdim=True) - p) / (n - 1)).clamp(min=0.0)
    kl = F.kl_div(log_p, others, reduction="none").sum(dim=1).T  # (B, N)
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
        neg_entropy = -torch.special.entr(p).sum(dim=-1)  # (B, N): -H(p_l)
        others_neg_entropy = (neg_entropy.sum(dim=1, keepdim=True) - neg_entropy) / (
            n - 1
        )
        others = ((p.sum(dim=1, keepdim=True) - p) / (n - 1)).clamp(min=0.0)
    # 1/(N-1) sum_{l != k} KL(p_l || p_k) = mean_l(-H(p_l)) - sum_c pbar_{-k,c} log p_k,c
    kl = others_neg_entropy - (others * log_p).sum(dim=-1)  # (B, N)
    return (1.0 - weight) * ce + weight * _masked_mean(kl, None, sample_weight)
