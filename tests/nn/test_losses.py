"""Every loss of skdistill.nn.losses against an independent float64 reference.

The references are written with explicit loops over members / heads / pairs and
SciPy special functions, not by re-running the vectorised torch code.
"""

import math
from itertools import product

import numpy as np
import pytest
import torch
from scipy import special, stats

from skdistill.nn import losses as L

FLOOR = math.log(1e-8)
ATOL = 1e-10
# (N members, M heads): N > M, N = M, N < M.
SHAPES = [(5, 2), (3, 3), (2, 4)]


# ----------------------------------------------------------------- random inputs
def _logits(rng, *shape):
    return rng.normal(scale=2.0, size=shape)


def _logp(rng, *shape):
    return special.log_softmax(_logits(rng, *shape), axis=-1)


def _gauss(rng, b, n):
    out = np.empty((b, n, 2))
    out[..., 0] = rng.normal(size=(b, n))
    out[..., 1] = rng.uniform(0.3, 3.0, size=(b, n))
    return out


def _t(a, dtype=torch.float64, grad=False):
    return torch.tensor(a, dtype=dtype, requires_grad=grad)


def _labels(rng, shape, k):
    return rng.integers(0, k, size=shape)


# ----------------------------------------------------------------- references
def ref_ce(logits_row, label):
    return -(logits_row[label] - special.logsumexp(logits_row))


def ref_kl(p, q):
    return float(np.sum(special.rel_entr(p, q)))


def ref_tempered(logp_row, temperature):
    return special.softmax(np.maximum(logp_row, FLOOR) / temperature)


def ref_member_ce(logits, y):
    b, n, _ = logits.shape
    if y.ndim == 1:
        y = np.repeat(y[:, None], n, axis=1)
    per_member = [
        np.mean([ref_ce(logits[i, m], y[i, m]) for i in range(b)]) for m in range(n)
    ]
    return np.mean(per_member)


def ref_gaussian_nll(mean, var, y):
    return -np.mean(stats.norm.logpdf(y, loc=mean, scale=np.sqrt(var)))


def ref_dml(logits, y, w):
    b, n, _ = logits.shape
    probs = special.softmax(logits, axis=-1)
    total = 0.0
    for i in range(n):
        ce = np.mean([ref_ce(logits[s, i], y[s]) for s in range(b)])
        kl = 0.0
        for s in range(b):
            others = np.mean([probs[s, j] for j in range(n) if j != i], axis=0)
            kl += ref_kl(others, probs[s, i]) / b
        total += ((1 - w) * ce + w * kl) / n
    return total


def ref_aggregation(z, logp, temperature):
    b, m, _ = z.shape
    n = logp.shape[1]
    out = 0.0
    for s in range(b):
        pt = sum(ref_tempered(logp[s, j], temperature) for j in range(n)) / n
        ps = sum(special.softmax(z[s, h] / temperature) for h in range(m)) / m
        out += ref_kl(pt, ps) / b
    return temperature**2 * out


def ref_individuality(z, logp, temperature):
    b, m, _ = z.shape
    n = logp.shape[1]
    pairs = max(n, m)
    out = 0.0
    for s in range(b):
        for i in range(pairs):
            pt = ref_tempered(logp[s, i % n], temperature)
            ps = special.softmax(z[s, i % m] / temperature)
            out += ref_kl(pt, ps) / (b * pairs)
    return temperature**2 * out


def ref_diversity(weights):
    """Sum over layers, units and ordered head pairs of max(0, cos) / (M - 1)."""
    total = 0.0
    for w in weights:
        m, _, r = w.shape
        for row in range(r):
            for h in range(m):
                for g in range(m):
                    if g == h:
                        continue
                    a, b = w[h, :, row], w[g, :, row]
                    cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
                    total += max(0.0, cos) / (m - 1)
    return total


def ref_gauss_kl(mu_p, var_p, mu_q, var_q):
    sp, sq = np.sqrt(var_p), np.sqrt(var_q)
    return np.log(sq / sp) + (sp**2 + (mu_p - mu_q) ** 2) / (2 * sq**2) - 0.5


def ref_reg_individuality(student, teacher):
    b, m, _ = student.shape
    n = teacher.shape[1]
    pairs = max(n, m)
    total = 0.0
    for s in range(b):
        for i in range(pairs):
            t, h = teacher[s, i % n], student[s, i % m]
            total += ref_gauss_kl(t[0], t[1], h[0], h[1]) / (b * pairs)
    return total


def _mixture_moments(out_row):
    means, variances = out_row[:, 0], out_row[:, 1]
    mu = np.mean(means)
    second = np.mean(variances + means**2)  # E[y^2] of the mixture
    return mu, second - mu**2


def ref_reg_aggregation(student, teacher):
    total = 0.0
    for s in range(student.shape[0]):
        mt, vt = _mixture_moments(teacher[s])
        ms, vs = _mixture_moments(student[s])
        total += ref_gauss_kl(mt, vt, ms, vs)
    return total / student.shape[0]


def ref_kd(z, logp, y, temperature, alpha):
    b, n, _ = logp.shape
    total = 0.0
    for s in range(b):
        pt = np.mean([ref_tempered(logp[s, j], temperature) for j in range(n)], axis=0)
        ps = special.softmax(z[s] / temperature)
        total += (1 - alpha) * ref_ce(z[s], y[s]) + alpha * temperature**2 * ref_kl(
            pt, ps
        )
    return total / b


def ref_wsl(z, logp, y, temperature, alpha):
    b, n, _ = logp.shape
    total = 0.0
    for s in range(b):
        pt1 = np.mean([ref_tempered(logp[s, j], 1.0) for j in range(n)], axis=0)
        ce_s = ref_ce(z[s], y[s])
        ce_t = -np.log(pt1[y[s]])
        weight = 1 - np.exp(-ce_s / (ce_t + 1e-7))
        ptT = np.mean([ref_tempered(logp[s, j], temperature) for j in range(n)], axis=0)
        log_psT = special.log_softmax(z[s] / temperature)
        total += ce_s + alpha * temperature**2 * weight * -(ptT @ log_psT)
    return total / b


def ref_virtual(z, y, a, temperature, alpha):
    b, k = z.shape
    total = 0.0
    for s in range(b):
        q = np.where(np.arange(k) == y[s], a, (1 - a) / (k - 1))
        q = np.maximum(q, 1e-8)  # the documented floor; only matters for a = 1
        qT = q ** (1 / temperature) / np.sum(q ** (1 / temperature))
        ps = special.softmax(z[s] / temperature)
        total += (1 - alpha) * ref_ce(z[s], y[s]) + alpha * temperature**2 * ref_kl(
            qT, ps
        )
    return total / b


def _smoothed_members(logp_row, temperature, eps):
    k = logp_row.shape[-1]
    pi = np.array([ref_tempered(member, temperature) for member in logp_row])
    return (1 - eps) * (pi - 1 / k) + 1 / k


def ref_endd_scipy(z, logp, eps):
    """T = 1: minus the mean Dirichlet log-density of the smoothed members."""
    b, n, _ = logp.shape
    total = 0.0
    for s in range(b):
        members = _smoothed_members(logp[s], 1.0, eps)
        conc = np.exp(z[s])
        total -= np.mean([stats.dirichlet.logpdf(members[j], conc) for j in range(n)])
    return total / b


def ref_endd_gammaln(z, logp, temperature, eps):
    b, n, _ = logp.shape
    total = 0.0
    for s in range(b):
        members = _smoothed_members(logp[s], temperature, eps)
        conc = np.exp(z[s] / temperature)
        log_norm = np.sum(special.gammaln(conc)) - special.gammaln(np.sum(conc))
        for j in range(n):
            total += (log_norm - np.sum((conc - 1) * np.log(members[j]))) / (n * b)
    return temperature**2 * total


# ----------------------------------------------------------------- member losses
@pytest.mark.parametrize("per_member_labels", [False, True])
def test_member_cross_entropy_matches_reference(per_member_labels):
    rng = np.random.default_rng(1)
    b, n, k = 7, 4, 5
    logits = _logits(rng, b, n, k)
    y = _labels(rng, (b, n) if per_member_labels else (b,), k)
    got = L.member_cross_entropy(_t(logits), torch.tensor(y))
    assert got.dim() == 0
    assert got.item() == pytest.approx(ref_member_ce(logits, y), abs=ATOL)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("per_member_labels", [False, True])
def test_member_cross_entropy_gradient_in_any_layout(
    weighted, per_member_labels, monkeypatch
):
    """Value and gradient as torch's cross-entropy on the rows x members
    flattened, whatever memory order the stacked output layer hands over."""
    import torch.nn.functional as F

    rng = np.random.default_rng(5)
    b, n, k = 9, 3, 4
    base = _t(_logits(rng, b, n, k))
    y = torch.tensor(_labels(rng, (b, n) if per_member_labels else (b,), k))
    w = _t(rng.uniform(0.2, 2.0, size=b)) if weighted else None
    yy = y if per_member_labels else y.unsqueeze(1).expand(b, n)
    z = base.clone().requires_grad_()
    ce = F.cross_entropy(z.reshape(-1, k), yy.reshape(-1), reduction="none").view(b, n)
    ww = torch.ones(b, dtype=z.dtype) if w is None else w
    want = ((ce * ww[:, None]).sum(0) / ww.sum()).mean()
    (want_grad,) = torch.autograd.grad(want, z)
    from skdistill.nn.losses import _members

    for layout, threshold in product([(0, 1, 2), (1, 0, 2), (1, 2, 0)], [0, 10**9]):
        # threshold 0: the classes-first path; 10**9: torch's fused kernel
        monkeypatch.setattr(_members, "_CLASSES_FIRST_MIN", threshold)
        inverse = tuple(layout.index(i) for i in range(3))
        stored = base.permute(layout).contiguous().requires_grad_()
        got = L.member_cross_entropy(stored.permute(inverse), y, w)
        (grad,) = torch.autograd.grad(got, stored)
        assert got.item() == pytest.approx(want.item(), abs=1e-12)
        torch.testing.assert_close(grad.permute(inverse), want_grad, rtol=0, atol=1e-12)


def test_gaussian_nll_matches_scipy():
    rng = np.random.default_rng(2)
    mean, var, y = (
        rng.normal(size=10),
        rng.uniform(0.1, 4, size=10),
        rng.normal(size=10),
    )
    got = L.gaussian_nll(_t(mean), _t(var), _t(y))
    assert got.item() == pytest.approx(ref_gaussian_nll(mean, var, y), abs=ATOL)


@pytest.mark.parametrize("per_member_targets", [False, True])
def test_member_gaussian_nll_matches_reference(per_member_targets):
    rng = np.random.default_rng(3)
    b, n = 6, 3
    out = _gauss(rng, b, n)
    y = rng.normal(size=(b, n) if per_member_targets else (b,))
    y_full = y if per_member_targets else np.repeat(y[:, None], n, axis=1)
    expected = np.mean(
        [ref_gaussian_nll(out[:, j, 0], out[:, j, 1], y_full[:, j]) for j in range(n)]
    )
    got = L.member_gaussian_nll(_t(out), _t(y))
    assert got.item() == pytest.approx(expected, abs=ATOL)


def test_member_labels_with_wrong_shape_raise():
    with pytest.raises(ValueError, match="shape"):
        L.member_cross_entropy(
            torch.zeros(4, 3, 2), torch.zeros(4, 2, dtype=torch.long)
        )


def test_mutual_learning_gradient_is_the_formulas():
    """Against autograd of the term written out over the last axis (each
    member pulled towards the detached mean of the others), in float64."""
    import torch.nn.functional as F

    rng = np.random.default_rng(6)
    b, n, k = 7, 3, 4
    z = _t(_logits(rng, b, n, k), grad=True)
    y = torch.tensor(_labels(rng, (b,), k))
    w = _t(rng.uniform(0.2, 2.0, size=b))
    got = L.mutual_learning_loss(
        z.transpose(0, 1).contiguous().transpose(0, 1), y, 0.4, w
    )
    log_p = torch.log_softmax(z, dim=-1)
    p = log_p.exp().detach()
    others = (p.sum(dim=1, keepdim=True) - p) / (n - 1)
    kl = F.kl_div(log_p, others, reduction="none").sum(dim=-1)
    kl_mean = ((kl * w[:, None]).sum(0) / w.sum()).mean()
    want = 0.6 * L.member_cross_entropy(z, y, w) + 0.4 * kl_mean
    (g_got,) = torch.autograd.grad(got, z)
    (g_want,) = torch.autograd.grad(want, z)
    assert got.item() == pytest.approx(want.item(), abs=1e-12)
    torch.testing.assert_close(g_got, g_want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_members", [2, 3, 5])
@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_mutual_learning_matches_reference(n_members, weight):
    rng = np.random.default_rng(4)
    b, k = 6, 4
    logits = _logits(rng, b, n_members, k)
    y = _labels(rng, (b,), k)
    got = L.mutual_learning_loss(_t(logits), torch.tensor(y), weight)
    assert got.item() == pytest.approx(ref_dml(logits, y, weight), abs=ATOL)


def test_mutual_learning_with_zero_weight_is_member_cross_entropy():
    rng = np.random.default_rng(5)
    logits, y = _t(_logits(rng, 5, 3, 4)), torch.tensor(_labels(rng, (5, 3), 4))
    dml = L.mutual_learning_loss(logits, y, 0.0)
    ce = L.member_cross_entropy(logits, y)
    assert dml.item() == pytest.approx(ce.item(), abs=1e-14)


def test_mutual_learning_stops_gradient_into_the_others():
    # Two members, w = 1: member 0's term is KL(sg(p_1) || p_0), so the gradient
    # on z_0 must be (p_0 - p_1) / (N B) alone. Without the stop-gradient the
    # term KL(sg(p_0) || p_1) would also push on z_0 through p_0.
    rng = np.random.default_rng(6)
    b, k = 3, 4
    logits = _t(_logits(rng, b, 2, k), grad=True)
    y = torch.tensor(_labels(rng, (b,), k))
    L.mutual_learning_loss(logits, y, 1.0).backward()
    p = special.softmax(logits.detach().numpy(), axis=-1)
    expected_z0 = (p[:, 0] - p[:, 1]) / (2 * b)
    expected_z1 = (p[:, 1] - p[:, 0]) / (2 * b)
    np.testing.assert_allclose(logits.grad[:, 0].numpy(), expected_z0, atol=1e-12)
    np.testing.assert_allclose(logits.grad[:, 1].numpy(), expected_z1, atol=1e-12)

    # Without stop-gradient the two gradients differ; make sure they really would.
    z = logits.detach().clone().requires_grad_(True)
    lp = torch.log_softmax(z, -1)
    pr = lp.exp()
    full = 0.5 * (
        (pr[:, 1] * (lp[:, 1] - lp[:, 0])).sum(-1)
        + (pr[:, 0] * (lp[:, 0] - lp[:, 1])).sum(-1)
    )
    full.mean().backward()
    assert not np.allclose(z.grad[:, 0].numpy(), expected_z0, atol=1e-6)


def test_mutual_learning_gradient_matches_closed_form():
    rng = np.random.default_rng(7)
    b, n, k, w = 4, 3, 5, 0.4
    logits = _t(_logits(rng, b, n, k), grad=True)
    y = _labels(rng, (b,), k)
    L.mutual_learning_loss(logits, torch.tensor(y), w).backward()
    p = special.softmax(logits.detach().numpy(), axis=-1)
    onehot = np.eye(k)[y][:, None, :]
    others = (p.sum(axis=1, keepdims=True) - p) / (n - 1)
    expected = ((1 - w) * (p - onehot) + w * (p - others)) / (n * b)
    np.testing.assert_allclose(logits.grad.numpy(), expected, atol=1e-12)


def test_mutual_learning_needs_two_members():
    with pytest.raises(ValueError, match="at least 2 members"):
        L.mutual_learning_loss(
            torch.zeros(3, 1, 2), torch.zeros(3, dtype=torch.long), 0.5
        )
    with pytest.raises(ValueError, match="weight"):
        L.mutual_learning_loss(
            torch.zeros(3, 2, 2), torch.zeros(3, dtype=torch.long), 1.5
        )


def ref_cohort_dml(logits, y, weight):
    """Zhang et al.'s eq. 10 with the convex weighting: loops over every pair."""
    b, n, _ = logits.shape
    p = special.softmax(logits, axis=-1)
    total = 0.0
    for s in range(b):
        for k in range(n):
            peers = [ref_kl(p[s, j], p[s, k]) for j in range(n) if j != k]
            ce = ref_ce(logits[s, k], y[s])
            total += (1 - weight) * ce + weight * sum(peers) / (n - 1)
    return total / (b * n)


@pytest.mark.parametrize("n_members", [2, 3, 5])
@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_cohort_mutual_learning_matches_pairwise_reference(n_members, weight):
    rng = np.random.default_rng(41)
    logits, y = _logits(rng, 6, n_members, 4), _labels(rng, (6,), 4)
    got = L.cohort_mutual_learning_loss(_t(logits), torch.tensor(y), weight)
    assert got.item() == pytest.approx(ref_cohort_dml(logits, y, weight), abs=ATOL)


def test_cohort_and_ensemble_dml_share_the_gradient_not_the_value():
    # With detached peers, d/dz_k of the mean pairwise KL is p_k - mean_{l!=k} p_l,
    # DML_e's gradient; the values differ by the peers' Jensen-Shannon gap.
    rng = np.random.default_rng(42)
    b, n, k, w = 5, 4, 3, 0.6
    raw, y = _logits(rng, b, n, k), torch.tensor(_labels(rng, (b,), k))
    grads, values = [], []
    for loss in (L.mutual_learning_loss, L.cohort_mutual_learning_loss):
        z = _t(raw, grad=True)
        value = loss(z, y, w)
        value.backward()
        grads.append(z.grad.numpy())
        values.append(value.item())
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-12)
    p = special.softmax(raw, axis=-1)
    entropy = special.entr(p).sum(-1)  # (b, n)
    others = (p.sum(1, keepdims=True) - p) / (n - 1)
    gap = special.entr(others).sum(-1) - (entropy.sum(1, keepdims=True) - entropy) / (
        n - 1
    )
    assert gap.mean() > 1e-3
    assert values[1] - values[0] == pytest.approx(w * gap.mean(), abs=1e-10)


def test_cohort_mutual_learning_rejects_bad_arguments():
    y = torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError, match="at least 2 members"):
        L.cohort_mutual_learning_loss(torch.zeros(3, 1, 2), y, 0.5)
    with pytest.raises(ValueError, match="weight"):
        L.cohort_mutual_learning_loss(torch.zeros(3, 2, 2), y, -0.1)


# ----------------------------------------------------------------- Hydra+ map
@pytest.mark.parametrize(
    ("n", "m", "members", "heads"),
    [
        (5, 2, [0, 1, 2, 3, 4], [0, 1, 0, 1, 0]),
        (2, 5, [0, 1, 0, 1, 0], [0, 1, 2, 3, 4]),
        (3, 3, [0, 1, 2], [0, 1, 2]),
        (1, 1, [0], [0]),
    ],
)
def test_head_member_map(n, m, members, heads):
    member_idx, head_idx = L.head_member_map(n, m)
    assert member_idx.dtype == torch.long and head_idx.dtype == torch.long
    assert member_idx.tolist() == members
    assert head_idx.tolist() == heads


def test_head_member_map_rejects_zero():
    with pytest.raises(ValueError):
        L.head_member_map(0, 2)


# ----------------------------------------------------------------- Hydra+ classification
@pytest.mark.parametrize(("n", "m"), SHAPES)
def test_hydra_correctness_matches_reference(n, m):
    rng = np.random.default_rng(10 + n)
    z, y = _logits(rng, 6, m, 4), _labels(rng, (6,), 4)
    expected = np.mean(
        [np.mean([ref_ce(z[s, h], y[s]) for s in range(6)]) for h in range(m)]
    )
    got = L.hydra_correctness(_t(z), torch.tensor(y))
    assert got.item() == pytest.approx(expected, abs=ATOL)


@pytest.mark.parametrize(("n", "m"), SHAPES)
@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_hydra_aggregation_matches_reference(n, m, temperature):
    rng = np.random.default_rng(20 + n + m)
    z, logp = _logits(rng, 5, m, 4), _logp(rng, 5, n, 4)
    got = L.hydra_aggregation(_t(z), _t(logp), temperature)
    assert got.item() == pytest.approx(ref_aggregation(z, logp, temperature), abs=ATOL)


@pytest.mark.parametrize(("n", "m"), SHAPES)
@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_hydra_individuality_matches_reference(n, m, temperature):
    rng = np.random.default_rng(30 + n + m)
    z, logp = _logits(rng, 5, m, 4), _logp(rng, 5, n, 4)
    got = L.hydra_individuality(_t(z), _t(logp), temperature)
    assert got.item() == pytest.approx(
        ref_individuality(z, logp, temperature), abs=ATOL
    )


def test_hydra_default_temperatures():
    rng = np.random.default_rng(31)
    z, logp = _logits(rng, 4, 2, 3), _logp(rng, 4, 3, 3)
    assert L.hydra_aggregation(_t(z), _t(logp)).item() == pytest.approx(
        ref_aggregation(z, logp, 1.0), abs=ATOL
    )
    assert L.hydra_individuality(_t(z), _t(logp)).item() == pytest.approx(
        ref_individuality(z, logp, 3.0), abs=ATOL
    )


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_student_equal_to_teacher_gives_zero_kl(temperature):
    rng = np.random.default_rng(32)
    logp = _logp(rng, 4, 3, 5)
    # N = M: the student's logits are the teacher's log-probabilities.
    assert L.hydra_aggregation(_t(logp), _t(logp), temperature).item() == pytest.approx(
        0, abs=1e-12
    )
    assert L.hydra_individuality(
        _t(logp), _t(logp), temperature
    ).item() == pytest.approx(0, abs=1e-12)
    # N = 4 > M = 2: members (a, b, a, b) against heads (a, b); every pair matches.
    teacher = np.concatenate([logp[:, :2], logp[:, :2]], axis=1)
    student = logp[:, :2] + 1.7  # a shift of the logits changes nothing
    assert L.hydra_aggregation(
        _t(student), _t(teacher), temperature
    ).item() == pytest.approx(0, abs=1e-12)
    assert L.hydra_individuality(
        _t(student), _t(teacher), temperature
    ).item() == pytest.approx(0, abs=1e-12)
    # ... and a mismatch is not zero.
    assert (
        L.hydra_individuality(
            _t(student[:, ::-1].copy()), _t(teacher), temperature
        ).item()
        > 1e-3
    )


def test_teacher_with_zero_probabilities_gives_finite_losses():
    logp = torch.log(
        torch.tensor([[[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]], dtype=torch.float64)
    )
    z = torch.zeros(1, 2, 3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0])
    values = [
        L.hydra_aggregation(z, logp),
        L.hydra_individuality(z, logp),
        L.kd_loss(z[:, 0], logp, y),
        L.wsl_loss(z[:, 0], logp, y),
        L.endd_loss(z[:, 0], logp),
        L.endd_loss(z[:, 0], logp, temperature=5.0),
    ]
    total = sum(values)
    total.backward()
    assert all(torch.isfinite(v) for v in values)
    assert torch.isfinite(z.grad).all()


# ----------------------------------------------------------------- prepared teacher
def _criterion(prepared, alpha=0.9, beta=0.5, temperature=3.0, agg=1.0):
    from skdistill.nn.criteria import HydraCriterion

    return HydraCriterion(
        alpha=alpha, beta=beta, temperature=temperature,
        aggregation_temperature=agg, prepared=prepared,
    )  # fmt: skip


@pytest.mark.parametrize(("n", "m"), SHAPES)
@pytest.mark.parametrize(("temperature", "agg"), [(3.0, 1.0), (2.0, 1.5)])
def test_prepared_teacher_gives_the_reference_loss(n, m, temperature, agg):
    rng = np.random.default_rng(40 + n + m)
    z, logp, y = _logits(rng, 6, m, 4), _logp(rng, 6, n, 4), _labels(rng, (6,), 4)
    prepared = L.prepare_teacher_targets(_t(logp), m, temperature, agg)
    got = _criterion(True, 0.9, 0.5, temperature, agg)(
        _t(z), (torch.tensor(y), prepared)
    )
    l1 = np.mean([ref_ce(z[s, h], y[s]) for s in range(6) for h in range(m)])
    expected = 0.1 * l1 + 0.9 * (
        0.5 * ref_aggregation(z, logp, agg)
        + 0.5 * ref_individuality(z, logp, temperature)
    )
    assert got.item() == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("n", "m"), [*SHAPES, (8, 2)])
@pytest.mark.parametrize(("alpha", "beta"), [(0.9, 0.5), (1.0, 0.0), (0.5, 1.0)])
def test_prepared_teacher_has_the_gradient_of_the_plain_loss(n, m, alpha, beta):
    """Labelled and extra rows, row weights, a zero probability: the same
    value and gradient as the per-term losses, which take KLs of the
    tempered members themselves."""
    rng = np.random.default_rng(50 + n + m)
    z = _t(_logits(rng, 7, m, 3), grad=True)
    logp = _logp(rng, 7, n, 3)
    logp[0, 0] = [0.0, -np.inf, -np.inf]  # a tree's hard vote
    y = torch.tensor([0, 2, -1, 1, -1, 0, 2])  # -1: an extra row, no label
    w = _t(rng.uniform(0.2, 2.0, size=7))
    labelled = y >= 0
    plain = (1 - alpha) * L.hydra_correctness(z, y, labelled, w) + alpha * (
        (1 - beta) * L.hydra_aggregation(z, _t(logp), 1.0, w)
        + beta * L.hydra_individuality(z, _t(logp), 3.0, w)
    )
    (grad_plain,) = torch.autograd.grad(plain, z)
    unprepared = _criterion(False, alpha, beta)(z, (y, _t(logp), w))
    assert unprepared.item() == pytest.approx(plain.item(), abs=1e-10)
    prepared = L.prepare_teacher_targets(_t(logp), m)
    fast = _criterion(True, alpha, beta)(z, (y, prepared, w))
    (grad_fast,) = torch.autograd.grad(fast, z)
    assert torch.isfinite(fast)
    assert fast.item() == pytest.approx(plain.item(), abs=1e-10)
    torch.testing.assert_close(grad_fast, grad_plain, rtol=0, atol=1e-12)


def test_prepared_loss_takes_logits_in_any_layout():
    """The student's stacked output layer may hand over its ``(B, M, K)``
    logits as a view of ``(M, K, B)`` memory (a narrow layer run transposed);
    the loss and its gradient do not depend on the layout."""
    rng = np.random.default_rng(60)
    base = _t(_logits(rng, 9, 3, 4))  # (B, M, K) values
    y = torch.tensor([0, 3, -1, 1, -1, 2, 2, 0, 1])
    w = _t(rng.uniform(0.2, 2.0, size=9))
    prepared = L.prepare_teacher_targets(_t(_logp(rng, 9, 5, 4)), 3)
    results = []
    for layout in [(0, 1, 2), (1, 2, 0), (2, 0, 1)]:
        inverse = tuple(layout.index(i) for i in range(3))
        stored = base.permute(layout).contiguous().requires_grad_()
        z = stored.permute(inverse)  # (B, M, K) again, another memory order
        assert z.shape == base.shape and torch.equal(z, base)
        loss = _criterion(True)(z, (y, prepared, w))
        (grad,) = torch.autograd.grad(loss, stored)
        results.append((loss, grad.permute(inverse)))
    for loss, grad in results[1:]:
        torch.testing.assert_close(loss, results[0][0], rtol=0, atol=1e-12)
        torch.testing.assert_close(grad, results[0][1], rtol=0, atol=1e-12)


def _single_student_case(seed):
    """One student's logits ``(7, 1, 4)`` (requiring grad), 5 members'
    log-probabilities (one member with a zero probability), labels with two
    extra rows (-1), row weights, and which rows are labelled."""
    rng = np.random.default_rng(seed)
    z = _t(_logits(rng, 7, 1, 4), grad=True)
    logp = _logp(rng, 7, 5, 4)
    logp[1, 2] = [0.0, -np.inf, -np.inf, -np.inf]
    y = torch.tensor([0, 3, -1, 1, -1, 2, 2])
    w = _t(rng.uniform(0.2, 2.0, size=7))
    return z, logp, y, w, y >= 0


@pytest.mark.parametrize(("temperature", "alpha"), [(4.0, 0.9), (1.0, 0.3), (2.0, 1.0)])
def test_prepared_kd_has_the_value_and_gradient_of_kd_loss(temperature, alpha):
    from skdistill.nn.criteria import KDCriterion

    z, logp, y, w, labelled = _single_student_case(70)
    plain = L.kd_loss(z[:, 0], _t(logp), y, temperature, alpha, labelled, w)
    (grad_plain,) = torch.autograd.grad(plain, z)
    unprepared = KDCriterion(temperature=temperature, alpha=alpha)(z, (y, _t(logp), w))
    assert unprepared.item() == pytest.approx(plain.item(), abs=1e-10)
    prepared = L.prepare_mean_targets(_t(logp), temperature)
    fast = KDCriterion(temperature=temperature, alpha=alpha, prepared=True)(
        z, (y, prepared, w)
    )
    (grad_fast,) = torch.autograd.grad(fast, z)
    assert prepared.shape == (7, 5)
    assert fast.item() == pytest.approx(plain.item(), abs=1e-10)
    torch.testing.assert_close(grad_fast, grad_plain, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="do not fit a student of 4 classes"):
        KDCriterion(prepared=True)(z, (y, prepared[:, :4], w))


@pytest.mark.parametrize(("temperature", "alpha"), [(2.0, 2.5), (1.0, 0.5)])
def test_prepared_wsl_has_the_value_and_gradient_of_the_formula(temperature, alpha):
    """The distiller's WSL criterion reads the teacher prepared once per fit;
    against autograd of the loss written out on the members themselves,
    with extra rows (no label), row weights and a zero probability."""
    import torch.nn.functional as F

    from skdistill.nn.criteria import KDCriterion
    from skdistill.nn.losses._baselines import _prepare_wsl_targets

    z, logp, y, w, labelled = _single_student_case(71)
    members = torch.log_softmax(_t(logp).clamp_min(FLOOR), dim=-1)
    mean_1 = members.exp().mean(dim=1)
    mean_t = torch.softmax(members / temperature, dim=-1).mean(dim=1)
    y_w = torch.where(labelled, y, mean_1.argmax(dim=-1))
    ce = F.cross_entropy(z[:, 0], y_w, reduction="none")
    ratio = ce.detach() / (-mean_1.log().gather(1, y_w[:, None])[:, 0] + 1e-7)
    soft = -(mean_t * torch.log_softmax(z[:, 0] / temperature, -1)).sum(-1)
    lw = w * labelled
    want = (ce * lw).sum() / lw.sum() + alpha * temperature**2 * (
        ((1 - torch.exp(-ratio)) * soft * w).sum() / w.sum()
    )
    (grad_want,) = torch.autograd.grad(want, z)
    prepared = _prepare_wsl_targets(_t(logp), temperature)
    assert prepared.shape == (7, 8)
    criterion = KDCriterion(
        mode="wsl", temperature=temperature, alpha=alpha, prepared=True
    )
    got = criterion(z, (y, prepared, w))
    (grad_got,) = torch.autograd.grad(got, z)
    assert got.item() == pytest.approx(want.item(), abs=1e-10)
    torch.testing.assert_close(grad_got, grad_want, rtol=0, atol=1e-12)
    plain = L.wsl_loss(z[:, 0], _t(logp), y, temperature, alpha, labelled, w)
    assert plain.item() == pytest.approx(want.item(), abs=1e-10)
    with pytest.raises(ValueError, match="do not fit a student of 4 classes"):
        criterion(z, (y, prepared[:, :5], w))


def test_prepared_teacher_rows_are_prepared_in_chunks(monkeypatch):
    from skdistill.nn.losses import _common

    rng = np.random.default_rng(60)
    logp = _t(_logp(rng, 11, 5, 3))
    whole = L.prepare_teacher_targets(logp, 2)
    mean = L.prepare_mean_targets(logp, 4.0)
    monkeypatch.setattr(_common, "_PREPARE_ROWS", 4)
    torch.testing.assert_close(L.prepare_teacher_targets(logp, 2), whole)
    torch.testing.assert_close(L.prepare_mean_targets(logp, 4.0), mean)
    assert whole.shape == (11, 2 + 3 + 2 * 3) and mean.shape == (11, 1 + 3)


def test_prepared_teacher_for_other_heads_is_refused():
    rng = np.random.default_rng(61)
    logp = _t(_logp(rng, 4, 6, 3))
    z = _t(_logits(rng, 4, 3, 3))
    prepared = L.prepare_teacher_targets(logp, 2)  # for 2 heads, not 3
    with pytest.raises(ValueError, match="do not fit a student of 3 heads"):
        _criterion(True)(z, (torch.tensor([0, 1, 2, 0]), prepared))
    # Aggregation alone (Hydra's first stage, beta = 0) needs no heads' part.
    loss = _criterion(True, beta=0.0)(z, (torch.tensor([0, 1, 2, 0]), prepared))
    assert torch.isfinite(loss)


# ----------------------------------------------------------------- diversity
def test_hydra_diversity_matches_reference():
    rng = np.random.default_rng(40)
    weights = [
        rng.normal(size=(3, 4, 5)),
        rng.normal(size=(3, 5, 2)),
        rng.normal(size=(3, 2, 1)),
    ]
    got = L.hydra_diversity([_t(w) for w in weights])
    assert got.item() == pytest.approx(ref_diversity(weights), abs=ATOL)


def test_hydra_diversity_sums_layers_and_units_like_the_reference():
    rng = np.random.default_rng(41)
    w = rng.normal(size=(4, 3, 6))
    one = L.hydra_diversity([_t(w)]).item()
    assert L.hydra_diversity([_t(w), _t(w), _t(w)]).item() == pytest.approx(
        3 * one, abs=1e-12
    )
    assert 0.0 <= one <= 4 * 6  # at most M per unit


def test_identical_heads_score_m_per_unit_as_in_the_reference():
    # The Hydra+ reference gives sum_m (1 + cos(mean, theta_m)) / 2 = M per unit
    # for identical heads; so does this term, so its lambda carries over.
    w = torch.randn(1, 5, 3, dtype=torch.float64).expand(4, 5, 3)
    assert L.hydra_diversity([w]).item() == pytest.approx(4 * 3, abs=1e-9)
    # A single head has nobody to align with.
    assert L.hydra_diversity([torch.randn(1, 5, 3)]).item() == 0.0


def test_diversity_has_no_degenerate_floor_below_orthogonal():
    e0, e1 = np.eye(2)
    orthogonal = np.stack([e0, e1])[:, :, None]  # (M=2, in=2, out=1)
    assert L.hydra_diversity([_t(orthogonal)]).item() == pytest.approx(0.0)
    w = np.random.default_rng(42).normal(size=(1, 3, 2))
    # Heads that cancel out (mean 0) earn nothing more than orthogonal ones...
    opposite = np.concatenate([w, -w])
    assert L.hydra_diversity([_t(opposite)]).item() == pytest.approx(0.0)
    # ...and growing one head's norm changes nothing (the old mean-cosine
    # term could be lowered that way).
    aligned = np.concatenate([w, w + 0.1])
    grown = np.concatenate([100 * w, w + 0.1])
    assert L.hydra_diversity([_t(grown)]).item() == pytest.approx(
        L.hydra_diversity([_t(aligned)]).item(), rel=1e-9
    )
    assert L.hydra_diversity([_t(aligned)]).item() > 1.9


def _autograd_diversity(weights):
    """L4 written out for autograd: the gradient reference."""
    total = 0.0
    for w in weights:
        n = w.shape[0]
        if n < 2:
            continue
        units = w.permute(2, 0, 1)
        gram = units @ units.transpose(1, 2)
        inv = (gram.diagonal(dim1=1, dim2=2) + 1e-12).rsqrt()
        cos = (gram * inv.unsqueeze(2) * inv.unsqueeze(1)).clamp_min(0.0)
        total = total + (cos.sum() - cos.diagonal(dim1=1, dim2=2).sum()) / (n - 1)
    return total


@pytest.mark.parametrize(
    "shapes",
    [
        [(2, 10, 4), (2, 4, 3)],  # batched, the second layer padded to 10 inputs
        [(5, 7, 4)],
        [(1, 5, 3), (3, 5, 2)],
        [(16, 20, 6)],
        [(2, 6, 3), (3, 6, 2), (2, 3, 4)],  # two head counts: two batches
    ],
)
def test_hydra_diversity_gradient_is_the_formulas(shapes):
    """The closed-form backward: against autograd of the written-out formula,
    and against finite differences."""
    g = torch.Generator().manual_seed(len(shapes))
    weights = [
        torch.randn(*s, dtype=torch.float64, generator=g, requires_grad=True)
        for s in shapes
    ]
    got = torch.autograd.grad(L.hydra_diversity(weights), weights, allow_unused=True)
    want = torch.autograd.grad(_autograd_diversity(weights), weights, allow_unused=True)
    for a, b in zip(got, want):
        if b is None:  # a single head's layer takes no part
            assert a is None
        else:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    multi = tuple(w for w in weights if w.shape[0] > 1)
    assert torch.autograd.gradcheck(lambda *w: L.hydra_diversity(list(w)), multi)


def test_hydra_diversity_is_safe_for_zero_weights():
    w = torch.zeros(3, 4, 2, dtype=torch.float64, requires_grad=True)
    value = L.hydra_diversity([w])
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(w.grad).all()
    with pytest.raises(ValueError):
        L.hydra_diversity([])
    with pytest.raises(ValueError, match="shape"):
        L.hydra_diversity([torch.zeros(3, 4)])


def test_diversity_weight_warmup_boundaries():
    assert L.diversity_weight(0, 10, 0.5, 0.3) == 0.0
    assert L.diversity_weight(1, 10, 0.5, 0.3) == pytest.approx(0.5 / 3)
    assert L.diversity_weight(3, 10, 0.5, 0.3) == pytest.approx(0.5)
    assert L.diversity_weight(9, 10, 0.5, 0.3) == pytest.approx(0.5)
    assert L.diversity_weight(25, 10, 0.5, 0.3) == pytest.approx(0.5)
    # warmup = 0: constant from the first epoch; warmup = 1: ramps over all epochs.
    assert L.diversity_weight(0, 10, 0.5, 0.0) == 0.5
    assert L.diversity_weight(9, 10, 0.5, 1.0) == pytest.approx(0.45)
    assert L.diversity_weight(4, 8, 0.0, 0.5) == 0.0
    assert isinstance(L.diversity_weight(1, 10, 1, 0.5), float)


def test_diversity_weight_late_start():
    # zero for the first 40% of 10 epochs, then a ramp over 20%
    values = [L.diversity_weight(e, 10, 1.0, 0.2, start=0.4) for e in range(10)]
    assert values[:5] == [0.0] * 5
    assert values[5] == pytest.approx(0.5)
    assert values[6:] == [pytest.approx(1.0)] * 4
    with pytest.raises(ValueError, match="start"):
        L.diversity_weight(0, 10, 1.0, 0.2, start=1.5)


@pytest.mark.parametrize(
    "args",
    [(0, 0, 0.1, 0.5), (-1, 10, 0.1, 0.5), (0, 10, -0.1, 0.5), (0, 10, 0.1, 1.5)],
)
def test_diversity_weight_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        L.diversity_weight(*args)


# ----------------------------------------------------------------- Hydra+ regression
@pytest.mark.parametrize(("n", "m"), SHAPES)
def test_hydra_regression_losses_match_reference(n, m):
    rng = np.random.default_rng(50 + n + m)
    student, teacher, y = _gauss(rng, 6, m), _gauss(rng, 6, n), rng.normal(size=6)
    l1 = L.hydra_regression_correctness(_t(student), _t(y)).item()
    expected_l1 = np.mean(
        [ref_gaussian_nll(student[:, h, 0], student[:, h, 1], y) for h in range(m)]
    )
    assert l1 == pytest.approx(expected_l1, abs=ATOL)
    l3 = L.hydra_regression_individuality(_t(student), _t(teacher)).item()
    assert l3 == pytest.approx(ref_reg_individuality(student, teacher), abs=ATOL)
    l2 = L.hydra_regression_aggregation(_t(student), _t(teacher)).item()
    assert l2 == pytest.approx(ref_reg_aggregation(student, teacher), abs=ATOL)


def test_gaussian_kl_matches_numerical_integral():
    from scipy import integrate

    mu_p, var_p, mu_q, var_q = 0.3, 0.7, -0.5, 1.9
    p, q = stats.norm(mu_p, math.sqrt(var_p)), stats.norm(mu_q, math.sqrt(var_q))
    numeric, _ = integrate.quad(
        lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)), -20, 20
    )
    got = L.gaussian_kl(
        *(torch.tensor(v, dtype=torch.float64) for v in (mu_p, var_p, mu_q, var_q))
    )
    assert got.item() == pytest.approx(numeric, abs=1e-8)


def test_regression_student_equal_to_teacher_gives_zero_kl():
    rng = np.random.default_rng(51)
    teacher = _gauss(rng, 5, 3)
    assert L.hydra_regression_individuality(
        _t(teacher), _t(teacher)
    ).item() == pytest.approx(0, abs=1e-12)
    assert L.hydra_regression_aggregation(
        _t(teacher), _t(teacher)
    ).item() == pytest.approx(0, abs=1e-12)
    # One head holding the moment-matched mixture also matches in aggregate.
    mix = np.array([_mixture_moments(row) for row in teacher])[:, None, :]
    assert L.hydra_regression_aggregation(_t(mix), _t(teacher)).item() == pytest.approx(
        0, abs=1e-12
    )
    assert L.hydra_regression_individuality(_t(mix), _t(teacher)).item() > 1e-3


# ----------------------------------------------------------------- baselines
@pytest.mark.parametrize("n", [1, 4])
@pytest.mark.parametrize(("temperature", "alpha"), [(4.0, 0.9), (1.0, 0.0), (2.0, 1.0)])
def test_kd_loss_matches_reference(n, temperature, alpha):
    rng = np.random.default_rng(60 + n)
    z, logp, y = _logits(rng, 6, 5), _logp(rng, 6, n, 5), _labels(rng, (6,), 5)
    got = L.kd_loss(_t(z), _t(logp), torch.tensor(y), temperature, alpha)
    assert got.item() == pytest.approx(ref_kd(z, logp, y, temperature, alpha), abs=ATOL)


@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize(("temperature", "alpha"), [(2.0, 2.5), (1.0, 1.0)])
def test_wsl_loss_matches_reference(n, temperature, alpha):
    rng = np.random.default_rng(70 + n)
    z, logp, y = _logits(rng, 6, 4), _logp(rng, 6, n, 4), _labels(rng, (6,), 4)
    got = L.wsl_loss(_t(z), _t(logp), torch.tensor(y), temperature, alpha)
    assert got.item() == pytest.approx(
        ref_wsl(z, logp, y, temperature, alpha), abs=ATOL
    )


def _wsl_weight(z, logp, y):
    """Recover w(x) of one sample from the loss: (loss - CE) / (alpha T^2 softCE)."""
    alpha, temperature = 1.0, 1.0
    loss = L.wsl_loss(
        _t(z[None]), _t(logp[None]), torch.tensor([y]), temperature, alpha
    ).item()
    pt = np.mean(special.softmax(logp, axis=-1), axis=0)
    soft_ce = -(pt @ special.log_softmax(z))
    return (loss - ref_ce(z, y)) / (alpha * temperature**2 * soft_ce)


def test_wsl_weight_behaviour():
    good_teacher = np.log(np.array([[0.98, 0.01, 0.01], [0.96, 0.02, 0.02]]))
    bad_student = np.array([-6.0, 6.0, 0.0])
    good_student = np.array([8.0, 0.0, 0.0])
    # Student far worse than the teacher: r is large, w = 1 - exp(-r) near 1.
    assert _wsl_weight(bad_student, good_teacher, 0) > 0.999
    # Student far better than the teacher: w near 0.
    weak_teacher = np.log(np.array([[0.4, 0.3, 0.3]]))
    assert _wsl_weight(good_student, weak_teacher, 0) < 0.01
    # Student exactly as good as the teacher: r = 1, w = 1 - 1/e.
    same = np.log(np.array([0.7, 0.2, 0.1]))
    w = _wsl_weight(same, same[None], 0)
    assert w == pytest.approx(1 - math.exp(-1), abs=1e-5)


def test_wsl_gradient_treats_the_weight_as_constant():
    rng = np.random.default_rng(71)
    b, k, temperature, alpha = 4, 3, 2.0, 2.5
    z_np, logp, y = _logits(rng, b, k), _logp(rng, b, 2, k), _labels(rng, (b,), k)
    z = _t(z_np, grad=True)
    L.wsl_loss(z, _t(logp), torch.tensor(y), temperature, alpha).backward()
    p = special.softmax(z_np, axis=-1)
    pt1 = np.mean(special.softmax(logp, axis=-1), axis=1)
    ce_s = -np.log(p[np.arange(b), y])
    ce_t = -np.log(pt1[np.arange(b), y])
    weight = 1 - np.exp(-ce_s / (ce_t + 1e-7))
    ptT = np.mean(special.softmax(logp / temperature, axis=-1), axis=1)
    psT = special.softmax(z_np / temperature, axis=-1)
    onehot = np.eye(k)[y]
    expected = ((p - onehot) + alpha * temperature * weight[:, None] * (psT - ptT)) / b
    np.testing.assert_allclose(z.grad.numpy(), expected, atol=1e-12)


@pytest.mark.parametrize(
    ("a", "temperature", "alpha"), [(0.9, 4.0, 0.9), (0.6, 1.0, 0.5), (1.0, 2.0, 1.0)]
)
def test_virtual_teacher_loss_matches_reference(a, temperature, alpha):
    rng = np.random.default_rng(80)
    z, y = _logits(rng, 6, 4), _labels(rng, (6,), 4)
    got = L.virtual_teacher_loss(_t(z), torch.tensor(y), a, temperature, alpha).item()
    assert np.isfinite(got)
    assert got == pytest.approx(ref_virtual(z, y, a, temperature, alpha), abs=ATOL)


def test_yuan_virtual_teacher_targets_are_softmax_of_q_over_t():
    # Yuan et al.'s Tf-KD_reg: with alpha = 1 the loss is T^2 KL(softmax(q/T) ||
    # softmax(z/T)); at z = T * log(target) + c the KL is 0 exactly when the
    # target is softmax(q/T), and the log form's target q^(1/T) differs.
    a, temperature, k = 0.9, 4.0, 3
    y = torch.tensor([0, 2])
    q = np.full((2, k), (1 - a) / (k - 1))
    q[[0, 1], [0, 2]] = a
    target = special.softmax(q / temperature, axis=-1)
    np.testing.assert_allclose(target[0], [0.38210, 0.30895, 0.30895], atol=1e-5)
    z = _t(temperature * np.log(target) + 1.7)
    yuan = L.virtual_teacher_loss(z, y, a, temperature, 1.0, form="yuan")
    assert yuan.item() == pytest.approx(0.0, abs=1e-12)
    log_form = L.virtual_teacher_loss(z, y, a, temperature, 1.0, form="log")
    assert log_form.item() > 1e-2
    # Against the reference, with alpha < 1 and sample weights.
    rng = np.random.default_rng(81)
    z2, y2 = _logits(rng, 6, 4), _labels(rng, (6,), 4)
    w = rng.uniform(0.5, 2.0, size=6)
    expected = 0.0
    for s in range(6):
        qs = np.where(np.arange(4) == y2[s], a, (1 - a) / 3)
        kl = ref_kl(special.softmax(qs / 2.0), special.softmax(z2[s] / 2.0))
        expected += w[s] * (0.3 * ref_ce(z2[s], y2[s]) + 0.7 * 4.0 * kl)
    got = L.virtual_teacher_loss(
        _t(z2), torch.tensor(y2), a, 2.0, 0.7, _t(w), form="yuan"
    )
    assert got.item() == pytest.approx(expected / w.sum(), abs=ATOL)
    with pytest.raises(ValueError, match="form"):
        L.virtual_teacher_loss(z, y, form="softmax")


def test_virtual_teacher_rejects_bad_arguments():
    z, y = torch.zeros(2, 3), torch.tensor([0, 1])
    with pytest.raises(ValueError):
        L.virtual_teacher_loss(z, y, a=0.0)
    with pytest.raises(ValueError):
        L.virtual_teacher_loss(torch.zeros(2, 1), torch.tensor([0, 0]))
    with pytest.raises(ValueError):
        L.kd_loss(z, torch.zeros(2, 1, 3), y, temperature=0.0)


@pytest.mark.parametrize("n", [1, 3, 6])
@pytest.mark.parametrize("eps", [1e-3, 0.1])
def test_endd_loss_matches_scipy_dirichlet(n, eps):
    rng = np.random.default_rng(90 + n)
    z, logp = _logits(rng, 5, 4) * 0.7, _logp(rng, 5, n, 4)
    got = L.endd_loss(_t(z), _t(logp), 1.0, eps).item()
    assert got == pytest.approx(ref_endd_scipy(z, logp, eps), abs=ATOL)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 10.0])
def test_endd_loss_with_temperature_matches_reference(temperature):
    rng = np.random.default_rng(95)
    z, logp = _logits(rng, 5, 3), _logp(rng, 5, 4, 3)
    got = L.endd_loss(_t(z), _t(logp), temperature).item()
    assert got == pytest.approx(ref_endd_gammaln(z, logp, temperature, 1e-3), abs=ATOL)


def test_endd_loss_does_not_overflow():
    z = torch.tensor([[1e4, -1e4, 0.0]], dtype=torch.float32, requires_grad=True)
    logp = torch.log_softmax(torch.randn(1, 3, 3), -1)
    value = L.endd_loss(z, logp)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(z.grad).all()


def test_endd_temperature_schedule():
    assert L.endd_temperature(0, 10) == 10.0
    assert L.endd_temperature(5, 10) == 1.0  # end of the first half
    assert L.endd_temperature(9, 10) == 1.0
    assert L.endd_temperature(2, 8, t0=5.0, anneal_fraction=0.5) == pytest.approx(
        3.0
    )  # midpoint
    assert L.endd_temperature(0, 10, anneal_fraction=0.0) == 1.0
    assert L.endd_temperature(100, 10) == 1.0
    with pytest.raises(ValueError):
        L.endd_temperature(0, 10, t0=0.0)
    with pytest.raises(ValueError):
        L.endd_temperature(0, 0)


# ----------------------------------------------------------------- dtype and gradcheck
def _all_losses(dtype):
    g = torch.Generator().manual_seed(0)
    b, n, m, k = 3, 3, 2, 4
    z = torch.randn(b, m, k, generator=g, dtype=dtype)
    logp = torch.log_softmax(torch.randn(b, n, k, generator=g, dtype=dtype), -1)
    y = torch.randint(0, k, (b,), generator=g)
    gs = torch.stack(
        [
            torch.randn(b, m, generator=g, dtype=dtype),
            torch.rand(b, m, generator=g, dtype=dtype) + 0.5,
        ],
        -1,
    )
    gt = torch.stack(
        [
            torch.randn(b, n, generator=g, dtype=dtype),
            torch.rand(b, n, generator=g, dtype=dtype) + 0.5,
        ],
        -1,
    )
    yr = torch.randn(b, generator=g, dtype=dtype)
    return [
        L.member_cross_entropy(z, y),
        L.member_gaussian_nll(gs, yr),
        L.mutual_learning_loss(z, y, 0.5),
        L.hydra_correctness(z, y),
        L.hydra_aggregation(z, logp),
        L.hydra_individuality(z, logp),
        L.hydra_diversity([torch.randn(m, 4, 3, generator=g, dtype=dtype)]),
        L.hydra_regression_correctness(gs, yr),
        L.hydra_regression_individuality(gs, gt),
        L.hydra_regression_aggregation(gs, gt),
        L.kd_loss(z[:, 0], logp, y),
        L.wsl_loss(z[:, 0], logp, y),
        L.virtual_teacher_loss(z[:, 0], y),
        L.endd_loss(z[:, 0], logp, 3.0),
    ]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_loss_is_a_scalar_of_the_input_dtype(dtype):
    for value in _all_losses(dtype):
        assert value.dim() == 0 and value.dtype == dtype
        assert torch.isfinite(value)


def _gradcheck_cases():
    g = torch.Generator().manual_seed(1)

    def rnd(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    def logp(*shape):
        return torch.log_softmax(rnd(*shape), -1)

    def gauss(b, n):
        return torch.stack(
            [rnd(b, n), torch.rand(b, n, generator=g, dtype=torch.float64) + 0.5], -1
        )

    y = torch.tensor([0, 2, 1])
    yr = rnd(3)
    return {
        "member_cross_entropy": (
            lambda z: L.member_cross_entropy(z, y),
            (rnd(3, 2, 3),),
        ),
        "gaussian_nll": (
            lambda mu, var: L.gaussian_nll(mu, var, yr),
            (rnd(3), rnd(3).abs() + 0.5),
        ),
        "member_gaussian_nll": (lambda o: L.member_gaussian_nll(o, yr), (gauss(3, 2),)),
        "hydra_correctness": (lambda z: L.hydra_correctness(z, y), (rnd(3, 2, 3),)),
        "hydra_aggregation": (
            lambda z, t: L.hydra_aggregation(z, t, 1.5),
            (rnd(3, 2, 3), logp(3, 3, 3)),
        ),
        "hydra_individuality": (
            lambda z, t: L.hydra_individuality(z, t, 3.0),
            (rnd(3, 2, 3), logp(3, 3, 3)),
        ),
        "hydra_diversity": (
            lambda w1, w2: L.hydra_diversity([w1, w2]),
            (rnd(3, 4, 2), rnd(3, 2, 2)),
        ),
        "hydra_regression_correctness": (
            lambda o: L.hydra_regression_correctness(o, yr),
            (gauss(3, 2),),
        ),
        "gaussian_kl": (
            lambda a, b, c, d: L.gaussian_kl(a, b, c, d).sum(),
            (rnd(3), rnd(3).abs() + 0.5, rnd(3), rnd(3).abs() + 0.5),
        ),
        "hydra_regression_individuality": (
            L.hydra_regression_individuality,
            (gauss(3, 2), gauss(3, 3)),
        ),
        "hydra_regression_aggregation": (
            L.hydra_regression_aggregation,
            (gauss(3, 2), gauss(3, 3)),
        ),
        "kd_loss": (
            lambda z, t: L.kd_loss(z, t, y, 4.0, 0.9),
            (rnd(3, 3), logp(3, 2, 3)),
        ),
        "virtual_teacher_loss": (
            lambda z: L.virtual_teacher_loss(z, y, 0.9, 2.0, 0.7),
            (rnd(3, 3),),
        ),
        "endd_loss": (lambda z, t: L.endd_loss(z, t, 2.0), (rnd(3, 3), logp(3, 2, 3))),
    }


_CASES = _gradcheck_cases()


@pytest.mark.parametrize("name", sorted(_CASES))
def test_gradcheck(name):
    fn, inputs = _CASES[name]
    inputs = tuple(x.detach().clone().requires_grad_(True) for x in inputs)
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("n_heads, n_members", [(4, 4), (2, 5), (5, 3)])
@pytest.mark.parametrize(
    "alpha, beta, temperature, aggregation_temperature",
    [(0.9, 0.5, 3.0, 1.0), (0.5, 0.2, 2.0, 2.0), (0.0, 0.5, 3.0, 1.0),
     (1.0, 1.0, 3.0, 1.0), (1.0, 0.0, 3.0, 1.0)],
)  # fmt: skip
@pytest.mark.parametrize("weighted", [False, True])
def test_hydra_criterion_is_the_sum_of_its_terms(
    n_heads, n_members, alpha, beta, temperature, aggregation_temperature, weighted
):
    """The criterion's one-pass classification loss (shared log-probabilities)
    has the value and the gradient of the public terms' weighted sum."""
    from skdistill.nn.criteria import HydraCriterion

    gen = torch.Generator().manual_seed(n_heads * 10 + n_members)
    z = torch.randn(30, n_heads, 3, generator=gen, requires_grad=True)
    teacher = torch.log_softmax(torch.randn(30, n_members, 3, generator=gen), -1)
    teacher[0, 0, 1] = -math.inf  # a zero probability: floored alike
    y = torch.randint(0, 3, (30,), generator=gen)
    y[20:] = -1  # extra rows: no label
    w = torch.rand(30, generator=gen) if weighted else None
    crit = HydraCriterion(
        alpha=alpha, beta=beta, temperature=temperature,
        aggregation_temperature=aggregation_temperature,
    )  # fmt: skip
    got = crit(z, (y, teacher) if w is None else (y, teacher, w))
    a, b = alpha, beta
    want = (
        (1 - a) * L.hydra_correctness(z, y, y >= 0, w)
        + a * (1 - b) * L.hydra_aggregation(z, teacher, aggregation_temperature, w)
        + a * b * L.hydra_individuality(z, teacher, temperature, w)
    )
    (g_got,) = torch.autograd.grad(got, z)
    (g_want,) = torch.autograd.grad(want, z)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(g_got, g_want, rtol=1e-5, atol=1e-7)


def test_hydra_criterion_keeps_a_nan_teacher_visible():
    from skdistill.nn.criteria import HydraCriterion

    teacher = torch.log_softmax(torch.randn(4, 2, 3), -1)
    teacher[0, 0, 0] = math.nan
    loss = HydraCriterion()(torch.randn(4, 2, 3), (torch.zeros(4).long(), teacher))
    assert torch.isnan(loss)


def test_prepared_loss_without_a_gradient_has_the_same_value():
    """Validation steps (no gradient) take the value-only path: the same
    loss as the training path, and a NaN teacher row stays visible."""
    rng = np.random.default_rng(62)
    z = _t(_logits(rng, 8, 2, 3), grad=True)
    y = torch.tensor([0, 2, -1, 1, -1, 0, 2, 1])
    w = _t(rng.uniform(0.2, 2.0, size=8))
    prepared = L.prepare_teacher_targets(_t(_logp(rng, 8, 5, 3)), 2)
    for alpha, beta in [(0.9, 0.5), (0.0, 0.5), (1.0, 1.0), (1.0, 0.0)]:
        crit = _criterion(True, alpha, beta, 2.0, 1.5)
        with_grad = crit(z, (y, prepared, w))
        assert with_grad.requires_grad
        with torch.no_grad():
            without = crit(z, (y, prepared, w))
        assert not without.requires_grad
        assert without.item() == pytest.approx(with_grad.item(), abs=1e-12)
    prepared[3, 1] = math.nan
    with torch.no_grad():
        assert torch.isnan(_criterion(True)(z, (y, prepared, w)))


def test_prepared_targets_that_require_grad_are_refused():
    """Prepared rows are constants of the fit: the loss's closed-form
    gradient has no term for them, so a tensor that asks for one is an
    error, not a silently missing gradient."""
    rng = np.random.default_rng(63)
    z = _t(_logits(rng, 4, 2, 3), grad=True)
    prepared = L.prepare_teacher_targets(_t(_logp(rng, 4, 2, 3)), 2)
    prepared.requires_grad_()
    with pytest.raises(ValueError, match="constants of the fit"):
        _criterion(True)(z, (torch.tensor([0, 1, 2, 0]), prepared))
    with torch.no_grad():
        assert torch.isfinite(
            _criterion(True)(z, (torch.tensor([0, 1, 2, 0]), prepared))
        )


def test_hydra_terms_and_diversity_under_mixed_precision():
    """Under autocast (Accelerate's mixed precision) the heads' logits come
    in bfloat16: the data terms and L4 run in float32 and backpropagate
    (L4's backward failed on mixed dtypes before)."""
    rng = np.random.default_rng(64)
    prepared = L.prepare_teacher_targets(torch.tensor(_logp(rng, 6, 4, 3)).float(), 2)
    y = torch.tensor([0, 2, 1, -1, -1, 1])
    weights = torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(0))
    head = weights.clone().requires_grad_()
    logits = torch.randn(6, 2, 3, generator=torch.Generator().manual_seed(1))
    z = logits.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = z.to(torch.bfloat16)
        data = _criterion(True)(low, (y, prepared))
        l4 = L.hydra_diversity([head])
    assert data.dtype == l4.dtype == torch.float32
    (data + l4).backward()
    assert head.grad.dtype == torch.float32 and torch.isfinite(head.grad).all()
    assert z.grad is not None and torch.isfinite(z.grad).all()
    full = weights.clone().requires_grad_()
    want = L.hydra_diversity([full])
    want.backward()
    torch.testing.assert_close(l4, want)
    torch.testing.assert_close(head.grad, full.grad)
    rounded = logits.to(torch.bfloat16).float()
    torch.testing.assert_close(data, _criterion(True)(rounded, (y, prepared)))


def test_prepared_hydra_terms_match_the_public_terms_on_random_cases():
    """The fused terms against the public per-term losses over random
    shapes, weights and edge cases: one row, one head, one member, batches
    with no labelled row, all-zero row weights, a or b at 0 or 1."""
    gen = torch.Generator().manual_seed(7)

    def draw(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    for case in range(60):
        batch, heads, members, classes = (
            int(torch.randint(lo, hi, (), generator=gen))
            for lo, hi in ((1, 6), (1, 5), (1, 6), (2, 5))
        )
        z = (3 * draw(batch, heads, classes)).requires_grad_()
        teacher = torch.log_softmax(3 * draw(batch, members, classes), -1)
        y = torch.randint(-1, classes, (batch,), generator=gen)
        if case % 5 == 0:
            y[:] = -1  # only extra rows
        w = None
        if case % 3 == 0:
            w = torch.rand(batch, generator=gen, dtype=torch.float64) * (case % 2)
        a = (0.0, 1.0, 0.3, 0.9)[case % 4]
        b = (0.0, 1.0, 0.5)[case % 3 - 1] if case % 7 else 0.5
        temperature, agg = 1.0 + case % 4, 1.0 if case % 2 else 2.0
        prepared = L.prepare_teacher_targets(teacher, heads, temperature, agg)
        got = _criterion(True, a, b, temperature, agg)(
            z, (y, prepared) if w is None else (y, prepared, w)
        )
        labelled = y >= 0
        want = (
            (1 - a) * L.hydra_correctness(z, y, labelled, w)
            + a * (1 - b) * L.hydra_aggregation(z, teacher, agg, w)
            + a * b * L.hydra_individuality(z, teacher, temperature, w)
        )
        (g_got,) = torch.autograd.grad(got, z)
        (g_want,) = torch.autograd.grad(want, z)
        assert got.item() == pytest.approx(want.item(), abs=1e-10), case
        torch.testing.assert_close(g_got, g_want, rtol=0, atol=1e-10)
