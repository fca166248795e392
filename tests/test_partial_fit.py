"""partial_fit: one epoch per chunk, the streaming path."""

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

from skdistill import (
    EnDDDistiller,
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    KDDistiller,
)

OPTS = dict(device="cpu", random_state=0)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        900, 8, n_informative=5, n_classes=3, random_state=0, class_sep=1.5
    )
    return X[:600], y[:600], X[600:], y[600:]


@pytest.fixture(scope="module")
def teacher(data):
    X, y, _, _ = data
    return EnsembleClassifier(n_members=3, max_epochs=40, **OPTS).fit(X, y)


def _stream(est, X, y, epochs, chunk=150, **kw):
    for _ in range(epochs):
        for i in range(0, len(X), chunk):
            est.partial_fit(X[i : i + chunk], y[i : i + chunk], **kw)
    return est


def test_ensemble_learns_from_chunks(data):
    X, y, X_te, y_te = data
    est = _stream(
        EnsembleClassifier(n_members=2, batch_size=32, **OPTS),
        X, y, epochs=4, classes=[0, 1, 2],
    )  # fmt: skip
    assert len(est.history_) == 16  # one epoch per call
    assert est.score(X_te, y_te) > 0.75
    assert est.predict_members(X_te).shape == (2, len(X_te), 3)


def test_a_chunk_may_miss_classes(data):
    X, y, _, _ = data
    est = EnsembleClassifier(n_members=2, **OPTS)
    est.partial_fit(X[y == 0][:20], y[y == 0][:20], classes=[0, 1, 2])
    assert list(est.classes_) == [0, 1, 2]
    assert est.predict_proba(X[:3]).shape == (3, 3)


def test_partial_fit_errors_name_the_problem(data):
    X, y, _, _ = data
    with pytest.raises(ValueError, match="classes must be passed on the first"):
        EnsembleClassifier(**OPTS).partial_fit(X, y)
    est = EnsembleClassifier(n_members=2, **OPTS).partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"classes \[7\]"):
        est.partial_fit(X[:5], np.full(5, 7))
    with pytest.raises(ValueError, match="differs from the classes"):
        est.partial_fit(X[:5], y[:5], classes=[0, 1])
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:5, :3], y[:5])
    with pytest.raises(ValueError, match="balanced"):
        EnsembleClassifier(class_weight="balanced", **OPTS).partial_fit(
            X, y, classes=[0, 1, 2]
        )


def test_a_failed_call_leaves_the_model_as_it_was(data):
    X, y, _, _ = data
    est = EnsembleClassifier(n_members=2, **OPTS).partial_fit(X, y, classes=[0, 1, 2])
    before = est.predict_proba(X[:10])
    with pytest.raises(ValueError):
        est.partial_fit(np.r_[X[:4], np.full((1, 8), np.nan)], y[:5])
    assert np.array_equal(before, est.predict_proba(X[:10]))
    assert len(est.history_) == 1


def test_regressor_fixes_the_target_scale_on_the_first_chunk():
    X, y = make_regression(600, 5, noise=1.0, random_state=0)
    est = EnsembleRegressor(n_members=2, batch_size=32, **OPTS)
    est.partial_fit(X[:200], y[:200])
    scale = (est.y_mean_, est.y_scale_)
    assert scale == (pytest.approx(y[:200].mean()), pytest.approx(y[:200].std()))
    _stream(est, X[:500], y[:500], epochs=5, chunk=100)
    assert (est.y_mean_, est.y_scale_) == scale
    assert est.score(X[500:], y[500:]) > 0.9


@pytest.mark.parametrize(
    "make",
    [
        lambda t: HydraDistiller(t, n_heads=2, **OPTS),
        lambda t: KDDistiller(t, **OPTS),
        lambda t: EnDDDistiller(t, max_epochs=12, **OPTS),
    ],
    ids=["hydra", "kd", "endd"],
)
def test_distillers_stream_from_a_fitted_teacher(make, teacher, data):
    X, y, X_te, y_te = data
    est = _stream(make(teacher), X, y, epochs=3)
    assert list(est.classes_) == [0, 1, 2]  # the teacher's, by default
    assert len(est.history_) == 12
    # Three passes over the stream: well above chance (1/3), near the teacher.
    assert est.score(X_te, y_te) > max(0.75, teacher.score(X_te, y_te) - 0.15)


def test_hydra_stream_keeps_the_members_disagreement(teacher, data):
    X, y, X_te, _ = data
    est = _stream(HydraDistiller(teacher, **OPTS), X, y, epochs=3)
    assert est.n_heads_ == 3
    assert est.predict_uncertainty(X_te).epistemic.mean() > 0


def test_virtual_teacher_needs_classes(data):
    X, y, X_te, y_te = data
    with pytest.raises(ValueError, match="classes must be passed"):
        KDDistiller("virtual", **OPTS).partial_fit(X, y)
    est = _stream(KDDistiller("virtual", **OPTS), X, y, epochs=3, classes=[0, 1, 2])
    assert est.score(X_te, y_te) > 0.75


def test_distillers_refuse_an_unfitted_teacher_without_partial_fit(data):
    from sklearn.linear_model import LogisticRegression

    X, y, _, _ = data
    est = HydraDistiller(LogisticRegression(), **OPTS)
    # Hidden, as a Pipeline hides what its last step lacks ...
    assert not hasattr(est, "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit"):
        est.partial_fit(X, y)
    # ... and there once the teacher is fitted.
    est.set_params(teacher=LogisticRegression().fit(X, y))
    assert est.partial_fit(X, y).score(X, y) > 0.5


def test_an_unfitted_ensemble_teacher_learns_the_stream_alongside(data):
    X, y, X_te, y_te = data
    for teacher in (None, EnsembleClassifier(n_members=3, **OPTS)):
        est = _stream(
            HydraDistiller(teacher, n_heads=2, batch_size=32, **OPTS),
            X, y, epochs=3, classes=[0, 1, 2],
        )  # fmt: skip
        assert len(est.teacher_.history_) == 12  # one teacher epoch per call
        assert est.teacher_.score(X_te, y_te) > 0.75
        assert est.score(X_te, y_te) > 0.7
    assert not hasattr(teacher, "net_")  # the parameter itself stays unfitted


def test_regression_stream_with_the_default_teacher():
    X, y = make_regression(500, 5, noise=1.0, random_state=0)
    est = _stream(KDDistiller(batch_size=32, **OPTS), X[:400], y[:400], 6, chunk=100)
    assert est.task_ == "regression"
    assert est.score(X[400:], y[400:]) > 0.8


def test_partial_fit_after_an_early_stopped_fit(data):
    X, y, X_te, y_te = data
    est = EnsembleClassifier(
        n_members=2, early_stopping=True, validation_fraction=0.2, **OPTS
    ).fit(X, y)
    est.partial_fit(X[:100], y[:100])  # no validation loss: no early stopping
    assert "valid_loss" not in est.history_[-1]
    student = HydraDistiller(n_heads=2, max_epochs=20, **OPTS).fit(X, y)
    student.partial_fit(X[:100], y[:100])  # its default teacher streams too
    assert student.score(X_te, y_te) > 0.7


def _weights(est):
    return [p.detach().clone() for p in est.net_.module_.parameters()]


@pytest.mark.parametrize("kind", ["ensemble", "hydra"])
def test_later_calls_take_todays_optimiser_settings(kind, teacher, data):
    """set_params between calls applies, as skorch's set_params on a fitted net."""
    X, y, _, _ = data
    X, y = X[:200], y[:200]
    if kind == "ensemble":
        est = EnsembleClassifier(n_members=2, batch_size=50, **OPTS)
    else:
        est = HydraDistiller(teacher=teacher, n_heads=2, batch_size=50, **OPTS)
    est.partial_fit(X, y, classes=np.unique(y))
    before = _weights(est)
    est.set_params(lr=0.0)  # Adam at lr 0 moves nothing
    est.partial_fit(X, y)
    assert all(a.equal(b) for a, b in zip(before, _weights(est)))
    est.set_params(lr=1e-3, weight_decay=0.5, batch_size=100)
    est.partial_fit(X, y)
    assert not all(a.equal(b) for a, b in zip(before, _weights(est)))
    groups = est.net_.optimizer_.param_groups
    assert {(g["lr"], g["weight_decay"]) for g in groups} == {(1e-3, 0.5)}
    assert len(est.history_[-1]["batches"]) == 2  # 200 rows in steps of 100
    assert len(est.history_) == 3


def test_a_new_optimizer_between_calls_says_it_applies_next_fit(data):
    X, y, _, _ = data
    est = EnsembleClassifier(n_members=2, **OPTS).partial_fit(X, y, classes=[0, 1, 2])
    est.set_params(optimizer="sgd")
    with pytest.warns(UserWarning, match="Adam optimizer of its first call"):
        est.partial_fit(X, y)
    assert type(est.net_.optimizer_).__name__ == "Adam"


def test_later_calls_take_todays_loss_parameters(teacher, data):
    """The targets are prepared with today's temperature: the loss must match."""
    X, y, _, _ = data
    est = KDDistiller(teacher=teacher, temperature=4.0, alpha=0.9, **OPTS)
    est.partial_fit(X, y)
    est.set_params(temperature=1.0, alpha=0.2)
    est.partial_fit(X, y)
    assert (est.net_.criterion_.temperature, est.net_.criterion_.alpha) == (1.0, 0.2)
    est.set_params(soft_label_weighting="wsl")  # other prepared targets: no error
    est.partial_fit(X, y)
    assert est.net_.criterion_.mode == "wsl"
    assert np.isfinite(est.history_[-1]["train_loss"])
