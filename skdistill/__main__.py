"""``python -m skdistill``: fit an ensemble, distil it, print what was kept.

With no arguments it runs on scikit-learn's bundled breast-cancer data and
prints the ensemble against its Hydra+, Hydra, KD and EnDD students: accuracy,
NLL, ECE, Brier score, the epistemic uncertainty kept (its size relative to
the ensemble's on the test rows and on a noise-shifted copy of them, and its
rank agreement with the ensemble's), parameters and prediction speed. It also writes the table, a
reliability diagram (reliability.png) and histograms of the epistemic
uncertainty of each student against the ensemble's, on the test rows and on
the shifted copy (epistemic.png), into the output folder. A progress bar on
stderr names each model as it is fitted. ``--help`` lists the options; bad data or settings end
with a one-line error and exit status 1 (2 for a malformed command line).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

BUNDLED = ("breast_cancer", "digits", "wine", "iris", "spiral")


def _load(dataset: str, target: str | None):
    import pandas as pd
    from sklearn import datasets

    if dataset in BUNDLED:
        if target is not None:
            raise SystemExit(
                f"error: --target names a column of a CSV file; the bundled "
                f"dataset {dataset!r} has its own target"
            )
        if dataset == "spiral":
            from .datasets import make_spiral

            return make_spiral(random_state=0, as_frame=True)
        loader = getattr(datasets, f"load_{dataset}")
        return loader(return_X_y=True, as_frame=True)
    path = Path(dataset)
    if not path.is_file():
        raise SystemExit(
            f"error: no such file: {dataset!r}; give a CSV path or a bundled "
            f"dataset ({', '.join(BUNDLED)})"
        )
    try:
        frame = pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any parse failure becomes one line
        raise SystemExit(f"error: cannot read {path} as CSV: {exc}") from None
    target = target or frame.columns[-1]
    if target not in frame.columns:
        raise SystemExit(
            f"error: target column {target!r} is not in {path} "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    y = frame.pop(target)
    X = frame.select_dtypes("number")
    if X.shape[1] == 0:
        raise SystemExit(f"error: {path} has no numeric feature columns")
    if X.isna().any().any() or y.isna().any():
        raise SystemExit(f"error: {path} has missing values; impute them first")
    return X, y


#: The progress bar: what is being fitted, the models done, the time so far.
_BAR = "{desc} [{bar:10}] {n_fmt}/{total_fmt} {elapsed}"


def _n_params(est) -> int:
    return sum(p.numel() for p in est.net_.module_.parameters())


def _predict_seconds(est, X, repeats=5) -> float:
    est.predict_proba(X)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        est.predict_proba(X)
        best = min(best, time.perf_counter() - t0)
    return best


def _ratio(epistemic_ratio, teacher, student) -> float:
    """The student's mean epistemic uncertainty over the teacher's; NaN (shown
    as n/a) where the teacher has none, and the ratio is undefined."""
    if not np.mean(teacher) > 0:
        return float("nan")
    return epistemic_ratio(teacher, student)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {value}")
    return value


def _ensemble_size(text: str) -> int:
    value = _positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(
            "must be at least 2: one network has no epistemic uncertainty to "
            f"distil; got {value}"
        )
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m skdistill",
        description="Fit a deep ensemble on a classification data set, distil it "
        "into Hydra+, Hydra, KD and EnDD students, and print a table of what each "
        "student kept: accuracy, NLL, ECE, Brier score, epistemic uncertainty, "
        "parameters and prediction speed-up. The table, a reliability diagram "
        "and histograms of epistemic uncertainty on test and shifted rows are "
        "written to the output folder.",
        epilog="examples: python -m skdistill --dataset digits --n-members 10; "
        "python -m skdistill --dataset data.csv --target label --device cuda",
    )
    parser.add_argument(
        "--dataset", default="breast_cancer", metavar="NAME_OR_CSV",
        help=f"a data set bundled with scikit-learn ({', '.join(BUNDLED[:-1])}) or "
        "skdistill's spiral, or the path of a CSV file with a header row: its "
        "numeric columns are the features and --target names the class column "
        "(default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--target", metavar="COLUMN",
        help="the class-label column of a CSV file (default: its last column)",
    )  # fmt: skip
    parser.add_argument(
        "--n-members", type=_ensemble_size, default=8, metavar="N",
        help="members of the deep ensemble, at least 2 (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--n-heads", type=_positive_int, default=4, metavar="M",
        help="heads of the Hydra and Hydra+ students (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--epochs", type=_positive_int, default=None,
        help="cap on the training epochs of every model (default: the "
        "estimators' own; they stop early on a held-out 10%% of the rows)",
    )  # fmt: skip
    parser.add_argument(
        "--device", default="auto",
        help="'cpu', 'cuda', 'cuda:1', ... or 'auto', CUDA when available "
        "(default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=_positive_int, default=1,
        help="PyTorch threads on the CPU; small networks train fastest on one "
        "(default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--output", default="skdistill_output", metavar="FOLDER",
        help="folder for table.txt, reliability.png and epistemic.png, created "
        "if needed; it "
        "is checked before anything is trained (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--force", action="store_true",
        help="overwrite the result files of an earlier run in the output folder "
        "(without it, the demo refuses to)",
    )  # fmt: skip
    return parser


RESULT_FILES = ("table.txt", "reliability.png", "epistemic.png")


def _check_output(folder: str, force: bool) -> Path:
    """The output folder, checked before anything is read or trained.

    A one-line error if it cannot be written. A folder that does not exist
    yet is not made here (``_make_output`` makes it once the data and the
    device are known), so a run that stops at a bad ``--dataset`` leaves
    nothing behind; its nearest existing parent must be a writable folder.
    """
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise SystemExit(f"error: --output {folder!r} is a file, not a folder")
    if not out.exists():
        parent = out.absolute().parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise SystemExit(
                f"error: cannot create --output {folder!r}: {str(parent)!r} is a file"
            )
        if not os.access(parent, os.W_OK | os.X_OK):
            raise SystemExit(
                f"error: cannot create --output {folder!r}: {str(parent)!r} is "
                "not writable"
            )
        return out
    if not os.access(out, os.W_OK | os.X_OK):
        raise SystemExit(f"error: --output {folder!r} is not writable")
    existing = [name for name in RESULT_FILES if (out / name).exists()]
    if existing and not force:
        raise SystemExit(
            f"error: {folder!r} already holds {', '.join(existing)} from an earlier "
            "run; pass --force to overwrite them, or choose another --output"
        )
    return out


def _make_output(out: Path) -> None:
    """Make the output folder checked by ``_check_output``, once the data loaded."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"error: cannot create --output {str(out)!r}: {exc.strerror}"
        raise SystemExit(msg) from None


def _plot_epistemic(epistemic: dict):
    """Epistemic histograms: one row per student over the ensemble's, test and shifted.

    ``epistemic`` maps each model's name to its epistemic uncertainty on the
    test rows and on the shifted rows; the first entry is the ensemble. All
    panels share one logarithmic x axis (values below its floor are counted
    in the first bin) and show fractions of the rows.
    """
    import matplotlib.pyplot as plt

    (teacher, (t_test, t_shift)), *students = epistemic.items()
    values = np.concatenate([np.ravel(v) for pair in epistemic.values() for v in pair])
    top = max(float(values.max()), 1e-12)
    floor = top * 1e-4
    bins = np.geomspace(floor, top, 40)
    fig, axes = plt.subplots(len(students), 2, figsize=(10, 2.3 * len(students)),
                             sharex=True, sharey=True, squeeze=False,
                             layout="constrained")  # fmt: skip

    def hist(ax, v, **kwargs):
        v = np.clip(v, floor, None)
        ax.hist(v, bins=bins, weights=np.full(len(v), 1 / len(v)), **kwargs)

    for row, (name, (s_test, s_shift)) in zip(axes, students):
        for ax, t, s, where in zip(
            row, (t_test, t_shift), (s_test, s_shift), ("test rows", "shifted rows")
        ):
            hist(ax, t, color="tab:blue", alpha=0.4, label=teacher)
            if np.any(s > 0):
                hist(ax, s, histtype="step", linewidth=2, color="tab:orange",
                     label=name)  # fmt: skip
            else:
                ax.text(0.5, 0.6, f"{name}: one head,\nno epistemic uncertainty",
                        transform=ax.transAxes, ha="center", va="center",
                        color="tab:orange")  # fmt: skip
            ax.set_title(f"{name} on {where}", fontsize="medium")
            ax.legend(fontsize="small", loc="upper right")
        row[0].set_ylabel("fraction of rows")
    axes[0, 0].set_xscale("log")
    for ax in axes[-1]:
        ax.set_xlabel(
            f"epistemic uncertainty (nats; below {floor:.0e} in the first bin)"
        )
    fig.suptitle(
        "Epistemic uncertainty, ensemble (filled) against each student (outline): "
        "test rows, and the same rows plus Gaussian noise",
        fontsize="medium",
    )
    return fig


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.output_dir = _check_output(args.output, args.force)
    except SystemExit as exc:
        print(exc.code, file=sys.stderr)
        return 1
    try:
        return _run(args)
    except (ValueError, TypeError) as exc:
        # Bad data or settings: one line, no traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args) -> int:
    import pandas as pd
    import torch
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    from sklearn.utils.multiclass import type_of_target

    from . import EnDDDistiller, EnsembleClassifier, HydraDistiller, KDDistiller
    from .metrics import (
        brier_score,
        epistemic_ratio,
        expected_calibration_error,
        negative_log_likelihood,
        uncertainty_rank_agreement,
    )
    from .training import resolve_device

    device = resolve_device(args.device)  # a ValueError names a missing CUDA
    torch.set_num_threads(args.threads)

    X, y = _load(args.dataset, args.target)
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        raise SystemExit("error: the target has a single class")
    if type_of_target(y) not in ("binary", "multiclass"):
        raise SystemExit(
            f"error: the target looks {type_of_target(y)} "
            f"({len(np.unique(y))} distinct values): the demo distils a "
            "classifier and needs class labels"
        )
    _make_output(args.output_dir)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0,
                                              stratify=y)  # fmt: skip
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    # The students run at their defaults (only the cap of --epochs, if given):
    # the table shows what a user gets.
    student = dict(device=device, random_state=0)
    if args.epochs is not None:
        student["max_epochs"] = args.epochs
    specs = [
        (f"Hydra+ (M={args.n_heads})", HydraDistiller, dict(n_heads=args.n_heads)),
        (f"Hydra (M={args.n_heads})", HydraDistiller,
         dict(n_heads=args.n_heads, alpha=1.0, beta=1.0, diversity=0.0)),
        ("KD", KDDistiller, {}),
        ("EnDD", EnDDDistiller, {}),
    ]  # fmt: skip
    # One progress bar on stderr: its text names the model being fitted,
    # its count the models done.
    with tqdm(
        total=1 + len(specs), file=sys.stderr, miniters=1, mininterval=0,
        desc=f"fitting the ensemble ({args.n_members} members)", bar_format=_BAR,
    ) as progress:  # fmt: skip
        ens = EnsembleClassifier(
            n_members=args.n_members, hidden_layer_sizes=(64, 32), batch_size="auto",
            early_stopping=True, validation_fraction=0.1, n_iter_no_change=20,
            max_epochs=args.epochs or 500, device=device, random_state=0,
        ).fit(X_tr, y_tr)  # fmt: skip
        models = {f"ensemble (N={args.n_members})": ens}
        for name, cls, params in specs:
            progress.set_description_str(f"distilling: {name}", refresh=False)
            progress.update()
            models[name] = cls(teacher=ens, **params, **student).fit(X_tr, y_tr)
        progress.set_description_str("fitted", refresh=False)
        progress.update()

    # A shifted copy of the test rows (Gaussian noise of one standard
    # deviation per feature): the ensemble's members disagree more there.
    X_shift = X_te + np.random.default_rng(0).standard_normal(X_te.shape)
    ens_epistemic = ens.predict_uncertainty(X_te).epistemic
    ens_shift = ens.predict_uncertainty(X_shift).epistemic
    # Timed on at least 20,000 rows (the test rows repeated), each model
    # once, so that the ensemble's own ratio is exactly 1 and the ratios are
    # not timer noise on a few hundred rows.
    X_time = np.tile(X_te, (max(1, -(-20000 // len(X_te))), 1))
    seconds = {name: _predict_seconds(est, X_time) for name, est in models.items()}
    t_ens = seconds[next(iter(models))]
    rows = []
    for name, est in models.items():
        proba = est.predict_proba(X_te)
        epistemic = est.predict_uncertainty(X_te).epistemic
        kept = (
            uncertainty_rank_agreement(ens_epistemic, epistemic)
            if np.ptp(epistemic) > 0 else np.nan  # undefined: no ranking
        )  # fmt: skip
        shifted = est.predict_uncertainty(X_shift).epistemic
        rows.append({
            "model": name,
            "accuracy": np.mean(est.classes_[proba.argmax(1)] == y_te),
            "NLL": negative_log_likelihood(y_te, proba, labels=est.classes_),
            "ECE": expected_calibration_error(y_te, proba, labels=est.classes_),
            "Brier": brier_score(y_te, proba, labels=est.classes_),
            "mean epistemic": epistemic.mean(),
            "epistemic ratio": _ratio(epistemic_ratio, ens_epistemic, epistemic),
            "ratio shifted": _ratio(epistemic_ratio, ens_shift, shifted),
            "epistemic rank corr.": kept,
            "params": _n_params(est),
            "predict speed-up": t_ens / seconds[name],
        })  # fmt: skip
    table = pd.DataFrame(rows).set_index("model")
    out = args.output_dir
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        text = table.to_string(float_format=lambda v: f"{v:.4f}", na_rep="n/a")
    print(f"\n{args.dataset}: {len(X_tr)} training rows, {len(X_te)} test rows\n")
    print(text)
    (out / "table.txt").write_text(text + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        from .plotting import plot_reliability_diagram

        probas = {name: est.predict_proba(X_te) for name, est in models.items()}
        axes = plot_reliability_diagram(y_te, probas, labels=ens.classes_)
        axes[0].figure.savefig(out / "reliability.png", dpi=100, bbox_inches="tight")
        epistemic = {
            name: (est.predict_uncertainty(X_te).epistemic,
                   est.predict_uncertainty(X_shift).epistemic)
            for name, est in models.items()
        }  # fmt: skip
        fig = _plot_epistemic(epistemic)
        fig.savefig(out / "epistemic.png", dpi=100, bbox_inches="tight")
        written = ", ".join(str(out / name) for name in RESULT_FILES)
        print(f"\nwrote {written}")
    except ImportError:
        print(f"\nwrote {out / 'table.txt'} (install matplotlib for the plots)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
