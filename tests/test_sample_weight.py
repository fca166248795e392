"""sample_weight and class_weight: what a weight means, in the losses and the fits."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score

from skdistill import (
    EnDDDistiller,
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    KDDistiller,
)
from skdistill.nn import losses as L

NET = dict(
    hidden_layer_sizes=(16,),
    lr=1e-2,
    device="cpu",
    random_state=0,
    early_stopping=False,  # every row trains: the equivalences are exact
    validation_fraction=0.0,
)
STUDENT = dict(
    core_layer_sizes=(16,),
    head_layer_sizes=(8,),
    max_epochs=15,
    lr=1e-2,
    device="cpu",
    random_state=0,
)


@pytest.fixture(scope="module")
def clf():
    X, y = make_classification(
        120, 6, n_informative=4, n_classes=3, random_state=0, class_sep=0.8
    )
    w = np.random.RandomState(1).randint(0, 4, len(y)).astype(float)
    return X, y, w


@pytest.fixture(scope="module")
def reg():
    X, y = make_regression(100, 4, noise=5.0, random_state=0)
    w = np.random.RandomState(2).randint(0, 4, len(y)).astype(float)
    return X, y, w


# ----------------------------------------------------------------- losses
def test_weighted_member_loss_is_the_weighted_mean():
    torch.manual_seed(0)
    logits = torch.randn(7, 3, 4)
    y = torch.randint(0, 4, (7,))
    w = torch.rand(7) + 0.1
    ce = torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), y.unsqueeze(1).expand(7, 3), reduction="none"
    )
    expected = ((ce * w[:, None]).sum(0) / w.sum()).mean()
    assert torch.allclose(L.member_cross_entropy(logits, y, w), expected)


@pytest.mark.parametrize(
    "loss",
    [
        lambda s, t, y, w: L.hydra_aggregation(s, t, 2.0, w),
        lambda s, t, y, w: L.hydra_individuality(s, t, 3.0, w),
        lambda s, t, y, w: L.hydra_correctness(s, y, None, w),
        lambda s, t, y, w: L.kd_loss(s[:, 0], t, y, 4.0, 0.5, sample_weight=w),
        lambda s, t, y, w: L.wsl_loss(s[:, 0], t, y, sample_weight=w),
        lambda s, t, y, w: L.endd_loss(s[:, 0], t, 2.0, sample_weight=w),
        lambda s, t, y, w: L.mutual_learning_loss(s, y, 0.5, w),
    ],
    ids=["aggregation", "individuality", "correctness", "kd", "wsl", "endd", "dml"],
)
def test_a_zero_weight_is_a_missing_row_and_integers_are_repeats(loss):
    torch.manual_seed(0)
    s = torch.randn(6, 2, 3)
    t = torch.log_softmax(torch.randn(6, 4, 3), dim=-1)
    y = torch.randint(0, 3, (6,))
    w = torch.tensor([0.0, 1.0, 2.0, 0.0, 3.0, 1.0])
    weighted = loss(s, t, y, w)
    rows = torch.repeat_interleave(torch.arange(6), w.long())
    repeated = loss(s[rows], t[rows], y[rows], None)
    assert torch.allclose(weighted, repeated, atol=1e-6)


def test_weights_combine_with_the_labelled_mask():
    torch.manual_seed(0)
    s = torch.randn(5, 2, 3)
    y = torch.tensor([0, 1, -1, 2, -1])
    labelled = y >= 0
    w = torch.tensor([1.0, 3.0, 5.0, 2.0, 7.0])
    got = L.hydra_correctness(s, y, labelled, w)
    keep = labelled.nonzero().squeeze(1)
    expected = L.hydra_correctness(s[keep], y[keep], None, w[keep])
    assert torch.allclose(got, expected, atol=1e-6)


# --------------------------------------------------------------- ensembles
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_ensemble_integer_weights_equal_repeated_rows_in_one_batch(task, clf, reg):
    # One batch per epoch: the weighted mean is the repeated rows' mean, so the
    # two fits agree up to float32 summation order.
    X, y, w = clf if task == "classification" else reg
    cls = EnsembleClassifier if task == "classification" else EnsembleRegressor
    opts = dict(n_members=2, max_epochs=20, batch_size=1000, **NET)
    weighted = cls(**opts).fit(X, y, sample_weight=w)
    rows = np.repeat(np.arange(len(y)), w.astype(int))
    repeated = cls(**opts).fit(X[rows], y[rows])
    method = "predict_proba" if task == "classification" else "predict"
    a, b = getattr(weighted, method)(X), getattr(repeated, method)(X)
    assert np.allclose(a, b, rtol=1e-4, atol=1e-5)
    if task == "regression":
        assert weighted.y_mean_ == pytest.approx(np.average(y, weights=w))


def test_ensemble_minibatch_weights_match_repeats_in_expectation(clf):
    X, y, w = clf
    opts = dict(n_members=3, max_epochs=40, batch_size=16, **NET)
    weighted = EnsembleClassifier(**opts).fit(X, y, sample_weight=w)
    rows = np.repeat(np.arange(len(y)), w.astype(int))
    repeated = EnsembleClassifier(**opts).fit(X[rows], y[rows])
    unweighted = EnsembleClassifier(**opts).fit(X, y)
    gap = np.abs(weighted.predict_proba(X) - repeated.predict_proba(X)).mean()
    gap_none = np.abs(unweighted.predict_proba(X) - repeated.predict_proba(X)).mean()
    # Closer to the repeated fit than the unweighted fit is.
    assert gap < gap_none


def test_uniform_weights_are_the_unweighted_fit_and_scale_is_irrelevant(clf):
    X, y, w = clf
    opts = dict(n_members=2, max_epochs=5, **NET)
    base = EnsembleClassifier(**opts).fit(X, y).predict_proba(X)
    ones = EnsembleClassifier(**opts).fit(X, y, sample_weight=np.full(len(y), 3.0))
    assert np.array_equal(base, ones.predict_proba(X))
    w1 = EnsembleClassifier(**opts).fit(X, y, sample_weight=w + 1).predict_proba(X)
    w10 = EnsembleClassifier(**opts).fit(X, y, sample_weight=10 * (w + 1))
    assert np.allclose(w1, w10.predict_proba(X), atol=1e-6)
    assert not np.allclose(base, w1, atol=1e-3)  # the weights did something


@pytest.mark.parametrize(
    "make",
    [
        lambda: EnsembleClassifier(n_members=2, max_epochs=5, **NET),
        lambda: HydraDistiller(
            teacher=LogisticRegression(), n_heads=2, n_extra=1, **STUDENT
        ),
        lambda: KDDistiller(teacher="virtual", **STUDENT),
    ],
    ids=["ensemble", "hydra", "virtual"],
)
def test_zero_weight_rows_are_dropped_exactly(make, clf):
    X, y, _ = clf
    w = np.ones(len(y))
    w[::4] = 0.0
    weighted = make().fit(X, y, sample_weight=w)
    dropped = make().fit(X[w > 0], y[w > 0])
    assert np.array_equal(weighted.predict_proba(X), dropped.predict_proba(X))


# --------------------------------------------------------------- class_weight
def _imbalanced():
    return make_classification(
        300, 5, n_informative=3, weights=[0.9, 0.1], class_sep=0.5, random_state=3
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda cw: EnsembleClassifier(
            n_members=2, max_epochs=30, class_weight=cw, **NET
        ),
        lambda cw: HydraDistiller(
            teacher=LogisticRegression(), n_heads=2, class_weight=cw, **STUDENT
        ),
        lambda cw: KDDistiller(teacher="virtual", class_weight=cw, **STUDENT),
    ],
    ids=["ensemble", "hydra", "virtual"],
)
def test_balanced_class_weight_raises_minority_recall(make):
    X, y = _imbalanced()
    plain = recall_score(y, make(None).fit(X, y).predict(X))
    balanced = recall_score(y, make("balanced").fit(X, y).predict(X))
    assert balanced > plain + 0.1


def test_class_weight_dict_uses_the_labels_as_given():
    X, y = _imbalanced()
    labels = np.array(["no", "yes"])[y]
    est = EnsembleClassifier(
        n_members=2, max_epochs=30, class_weight={"yes": 50.0}, **NET
    ).fit(X, labels)
    assert (est.predict(X) == "yes").mean() > 0.4
    with pytest.raises(ValueError, match="class"):
        EnsembleClassifier(class_weight={"maybe": 2.0}, **NET).fit(X, labels)


def test_class_weight_is_refused_for_regression(reg):
    X, y, _ = reg
    from sklearn.linear_model import BayesianRidge

    with pytest.raises(ValueError, match="class_weight applies to classification"):
        HydraDistiller(BayesianRidge(), class_weight="balanced", **STUDENT).fit(X, y)


# ---------------------------------------------------------------- teachers
class _RecordsWeights(ClassifierMixin, BaseEstimator):
    seen = []

    def fit(self, X, y, sample_weight=None):
        type(self).seen.append(None if sample_weight is None else sample_weight.copy())
        self.inner_ = LogisticRegression().fit(X, y, sample_weight=sample_weight)
        self.classes_ = self.inner_.classes_
        return self

    def predict_proba(self, X):
        return self.inner_.predict_proba(X)


class _NoWeights(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.inner_ = LogisticRegression().fit(X, y)
        self.classes_ = self.inner_.classes_
        return self

    def predict_proba(self, X):
        return self.inner_.predict_proba(X)


def test_an_unfitted_teacher_gets_the_weights(clf):
    X, y, w = clf
    _RecordsWeights.seen = []
    KDDistiller(_RecordsWeights(), **STUDENT).fit(X, y, sample_weight=w)
    (seen,) = _RecordsWeights.seen
    kept = w[w > 0]
    assert len(seen) == len(kept)
    assert np.allclose(seen, kept * len(kept) / kept.sum())


def test_a_teacher_without_sample_weight_is_fitted_unweighted_with_a_warning(clf):
    X, y, w = clf
    with pytest.warns(UserWarning, match="does not take sample_weight"):
        KDDistiller(_NoWeights(), **STUDENT).fit(X, y, sample_weight=w)


def test_distiller_weights_move_the_student(clf):
    X, y, w = clf
    teacher = EnsembleClassifier(n_members=2, max_epochs=10, **NET).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = EnDDDistiller(teacher, **STUDENT).fit(X, y)
        b = EnDDDistiller(teacher, **STUDENT).fit(X, y, sample_weight=w + 0.5)
    assert not np.allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-4)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "bad, words",
    [
        (lambda n: -np.ones(n), "negative"),
        (lambda n: np.r_[np.nan, np.ones(n - 1)], "NaN"),
        (lambda n: np.ones(n + 1), "shape"),
        (lambda n: np.zeros(n), "zero"),
    ],
    ids=["negative", "nan", "shape", "all_zero"],
)
def test_bad_weights_fail_clearly(bad, words, clf):
    X, y, _ = clf
    for est in (
        EnsembleClassifier(n_members=2, max_epochs=2, **NET),
        KDDistiller(teacher="virtual", **STUDENT),
    ):
        with pytest.raises(ValueError, match=f"(?i){words}"):
            est.fit(X, y, sample_weight=bad(len(y)))


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_class_weight_must_be_finite_and_non_negative(bad):
    """A negative class weight would train the model away from that class."""
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    est = EnsembleClassifier(
        n_members=2, max_epochs=1, class_weight={0: bad, 1: 1.0}, **NET
    )
    with pytest.raises(ValueError, match="class_weight") as info:
        est.fit(X, y)
    assert "class(es) [0]" in str(info.value)
    assert not hasattr(est, "net_")


def test_a_class_weighted_away_is_named_by_the_distiller():
    """Rows of weight 0 are dropped before the teacher is fitted: a class
    with no weight left is the weights' doing, not the teacher's labels."""
    X, y = make_classification(n_samples=90, n_features=5, n_informative=3,
                               n_classes=3, random_state=0)  # fmt: skip
    student = KDDistiller(teacher=EnsembleClassifier(n_members=2, **NET), **STUDENT)
    with pytest.raises(ValueError, match=r"class\(es\) \[2\] has weight 0"):
        student.fit(X, y, sample_weight=(y != 2).astype(float))
    with pytest.raises(ValueError, match=r"class\(es\) \[2\] has weight 0"):
        student.set_params(class_weight={0: 1.0, 1: 1.0, 2: 0.0}).fit(X, y)


def test_a_pipeline_teacher_gets_the_weights(clf):
    """Without routing, at its last step (scikit-learn's classic spelling);
    with routing on, wherever its steps asked for them."""
    import sklearn
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, w = clf
    kept = w[w > 0]
    expected = kept * len(kept) / kept.sum()
    _RecordsWeights.seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "fitted unweighted"
        KDDistiller(make_pipeline(StandardScaler(), _RecordsWeights()),
                    **STUDENT).fit(X, y, sample_weight=w)  # fmt: skip
    (seen,) = _RecordsWeights.seen
    assert np.allclose(seen, expected)
    _RecordsWeights.seen = []
    with sklearn.config_context(enable_metadata_routing=True):
        teacher = make_pipeline(
            StandardScaler().set_fit_request(sample_weight=False),
            _RecordsWeights().set_fit_request(sample_weight=True),
        )
        KDDistiller(teacher, **STUDENT).fit(X, y, sample_weight=w)
    (seen,) = _RecordsWeights.seen
    assert np.allclose(seen, expected)
