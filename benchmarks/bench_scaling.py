"""Fit cost as the data and the ensemble grow: time per epoch and peak memory.

An ``EnsembleClassifier`` (MLP 20-64-5, batch 256, fixed epochs:
``early_stopping=False, validation_fraction=0``) is fitted

* at N = 10 members as the rows grow (10k -> 100k -> 1M by default), and
* at a fixed row count as the members grow (N = 5, 10, 20, 50, 100).

Reported per fit: seconds per epoch (the whole ``fit``: input checks, the
move to the device, the skorch loop, divided by the epochs; median of
``--repeats`` fits, one fit at 1M rows or more); the peak memory the fit
added: on the CPU the growth of the resident set (``VmHWM``, the
high-water mark, reset before each fit through ``/proc/self/clear_refs``,
after handing freed heap memory back to the OS with ``malloc_trim``;
where that cannot be reset, the growth of ``ru_maxrss``, which only shows
growth past earlier fits) and the peak of Python/numpy allocations
(``tracemalloc``; torch's CPU buffers are not traced); on CUDA torch's peak
device memory (``torch.cuda.max_memory_allocated``). Then a least-squares
slope of log(time per epoch) on log(rows) and on log(N): the measured
exponent (1 is linear; members trained at once should cost no more than
linear in N).

    python benchmarks/bench_scaling.py            # full run, updates RESULTS.md
    python benchmarks/bench_scaling.py --quick    # CI smoke (8 s of CPU), prints only
    python benchmarks/bench_scaling.py --threads 1 --clock cpu  # RESULTS.md's run
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch
from _common import (
    add_timing_options,
    load_note,
    machine,
    markdown_table,
    sync,
    update_results,
)

from skdistill import EnsembleClassifier

N_FEATURES, N_CLASSES, HIDDEN, BATCH = 20, 5, (64,), 256
MiB = 2**20
STATUS = Path("/proc/self/status")


def make_data(n_rows, seed=0):
    rng = np.random.default_rng(seed)
    w = np.random.default_rng(123).normal(size=(N_FEATURES, N_CLASSES))
    X = rng.normal(size=(n_rows, N_FEATURES)).astype(np.float32)
    y = np.argmax(X @ w + rng.gumbel(size=(n_rows, N_CLASSES)), axis=1)
    return X, y


def _status_kib(key: str) -> int | None:
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the process's resident-set high-water mark (Linux); False if not."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def _trim_heap() -> None:
    """Hand freed heap memory back to the OS (glibc), so that a fit's
    allocations show as growth of the resident set, not as reuse of memory
    an earlier fit freed."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _max_rss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / MiB if sys.platform == "darwin" else rss / 1024


def estimator(n_members, epochs, device):
    return EnsembleClassifier(
        n_members=n_members, hidden_layer_sizes=HIDDEN, batch_size=BATCH,
        max_epochs=epochs, early_stopping=False, validation_fraction=0,
        device=device, random_state=0,
    )  # fmt: skip


def measure_fit(X, y, n_members, epochs, device, repeats, clock="wall"):
    """(seconds per epoch, RSS growth MiB, tracemalloc peak MiB, CUDA peak MiB)."""
    now = time.process_time if clock == "cpu" else time.perf_counter
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = now()
        estimator(n_members, epochs, device).fit(X, y)
        sync(device)
        times.append((now() - t0) / epochs)
    # Memory on a fit of its own: tracemalloc slows Python down.
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated()
    gc.collect()
    _trim_heap()
    hwm = _reset_peak_rss()
    rss_before = _status_kib("VmRSS") / 1024 if hwm else _max_rss_mib()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        estimator(n_members, epochs, device).fit(X, y)
        py_peak = (tracemalloc.get_traced_memory()[1] - base) / MiB
    finally:
        tracemalloc.stop()
    rss_after = _status_kib("VmHWM") / 1024 if hwm else _max_rss_mib()
    cuda_peak = (torch.cuda.max_memory_allocated() - base_cuda) / MiB if cuda else None
    return float(np.median(times)), rss_after - rss_before, py_peak, cuda_peak


def slope(xs, ys) -> float:
    """Least-squares slope of log(ys) on log(xs): the measured exponent."""
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def run(rows_list, members_list, rows_fixed, n_fixed, epochs, device, repeats, clock):
    estimator(2, 1, device).fit(*make_data(512))  # warm-up: thread pools, allocator
    table, by_rows, by_members = [], [], []

    def record(sweep, n_rows, n_members, X, y):
        reps = 1 if n_rows >= 1_000_000 else repeats
        t, rss, py, cuda_peak = measure_fit(
            X, y, n_members, epochs, device, reps, clock
        )
        row = [
            sweep, f"{n_rows:,}", n_members, f"{t:.3f}",
            f"{n_members * n_rows / t / 1e3:,.0f}k", f"{rss:,.0f}", f"{py:,.1f}",
            "-" if cuda_peak is None else f"{cuda_peak:,.1f}",
            f"{X.nbytes / MiB:,.1f}",
        ]  # fmt: skip
        table.append(row)
        print(row, flush=True)
        return t, rss, cuda_peak

    for n_rows in rows_list:
        X, y = make_data(n_rows)
        by_rows.append((n_rows, *record("rows", n_rows, n_fixed, X, y)))
        del X, y
    X, y = make_data(rows_fixed)
    for n_members in members_list:
        by_members.append((n_members, *record("members", rows_fixed, n_members, X, y)))
    return table, by_rows, by_members


def exponents(points, device) -> str:
    xs, ts = [p[0] for p in points], [p[1] for p in points]
    text = f"time {slope(xs, ts):.2f}"
    mem = [p[3] if torch.device(device).type == "cuda" else p[2] for p in points]
    if all(m is not None and m >= 1 for m in mem):  # MiB; below, it is noise
        text += f", peak memory {slope(xs, mem):.2f}"
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny CI smoke run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000]
    )
    parser.add_argument("--members", type=int, nargs="+", default=[5, 10, 20, 50, 100])
    parser.add_argument(
        "--member-rows", type=int, default=20_000, help="rows of the members sweep"
    )
    parser.add_argument("--n", type=int, default=10, help="members of the rows sweep")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    add_timing_options(parser)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.rows, args.members, args.member_rows = [1_000, 4_000], [2, 4], 2_000
        args.n, args.repeats = 4, 1
    load = load_note()
    table, by_rows, by_members = run(
        args.rows,
        args.members,
        args.member_rows,
        args.n,
        args.epochs,
        args.device,
        args.repeats,
        args.clock,
    )
    headers = [
        "sweep", "rows", "N", "s / epoch", "member-samples/s", "RSS growth MiB",
        "Python/numpy peak MiB", "CUDA peak MiB", "X MiB",
    ]  # fmt: skip
    where = machine() if args.device == "cpu" else f"{machine()} (device {args.device})"
    text = (
        f"Fit cost of `EnsembleClassifier`, MLP {N_FEATURES}-"
        f"{'-'.join(map(str, HIDDEN))}-{N_CLASSES}, batch {BATCH}, "
        f"{args.epochs} epoch(s) per fit, every row trained on (no validation "
        f"split, no early stopping), device `{args.device}`; seconds per epoch "
        f"are the median of {args.repeats} fits (1 fit at 1M rows or more), "
        f"{'process CPU' if args.clock == 'cpu' else 'wall'} time. "
        "RSS growth: the fit's peak resident set above the resident set before "
        "it; Python/numpy peak: tracemalloc (torch's CPU buffers are not "
        f"traced). Measured on: {where}, {torch.get_num_threads()} torch thread(s). {load}\n\n"
        f"{markdown_table(headers, table)}\n\n"
        f"Log-log slopes (measured exponents): rows at N={args.n}: "
        f"{exponents(by_rows, args.device)}; members at "
        f"{args.member_rows:,} rows: {exponents(by_members, args.device)}.\n"
    )
    print(text)
    if not (args.quick or args.no_write):
        update_results(f"scaling_{torch.device(args.device).type}", text)


if __name__ == "__main__":
    main()
