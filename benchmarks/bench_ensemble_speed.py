"""Training throughput of ``EnsembleClassifier`` against doing it by hand.

Member-samples per second (members x rows x epochs / seconds) for:

* ours: ``EnsembleClassifier.fit`` (input checks, device transfer, the
  skorch loop with its callbacks and history), on every row for a fixed
  number of epochs (``early_stopping=False, validation_fraction=0``), so it
  does exactly the work the loops below do;
* ours, ``compile=True``: the same, training through ``torch.compile``; its
  rate is the steady state (the compilation is paid by a first fit per N,
  reported apart as the start-up cost);
* (a) one skorch ``NeuralNetClassifier`` per member, trained one after another;
* (b) a plain PyTorch loop per member, data already on the device;
* (c) a bare vectorised loop: the same stacked module, torch's default Adam
  (per-tensor on the CPU, fused on CUDA), no skorch;
* (d) the same bare loop with fused Adam, the optimiser ours uses: ours / (d)
  is the cost of the estimator and skorch alone;
* (e) on CUDA only: the bare loop's whole step (gather, forward, backward,
  Adam) captured once in a CUDA graph and replayed per batch, which removes
  the per-kernel launch cost: the ceiling a launch-bound step can reach.

All in the same run, as ratios. (a) and (b) train members one after another,
so their rate does not depend on N; they are timed on at most ``--seq-members``
members and reported as a rate.

    python benchmarks/bench_ensemble_speed.py            # full run, updates RESULTS.md
    python benchmarks/bench_ensemble_speed.py --quick    # CI smoke, prints only

On a CPU shared with other jobs, wall-clock ratios swing widely with two or
more threads; the RESULTS.md table was measured with

    python benchmarks/bench_ensemble_speed.py --compile --epochs 1 --threads 1 --clock cpu
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
import torch
from _common import (
    add_timing_options,
    load_note,
    machine,
    markdown_table,
    timed,
    update_results,
)
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


def adam(params, device, fused=None):
    if fused is None:  # torch's default: fused only where we always asked for it
        fused = torch.device(device).type == "cuda"
    return torch.optim.Adam(params, lr=LR, fused=fused)


def ours(X, y, n_members, epochs, device, compile=False, compile_mode=None):
    extra = {"compile__mode": compile_mode} if compile and compile_mode else {}
    EnsembleClassifier(
        n_members=n_members, hidden_layer_sizes=HIDDEN, batch_size=BATCH, lr=LR,
        max_epochs=epochs, device=device, random_state=0, early_stopping=False,
        validation_fraction=0, compile=compile, **extra,
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


def vectorised_step(model, opt, Xd, yd, idx, n_members):
    """Forward, backward and Adam on rows ``idx`` (B, N): each member its own."""
    out = model(Xd[idx])
    loss = F.cross_entropy(out.reshape(-1, N_CLASSES), yd[idx].reshape(-1))
    (loss * n_members).backward()
    opt.step()


def bare_vectorised(Xd, yd, n_members, epochs, device, fused=None):
    n = len(Xd)
    model = StackedMLP(n_members, N_FEATURES, HIDDEN, N_CLASSES).to(device)
    opt = adam(model.parameters(), device, fused)
    for _ in range(epochs):
        order = torch.rand(n_members, n, device=device).argsort(dim=1).T
        for s in range(0, n, BATCH):
            opt.zero_grad(set_to_none=True)
            vectorised_step(model, opt, Xd, yd, order[s : s + BATCH], n_members)


def bare_graphed(Xd, yd, n_members, epochs, device, fused=True):
    """(d) with its step captured in a CUDA graph (full batches).

    The rows of a last, partial batch are left out of the graph; they are
    trained eagerly so that the work matches the other loops'.
    """
    n = len(Xd)
    model = StackedMLP(n_members, N_FEATURES, HIDDEN, N_CLASSES).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR, fused=fused, capturable=True)
    idx = torch.zeros(BATCH, n_members, dtype=torch.long, device=device)

    def step(i):
        vectorised_step(model, opt, Xd, yd, i, n_members)

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up off the default stream, as required
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            step(idx)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)  # the graph's backward allocates the grads
    with torch.cuda.graph(graph):
        step(idx)
    for _ in range(epochs):
        order = torch.rand(n_members, n, device=device).argsort(dim=1).T
        full = n - n % BATCH
        for s in range(0, full, BATCH):
            idx.copy_(order[s : s + BATCH])
            graph.replay()
        if full < n:  # the partial batch, eagerly (its own shapes); the
            # graph keeps writing its own gradient buffers, whatever .grad holds
            opt.zero_grad(set_to_none=True)
            step(order[full:])


def run(
    n_rows, members, epochs, seq_members, device, repeats=1, compile=False,
    clock="wall", compile_mode=None,
):  # fmt: skip
    X, y = make_data(n_rows)
    Xd, yd = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
    # Warm-up: first calls pay for allocations, thread pools, CUDA context.
    Xw, yw = X[:512], y[:512]
    ours(Xw, yw, 2, 1, device)
    skorch_sequential(Xw, yw, 1, 1, device)
    plain_loop(Xd[:512], yd[:512], 1, 1, device)
    bare_vectorised(Xd[:512], yd[:512], 2, 1, device)
    # (e): fused Adam if it can be captured, else torch's foreach Adam. 600
    # rows: two full batches and a partial one, as every epoch has.
    graphs = None
    for fused in (True, False) if torch.device(device).type == "cuda" else ():
        try:
            bare_graphed(Xd[:600], yd[:600], 2, 1, device, fused)
        except Exception as exc:  # noqa: BLE001 - reported, the rest still timed
            print(f"(e) CUDA graph with fused={fused} failed: {exc!r}", flush=True)
        else:
            graphs = fused
            break

    rows = []
    for n_members in members:
        seq = min(n_members, seq_members)
        work = n_rows * epochs
        calls = {
            "ours": partial(ours, X, y, n_members, epochs, device),
            "a": partial(skorch_sequential, X, y, seq, epochs, device),
            "b": partial(plain_loop, Xd, yd, seq, epochs, device),
            "c": partial(bare_vectorised, Xd, yd, n_members, epochs, device),
            "d": partial(bare_vectorised, Xd, yd, n_members, epochs, device, True),
        }
        if graphs is not None:
            calls["e"] = partial(
                bare_graphed, Xd, yd, n_members, epochs, device, graphs
            )
        startup = None
        if compile:
            calls["compiled"] = partial(
                ours, X, y, n_members, epochs, device, True, compile_mode
            )
            # The first compiled fit at this N compiles (shapes depend on N);
            # later fits reuse the compiled graphs.
            try:
                startup = timed(calls["compiled"], device)  # wall: compile workers
            except Exception as exc:  # noqa: BLE001 - reported in the table
                print(f"compile=True failed at N={n_members}: {exc!r}", flush=True)
                del calls["compiled"]
        # Round-robin repeats, median per method: drift in the machine's load
        # hits every method alike instead of whichever ran during it.
        times = [
            [timed(call, device, clock=clock) for call in calls.values()]
            for _ in range(repeats)
        ]
        t = dict(zip(calls, np.median(np.array(times), axis=0)))
        members_of = {"a": seq, "b": seq}
        rate = {k: members_of.get(k, n_members) * work / v for k, v in t.items()}

        def k(r):
            return f"{r / 1e3:,.0f}k"

        row = [n_members, k(rate["ours"])]
        if compile and "compiled" in t:
            # Start-up: the first fit's wall time less a compiled fit's time.
            row += [k(rate["compiled"]), f"{startup - t['compiled']:.0f} s"]
        elif compile:
            row += ["failed", ""]
        row += [
            k(rate["a"]), k(rate["b"]), k(rate["c"]), k(rate["d"]),
        ]  # fmt: skip
        if graphs is not None:
            row.append(k(rate["e"]))
        row += [
            f"{rate['ours'] / rate['a']:.1f}x", f"{rate['ours'] / rate['b']:.1f}x",
            f"{rate['ours'] / rate['c']:.2f}x", f"{rate['ours'] / rate['d']:.2f}x",
        ]  # fmt: skip
        if compile:
            row.append(
                f"{rate['compiled'] / rate['ours']:.2f}x" if "compiled" in t else ""
            )
        if graphs is not None:
            row.append(f"{rate['ours'] / rate['e']:.2f}x")
        rows.append(row)
        print(rows[-1], flush=True)
    return rows, graphs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny CI smoke run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--members", type=int, nargs="+", default=[5, 10, 50])
    parser.add_argument("--seq-members", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--compile",
        action="store_true",
        help="add ours with compile=True (torch.compile; a minute or more per N)",
    )
    parser.add_argument(
        "--compile-mode",
        default=None,
        help="torch.compile's mode for --compile (reduce-overhead: CUDA graphs)",
    )
    add_timing_options(parser)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.rows, args.members, args.seq_members, args.repeats = 1024, [2, 4], 1, 1
    load = load_note()
    rows, graphs = run(
        args.rows,
        args.members,
        args.epochs,
        args.seq_members,
        args.device,
        args.repeats,
        args.compile,
        args.clock,
        args.compile_mode,
    )
    headers = ["N", "ours"]
    if args.compile:
        headers += ["ours, compile=True", "compile start-up"]
    headers += [
        "(a) skorch, one by one", "(b) plain loop", "(c) bare vectorised",
        "(d) bare vectorised, fused Adam",
    ]  # fmt: skip
    if graphs is not None:
        headers.append(f"(e) bare, CUDA graph{'' if graphs else ', foreach Adam'}")
    headers += ["ours / (a)", "ours / (b)", "ours / (c)", "ours / (d)"]
    if args.compile:
        headers.append("compiled / ours")
    if graphs is not None:
        headers.append("ours / (e)")
    table = markdown_table(headers, rows)
    where = machine() if args.device == "cpu" else f"{machine()} (device {args.device})"
    text = (
        f"Member-samples per second, MLP {N_FEATURES}-256-256-{N_CLASSES}, batch "
        f"{BATCH}, {args.rows:,} rows, {args.epochs} epoch(s), device `{args.device}`, "
        f"median of {args.repeats} round-robin repeats, "
        f"{'process CPU' if args.clock == 'cpu' else 'wall'} time"
        + (f", torch.compile mode `{args.compile_mode}`" if args.compile_mode else "")
        + ". "
        f"Measured on: {where}, {torch.get_num_threads()} torch thread(s). {load}\n\n{table}\n"
    )
    print(text)
    if not (args.quick or args.no_write):
        update_results(f"ensemble_speed_{torch.device(args.device).type}", text)


if __name__ == "__main__":
    main()
