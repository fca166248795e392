"""Data-parallel training in two real processes (torchrun, gloo, on the CPU)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("accelerate")

SCRIPT = Path(__file__).parent / "scripts" / "ddp_fit.py"


def _run(tmp_path, *launcher):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    env["SKDISTILL_TEST_OUT"] = str(tmp_path)
    done = subprocess.run(
        [*launcher, str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    files = sorted(tmp_path.glob("rank*.json"))
    return [json.loads(f.read_text()) for f in files]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    return _run(
        tmp_path_factory.mktemp("ddp"),
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc_per_node", "2",
    )  # fmt: skip


def test_two_processes_train_one_model(two_processes):
    first, second = two_processes
    assert (first["processes"], second["processes"]) == (2, 2)
    assert (first["rank"], second["rank"]) == (0, 1)
    # Gradients are averaged, so both processes end with the same model.
    np.testing.assert_allclose(first["proba"], second["proba"], atol=1e-6)
    np.testing.assert_allclose(
        first["student_proba"], second["student_proba"], atol=1e-6
    )
    # Each process takes its share of every batch: half the steps of one
    # process alone (450 rows, 32 per process per step).
    assert first["steps"] == 8


def test_two_processes_match_one_within_noise(two_processes, tmp_path):
    (alone,) = _run(tmp_path, sys.executable)
    assert alone["processes"] == 1 and alone["steps"] == 15
    for key in ("ensemble", "hydra"):
        assert two_processes[0][key] > 0.8
        assert abs(two_processes[0][key] - alone[key]) < 0.08
