"""What does each distiller keep of its ensemble? Quality tables, several seeds.

For every data set: the ensemble (N members) against Hydra+ with M = N, N/2
and N/4 heads, Hydra (alpha = beta = 1, no diversity, two-stage start), and
the classic baselines (KD, KD + Weighted Soft Labels, teacher-free KD, EnDD)
and a DML_e ensemble. Columns: error (or RMSE), NLL, ECE, Brier, AUROC of the
epistemic uncertainty at telling out-of-distribution inputs apart, total
variation between the model's and the ensemble's epistemic histograms,
parameters, and prediction speed as a ratio to the ensemble in the same run.

Out-of-distribution inputs: the spiral's wide grid (points far from every
arm); the toy regression's x outside [-6, 6]; digits 5-9 for a model trained
on digits 0-4; for the other tabular sets, test rows whose columns are
shuffled independently (the marginals stay, the joint structure goes).

A cross-quality table follows: on breast_cancer the student sees only the
first 10 of 30 features; teacher (all features), the student alone, and the
student distilled with KD.

    python benchmarks/bench_distill_quality.py            # updates RESULTS.md
    python benchmarks/bench_distill_quality.py --quick    # CI smoke
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
import pandas as pd
import torch
from _common import machine, markdown_table, update_results
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skdistill import (
    EnDDDistiller,
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    KDDistiller,
)
from skdistill.datasets import (
    make_spiral,
    make_spiral_ood,
    make_toy_regression,
    make_toy_regression_ood,
    ood_mask,
)
from skdistill.metrics import (
    brier_score,
    expected_calibration_error,
    mixture_nll,
    negative_log_likelihood,
    ood_auroc,
    uncertainty_tv,
)


# ------------------------------------------------------------------- data
def _shuffled_columns(X, rng):
    return np.column_stack([rng.permutation(col) for col in X.T])


def load(name, seed):
    """(X_train, X_test, y_train, y_test, X_ood, task), standardised on train."""
    rng = np.random.default_rng(seed)
    if name == "spiral":
        X, y = make_spiral(random_state=seed)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y,
                                                  random_state=seed)  # fmt: skip
        grid = make_spiral_ood()
        X_ood = grid[ood_mask(grid, X_tr, min_distance=1.0)]
        task = "classification"
    elif name == "toy regression":
        X, y = make_toy_regression(n_samples=600, random_state=seed)
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, test_size=0.3, random_state=seed
        )
        X_ood, _, is_ood = make_toy_regression_ood(random_state=seed)
        X_ood = X_ood[is_ood]
        task = "regression"
    elif name == "digits (0-4 vs 5-9)":
        X, y = load_digits(return_X_y=True)
        inside = y < 5
        X_tr, X_te, y_tr, y_te = train_test_split(
            X[inside], y[inside], test_size=0.3, stratify=y[inside], random_state=seed
        )
        X_ood = X[~inside]
        task = "classification"
    else:
        loader = {"breast_cancer": load_breast_cancer, "wine": load_wine,
                  "diabetes": load_diabetes}[name]  # fmt: skip
        X, y = loader(return_X_y=True, as_frame=True)
        X, y = X.to_numpy(), y.to_numpy()
        task = "regression" if name == "diabetes" else "classification"
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, test_size=0.3, random_state=seed,
            stratify=y if task == "classification" else None,
        )  # fmt: skip
        X_ood = _shuffled_columns(X_te, rng)
    scaler = StandardScaler().fit(X_tr)
    return (scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te,
            scaler.transform(X_ood), task)  # fmt: skip


# ----------------------------------------------------------------- models
def models(task, n_members, epochs, seed, quick):
    width = (32, 32) if quick else (128, 64)
    common = dict(max_epochs=epochs, lr=3e-3, batch_size=128, device="cpu",
                  random_state=seed)  # fmt: skip
    student = dict(common, core_layer_sizes=width[:1], head_layer_sizes=width[1:])
    Ens = EnsembleClassifier if task == "classification" else EnsembleRegressor
    ens = Ens(n_members=n_members, hidden_layer_sizes=width, **common)
    specs = {f"ensemble (N={n_members})": ("teacher", None)}
    for m in sorted({n_members, max(1, n_members // 2), max(1, n_members // 4)},
                    reverse=True):  # fmt: skip
        specs[f"Hydra+ (M={m})"] = (HydraDistiller, dict(n_heads=m))
    m = max(1, n_members // 2)
    specs[f"Hydra (M={m})"] = (
        HydraDistiller,
        dict(n_heads=m, alpha=1.0, beta=1.0, diversity=0.0, mean_head_init=True),
    )
    specs["KD"] = (KDDistiller, {})
    if task == "classification":
        specs["KD + WSL"] = (KDDistiller, dict(soft_label_weighting="wsl", alpha=2.5,
                                               temperature=2.0))  # fmt: skip
        specs["teacher-free KD"] = (KDDistiller, dict(teacher="virtual"))
        specs["EnDD"] = (EnDDDistiller, {})
        specs[f"DML_e ensemble (N={n_members})"] = (
            "ensemble",
            dict(mutual_learning=0.5),
        )
    return ens, specs, student, common


def fit_all(task, data, n_members, epochs, seed, quick):
    X_tr, _, y_tr, *_ = data
    ens, specs, student, common = models(task, n_members, epochs, seed, quick)
    ens.fit(X_tr, y_tr)
    fitted = {}
    for name, (cls, params) in specs.items():
        if cls == "teacher":
            fitted[name] = ens
        elif cls == "ensemble":
            fitted[name] = type(ens)(**{**ens.get_params(), **params}).fit(X_tr, y_tr)
        else:
            teacher = params.pop("teacher", ens)
            fitted[name] = cls(teacher=teacher, **params, **student).fit(X_tr, y_tr)
    return fitted


def _predict_time(est, X, task, repeats=3):
    call = est.predict_proba if task == "classification" else est.predict
    call(X)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        call(X)
        best = min(best, time.perf_counter() - t0)
    return best


def evaluate(fitted, data):
    _, X_te, _, y_te, X_ood, task = data
    teacher = next(iter(fitted.values()))
    ens_epi = teacher.predict_uncertainty(X_te).epistemic
    # Timed on 50k rows, the ensemble right before each model, so that load
    # drift on a shared machine cancels in each ratio.
    X_speed = np.concatenate([X_te] * max(1, 50_000 // len(X_te)))
    out = {}
    for name, est in fitted.items():
        u_in = est.predict_uncertainty(X_te).epistemic
        u_out = est.predict_uncertainty(X_ood).epistemic
        row = {}
        if task == "classification":
            proba = est.predict_proba(X_te)
            row["error %"] = 100 * np.mean(est.classes_[proba.argmax(1)] != y_te)
            row["NLL"] = negative_log_likelihood(y_te, proba, labels=est.classes_)
            row["ECE"] = expected_calibration_error(y_te, proba, labels=est.classes_)
            row["Brier"] = brier_score(y_te, proba, labels=est.classes_)
        else:
            means, variances = est.predict_members(X_te)
            row["RMSE"] = float(np.sqrt(np.mean((means.mean(0) - y_te) ** 2)))
            row["NLL"] = mixture_nll(y_te, means, variances)
        flat = np.ptp(np.concatenate([u_in, u_out])) == 0
        row["OOD AUROC"] = np.nan if flat else ood_auroc(u_in, u_out)
        row["TV"] = uncertainty_tv(ens_epi, u_in)
        row["params"] = sum(p.numel() for p in est.net_.module_.parameters())
        t_ens = _predict_time(teacher, X_speed, task)
        row["speed-up"] = t_ens / _predict_time(est, X_speed, task)
        out[name] = row
    return out


def summarise(results):
    """results: list over seeds of {model: {column: value}} -> table rows."""
    rows = []
    columns = list(next(iter(results[0].values())))
    for name in results[0]:
        cells = [name]
        for col in columns:
            vals = np.array([r[name][col] for r in results], dtype=float)
            if col == "params":
                cells.append(f"{int(vals[0]):,}")
            elif np.all(np.isnan(vals)):
                cells.append("n/a")
            else:
                fmt = ".1f" if col in ("error %", "speed-up") else ".3f"
                cells.append(f"{np.nanmean(vals):{fmt}} ± {np.nanstd(vals):{fmt}}")
        rows.append(cells)
    return ["model", *columns], rows


def cross_quality(seeds, epochs, quick):
    rows = defaultdict(list)
    for seed in seeds:
        X_tr, X_te, y_tr, y_te, _, _ = load("breast_cancer", seed)
        common = dict(max_epochs=epochs, lr=3e-3, batch_size=128, device="cpu",
                      random_state=seed)  # fmt: skip
        first10 = ColumnTransformer([("first", "passthrough", list(range(10)))])
        teacher = EnsembleClassifier(n_members=5, hidden_layer_sizes=(64,), **common)
        teacher.fit(X_tr, y_tr)
        alone = EnsembleClassifier(n_members=1, hidden_layer_sizes=(64,), **common)
        alone.fit(X_tr[:, :10], y_tr)
        distilled = KDDistiller(teacher=teacher, student_transform=first10,
                                core_layer_sizes=(64,), head_layer_sizes=(),
                                **common).fit(X_tr, y_tr)  # fmt: skip
        for name, proba in [
            ("teacher, all 30 features", teacher.predict_proba(X_te)),
            ("student alone, first 10 features", alone.predict_proba(X_te[:, :10])),
            ("student distilled (KD), first 10", distilled.predict_proba(X_te)),
        ]:
            rows[name].append((100 * np.mean(proba.argmax(1) != y_te),
                               negative_log_likelihood(y_te, proba),
                               expected_calibration_error(y_te, proba)))  # fmt: skip
    table = []
    for name, vals in rows.items():
        v = np.array(vals)
        table.append([name] + [f"{v[:, j].mean():.3f} ± {v[:, j].std():.3f}"
                               for j in range(3)])  # fmt: skip
    return ["model", "error %", "NLL", "ECE"], table


DATASETS = ["spiral", "toy regression", "digits (0-4 vs 5-9)", "breast_cancer",
            "wine", "diabetes"]  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (1: these networks are small, and one thread "
        "keeps timings stable on a shared machine)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.seeds, args.members, args.epochs = 1, 4, 2
        args.datasets = ["spiral", "toy regression", "breast_cancer"]
    seeds = range(args.seeds)
    sections = [
        f"Ensemble of N={args.members} MLPs (128-64), students with a 128 core and "
        f"64-unit heads, Adam lr 3e-3, batch 128, {args.epochs} epochs, "
        f"{args.seeds} seeds (mean ± std), {args.threads} torch thread(s). "
        f"Measured on: {machine()}.\n"
    ]
    for name in args.datasets:
        per_seed = []
        for seed in seeds:
            data = load(name, seed)
            fitted = fit_all(
                data[-1], data, args.members, args.epochs, seed, args.quick
            )
            per_seed.append(evaluate(fitted, data))
        headers, rows = summarise(per_seed)
        sections.append(f"### {name}\n\n{markdown_table(headers, rows)}\n")
        print(sections[-1], flush=True)
        if not args.quick:  # keep what is done, should a long run be stopped
            update_results("distill_quality", "\n".join(sections))
    headers, rows = cross_quality(seeds, args.epochs, args.quick)
    sections.append(
        "### cross-quality: breast_cancer, the student sees 10 of 30 features\n\n"
        + markdown_table(headers, rows) + "\n"
    )  # fmt: skip
    print(sections[-1])
    if not args.quick:
        update_results("distill_quality", "\n".join(sections))


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    main()
