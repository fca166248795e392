"""Metrics and scorers against independent float64 references."""

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy import integrate, stats
from sklearn.base import clone
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import BayesianRidge, LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from threadpoolctl import threadpool_limits

from skdistill import metrics, uncertainty
from skdistill.metrics import (
    brier_score,
    brier_scorer,
    classwise_expected_calibration_error,
    disagreement,
    ece_scorer,
    ensemble_kl,
    expected_calibration_error,
    gaussian_crps,
    gaussian_nll,
    gaussian_nll_scorer,
    interval_coverage,
    mixture_nll,
    mutual_information,
    negative_log_likelihood,
    nll_scorer,
    ood_auroc,
    uncertainty_rank_agreement,
    uncertainty_tv,
)

EPS = np.finfo(np.float64).eps
CLASSIFICATION_METRICS = [
    negative_log_likelihood,
    brier_score,
    expected_calibration_error,
    classwise_expected_calibration_error,
]


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Tiny fits: extra BLAS threads only fight over the shared cores."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture
def multiclass():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet([0.7, 0.7, 0.7, 0.7], size=200)
    y = np.array([rng.choice(4, p=p) for p in proba])  # roughly calibrated
    return y, proba


@pytest.fixture
def binary():
    rng = np.random.default_rng(1)
    p1 = rng.uniform(size=150)
    y = (rng.uniform(size=150) < p1**1.5).astype(int)  # miscalibrated on purpose
    return y, p1


# --------------------------------------------------------------------------
# references written differently from the implementation (explicit loops)
# --------------------------------------------------------------------------


def _ref_bins(values, n_bins, strategy):
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    return np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1))


def _ref_binned_gap(values, hits, n_bins, strategy):
    edges = _ref_bins(values, n_bins, strategy)
    n, total = len(values), 0.0
    for b in range(n_bins):
        lo, hi = edges[b], edges[b + 1]
        members = [
            i
            for i in range(n)
            if (lo < values[i] <= hi) or (b == 0 and values[i] <= lo)
        ]
        if members:
            acc = sum(hits[i] for i in members) / len(members)
            conf = sum(values[i] for i in members) / len(members)
            total += len(members) / n * abs(acc - conf)
    return total


def _ref_ece(y, proba, n_bins=15, strategy="uniform"):
    conf = [max(row) for row in proba]
    hits = [float(list(row).index(max(row)) == label) for row, label in zip(proba, y)]
    return _ref_binned_gap(conf, hits, n_bins, strategy)


def _ref_classwise_ece(y, proba, n_bins=15, strategy="uniform"):
    k = proba.shape[1]
    gaps = [
        _ref_binned_gap(list(proba[:, c]), [float(t == c) for t in y], n_bins, strategy)
        for c in range(k)
    ]
    return sum(gaps) / k


def _ref_brier(y, proba):
    return sum(
        sum((p - (c == label)) ** 2 for c, p in enumerate(row))
        for row, label in zip(proba, y)
    ) / len(y)


# --------------------------------------------------------------------------
# classification metrics
# --------------------------------------------------------------------------


def test_nll_matches_sklearn(multiclass):
    y, proba = multiclass
    expected = log_loss(y, proba)
    assert negative_log_likelihood(y, proba) == pytest.approx(expected, abs=1e-10)


def test_nll_clips_instead_of_inf():
    y, proba = [0, 1], [[0.0, 1.0], [0.0, 1.0]]  # first one is a confident mistake
    value = negative_log_likelihood(y, proba)
    assert value == pytest.approx(-math.log(EPS) / 2, abs=1e-10)
    assert value == pytest.approx(log_loss(y, proba), abs=1e-10)


def test_brier_matches_loop_and_sklearn(multiclass):
    y, proba = multiclass
    value = brier_score(y, proba)
    assert value == pytest.approx(_ref_brier(y, proba), abs=1e-10)
    assert value == pytest.approx(
        brier_score_loss(y, proba, labels=[0, 1, 2, 3], scale_by_half=False), abs=1e-10
    )


def test_binary_brier_is_twice_sklearns_default(binary):
    y, p1 = binary
    assert brier_score(y, p1) == pytest.approx(2 * brier_score_loss(y, p1), abs=1e-10)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [1, 5, 15])
def test_ece_matches_loop(multiclass, strategy, n_bins):
    y, proba = multiclass
    value = expected_calibration_error(y, proba, n_bins=n_bins, strategy=strategy)
    assert value == pytest.approx(_ref_ece(y, proba, n_bins, strategy), abs=1e-10)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_classwise_ece_matches_loop(multiclass, strategy):
    y, proba = multiclass
    value = classwise_expected_calibration_error(y, proba, n_bins=10, strategy=strategy)
    assert value == pytest.approx(_ref_classwise_ece(y, proba, 10, strategy), abs=1e-10)


def test_ece_single_bin_is_accuracy_minus_confidence(multiclass):
    y, proba = multiclass
    gap = abs(np.mean(proba.argmax(1) == y) - np.mean(proba.max(1)))
    assert expected_calibration_error(y, proba, n_bins=1) == pytest.approx(
        gap, abs=1e-12
    )


def test_ece_bins_are_closed_on_the_right():
    # With 4 bins the edges 0.25, 0.5, 0.75 are exact floats. Confidences 0.5,
    # 0.5, 0.75, 0.9; predictions right, wrong, wrong, right.
    proba = np.array([[0.5, 0.5], [0.5, 0.5], [0.75, 0.25], [0.9, 0.1]])
    y = np.array([0, 1, 1, 0])
    # (lo, hi] bins: {0.5, 0.5} acc 1/2 conf 1/2; {0.75} acc 0; {0.9} acc 1.
    expected = 2 / 4 * 0.0 + 1 / 4 * 0.75 + 1 / 4 * 0.1
    # [lo, hi) bins would put 0.75 with 0.9 instead: 2/4 * |1/2 - 0.825| = 0.1625.
    value = expected_calibration_error(y, proba, n_bins=4)
    assert value == pytest.approx(expected, abs=1e-12)
    classwise = classwise_expected_calibration_error(y, proba, n_bins=4)
    # class 0: p0 = .5, .5 (y = 0 half the time), .75 (no), .9 (yes): as above.
    # class 1: p1 = .5, .5 (half), then .25 (yes) and .1 (no) share (0, .25]:
    # 2/4 * |1/2 - .175| = .1625.
    assert classwise == pytest.approx((expected + 0.1625) / 2, abs=1e-12)


def test_perfect_predictions():
    y = np.array([2, 0, 1, 1])
    proba = np.eye(3)[y]
    assert negative_log_likelihood(y, proba) == 0.0
    assert brier_score(y, proba) == 0.0
    assert expected_calibration_error(y, proba) == 0.0
    assert classwise_expected_calibration_error(y, proba) == 0.0


def test_uniform_predictions():
    y = np.array([0, 1, 2, 3, 0, 1])
    proba = np.full((6, 4), 0.25)
    assert negative_log_likelihood(y, proba) == pytest.approx(math.log(4), abs=1e-12)
    assert brier_score(y, proba) == pytest.approx(0.75**2 + 3 * 0.25**2, abs=1e-12)
    # every sample predicts class 0 at confidence 1/4; 2 of 6 are right
    assert expected_calibration_error(y, proba) == pytest.approx(
        abs(2 / 6 - 0.25), abs=1e-12
    )


def test_one_hot_wrong_predictions_are_finite():
    y = np.array([0, 1])
    proba = np.eye(2)[[1, 0]]
    assert negative_log_likelihood(y, proba) == pytest.approx(-math.log(EPS), abs=1e-9)
    assert brier_score(y, proba) == 2.0
    assert expected_calibration_error(y, proba) == 1.0


@pytest.mark.parametrize("metric", CLASSIFICATION_METRICS)
def test_binary_one_column_equals_two_columns(binary, metric):
    y, p1 = binary
    two = np.c_[1 - p1, p1]
    expected = metric(y, two)
    assert metric(y, p1) == pytest.approx(expected, abs=1e-12)
    assert metric(y, p1[:, None]) == pytest.approx(expected, abs=1e-12)


def test_binary_matches_sklearn(binary):
    y, p1 = binary
    assert negative_log_likelihood(y, p1) == pytest.approx(log_loss(y, p1), abs=1e-10)


@pytest.mark.parametrize("metric", CLASSIFICATION_METRICS)
def test_string_and_arbitrary_int_labels(multiclass, metric):
    y, proba = multiclass
    expected = metric(y, proba)
    names = np.array(["ant", "bee", "cat", "dog"])
    assert metric(names[y], proba) == pytest.approx(expected, abs=1e-12)
    assert metric(list(names[y]), proba) == pytest.approx(expected, abs=1e-12)
    codes = np.array([-7, 3, 10, 42])
    assert metric(codes[y], proba) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("metric", CLASSIFICATION_METRICS)
def test_labels_give_the_column_order(multiclass, metric):
    y, proba = multiclass
    expected = metric(y, proba)
    order = np.array([2, 0, 3, 1])  # column j now holds class order[j]
    assert metric(y, proba[:, order], labels=order) == pytest.approx(
        expected, abs=1e-12
    )
    names = np.array(["d", "c", "b", "a"])  # class j is called names[j]
    assert metric(names[y], proba, labels=names) == pytest.approx(expected, abs=1e-12)


def test_labels_cover_classes_missing_from_y_true():
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    y = np.array(["a", "c"])
    with pytest.raises(ValueError, match="3 columns but there are 2 labels"):
        negative_log_likelihood(y, proba)
    value = negative_log_likelihood(y, proba, labels=["a", "b", "c"])
    assert value == pytest.approx(-(math.log(0.7) + math.log(0.8)) / 2, abs=1e-12)
    assert value == pytest.approx(log_loss(y, proba, labels=["a", "b", "c"]), abs=1e-12)


def test_binary_string_labels_one_column():
    y = np.array(["no", "yes", "yes"])
    p_yes = np.array([0.2, 0.9, 0.6])
    expected = -(math.log(0.8) + math.log(0.9) + math.log(0.6)) / 3
    assert negative_log_likelihood(y, p_yes) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("metric", CLASSIFICATION_METRICS)
def test_classification_errors(metric):
    y, proba = np.array([0, 1, 2]), np.full((3, 3), 1 / 3)
    with pytest.raises(ValueError, match="y_proba contains NaN"):
        metric(y, np.where(np.eye(3) > 0, np.nan, proba))
    with pytest.raises(ValueError, match="y_true contains NaN"):
        metric(np.array([0.0, 1.0, np.nan]), proba)
    pd = pytest.importorskip("pandas")
    for missing in (None, np.nan, pd.NA):  # object labels: a clear error, too
        with pytest.raises(ValueError, match="y_true contains missing values"):
            metric(np.array(["a", missing, "b"], dtype=object), proba)
    with pytest.raises(ValueError, match="y_true contains missing values"):
        metric(pd.array(["a", pd.NA, "b"], dtype="string"), proba)
    with pytest.raises(ValueError, match="different numbers of samples"):
        metric(y[:2], proba)
    with pytest.raises(ValueError, match="2 columns but there are 3 labels"):
        metric(y, np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="one column means a binary problem"):
        metric(y, np.full(3, 0.5))
    with pytest.raises(ValueError, match="sum to 1"):
        metric(y, np.full((3, 3), 0.5))
    with pytest.raises(ValueError, match="not in labels"):
        metric(y, proba, labels=[0, 1, 5])
    with pytest.raises(ValueError, match="duplicates"):
        metric(y, proba, labels=[0, 1, 1])
    with pytest.raises(ValueError, match="1-D"):
        metric(np.zeros((3, 2)), proba)


def test_ece_option_errors(multiclass):
    y, proba = multiclass
    with pytest.raises(ValueError, match="strategy"):
        expected_calibration_error(y, proba, strategy="equal")
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(y, proba, n_bins=0)
    with pytest.raises(TypeError, match="n_bins"):
        expected_calibration_error(y, proba, n_bins=2.5)
    with pytest.raises(TypeError):
        expected_calibration_error(y, proba, 10)  # keyword-only


# --------------------------------------------------------------------------
# ensembles
# --------------------------------------------------------------------------


@pytest.fixture
def members():
    rng = np.random.default_rng(2)
    return rng.dirichlet([0.4, 0.4, 0.4], size=(5, 60))


def test_mutual_information_matches_scipy(members):
    mi = [
        stats.entropy(members[:, i].mean(axis=0))
        - np.mean([stats.entropy(p) for p in members[:, i]])
        for i in range(members.shape[1])
    ]
    assert mutual_information(members) == pytest.approx(np.mean(mi), abs=1e-10)
    epistemic = uncertainty.classification_uncertainty(members).epistemic
    assert mutual_information(members) == pytest.approx(epistemic.mean(), abs=1e-14)


def test_disagreement_matches_pair_loop(members):
    votes = members.argmax(axis=2)
    per_sample = []
    for i in range(members.shape[1]):
        pairs = list(itertools.combinations(range(members.shape[0]), 2))
        per_sample.append(
            sum(votes[a, i] != votes[b, i] for a, b in pairs) / len(pairs)
        )
    assert disagreement(members) == pytest.approx(np.mean(per_sample), abs=1e-12)
    assert 0 < disagreement(members) < 1


def test_disagreement_edge_cases():
    agree = np.tile([[[0.6, 0.4]]], (4, 3, 1))
    assert disagreement(agree) == 0.0
    assert disagreement(agree[:1]) == 0.0  # one member: no pairs
    # two members that always disagree
    split = np.stack([np.eye(2)[[0, 1]], np.eye(2)[[1, 0]]])
    assert disagreement(split) == 1.0


def test_ensemble_kl_matches_scipy(members):
    rng = np.random.default_rng(3)
    student = rng.dirichlet([1.0, 1.0, 1.0], size=(2, 60))
    t_mean, s_mean = members.mean(axis=0), student.mean(axis=0)
    expected = np.mean([stats.entropy(t, s) for t, s in zip(t_mean, s_mean)])
    assert ensemble_kl(members, student) == pytest.approx(expected, abs=1e-10)
    assert ensemble_kl(t_mean, s_mean) == pytest.approx(expected, abs=1e-10)
    assert ensemble_kl(members, s_mean) == pytest.approx(expected, abs=1e-10)
    assert ensemble_kl(members, members) == pytest.approx(0.0, abs=1e-14)


def test_ensemble_kl_zero_teacher_and_student_probabilities():
    teacher = np.array([[1.0, 0.0], [0.5, 0.5]])
    student = np.array([[0.5, 0.5], [1.0, 0.0]])
    value = ensemble_kl(teacher, student)
    expected = (math.log(2) + 0.5 * math.log(0.5) + 0.5 * math.log(0.5 / EPS)) / 2
    assert np.isfinite(value)
    assert value == pytest.approx(expected, abs=1e-10)


def test_ensemble_errors(members):
    with pytest.raises(ValueError, match="3-D"):
        mutual_information(members[0])
    # No samples: an error, as for every other metric (not NaN, not "agree").
    for metric in (mutual_information, disagreement):
        with pytest.raises(ValueError, match="at least one sample"):
            metric(members[:, :0])
    with pytest.raises(ValueError, match="3-D"):
        disagreement(members[0])
    with pytest.raises(ValueError, match="same numbers of samples"):
        ensemble_kl(members, members[:, :10])
    with pytest.raises(ValueError, match="teacher_member_proba contains NaN"):
        ensemble_kl(np.full_like(members, np.nan), members)


# --------------------------------------------------------------------------
# student versus teacher, OOD
# --------------------------------------------------------------------------


def _ref_tv(a, b, bins):
    lo, hi = min(min(a), min(b)), max(max(a), max(b))
    edges = [lo + (hi - lo) * k / bins for k in range(bins + 1)]

    def frequencies(values):
        counts = [0] * bins
        for v in values:
            k = bins - 1 if v == hi else int(sum(v >= e for e in edges[1:-1]))
            counts[k] += 1
        return [c / len(values) for c in counts]

    return 0.5 * sum(abs(p - q) for p, q in zip(frequencies(a), frequencies(b)))


def test_uncertainty_tv_matches_loop():
    rng = np.random.default_rng(4)
    a, b = rng.gamma(2.0, size=300), rng.gamma(2.5, size=200) + 0.3
    for bins in (5, 20):
        assert uncertainty_tv(a, b, bins=bins) == pytest.approx(
            _ref_tv(list(a), list(b), bins), abs=1e-10
        )


def test_uncertainty_tv_uses_shared_bins():
    # Same shape, disjoint ranges: per-sample histograms would look identical.
    assert uncertainty_tv([0.0, 1.0, 2.0], [10.0, 11.0, 12.0]) == pytest.approx(1.0)
    same = np.random.default_rng(5).normal(size=50)
    assert uncertainty_tv(same, same[::-1]) == 0.0
    assert uncertainty_tv([1.0, 1.0], [1.0]) == 0.0  # zero range
    a, b = [0.0, 0.2, 0.5], [0.1, 0.9]
    assert uncertainty_tv(a, b, bins=4) == uncertainty_tv(b, a, bins=4)


def test_uncertainty_rank_agreement_matches_scipy():
    rng = np.random.default_rng(6)
    a = rng.normal(size=80)
    b = a + rng.normal(size=80)
    b[:10] = b[10]  # ties
    expected = stats.spearmanr(a, b).statistic
    assert uncertainty_rank_agreement(a, b) == pytest.approx(expected, abs=1e-10)
    assert uncertainty_rank_agreement(a, np.exp(a)) == pytest.approx(1.0, abs=1e-14)
    assert uncertainty_rank_agreement(a, -a) == pytest.approx(-1.0, abs=1e-14)


def test_uncertainty_rank_agreement_constant_is_nan():
    with pytest.warns(UndefinedMetricWarning, match="constant"):
        assert math.isnan(uncertainty_rank_agreement([0.1, 0.2, 0.3], [0.0, 0.0, 0.0]))


def test_ood_auroc_matches_pair_count_and_sklearn():
    rng = np.random.default_rng(7)
    s_in = np.round(rng.normal(size=40), 1)  # rounding makes ties
    s_out = np.round(rng.normal(0.8, size=30), 1)
    pairs = [(1.0 if o > i else 0.5 if o == i else 0.0) for i in s_in for o in s_out]
    expected = sum(pairs) / len(pairs)
    assert ood_auroc(s_in, s_out) == pytest.approx(expected, abs=1e-10)
    labels = np.r_[np.zeros(40), np.ones(30)]
    assert ood_auroc(s_in, s_out) == pytest.approx(
        roc_auc_score(labels, np.r_[s_in, s_out]), abs=1e-12
    )
    assert ood_auroc([0.1, 0.2], [0.5, 0.9]) == 1.0
    assert ood_auroc([0.5, 0.9], [0.1, 0.2]) == 0.0


def test_fidelity_errors():
    with pytest.raises(ValueError, match="same length"):
        uncertainty_rank_agreement([0.1, 0.2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="u_student contains NaN"):
        uncertainty_tv([0.1], [np.nan])
    with pytest.raises(ValueError, match="scores_out is empty"):
        ood_auroc([0.1], [])
    with pytest.raises(ValueError, match="scores_in must be 1-D"):
        ood_auroc([[0.1]], [0.2])


# --------------------------------------------------------------------------
# regression
# --------------------------------------------------------------------------


@pytest.fixture
def gaussians():
    rng = np.random.default_rng(8)
    mean, std = rng.normal(size=50), rng.gamma(2.0, 0.5, size=50)
    y = mean + std * rng.standard_t(4, size=50)
    return y, mean, std


def test_gaussian_nll_matches_scipy(gaussians):
    y, mean, std = gaussians
    expected = -np.mean(stats.norm.logpdf(y, mean, std))
    assert gaussian_nll(y, mean, std**2) == pytest.approx(expected, abs=1e-10)
    # a column vector is a 1-D target too
    assert gaussian_nll(y[:, None], mean, std**2) == pytest.approx(expected, abs=1e-10)


def test_mixture_nll_is_shared_and_reduces_to_gaussian(gaussians):
    assert metrics.mixture_nll is uncertainty.mixture_nll
    y, mean, std = gaussians
    stacked = mixture_nll(y, np.stack([mean, mean]), np.stack([std**2, std**2]))
    assert stacked == pytest.approx(gaussian_nll(y, mean, std**2), abs=1e-10)


@pytest.mark.parametrize("level", [0.5, 0.9, 0.95])
def test_interval_coverage_matches_loop(gaussians, level):
    y, mean, std = gaussians
    inside = 0
    for yi, mi, si in zip(y, mean, std):
        lo, hi = stats.norm.interval(level, loc=mi, scale=si)
        inside += lo <= yi <= hi
    value = interval_coverage(y, mean, std, level=level)
    assert value == pytest.approx(inside / len(y), abs=1e-12)


def test_interval_coverage_of_a_calibrated_model():
    rng = np.random.default_rng(9)
    y = rng.normal(size=20_000)
    value = interval_coverage(y, np.zeros_like(y), np.ones_like(y), level=0.8)
    assert value == pytest.approx(0.8, abs=0.015)


def test_gaussian_crps_matches_integral(gaussians):
    y, mean, std = gaussians
    per_sample = []
    for yi, mi, si in zip(y[:15], mean[:15], std[:15]):
        # CRPS = int (F(x) - 1[x >= y])^2 dx, split at y where the step is
        left = integrate.quad(
            lambda x, m=mi, s=si: stats.norm.cdf(x, m, s) ** 2,
            -np.inf,
            yi,
            epsabs=1e-13,
            epsrel=1e-13,
        )[0]
        right = integrate.quad(
            lambda x, m=mi, s=si: stats.norm.sf(x, m, s) ** 2,
            yi,
            np.inf,
            epsabs=1e-13,
            epsrel=1e-13,
        )[0]
        per_sample.append(left + right)
    value = gaussian_crps(y[:15], mean[:15], std[:15])
    assert value == pytest.approx(np.mean(per_sample), abs=1e-10)


def test_gaussian_crps_point_forecast_is_absolute_error():
    assert gaussian_crps([1.0, -2.0], [0.5, 0.0], [0.0, 0.0]) == pytest.approx(1.25)
    # and the limit is continuous
    near = gaussian_crps([1.0], [0.5], [1e-9])
    assert near == pytest.approx(0.5, abs=1e-8)


@pytest.mark.parametrize("fn", [gaussian_nll, interval_coverage, gaussian_crps])
def test_regression_errors(fn):
    with pytest.raises(ValueError, match="different lengths"):
        fn([0.0, 1.0], [0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="y contains NaN"):
        fn([np.nan], [0.0], [1.0])
    with pytest.raises(ValueError, match="mean contains infinity"):
        fn([0.0], [np.inf], [1.0])
    with pytest.raises(ValueError, match="non-negative"):
        fn([0.0], [0.0], [-1.0])


def test_interval_coverage_level_error():
    with pytest.raises(ValueError, match="level"):
        interval_coverage([0.0], [0.0], [1.0], level=1.0)


# --------------------------------------------------------------------------
# scorers
# --------------------------------------------------------------------------


@pytest.fixture
def string_data():
    rng = np.random.default_rng(10)
    X = rng.normal(size=(90, 3))
    logits = X @ np.array([[2.0, -1.0, 0.0], [0.0, 1.5, -1.0], [1.0, 0.0, 0.5]])
    y = np.array(["bird", "cat", "dog"])[logits.argmax(axis=1)]
    return X, y


@pytest.mark.parametrize(
    "scorer, metric",
    [
        (ece_scorer, expected_calibration_error),
        (nll_scorer, negative_log_likelihood),
        (brier_scorer, brier_score),
    ],
)
def test_scorers_in_grid_search_with_string_labels(string_data, scorer, metric):
    X, y = string_data
    cv = StratifiedKFold(3)
    search = GridSearchCV(
        LogisticRegression(), {"C": [0.1, 10.0]}, scoring=scorer, cv=cv
    )
    search.fit(X, y)
    assert search.best_params_["C"] in (0.1, 10.0)
    for k, C in enumerate([0.1, 10.0]):
        for fold, (train, test) in enumerate(cv.split(X, y)):
            clf = LogisticRegression(C=C).fit(X[train], y[train])
            expected = -metric(y[test], clf.predict_proba(X[test]), labels=clf.classes_)
            got = search.cv_results_[f"split{fold}_test_score"][k]
            assert got == pytest.approx(expected, abs=1e-10)
            assert got <= 0


@pytest.mark.parametrize("scorer", [ece_scorer, nll_scorer, brier_scorer])
def test_scorers_binary_string_labels(scorer):
    rng = np.random.default_rng(11)
    X = rng.normal(size=(60, 2))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=60) > 0, "yes", "no")
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, scoring=scorer, cv=3)
    search.fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_scorers_survive_test_folds_missing_classes(string_data):
    # Hand-made splits: the first test fold has no "dog", the second only "cat";
    # every training fold has all three classes.
    X, y = string_data
    rows = np.arange(len(y))
    tests = [rows[y != "dog"][:20], rows[y == "cat"][:15]]
    splits = [(np.setdiff1d(rows, test), test) for test in tests]
    for scorer, metric in [
        (nll_scorer, negative_log_likelihood),
        (ece_scorer, expected_calibration_error),
    ]:
        search = GridSearchCV(
            LogisticRegression(),
            {"C": [1.0]},
            scoring=scorer,
            cv=splits,
            error_score="raise",
        )
        search.fit(X, y)
        for fold, (train, test) in enumerate(splits):
            clf = LogisticRegression().fit(X[train], y[train])
            assert len(clf.classes_) == 3 and len(np.unique(y[test])) < 3
            expected = -metric(y[test], clf.predict_proba(X[test]), labels=clf.classes_)
            got = search.cv_results_[f"split{fold}_test_score"][0]
            assert got == pytest.approx(expected, abs=1e-10)


def test_gaussian_nll_scorer_with_bayesian_ridge():
    rng = np.random.default_rng(12)
    X = rng.uniform(-1, 1, size=(60, 2))
    y = X @ np.array([1.5, -2.0]) + rng.normal(0, 0.3, size=60)
    grid = {"alpha_1": [1e-6, 1e2]}
    cv = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(BayesianRidge(), grid, scoring=gaussian_nll_scorer, cv=cv)
    search.fit(X, y)
    for k, alpha_1 in enumerate(grid["alpha_1"]):
        for fold, (train, test) in enumerate(cv.split(X)):
            model = clone(BayesianRidge(alpha_1=alpha_1)).fit(X[train], y[train])
            mean, std = model.predict(X[test], return_std=True)
            expected = np.mean(stats.norm.logpdf(y[test], mean, std))  # higher = better
            got = search.cv_results_[f"split{fold}_test_score"][k]
            assert got == pytest.approx(expected, abs=1e-10)


def test_scorer_reprs():
    assert "expected_calibration_error" in repr(ece_scorer)
    assert "greater_is_better=False" in repr(nll_scorer)
    assert "gaussian_nll" in repr(gaussian_nll_scorer)


def test_public_names_are_exported():
    for name in metrics.__all__:
        assert hasattr(metrics, name), name
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert callable(metrics.ece_scorer)


# ------------------------------------------------------------- epistemic_ratio
def test_epistemic_ratio_is_the_ratio_of_means_and_sees_scale():
    rng = np.random.default_rng(0)
    u = rng.uniform(0.01, 1.0, size=200)
    # A student ten times smaller everywhere ranks perfectly but keeps a tenth.
    assert metrics.uncertainty_rank_agreement(u, u / 10) == pytest.approx(1.0)
    assert metrics.epistemic_ratio(u, u / 10) == pytest.approx(0.1)
    assert metrics.epistemic_ratio(u, 3 * u) == pytest.approx(3.0)
    assert metrics.epistemic_ratio(u, np.zeros_like(u)) == 0.0
    v = rng.uniform(0, 1, size=200)
    assert metrics.epistemic_ratio(u, v) == pytest.approx(v.sum() / u.sum())


@pytest.mark.parametrize(
    "u_t, u_s, match",
    [
        ([0.0, 0.0], [0.1, 0.2], "undefined"),
        ([0.1, 0.2], [0.1], "same length"),
        ([0.1, -0.2], [0.1, 0.2], "non-negative"),
        ([0.1, np.nan], [0.1, 0.2], "NaN"),
    ],
)
def test_epistemic_ratio_rejects_bad_input(u_t, u_s, match):
    with pytest.raises(ValueError, match=match):
        metrics.epistemic_ratio(u_t, u_s)
