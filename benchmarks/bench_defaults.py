"""Which defaults? The ensembles' training settings, and students at the defaults.

Most users never change a default, so they are chosen here by measurement on
every bundled table (scikit-learn's iris, wine, breast_cancer, digits and
diabetes, and the package's spiral and toy regression), standardised, with a
stratified 75/25 split and several seeds.

1. **Ensemble settings** (5 members each), on held-out rows:

   * ``fixed-256``: 100 epochs of 256-row batches, no early stopping (the
     defaults until version 0.2);
   * ``fixed-auto``: 100 epochs with ``batch_size="auto"`` (about ten steps
     per epoch, 16 to 200 rows);
   * ``early-stop``: ``batch_size="auto"``, early stopping on 10% of the rows
     (patience 20), at most 500 epochs;

   beside scikit-learn's ``MLPClassifier``/``MLPRegressor`` and
   ``HistGradientBoosting`` at their defaults. Columns: accuracy (or RMSE),
   NLL (Gaussian NLL for regression, in standardised-target units), epochs
   run, fit seconds.

2. **Students at the defaults** (``HydraDistiller()``, ``KDDistiller()``,
   ``EnDDDistiller()`` given only the fitted teacher): their accuracy (RMSE)
   against the teacher's, the issue's bar being within one point.

    python benchmarks/bench_defaults.py            # updates RESULTS.md
    python benchmarks/bench_defaults.py --quick    # CI smoke
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from _common import machine, markdown_table, update_results
from scipy.stats import norm
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
)
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

from skdistill import (
    EnDDDistiller,
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    KDDistiller,
)
from skdistill.datasets import make_spiral, make_toy_regression
from skdistill.metrics import negative_log_likelihood

SETS = {
    "iris": ("classification", lambda: load_iris(return_X_y=True)),
    "wine": ("classification", lambda: load_wine(return_X_y=True)),
    "breast_cancer": ("classification", lambda: load_breast_cancer(return_X_y=True)),
    "digits": ("classification", lambda: load_digits(return_X_y=True)),
    "spiral": ("classification", lambda: make_spiral(150, random_state=0)),
    "diabetes": ("regression", lambda: load_diabetes(return_X_y=True)),
    "toy_regression": (
        "regression",
        lambda: make_toy_regression(400, random_state=0)[:2],
    ),
}

SETTINGS = {
    "fixed-256": dict(batch_size=256, max_epochs=100),
    "fixed-auto": dict(batch_size="auto", max_epochs=100),
    "early-stop": dict(
        batch_size="auto",
        max_epochs=500,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
    ),
}


def split(name, seed):
    task, load = SETS[name]
    X, y = load()
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X,
        y,
        test_size=0.25,
        random_state=seed,
        stratify=y if task == "classification" else None,
    )
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    if task == "regression":  # standardised targets: comparable NLLs
        mu, sd = y_tr.mean(), y_tr.std()
        y_tr, y_te = (y_tr - mu) / sd, (y_te - mu) / sd
    return task, X_tr, X_te, y_tr, y_te


def quality(task, model, X_te, y_te, residual_std=None):
    """(accuracy or RMSE, NLL) on the test rows."""
    if task == "classification":
        proba = model.predict_proba(X_te)
        acc = float(np.mean(model.classes_[proba.argmax(1)] == y_te))
        return acc, negative_log_likelihood(y_te, proba, labels=model.classes_)
    if residual_std is None:
        mean, std = model.predict(X_te, return_std=True)
    else:  # point regressors: a Gaussian with their training residual std
        mean, std = model.predict(X_te), np.full(len(X_te), residual_std)
    rmse = float(np.sqrt(np.mean((mean - y_te) ** 2)))
    return rmse, float(-norm.logpdf(y_te, mean, np.maximum(std, 1e-6)).mean())


def baselines(task, seed):
    if task == "classification":
        return {
            "sklearn MLP": MLPClassifier(max_iter=500, random_state=seed),
            "HistGradientBoosting": HistGradientBoostingClassifier(random_state=seed),
        }
    return {
        "sklearn MLP": MLPRegressor(max_iter=500, random_state=seed),
        "HistGradientBoosting": HistGradientBoostingRegressor(random_state=seed),
    }


def run(names, seeds, quick):
    rows, student_rows = [], []
    for name in names:
        per = {}
        gaps = {}
        for seed in seeds:
            task, X_tr, X_te, y_tr, y_te = split(name, seed)
            cls = EnsembleClassifier if task == "classification" else EnsembleRegressor
            teacher = None
            for label, opts in SETTINGS.items():
                if quick:
                    opts = {**opts, "max_epochs": min(opts["max_epochs"], 5)}
                t0 = time.perf_counter()
                model = cls(n_members=5, random_state=seed, device="cpu", **opts)
                model.fit(X_tr, y_tr)
                seconds = time.perf_counter() - t0
                score, nll = quality(task, model, X_te, y_te)
                per.setdefault(label, []).append(
                    (score, nll, len(model.history_), seconds)
                )
                if label == "early-stop":
                    teacher = model
            for label, model in baselines(task, seed).items():
                if quick and label != "sklearn MLP":
                    continue
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(X_tr, y_tr)
                seconds = time.perf_counter() - t0
                resid = None
                if task == "regression":
                    resid = float(np.std(y_tr - model.predict(X_tr)))
                score, nll = quality(task, model, X_te, y_te, resid)
                per.setdefault(label, []).append((score, nll, np.nan, seconds))
            # Students at the defaults, given only the fitted teacher.
            t_score, _ = quality(task, teacher, X_te, y_te)
            students = {"Hydra+": HydraDistiller, "KD": KDDistiller}
            if task == "classification":
                students["EnDD"] = EnDDDistiller
            for label, student_cls in students.items():
                opts = {"max_epochs": 5} if quick else {}
                student = student_cls(teacher, random_state=seed, device="cpu", **opts)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    student.fit(X_tr, y_tr)
                score, _ = quality(task, student, X_te, y_te)
                gaps.setdefault(label, []).append(
                    (score, t_score, len(student.history_))
                )
        task = SETS[name][0]
        metric = "accuracy" if task == "classification" else "RMSE"
        for label, values in per.items():
            v = np.asarray(values, dtype=float)
            epochs = "-" if np.isnan(v[:, 2]).all() else f"{v[:, 2].mean():.0f}"
            rows.append(
                [
                    name,
                    label,
                    metric,
                    f"{v[:, 0].mean():.3f} ± {v[:, 0].std():.3f}",
                    f"{v[:, 1].mean():.3f} ± {v[:, 1].std():.3f}",
                    epochs,
                    f"{v[:, 3].mean():.1f}",
                ]
            )
        for label, values in gaps.items():
            v = np.asarray(values, dtype=float)
            student_rows.append(
                [
                    name,
                    label,
                    metric,
                    f"{v[:, 1].mean():.3f}",
                    f"{v[:, 0].mean():.3f}",
                    f"{v[:, 0].mean() - v[:, 1].mean():+.3f}",
                    f"{v[:, 2].mean():.0f}",
                ]
            )
    return rows, student_rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    names = ["iris", "diabetes"] if args.quick else list(SETS)
    seeds = [0] if args.quick else list(range(args.seeds))
    t0 = time.perf_counter()
    rows, student_rows = run(names, seeds, args.quick)
    text = (
        f"Measured on {machine()}, {len(seeds)} seed(s) (mean ± std over seeds); "
        f"{time.perf_counter() - t0:.0f} s in all. Score: accuracy for "
        "classification, RMSE (standardised y) for regression. NLL: "
        "classification NLL; for regression the Gaussian NLL of standardised "
        "y (point regressors: their training residual std).\n\n"
        + markdown_table(
            ["data", "model", "score", "value", "NLL", "epochs", "fit s"], rows
        )
        + "\n\nStudents at the package defaults, given only the early-stopped "
        "teacher (accuracy or RMSE on the test rows):\n\n"
        + markdown_table(
            ["data", "student", "score", "teacher", "student", "difference", "epochs"],
            student_rows,
        )
    )
    print(text)
    if not args.quick:
        update_results("Defaults", text)


if __name__ == "__main__":
    main()
