"""The default student follows its teacher and never has more parameters."""

import pytest
from distill_settings import TINY
from sklearn.ensemble import BaggingClassifier, RandomForestClassifier
from sklearn.neural_network import MLPClassifier

from skdistill import (
    EnDDDistiller,
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    KDDistiller,
)
from skdistill.distill._sizes import resolve_sizes, student_n_params, teacher_n_params

FEW = dict(max_epochs=1, device="cpu", random_state=0)
TEACHER = {k: v for k, v in TINY.items() if k != "hidden_layer_sizes"} | {
    "max_epochs": 1
}


def n_params(est) -> int:
    return sum(p.numel() for p in est.net_.module_.parameters())


@pytest.fixture(scope="module", params=[(4, (16,)), (6, (12, 8))], ids=str)
def clf_teacher(request, clf_data):
    n, sizes = request.param
    return EnsembleClassifier(
        n_members=n, hidden_layer_sizes=sizes, random_state=0, **TEACHER
    ).fit(*clf_data)


@pytest.fixture(scope="module", params=[(3, (16,)), (5, (10, 6))], ids=str)
def reg_teacher(request, reg_data):
    n, sizes = request.param
    return EnsembleRegressor(
        n_members=n, hidden_layer_sizes=sizes, random_state=0, **TEACHER
    ).fit(*reg_data)


@pytest.mark.parametrize(
    "make",
    [
        lambda t: HydraDistiller(teacher=t, **FEW),
        lambda t: HydraDistiller(teacher=t, n_heads=1, **FEW),
        lambda t: KDDistiller(teacher=t, **FEW),
        lambda t: EnDDDistiller(teacher=t, **FEW),
    ],
    ids=["hydra", "hydra-1", "kd", "endd"],
)
def test_default_student_no_bigger_than_classifier_teacher(make, clf_teacher, clf_data):
    student = make(clf_teacher).fit(*clf_data)
    assert student.core_layer_sizes_ == clf_teacher.hidden_layer_sizes_
    assert len(student.head_layer_sizes_) <= 1
    assert all(h <= 32 for h in student.head_layer_sizes_)
    assert n_params(student) <= n_params(clf_teacher) == teacher_n_params(clf_teacher)


@pytest.mark.parametrize("n_heads", [None, 2])
def test_default_student_no_bigger_than_regressor_teacher(
    n_heads, reg_teacher, reg_data
):
    student = HydraDistiller(teacher=reg_teacher, n_heads=n_heads, **FEW).fit(*reg_data)
    assert student.core_layer_sizes_ == reg_teacher.hidden_layer_sizes_
    assert n_params(student) <= n_params(reg_teacher)
    kd = KDDistiller(teacher=reg_teacher, **FEW).fit(*reg_data)
    assert n_params(kd) <= n_params(reg_teacher)


def test_more_heads_than_members_narrows_the_core(clf_data):
    teacher = EnsembleClassifier(
        n_members=2, hidden_layer_sizes=(16,), random_state=0, **TEACHER
    ).fit(*clf_data)
    with pytest.warns(UserWarning, match="more than the teacher"):
        student = HydraDistiller(teacher=teacher, n_heads=8, **FEW).fit(*clf_data)
    assert student.core_layer_sizes_[0] < 16
    assert n_params(student) <= n_params(teacher)


def test_explicit_sizes_are_kept(clf_teacher, clf_data):
    student = HydraDistiller(
        teacher=clf_teacher, core_layer_sizes=(64, 64), head_layer_sizes=(32,), **FEW
    ).fit(*clf_data)
    assert student.core_layer_sizes_ == (64, 64)
    assert student.head_layer_sizes_ == (32,)
    assert student.core_layer_sizes is not None  # the parameter itself untouched
    n_in, n_raw = clf_data[0].shape[1], 3
    assert n_params(student) == student_n_params(
        student.n_heads_, n_in, n_raw, (64, 64), (32,)
    )
    # Only the core given: the heads still follow the teacher's budget.
    kd = KDDistiller(teacher=clf_teacher, core_layer_sizes=8, **FEW).fit(*clf_data)
    assert kd.core_layer_sizes_ == (8,)
    assert n_params(kd) <= n_params(clf_teacher)
    assert kd.core_layer_sizes == 8


def test_head_width_follows_the_budget():
    # The spiral: 8 members of 2-100-3 (4,824 parameters).
    budget = 8 * student_n_params(1, 2, 3, (100,), ())
    widths = [resolve_sizes(None, None, teacher=_Counted(budget), n_heads=m,
                            in_features=2, n_raw=3)[1] for m in (8, 2, 1)]  # fmt: skip
    assert widths == [(5,), (21,), (32,)]
    tight = resolve_sizes(None, None, teacher=_Counted(330), n_heads=8,
                          in_features=2, n_raw=3)  # fmt: skip
    assert tight[1] == ()  # narrower than the output: linear heads
    assert student_n_params(8, 2, 3, *tight) <= 330


class _Counted:
    """A stand-in fitted teacher of ``n`` parameters and (100,) members."""

    hidden_layer_sizes_ = (100,)

    def __init__(self, n):
        import torch

        self.net_ = type("Net", (), {})()
        self.net_.module_ = torch.nn.Linear(n - 1, 1)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_other_teachers(clf_data):
    X, y = clf_data
    mlp = MLPClassifier(hidden_layer_sizes=(12,), max_iter=20, random_state=0)
    mlp.fit(X, y)
    student = HydraDistiller(teacher=mlp, **FEW).fit(X, y)
    assert student.core_layer_sizes_ == (12,)
    assert n_params(student) <= teacher_n_params(mlp)
    bagged = BaggingClassifier(mlp, n_estimators=3, random_state=0).fit(X, y)
    student = HydraDistiller(teacher=bagged, **FEW).fit(X, y)
    assert student.core_layer_sizes_ == (12,)
    assert n_params(student) <= teacher_n_params(bagged) == 3 * teacher_n_params(mlp)
    linear = EnsembleClassifier(
        n_members=3, hidden_layer_sizes=(), random_state=0, **TEACHER
    ).fit(X, y)
    student = HydraDistiller(teacher=linear, **FEW).fit(X, y)
    assert (student.core_layer_sizes_, student.head_layer_sizes_) == ((), ())
    assert n_params(student) == n_params(linear)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    student = HydraDistiller(teacher=forest, **FEW).fit(X, y)
    assert student.core_layer_sizes_ == (100,)
    assert student.head_layer_sizes_ == (32,)  # the old defaults: no budget
