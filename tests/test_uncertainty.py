"""Uncertainty decompositions against independent float64 references."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats
from sklearn.utils import Bunch

from skdistill.uncertainty import (
    classification_uncertainty,
    dirichlet_uncertainty,
    mixture_mean_std,
    mixture_nll,
    regression_uncertainty,
)


def _random_members(rng, n_members=5, n_samples=40, n_classes=4, concentration=0.5):
    return rng.dirichlet(np.full(n_classes, concentration), size=(n_members, n_samples))


def _reference_classification(p):
    """Loop over samples; entropies from scipy.stats.entropy."""
    n_members, n_samples, _ = p.shape
    total, aleatoric = np.empty(n_samples), np.empty(n_samples)
    for i in range(n_samples):
        mean = sum(p[m, i] for m in range(n_members)) / n_members
        total[i] = stats.entropy(mean)
        aleatoric[i] = sum(stats.entropy(p[m, i]) for m in range(n_members)) / n_members
    return total, aleatoric


# --------------------------------------------------------------------------
# classification
# --------------------------------------------------------------------------


def test_classification_matches_reference():
    p = _random_members(np.random.default_rng(1))
    u = classification_uncertainty(p)
    total, aleatoric = _reference_classification(p)
    np.testing.assert_allclose(u.total, total, rtol=0, atol=1e-10)
    np.testing.assert_allclose(u.aleatoric, aleatoric, rtol=0, atol=1e-10)
    np.testing.assert_allclose(u.epistemic, total - aleatoric, rtol=0, atol=1e-10)


def test_classification_returns_float64_bunch():
    p = _random_members(np.random.default_rng(2), n_samples=7).astype(np.float32)
    u = classification_uncertainty(p)
    assert isinstance(u, Bunch)
    assert sorted(u) == ["aleatoric", "epistemic", "total"]
    for value in u.values():
        assert value.shape == (7,) and value.dtype == np.float64
    pd = pytest.importorskip("pandas")
    assert list(pd.DataFrame(u).shape) == [7, 3]


def test_identical_members_have_no_epistemic_uncertainty():
    one = _random_members(np.random.default_rng(3), n_members=1)
    u = classification_uncertainty(np.repeat(one, 6, axis=0))
    np.testing.assert_allclose(u.epistemic, 0.0, atol=1e-12)
    np.testing.assert_allclose(u.total, u.aleatoric, atol=1e-12)
    assert (u.total > 0).all()


def test_identical_one_hot_members_are_certain():
    onehot = np.eye(3)[[0, 2, 1, 1]]  # (4 samples, 3 classes)
    u = classification_uncertainty(np.stack([onehot] * 3))
    for value in u.values():
        assert np.isfinite(value).all()
        np.testing.assert_array_equal(value, 0.0)


def test_disagreeing_one_hot_members():
    # member votes 0, 0, 1, 1 for one sample -> mean (0.5, 0.5): log 2, all epistemic
    members = np.eye(2)[[0, 0, 1, 1]][:, None, :]
    u = classification_uncertainty(members)
    assert u.total[0] == pytest.approx(math.log(2), abs=1e-15)
    assert u.aleatoric[0] == 0.0
    assert u.epistemic[0] == pytest.approx(math.log(2), abs=1e-15)


def test_uniform_members():
    members = np.full((3, 2, 5), 0.2)
    u = classification_uncertainty(members)
    np.testing.assert_allclose(u.total, math.log(5), atol=1e-14)
    np.testing.assert_allclose(u.aleatoric, math.log(5), atol=1e-14)
    np.testing.assert_allclose(u.epistemic, 0.0, atol=1e-14)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_members=st.integers(1, 6),
    n_classes=st.integers(1, 6),
    concentration=st.sampled_from([0.01, 0.3, 1.0, 50.0]),
)
def test_classification_bounds(seed, n_members, n_classes, concentration):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(n_classes, concentration), size=(n_members, 5))
    u = classification_uncertainty(p)
    assert (u.epistemic >= 0).all()
    assert (u.aleatoric >= -1e-15).all()
    assert (u.total <= math.log(n_classes) + 1e-12).all()
    np.testing.assert_allclose(u.total, u.aleatoric + u.epistemic, atol=1e-12)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.full((4, 3), 1 / 3), "3-D"),
        (np.full((2, 4, 3), np.nan), "NaN"),
        (np.full((2, 4, 3), np.inf), "infinity"),
        (np.full((2, 4, 3), 0.5), "sum to 1"),
        (np.tile([1.5, -0.5], (2, 4, 1)), r"\[0, 1\]"),
        (np.zeros((0, 4, 3)), "at least one member"),
    ],
)
def test_classification_rejects_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        classification_uncertainty(bad)


# --------------------------------------------------------------------------
# regression
# --------------------------------------------------------------------------


def _random_regression(rng, n_members=4, n_samples=30):
    means = rng.normal(size=(n_members, n_samples)) * 3
    variances = rng.gamma(2.0, 0.5, size=(n_members, n_samples))
    return means, variances


def test_regression_matches_reference():
    means, variances = _random_regression(np.random.default_rng(4))
    u = regression_uncertainty(means, variances)
    n_members, n_samples = means.shape
    for i in range(n_samples):
        mu_bar = sum(means[:, i]) / n_members
        epistemic = (
            sum((means[m, i] - mu_bar) ** 2 for m in range(n_members)) / n_members
        )
        assert u.aleatoric[i] == pytest.approx(
            variances[:, i].sum() / n_members, abs=1e-10
        )
        assert u.epistemic[i] == pytest.approx(epistemic, abs=1e-10)
    np.testing.assert_allclose(u.total, u.aleatoric + u.epistemic, rtol=0, atol=1e-12)
    np.testing.assert_allclose(u.epistemic, np.var(means, axis=0, ddof=0), atol=1e-10)


def test_mixture_std_squared_is_total_variance():
    means, variances = _random_regression(np.random.default_rng(5))
    mean, std = mixture_mean_std(means, variances)
    u = regression_uncertainty(means, variances)
    np.testing.assert_allclose(std**2, u.total, rtol=1e-12)
    np.testing.assert_allclose(mean, means.mean(axis=0), rtol=1e-12)
    # Second moment route: Var = E[X^2] - E[X]^2 of the mixture.
    second_moment = (variances + means**2).mean(axis=0)
    np.testing.assert_allclose(std**2, second_moment - mean**2, rtol=1e-9)


def test_identical_regression_members():
    means = np.tile([1.0, -2.0, 3.0], (5, 1))
    variances = np.tile([0.5, 1.0, 2.0], (5, 1))
    u = regression_uncertainty(means, variances)
    np.testing.assert_array_equal(u.epistemic, 0.0)
    np.testing.assert_array_equal(u.total, [0.5, 1.0, 2.0])


def test_mixture_nll_matches_density_sum():
    rng = np.random.default_rng(6)
    means, variances = _random_regression(rng, n_samples=25)
    y = rng.normal(size=25) * 3
    n_members = means.shape[0]
    per_sample = [
        -math.log(
            sum(
                stats.norm.pdf(y[i], means[m, i], math.sqrt(variances[m, i]))
                for m in range(n_members)
            )
            / n_members
        )
        for i in range(len(y))
    ]
    assert mixture_nll(y, means, variances) == pytest.approx(
        np.mean(per_sample), abs=1e-10
    )


def test_mixture_nll_single_member_is_gaussian_nll():
    rng = np.random.default_rng(7)
    mu, var = rng.normal(size=10), rng.gamma(2.0, size=10)
    y = rng.normal(size=10)
    expected = -np.mean(stats.norm.logpdf(y, mu, np.sqrt(var)))
    assert mixture_nll(y, mu[None], var[None]) == pytest.approx(expected, abs=1e-10)


def test_mixture_nll_is_stable_far_from_every_member():
    # Densities underflow to 0 in float64; the log-sum-exp must not.
    means, variances = np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]])
    y = np.array([100.0])
    # log mean of exp(a_m) with a_m = -0.5 log(2 pi) - (y - mu_m)^2 / 2, by hand:
    a = -0.5 * math.log(2 * math.pi) - np.array([100.0**2, 99.0**2]) / 2
    expected = -(a.max() + math.log(np.exp(a - a.max()).sum() / 2))
    result = mixture_nll(y, means, variances)
    assert np.isfinite(result)
    assert result == pytest.approx(expected, rel=1e-12)


def test_mixture_nll_zero_variance_stays_finite():
    assert np.isfinite(mixture_nll([1.0], [[0.0]], [[0.0]]))


@pytest.mark.parametrize(
    "means, variances, match",
    [
        (np.zeros(3), np.ones(3), "2-D"),
        (np.zeros((2, 3)), np.ones((2, 4)), "same shape"),
        (np.zeros((2, 3)), -np.ones((2, 3)), "non-negative"),
        (np.full((2, 3), np.nan), np.ones((2, 3)), "means contains NaN"),
        (np.zeros((2, 3)), np.full((2, 3), np.inf), "variances contains infinity"),
    ],
)
def test_regression_rejects_bad_input(means, variances, match):
    with pytest.raises(ValueError, match=match):
        regression_uncertainty(means, variances)
    with pytest.raises(ValueError, match=match):
        mixture_mean_std(means, variances)


def test_mixture_nll_rejects_wrong_y():
    with pytest.raises(ValueError, match="one value per sample"):
        mixture_nll(np.zeros(4), np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="y contains NaN"):
        mixture_nll([np.nan, 0, 0], np.zeros((2, 3)), np.ones((2, 3)))


# --------------------------------------------------------------------------
# Dirichlet
# --------------------------------------------------------------------------


def test_dirichlet_matches_closed_form_reference():
    alpha = np.random.default_rng(8).gamma(1.0, 3.0, size=(20, 4)) + 0.05
    u = dirichlet_uncertainty(alpha)
    for i, a in enumerate(alpha):
        a0 = a.sum()
        expected_entropy = special.digamma(a0 + 1) - np.dot(
            a / a0, special.digamma(a + 1)
        )
        assert u.aleatoric[i] == pytest.approx(expected_entropy, abs=1e-10)
        assert u.total[i] == pytest.approx(stats.entropy(a / a0), abs=1e-10)
    np.testing.assert_allclose(u.epistemic, u.total - u.aleatoric, atol=1e-12)
    assert (u.epistemic > 0).all()


@pytest.mark.parametrize("alpha", [[2.0, 3.0, 5.0], [0.5, 0.5], [20.0, 1.0, 1.0, 1.0]])
def test_dirichlet_expected_entropy_matches_monte_carlo(alpha):
    rng = np.random.default_rng(9)
    draws = rng.dirichlet(alpha, size=40_000)
    entropies = stats.entropy(draws, axis=1)
    assert np.isfinite(entropies).all()
    stderr = entropies.std(ddof=1) / np.sqrt(len(entropies))
    u = dirichlet_uncertainty([alpha])
    assert abs(u.aleatoric[0] - entropies.mean()) < 5 * stderr


def test_dirichlet_sharp_concentrations_have_little_epistemic():
    mean = np.array([0.7, 0.2, 0.1])
    eps = [
        dirichlet_uncertainty([mean * s]).epistemic[0] for s in (1.0, 10.0, 1e3, 1e6)
    ]
    assert all(a > b for a, b in zip(eps, eps[1:]))
    assert eps[-1] < 1e-5
    # In the limit the expected entropy is the entropy of the mean.
    u = dirichlet_uncertainty([mean * 1e6])
    assert u.total[0] == pytest.approx(stats.entropy(mean), abs=1e-12)


@pytest.mark.parametrize(
    "alpha, match",
    [
        ([1.0, 2.0], "2-D"),
        ([[1.0, 0.0]], "positive"),
        ([[1.0, -2.0]], "positive"),
        ([[1.0, np.nan]], "NaN"),
    ],
)
def test_dirichlet_rejects_bad_input(alpha, match):
    with pytest.raises(ValueError, match=match):
        dirichlet_uncertainty(alpha)


def test_dirichlet_alpha_keyword_is_deprecated():
    concentration = [[2.0, 3.0, 5.0]]
    with pytest.warns(FutureWarning, match="renamed concentration"):
        old = dirichlet_uncertainty(alpha=concentration)
    new = dirichlet_uncertainty(concentration=concentration)
    np.testing.assert_array_equal(old.epistemic, new.epistemic)
    with pytest.raises(TypeError, match="concentration only"):
        dirichlet_uncertainty(concentration, alpha=concentration)
