"""Training throughput of ``EnsembleClassifier`` against doing it by hand.

Member-samples per second (members x rows x epochs / seconds) for:

* ours: ``EnsembleClassifier.fit`` (validation, device transfer, skorch loop);
* (a) one skorch ``NeuralNetClassifier`` per member, trained one after another;
* (b) a plain PyTorch loop per member, data already on the device;
* (c) a bare vectorised loop: the same stacked module and Adam, no skorch.

All in the same run, as ratios. (a) and (b) train members one after another,
so their rate does not depend on N; they are timed on at most ``--seq-members``
members and reported as a rate.

    python benchmarks/bench_ensemble_speed.py            # full run, updates RESULTS.md
    python benchmarks/bench_ensemble_speed.py --quick    # CI smoke, prints only
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
import torch
from _common import machine, markdown_table, timed, update_results
from skorch import NeuralNetClassifier
from torch import nn
from torch.nn import functional as F

from skdistill import EnsembleClassifier
from skdistill.nn import StackedMLP

N_FEATURES, HIDDEN, N_CLASSES, BATCH, LR = 32, (256, 256), 10, 256, 1e-3


class MLP(nn.Module):
    def __init__(self, d=N_FEATURES, k=N_CLASSES):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d, HIDDEN[0]), nn.ReLU(),
            nn.Linear(HIDDEN[0], HIDDEN[1]), nn.ReLU(),
            nn.Linear(HIDDEN[1], k),
        )  # fmt: skip

    def forward(self, x):
        return self.net(x)


def make_data(n_rows, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, N_FEATURES)).astype(np.float32)
    w = rng.normal(size=(N_FEATURES, N_CLASSES))
    y = np.argmax(X @ w + rng.gumbel(size=(n_rows, N_CLASSES)), axis=1)
    return X, y.astype(np.int64)


def adam(params, device):
    return torch.optim.Adam(params, lr=LR, fused=torch.device(device).type == "cuda")


def ours(X, y, n_members, epochs, device):
    EnsembleClassifier(
        n_members=n_members, hidden_layer_sizes=HIDDEN, batch_size=BATCH, lr=LR,
        max_epochs=epochs, device=device, random_state=0,
    ).fit(X, y)  # fmt: skip


def skorch_sequential(X, y, n_members, epochs, device):
    for _ in range(n_members):
        NeuralNetClassifier(
            MLP, criterion=nn.CrossEntropyLoss, optimizer=torch.optim.Adam, lr=LR,
            batch_size=BATCH, max_epochs=epochs, train_split=None,
            iterator_train__shuffle=True, device=device, verbose=0,
        ).fit(X, y)  # fmt: skip


def plain_loop(Xd, yd, n_members, epochs, device):
    n = len(Xd)
    for _ in range(n_members):
        model = MLP().to(device)
        opt = adam(model.parameters(), device)
        for _ in range(epochs):
            perm = torch.randperm(n, device=device)
            for s in range(0, n, BATCH):
                idx = perm[s : s + BATCH]
                loss = F.cross_entropy(model(Xd[idx]), yd[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()


def bare_vectorised(Xd, yd, n_members, epochs, device):
    n = len(Xd)
    model = StackedMLP(n_members, N_FEATURES, HIDDEN, N_CLASSES).to(device)
    opt = adam(model.parameters(), device)
    for _ in range(epochs):
        order = torch.rand(n_members, n, device=device).argsort(dim=1).T
        for s in range(0, n, BATCH):
            idx = order[s : s + BATCH]  # (B, N): each member its own rows
            out = model(Xd[idx])
            loss = F.cross_entropy(out.reshape(-1, N_CLASSES), yd[idx].reshape(-1))
            opt.zero_grad(set_to_none=True)
            (loss * n_members).backward()
            opt.step()


def run(n_rows, members, epochs, seq_members, device, repeats=1):
    X, y = make_data(n_rows)
    Xd, yd = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
    # Warm-up: first calls pay for allocations, thread pools, CUDA context.
    Xw, yw = X[:512], y[:512]
    ours(Xw, yw, 2, 1, device)
    skorch_sequential(Xw, yw, 1, 1, device)
    plain_loop(Xd[:512], yd[:512], 1, 1, device)
    bare_vectorised(Xd[:512], yd[:512], 2, 1, device)

    rows = []
    for n_members in members:
        seq = min(n_members, seq_members)
        work = n_rows * epochs
        calls = [
            partial(ours, X, y, n_members, epochs, device),
            partial(skorch_sequential, X, y, seq, epochs, device),
            partial(plain_loop, Xd, yd, seq, epochs, device),
            partial(bare_vectorised, Xd, yd, n_members, epochs, device),
        ]
        # Round-robin repeats, median per method: drift in the machine's load
        # hits every method alike instead of whichever ran during it.
        times = [[timed(call, device) for call in calls] for _ in range(repeats)]
        t_ours, t_a, t_b, t_c = np.median(np.array(times), axis=0)
        r_ours, r_a = n_members * work / t_ours, seq * work / t_a
        r_b, r_c = seq * work / t_b, n_members * work / t_c
        rows.append([
            n_members, f"{r_ours / 1e3:,.0f}k", f"{r_a / 1e3:,.0f}k",
            f"{r_b / 1e3:,.0f}k", f"{r_c / 1e3:,.0f}k",
            f"{r_ours / r_a:.1f}x", f"{r_ours / r_b:.1f}x", f"{r_ours / r_c:.2f}x",
        ])  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny CI smoke run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--members", type=int, nargs="+", default=[5, 10, 50])
    parser.add_argument("--seq-members", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.members, args.seq_members, args.repeats = 1024, [2, 4], 1, 1
    headers = [
        "N", "ours", "(a) skorch, one by one", "(b) plain loop", "(c) bare vectorised",
        "ours / (a)", "ours / (b)", "ours / (c)",
    ]  # fmt: skip
    rows = run(
        args.rows,
        args.members,
        args.epochs,
        args.seq_members,
        args.device,
        args.repeats,
    )
    table = markdown_table(headers, rows)
    where = machine() if args.device == "cpu" else f"{machine()} (device {args.device})"
    text = (
        f"Member-samples per second, MLP {N_FEATURES}-256-256-{N_CLASSES}, batch "
        f"{BATCH}, {args.rows:,} rows, {args.epochs} epoch(s), device `{args.device}`, "
        f"median of {args.repeats} round-robin repeats. "
        f"Measured on: {where}.\n\n{table}\n"
    )
    print(text)
    if not (args.quick or args.no_write):
        update_results(f"ensemble_speed_{torch.device(args.device).type}", text)


if __name__ == "__main__":
    main()
