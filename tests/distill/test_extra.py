"""Extra inputs, the spread scale, loss schedules and the distillers' defaults."""

import numpy as np
import pytest
import torch
from distill_settings import STUDENT
from sklearn.linear_model import LinearRegression

from skdistill import EnDDDistiller, HydraDistiller, KDDistiller
from skdistill._base import auto_batch_size
from skdistill.distill._extra import fit_spread, scale_spread, teacher_epistemic
from skdistill.nn import losses as L
from skdistill.nn.criteria import HydraCriterion, labelled_rows
from skdistill.training import BatchIterator, StackedNet, TensorData
from skdistill.uncertainty import classification_uncertainty


# ----------------------------------------------------------------- iterator
def _pool_data(n_lab=10, n_extra=30):
    X = torch.arange(n_lab + n_extra, dtype=torch.float32).unsqueeze(1)
    return TensorData(X, X[:, 0].clone(), n_labelled=n_lab)


def _epoch(it):
    return [X[:, 0].long().tolist() for X, _ in it]


def test_each_batch_carries_fresh_extra_rows_in_ratio():
    it = BatchIterator(_pool_data(), 4, shuffle=True, seed=0, extra_ratio=1.0)
    first, second = _epoch(it), _epoch(it)
    labelled = [r for batch in first for r in batch if r < 10]
    extra = [r for batch in first for r in batch if r >= 10]
    assert sorted(labelled) == list(range(10))  # one pass over labelled rows
    assert len(extra) == 10 and len(set(extra)) == 10  # ratio 1, no repeats
    for batch in first:  # labelled rows first, then as many extra rows
        n_lab = sum(r < 10 for r in batch)
        assert all(r < 10 for r in batch[:n_lab]) and len(batch) == 2 * n_lab
    extra2 = [r for batch in second for r in batch if r >= 10]
    assert set(extra) != set(extra2)  # a fresh draw every epoch
    assert len(it) == 3


def test_extra_ratio_larger_than_the_pool_repeats_rows():
    it = BatchIterator(_pool_data(10, 5), 10, shuffle=True, seed=0, extra_ratio=2.0)
    (batch,) = _epoch(it)
    extra = [r for r in batch if r >= 10]
    assert len(extra) == 20 and set(extra) == set(range(10, 15))


def test_evaluation_iterates_over_every_row_once():
    it = BatchIterator(_pool_data(), 7)
    assert sorted(r for b in _epoch(it) for r in b) == list(range(40))


# -------------------------------------------------------------------- losses
def _batch(b=12, m=3, n=4, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(b, m, k, generator=g, dtype=torch.float64)
    logp = torch.log_softmax(torch.randn(b, n, k, generator=g, dtype=torch.float64), -1)
    y = torch.randint(k, (b,), generator=g)
    return z, logp, y


def test_ground_truth_terms_ignore_unlabelled_rows():
    z, logp, y = _batch()
    labelled = torch.arange(12) < 7
    y_marked = torch.where(labelled, y, torch.full_like(y, -1))
    # L1 on the labelled subset, whatever the extra rows' labels say.
    expected = L.hydra_correctness(z[:7], y[:7])
    assert L.hydra_correctness(z, y_marked, labelled).item() == pytest.approx(
        expected.item(), rel=1e-12
    )
    # KD: CE over labelled rows, KL over every row.
    ce = L.kd_loss(z[:7, 0], logp[:7], y[:7], 2.0, 0.0)
    kl = L.kd_loss(z[:, 0], logp, y, 2.0, 1.0)
    got = L.kd_loss(z[:, 0], logp, y_marked, 2.0, 0.3, labelled=labelled)
    assert got.item() == pytest.approx(0.7 * ce.item() + 0.3 * kl.item(), rel=1e-10)
    # Every row labelled: the same as no mask.
    everyone = torch.ones(12, dtype=torch.bool)
    assert L.wsl_loss(z[:, 0], logp, y, labelled=everyone).item() == pytest.approx(
        L.wsl_loss(z[:, 0], logp, y).item(), rel=1e-12
    )
    assert torch.isfinite(L.wsl_loss(z[:, 0], logp, y_marked, labelled=labelled))


def test_regression_correctness_ignores_nan_targets():
    g = torch.Generator().manual_seed(1)
    out = torch.stack(
        (torch.randn(10, 2, generator=g), torch.rand(10, 2, generator=g) + 0.1), -1
    ).requires_grad_()
    y = torch.randn(10, generator=g)
    y_marked = y.clone()
    y_marked[6:] = float("nan")
    mask = labelled_rows(y_marked)
    assert mask.tolist() == [True] * 6 + [False] * 4
    got = L.hydra_regression_correctness(out, y_marked, mask)
    got.backward()
    assert torch.isfinite(got) and torch.all(out.grad[6:] == 0)
    expected = L.hydra_regression_correctness(out[:6].detach(), y[:6])
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


def test_diversity_is_added_to_training_steps_only():
    class Net:  # what StackedNet.get_loss reads
        criterion_ = HydraCriterion()
        module_ = torch.nn.Module()
        plain_module = module_
        diversity = 0.5

    Net.module_.head_weights = lambda: [torch.ones(2, 3, 1)]  # aligned heads
    net = Net()
    z, logp, y = _batch(m=2)
    trained = StackedNet.get_loss(net, z, (y, logp), training=True)
    validated = StackedNet.get_loss(net, z, (y, logp), training=False)
    assert validated.item() == pytest.approx(HydraCriterion()(z, (y, logp)).item())
    assert trained.item() == pytest.approx(validated.item() + 0.5 * 2.0)
    net.diversity_now_ = 0.0  # what the schedule sets before the ramp starts
    assert StackedNet.get_loss(net, z, (y, logp), training=True).item() == (
        pytest.approx(validated.item())
    )


# -------------------------------------------------------------------- spread
def test_scale_spread_regression_scales_epistemic_exactly():
    rng = np.random.default_rng(0)
    out = np.stack((rng.normal(size=(20, 4)), rng.uniform(0.1, 1, (20, 4))), -1)
    scaled = scale_spread(out, 3.0, "regression")
    np.testing.assert_allclose(scaled[..., 0].mean(1), out[..., 0].mean(1))
    np.testing.assert_allclose(scaled[..., 1], out[..., 1])
    np.testing.assert_allclose(scaled[..., 0].var(1), 9 * out[..., 0].var(1))


def test_scale_spread_classification_keeps_mean_logits_and_orders_epistemic():
    rng = np.random.default_rng(1)
    out = rng.normal(size=(30, 4, 3))
    same = scale_spread(out, 1.0, "classification")
    assert same is out
    flat = scale_spread(out, 0.0, "classification")
    np.testing.assert_allclose(flat, flat[:, :1].repeat(4, 1), atol=1e-12)

    def epistemic(o):
        p = np.exp(o - o.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        return classification_uncertainty(p.transpose(1, 0, 2)).epistemic.mean()

    values = [epistemic(scale_spread(out, s, "classification")) for s in (0, 0.5, 2)]
    assert values[0] == pytest.approx(0, abs=1e-12) and values[1] < values[2]


@pytest.mark.parametrize("spread", [0.0, 0.4, 2.5])
def test_scale_spread_gives_the_probabilities_of_scaled_log_probabilities(spread):
    """Scaling the logits around their mean is scaling the log-probabilities:
    the two differ by a constant per head and row, which the softmax drops."""
    from scipy.special import log_softmax, softmax

    rng = np.random.default_rng(3)
    out = rng.normal(scale=4.0, size=(25, 3, 5)) + rng.normal(size=(25, 3, 1)) * 10
    logp = log_softmax(out, axis=-1)
    center = logp.mean(axis=1, keepdims=True)
    expected = softmax(center + spread * (logp - center), axis=-1)
    got = softmax(scale_spread(out, spread, "classification"), axis=-1)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)


def test_fit_spread_recovers_the_scale_of_shrunk_heads():
    rng = np.random.default_rng(2)
    teacher = rng.normal(scale=2.0, size=(200, 5, 3))
    logp = teacher - np.log(np.exp(teacher).sum(-1, keepdims=True))
    shrunk = scale_spread(logp, 0.4, "classification")  # heads 2.5x too alike
    spread = fit_spread([(shrunk, logp)], "classification")
    assert spread == pytest.approx(2.5, rel=1e-3)
    means = np.stack((rng.normal(size=(50, 4)), np.ones((50, 4))), -1)
    small = scale_spread(means, 0.5, "regression")
    assert fit_spread([(small, means)], "regression") == pytest.approx(2.0)
    # Nothing to rescale: heads that agree exactly.
    assert fit_spread([(np.zeros((5, 3, 2)), logp[:5, :, :2])], "classification") == 1
    assert teacher_epistemic(logp, "classification") > 0


# ----------------------------------------------------------------- distillers
@pytest.fixture(scope="module")
def quarter(fitted_ensemble, clf_data):
    """Two heads for a four-member teacher: the spread is calibrated."""
    return HydraDistiller(teacher=fitted_ensemble, n_heads=2, random_state=0,
                          **STUDENT).fit(*clf_data)  # fmt: skip


def test_fewer_heads_than_members_get_a_spread(quarter, clf_data):
    X, _ = clf_data
    assert np.isfinite(quarter.spread_) and quarter.spread_ > 0
    members = quarter.predict_members(X)
    np.testing.assert_allclose(members.sum(-1), 1.0, rtol=1e-9)
    np.testing.assert_allclose(quarter.predict_proba(X), members.mean(0))
    # The spread is what predict_members applies: undoing it changes them.
    spread = quarter.spread_
    quarter.spread_ = 1.0
    try:
        raw = quarter.predict_uncertainty(X).epistemic.mean()
    finally:
        quarter.spread_ = spread
    scaled = quarter.predict_uncertainty(X).epistemic.mean()
    assert (scaled > raw) == (spread > 1)


def test_as_many_heads_as_members_keep_spread_one(fitted_ensemble, clf_data):
    est = HydraDistiller(teacher=fitted_ensemble, random_state=0, **STUDENT)
    est.fit(*clf_data)
    assert est.n_heads_ == 4 and est.spread_ == 1.0
    forced = HydraDistiller(teacher=fitted_ensemble, spread_calibration=True,
                            random_state=0, **STUDENT).fit(*clf_data)  # fmt: skip
    assert forced.spread_ != 1.0


def test_unlabelled_rows_reach_the_student(fitted_ensemble, clf_data, monkeypatch):
    X, y = clf_data
    seen = {}
    original = HydraDistiller._fit_student

    def spy(self, train, valid, seed):
        seen["rows"], seen["labelled"] = len(train), train.n_labelled
        return original(self, train, valid, seed)

    monkeypatch.setattr(HydraDistiller, "_fit_student", spy)
    extra = np.random.default_rng(0).normal(size=(17, X.shape[1]))
    est = HydraDistiller(teacher=fitted_ensemble, n_heads=2, extra_inputs=None,
                         random_state=0, **STUDENT)  # fmt: skip
    est.fit(X, y, X_unlabelled=extra)
    assert seen["rows"] - seen["labelled"] == 17
    est.set_params(extra_inputs="mixup", n_extra=2).fit(X, y, X_unlabelled=extra)
    assert seen["rows"] - seen["labelled"] == 2 * seen["labelled"] + 17
    with pytest.raises(ValueError, match="features"):
        est.fit(X, y, X_unlabelled=extra[:, :2])


def test_bad_extra_input_settings_are_named(fitted_ensemble, clf_data):
    for params, match in [
        (dict(extra_inputs="blur"), "extra_inputs"),
        (dict(n_extra=0), "n_extra"),
        (dict(noise_scale=0.0), "noise_scale"),
        (dict(spread_calibration="yes"), "spread_calibration"),
    ]:
        with pytest.raises(ValueError, match=match):
            HydraDistiller(teacher=fitted_ensemble, **params, **STUDENT).fit(*clf_data)
    with pytest.raises(ValueError, match="virtual"):
        KDDistiller(teacher="virtual", **STUDENT).fit(
            *clf_data, X_unlabelled=clf_data[0]
        )


def test_teacher_needing_targets_trains_without_extra_rows(reg_data):
    with pytest.warns(UserWarning, match="without extra inputs"):
        est = HydraDistiller(teacher=[LinearRegression().fit(*reg_data)] * 2,
                             random_state=0, **STUDENT).fit(*reg_data)  # fmt: skip
    assert np.all(np.isfinite(est.predict(reg_data[0])))


def test_regression_spread_keeps_the_mean(fitted_reg_ensemble, reg_data):
    X, y = reg_data
    est = HydraDistiller(teacher=fitted_reg_ensemble, n_heads=2, random_state=0,
                         **STUDENT).fit(X, y)  # fmt: skip
    means, _ = est.predict_members(X)
    spread = est.spread_
    est.spread_ = 1.0
    raw_means, _ = est.predict_members(X)
    est.spread_ = spread
    np.testing.assert_allclose(means.mean(0), raw_means.mean(0), rtol=1e-6)
    np.testing.assert_allclose(means.var(0), spread**2 * raw_means.var(0), rtol=1e-6)


# ------------------------------------------------------------------ schedules
def test_diversity_schedule_starts_late(fitted_ensemble, clf_data):
    seen = []
    from skorch.callbacks import Callback

    class Record(Callback):
        def on_epoch_begin(self, net, **kwargs):
            seen.append(net.diversity_now_)

    params = {**STUDENT, "max_epochs": 6, "early_stopping": False}
    HydraDistiller(teacher=fitted_ensemble, n_heads=2, diversity=0.3,
                   diversity_start=0.5, diversity_warmup=0.0, random_state=0,
                   callbacks=[Record()], **params).fit(*clf_data)  # fmt: skip
    assert seen == [0.0, 0.0, 0.0, 0.3, 0.3, 0.3]


def test_endd_anneals_and_early_stopping_waits(fitted_ensemble, clf_data):
    seen = []
    from skorch.callbacks import Callback

    class Record(Callback):
        def on_epoch_begin(self, net, **kwargs):
            seen.append(net.criterion_.temperature)

    params = {**STUDENT, "max_epochs": 10, "n_iter_no_change": 1}
    est = EnDDDistiller(teacher=fitted_ensemble, initial_temperature=5.0,
                        hold_fraction=0.2, anneal_fraction=0.4, random_state=0,
                        callbacks=[Record()], **params).fit(*clf_data)  # fmt: skip
    assert seen[:3] == [5.0, 5.0, 5.0] and seen[3] < 5.0
    # Patience 1, but nothing counts before the annealing ends (6 epochs).
    assert len(est.history_) >= 7
    assert seen[6:] == [1.0] * len(seen[6:])


def test_auto_batch_size_gives_small_tables_enough_steps():
    assert auto_batch_size(190) == 19
    assert auto_batch_size(50) == 16
    assert auto_batch_size(5) == 5
    assert auto_batch_size(10**6) == 200


def test_inputs_near_float32s_limit_are_not_perturbed_past_it():
    """A valid X near float32's largest value: the perturbed copies stay
    within it, instead of failing the float32 check in the user's name."""
    from skdistill import EnsembleClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3))
    X[:, 0] *= 3e38 / np.abs(X[:, 0]).max()
    y = (X[:, 1] > 0).astype(int)
    teacher = EnsembleClassifier(n_members=2, max_epochs=1, random_state=0)
    kd = KDDistiller(teacher=teacher, **{**STUDENT, "max_epochs": 1}).fit(X, y)
    assert np.isfinite(kd.predict_proba(X)).all()
