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
* prepared teacher targets: :func:`prepare_teacher_targets` (Hydra+) and
  :func:`prepare_mean_targets` (KD) turn the member log-probabilities into
  what those losses read of the teacher, once per fit; the criteria take
  them with ``prepared=True``.

Every loss returns a scalar tensor: the mean over the batch (and over members,
heads or member-head pairs where stated), in the dtype of its inputs.
Notation: ``p = softmax(z / T)``, ``KL(p || q) = sum_c p_c log(p_c / q_c)``.
"""

from ._baselines import (
    endd_loss,
    endd_temperature,
    kd_loss,
    prepare_mean_targets,
    virtual_teacher_loss,
    wsl_loss,
)
from ._common import LOG_PROB_FLOOR, MAX_LOG_CONCENTRATION  # noqa: F401  (constants)
from ._hydra import (
    diversity_weight,
    gaussian_kl,
    head_member_map,
    hydra_aggregation,
    hydra_correctness,
    hydra_diversity,
    hydra_individuality,
    hydra_regression_aggregation,
    hydra_regression_correctness,
    hydra_regression_individuality,
    prepare_teacher_targets,
)
from ._members import (
    cohort_mutual_learning_loss,
    gaussian_nll,
    member_cross_entropy,
    member_gaussian_nll,
    mutual_learning_loss,
)

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
    "prepare_mean_targets",
    "prepare_teacher_targets",
    "virtual_teacher_loss",
    "wsl_loss",
]
