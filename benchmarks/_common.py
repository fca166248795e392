"""Shared helpers for the benchmark scripts: machine info, tables, RESULTS.md."""

from __future__ import annotations

import os
import platform
import re
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> str:
    """A one-line description of where the numbers were measured."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}"]
    if torch.cuda.is_available():
        parts.append(f"GPU {torch.cuda.get_device_name(0)}")
    return "; ".join(parts)


def load_note() -> str:
    """The machine's load when the run started: other jobs skew wall times."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every platform
        return ""
    return (
        f"Load average {load:.1f} on {os.cpu_count()} cores when the run "
        "started (other jobs were running where it exceeds the core count)."
    )


def markdown_table(headers, rows) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def update_results(section: str, body: str) -> None:
    """Replace the text between this section's markers in RESULTS.md."""
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else (text.rstrip() + "\n\n" + block + "\n")
    )
    RESULTS.write_text(text)


def sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: str, repeats: int = 1, clock: str = "wall") -> float:
    """Best time of ``repeats`` calls, with the device synchronised.

    ``clock="cpu"`` measures the process's CPU time instead of wall time:
    on a CPU shared with other jobs, and with one torch thread, it is what
    the call cost, whatever the other jobs took meanwhile (time spent in
    other processes, such as torch.compile's compile workers, is not in it).
    """
    now = time.process_time if clock == "cpu" else time.perf_counter
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t0 = now()
        fn()
        sync(device)
        best = min(best, now() - t0)
    return best


def add_timing_options(parser, threads=None) -> None:
    """``--threads`` (torch intra-op threads) and ``--clock`` (wall or CPU time)."""
    parser.add_argument(
        "--threads",
        type=int,
        default=threads,
        help="torch.set_num_threads (default: "
        + ("torch's own choice" if threads is None else str(threads))
        + "; 1 keeps timings steadier on a shared machine)",
    )
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: process CPU time (for one thread on a shared CPU)",
    )
