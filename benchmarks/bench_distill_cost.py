"""What does distillation cost? Student fit time, parameters, prediction speed.

The teacher (an ``EnsembleClassifier`` of N MLPs at its default sizes) is
fitted beforehand and not counted. Then, in the same run and with the same
settings (a fixed number of epochs, ``early_stopping=False``, so times
compare per epoch), each of these is fitted and timed:

* the ensemble itself (N members, stacked);
* one member alone (an ``EnsembleClassifier`` with ``n_members=1``);
* Hydra+ with M = N and M = N/4 heads, Hydra (M = N/4: alpha = beta = 1, no
  diversity, two-stage start), KD and EnDD, every student at the package
  defaults otherwise (its size follows the teacher).

A student's fit includes running the teacher on the training rows and their
perturbed copies (once per fit). Repeats are interleaved (one round fits
everything once), and each time is the median over rounds. Parameters are
the student's against the ensemble's; prediction speed is ``predict_proba``
rows per second on ``--predict-rows`` rows, best of the rounds, as a ratio
to the ensemble's.

With ``--defaults``, one more table: ensemble, one member and students all
at their own defaults (early stopping), one round.

    python benchmarks/bench_distill_cost.py            # updates RESULTS.md
    python benchmarks/bench_distill_cost.py --quick    # CI smoke, prints only
"""

from __future__ import annotations

import argparse
import warnings
from functools import partial

import numpy as np
import torch
from _common import machine, markdown_table, timed, update_results
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.preprocessing import StandardScaler

from skdistill import EnDDDistiller, EnsembleClassifier, HydraDistiller, KDDistiller

#: Targets (issue 15): Hydra+ at M = N/4 heads.
FIT_TARGET = 2.0  # its fit at most this many times one member's
PREDICT_TARGET = 5.0  # its prediction at least this many times the ensemble's


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def load(name, quick):
    if name == "synthetic":
        X, y = make_classification(
            n_samples=600 if quick else 3000, n_features=8, n_informative=6,
            n_redundant=0, n_classes=3, n_clusters_per_class=2, random_state=0,
        )  # fmt: skip
    elif name == "large":  # where the arithmetic, not the step count, is the cost
        X, y = make_classification(
            n_samples=100_000, n_features=32, n_informative=20, n_redundant=0,
            n_classes=10, n_clusters_per_class=2, random_state=0,
        )  # fmt: skip
    else:
        X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X).astype(np.float32), y


def n_params(est) -> int:
    return sum(p.numel() for p in est.net_.module_.parameters())


def ensemble(n_members, epochs, defaults, device="cpu"):
    fixed = {} if defaults else dict(max_epochs=epochs, early_stopping=False)
    return EnsembleClassifier(n_members=n_members, device=device, random_state=0,
                              **fixed)  # fmt: skip


def students(n_members, epochs, defaults, device="cpu"):
    quarter = max(1, n_members // 4)
    fixed = {} if defaults else dict(max_epochs=epochs, early_stopping=False)
    specs = {
        f"Hydra+ (M={n_members})": (HydraDistiller, dict(n_heads=n_members)),
        f"Hydra+ (M={quarter})": (HydraDistiller, dict(n_heads=quarter)),
        f"Hydra (M={quarter})": (
            HydraDistiller,
            dict(
                n_heads=quarter, alpha=1.0, beta=1.0, diversity=0.0, mean_head_init=True
            ),
        ),  # fmt: skip
        "KD": (KDDistiller, {}),
        "EnDD": (EnDDDistiller, {}),
    }
    return {
        name: cls(device=device, random_state=0, **kw, **fixed)
        for name, (cls, kw) in specs.items()
    }


def measure(
    name, n_members, epochs, rounds, predict_rows, quick, defaults=False, device="cpu"
):
    """Rows of the table for one data set and one N."""
    X, y = load(name, quick)
    X_pred = np.resize(X, (predict_rows, X.shape[1]))
    teacher = ensemble(n_members, epochs, defaults, device).fit(X, y)  # not timed
    models = {
        f"ensemble (N={n_members})": ensemble(n_members, epochs, defaults, device),
        "one member": ensemble(1, epochs, defaults, device),
        **students(n_members, epochs, defaults, device),
    }
    times = {label: [] for label in models}
    fitted = {}
    for _ in range(rounds):  # interleaved: load drift hits every model alike
        for label, spec in models.items():
            est = clone(spec)
            if not isinstance(spec, EnsembleClassifier):
                est.set_params(teacher=teacher)  # fitted: used as it is
            times[label].append(timed(partial(est.fit, X, y), device))
            fitted[label] = est
    rates = {label: [] for label in models}
    for label in rates:  # warm-up: first calls pay for allocations
        fitted[label].predict_proba(X_pred[:1000])
    for _ in range(rounds):
        for label in (next(iter(models)), *list(models)[2:]):
            seconds = timed(partial(fitted[label].predict_proba, X_pred), device)
            rates[label].append(len(X_pred) / seconds)
    t = {label: float(np.median(v)) for label, v in times.items()}
    t_ens, t_one = t[f"ensemble (N={n_members})"], t["one member"]
    rate_ens = max(rates[f"ensemble (N={n_members})"])
    p_ens = n_params(fitted[f"ensemble (N={n_members})"])
    rows, checks = [], []
    for label, est in fitted.items():
        epochs_run = len(est.history_)
        p = n_params(est)
        rate = max(rates[label]) if rates.get(label) else None
        rows.append([
            name, n_members, label, epochs_run, f"{t[label]:.2f}",
            f"{t[label] / t_ens:.2f}x", f"{t[label] / t_one:.2f}x",
            f"{p:,}", f"{p / p_ens:.2f}x",
            f"{rate / 1e3:,.0f}k" if rate else "",
            f"{rate / rate_ens:.1f}x" if rate else "",
        ])  # fmt: skip
        print(rows[-1], flush=True)
        if not label.startswith(("Hydra", "KD", "EnDD")):
            continue
        when = "at the defaults" if defaults else f"{epochs} epochs"
        # Issue 15: the default student never outgrows its ensemble, and its
        # fit costs less than the ensemble's.
        if not defaults:
            checks.append([name, n_members, label, "params <= ensemble",
                           f"{p / p_ens:.2f}x", _verdict(p <= p_ens)])  # fmt: skip
        checks.append([name, n_members, label, f"fit < ensemble ({when})",
                       f"{t[label] / t_ens:.2f}x",
                       _verdict(t[label] < t_ens)])  # fmt: skip
        quarter = max(1, n_members // 4)
        if label == f"Hydra+ (M={quarter})":
            fit_ratio, speed_up = t[label] / t_one, rate / rate_ens
            checks += [
                [name, n_members, label,
                 f"fit <= {FIT_TARGET:g}x one member ({when})",
                 f"{fit_ratio:.2f}x", _verdict(fit_ratio <= FIT_TARGET)],
                [name, n_members, label, f"predict >= {PREDICT_TARGET:g}x ensemble",
                 f"{speed_up:.1f}x", _verdict(speed_up >= PREDICT_TARGET)],
            ]  # fmt: skip
    return rows, checks


HEADERS = [
    "data", "N", "model", "epochs", "fit s", "fit / ensemble", "fit / one member",
    "params", "params / ensemble", "predict rows/s", "predict speed-up",
]  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny CI smoke run")
    parser.add_argument("--members", type=int, nargs="+", default=[8])
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=["synthetic", "breast_cancer"],
        choices=["synthetic", "breast_cancer", "large"],
        help="large: 100,000 rows, 32 features, 10 classes (slow; try --epochs 2 "
        "--rounds 1)",
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--predict-rows", type=int, default=100_000)
    parser.add_argument(
        "--defaults",
        action="store_true",
        help="also a table at every model's defaults (one round)",
    )
    parser.add_argument(
        "--defaults-only",
        action="store_true",
        help="only the table at the defaults (its own section of RESULTS.md)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (1: steadier on a shared machine)",
    )
    parser.add_argument(
        "--note", default="", help="appended to the machine line (e.g. other load)"
    )
    parser.add_argument(
        "--device", default="cpu", help="where every model trains and predicts"
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.datasets, args.epochs = [4], ["synthetic"], 2
        args.rounds, args.predict_rows = 1, 5_000
        args.defaults = args.defaults_only = False
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    where = (
        f"{args.threads} torch thread(s), device `{args.device}`; prediction: "
        f"`predict_proba` on {args.predict_rows:,} rows, best of the rounds. "
        "synthetic: 3,000 rows, 8 features, 3 classes; breast_cancer: 569 rows, "
        "30 features; large: 100,000 rows, 32 features, 10 classes. "
        f"Measured on: {machine()}{args.note}."
    )

    def table(rounds, defaults):
        """Rows and target checks over every N and data set."""
        rows, checks = [], []
        for n in args.members:
            for name in args.datasets:
                r, c = measure(name, n, args.epochs, rounds, args.predict_rows,
                               args.quick, defaults, args.device)  # fmt: skip
                rows += r
                checks += c
        return rows, checks

    text = ""
    if not args.defaults_only:
        rows, checks = table(args.rounds, defaults=False)
        text = (
            f"Teacher fitted beforehand (not counted); every model {args.epochs} "
            f"epochs, `early_stopping=False`, MLPs at the package defaults (100 "
            f"hidden units), median of {args.rounds} interleaved rounds, {where}"
            f"\n\n{markdown_table(HEADERS, rows)}\n\n### targets\n\n"
            + markdown_table(["data", "N", "model", "target", "measured", ""], checks)
            + "\n"
        )
    if args.defaults or args.defaults_only:
        rows, checks = table(1, defaults=True)
        text += (
            "\n### at the defaults (early stopping), one round\n\n"
            + (f"Teacher at its defaults, fitted beforehand; {where}\n\n"
               if args.defaults_only else "")
            + markdown_table(HEADERS, rows)
            + "\n\n"
            + markdown_table(["data", "N", "model", "target", "measured", ""], checks)
            + "\n"
        )  # fmt: skip
    print(text)
    if not (args.quick or args.no_write):
        section = f"distill_cost_{torch.device(args.device).type}"
        update_results(section + ("_defaults" if args.defaults_only else ""), text)


if __name__ == "__main__":
    main()
