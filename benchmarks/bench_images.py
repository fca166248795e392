"""Image benchmarks of the papers: a ResNet-style ensemble and its Hydra+ students.

The seeds' setting (Tran et al. 2020; Ferianc & Rodrigues 2022): an ensemble
of N ResNet-style networks on CIFAR-10, SVHN or Fashion-MNIST, distilled
into Hydra+ students with one shared convolutional core and M = N or
M = N/4 light heads. Reported on the test set: error, NLL, ECE, and the OOD
AUROC of the epistemic uncertainty (CIFAR-10 against SVHN's test images,
SVHN against CIFAR-10's, Fashion-MNIST against MNIST's when its files are
there). Sized so that one GPU finishes in minutes: a ResNet-8 (three stages
of one residual block, 16/32/64 channels, group norm so that the members
can be stacked with ``torch.vmap``), 30 epochs by default. The papers train
ResNet-18/20 for 100-300 epochs: expect their numbers only with
``--epochs 200 --width 2``.

Nothing is downloaded. ``--data-dir`` names a folder holding the data sets
in their usual distributed formats:

- CIFAR-10: ``cifar-10-batches-py/`` (the "python version" pickles);
- SVHN: ``train_32x32.mat`` and ``test_32x32.mat`` (cropped digits);
- Fashion-MNIST: ``fashion-mnist/`` with the four ``*-idx?-ubyte.gz`` files
  (MNIST, for its OOD row: ``mnist/`` with the same names).

    python benchmarks/bench_images.py --data-dir ~/data --dataset cifar10
    python benchmarks/bench_images.py --quick   # CI: random tensors, CPU

``--quick`` runs the same code on random tensors of CIFAR-10's shapes, so
that CI keeps the script alive without the data.
"""

from __future__ import annotations

import argparse
import gzip
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _common import machine, markdown_table, update_results
from torch import nn

from skdistill import EnsembleClassifier, HydraDistiller
from skdistill.metrics import (
    expected_calibration_error,
    negative_log_likelihood,
    ood_auroc,
)

DATASETS = ("cifar10", "svhn", "fashion_mnist")
OOD_OF = {"cifar10": "svhn", "svhn": "cifar10", "fashion_mnist": "mnist"}


# ------------------------------------------------------------------- data
class MissingData(FileNotFoundError):
    pass


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise MissingData(
            f"{what} not found: expected {path}. Nothing is downloaded here; "
            "put the data set there in its usual distributed format (see "
            "this script's docstring), or run with --quick"
        )
    return path


def _load_cifar10(root: Path):
    folder = _need(root / "cifar-10-batches-py", "CIFAR-10")

    def batch(name):
        with open(_need(folder / name, "CIFAR-10 batch"), "rb") as f:
            d = pickle.load(f, encoding="bytes")
        return d[b"data"].reshape(-1, 3, 32, 32), np.asarray(d[b"labels"])

    parts = [batch(f"data_batch_{i}") for i in range(1, 6)]
    X_tr = np.concatenate([p[0] for p in parts])
    y_tr = np.concatenate([p[1] for p in parts])
    X_te, y_te = batch("test_batch")
    return X_tr, y_tr, X_te, y_te


def _load_svhn(root: Path):
    from scipy.io import loadmat

    def split(name):
        d = loadmat(_need(root / name, "SVHN"))
        X = d["X"].transpose(3, 2, 0, 1)  # (32, 32, 3, n) -> (n, 3, 32, 32)
        y = d["y"].ravel() % 10  # the digit 0 is stored as label 10
        return X, y

    return (*split("train_32x32.mat"), *split("test_32x32.mat"))


def _load_idx(root: Path, name: str, what: str):
    folder = root / name

    def read(stem, offset):
        with gzip.open(_need(folder / f"{stem}.gz", what), "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)

    X_tr = read("train-images-idx3-ubyte", 16).reshape(-1, 1, 28, 28)
    y_tr = read("train-labels-idx1-ubyte", 8)
    X_te = read("t10k-images-idx3-ubyte", 16).reshape(-1, 1, 28, 28)
    y_te = read("t10k-labels-idx1-ubyte", 8)
    return X_tr, y_tr, X_te, y_te


def load(name: str, root: Path):
    """``(X_train, y_train, X_test, y_test)`` as uint8 images and int labels."""
    if name == "cifar10":
        return _load_cifar10(root)
    if name == "svhn":
        return _load_svhn(root)
    if name == "fashion_mnist":
        return _load_idx(root, "fashion-mnist", "Fashion-MNIST")
    if name == "mnist":
        return _load_idx(root, "mnist", "MNIST")
    raise ValueError(f"unknown data set {name!r}")


def random_images(n_train, n_test, seed=0):
    """CI's stand-in: CIFAR-10's shapes, random pixels and labels."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n_train + n_test, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, size=n_train + n_test)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def standardise(X_tr, *others):
    """uint8 images -> float32, per-channel mean and std of the training images."""
    X_tr = X_tr.astype(np.float32) / 255.0
    mean = X_tr.mean(axis=(0, 2, 3), keepdims=True)
    std = X_tr.std(axis=(0, 2, 3), keepdims=True) + 1e-6
    out = [(X_tr - mean) / std]
    for X in others:
        if X is not None and X.shape[1] != X_tr.shape[1]:  # gray vs colour
            X = np.repeat(X, X_tr.shape[1], axis=1) if X.shape[1] == 1 else None
        out.append(None if X is None else (X.astype(np.float32) / 255.0 - mean) / std)
    return out


# ----------------------------------------------------------------- models
class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with group norm, and a projected shortcut."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.norm1 = nn.GroupNorm(min(8, c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.norm2 = nn.GroupNorm(min(8, c_out), c_out)
        self.shortcut = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else nn.Conv2d(c_in, c_out, 1, stride, bias=False)
        )

    def forward(self, x):
        h = torch.relu(self.norm1(self.conv1(x)))
        return torch.relu(self.norm2(self.conv2(h)) + self.shortcut(x))


class ResNetCore(nn.Module):
    """ResNet-8 features: a stem and three stages, pooled to one vector."""

    def __init__(self, in_channels=3, width=1):
        super().__init__()
        c = [16 * width, 32 * width, 64 * width]
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, c[0], 3, 1, 1, bias=False),
            nn.GroupNorm(min(8, c[0]), c[0]),
            nn.ReLU(),
            ResidualBlock(c[0], c[0], 1),
            ResidualBlock(c[0], c[1], 2),
            ResidualBlock(c[1], c[2], 2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.width = c[2]

    def forward(self, x):
        return self.body(x)


class ResNet(nn.Module):
    """One ensemble member: the core and a linear classifier."""

    def __init__(self, in_channels=3, n_classes=10, width=1):
        super().__init__()
        self.core = ResNetCore(in_channels, width)
        self.fc = nn.Linear(self.core.width, n_classes)

    def forward(self, x):
        return self.fc(self.core(x))


# ---------------------------------------------------------------- scoring
def scores(model, X, y, X_ood):
    proba = model.predict_proba(X)
    row = {
        "error %": 100 * float(np.mean(model.classes_[proba.argmax(1)] != y)),
        "NLL": negative_log_likelihood(y, proba, labels=model.classes_),
        "ECE": expected_calibration_error(y, proba, labels=model.classes_),
        "OOD AUROC": float("nan"),
    }
    if X_ood is not None:
        row["OOD AUROC"] = ood_auroc(
            model.predict_uncertainty(X).epistemic,
            model.predict_uncertainty(X_ood).epistemic,
        )
    return row


def run(args):
    t_start = time.perf_counter()
    if args.quick:
        X_tr, y_tr, X_te, y_te = random_images(64, 32)
        X_ood = random_images(0, 32, seed=1)[2]
        name, ood_name = "random (CIFAR-10 shapes)", "random"
    else:
        root = Path(args.data_dir).expanduser()
        X_tr, y_tr, X_te, y_te = load(args.dataset, root)
        ood_name = OOD_OF[args.dataset]
        try:
            X_ood = load(ood_name, root)[2]
        except MissingData as exc:
            print(f"no OOD row: {exc}", file=sys.stderr)
            X_ood, ood_name = None, None
        name = args.dataset
        if args.n_train:
            X_tr, y_tr = X_tr[: args.n_train], y_tr[: args.n_train]
    X_tr, X_te, X_ood = standardise(X_tr, X_te, X_ood)
    channels = X_tr.shape[1]
    common = dict(
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        random_state=args.seed,
    )
    n = args.members
    timings, rows = {}, []
    t0 = time.perf_counter()
    ensemble = EnsembleClassifier(
        n, module=ResNet(channels, 10, args.width), **common
    ).fit(X_tr, y_tr)
    timings["ensemble"] = time.perf_counter() - t0
    rows.append((f"ensemble (N={n})", ensemble))
    for m in sorted({n, max(1, n // 4)}, reverse=True):
        t0 = time.perf_counter()
        student = HydraDistiller(
            ensemble,
            n_heads=m,
            core=ResNetCore(channels, args.width),
            head=nn.Linear(64 * args.width, 10),
            **common,
        ).fit(X_tr, y_tr)
        label = f"Hydra+ (M={m})"
        timings[label] = time.perf_counter() - t0
        rows.append((label, student))
    table = []
    for label, model in rows:
        s = scores(model, X_te, y_te, X_ood)
        params = sum(p.numel() for p in model.net_.module_.parameters())
        key = "ensemble" if label.startswith("ensemble") else label
        table.append(
            [label, f"{s['error %']:.2f}", f"{s['NLL']:.3f}", f"{s['ECE']:.3f}",
             f"{s['OOD AUROC']:.3f}", f"{params:,}", f"{timings[key]:.0f}"]
        )  # fmt: skip
    headers = ["model", "error %", "NLL", "ECE", f"OOD AUROC ({ood_name})",
               "params", "fit s"]  # fmt: skip
    text = markdown_table(headers, table)
    print(text)
    print(f"total {time.perf_counter() - t_start:.0f} s")
    if not args.quick:
        body = (
            f"{name}: {len(X_tr):,} training and {len(X_te):,} test images; "
            f"ResNet-8 members (width x{args.width}, group norm), {args.epochs} "
            f"epochs, batch {args.batch_size}, Adam lr {args.lr}, early stopping "
            f"on 10%; Hydra+ students with a ResNet-8 core and linear heads, "
            f"seed {args.seed}. Measured on: {machine()}.\n\n{text}"
        )
        update_results(f"images_{args.dataset}", body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="folder holding the data sets")
    parser.add_argument("--dataset", choices=DATASETS, default="cifar10")
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--width", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--n-train", type=int, default=0, help="0: all")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.members, args.epochs, args.batch_size = 4, 1, 64
        args.device = "cpu"
    elif not args.data_dir:
        parser.error("--data-dir is required (or --quick: random tensors)")
    try:
        run(args)
    except MissingData as exc:
        sys.exit(f"bench_images: {exc}")


if __name__ == "__main__":
    main()
