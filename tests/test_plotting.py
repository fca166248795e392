"""Plots: render with Agg and check what was drawn."""

import ast
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils import Bunch
from threadpoolctl import threadpool_limits

from skdistill.metrics import expected_calibration_error, uncertainty_tv
from skdistill.uncertainty import classification_uncertainty, regression_uncertainty

matplotlib = pytest.importorskip("matplotlib")


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Tiny fits: extra BLAS threads only fight over the shared cores."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(autouse=True)
def _agg():
    """Agg backend, and every figure closed after the test."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def _save(ax, tmp_path, name="plot.png"):
    fig = np.ravel(ax)[0].figure
    path = tmp_path / name
    fig.savefig(path, dpi=40)
    assert path.stat().st_size > 1000
    return fig


class FakeClassifier:
    """Three members of logistic models in x0 + x1, with different slopes."""

    classes_ = np.array(["left", "right"])

    def predict_members(self, X):
        X = np.asarray(X, dtype=float)
        z = X[:, 0] + X[:, 1]
        p1 = np.stack([1 / (1 + np.exp(-s * z)) for s in (0.5, 2.0, 8.0)])
        return np.stack([1 - p1, p1], axis=-1)

    def predict_proba(self, X):
        return self.predict_members(X).mean(axis=0)

    def predict_uncertainty(self, X):
        return classification_uncertainty(self.predict_members(X))


class FakeRegressor:
    """Two members that agree near 0 and drift apart away from it."""

    def predict_members(self, X):
        x = np.asarray(X, dtype=float)[:, 0]
        means = np.stack([np.sin(x), np.sin(x) + 0.3 * x**2])
        variances = np.stack([0.1 + 0 * x, 0.2 + 0 * x])
        return means, variances


class FakeRegressorWithoutMembers:
    def predict(self, X):
        return np.sin(np.asarray(X, dtype=float)[:, 0])

    def predict_uncertainty(self, X):
        x = np.asarray(X, dtype=float)[:, 0]
        return Bunch(total=0.1 + x**2, aleatoric=0.1 + 0 * x, epistemic=x**2)


@pytest.fixture(scope="module")
def probas():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    y = np.where(X[:, 0] + 0.7 * rng.normal(size=120) > 0, "yes", "no")
    clf = LogisticRegression().fit(X, y)
    return y, clf.predict_proba(X), np.full((120, 2), 0.5)


# --------------------------------------------------------------------------
# reliability diagram
# --------------------------------------------------------------------------


def _bars(ax, faded=False):
    """The bar patches of a reliability panel: full ones, or the faded ones."""
    from matplotlib.patches import Rectangle

    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    return [b for b in bars if (b.get_hatch() is not None) == faded]


def test_reliability_diagram_single_model(probas, tmp_path):
    from skdistill.plotting import plot_reliability_diagram

    y, proba, _ = probas
    ax = plot_reliability_diagram(y, proba, n_bins=5, strategy="uniform")
    _save(ax, tmp_path)
    (strip,) = ax.child_axes  # the count histogram under the panel
    assert strip.get_xlabel() == "Confidence" and ax.get_ylabel() == "Accuracy"
    lines = ax.get_lines()
    assert len(lines) == 2  # diagonal + model
    np.testing.assert_array_equal(lines[0].get_xdata(), [0, 1])
    np.testing.assert_array_equal(lines[0].get_ydata(), [0, 1])
    # The dots are at each well-filled bin's mean confidence and accuracy, and
    # each bar rises to its bin's accuracy.
    conf, hit = proba.max(1), (np.array(["no", "yes"])[proba.argmax(1)] == y)
    xs, ys, counts = [], [], []
    for lo, hi in zip(np.linspace(0, 1, 6)[:-1], np.linspace(0, 1, 6)[1:]):
        inside = (conf > lo) & (conf <= hi)
        counts.append(inside.sum())
        if inside.sum() >= 5:
            xs.append(conf[inside].mean())
            ys.append(hit[inside].mean())
    np.testing.assert_allclose(lines[1].get_xdata(), xs, atol=1e-12)
    np.testing.assert_allclose(lines[1].get_ydata(), ys, atol=1e-12)
    np.testing.assert_allclose([b.get_height() for b in _bars(ax)], ys, atol=1e-12)
    # The strip counts every bin, empty ones as 0.
    assert [b.get_height() for b in strip.patches] == counts
    ece = expected_calibration_error(y, proba, n_bins=5)
    assert ax.get_title() == f"model\nECE {ece:.3f} (5 uniform bins)"


def test_reliability_diagram_one_panel_per_model(probas, tmp_path):
    from skdistill.plotting import plot_reliability_diagram

    y, proba, flat = probas
    axes = plot_reliability_diagram(
        y, {"logistic": proba, "coin": flat[:, 1]}, labels=["no", "yes"]
    )
    fig = _save(axes, tmp_path)
    assert len(axes) == 2
    assert len(fig.axes) == 2
    assert all(len(a.child_axes) == 1 for a in axes)  # each with its count strip
    for a, name, p in zip(axes, ["logistic", "coin"], [proba, flat[:, 1]]):
        ece = expected_calibration_error(
            y, p, labels=["no", "yes"], strategy="quantile", n_bins=15
        )
        title = a.get_title().splitlines()
        assert title[0] == name
        assert title[1].startswith(f"ECE {ece:.3f} (")
    # The coin always says 0.5: all 120 samples in one bin, one dot at 0.5.
    np.testing.assert_allclose(axes[1].get_lines()[1].get_xdata(), [0.5])
    assert sum(b.get_height() for b in axes[1].child_axes[0].patches) == 120


def test_reliability_diagram_quantile_bins_under_1000_samples():
    from skdistill.plotting import plot_reliability_diagram

    rng = np.random.default_rng(7)

    def data(n):
        conf = rng.uniform(0.5, 1.0, n)
        y = (rng.random(n) < conf).astype(int)  # class 1 right with prob conf
        return y, np.c_[1 - conf, conf]

    y, proba = data(300)
    ax = plot_reliability_diagram(y, proba, n_bins=10)
    assert ax.get_title().endswith("(10 quantile bins)")
    counts = [b.get_height() for b in ax.child_axes[0].patches]
    assert len(counts) == 10 and min(counts) >= 29  # equal-mass bins
    ece = expected_calibration_error(y, proba, n_bins=10, strategy="quantile")
    assert f"ECE {ece:.3f}" in ax.get_title()
    y, proba = data(1500)
    ax = plot_reliability_diagram(y, proba, n_bins=10)
    assert ax.get_title().endswith("(10 uniform bins)")
    # Quantile bins are capped so that each holds min_count samples.
    ax = plot_reliability_diagram(y[:40], proba[:40], n_bins=15, min_count=5)
    assert ax.get_title().endswith("(8 quantile bins)")
    ax = plot_reliability_diagram(y[:40], proba[:40], strategy="uniform")
    assert ax.get_title().endswith("(15 uniform bins)")


def test_reliability_diagram_fades_sparse_bins():
    from skdistill.plotting import plot_reliability_diagram

    # 50 samples at confidence 0.9, 3 at 0.6: the 0.6 bin is sparse.
    conf = np.r_[np.full(50, 0.9), np.full(3, 0.6)]
    y = np.r_[np.ones(45), np.zeros(5), np.ones(3)].astype(int)
    proba = np.c_[1 - conf, conf]
    ax = plot_reliability_diagram(y, proba, n_bins=10, strategy="uniform")
    # Only the full bin gets a dot and a solid bar.
    np.testing.assert_allclose(ax.get_lines()[1].get_xdata(), [0.9])
    assert [b.get_height() for b in _bars(ax)] == pytest.approx([0.9])
    (faded,) = _bars(ax, faded=True)
    assert faded.get_x() == pytest.approx(0.5) and faded.get_height() == 1.0
    assert faded.get_alpha() < 0.35
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "< 5 samples (faded)" in texts
    # With min_count=3 the same bin is drawn in full.
    ax = plot_reliability_diagram(y, proba, n_bins=10, strategy="uniform", min_count=3)
    assert not _bars(ax, faded=True)
    np.testing.assert_allclose(ax.get_lines()[1].get_xdata(), [0.6, 0.9])


def test_reliability_diagram_on_given_axes(probas, tmp_path):
    import matplotlib.pyplot as plt

    from skdistill.plotting import plot_reliability_diagram

    y, proba, flat = probas
    fig, given = plt.subplots(1, 2)
    axes = plot_reliability_diagram(y, {"a": proba, "b": flat}, ax=given)
    _save(axes, tmp_path)
    assert list(axes) == list(given)
    fig, one = plt.subplots()
    assert plot_reliability_diagram(y, proba, ax=one) is one
    with pytest.raises(ValueError, match="2 Axes"):
        plot_reliability_diagram(y, {"a": proba, "b": flat}, ax=[one])


def test_reliability_diagram_rejects_bad_input(probas):
    from skdistill.plotting import plot_reliability_diagram

    y, proba, _ = probas
    with pytest.raises(ValueError, match="different numbers of samples"):
        plot_reliability_diagram(y[:10], proba)
    with pytest.raises(ValueError, match="y_proba contains NaN"):
        plot_reliability_diagram(y, np.full_like(proba, np.nan))
    with pytest.raises(ValueError, match="strategy must be"):
        plot_reliability_diagram(y, proba, strategy="equal")
    with pytest.raises(ValueError, match="min_count must be at least 1"):
        plot_reliability_diagram(y, proba, min_count=0)


# --------------------------------------------------------------------------
# uncertainty histograms
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_uncertainties():
    rng = np.random.default_rng(1)
    teacher = classification_uncertainty(rng.dirichlet([0.5] * 3, size=(5, 80)))
    student = classification_uncertainty(rng.dirichlet([1.0] * 3, size=(3, 80)))
    return teacher, student


def test_uncertainty_histograms_from_bunches(two_uncertainties, tmp_path):
    from skdistill.plotting import plot_uncertainty_histograms

    teacher, student = two_uncertainties
    axes = plot_uncertainty_histograms(
        teacher, student, names=("ens", "hydra"), bins=12
    )
    _save(axes, tmp_path)
    assert len(axes) == 3
    for a, part in zip(axes, ("total", "aleatoric", "epistemic")):
        assert len(a.patches) == 2  # one filled step outline per model
        assert [t.get_text() for t in a.get_legend().get_texts()] == ["ens", "hydra"]
        tv = uncertainty_tv(teacher[part], student[part])  # the metric's own bins
        assert a.get_title() == f"{part.capitalize()} (TV {tv:.3f})"
        assert a.get_xlabel() == f"{part} uncertainty"  # data: no unit to tell
        assert a.get_ylabel() == "Density"
        # Both histograms share their bins: their outlines span the same x range.
        x0 = a.patches[0].get_xy()[:, 0]
        x1 = a.patches[1].get_xy()[:, 0]
        assert x0.min() == x1.min() and x0.max() == x1.max()
        lo = min(teacher[part].min(), student[part].min())
        assert x0.min() == pytest.approx(lo)


def test_uncertainty_histograms_from_dict_and_frame(two_uncertainties):
    pd = pytest.importorskip("pandas")
    from skdistill.plotting import plot_uncertainty_histograms

    teacher, student = two_uncertainties
    axes = plot_uncertainty_histograms(dict(teacher), pd.DataFrame(student))
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == [
        "teacher",
        "student",
    ]


def test_uncertainty_histograms_from_estimators(tmp_path):
    import matplotlib.pyplot as plt

    from skdistill.plotting import plot_uncertainty_histograms

    X = np.random.default_rng(2).normal(size=(50, 2))
    fig, given = plt.subplots(3, 1)
    axes = plot_uncertainty_histograms(
        FakeClassifier(), FakeClassifier(), X=X, ax=given
    )
    _save(axes, tmp_path)
    assert list(axes) == list(given)
    # Same model twice: identical histograms, zero total variation.
    assert all(a.get_title().endswith("(TV 0.000)") for a in axes)
    assert all(a.get_xlabel().endswith("(nats)") for a in axes)  # a classifier
    with pytest.raises(ValueError, match="pass X="):
        plot_uncertainty_histograms(FakeClassifier(), FakeClassifier())
    with pytest.raises(ValueError, match="3 Axes"):
        plot_uncertainty_histograms(
            FakeClassifier(), FakeClassifier(), X=X, ax=given[:2]
        )


def test_uncertainty_histograms_reject_bad_input(two_uncertainties):
    from skdistill.plotting import plot_uncertainty_histograms

    teacher, _ = two_uncertainties
    with pytest.raises(TypeError, match="'epistemic' is missing"):
        plot_uncertainty_histograms(teacher, {"total": [1.0], "aleatoric": [1.0]})
    with pytest.raises(TypeError, match="total, aleatoric and epistemic"):
        plot_uncertainty_histograms(teacher, np.zeros(3))
    bad = Bunch(total=[np.nan], aleatoric=[0.0], epistemic=[0.0])
    with pytest.raises(ValueError, match="student_unc.total contains NaN"):
        plot_uncertainty_histograms(teacher, bad)


# --------------------------------------------------------------------------
# decision and uncertainty maps
# --------------------------------------------------------------------------


def _diagonal_points():
    """40 points in [-2, 2]^2, labelled by the side of x0 + x1 = 0 they lie on."""
    X = np.random.default_rng(3).uniform(-2, 2, size=(40, 2))
    return X, np.where(X.sum(axis=1) > 0, "right", "left")


def test_decision_and_uncertainty_maps(tmp_path):
    from matplotlib.collections import PathCollection, QuadMesh

    from skdistill.plotting import plot_decision_and_uncertainty

    X, y = _diagonal_points()
    axes = plot_decision_and_uncertainty(FakeClassifier(), X, y, grid_resolution=20)
    fig = _save(axes, tmp_path)
    assert len(axes) == 2
    assert len(fig.axes) == 3  # two panels and the colour bar
    assert axes[0].get_title() == "Predicted class"
    assert axes[1].get_title() == "Epistemic uncertainty"
    for a in axes:
        kinds = sorted(type(c).__name__ for c in a.collections)
        assert kinds == ["PathCollection", "QuadMesh"]
        points = next(c for c in a.collections if isinstance(c, PathCollection))
        np.testing.assert_allclose(points.get_offsets(), X)
    decision = next(c for c in axes[0].collections if isinstance(c, QuadMesh))
    epistemic = next(c for c in axes[1].collections if isinstance(c, QuadMesh))
    values = np.asarray(decision.get_array()).reshape(20, 20)
    assert values.shape == (20, 20)
    # The class changes across the diagonal x0 + x1 = 0: both classes are drawn.
    assert set(np.unique(values)) == {0, 1}
    # Epistemic uncertainty of the fake is largest near the boundary.
    epi = np.asarray(epistemic.get_array()).ravel()
    assert epi.min() >= 0 and epi.max() > 0.05
    assert fig.axes[2].get_ylabel() == "epistemic (nats)"


def _point_colours(points, labels):
    """The face colour of the first point of each label."""
    faces = points.get_facecolors()
    return {str(lab): tuple(faces[np.flatnonzero(labels == lab)[0]]) for lab in
            np.unique(labels)}  # fmt: skip


def test_decision_map_has_a_key_naming_the_classes(tmp_path):
    """The key names every class, in the colour its points are drawn in."""
    from matplotlib.collections import PathCollection

    from skdistill.plotting import plot_decision_and_uncertainty

    X, y = _diagonal_points()
    axes = plot_decision_and_uncertainty(FakeClassifier(), X, y, grid_resolution=10)
    fig = _save(axes, tmp_path)
    (key,) = fig.legends  # one key for the figure, under the panels
    assert key.get_title().get_text() == "class"
    names = [t.get_text() for t in key.get_texts()]
    assert names == ["left", "right"]
    points = next(c for c in axes[0].collections if isinstance(c, PathCollection))
    colours = _point_colours(points, y)
    for name, patch in zip(names, key.get_patches()):
        assert tuple(patch.get_facecolor()) == pytest.approx(colours[name])
    assert colours["left"] != colours["right"]
    # Under the panels: it overlaps neither of them.
    fig.canvas.draw()
    box = key.get_window_extent()
    for a in axes:
        assert not box.overlaps(a.get_window_extent())


def test_decision_map_key_on_given_axes_and_for_different_classes():
    import matplotlib.pyplot as plt

    from skdistill.plotting import plot_decision_and_uncertainty

    class TwoClasses(FakeClassifier):
        classes_ = np.array(["a", "b"])

    class ThreeClasses(FakeClassifier):
        classes_ = np.array(["a", "b", "c"])

        def predict_members(self, X):
            p = super().predict_members(X) * 0.9
            return np.concatenate([p, np.full((*p.shape[:2], 1), 0.1)], axis=2)

    X = np.random.default_rng(6).uniform(-2, 2, size=(30, 2))
    y = np.where(X.sum(axis=1) > 0, "b", "a")
    fig, ax = plt.subplots(1, 2)
    axes = plot_decision_and_uncertainty(ThreeClasses(), X, y, ax=ax, grid_resolution=6)
    assert not fig.legends  # the user's figure: the key goes on the decision map
    key = axes[0].get_legend()
    assert [t.get_text() for t in key.get_texts()] == ["a", "b", "c"]
    models = {"two": TwoClasses(), "three": ThreeClasses()}
    axes = plot_decision_and_uncertainty(models, X, y, grid_resolution=6)
    # Their classes differ, so each decision map names its own.
    assert not axes[0, 0].figure.legends
    assert [t.get_text() for t in axes[0, 0].get_legend().get_texts()] == ["a", "b"]
    assert [t.get_text() for t in axes[1, 0].get_legend().get_texts()] == [
        "a", "b", "c"]  # fmt: skip
    # The same classes: one key under all the panels.
    axes = plot_decision_and_uncertainty(
        {"one": TwoClasses(), "other": TwoClasses()}, X, y, grid_resolution=6
    )
    (key,) = axes[0, 0].figure.legends
    assert [t.get_text() for t in key.get_texts()] == ["a", "b"]
    assert axes[0, 0].get_legend() is None and axes[1, 0].get_legend() is None


def test_uncertainty_scale_starts_at_zero_even_without_uncertainty():
    """A one-head student has no epistemic uncertainty: the scale is [0, small]."""
    from matplotlib.collections import QuadMesh

    from skdistill.plotting import plot_decision_and_uncertainty

    class OneHead(FakeClassifier):
        def predict_members(self, X):
            return super().predict_members(X)[:1]

    X = np.random.default_rng(4).uniform(-2, 2, size=(20, 2))
    y = np.where(X.sum(axis=1) > 0, "right", "left")
    for model in (OneHead(), FakeClassifier()):
        axes = plot_decision_and_uncertainty(model, X, y, grid_resolution=8)
        mesh = next(c for c in axes[1].collections if isinstance(c, QuadMesh))
        values = np.asarray(mesh.get_array())
        assert mesh.norm.vmin == 0.0
        assert mesh.norm.vmax == pytest.approx(max(values.max(), 1e-3))
        assert mesh.norm.vmax > 0


def test_decision_map_keeps_feature_names():
    pd = pytest.importorskip("pandas")
    from skdistill.plotting import plot_decision_and_uncertainty

    seen = []

    class NamesCheckingClassifier(FakeClassifier):
        def predict_members(self, X):
            seen.append(list(X.columns))
            return super().predict_members(X)

    X = pd.DataFrame(np.random.default_rng(5).normal(size=(12, 2)), columns=["a", "b"])
    y = np.where(X["a"] + X["b"] > 0, "right", "left")
    axes = plot_decision_and_uncertainty(
        NamesCheckingClassifier(), X, y, grid_resolution=5
    )
    assert seen == [["a", "b"], ["a", "b"]]
    assert (axes[0].get_xlabel(), axes[0].get_ylabel()) == ("a", "b")


@pytest.mark.parametrize("shape", [(10, 3), (10, 1), (10,)])
def test_decision_map_needs_two_features(shape):
    from skdistill.plotting import plot_decision_and_uncertainty

    X = np.zeros(shape)
    with pytest.raises(ValueError, match="exactly 2 features"):
        plot_decision_and_uncertainty(FakeClassifier(), X, np.zeros(10))


def test_decision_map_checks_estimator_and_labels():
    from skdistill.plotting import plot_decision_and_uncertainty

    X, y = np.zeros((4, 2)), np.array(["left", "right", "left", "right"])
    with pytest.raises(TypeError, match="predict_uncertainty"):
        plot_decision_and_uncertainty(
            LogisticRegression().fit(X + np.eye(4, 2), y), X, y
        )
    with pytest.raises(ValueError, match="one label per row"):
        plot_decision_and_uncertainty(FakeClassifier(), X, y[:3])


# --------------------------------------------------------------------------
# regression band
# --------------------------------------------------------------------------


def _fill_extent(collection):
    """Lowest and highest y of a fill_between band."""
    y = collection.get_paths()[0].vertices[:, 1]
    return y.min(), y.max()


def test_regression_band(tmp_path):
    from matplotlib.collections import PathCollection, PolyCollection

    from skdistill.plotting import plot_regression_band

    rng = np.random.default_rng(4)
    X = rng.uniform(-2, 2, size=(30, 1))
    y = np.sin(X[:, 0]) + rng.normal(0, 0.3, size=30)
    grid = np.linspace(-3, 3, 50)
    ax = plot_regression_band(FakeRegressor(), X, y, x_grid=grid)
    _save(ax, tmp_path)
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(bands) == 2 and len(points) == 1
    np.testing.assert_allclose(points[0].get_offsets(), np.c_[X[:, 0], y])
    (line,) = ax.get_lines()
    means, variances = FakeRegressor().predict_members(grid[:, None])
    np.testing.assert_allclose(line.get_xdata(), grid)
    np.testing.assert_allclose(line.get_ydata(), means.mean(axis=0), atol=1e-12)
    u = regression_uncertainty(means, variances)
    mean = means.mean(axis=0)
    total_lo, total_hi = _fill_extent(bands[0])
    alea_lo, alea_hi = _fill_extent(bands[1])
    assert total_hi == pytest.approx(np.max(mean + 2 * np.sqrt(u.total)))
    assert total_lo == pytest.approx(np.min(mean - 2 * np.sqrt(u.total)))
    assert alea_hi == pytest.approx(np.max(mean + 2 * np.sqrt(u.aleatoric)))
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == [
        "±2σ total (aleatoric + epistemic)",
        "±2σ aleatoric",
        "mean",
        "data",
    ]
    # The key sits outside the axes: it covers no data point and no band.
    ax.figure.canvas.draw()
    box = ax.get_legend().get_window_extent()
    assert not box.overlaps(ax.get_window_extent())
    assert box.x1 <= ax.figure.bbox.x1 + 1  # and inside the figure


def test_regression_band_without_members_and_without_y(tmp_path):
    from skdistill.plotting import plot_regression_band

    X = np.linspace(-1, 1, 20)  # 1-D input is one feature
    ax = plot_regression_band(FakeRegressorWithoutMembers(), X)
    _save(ax, tmp_path)
    assert len(ax.collections) == 2  # two bands, no data points
    (line,) = ax.get_lines()
    # The default grid pads the data range by 10% on each side.
    assert line.get_xdata()[0] == pytest.approx(-1.2)
    assert line.get_xdata()[-1] == pytest.approx(1.2)
    np.testing.assert_allclose(line.get_ydata(), np.sin(line.get_xdata()))


def test_regression_band_needs_one_feature():
    from skdistill.plotting import plot_regression_band

    with pytest.raises(ValueError, match="exactly one feature"):
        plot_regression_band(FakeRegressor(), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="one value per row"):
        plot_regression_band(FakeRegressor(), np.zeros((5, 1)), np.zeros(4))
    with pytest.raises(TypeError, match="predict_members"):
        plot_regression_band(LogisticRegression(), np.zeros((5, 1)))


def test_matplotlib_is_imported_lazily():
    import skdistill.plotting

    modules = sorted(Path(skdistill.plotting.__file__).parent.glob("*.py"))
    assert len(modules) > 1  # a package: __init__ and one module per picture
    for module in modules:
        tree = ast.parse(module.read_text())
        top_level = [
            alias.name if isinstance(node, ast.Import) else node.module
            for node in tree.body
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        ]
        assert not [m for m in top_level if m and m.startswith("matplotlib")], module


def test_public_functions_import_from_the_package():
    import skdistill.plotting
    from skdistill.plotting import (
        plot_decision_and_uncertainty,
        plot_regression_band,
        plot_reliability_diagram,
        plot_uncertainty_histograms,
    )

    for name in skdistill.plotting.__all__:
        assert callable(getattr(skdistill.plotting, name))
    assert {
        plot_decision_and_uncertainty,
        plot_regression_band,
        plot_reliability_diagram,
        plot_uncertainty_histograms,
    } == {getattr(skdistill.plotting, name) for name in skdistill.plotting.__all__}


# --------------------------------------------------------------------------
# figures that compare models share their scales and say what they show
# --------------------------------------------------------------------------


class OneHeadClassifier(FakeClassifier):
    def predict_members(self, X):
        return super().predict_members(X)[:1]


class HalfAsSureClassifier(FakeClassifier):
    """The fake's members, with the two extreme slopes only: less disagreement."""

    def predict_members(self, X):
        return super().predict_members(X)[1:]


def test_decision_maps_of_several_models_share_one_colour_scale(tmp_path):
    from matplotlib.collections import QuadMesh

    from skdistill.plotting import plot_decision_and_uncertainty

    rng = np.random.default_rng(6)
    X = rng.uniform(-2, 2, size=(30, 2))
    y = np.where(X.sum(axis=1) > 0, "right", "left")
    models = {"fake": FakeClassifier(), "half": HalfAsSureClassifier(),
              "KD": OneHeadClassifier()}  # fmt: skip
    axes = plot_decision_and_uncertainty(models, X, y, grid_resolution=15)
    fig = _save(axes, tmp_path)
    assert axes.shape == (3, 2)
    assert len(fig.axes) == 7  # six panels and one shared colour bar
    meshes = [
        next(c for c in a.collections if isinstance(c, QuadMesh)) for a in axes[:, 1]
    ]
    tops = [np.asarray(m.get_array()).max() for m in meshes]
    assert tops[0] != pytest.approx(tops[1])  # different maxima...
    clims = {m.get_clim() for m in meshes}
    assert len(clims) == 1  # ...one scale,
    assert clims.pop() == (0.0, pytest.approx(max(tops)))  # from 0 to the top
    assert [a.get_title() for a in axes[:, 1]] == [
        "fake: epistemic uncertainty",
        "half: epistemic uncertainty",
        "KD: epistemic uncertainty",
    ]
    # Only the one-head model's map says why it is flat.
    notes = [[t.get_text() for t in a.texts] for a in axes[:, 1]]
    assert notes == [[], [], ["one head:\nno epistemic uncertainty"]]
    with pytest.raises(ValueError, match="6 Axes"):
        plot_decision_and_uncertainty(models, X, y, ax=axes[:2])


def test_flat_map_of_a_many_head_model_is_not_called_one_head():
    from skdistill.plotting import plot_decision_and_uncertainty

    class Clones(FakeClassifier):
        def predict_members(self, X):
            one = super().predict_members(X)[:1]
            return np.concatenate([one, one])  # two identical heads

    X = np.random.default_rng(8).uniform(-2, 2, size=(10, 2))
    y = np.where(X.sum(axis=1) > 0, "right", "left")
    axes = plot_decision_and_uncertainty(Clones(), X, y, grid_resolution=6)
    assert [t.get_text() for t in axes[1].texts] == [
        "no epistemic uncertainty:\n0 everywhere"
    ]


def test_regression_bands_are_opaque_so_the_legend_colours_match():
    from matplotlib.colors import to_rgba

    from skdistill.plotting import plot_regression_band

    X = np.linspace(-2, 2, 20)[:, None]
    ax = plot_regression_band(FakeRegressor(), X, np.sin(X[:, 0]))
    legend = ax.get_legend()
    for band, handle in zip(ax.collections[:2], legend.legend_handles[:2]):
        face = band.get_facecolor()[0]
        assert face[3] == 1.0  # no blending where the bands overlap
        np.testing.assert_allclose(to_rgba(handle.get_facecolor()), face)
    total, aleatoric = (b.get_facecolor()[0] for b in ax.collections[:2])
    assert not np.allclose(total, aleatoric)


def test_histograms_draw_the_second_model_as_an_outline(two_uncertainties):
    from skdistill.plotting import plot_uncertainty_histograms

    teacher, student = two_uncertainties
    for a in plot_uncertainty_histograms(teacher, student, units="nats"):
        first, second = a.patches
        assert first.get_fill() and not second.get_fill()
        assert a.get_xlabel().endswith("(nats)")


def test_histograms_can_share_one_x_range(two_uncertainties):
    from skdistill.plotting import plot_uncertainty_histograms

    teacher, student = two_uncertainties
    own = plot_uncertainty_histograms(teacher, student, bins=10)
    spans = [(a.patches[0].get_xy()[:, 0].min(), a.patches[0].get_xy()[:, 0].max())
             for a in own]  # fmt: skip
    assert len(set(spans)) == 3  # each component over its own range
    axes = plot_uncertainty_histograms(teacher, student, bins=10, sharex=True)
    lo = min(min(u[p].min() for p in ("total", "aleatoric", "epistemic"))
             for u in (teacher, student))  # fmt: skip
    hi = max(max(u[p].max() for p in ("total", "aleatoric", "epistemic"))
             for u in (teacher, student))  # fmt: skip
    for a in axes:
        x = a.patches[0].get_xy()[:, 0]
        assert (x.min(), x.max()) == (pytest.approx(lo), pytest.approx(hi))


def test_histogram_tv_does_not_depend_on_the_display_range():
    """With sharex, two different narrow samples fall in one display bin;
    the title must still give their distance (a KD student's epistemic
    uncertainty, all zeros, against an ensemble's small positive values)."""
    from skdistill.plotting import plot_uncertainty_histograms

    rng = np.random.default_rng(0)
    teacher = Bunch(total=rng.uniform(0, 0.7, 200), aleatoric=rng.uniform(0, 0.7, 200),
                    epistemic=rng.uniform(1e-4, 5e-3, 200))  # fmt: skip
    student = Bunch(total=teacher.total, aleatoric=teacher.aleatoric,
                    epistemic=np.zeros(200))  # fmt: skip
    tv = uncertainty_tv(teacher.epistemic, student.epistemic)
    assert tv > 0.5
    for sharex in (False, True):
        axes = plot_uncertainty_histograms(teacher, student, sharex=sharex)
        assert axes[2].get_title() == f"Epistemic (TV {tv:.3f})"


def test_histogram_units_follow_the_task():
    from sklearn.datasets import make_classification, make_regression

    from skdistill import EnsembleClassifier, EnsembleRegressor
    from skdistill.plotting import plot_uncertainty_histograms

    opts = dict(n_members=2, hidden_layer_sizes=(4,), max_epochs=1, random_state=0)
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    reg = EnsembleRegressor(**opts).fit(X, y)
    axes = plot_uncertainty_histograms(reg, reg, X=X)
    assert axes[0].get_xlabel() == "total uncertainty (variance, y units²)"
    Xc, yc = make_classification(n_samples=40, n_features=3, n_informative=2,
                                 n_redundant=0, random_state=0)  # fmt: skip
    clf = EnsembleClassifier(**opts).fit(Xc, yc)
    axes = plot_uncertainty_histograms(clf, clf, X=Xc)
    assert axes[2].get_xlabel() == "epistemic uncertainty (nats)"
    axes = plot_uncertainty_histograms(clf, clf, X=Xc, units=None)
    assert axes[2].get_xlabel() == "epistemic uncertainty"


def test_reliability_legend_leaves_the_bin_means_visible():
    """A binary model's axis runs from 0.5: its confident, accurate bins sit
    at the top; the legend (once upper left) must not cover their dots."""
    from skdistill.plotting import plot_reliability_diagram

    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 600)
    y_true = (rng.uniform(size=600) < np.minimum(1.0, conf + 0.1)).astype(int)
    proba = np.column_stack([1 - conf, conf])
    ax = np.ravel(plot_reliability_diagram(y_true, proba))[0]
    fig = ax.figure
    fig.canvas.draw()
    box = ax.get_legend().get_window_extent()
    dots = next(line for line in ax.get_lines() if line.get_marker() == "o")
    points = ax.transData.transform(dots.get_xydata())
    assert not any(box.contains(x, y) for x, y in points)
