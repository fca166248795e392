"""Cross-quality distillation on images: a teacher on 8x8 digits, a student on 4x4.

The cross-quality setting (a teacher that sees full-resolution images, a
student that sees degraded ones) on scikit-learn's bundled digits: the
teacher, an ensemble of 5, sees the 8x8 images; the student sees the same
images average-pooled to 4x4 (``student_transform``, 16 pixels instead of
64). Rows: the teacher; the student's network trained alone on 4x4 images
(an ensemble of one, same size, same defaults); and the student distilled
by KD and by Hydra+ through ``student_transform``. Test accuracy, NLL and
ECE, mean ± std over seeds.

    python benchmarks/bench_cross_quality.py            # updates RESULTS.md
    python benchmarks/bench_cross_quality.py --quick    # CI smoke
    python benchmarks/bench_cross_quality.py --cnn      # the same as images

With ``--cnn`` the digits are ``(n, 1, 8, 8)`` images: the teacher is an
ensemble of 5 small CNNs on 8x8, the student a CNN of the same layers on
the 4x4 average-pooled images (``student_transform`` returns ``(n, 1, 4,
4)``; the student's ``core`` is convolutional, KD and Hydra+ alike).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from _common import machine, markdown_table, update_results
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from torch import nn

from skdistill import EnsembleClassifier, HydraDistiller, KDDistiller
from skdistill.metrics import expected_calibration_error, negative_log_likelihood


def pool_4x4(X):
    """8x8 images (64 columns) -> 4x4 by averaging each 2x2 block (16 columns)."""
    X = np.asarray(X, dtype=np.float64).reshape(-1, 4, 2, 4, 2)
    return X.mean(axis=(2, 4)).reshape(-1, 16)


def pool_images(X):
    """(n, 1, 8, 8) images -> (n, 1, 4, 4), each 2x2 block averaged."""
    X = np.asarray(X, dtype=np.float32)
    return X.reshape(len(X), 1, 4, 2, 4, 2).mean(axis=(3, 5))


def conv_layers(channels=16):
    """Two 3x3 convolutions (same size), flattened: works on 8x8 and 4x4."""
    return [
        nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(),
        nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(), nn.Flatten(),
    ]  # fmt: skip


def cnn(side, channels=16):
    return nn.Sequential(*conv_layers(channels), nn.Linear(channels * side * side, 10))


def run_cnn(seeds, quick):
    """The cross-quality table with images and convolutional networks."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    if quick:
        X, y = X[:300], y[:300]
    ch = 4 if quick else 16
    epochs = {"max_epochs": 3} if quick else {}
    results = {}
    for seed in seeds:
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, test_size=0.3, stratify=y, random_state=seed
        )
        common = dict(random_state=seed, device="cpu", **epochs)
        teacher = EnsembleClassifier(module=cnn(8, ch), **common).fit(X_tr, y_tr)
        alone = EnsembleClassifier(n_members=1, module=cnn(4, ch), **common)
        alone.fit(pool_images(X_tr), y_tr)
        models = {
            "teacher, 8x8 CNNs (ensemble of 5)": (teacher, X_te),
            "student CNN alone, 4x4": (alone, pool_images(X_te)),
        }
        pool = FunctionTransformer(pool_images)
        core = nn.Sequential(*conv_layers(ch))
        head = nn.Linear(ch * 16, 10)
        for name, est in (
            ("KD student CNN, 4x4", KDDistiller(teacher, core=core, **common)),
            ("Hydra+ student CNN, 4x4 (M=5)",
             HydraDistiller(teacher, core=core, head=head, **common)),
        ):  # fmt: skip
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.set_params(student_transform=pool).fit(X_tr, y_tr)
            models[name] = (est, X_te)
        for name, (model, X_eval) in models.items():
            results.setdefault(name, []).append(scores(model, X_eval, y_te))
    return _rows(results)


def _rows(results):
    rows = []
    for name, values in results.items():
        v = np.asarray(values)
        rows.append(
            [name] + [f"{v[:, i].mean():.3f} ± {v[:, i].std():.3f}" for i in range(3)]
        )
    return rows


def low_resolution():
    """The student's view: pooled to 4x4, then standardised."""
    return make_pipeline(FunctionTransformer(pool_4x4), StandardScaler())


def scores(model, X, y):
    proba = model.predict_proba(X)
    return (
        float(np.mean(model.classes_[proba.argmax(1)] == y)),
        negative_log_likelihood(y, proba, labels=model.classes_),
        expected_calibration_error(y, proba, labels=model.classes_),
    )


def run(seeds, quick):
    X, y = load_digits(return_X_y=True)
    if quick:
        X, y = X[:300], y[:300]
    results = {}
    for seed in seeds:
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, test_size=0.3, stratify=y, random_state=seed
        )
        epochs = {"max_epochs": 5} if quick else {}
        teacher = make_pipeline(
            StandardScaler(),
            EnsembleClassifier(random_state=seed, device="cpu", **epochs),
        ).fit(X_tr, y_tr)
        low = low_resolution().fit(X_tr)
        # The student's network alone: an ensemble of one, at the defaults
        # (early-stopped, as the teacher).
        alone = EnsembleClassifier(
            n_members=1, random_state=seed, device="cpu", **epochs
        ).fit(low.transform(X_tr), y_tr)
        models = {
            "teacher, 8x8 (ensemble of 5)": (teacher, X_te),
            "student alone, 4x4": (alone, low.transform(X_te)),
        }
        for name, cls, extra in (
            ("KD student, 4x4", KDDistiller, {}),
            ("Hydra+ student, 4x4 (M=5)", HydraDistiller, {}),
        ):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                student = cls(
                    teacher,
                    student_transform=low_resolution(),
                    random_state=seed,
                    device="cpu",
                    **extra,
                    **epochs,
                ).fit(X_tr, y_tr)
            models[name] = (student, X_te)
        for name, (model, X_eval) in models.items():
            results.setdefault(name, []).append(scores(model, X_eval, y_te))
    return _rows(results)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cnn", action="store_true", help="images and CNNs")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    seeds = [0] if args.quick else list(range(args.seeds))
    if args.cnn or args.quick:
        t0 = time.perf_counter()
        rows = run_cnn(seeds, args.quick)
        text = (
            f"Measured on {machine()}, digits as (n, 1, 8, 8) images (30% test), "
            f"{len(seeds)} seed(s), mean ± std; {time.perf_counter() - t0:.0f} s. "
            "CNNs of two 3x3 convolutions (16 channels) and a linear read-out; "
            "students at the package defaults otherwise, given the fitted teacher "
            "and `student_transform` (2x2 average pooling to (n, 1, 4, 4)).\n\n"
            + markdown_table(["model", "accuracy", "NLL", "ECE"], rows)
        )
        print(text)
        if not args.quick:
            update_results("cross_quality_cnn", text)
        if args.cnn:
            return
    t0 = time.perf_counter()
    rows = run(seeds, args.quick)
    text = (
        f"Measured on {machine()}, digits (1,797 images, 30% test), "
        f"{len(seeds)} seed(s), mean ± std; {time.perf_counter() - t0:.0f} s. "
        "Students at the package defaults, given the fitted teacher and "
        "`student_transform` (2x2 average pooling, then standardising).\n\n"
        + markdown_table(["model", "accuracy", "NLL", "ECE"], rows)
    )
    print(text)
    if not args.quick:
        update_results("cross_quality_images", text)


if __name__ == "__main__":
    main()
