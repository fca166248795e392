"""Does the ensemble beat one member, and is a member inside it a normal network?

On scikit-learn's bundled digits and breast_cancer sets (standardised, a
stratified 70/30 split, several seeds):

* accuracy, NLL and ECE of the ensemble against a single network of the same
  architecture;
* the test accuracy of each member *inside* the vectorised ensemble against
  networks trained *alone* with the same settings (different seeds): the two
  distributions should agree within noise, since vectorising must not change
  the math.

    python benchmarks/bench_ensemble_quality.py            # updates RESULTS.md
    python benchmarks/bench_ensemble_quality.py --quick    # CI smoke
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import machine, markdown_table, update_results
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skdistill import EnsembleClassifier
from skdistill.metrics import expected_calibration_error, negative_log_likelihood

LOADERS = {"digits": load_digits, "breast_cancer": load_breast_cancer}


def split(name, seed):
    X, y = LOADERS[name](return_X_y=True, as_frame=True)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=seed
    )
    scaler = StandardScaler().fit(X_tr)
    return (
        scaler.transform(X_tr),
        scaler.transform(X_te),
        y_tr.to_numpy(),
        y_te.to_numpy(),
    )


def scores(y, proba, classes):
    return (
        float(np.mean(classes[proba.argmax(1)] == y)),
        negative_log_likelihood(y, proba, labels=classes),
        expected_calibration_error(y, proba, labels=classes),
    )


def run(datasets, seeds, n_members, epochs):
    quality, equivalence = [], []
    for name in datasets:
        ens_s, single_s, inside_acc, alone_acc = [], [], [], []
        for seed in seeds:
            X_tr, X_te, y_tr, y_te = split(name, seed)
            common = dict(hidden_layer_sizes=(100,), max_epochs=epochs, lr=1e-3,
                          batch_size=64, device="cpu")  # fmt: skip
            ens = EnsembleClassifier(n_members=n_members, random_state=seed, **common)
            ens.fit(X_tr, y_tr)
            members = ens.predict_members(X_te)
            ens_s.append(scores(y_te, members.mean(0), ens.classes_))
            inside_acc += [
                float(np.mean(ens.classes_[m.argmax(1)] == y_te)) for m in members
            ]
            for k in range(n_members):
                one = EnsembleClassifier(
                    n_members=1, random_state=1000 * seed + k, **common
                ).fit(X_tr, y_tr)
                proba = one.predict_proba(X_te)
                alone_acc.append(scores(y_te, proba, one.classes_)[0])
                if k == 0:
                    single_s.append(scores(y_te, proba, one.classes_))
        ens_s, single_s = np.array(ens_s), np.array(single_s)
        for label, s in [
            (f"ensemble (N={n_members})", ens_s),
            ("single network", single_s),
        ]:
            quality.append([name, label] + [
                f"{s[:, j].mean():.4f} ± {s[:, j].std():.4f}" for j in range(3)
            ])  # fmt: skip
        equivalence.append([
            name,
            f"{np.mean(inside_acc):.4f} ± {np.std(inside_acc):.4f} ({len(inside_acc)})",
            f"{np.mean(alone_acc):.4f} ± {np.std(alone_acc):.4f} ({len(alone_acc)})",
        ])  # fmt: skip
    return quality, equivalence


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args(argv)
    datasets = list(LOADERS)
    if args.quick:
        args.seeds, args.members, args.epochs = 1, 2, 2
    quality, equivalence = run(datasets, range(args.seeds), args.members, args.epochs)
    text = (
        f"MLP 100 hidden units, Adam lr 1e-3, batch 64, {args.epochs} epochs, "
        f"{args.seeds} seeds (mean ± std over seeds), test split 30%. "
        f"Measured on: {machine()}.\n\n"
        + markdown_table(["data", "model", "accuracy", "NLL", "ECE"], quality)
        + "\n\nTest accuracy of a member inside the vectorised ensemble against a "
        "network trained alone with the same settings (mean ± std over members "
        "and seeds, count in brackets):\n\n"
        + markdown_table(
            ["data", "member inside the ensemble", "network alone"], equivalence
        )  # fmt: skip
    )
    print(text)
    if not args.quick:
        update_results("ensemble_quality", text)


if __name__ == "__main__":
    main()
