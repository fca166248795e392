import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    BaggingClassifier,
    BaggingRegressor,
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import BayesianRidge, LinearRegression, LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from skdistill.teachers import (
    MIN_VARIANCE_FRACTION,
    TeacherOutputs,
    as_teacher,
    check_teacher,
    check_teacher_classes,
    fit_teacher,
    is_virtual,
    member_outputs,
    n_members,
    teacher_classes,
    teacher_is_fitted,
    teacher_task,
)

LABELS = np.array(["cat", "dog", "eel"])


@pytest.fixture(scope="module")
def clf_data():
    X, y = make_classification(
        n_samples=200,
        n_features=6,
        n_informative=4,
        n_redundant=0,
        n_classes=3,
        random_state=0,
    )
    return X, LABELS[y]


@pytest.fixture(scope="module")
def reg_data():
    X, y = make_regression(n_samples=200, n_features=4, noise=10.0, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def forest(clf_data):
    return RandomForestClassifier(n_estimators=6, random_state=0).fit(*clf_data)


def _tree_proba_in(tree, X, positions, n_classes):
    """A tree's probabilities placed by hand at the parent's class positions."""
    out = np.zeros((len(X), n_classes))
    out[:, positions] = tree.predict_proba(X)
    return out


# ------------------------------------------------------------- classification
@pytest.mark.parametrize("cls", [RandomForestClassifier, ExtraTreesClassifier])
def test_forest_members_are_trees(cls, clf_data):
    X, y = clf_data
    est = cls(n_estimators=5, max_depth=4, random_state=0).fit(X, y)
    probs = member_outputs(est, X)
    assert probs.shape == (5, len(X), 3)
    assert probs.dtype == np.float64
    for m, tree in enumerate(est.estimators_):
        expected = _tree_proba_in(tree, X, tree.classes_.astype(int), 3)
        assert_allclose(probs[m], expected)
    assert_allclose(probs.mean(axis=0), est.predict_proba(X))
    assert_allclose(probs.sum(axis=2), 1.0)


def test_columns_follow_given_classes(forest, clf_data):
    X, _ = clf_data
    order = np.array(["eel", "cat", "dog"])
    probs = member_outputs(forest, X, classes=order)
    reference = forest.predict_proba(X)  # columns cat, dog, eel
    assert_allclose(probs.mean(axis=0), reference[:, [2, 0, 1]])


def test_bagging_feature_subsets(clf_data):
    X, y = clf_data
    est = BaggingClassifier(
        LogisticRegression(), n_estimators=5, max_features=0.5, random_state=0
    ).fit(X, y)
    assert any(len(f) < X.shape[1] for f in est.estimators_features_)
    probs = member_outputs(est, X)
    assert_allclose(probs.mean(axis=0), est.predict_proba(X))
    # member 0 sees only its features
    feats = est.estimators_features_[0]
    assert_allclose(probs[0], est.estimators_[0].predict_proba(X[:, feats]))


def test_bagging_member_missing_a_class(clf_data):
    X, y = clf_data
    # KNN takes no sample_weight, so bagging fits each member on its rows only
    est = BaggingClassifier(
        KNeighborsClassifier(n_neighbors=1),
        n_estimators=8,
        max_samples=3,
        random_state=0,
    ).fit(X, y)
    short = [i for i, e in enumerate(est.estimators_) if len(e.classes_) < 3]
    assert short, "the test needs a member that saw fewer classes"
    probs = member_outputs(est, X)
    assert probs.shape == (8, len(X), 3)
    assert_allclose(probs.mean(axis=0), est.predict_proba(X))
    i = short[0]
    missing = np.setdiff1d(np.arange(3), est.estimators_[i].classes_)
    assert_array_equal(probs[i][:, missing], 0.0)


def test_bagging_voting_members_without_proba(clf_data):
    X, y = clf_data
    est = BaggingClassifier(SVC(), n_estimators=4, max_samples=0.5, random_state=0).fit(
        X, y
    )
    probs = member_outputs(est, X)
    assert set(np.unique(probs)) <= {0.0, 1.0}
    assert_allclose(probs.mean(axis=0), est.predict_proba(X))


def _soft_voting(**kwargs):
    return VotingClassifier(
        [
            ("lr", LogisticRegression()),
            ("nb", GaussianNB()),
            ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
        ],
        voting="soft",
        **kwargs,
    )


def test_soft_voting(clf_data):
    X, y = clf_data
    est = _soft_voting().fit(X, y)
    probs = member_outputs(est, X)
    assert probs.shape == (3, len(X), 3)
    for m, sub in enumerate(est.estimators_):
        assert_allclose(probs[m], sub.predict_proba(X))
    assert_allclose(probs.mean(axis=0), est.predict_proba(X))
    # equal weights change nothing; unequal ones are refused
    same = _soft_voting(weights=[2, 2, 2]).fit(X, y)
    assert_allclose(member_outputs(same, X), probs)
    weighted = _soft_voting(weights=[3, 1, 1]).fit(X, y)
    with pytest.raises(ValueError, match="weights"):
        member_outputs(weighted, X)


def test_hard_voting_is_refused(clf_data):
    X, y = clf_data
    est = VotingClassifier(
        [("lr", LogisticRegression()), ("nb", GaussianNB())], voting="hard"
    )
    with pytest.raises(TypeError, match="voting='soft'"):
        check_teacher(est)
    with pytest.raises(TypeError, match="voting='soft'"):
        member_outputs(est.fit(X, y), X)


def test_gradient_boosting_is_one_member(clf_data):
    X, y = clf_data
    est = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, y)
    assert isinstance(est.estimators_, np.ndarray)
    assert n_members(est) == 1
    probs = member_outputs(est, X)
    assert probs.shape == (1, len(X), 3)
    assert_allclose(probs[0], est.predict_proba(X))


def test_gradient_boosting_regressor_is_one_member(reg_data):
    X, y = reg_data
    est = GradientBoostingRegressor(n_estimators=5, random_state=0).fit(X, y)
    means, variances = member_outputs(est, X, y=y)
    assert means.shape == variances.shape == (1, len(X))
    assert_allclose(means[0], est.predict(X))
    assert_allclose(variances[0], np.mean((y - est.predict(X)) ** 2))


def test_list_of_fitted_classifiers(clf_data):
    X, y = clf_data
    members = [
        LogisticRegression().fit(X, y),
        GaussianNB().fit(X, y),
        DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y),
    ]
    assert teacher_task(members) == "classification"
    assert n_members(members) == 3
    probs = member_outputs(tuple(members), X, classes=["dog", "eel", "cat"])
    for m, est in enumerate(members):
        assert_allclose(probs[m], est.predict_proba(X)[:, [1, 2, 0]])


def test_single_model_is_one_member(clf_data):
    X, y = clf_data
    est = LogisticRegression().fit(X, y)
    probs = member_outputs(est, X)
    assert probs.shape == (1, len(X), 3)
    assert_allclose(probs[0], est.predict_proba(X))


def test_dataframe_input_keeps_feature_names(clf_data):
    X, y = clf_data
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    est = RandomForestClassifier(n_estimators=3, random_state=0).fit(df, y)
    with pytest.warns(UserWarning, match="feature names"):
        member_outputs(est, X)  # names lost: sklearn's own warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probs = member_outputs(est, df)
    assert_allclose(probs.mean(axis=0), est.predict_proba(df))


# ------------------------------------------------------------------- duck type
class FakeEnsembleClassifier(ClassifierMixin, BaseEstimator):
    """Stands in for EnsembleClassifier: two members, opposite confidence."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_members(self, X):
        X = np.asarray(X)
        k = len(self.classes_)
        first = np.zeros((len(X), k))
        first[:, 0] = 1.0
        second = np.full((len(X), k), 1.0 / k)
        return np.stack([first, second])

    def predict_proba(self, X):
        return self.predict_members(X).mean(axis=0)


class FakeEnsembleRegressor(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict_members(self, X):
        x0 = np.asarray(X)[:, 0]
        return np.stack([x0, 2 * x0]), np.stack([np.ones_like(x0), x0**2 + 1])

    def predict(self, X):
        return self.predict_members(X)[0].mean(axis=0)


def test_duck_typed_ensemble_classifier(clf_data):
    X, y = clf_data
    est = FakeEnsembleClassifier().fit(X, y)
    assert teacher_task(est) == "classification"
    probs = member_outputs(est, X, classes=["eel", "dog", "cat"], batch_size=33)
    assert probs.shape == (2, len(X), 3)
    assert_array_equal(probs[0][:, 2], 1.0)  # "cat", first of its classes_
    assert_array_equal(probs[0][:, :2], 0.0)
    assert_allclose(probs[1], 1.0 / 3)


def test_duck_typed_ensemble_regressor(reg_data):
    X, y = reg_data
    est = FakeEnsembleRegressor().fit(X, y)
    means, variances = member_outputs(est, X, batch_size=50)
    assert_allclose(means, np.stack([X[:, 0], 2 * X[:, 0]]))
    assert_allclose(variances[1], X[:, 0] ** 2 + 1)


def test_nan_member_is_named(clf_data):
    X, y = clf_data

    class NaNClassifier(LogisticRegression):
        def predict_proba(self, X):
            p = super().predict_proba(X)
            p[0, 0] = np.nan
            return p

    members = [LogisticRegression().fit(X, y), NaNClassifier().fit(X, y)]
    with pytest.raises(ValueError, match=r"teacher\[1\] \(NaNClassifier\).*NaN"):
        member_outputs(members, X)


def test_unnormalised_rows_are_renormalised(clf_data):
    X, y = clf_data

    class Sloppy(LogisticRegression):
        def predict_proba(self, X):
            return super().predict_proba(X) * (1 + 1e-5)

    est = Sloppy().fit(X, y)
    probs = member_outputs(est, X)
    assert_allclose(probs.sum(axis=2), 1.0, rtol=1e-14)


# ------------------------------------------------------------------ regression
def test_forest_regressor_means_and_positive_variances(reg_data):
    X, y = reg_data
    est = RandomForestRegressor(n_estimators=5, min_samples_leaf=5, random_state=0).fit(
        X, y
    )
    means, variances = member_outputs(est, X)
    assert means.shape == variances.shape == (5, len(X))
    assert_allclose(means.mean(axis=0), est.predict(X))
    assert np.all(variances > 0)
    # each tree: its leaf's stored impurity
    tree = est.estimators_[2]
    assert_allclose(variances[2], tree.tree_.impurity[tree.apply(X.astype(np.float32))])


def test_tree_leaf_variance_by_hand():
    X = np.arange(10.0).reshape(-1, 1)
    y = np.array([1.0, 2.0, 4.0, 3.0, 0.0, 20.0, 22.0, 25.0, 21.0, 30.0])
    tree = DecisionTreeRegressor(max_depth=1).fit(X, y)
    means, variances = member_outputs(tree, X)
    left, right = y[:5], y[5:]
    assert_allclose(means[0], np.r_[[left.mean()] * 5, [right.mean()] * 5])
    assert_allclose(variances[0], np.r_[[np.var(left)] * 5, [np.var(right)] * 5])


def test_forest_leaf_variance_by_hand():
    X = np.arange(10.0).reshape(-1, 1)
    y = np.array([1.0, 2.0, 4.0, 3.0, 0.0, 20.0, 22.0, 25.0, 21.0, 30.0])
    est = RandomForestRegressor(
        n_estimators=3, max_depth=1, bootstrap=False, random_state=0
    ).fit(X, y)
    means, variances = member_outputs(est, X)
    expected = np.r_[[np.var(y[:5])] * 5, [np.var(y[5:])] * 5]
    for m in range(3):
        assert_allclose(variances[m], expected)
    assert_allclose(means.mean(axis=0), est.predict(X))


def test_pure_leaves_are_floored_with_a_warning():
    X = np.arange(10.0).reshape(-1, 1)
    y = np.array([1.0, 2.0, 4.0, 3.0, 0.0, 20.0, 22.0, 25.0, 21.0, 30.0])
    tree = DecisionTreeRegressor().fit(X, y)  # one sample per leaf
    with pytest.warns(UserWarning, match="min_samples_leaf"):
        _, variances = member_outputs(tree, X)
    assert_allclose(variances, MIN_VARIANCE_FRACTION * np.var(y))


def test_fully_grown_forest_variances_stay_positive(reg_data):
    X, _ = reg_data
    y = 1e3 + X[:, 0]  # an offset makes sklearn's impurity round below 0
    est = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    with pytest.warns(UserWarning, match="aleatoric uncertainty is underestimated"):
        _, variances = member_outputs(est, X)
    assert np.all(np.isfinite(variances)) and np.all(variances > 0)
    for m, tree in enumerate(est.estimators_):
        root = tree.tree_.impurity[0]  # the tree's own target variance
        assert np.all(variances[m] >= MIN_VARIANCE_FRACTION * root * (1 - 1e-12))


def test_absolute_error_tree_uses_y():
    X = np.arange(10.0).reshape(-1, 1)
    y = np.array([1.0, 2.0, 4.0, 3.0, 0.0, 20.0, 22.0, 25.0, 21.0, 30.0])
    tree = DecisionTreeRegressor(max_depth=1, criterion="absolute_error").fit(X, y)
    with pytest.raises(ValueError, match="pass y"):
        member_outputs(tree, X)
    means, variances = member_outputs(tree, X, y=y)
    left, right = y[:5], y[5:]
    assert_allclose(means[0], np.r_[[np.median(left)] * 5, [np.median(right)] * 5])
    expected = np.r_[
        [np.mean((left - np.median(left)) ** 2)] * 5,
        [np.mean((right - np.median(right)) ** 2)] * 5,
    ]
    assert_allclose(variances[0], expected)


def test_bayesian_ridge_variance_from_return_std(reg_data):
    X, y = reg_data
    est = BayesianRidge().fit(X, y)
    means, variances = member_outputs(est, X)
    mean, std = est.predict(X, return_std=True)
    assert_allclose(means[0], mean)
    assert_allclose(variances[0], std**2)


def test_linear_regression_residual_variance(reg_data):
    X, y = reg_data
    est = LinearRegression().fit(X, y)
    with pytest.raises(ValueError, match="pass y"):
        member_outputs(est, X)
    means, variances = member_outputs(est, X, y=y)
    residuals = y - X @ est.coef_ - est.intercept_
    assert_allclose(means[0], X @ est.coef_ + est.intercept_)
    assert_allclose(variances[0], np.mean(residuals**2))
    assert 50 < variances[0, 0] < 200  # the noise was drawn with std 10


def test_bagging_and_voting_regressors(reg_data):
    X, y = reg_data
    bag = BaggingRegressor(
        LinearRegression(), n_estimators=4, max_features=0.5, random_state=0
    ).fit(X, y)
    means, variances = member_outputs(bag, X, y=y)
    assert_allclose(means.mean(axis=0), bag.predict(X))
    for m in range(4):
        assert_allclose(variances[m], np.mean((y - means[m]) ** 2))
    vote = VotingRegressor([("lr", LinearRegression()), ("br", BayesianRidge())]).fit(
        X, y
    )
    means, variances = member_outputs(vote, X, y=y)
    assert_allclose(means.mean(axis=0), vote.predict(X))
    assert_allclose(
        variances[1], vote.estimators_[1].predict(X, return_std=True)[1] ** 2
    )


# ---------------------------------------------------------------- fit, checks
def test_fit_teacher_clones_unfitted(clf_data):
    X, y = clf_data
    est = RandomForestClassifier(n_estimators=3, random_state=0)
    assert not teacher_is_fitted(est)
    fitted = fit_teacher(est, X, y)
    assert fitted is not est
    assert not teacher_is_fitted(est)
    assert teacher_is_fitted(fitted)
    assert_array_equal(fitted.classes_, LABELS)


def test_fit_teacher_keeps_fitted(forest, clf_data):
    assert fit_teacher(forest, *clf_data) is forest


def test_fit_teacher_lists(clf_data):
    X, y = clf_data
    unfitted = [LogisticRegression(), GaussianNB()]
    fitted = fit_teacher(unfitted, X, y)
    assert teacher_is_fitted(fitted) and not teacher_is_fitted(unfitted)
    assert all(a is not b for a, b in zip(fitted, unfitted))
    assert fit_teacher(fitted, X, y) is fitted
    with pytest.raises(ValueError, match=r"\[1\]"):
        fit_teacher([fitted[0], GaussianNB()], X, y)


def test_member_outputs_needs_fitted(clf_data):
    with pytest.raises(NotFittedError):
        member_outputs(LogisticRegression(), clf_data[0])


def test_class_mismatch_names_both_sets(clf_data):
    X, y = clf_data
    est = LogisticRegression().fit(X, np.arange(len(y)) % 3)
    check_teacher_classes(est, [2, 1, 0])  # order does not matter
    with pytest.raises(ValueError, match=r"\[0, 1, 2\].*\[0, 1, 3\].*\[3\].*\[2\]"):
        check_teacher_classes(est, [0, 1, 3])
    with pytest.raises(ValueError, match="superset"):
        check_teacher_classes(est, [0, 1])
    with pytest.raises(ValueError, match="unknown to the teacher"):
        member_outputs(est, X, classes=[0, 1, 2, 3])


def test_teacher_classes_of_lists(clf_data):
    X, y = clf_data
    a = LogisticRegression().fit(X, y)
    b = GaussianNB().fit(X, y)
    assert_array_equal(teacher_classes([a, b]), LABELS)
    c = GaussianNB().fit(X, np.where(y == "eel", "fox", y))
    with pytest.raises(ValueError, match="same classes"):
        teacher_classes([a, c])


@pytest.mark.parametrize(
    "bad",
    [
        "forest",
        3,
        None,
        [LogisticRegression(), "virtual"],
        RandomForestClassifier,
        np.zeros(3),
    ],
)
def test_wrong_types(bad):
    with pytest.raises(TypeError):
        check_teacher(bad)


def test_virtual_and_empty():
    check_teacher("virtual")
    assert is_virtual("virtual") and not is_virtual("Virtual")
    assert teacher_task("virtual") == "classification"
    with pytest.raises(ValueError, match="empty"):
        check_teacher([])


def test_mixed_list_is_a_type_error():
    with pytest.raises(TypeError, match="only classifiers or only regressors"):
        check_teacher([LogisticRegression(), LinearRegression()])
    with pytest.raises(TypeError, match="predict_proba"):
        check_teacher([LogisticRegression(), SVC()])


def test_task_and_members_counts(reg_data):
    assert teacher_task(RandomForestRegressor()) == "regression"
    assert teacher_task([LinearRegression(), BayesianRidge()]) == "regression"
    assert n_members(RandomForestRegressor(n_estimators=7)) == 7
    assert n_members(_soft_voting()) == 3
    assert n_members(LinearRegression()) == 1


# ------------------------------------------------------------ batching, caching
def test_batch_size_does_not_change_outputs(forest, clf_data, reg_data):
    X, _ = clf_data
    assert_allclose(
        member_outputs(forest, X, batch_size=7),
        member_outputs(forest, X, batch_size=10_000),
    )
    Xr, yr = reg_data
    bag = BaggingRegressor(
        DecisionTreeRegressor(min_samples_leaf=5), n_estimators=3, random_state=0
    ).fit(Xr, yr)
    small = member_outputs(bag, Xr, y=yr, batch_size=7)
    large = member_outputs(bag, Xr, y=yr, batch_size=10_000)
    for a, b in zip(small, large):
        assert_allclose(a, b)
    with pytest.raises(ValueError, match="batch_size"):
        member_outputs(forest, X, batch_size=0)


def test_joblib_memory_caches_member_outputs(forest, clf_data, tmp_path):
    X, _ = clf_data
    memory = joblib.Memory(tmp_path, verbose=0)
    cached = memory.cache(member_outputs)
    assert not cached.check_call_in_cache(forest, X, batch_size=64)
    first = cached(forest, X, batch_size=64)
    assert cached.check_call_in_cache(forest, X, batch_size=64)
    assert_allclose(cached(forest, X, batch_size=64), first)
    fitted = memory.cache(fit_teacher)(clone(forest), X, clf_data[1])
    assert teacher_is_fitted(fitted)


# -------------------------------------------------------------------- adapters
def _family(teacher):
    adapter = as_teacher(teacher)
    return adapter.family, adapter.task


def test_every_family_has_its_adapter(clf_data, reg_data, forest):
    X, y = clf_data
    assert _family(LogisticRegression()) == ("estimator", "classification")
    assert _family(GradientBoostingRegressor()) == ("estimator", "regression")
    assert _family(forest) == ("forest", "classification")
    assert _family(RandomForestRegressor()) == ("forest", "regression")
    assert _family(BaggingRegressor()) == ("bagging", "regression")
    assert _family(_soft_voting()) == ("voting", "classification")
    assert _family([LinearRegression(), BayesianRidge()]) == ("list", "regression")
    assert _family(make_pipeline(StandardScaler(), forest)) == (
        "pipeline",
        "classification",
    )
    # A Pipeline ending in a single model is one member, the whole Pipeline.
    assert _family(make_pipeline(StandardScaler(), LogisticRegression()))[0] == (
        "estimator"
    )
    assert _family(FakeEnsembleClassifier()) == ("members", "classification")
    assert _family(FakeEnsembleRegressor()) == ("members", "regression")
    stored = TeacherOutputs(X[:5], logits=np.zeros((2, 5, 3)))
    assert _family(stored) == ("stored", "classification")
    assert as_teacher(stored).has_logits and not as_teacher(forest).has_logits
    assert _family("virtual") == ("virtual", "classification")


def test_adapter_members(clf_data, forest):
    X, y = clf_data
    single = LogisticRegression().fit(X, y)
    (member,) = as_teacher(single).members()
    assert member.estimator is single and member.features is None
    assert not member.encoded and member.where == "the teacher (LogisticRegression)"

    members = as_teacher(forest).members()
    assert [m.estimator for m in members] == forest.estimators_
    assert all(m.encoded and m.features is None for m in members)
    assert (
        members[2].where
        == "member 2 (DecisionTreeClassifier) of RandomForestClassifier"
    )

    bag = BaggingClassifier(
        LogisticRegression(), n_estimators=3, max_features=0.5, random_state=0
    ).fit(X, y)
    members = as_teacher(bag).members()
    for m, feats in zip(members, bag.estimators_features_):
        assert_array_equal(m.features, feats)

    listed = [single, GaussianNB().fit(X, y)]
    adapter = as_teacher(listed)
    assert adapter.n_members == 2
    assert [m.where for m in adapter.members()] == [
        "teacher[0] (LogisticRegression)",
        "teacher[1] (GaussianNB)",
    ]
    assert_array_equal(adapter.classes(), LABELS)

    pipe = make_pipeline(StandardScaler(), forest)
    adapter = as_teacher(pipe)
    assert adapter.final.family == "forest" and adapter.n_members == 6
    assert [m.estimator for m in adapter.members()] == forest.estimators_

    stacked = as_teacher(FakeEnsembleClassifier().fit(X, y))
    assert stacked.members() == []  # one predict_members call for all
    with pytest.raises(ValueError, match="how many members"):
        _ = stacked.n_members
    with pytest.raises(ValueError, match="no members"):
        as_teacher("virtual").members()


def test_voting_adapter_counts_and_refuses(clf_data):
    X, y = clf_data
    unfitted = _soft_voting()
    unfitted.set_params(nb="drop")
    assert as_teacher(unfitted).n_members == 2
    with pytest.raises(ValueError, match="weights"):
        as_teacher(_soft_voting(weights=[3, 1, 1]).fit(X, y)).members()


def test_pipeline_adapter_outputs_are_its_final_ensembles(clf_data):
    X, y = clf_data
    pipe = make_pipeline(
        StandardScaler(), RandomForestClassifier(n_estimators=4, random_state=0)
    ).fit(X, y)
    probs = as_teacher(pipe).member_outputs(X)
    expected = member_outputs(pipe[-1], pipe[:-1].transform(X))
    assert_allclose(probs, expected)
    assert_allclose(probs.mean(axis=0), pipe.predict_proba(X))


def test_adapter_fit_bind_and_identity(clf_data):
    X, y = clf_data
    adapter = as_teacher(RandomForestClassifier(n_estimators=3, random_state=0))
    assert as_teacher(adapter) is adapter
    assert not adapter.is_fitted() and adapter.n_members == 3
    fitted = adapter.fit(X, y)
    assert type(fitted) is type(adapter) and fitted.estimator is not adapter.estimator
    assert fitted.is_fitted() and fitted.fit(X, y) is fitted
    assert fitted.n_members == 3
    assert type(adapter.bind(clone(adapter.estimator))) is type(adapter)
    listed = as_teacher([LogisticRegression(), GaussianNB()]).fit(X, y)
    assert listed.family == "list" and listed.is_fitted()
    # the wrappers give what the adapter gives
    assert_allclose(fitted.member_outputs(X), member_outputs(fitted.estimator, X))
    with pytest.raises(TypeError, match="regression teacher"):
        as_teacher(LinearRegression().fit(X, np.arange(len(X)))).classes()


def test_a_frozen_teacher_is_shared_by_clones_and_never_refitted():
    """Cross-validation clones the student, and with it an unwrapped teacher
    (which each fold then refits); FrozenEstimator keeps one fitted teacher."""
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import cross_val_score

    from skdistill import KDDistiller

    X, y = make_classification(n_samples=90, n_features=4, random_state=0)

    class CountingForest(RandomForestClassifier):
        fits = 0

        def fit(self, X, y, sample_weight=None):
            type(self).fits += 1
            return super().fit(X, y, sample_weight)

    teacher = CountingForest(n_estimators=4, random_state=0).fit(X, y)
    opts = dict(max_epochs=2, batch_size=32, device="cpu", random_state=0)
    scores = cross_val_score(KDDistiller(teacher=FrozenEstimator(teacher), **opts),
                             X, y, cv=3)  # fmt: skip
    assert CountingForest.fits == 1 and np.all(np.isfinite(scores))
    cross_val_score(KDDistiller(teacher=teacher, **opts), X, y, cv=3)
    assert CountingForest.fits == 4  # unwrapped: cloned and refitted per fold


def test_a_pipeline_ending_in_a_gaussian_process_keeps_its_variance():
    """Pipeline.predict hands return_std to its last step: the teacher's
    input-dependent variance must survive, not become one residual variance."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, WhiteKernel
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skdistill.teachers import as_teacher

    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(60, 1))
    y = np.sin(X[:, 0]) + 0.1 * rng.normal(size=60)
    gp = GaussianProcessRegressor(RBF() + WhiteKernel(), random_state=0)
    pipe = make_pipeline(StandardScaler(), gp).fit(X, y)
    far = np.array([[0.0], [6.0]])
    _, std = pipe.predict(far, return_std=True)
    _, variances = as_teacher(pipe).member_outputs(far)  # no y needed
    np.testing.assert_allclose(variances[0], std**2, rtol=1e-6)
    assert variances[0, 1] > 10 * variances[0, 0]  # larger far from the data


def test_a_regression_student_learns_the_same_in_any_unit_of_y():
    """The variance floors are relative to y's scale, not an absolute 1e-12."""
    from skdistill import EnsembleRegressor, KDDistiller

    rng = np.random.RandomState(0)
    X = rng.randn(200, 3)
    y = 2 * X[:, 0] + 0.1 * rng.randn(200)
    opts = dict(max_epochs=40, lr=1e-2, random_state=0, device="cpu")
    stds = []
    for unit in (1.0, 1e-6):
        teacher = EnsembleRegressor(n_members=3, hidden_layer_sizes=(16,), **opts)
        teacher.fit(X, y * unit)
        student = KDDistiller(teacher=teacher, **opts).fit(X, y * unit)
        stds.append(student.predict(X[:20], return_std=True)[1] / unit)
    np.testing.assert_allclose(stds[1], stds[0], rtol=0.05)
