import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification, make_regression
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from skorch.callbacks import Checkpoint, LRScheduler, ProgressBar
from torch import nn

from skdistill import EnsembleClassifier, EnsembleRegressor
from skdistill.nn.criteria import EnsembleCriterion
from skdistill.training import NonFiniteLossError

SMALL = dict(hidden_layer_sizes=(16,), max_epochs=3, batch_size=32, device="cpu")


@pytest.fixture(scope="module")
def clf_data():
    X, y = make_classification(
        n_samples=240, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    return StandardScaler().fit_transform(X).astype(np.float32), y


@pytest.fixture(scope="module")
def reg_data():
    X, y = make_regression(n_samples=200, n_features=5, noise=5.0, random_state=0)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def fitted_clf(clf_data):
    X, y = clf_data
    return EnsembleClassifier(n_members=4, random_state=0, **SMALL).fit(X, y)


@pytest.fixture(scope="module")
def fitted_reg(reg_data):
    X, y = reg_data
    return EnsembleRegressor(n_members=3, random_state=0, **SMALL).fit(X, y)


# ------------------------------------------------------------- classification
def test_classifier_shapes_and_probabilities(fitted_clf, clf_data):
    X, _ = clf_data
    members = fitted_clf.predict_members(X)
    assert members.shape == (4, len(X), 3)
    np.testing.assert_allclose(members.sum(-1), 1.0, rtol=1e-6)
    proba = fitted_clf.predict_proba(X)
    np.testing.assert_allclose(proba, members.mean(0))
    np.testing.assert_allclose(
        fitted_clf.predict_log_proba(X), np.log(proba), rtol=1e-6
    )
    assert set(fitted_clf.predict(X)) <= set(fitted_clf.classes_)


def test_members_differ(fitted_clf, clf_data):
    """Own initialisation and shuffling: members are not copies of each other."""
    members = fitted_clf.predict_members(clf_data[0])
    assert np.abs(members[0] - members[1]).max() > 1e-3


def test_uncertainty_decomposition(fitted_clf, clf_data):
    X, _ = clf_data
    u = fitted_clf.predict_uncertainty(X)
    frame = pd.DataFrame(u)
    assert list(frame.columns) == ["total", "aleatoric", "epistemic"]
    assert frame.shape == (len(X), 3)
    np.testing.assert_allclose(u.total, u.aleatoric + u.epistemic, atol=1e-10)
    assert (u.epistemic >= 0).all() and (u.total <= np.log(3) + 1e-9).all()
    assert u.epistemic.max() > 0


def test_learns_a_separable_problem():
    X, y = make_classification(
        n_samples=300,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        class_sep=2.0,
        random_state=1,
    )
    X = StandardScaler().fit_transform(X)
    ens = EnsembleClassifier(
        n_members=3,
        hidden_layer_sizes=(32,),
        max_epochs=30,
        lr=1e-2,
        device="cpu",
        random_state=0,
    ).fit(X, y)
    assert ens.score(X, y) > 0.9
    train_loss = ens.history_[:, "train_loss"]
    assert train_loss[-1] < 0.5 * train_loss[0]


def test_string_labels_and_dataframe(clf_data):
    X, y = clf_data
    labels = np.array(["cat", "dog", "emu"])[y]
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    ens = EnsembleClassifier(n_members=2, random_state=0, **SMALL).fit(df, labels)
    assert list(ens.classes_) == ["cat", "dog", "emu"]
    assert list(ens.feature_names_in_) == list(df.columns)
    assert set(ens.predict(df)) <= {"cat", "dog", "emu"}
    with pytest.warns(UserWarning, match="feature names"):
        ens.predict(X)


def test_same_seed_same_model_different_seed_different(clf_data):
    X, y = clf_data
    a = EnsembleClassifier(n_members=2, random_state=3, **SMALL).fit(X, y)
    b = EnsembleClassifier(n_members=2, random_state=3, **SMALL).fit(X, y)
    c = EnsembleClassifier(n_members=2, random_state=4, **SMALL).fit(X, y)
    np.testing.assert_array_equal(a.predict_members(X), b.predict_members(X))
    assert np.abs(a.predict_members(X) - c.predict_members(X)).max() > 1e-4


def test_fit_does_not_touch_global_torch_rng(clf_data):
    X, y = clf_data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    EnsembleClassifier(n_members=2, random_state=0, **SMALL).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)


def test_bootstrap_members_train_on_different_rows(clf_data):
    X, y = clf_data
    ens = EnsembleClassifier(n_members=3, bootstrap=True, random_state=0, **SMALL)
    ens.fit(X, y)
    rows = ens.net_._member_rows(len(X), torch.device("cpu"))
    assert rows.shape == (3, len(X))
    # A bootstrap sample repeats rows and leaves about 1/e of them out.
    for r in rows:
        unique = len(torch.unique(r))
        assert 0.5 * len(X) < unique < 0.8 * len(X)
    assert not torch.equal(rows[0], rows[1])


def test_per_member_batches_are_independent_permutations(clf_data):
    X, y = clf_data
    ens = EnsembleClassifier(n_members=3, random_state=0, **SMALL).fit(X, y)
    data = ens.net_.get_dataset(torch.arange(len(X), dtype=torch.float32)[:, None])
    iterator = ens.net_.get_iterator(data, training=True)
    batches = [xb[..., 0].long() for xb, _ in iterator]
    order = torch.cat(batches)  # (n, n_members): every member's epoch order
    assert order.shape == (len(X), 3)
    for m in range(3):
        assert torch.equal(order[:, m].sort().values, torch.arange(len(X)))
    assert not torch.equal(order[:, 0], order[:, 1])


def test_mutual_learning_trains_and_changes_members(clf_data):
    X, y = clf_data
    plain = EnsembleClassifier(n_members=3, random_state=0, **SMALL).fit(X, y)
    dml = EnsembleClassifier(
        n_members=3, mutual_learning=0.5, random_state=0, **SMALL
    ).fit(X, y)
    assert np.isfinite(dml.history_[:, "train_loss"]).all()
    assert not np.allclose(plain.predict_proba(X), dml.predict_proba(X))
    with pytest.raises(ValueError, match="mutual_learning"):
        EnsembleClassifier(n_members=1, mutual_learning=0.5, **SMALL).fit(X, y)


def test_cohort_mutual_learning_form(clf_data):
    X, y = clf_data
    kw = dict(n_members=3, mutual_learning=0.5, random_state=0, **SMALL)
    dml_e = EnsembleClassifier(**kw).fit(X, y)
    cohort = EnsembleClassifier(mutual_learning_form="cohort", **kw).fit(X, y)
    assert isinstance(cohort.net_.criterion_, EnsembleCriterion)
    assert cohort.net_.criterion_.mutual_learning_form == "cohort"
    # Same gradients (detached peers), different loss values: the peers'
    # Jensen-Shannon gap makes the cohort loss larger.
    np.testing.assert_allclose(
        cohort.predict_proba(X), dml_e.predict_proba(X), atol=1e-4
    )
    gap = cohort.history_[:, "train_loss"][0] - dml_e.history_[:, "train_loss"][0]
    assert gap > 0
    with pytest.raises(ValueError, match="mutual_learning_form"):
        EnsembleClassifier(mutual_learning_form="pairs", **kw).fit(X, y)


def test_validation_split_and_early_stopping(clf_data):
    X, y = clf_data
    ens = EnsembleClassifier(
        n_members=2,
        validation_fraction=0.25,
        early_stopping=True,
        n_iter_no_change=2,
        random_state=0,
        **{**SMALL, "max_epochs": 200, "lr": 5e-2},
    ).fit(X, y)
    assert "valid_loss" in ens.history_[-1]
    assert len(ens.history_) < 200  # stopped early
    assert ens.net_.train_split is None  # the held-out data is not kept
    with pytest.raises(ValueError, match="validation_fraction"):
        EnsembleClassifier(early_stopping=True, validation_fraction=0.0, **SMALL).fit(
            X, y
        )


def test_skorch_callbacks(clf_data, tmp_path):
    X, y = clf_data
    ckpt = Checkpoint(dirname=str(tmp_path), monitor="train_loss_best")
    sched = LRScheduler(policy="StepLR", step_size=1, gamma=0.5)
    ens = EnsembleClassifier(
        n_members=2, callbacks=[ProgressBar(), ckpt, sched], random_state=0, **SMALL
    ).fit(X, y)
    assert (tmp_path / "params.pt").exists()
    lr = ens.net_.optimizer_.param_groups[0]["lr"]
    assert lr == pytest.approx(1e-3 * 0.5**3)
    assert ckpt.dirname == str(tmp_path)  # the user's callback objects are copied
    assert not hasattr(sched, "lr_scheduler_")


class Member(nn.Module):
    """A non-MLP member (module level, so plain pickle can find it)."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.a = nn.Linear(in_features, 8)
        self.b = nn.Linear(8, out_features)

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


def test_custom_member_module(clf_data):
    X, y = clf_data
    ens = EnsembleClassifier(n_members=3, module=Member, random_state=0, **SMALL)
    ens.fit(X, y)
    members = ens.predict_members(X)
    assert members.shape == (3, len(X), 3)
    assert np.abs(members[0] - members[1]).max() > 1e-3
    restored = pickle.loads(pickle.dumps(ens))
    np.testing.assert_allclose(restored.predict_proba(X), ens.predict_proba(X))


def test_warm_start_continues(clf_data):
    X, y = clf_data
    ens = EnsembleClassifier(n_members=2, warm_start=True, random_state=0, **SMALL)
    ens.fit(X, y)
    ens.fit(X, y)
    assert len(ens.history_) == 2 * SMALL["max_epochs"]


# ----------------------------------------------------------------- regression
def test_regressor_mixture(fitted_reg, reg_data):
    X, y = reg_data
    means, variances = fitted_reg.predict_members(X)
    assert means.shape == variances.shape == (3, len(X))
    assert (variances > 0).all()
    mean, std = fitted_reg.predict(X, return_std=True)
    np.testing.assert_allclose(mean, means.mean(0))
    expected_var = variances.mean(0) + means.var(0)
    np.testing.assert_allclose(std**2, expected_var, rtol=1e-6)
    u = fitted_reg.predict_uncertainty(X)
    np.testing.assert_allclose(u.total, expected_var, rtol=1e-6)
    assert not hasattr(fitted_reg, "predict_proba")


def test_regressor_learns_and_rescales_targets(reg_data):
    X, y = reg_data
    y = 1000.0 + 50.0 * y  # far from zero mean / unit scale
    reg = EnsembleRegressor(
        n_members=3,
        hidden_layer_sizes=(32,),
        max_epochs=60,
        lr=1e-2,
        device="cpu",
        random_state=0,
    ).fit(X, y)
    assert reg.score(X, y) > 0.8
    assert abs(reg.predict(X).mean() - y.mean()) < 0.2 * y.std()


# ---------------------------------------------------------- sklearn workflows
def test_pipeline_with_column_transformer_on_dataframe():
    rng = np.random.RandomState(0)
    n = 150
    df = pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "num_missing": np.where(rng.rand(n) < 0.2, np.nan, rng.normal(size=n)),
            "cat": rng.choice(["a", "b", "c"], size=n),
        }
    )
    y = (df["num"] + (df["cat"] == "a") > 0.5).map({True: "yes", False: "no"})
    pre = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(SimpleImputer(), StandardScaler()),
                ["num", "num_missing"],
            ),
            ("cat", OneHotEncoder(), ["cat"]),
        ]
    )
    pipe = make_pipeline(pre, EnsembleClassifier(n_members=2, random_state=0, **SMALL))
    pipe.fit(df, y)
    proba = pipe.predict_proba(df)
    assert proba.shape == (n, 2) and np.isfinite(proba).all()
    assert set(pipe.predict(df)) <= {"yes", "no"}


def test_grid_search_and_cross_val(clf_data):
    X, y = clf_data
    est = EnsembleClassifier(n_members=2, random_state=0, **SMALL)
    search = GridSearchCV(
        est, {"hidden_layer_sizes": [(8,), (16, 16)], "lr": [1e-3, 1e-2]}, cv=2
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_estimator_.hidden_layer_sizes in [(8,), (16, 16)]
    scores = cross_val_score(est, X, y, cv=3)
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))


def test_clone_pickle_joblib_round_trips(
    fitted_clf, fitted_reg, clf_data, reg_data, tmp_path
):
    cloned = clone(fitted_clf)
    assert (
        not hasattr(cloned, "net_") and cloned.get_params() == fitted_clf.get_params()
    )
    for est, X in [(fitted_clf, clf_data[0]), (fitted_reg, reg_data[0])]:
        again = pickle.loads(pickle.dumps(est))
        path = tmp_path / "model.joblib"
        joblib.dump(est, path)
        loaded = joblib.load(path)
        expected = est.predict(X)
        np.testing.assert_array_equal(again.predict(X), expected)
        np.testing.assert_array_equal(loaded.predict(X), expected)


def test_float64_input_from_transformers(clf_data):
    X, y = clf_data
    X64 = StandardScaler().fit_transform(X.astype(np.float64))
    assert X64.dtype == np.float64
    ens = EnsembleClassifier(n_members=2, random_state=0, **SMALL).fit(X64, y)
    assert ens.predict_proba(X64).dtype == np.float64


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_X_is_rejected(clf_data, bad):
    X, y = clf_data
    X = X.copy()
    X[3, 1] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        EnsembleClassifier(**SMALL).fit(X, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_y_is_rejected(reg_data, bad):
    X, y = reg_data
    y = y.copy()
    y[0] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        EnsembleRegressor(**SMALL).fit(X, y)


def test_nan_in_classification_labels_is_rejected(clf_data):
    X, y = clf_data
    y = y.astype(float)
    y[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        EnsembleClassifier(**SMALL).fit(X, y)


def test_single_class_is_rejected(clf_data):
    X, _ = clf_data
    with pytest.raises(ValueError, match="at least 2 classes"):
        EnsembleClassifier(**SMALL).fit(X, np.zeros(len(X)))


def test_wrong_number_of_features_at_predict(fitted_clf, clf_data):
    X, _ = clf_data
    with pytest.raises(ValueError, match="features"):
        fitted_clf.predict(X[:, :-1])


def test_empty_X_is_rejected():
    with pytest.raises(ValueError, match="0 sample"):
        EnsembleClassifier(**SMALL).fit(np.empty((0, 3)), np.empty(0))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_cuda_requested_without_cuda(clf_data):
    X, y = clf_data
    with pytest.raises(ValueError, match="CUDA is not available"):
        EnsembleClassifier(**{**SMALL, "device": "cuda"}).fit(X, y)


def test_nonfinite_training_loss_names_the_epoch(reg_data):
    X, y = reg_data
    reg = EnsembleRegressor(
        n_members=2,
        optimizer="sgd",
        max_epochs=50,
        lr=1e12,
        hidden_layer_sizes=(16,),
        device="cpu",
        random_state=0,
    )
    with pytest.raises(NonFiniteLossError, match=r"epoch \d+") as info:
        reg.fit(X, y)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_members": 0}, "n_members"),
        ({"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes"),
        ({"lr": -1.0}, "lr"),
        ({"dropout": 1.0}, "dropout"),
        ({"activation": "sigmoidish"}, "activation"),
        ({"optimizer": "lbfgs-ish"}, "optimizer"),
        ({"device": "tpu9"}, "device"),
    ],
)
def test_bad_parameters_are_named(clf_data, params, match):
    X, y = clf_data
    with pytest.raises(ValueError, match=match):
        EnsembleClassifier(**{**SMALL, **params}).fit(X, y)


def test_a_module_instance_is_copied_and_reinitialised_per_member():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)
    )
    before = [p.detach().clone() for p in net.parameters()]
    ens = EnsembleClassifier(
        n_members=3, module=net, max_epochs=60, lr=1e-2, batch_size=32, random_state=0
    ).fit(X, y)
    assert ens.score(X, y) > 0.8
    members = ens.predict_members(X[:5])
    assert not np.allclose(members[0], members[1])  # each member its own start
    # The instance passed in is left as it was.
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


@pytest.mark.parametrize(
    "module, words",
    [
        (torch.nn.Linear(5, 3), "cannot take this data"),
        (torch.nn.Linear(4, 2), r"to \(2, 2\); each member must output \(batch, 3\)"),
    ],
)
def test_a_module_instance_of_the_wrong_size_fails_clearly(module, words):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=words):
        EnsembleClassifier(n_members=2, module=module, max_epochs=1).fit(X, y)
