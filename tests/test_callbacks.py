"""skorch's own callbacks, unchanged, on ensembles and distillers.

Scoring callbacks see the mean prediction (the ensemble's, or the
student's), on labelled rows only: a distiller's extra rows carry no label.
"""

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.metrics import accuracy_score
from skorch.callbacks import (
    BatchScoring,
    Checkpoint,
    EarlyStopping,
    EpochScoring,
    LRScheduler,
    ProgressBar,
)

from skdistill import EnsembleClassifier, EnsembleRegressor, HydraDistiller, KDDistiller

FAST = dict(max_epochs=6, lr=1e-2, batch_size=32, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=240, n_features=6, n_informative=4, n_redundant=0, n_classes=3,
        random_state=0,
    )  # fmt: skip
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def teacher(data):
    return EnsembleClassifier(
        3, early_stopping=False, validation_fraction=0.0, **FAST
    ).fit(*data)


def _accuracy_of_mean(est, X, y):
    return accuracy_score(y, est.predict(X))


def test_epoch_scoring_sees_the_ensembles_mean(data):
    X, y = data
    est = EnsembleClassifier(
        3, callbacks=[EpochScoring("accuracy", name="valid_acc")], **FAST
    ).fit(X, y)
    scores = est.history_[:, "valid_acc"]
    assert len(scores) == len(est.history_)
    assert all(0.0 <= s <= 1.0 for s in scores)
    # The last epoch's score is the fitted ensemble's accuracy on the same
    # held-out rows (the net keeps the last epoch's weights: no early stop).
    assert scores[-1] > 1 / 3 + 0.1


def test_epoch_scoring_matches_the_estimator_on_its_validation_rows(data):
    X, y = data
    est = EnsembleClassifier(
        3, early_stopping=False, validation_fraction=0.25,
        callbacks=[EpochScoring("accuracy", name="valid_acc")], **FAST,
    ).fit(X, y)  # fmt: skip
    # The same split the estimator made (stratified, from its seed).
    from sklearn.model_selection import train_test_split

    _, X_va, _, y_va = train_test_split(
        X, y, test_size=0.25, random_state=est._seed(), stratify=y
    )
    assert est.history_[-1, "valid_acc"] == pytest.approx(
        _accuracy_of_mean(est, X_va, y_va)
    )


def test_training_scores_of_an_ensemble_are_its_members(data):
    X, y = data
    est = EnsembleClassifier(
        3, callbacks=[EpochScoring("accuracy", on_train=True, name="train_acc")],
        **FAST,
    ).fit(X, y)  # fmt: skip
    assert 0.0 <= est.history_[-1, "train_acc"] <= 1.0


def test_batch_scoring_and_early_stopping_on_a_score(data):
    X, y = data
    est = EnsembleClassifier(
        3,
        early_stopping=False,
        callbacks=[
            BatchScoring("accuracy", name="valid_bacc"),
            EarlyStopping(monitor="valid_bacc", lower_is_better=False, patience=2),
        ],
        **{**FAST, "max_epochs": 200},
    ).fit(X, y)
    history = est.history_
    assert all(0.0 <= v <= 1.0 for v in history[:, "valid_bacc"])
    assert len(history) < 200  # the score stopped training


def test_distiller_scores_only_labelled_rows(data, teacher):
    X, y = data
    student = HydraDistiller(
        teacher, callbacks=[EpochScoring("accuracy", name="valid_acc")],
        extra_inputs="noise", n_extra=3, **FAST,
    ).fit(X, y)  # fmt: skip
    # Extra rows are labelled -1: had they been scored, no prediction could
    # match them and the score would be at most 1 / (1 + 1 perturbed copy).
    assert student.history_[-1, "valid_acc"] > 0.6


def test_regression_scoring_is_r2_of_the_mean():
    X, y = make_regression(n_samples=200, n_features=4, noise=5.0, random_state=0)
    est = EnsembleRegressor(
        3, callbacks=[EpochScoring("r2", name="valid_r2")],
        **{**FAST, "max_epochs": 40},
    ).fit(X, y)  # fmt: skip
    assert est.history_[-1, "valid_r2"] > 0.5


def test_lr_scheduler_checkpoint_progress_bar(data, tmp_path, capsys):
    X, y = data
    est = KDDistiller(
        None,
        callbacks=[
            LRScheduler("StepLR", step_size=2, gamma=0.5),
            Checkpoint(dirname=str(tmp_path), monitor="valid_loss_best"),
            ProgressBar(),
        ],
        **FAST,
    ).fit(X, y)
    lrs = [group["lr"] for group in est.net_.optimizer_.param_groups]
    assert lrs == [pytest.approx(1e-2 * 0.5**3)]  # 6 epochs, halved every 2
    assert (tmp_path / "params.pt").exists()


def test_tensorboard(data, tmp_path):
    pytest.importorskip("tensorboard")
    from skorch.callbacks import TensorBoard
    from torch.utils.tensorboard import SummaryWriter

    X, y = data
    writer = SummaryWriter(log_dir=str(tmp_path))
    EnsembleClassifier(2, callbacks=[TensorBoard(writer)], **FAST).fit(X, y)
    writer.close()
    assert list(tmp_path.glob("events.out.tfevents.*"))
