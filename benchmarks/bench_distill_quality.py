"""What does each distiller keep of its ensemble? Quality and fidelity tables.

For every data set: the ensemble (N = 8 members, early-stopped on a held-out
10% of the training rows, so an overfit teacher does not flatter its
students) against Hydra+ with M = N, N/2 and N/4 heads, Hydra (alpha = beta =
1, no diversity, two-stage start), KD and EnDD. **Every student runs at the
package defaults** (only ``n_heads`` is set), so the tables show what a user
gets.

Columns: error (or RMSE), NLL, ECE; then the fidelity of the epistemic
uncertainty, on the test split ("in") and on out-of-distribution inputs
("OOD"): ``ratio`` = the model's mean epistemic over the ensemble's (its
*size*), ``rho`` = Spearman correlation with the ensemble's per point (its
ranking), and the AUROC of telling OOD inputs apart by epistemic (its rise).
Parameters, and prediction speed as a ratio to the ensemble in the same run.

Out-of-distribution inputs: the spiral's wide grid (points far from every
arm); the toy regression's x outside [-6, 6]; uniform-noise images for
digits (pixels uniform on [0, 16]); for the other tables, test rows whose
columns are shuffled independently (the marginals stay, the joint structure
goes).

A targets table follows (issue 12's bar for the defaults), then, with
``--sweep``, a table of what each knob does, and a cross-quality table (on
breast_cancer the student sees only the first 10 of 30 features).

    python benchmarks/bench_distill_quality.py            # updates RESULTS.md
    python benchmarks/bench_distill_quality.py --sweep    # the knob table too
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
    epistemic_ratio,
    expected_calibration_error,
    mixture_nll,
    negative_log_likelihood,
    ood_auroc,
    uncertainty_rank_agreement,
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
    elif name == "digits images":
        # The 8x8 digits as (n, 1, 8, 8) images, for convolutional models.
        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).reshape(-1, 1, 8, 8)
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, test_size=0.3, stratify=y, random_state=seed
        )
        X_ood = rng.uniform(0, 1, size=X_te.shape)
        mean, std = X_tr.mean(), X_tr.std()
        return ((X_tr - mean) / std, (X_te - mean) / std, y_tr, y_te,
                (X_ood - mean) / std, "classification")  # fmt: skip
    elif name == "digits":
        X, y = load_digits(return_X_y=True)
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, test_size=0.3, stratify=y, random_state=seed
        )
        X_ood = rng.uniform(0, 16, size=(len(X_te), X.shape[1]))
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
class DigitCNN(torch.nn.Module):
    """An ensemble member for 8x8 images: two convolutions, pooling, read-out."""

    def __init__(self, n_classes=10, channels=16):
        super().__init__()
        nn = torch.nn
        self.body = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(channels * 16, n_classes),
        )  # fmt: skip

    def forward(self, x):
        return self.body(x)


def conv_core(channels=16):
    """A student's shared core: the member's layers up to the read-out."""
    return torch.nn.Sequential(*list(DigitCNN(channels=channels).body)[:-1])


def image_models(specs, n_classes=10, channels=16):
    """Students with a convolutional core (and linear heads, for Hydra)."""
    out = {}
    for name, (cls, params) in specs.items():
        params = {k: v for k, v in params.items() if "layer_sizes" not in k}
        params["core"] = conv_core(channels)
        if cls is HydraDistiller:
            params["head"] = torch.nn.Linear(channels * 16, n_classes)
        out[name] = (cls, params)
    return out


def teacher(task, n_members, seed, quick):
    """The ensemble: early stopping on a held-out 10%, at most 300 epochs."""
    Ens = EnsembleClassifier if task == "classification" else EnsembleRegressor
    return Ens(
        n_members=n_members,
        hidden_layer_sizes=(32,) if quick else (100,),
        max_epochs=2 if quick else 500,
        batch_size=32,
        n_iter_no_change=20,
        validation_fraction=0.1,
        early_stopping=not quick,
        device="cpu",
        random_state=seed,
    )


def student_specs(task, n_members, quick):
    """Students at the package defaults: only n_heads (and Hydra's switches) set."""
    small = (
        dict(max_epochs=2, core_layer_sizes=(16,), head_layer_sizes=(8,))
        if quick
        else {}
    )
    specs = {}
    for m in sorted({n_members, max(1, n_members // 2), max(1, n_members // 4)},
                    reverse=True):  # fmt: skip
        specs[f"Hydra+ (M={m})"] = (HydraDistiller, dict(n_heads=m, **small))
    m = max(1, n_members // 2)
    specs[f"Hydra (M={m})"] = (
        HydraDistiller,
        dict(n_heads=m, alpha=1.0, beta=1.0, diversity=0.0, mean_head_init=True,
             **small),
    )  # fmt: skip
    specs["KD"] = (KDDistiller, dict(small))
    if task == "classification":
        specs["EnDD"] = (EnDDDistiller, dict(small))
    return specs


def fit_all(task, data, n_members, seed, quick, specs=None):
    X_tr, _, y_tr, *_ = data
    ens = teacher(task, n_members, seed, quick)
    if X_tr.ndim > 2:  # images: convolutional members
        ens.set_params(module=DigitCNN(channels=4 if quick else 16))
    ens.fit(X_tr, y_tr)
    fitted = {f"ensemble (N={n_members})": ens}
    specs = specs if specs is not None else student_specs(task, n_members, quick)
    if X_tr.ndim > 2:
        specs = image_models(specs, channels=4 if quick else 16)
    for name, (cls, params) in specs.items():
        fitted[name] = cls(teacher=ens, device="cpu", random_state=seed,
                           **params).fit(X_tr, y_tr)  # fmt: skip
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


def _rho(u_teacher, u_student):
    if np.ptp(u_student) == 0:
        return np.nan
    return uncertainty_rank_agreement(u_teacher, u_student)


def evaluate(fitted, data, speed=True):
    _, X_te, _, y_te, X_ood, task = data
    teacher = next(iter(fitted.values()))
    ens_in = teacher.predict_uncertainty(X_te).epistemic
    ens_out = teacher.predict_uncertainty(X_ood).epistemic
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
        else:
            means, variances = est.predict_members(X_te)
            row["RMSE"] = float(np.sqrt(np.mean((means.mean(0) - y_te) ** 2)))
            row["NLL"] = mixture_nll(y_te, means, variances)
        row["ratio in"] = epistemic_ratio(ens_in, u_in)
        row["ratio OOD"] = epistemic_ratio(ens_out, u_out)
        row["rho in"] = _rho(ens_in, u_in)
        flat = np.ptp(np.concatenate([u_in, u_out])) == 0
        row["OOD AUROC"] = np.nan if flat else ood_auroc(u_in, u_out)
        row["TV"] = uncertainty_tv(ens_in, u_in)
        row["params"] = sum(p.numel() for p in est.net_.module_.parameters())
        if speed:
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
                fmt = ".1f" if col in ("error %", "speed-up") else ".3g"
                if col.startswith("ratio") or col in ("rho in", "OOD AUROC", "ECE"):
                    fmt = ".2f"
                cells.append(f"{np.nanmean(vals):{fmt}} ± {np.nanstd(vals):{fmt}}")
        rows.append(cells)
    return ["model", *columns], rows


def _mean(results, model, col):
    return float(np.nanmean([r[model][col] for r in results]))


def targets(name, results, task, n_members):
    """Issue 12's bar for the defaults, checked on the means over seeds."""
    ens = f"ensemble (N={n_members})"
    full, quarter = f"Hydra+ (M={n_members})", f"Hydra+ (M={max(1, n_members // 4)})"
    checks = []

    def check(model, what, value, ok):
        checks.append(
            [name, model, what, f"{value:.3g}", "met" if ok else "**missed**"]
        )

    def within(model, col, lo, hi):
        v = _mean(results, model, col)
        check(model, f"{col} in [{lo}, {hi}]", v, lo <= v <= hi)

    def auroc(model, frac):
        v = _mean(results, model, "OOD AUROC") / _mean(results, ens, "OOD AUROC")
        check(model, f"OOD AUROC >= {frac}x ensemble", v, v >= frac)

    within(full, "ratio in", 0.67, 1.5)
    within(full, "ratio OOD", 0.5, 2.0)
    v = _mean(results, full, "rho in")
    check(full, "rho in >= 0.9", v, v >= 0.9)
    auroc(full, 0.95)
    v = _mean(results, full, "NLL") / _mean(results, ens, "NLL")
    check(full, "NLL <= 1.05x ensemble", v, v <= 1.05)
    if task == "classification":
        v = _mean(results, full, "error %") - _mean(results, ens, "error %")
        check(full, "error within 0.5 points", v, v <= 0.5)
    within(quarter, "ratio in", 0.5, 2.0)
    within(quarter, "ratio OOD", 0.5, 2.0)
    auroc(quarter, 0.9)
    if task == "classification":
        within("EnDD", "ratio in", 0.5, 2.0)
        auroc("EnDD", 0.9)
        for model in results[0]:
            if model != ens:
                v = _mean(results, model, "error %") - _mean(results, ens, "error %")
                check(model, "error within 1 point (defaults)", v, v <= 1.0)
    return checks


SWEEP = {
    "defaults": {},
    "diversity=0": dict(diversity=0.0),
    "diversity=0.1": dict(diversity=0.1),
    "diversity=1": dict(diversity=1.0),
    "extra_inputs=None": dict(extra_inputs=None),
    "extra_inputs='mixup'": dict(extra_inputs="mixup"),
    "extra_inputs='noise+mixup'": dict(extra_inputs="noise+mixup"),
    "noise_scale=0.5": dict(noise_scale=0.5),
    "noise_scale=2": dict(noise_scale=2.0),
    "extra_ratio=3": dict(extra_ratio=3.0),
    "spread_calibration=False": dict(spread_calibration=False),
    "spread_calibration=True": dict(spread_calibration=True),
}


def sweep(datasets, seeds, n_members, quick):
    """One knob at a time away from the defaults, Hydra+ at M = N and N/4."""
    rows = []
    cols = ["error %", "NLL", "ratio in", "ratio OOD", "rho in", "OOD AUROC"]
    for name in datasets:
        per = defaultdict(list)
        for seed in seeds:
            data = load(name, seed)
            task = data[-1]
            ens = teacher(task, n_members, seed, quick).fit(data[0], data[2])
            specs = {}
            for knob, params in SWEEP.items():
                for m in (n_members, max(1, n_members // 4)):
                    small = dict(max_epochs=2, core_layer_sizes=(16,),
                                 head_layer_sizes=(8,)) if quick else {}  # fmt: skip
                    specs[(knob, m)] = (
                        HydraDistiller,
                        dict(n_heads=m, **params, **small),
                    )
            fitted = {"ensemble": ens}
            for key, (cls, params) in specs.items():
                fitted[key] = cls(teacher=ens, device="cpu", random_state=seed,
                                  **params).fit(data[0], data[2])  # fmt: skip
            res = evaluate(fitted, data, speed=False)
            for key in specs:
                per[key].append(res[key])
        for (knob, m), vals in per.items():
            cells = [name, knob, m]
            for col in cols:
                if col == "error %" and data[-1] == "regression":
                    col = "RMSE"
                v = np.array([r[col] for r in vals], dtype=float)
                cells.append("n/a" if np.all(np.isnan(v)) else f"{np.nanmean(v):.3g}")
            rows.append(cells)
        print(markdown_table(["data", "setting", "M", *cols], rows[-2 * len(SWEEP):]),
              flush=True)  # fmt: skip
    return ["data", "setting", "M", "error % / RMSE", *cols[1:]], rows


def cross_quality(seeds, epochs, quick):
    rows = defaultdict(list)
    for seed in seeds:
        X_tr, X_te, y_tr, y_te, _, _ = load("breast_cancer", seed)
        common = dict(max_epochs=epochs, device="cpu", random_state=seed)
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


DATASETS = ["spiral", "toy regression", "digits", "breast_cancer", "wine", "diabetes"]


def images_table(seeds, n_members, quick, write=True):
    """Digits as images: a CNN ensemble against convolutional students."""
    per_seed = []
    for seed in seeds:
        data = load("digits images", seed)
        fitted = fit_all(data[-1], data, n_members, seed, quick)
        per_seed.append(evaluate(fitted, data))
    headers, rows = summarise(per_seed)
    checks = targets("digits images", per_seed, "classification", n_members)
    body = (
        f"scikit-learn's digits as (n, 1, 8, 8) images. Ensemble of N={n_members} "
        "CNNs (two 3x3 convolutions of 16 channels, 2x2 max pooling, a linear "
        "read-out), early-stopped on 10%; students with the same convolutional "
        "layers as their shared core (Hydra: linear heads), otherwise at the "
        f"package defaults. {len(seeds)} seeds (mean ± std); out of distribution: "
        f"uniform-noise images. Measured on: {machine()}.\n\n"
        + markdown_table(headers, rows)
        + "\n\n"
        + markdown_table(["data", "model", "target", "measured", ""], checks)
    )
    print(body, flush=True)
    if write and not quick:
        update_results("distill_quality_images", body)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--sweep", action="store_true",
                        help="also the one-knob-at-a-time table (slow)")  # fmt: skip
    parser.add_argument("--sweep-only", action="store_true")
    parser.add_argument(
        "--images",
        action="store_true",
        help="only the digits as 8x8 images, convolutional ensemble and students "
        "(its own section of RESULTS.md)",
    )
    parser.add_argument("--sweep-seeds", type=int, default=2)
    parser.add_argument(
        "--no-write",
        action="store_true",
        help="print the tables only (a partial rerun would otherwise replace "
        "RESULTS.md's whole section)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (1: these networks are small, and one thread "
        "keeps timings stable on a shared machine)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sweep_sets = ["spiral", "digits", "breast_cancer"]
    write = not (args.quick or args.no_write)
    if args.quick:
        args.seeds, args.members, args.sweep_seeds = 1, 4, 1
        args.datasets = ["spiral", "toy regression", "breast_cancer"]
        sweep_sets = ["breast_cancer"]
    seeds = range(args.seeds)
    if args.images or args.quick:
        images_table(seeds, args.members, args.quick, write)
        if args.images:
            return
    if args.sweep or args.sweep_only or args.quick:
        headers, rows = sweep(sweep_sets, range(args.sweep_seeds), args.members,
                              args.quick)  # fmt: skip
        body = (
            f"Hydra+ with one setting changed from the defaults, N={args.members} "
            f"(early-stopped teacher), {args.sweep_seeds} seeds (means). "
            f"Measured on: {machine()}.\n\n" + markdown_table(headers, rows)
        )
        if write:
            update_results("distill_sweep", body)
        if args.sweep_only:
            return
    sections = [
        f"Ensemble of N={args.members} MLPs (100 units), early-stopped on 10% of the "
        "training rows (at most 500 epochs); every student at the package "
        f"defaults. {args.seeds} seeds (mean ± std), {args.threads} torch "
        f"thread(s). Measured on: {machine()}.\n"
    ]
    checks = []
    for name in args.datasets:
        per_seed = []
        for seed in seeds:
            data = load(name, seed)
            fitted = fit_all(data[-1], data, args.members, seed, args.quick)
            per_seed.append(evaluate(fitted, data))
        headers, rows = summarise(per_seed)
        sections.append(f"### {name}\n\n{markdown_table(headers, rows)}\n")
        print(sections[-1], flush=True)
        if args.members >= 4:
            checks += targets(name, per_seed, data[-1], args.members)
        if write:  # keep what is done, should a long run be stopped
            update_results("distill_quality", "\n".join(sections))
    target_table = markdown_table(["data", "model", "target", "measured", ""], checks)
    sections.append("### targets at the defaults\n\n" + target_table + "\n")
    print(sections[-1])
    headers, rows = cross_quality(seeds, 2 if args.quick else 200, args.quick)
    sections.append(
        "### cross-quality: breast_cancer, the student sees 10 of 30 features\n\n"
        + markdown_table(headers, rows) + "\n"
    )  # fmt: skip
    print(sections[-1])
    if write:
        update_results("distill_quality", "\n".join(sections))


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    main()
