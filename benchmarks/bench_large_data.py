"""Prediction on many rows: throughput and peak memory as the row count grows.

An ``EnsembleClassifier`` (and a ``HydraDistiller`` student) fitted on a small
set predicts ``predict_proba`` and ``predict_uncertainty`` on 1e5, 1e6 and
2e6 rows. Prediction runs in bounded batches and reduces each batch at once,
so the extra memory should be the result (``n x n_classes`` or ``3 x n``
floats) plus one batch, never the ``n x n_members x n_classes`` stack of
every member's output ("stack" column, for scale).

Reported per call: rows per second; the peak of numpy's allocations during
the call (``tracemalloc``, which sees every numpy array; torch's CPU buffers
are not traced, but they live only per batch); on CUDA, the peak of torch's
device memory (``torch.cuda.max_memory_allocated``); and the growth of the
process's maximum resident set (``ru_maxrss``, a high-water mark, so it only
shows growth past earlier calls).

    python benchmarks/bench_large_data.py            # full run, updates RESULTS.md
    python benchmarks/bench_large_data.py --quick    # CI smoke, prints only
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from functools import partial

import numpy as np
import torch
from _common import machine, markdown_table, sync, update_results

from skdistill import EnsembleClassifier, HydraDistiller

N_FEATURES, N_CLASSES, N_MEMBERS, HIDDEN = 20, 5, 10, (64,)
MiB = 2**20


def make_data(n_rows, seed=0):
    rng = np.random.default_rng(seed)
    w = np.random.default_rng(123).normal(size=(N_FEATURES, N_CLASSES))
    X = rng.normal(size=(n_rows, N_FEATURES)).astype(np.float32)
    y = np.argmax(X @ w + rng.gumbel(size=(n_rows, N_CLASSES)), axis=1)
    return X, y


def max_rss_mib() -> float:
    """The process's maximum resident set so far, in MiB."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / MiB if sys.platform == "darwin" else rss / 1024


def measure(fn, device):
    """(seconds, numpy peak MiB, CUDA peak MiB or None, max-RSS growth MiB)."""
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    seconds = time.perf_counter() - t0

    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated()
    rss_before = max_rss_mib()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        numpy_peak = (tracemalloc.get_traced_memory()[1] - base) / MiB
    finally:
        tracemalloc.stop()
    cuda_peak = (torch.cuda.max_memory_allocated() - base_cuda) / MiB if cuda else None
    return seconds, numpy_peak, cuda_peak, max_rss_mib() - rss_before


def fit_models(device, train_rows, epochs):
    X, y = make_data(train_rows, seed=1)
    common = dict(max_epochs=epochs, batch_size=256, device=device, random_state=0)
    ens = EnsembleClassifier(n_members=N_MEMBERS, hidden_layer_sizes=HIDDEN, **common)
    ens.fit(X, y)
    hydra = HydraDistiller(
        EnsembleClassifier(n_members=N_MEMBERS, hidden_layer_sizes=HIDDEN, **common),
        n_heads=N_MEMBERS, core_layer_sizes=HIDDEN, head_layer_sizes=(16,), **common,
    ).fit(X, y)  # fmt: skip
    return {"EnsembleClassifier": ens, "HydraDistiller": hydra}


def run(rows_list, device, train_rows, epochs):
    models = fit_models(device, train_rows, epochs)
    for est in models.values():  # warm-up: thread pools, allocator, CUDA context
        est.predict_uncertainty(make_data(1000)[0])
    table = []
    for n_rows in rows_list:
        X, _ = make_data(n_rows)
        stack = n_rows * N_MEMBERS * N_CLASSES * 8 / MiB
        for name, est in models.items():
            for method in ("predict_proba", "predict_uncertainty"):
                call = partial(getattr(est, method), X)
                seconds, np_peak, cuda_peak, rss = measure(call, device)
                row = [
                    f"{n_rows:,}", name, method, f"{n_rows / seconds:,.0f}",
                    f"{np_peak:,.1f}",
                    "-" if cuda_peak is None else f"{cuda_peak:,.1f}",
                    f"{rss:,.0f}", f"{stack:,.0f}", f"{X.nbytes / MiB:,.0f}",
                ]  # fmt: skip
                table.append(row)
                print(row, flush=True)
        del X
    return table, models["EnsembleClassifier"].net_.predict_batch_size


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny CI smoke run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[100_000, 1_000_000, 2_000_000]
    )
    parser.add_argument("--train-rows", type=int, default=5_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.train_rows, args.epochs = [10_000, 100_000], 1_000, 1
    headers = [
        "rows", "model", "method", "rows/s", "numpy peak MiB", "CUDA peak MiB",
        "max RSS growth MiB", "stack MiB (not allocated)", "input MiB",
    ]  # fmt: skip
    table, batch = run(args.rows, args.device, args.train_rows, args.epochs)
    where = machine() if args.device == "cpu" else f"{machine()} (device {args.device})"
    text = (
        f"Prediction on many rows: {N_MEMBERS} members (Hydra: {N_MEMBERS} heads), "
        f"MLP {N_FEATURES}-{'-'.join(map(str, HIDDEN))}-{N_CLASSES}, float32 input, "
        f"prediction batches of {batch:,} rows, device `{args.device}`. "
        "numpy peak: the largest numpy memory held during the call beyond "
        "what existed before it (the result is included); stack: what holding "
        "every member's output for every row would take, for comparison. "
        f"Measured on: {where}.\n\n{markdown_table(headers, table)}\n"
    )
    print(text)
    if not (args.quick or args.no_write):
        update_results(f"large_data_{torch.device(args.device).type}", text)


if __name__ == "__main__":
    main()
