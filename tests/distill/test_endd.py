import warnings

import numpy as np
import pytest
import torch
from distill_settings import STUDENT
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning

from skdistill import EnDDDistiller, EnsembleClassifier
from skdistill.nn.losses import MAX_LOG_CONCENTRATION, endd_loss


@pytest.fixture(scope="module")
def endd(fitted_ensemble, clf_data):
    return EnDDDistiller(teacher=fitted_ensemble, random_state=0,
                         **{**STUDENT, "max_epochs": 30}).fit(*clf_data)  # fmt: skip


def test_dirichlet_outputs(endd, clf_data):
    X, y = clf_data
    concentration = endd.predict_concentration(X)
    assert concentration.shape == (len(X), 3) and (concentration > 0).all()
    np.testing.assert_allclose(
        endd.predict_proba(X), concentration / concentration.sum(1, keepdims=True)
    )
    assert endd.score(X, y) > 0.75


def test_predict_alpha_is_a_deprecated_alias(endd, clf_data):
    X, _ = clf_data
    with pytest.warns(FutureWarning, match="predict_concentration"):
        alpha = endd.predict_alpha(X[:10])
    np.testing.assert_array_equal(alpha, endd.predict_concentration(X[:10]))


def test_log_concentrations_clip_at_one_bound_in_training_and_prediction(
    endd, clf_data, monkeypatch
):
    """The loss and predict_concentration clip z at the same MAX_LOG_CONCENTRATION."""
    X, _ = clf_data
    z = np.array([[-100.0, 0.0, 100.0]])
    monkeypatch.setattr(endd, "_student_outputs", lambda X: z[:, None, :])
    np.testing.assert_allclose(
        endd.predict_concentration(X[:1]),
        np.exp([[-MAX_LOG_CONCENTRATION, 0.0, MAX_LOG_CONCENTRATION]]),
    )
    teacher = torch.log_softmax(
        torch.randn(1, 4, 3, generator=torch.Generator().manual_seed(0)), -1
    )
    at_bound = torch.tensor([[-MAX_LOG_CONCENTRATION, 0.0, MAX_LOG_CONCENTRATION]])
    beyond = torch.tensor(z, dtype=torch.float32, requires_grad=True)
    loss = endd_loss(beyond, teacher)
    assert loss.item() == pytest.approx(endd_loss(at_bound, teacher).item())
    loss.backward()
    assert beyond.grad[0, 0] == 0 and beyond.grad[0, 2] == 0  # clipped: no gradient


def test_members_are_seeded_dirichlet_draws(endd, clf_data):
    X, _ = clf_data
    draws = endd.predict_members(X[:50])
    assert draws.shape == (4, 50, 3)  # default: as many as teacher members
    np.testing.assert_allclose(draws.sum(-1), 1.0)
    np.testing.assert_array_equal(draws, endd.predict_members(X[:50]))


def test_uncertainty_is_the_dirichlet_decomposition(endd, clf_data):
    X, _ = clf_data
    u = endd.predict_uncertainty(X)
    p = endd.predict_proba(X)
    entropy = -(p * np.log(p)).sum(1)
    np.testing.assert_allclose(u.total, entropy, rtol=1e-8)
    assert (u.epistemic >= 0).all() and u.epistemic.max() > 0


def test_dirichlet_draws_match_moments(endd, clf_data):
    X, _ = clf_data
    endd_many = endd.set_params(n_member_samples=4000)
    draws = endd_many.predict_members(X[:5])
    np.testing.assert_allclose(draws.mean(0), endd.predict_proba(X[:5]), atol=0.03)
    endd.set_params(n_member_samples=None)


def test_forest_teacher_and_regression_rejected(
    clf_data, reg_data, fitted_reg_ensemble
):
    X, y = clf_data
    forest = RandomForestClassifier(n_estimators=8, max_depth=3, random_state=0)
    student = EnDDDistiller(teacher=forest, random_state=0, **STUDENT).fit(X, y)
    assert student.n_teacher_members_ == 8
    with pytest.raises(TypeError, match="regression"):
        EnDDDistiller(teacher=fitted_reg_ensemble, **STUDENT).fit(*reg_data)


def test_too_short_a_schedule_is_named():
    """20 epochs at initial_temperature=10 leave a near-uniform student on
    digits (chance accuracy): the fit says so; a schedule at T=1 does not."""
    X, y = load_digits(return_X_y=True)
    X, y = (X[:600] / 16).astype(np.float32), y[:600]
    teacher = EnsembleClassifier(
        3, max_epochs=20, early_stopping=False, validation_fraction=0.0,
        random_state=0, device="cpu",
    ).fit(X, y)  # fmt: skip
    short = dict(max_epochs=20, random_state=0, device="cpu")
    with pytest.warns(ConvergenceWarning, match=r"raise max_epochs \(now 20\)"):
        EnDDDistiller(teacher, **short).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        student = EnDDDistiller(teacher, initial_temperature=1.0, **short).fit(X, y)
    assert student.score(X, y) > 0.5
