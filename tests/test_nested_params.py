"""Nested parameters, named as skorch names them, through get/set_params and clone."""

import functools

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import LRScheduler
from torch import nn

import skdistill
from skdistill import EnsembleClassifier, EnsembleRegressor, HydraDistiller, KDDistiller

FAST = dict(max_epochs=3, batch_size=32, device="cpu", random_state=0,
            early_stopping=False, validation_fraction=0.0)  # fmt: skip


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X.astype(np.float32), y


class Member(nn.Module):
    """A member whose width is its own parameter (``module__width``)."""

    def __init__(self, width=8, n_in=4, n_out=3):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, n_out)
        )

    def forward(self, x):
        return self.body(x)


class Core(nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, width), nn.ReLU())

    def forward(self, x):
        return self.body(x)


def _momentum(est):
    return est.net_.optimizer_.param_groups[0]["momentum"]


def test_optimizer_parameters_reach_the_optimizer(iris):
    est = EnsembleClassifier(2, optimizer="sgd", optimizer__momentum=0.7, **FAST)
    assert est.get_params()["optimizer__momentum"] == 0.7
    assert _momentum(est.fit(*iris)) == 0.7
    est.set_params(optimizer__momentum=0.3)
    assert _momentum(est.fit(*iris)) == 0.3


def test_optimizer_may_be_a_partial(iris):
    opt = functools.partial(torch.optim.SGD, momentum=0.5)
    assert _momentum(EnsembleClassifier(2, optimizer=opt, **FAST).fit(*iris)) == 0.5


def test_callback_parameters_by_name(iris):
    est = EnsembleClassifier(
        2, callbacks=[("lr", LRScheduler("StepLR", step_size=10))],
        callbacks__lr__step_size=1, **{**FAST, "lr": 1e-2},
    ).fit(*iris)  # fmt: skip
    (sched,) = [cb for name, cb in est.net_.callbacks_ if name == "lr"]
    assert sched.step_size == 1
    # StepLR's default gamma 0.1, stepped every epoch: 3 epochs -> 1e-5.
    assert est.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-5)


def test_clone_and_grid_search_reach_nested_parameters(iris):
    est = EnsembleClassifier(
        2, optimizer="sgd", optimizer__momentum=0.0,
        callbacks=[("lr", LRScheduler("StepLR", step_size=5))], **FAST,
    )  # fmt: skip
    twin = clone(est)
    assert twin.optimizer__momentum == 0.0
    grid = GridSearchCV(
        est,
        {"optimizer__momentum": [0.0, 0.9], "callbacks__lr__step_size": [1, 5]},
        cv=2,
    ).fit(*iris)
    assert set(grid.best_params_) == {"optimizer__momentum", "callbacks__lr__step_size"}
    assert len(grid.cv_results_["params"]) == 4
    assert _momentum(grid.best_estimator_) == grid.best_params_["optimizer__momentum"]


def test_module_class_with_its_parameters(iris):
    est = EnsembleClassifier(2, module=Member, module__width=5, **FAST).fit(*iris)
    widths = {
        p.shape[1] for n, p in est.net_.module_.named_parameters() if "0__bias" in n
    }
    assert widths == {5}
    est.set_params(module__width=7).fit(*iris)
    widths = {
        p.shape[1] for n, p in est.net_.module_.named_parameters() if "0__bias" in n
    }
    assert widths == {7}


class ScaledMember(Member):
    """A member with a parameter of its own init and no ``reset_parameters``."""

    def __init__(self, width=8):
        super().__init__(width)
        self.scale = nn.Parameter(torch.rand(3) + 0.5)

    def forward(self, x):
        return self.body(x) * self.scale


def test_a_module_class_is_called_anew_for_every_member(iris):
    """A class (with its ``module__*`` parameters) builds each member afresh,
    so a parameter it initialises itself differs between members; a copied
    and re-initialised template would repeat it in every member."""
    est = EnsembleClassifier(
        3, module=ScaledMember, module__width=5, **{**FAST, "max_epochs": 1, "lr": 1e-9}
    ).fit(*iris)
    (scale,) = [p for n, p in est.net_.module_.named_parameters() if "scale" in n]
    assert scale.shape == (3, 3)
    assert not torch.allclose(scale[0], scale[1])
    assert not torch.allclose(scale[1], scale[2])


def test_module_parameters_of_the_wrong_size_are_named(iris):
    with pytest.raises(ValueError, match=r"Member.*\(batch, 3\)"):
        EnsembleClassifier(2, module=Member, module__n_out=4, **FAST).fit(*iris)


def test_core_and_head_parameters(iris):
    teacher = EnsembleClassifier(3, **FAST).fit(*iris)
    student = HydraDistiller(
        teacher, core=Core, core__width=6, head=nn.Linear, head__in_features=6,
        head__out_features=3, **FAST,
    ).fit(*iris)  # fmt: skip
    assert student.net_.module_.core_width == 6
    (w,) = student.net_.module_.head_weights()
    assert tuple(w.shape) == (3, 6, 3)
    assert clone(student).core__width == 6


def test_unknown_keyword_is_refused_by_fit(iris):
    # scikit-learn's rule: __init__ and set_params store, fit checks.
    est = EnsembleRegressor(hidden=3, **FAST)
    assert est.get_params()["hidden"] == 3
    with pytest.raises(TypeError, match="unexpected keyword argument 'hidden'"):
        est.fit(iris[0], iris[1].astype(float))
    with pytest.raises(TypeError, match="'criterion__x'"):
        KDDistiller(None, criterion__x=1, **FAST).fit(*iris)
    with pytest.raises(TypeError, match="'typo'"):
        EnsembleClassifier(2, **FAST).set_params(typo=1).fit(*iris)


def test_nested_parameter_without_its_target(iris):
    with pytest.raises(ValueError, match="module__width needs module="):
        EnsembleClassifier(2, module__width=3, **FAST).fit(*iris)
    with pytest.raises(ValueError, match="core__width needs core="):
        KDDistiller(None, core__width=3, **FAST).fit(*iris)
    with pytest.raises(ValueError, match="callbacks__lr names no callback parameter"):
        EnsembleClassifier(2, callbacks__lr=3, **FAST).fit(*iris)


def test_nested_parameters_are_saved(iris, tmp_path):
    est = EnsembleClassifier(2, optimizer="sgd", optimizer__momentum=0.6, **FAST)
    est.fit(*iris)
    est.save(tmp_path / "m.skd")
    loaded = skdistill.load(tmp_path / "m.skd")
    assert loaded.get_params()["optimizer__momentum"] == 0.6
    np.testing.assert_allclose(
        loaded.predict_proba(iris[0]), est.predict_proba(iris[0])
    )


class Sized(nn.Module):
    """A member MLP whose hidden sizes are its own parameter."""

    def __init__(self, hidden_sizes=(8,)):
        super().__init__()
        sizes = [4, *hidden_sizes]
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.Linear(sizes[-1], 3))

    def forward(self, x):
        return self.body(x)


def test_grid_search_over_module_optimizer_and_callback_parameters(iris):
    est = EnsembleClassifier(
        2, module=Sized, optimizer=torch.optim.SGD,
        callbacks=[("lr", LRScheduler("StepLR", step_size=5))], **FAST,
    )  # fmt: skip
    grid = GridSearchCV(
        est,
        {
            "module__hidden_sizes": [(4,), (8, 8)],
            "optimizer__momentum": [0.0, 0.9],
            "callbacks__lr__step_size": [2],
        },
        cv=2,
    ).fit(*iris)
    assert len(grid.cv_results_["params"]) == 4
    best = grid.best_estimator_
    n_linear = sum(1 for n, _ in best.net_.module_.named_parameters() if "weight" in n)
    assert n_linear == len(grid.best_params_["module__hidden_sizes"]) + 1
