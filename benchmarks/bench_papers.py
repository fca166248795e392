"""Both forms of the papers' methods, side by side (issue 16).

* Deep mutual learning (Zhang et al., 2018): ``EnsembleClassifier`` with
  ``mutual_learning=0.5`` in its two forms, ``mutual_learning_form="ensemble"``
  (DML_e, each member matches the mean of the others) and ``"cohort"`` (the
  paper's eq. 10, each member matches every other one), with independent
  members (``mutual_learning=0``) as the reference.
* Teacher-free KD (Yuan et al., 2020): ``KDDistiller(teacher="virtual")``
  with the virtual teacher tempered as ``softmax(log q / T)``
  (``virtual_form="log"``) or as Yuan et al.'s ``softmax(q / T)``
  (``virtual_form="yuan"``), everything else at the package defaults
  (``T = 4``, ``alpha = 0.9``, ``virtual_a = 0.9``).

On the bundled data sets (sklearn's breast_cancer, wine and digits,
skdistill's spiral), each fitted on 75% of the rows (standardised) and scored
on the other 25%, over 3 seeds (split and initialisation). Columns: accuracy,
NLL and ECE (15 bins) as mean +- standard deviation over the seeds; the
standard deviation is the method's instability.

    python benchmarks/bench_papers.py           # updates RESULTS.md
    python benchmarks/bench_papers.py --quick   # CI smoke, < 60 s
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import machine, markdown_table, update_results
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skdistill import EnsembleClassifier, KDDistiller
from skdistill.datasets import make_spiral
from skdistill.metrics import expected_calibration_error, negative_log_likelihood

DATASETS = ["breast_cancer", "wine", "digits", "spiral"]
SEEDS = [0, 1, 2]


def load(name: str, seed: int):
    if name == "spiral":
        X, y = make_spiral(random_state=seed)
    else:
        loader = {
            "breast_cancer": load_breast_cancer,
            "wine": load_wine,
            "digits": load_digits,
        }[name]
        X, y = loader(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=seed
    )
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te


def methods(quick: bool):
    epochs = 15 if quick else 150
    net = dict(hidden_layer_sizes=(64,), max_epochs=epochs, batch_size=64)
    student = dict(core_layer_sizes=(64,), max_epochs=3 * epochs if not quick else 15)

    def ens(w, form):
        return lambda seed: EnsembleClassifier(
            n_members=5,
            mutual_learning=w,
            mutual_learning_form=form,
            random_state=seed,
            **net,
        )

    def tfkd(form):
        return lambda seed: KDDistiller(
            teacher="virtual", virtual_form=form, random_state=seed, **student
        )

    return {
        "DML": {
            "independent (w=0)": ens(0.0, "ensemble"),
            "DML_e (w=0.5)": ens(0.5, "ensemble"),
            "cohort DML (w=0.5)": ens(0.5, "cohort"),
        },
        "Tf-KD": {
            "virtual_form='log'": tfkd("log"),
            "virtual_form='yuan'": tfkd("yuan"),
        },
    }


def score(model, X_te, y_te):
    proba = model.predict_proba(X_te)
    return (
        float(np.mean(model.classes_[proba.argmax(1)] == y_te)),
        negative_log_likelihood(y_te, proba, labels=model.classes_),
        expected_calibration_error(y_te, proba, labels=model.classes_),
    )


def fmt(values, digits=3) -> str:
    values = np.asarray(values)
    return f"{values.mean():.{digits}f} +- {values.std():.{digits}f}"


def run(datasets, seeds, quick):
    tables = {}
    for group, entries in methods(quick).items():
        rows = []
        for name in datasets:
            splits = [load(name, seed) for seed in seeds]
            for label, make in entries.items():
                scores = []
                for seed, (X_tr, X_te, y_tr, y_te) in zip(seeds, splits):
                    model = make(seed).fit(X_tr, y_tr)
                    scores.append(score(model, X_te, y_te))
                acc, nll, ece = np.array(scores).T
                rows.append([name, label, fmt(acc), fmt(nll), fmt(ece)])
                print(" | ".join(rows[-1]), flush=True)
        tables[group] = markdown_table(
            ["data", "method", "accuracy", "NLL", "ECE"], rows
        )
    return tables


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke run")
    args = parser.parse_args()
    datasets = ["wine"] if args.quick else DATASETS
    seeds = SEEDS[:2] if args.quick else SEEDS
    start = time.perf_counter()
    tables = run(datasets, seeds, args.quick)
    elapsed = time.perf_counter() - start
    body = (
        f"Measured on {machine()} in {elapsed:.0f} s; mean +- std over seeds "
        f"{seeds}.\n\n**Deep mutual learning** (5 members)\n\n{tables['DML']}\n\n"
        f"**Teacher-free KD**\n\n{tables['Tf-KD']}\n"
    )
    print(body)
    if not args.quick:
        update_results("papers", body)


if __name__ == "__main__":
    main()
