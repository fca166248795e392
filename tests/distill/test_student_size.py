"""The default student's core follows its teacher; its heads are 32 units wide."""

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
from skdistill.distill._sizes import student_n_params, teacher_n_params

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
def test_default_core_follows_the_classifier_teacher(make, clf_teacher, clf_data):
    student = make(clf_teacher).fit(*clf_data)
    assert student.core_layer_sizes_ == clf_teacher.hidden_layer_sizes_
    assert student.head_layer_sizes_ == (32,)
    n_in, n_raw = clf_data[0].shape[1], 3
    assert n_params(student) == student_n_params(
        getattr(student, "n_heads_", 1),
        n_in,
        n_raw,
        clf_teacher.hidden_layer_sizes_,
        (32,),
    )


@pytest.mark.parametrize("n_heads", [None, 2])
def test_default_core_follows_the_regressor_teacher(n_heads, reg_teacher, reg_data):
    student = HydraDistiller(teacher=reg_teacher, n_heads=n_heads, **FEW).fit(*reg_data)
    assert student.core_layer_sizes_ == reg_teacher.hidden_layer_sizes_
    assert student.head_layer_sizes_ == (32,)
    kd = KDDistiller(teacher=reg_teacher, **FEW).fit(*reg_data)
    assert kd.core_layer_sizes_ == reg_teacher.hidden_layer_sizes_


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
    # Only the core given: the heads keep their default width.
    kd = KDDistiller(teacher=clf_teacher, core_layer_sizes=8, **FEW).fit(*clf_data)
    assert (kd.core_layer_sizes_, kd.head_layer_sizes_) == ((8,), (32,))
    assert kd.core_layer_sizes == 8


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_other_teachers(clf_data):
    X, y = clf_data
    mlp = MLPClassifier(hidden_layer_sizes=(12,), max_iter=20, random_state=0)
    mlp.fit(X, y)
    student = HydraDistiller(teacher=mlp, **FEW).fit(X, y)
    assert student.core_layer_sizes_ == (12,)
    assert teacher_n_params(mlp) == sum(c.size for c in mlp.coefs_) + sum(
        b.size for b in mlp.intercepts_
    )
    bagged = BaggingClassifier(mlp, n_estimators=3, random_state=0).fit(X, y)
    student = HydraDistiller(teacher=bagged, **FEW).fit(X, y)
    assert student.core_layer_sizes_ == (12,)
    assert teacher_n_params(bagged) == 3 * teacher_n_params(mlp)
    linear = EnsembleClassifier(
        n_members=3, hidden_layer_sizes=(), random_state=0, **TEACHER
    ).fit(X, y)
    student = HydraDistiller(teacher=linear, **FEW).fit(X, y)
    assert (student.core_layer_sizes_, student.head_layer_sizes_) == ((), ())
    assert n_params(student) == n_params(linear)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    student = HydraDistiller(teacher=forest, **FEW).fit(X, y)
    assert student.core_layer_sizes_ == (100,)
    assert student.head_layer_sizes_ == (32,)
