"""The baselines' losses: KD, WSL, teacher-free KD, EnDD."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import (
    MAX_LOG_CONCENTRATION,
    _check_fraction,
    _check_temperature,
    _classes_first,
    _floored,
    _kl_from_log,
    _log_mean_probs,
    _masked_mean,
    _mean_member_rows,
    _prepared_rows,
    _sample_cross_entropy,
    _teacher_log_probs,
    _teacher_shape,
)


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
    ce = _kd_correctness(student_logits, y, labelled, sample_weight)
    log_pt = _log_mean_probs(_teacher_log_probs(teacher_logp, temperature))
    log_ps = torch.log_softmax(student_logits / temperature, dim=-1)
    kl = _masked_mean(_kl_from_log(log_pt, log_ps), None, sample_weight)
    return (1.0 - alpha) * ce + alpha * temperature**2 * kl


def prepare_mean_targets(
    teacher_logp: torch.Tensor, temperature: float
) -> torch.Tensor:
    """The teacher's part of a KL to its mean member, computed once per fit.

    Per row ``[c, pbar]`` with ``pbar`` the members' mean probabilities at
    ``temperature`` and ``c = sum_k pbar_k log pbar_k``, so that
    ``KL(pbar || softmax(z / T)) = c - sum_k pbar_k log_softmax(z / T)_k``:
    what Hinton's KD term needs of an ensemble teacher (see
    :class:`~skdistill.nn.criteria.KDCriterion`'s ``prepared``).

    Parameters
    ----------
    teacher_logp : Tensor of shape (n, N, K)
        Member log-probabilities (``-inf`` counts as ``LOG_PROB_FLOOR``).
    temperature : float

    Returns
    -------
    Tensor of shape (n, 1 + K)
    """
    _check_temperature(temperature)
    _, n_classes = _teacher_shape(teacher_logp)

    def rows(t, out):
        out[:] = _mean_member_rows(t, temperature)

    return _prepared_rows(teacher_logp, 1 + n_classes, rows)


def _kd_correctness(student_logits, y, labelled, sample_weight):
    """KD's cross-entropy with the labels, over the labelled rows."""
    if labelled is None and sample_weight is None:
        return F.cross_entropy(student_logits, y)
    if labelled is not None:
        y = torch.where(labelled, y, torch.zeros_like(y))
    ce_rows = _sample_cross_entropy(student_logits, y)
    return _masked_mean(ce_rows, labelled, sample_weight)


def _prepared_kd(
    student_logits, prepared, y, temperature, alpha, labelled=None, sample_weight=None
):
    """:func:`kd_loss` from :func:`~skdistill.nn.losses.prepare_mean_targets`' rows.

    The same value (to rounding) and gradient, without tempering the
    teacher's members at every step.
    """
    _check_temperature(temperature)
    _check_fraction("alpha", alpha)
    n_classes = student_logits.shape[-1]
    if prepared.dim() != 2 or prepared.shape[-1] != 1 + n_classes:
        raise ValueError(
            f"prepared teacher targets of shape {tuple(prepared.shape)} do not "
            f"fit a student of {n_classes} classes: expected (B, {1 + n_classes}) "
            "from prepare_mean_targets"
        )
    ce = _kd_correctness(student_logits, y, labelled, sample_weight)
    log_ps = torch.log_softmax(student_logits / temperature, dim=-1)
    kl_rows = prepared[:, 0] - (prepared[:, 1:] * log_ps).sum(dim=-1)
    kl = _masked_mean(kl_rows, None, sample_weight)
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
    return _prepared_wsl(
        student_logits,
        _prepare_wsl_targets(teacher_logp, temperature),
        y,
        temperature,
        alpha,
        labelled,
        sample_weight,
    )


def _prepare_wsl_targets(teacher_logp: torch.Tensor, temperature: float):
    """What :func:`wsl_loss` needs of the teacher, once per fit: per row
    ``[log pbar_1, pbar_T]``, the log of the members' mean probabilities at
    ``T = 1`` (for the weights) and the mean at ``temperature`` (the soft
    labels), ``(n, 2 K)``."""
    _check_temperature(temperature)
    _, n_classes = _teacher_shape(teacher_logp)

    def rows(t, out):  # classes first: (K, N, n) -> (K, n), see _classes_first
        out[:, :n_classes] = _log_mean_probs(_classes_first(t, 1.0)).T
        out[:, n_classes:] = _log_mean_probs(_classes_first(t, temperature)).exp().T

    return _prepared_rows(teacher_logp, 2 * n_classes, rows)


def _prepared_wsl(
    student_logits, prepared, y, temperature, alpha, labelled=None, sample_weight=None
):
    """:func:`wsl_loss` from :func:`_prepare_wsl_targets`' rows (the same
    value and gradient, without the teacher's softmaxes at every step)."""
    _check_temperature(temperature)
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha!r}.")
    n_classes = student_logits.shape[-1]
    if prepared.dim() != 2 or prepared.shape[-1] != 2 * n_classes:
        raise ValueError(
            f"prepared teacher targets of shape {tuple(prepared.shape)} do not "
            f"fit a student of {n_classes} classes: expected (B, {2 * n_classes})"
        )
    log_pt1, mean_pt = prepared[:, :n_classes], prepared[:, n_classes:]
    if labelled is not None:
        # An extra row has no label: its weight uses the teacher's class.
        y = torch.where(labelled, y, log_pt1.argmax(dim=-1))
    ce_student = _sample_cross_entropy(student_logits, y)
    with torch.no_grad():
        ce_teacher = -log_pt1.gather(1, y.unsqueeze(1)).squeeze(1)
        ratio = ce_student.detach() / (ce_teacher + 1e-7)
        weight = 1.0 - torch.exp(-ratio)
    log_ps = torch.log_softmax(student_logits / temperature, dim=-1)
    soft_ce = -(mean_pt * log_ps).sum(dim=-1)
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

    The student predicts Dirichlet concentrations :math:`\\alpha = \\exp(z / T)` (with
    ``z / T`` clamped to ``[-MAX_LOG_CONCENTRATION, MAX_LOG_CONCENTRATION]``,
    ``[-20, 20]``, against overflow, as in prediction); the teacher members'
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
    log_concentration = (student_logits / temperature).clamp(
        -MAX_LOG_CONCENTRATION, MAX_LOG_CONCENTRATION
    )
    concentration = log_concentration.exp()
    # The teacher's side classes-first, (K, N, B): torch's CPU softmax does
    # not vectorise over a last axis of a few classes (400 rows x 8 members x
    # 3 classes: 185 us this way round, 67 us classes-first; one thread).
    pi = _classes_first(_floored(teacher_logp), temperature).exp()
    pi = (1.0 - eps) * (pi - 1.0 / n_classes) + 1.0 / n_classes
    mean_log_pi = torch.log(pi).mean(dim=1).T  # (B, K)
    nll = (
        torch.lgamma(concentration).sum(dim=-1)
        - torch.lgamma(concentration.sum(dim=-1))
        - ((concentration - 1.0) * mean_log_pi).sum(dim=-1)
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
