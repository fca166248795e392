"""``python -m skdistill``, run as a user runs it: in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sklearn.datasets import load_iris

MODELS = ("ensemble (N=3)", "Hydra+ (M=2)", "Hydra (M=2)", "KD", "EnDD")
COLUMNS = (
    "accuracy", "NLL", "ECE", "Brier", "mean epistemic", "epistemic ratio",
    "ratio shifted", "params",
)  # fmt: skip


def run_demo(*args, cwd):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    return subprocess.run(
        [sys.executable, "-m", "skdistill", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_line_error(result, *words):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    for word in words:
        assert word in lines[0]


def test_help_explains_the_options(tmp_path):
    result = run_demo("--help", cwd=tmp_path)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # argparse wraps lines
    for option in (
        "--dataset",
        "--target",
        "--n-members",
        "--n-heads",
        "--epochs",
        "--device",
        "--output",
    ):
        assert option in text
    assert "CSV" in text
    assert "breast_cancer" in text and "digits" in text
    assert "cuda" in text


def test_missing_csv_is_a_one_line_error(tmp_path):
    result = run_demo("--dataset", "no_such_file.csv", cwd=tmp_path)
    assert_one_line_error(result, "no_such_file.csv")


def test_missing_target_column_is_a_one_line_error(tmp_path):
    (tmp_path / "data.csv").write_text("a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n")
    result = run_demo("--dataset", "data.csv", "--target", "species", cwd=tmp_path)
    assert_one_line_error(result, "species", "label")


def test_tiny_run_prints_the_table_and_writes_the_plot(tmp_path):
    """A CSV with string labels in a column that is not the last one.

    (The default data set goes through the same code after loading; every
    subprocess costs seconds of imports, so the tests start few of them.)
    """
    pytest.importorskip("matplotlib")
    X, y = load_iris(return_X_y=True, as_frame=True)
    names = dict(enumerate(["setosa", "versicolor", "virginica"]))
    frame = X.assign(species=y.map(names))[["species", *X.columns]]
    frame.to_csv(tmp_path / "iris.csv", index=False)
    data = ["--dataset", "iris.csv", "--target", "species"]
    settings = ["--n-members", "3", "--n-heads", "2", "--epochs", "2"]
    result = run_demo(*data, *settings, "--output", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for model in MODELS:
        assert model in result.stdout
    for column in COLUMNS:
        assert column in result.stdout
    # One progress line per model fitted, on stderr.
    assert result.stderr.count("fitting the ensemble") == 1
    assert result.stderr.count("distilling:") == len(MODELS) - 1
    for name in ("reliability.png", "epistemic.png"):
        plot = tmp_path / "out" / name
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "epistemic.png" in result.stdout
    table = (tmp_path / "out" / "table.txt").read_text()
    kd_row = next(line for line in table.splitlines() if line.startswith("KD"))
    # One head has no epistemic uncertainty to rank: its rank correlation is
    # undefined, not 0 (which would read as "unrelated").
    assert "n/a" in kd_row
    assert "iris.csv: 105 training rows, 45 test rows" in result.stdout


def test_output_is_checked_before_training_and_never_clobbered(tmp_path):
    (tmp_path / "a_file").write_text("keep me")
    result = run_demo("--output", "a_file", cwd=tmp_path)
    assert_one_line_error(result, "is a file")
    assert (tmp_path / "a_file").read_text() == "keep me"
    assert "fitting" not in result.stderr  # nothing was trained
    done = tmp_path / "done"
    done.mkdir()
    (done / "table.txt").write_text("an earlier run")
    result = run_demo("--output", "done", cwd=tmp_path)
    assert_one_line_error(result, "--force", "table.txt")
    assert (done / "table.txt").read_text() == "an earlier run"
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert_one_line_error(run_demo("--output", "locked", cwd=tmp_path), "writable")


def test_epistemic_figure_shares_one_axis_and_names_a_one_head_student():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from skdistill.__main__ import _plot_epistemic

    rng = np.random.default_rng(0)
    epistemic = {
        "ensemble": (rng.uniform(0, 0.01, 50), rng.uniform(0, 0.2, 50)),
        "Hydra+": (rng.uniform(0, 0.005, 50), rng.uniform(0, 0.1, 50)),
        "KD": (np.zeros(50), np.zeros(50)),
    }
    try:
        fig = _plot_epistemic(epistemic)
        axes = np.reshape(fig.axes, (2, 2))  # a row per student: test, shifted
        assert [a.get_title() for a in axes.ravel()] == [
            "Hydra+ on test rows", "Hydra+ on shifted rows",
            "KD on test rows", "KD on shifted rows",
        ]  # fmt: skip
        assert len({a.get_xlim() for a in fig.axes}) == 1  # one shared x axis
        assert axes[0, 0].get_xscale() == "log"
        assert axes[0, 0].get_xlim()[1] >= 0.19  # reaches the shifted maximum
        for a in axes[1]:
            assert [t.get_text() for t in a.texts] == [
                "KD: one head,\nno epistemic uncertainty"
            ]
        # Each histogram is a fraction of the rows: its bars sum to 1.
        bars = [p.get_height() for p in axes[0, 0].patches[:-1]]
        assert sum(bars) == pytest.approx(1.0)
    finally:
        plt.close("all")


def test_an_ensemble_of_one_is_refused_before_training(tmp_path):
    """One network has no epistemic uncertainty: the ratios would be undefined."""
    result = run_demo("--n-members", "1", cwd=tmp_path)
    assert result.returncode == 2  # argparse's usage error
    assert "--n-members: must be at least 2" in result.stderr
    assert "fitting" not in result.stderr


def test_bad_data_leaves_no_output_folder_behind(tmp_path):
    result = run_demo("--dataset", "nope.csv", "--output", "fresh", cwd=tmp_path)
    assert_one_line_error(result, "nope.csv")
    assert not (tmp_path / "fresh").exists()
    result = run_demo("--device", "bogus", "--output", "fresh/deeper", cwd=tmp_path)
    assert_one_line_error(result, "bogus")
    assert not (tmp_path / "fresh").exists()


def test_target_of_a_bundled_dataset_and_a_continuous_target_are_refused(tmp_path):
    result = run_demo("--dataset", "iris", "--target", "no_such_column", cwd=tmp_path)
    assert_one_line_error(result, "--target", "bundled", "iris")
    rows = "\n".join(f"{i},{i % 3},{i * 0.37 - 2:.3f}" for i in range(40))
    (tmp_path / "cont.csv").write_text("a,b,price\n" + rows + "\n")
    result = run_demo("--dataset", "cont.csv", cwd=tmp_path)
    assert_one_line_error(result, "continuous", "class labels")
    assert len(result.stderr) < 300  # not the 40 values listed as "classes"


def test_ratio_is_undefined_without_teacher_uncertainty():
    import numpy as np

    from skdistill.__main__ import _ratio
    from skdistill.metrics import epistemic_ratio

    assert np.isnan(_ratio(epistemic_ratio, np.zeros(4), np.ones(4)))
    assert _ratio(epistemic_ratio, np.full(4, 2.0), np.ones(4)) == 0.5
