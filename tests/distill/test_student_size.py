"""The default student follows its teacher's size, within its parameter count."""

import pytest
from distill_settings import TINY
from sklearn.datasets import make_classification
from sklearn.ensemble import BaggingClassifier, RandomForestClassifier
from sklearn.neural_network import MLPClassifier

from skdistill import (
    EnDDDistiller,
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    KDDistiller,
)
from skdistill.distill._sizes import (
    HEAD_WIDTH,
    MIN_CORE_WIDTH,
    MIN_HEAD_WIDTH,
    fit_budget,
    student_n_params,
    teacher_hidden_sizes,
    teacher_n_params,
)

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


STUDENTS = [
    lambda t: HydraDistiller(teacher=t, **FEW),
    lambda t: HydraDistiller(teacher=t, n_heads=1, **FEW),
    lambda t: KDDistiller(teacher=t, **FEW),
    lambda t: EnDDDistiller(teacher=t, **FEW),
]


@pytest.mark.parametrize("make", STUDENTS, ids=["hydra", "hydra-1", "kd", "endd"])
def test_default_student_within_the_teachers_parameters(make, clf_teacher, clf_data):
    student = make(clf_teacher).fit(*clf_data)
    budget = teacher_n_params(clf_teacher)
    if isinstance(student, HydraDistiller):  # M heads of N members: M/N of it
        budget *= min(1, student.n_heads_ / clf_teacher.n_members)
    assert n_params(student) <= budget
    n_in, n_raw = clf_data[0].shape[1], 3
    assert n_params(student) == student_n_params(
        getattr(student, "n_heads_", 1),
        n_in,
        n_raw,
        student.core_layer_sizes_,
        student.head_layer_sizes_,
    )
    # As wide as the budget allows: the core never wider than the members'.
    core, head = student.core_layer_sizes_, student.head_layer_sizes_
    assert len(core) == len(clf_teacher.hidden_layer_sizes_)
    assert all(c <= t for c, t in zip(core, clf_teacher.hidden_layer_sizes_))
    assert head and head[0] <= HEAD_WIDTH
    if head[0] < HEAD_WIDTH:  # one unit more per head would not fit
        wider = (head[0] + 1,)
        heads = getattr(student, "n_heads_", 1)
        assert student_n_params(heads, n_in, n_raw, core, wider) > budget


def test_default_student_keeps_full_size_where_it_fits():
    """A budget that does not bind: the members' core and 32-unit heads.

    64 features: the members' cost is their input layer, which the student
    holds once, so even 2 heads' share (2/8 of the teacher) fits.
    """
    X, y = make_classification(
        n_samples=120, n_features=64, n_informative=8, n_classes=3, random_state=0
    )
    teacher = EnsembleClassifier(
        n_members=8, hidden_layer_sizes=(64,), random_state=0, **TEACHER
    ).fit(X, y)
    student = HydraDistiller(teacher=teacher, n_heads=2, **FEW).fit(X, y)
    assert (student.core_layer_sizes_, student.head_layer_sizes_) == ((64,), (32,))
    assert n_params(student) <= teacher_n_params(teacher) * 2 / 8


@pytest.mark.parametrize("n_heads", [1, 2, 3])
def test_fewer_heads_than_members_get_their_share(n_heads, clf_data):
    """M heads of an N-member teacher: at most M/N of its parameters, and as
    wide as that allows (one unit more per head would not fit)."""
    X, y = clf_data
    teacher = EnsembleClassifier(
        n_members=6, hidden_layer_sizes=(32,), random_state=0, **TEACHER
    ).fit(X, y)
    budget = teacher_n_params(teacher) * n_heads / 6
    student = HydraDistiller(teacher=teacher, n_heads=n_heads, **FEW).fit(X, y)
    assert n_params(student) <= budget
    core, head = student.core_layer_sizes_, student.head_layer_sizes_
    assert head == (MIN_HEAD_WIDTH,) and core[0] < 32  # the share binds here
    wider = student_n_params(n_heads, X.shape[1], 3, (core[0] + 1,), head)
    assert wider > budget
    # More heads, a larger share: never a smaller student.
    more = HydraDistiller(teacher=teacher, n_heads=n_heads + 1, **FEW).fit(X, y)
    assert n_params(more) > n_params(student)
    # Single-head KD and EnDD students keep the whole teacher's budget.
    kd = KDDistiller(teacher=teacher, **FEW).fit(X, y)
    assert teacher_n_params(teacher) / 6 < n_params(kd) <= teacher_n_params(teacher)


@pytest.mark.parametrize("n_heads", [None, 2])
def test_default_regression_student_within_the_teachers_parameters(
    n_heads, reg_teacher, reg_data
):
    student = HydraDistiller(teacher=reg_teacher, n_heads=n_heads, **FEW).fit(*reg_data)
    assert n_params(student) <= teacher_n_params(reg_teacher)
    assert n_params(student) == student_n_params(
        student.n_heads_,
        reg_data[0].shape[1],
        2,
        student.core_layer_sizes_,
        student.head_layer_sizes_,
    )
    kd = KDDistiller(teacher=reg_teacher, **FEW).fit(*reg_data)
    assert n_params(kd) <= teacher_n_params(reg_teacher)


# Spiral-like sizes: 2 features, 3 classes, 8 heads on a 100-unit core.
SHAPE = dict(n_heads=8, in_features=2, n_raw=3)


def size(core, head):
    return student_n_params(SHAPE["n_heads"], SHAPE["in_features"], SHAPE["n_raw"],
                            core, head)  # fmt: skip


def test_fit_budget_narrows_heads_then_core_then_heads():
    full = ((100,), (32,))
    assert fit_budget(*full, size(*full), **SHAPE) == full
    # 1. the heads narrow first, the core untouched
    assert fit_budget(*full, size((100,), (20,)), **SHAPE) == ((100,), (20,))
    # 2. then the core, the heads held at the minimum width
    assert fit_budget(*full, size((50,), (16,)), **SHAPE) == ((50,), (MIN_HEAD_WIDTH,))
    assert fit_budget(*full, size((50,), (16,)) - 1, **SHAPE) == ((49,), (16,))
    # 3. then the heads again, on the narrowest core
    core_min = (MIN_CORE_WIDTH,)
    assert fit_budget(*full, size(core_min, (4,)), **SHAPE) == (core_min, (4,))
    # nothing fits: the smallest student, with linear heads
    assert fit_budget(*full, 10, **SHAPE) == (core_min, ())
    # every layer of a deeper core narrows by the same factor, none below 8
    # (or the teacher's own width where that is narrower)
    core, head = fit_budget((64, 6), (32,), size((32, 6), (16,)), **SHAPE)
    assert head == (16,) and core[1] == 6 and 30 <= core[0] <= 32
    # a linear student is never narrowed
    assert fit_budget((), (), 1, **SHAPE) == ((), ())


def test_budget_bounds_student_against_size():
    """Whatever the budget, the student has at most that many parameters,
    once it is above the smallest student's."""
    smallest = size((MIN_CORE_WIDTH,), ())
    for budget in [smallest, 500, 1_000, 2_000, 4_824, 10_000, 30_000]:
        core, head = fit_budget((100,), (32,), budget, **SHAPE)
        assert size(core, head) <= budget
        assert core[0] <= 100 and (not head or head[0] <= 32)


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
    mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=20, random_state=0)
    mlp.fit(X, y)
    assert teacher_hidden_sizes(mlp) == (64,)
    assert teacher_n_params(mlp) == sum(c.size for c in mlp.coefs_) + sum(
        b.size for b in mlp.intercepts_
    )
    # One MLP: the one-head student has to narrow its core to fit.
    student = HydraDistiller(teacher=mlp, **FEW).fit(X, y)
    assert MIN_CORE_WIDTH <= student.core_layer_sizes_[0] < 64
    assert n_params(student) <= teacher_n_params(mlp)
    bagged = BaggingClassifier(mlp, n_estimators=3, random_state=0).fit(X, y)
    assert teacher_hidden_sizes(bagged) == (64,)
    assert teacher_n_params(bagged) == 3 * teacher_n_params(mlp)
    student = HydraDistiller(teacher=bagged, **FEW).fit(X, y)
    assert MIN_CORE_WIDTH <= student.core_layer_sizes_[0] <= 64
    assert n_params(student) <= teacher_n_params(bagged)
    linear = EnsembleClassifier(
        n_members=3, hidden_layer_sizes=(), random_state=0, **TEACHER
    ).fit(X, y)
    student = HydraDistiller(teacher=linear, **FEW).fit(X, y)
    assert (student.core_layer_sizes_, student.head_layer_sizes_) == ((), ())
    assert n_params(student) == n_params(linear)
    # Trees: no parameter count to keep within, the full default sizes.
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    student = HydraDistiller(teacher=forest, **FEW).fit(X, y)
    assert student.core_layer_sizes_ == (100,)
    assert student.head_layer_sizes_ == (32,)
