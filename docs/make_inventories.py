"""Write the intersphinx inventories in ``docs/_inv``, so the docs build offline.

Sphinx's intersphinx extension resolves references such as
``:class:`sklearn.model_selection.GridSearchCV``` through each project's
``objects.inv``, normally downloaded from the web at build time. CI has no
network, so ``conf.py`` points intersphinx at the small files written here
instead. Each one lists only the external names that our pages (and the
docstrings they include) refer to, each with its real public documentation URL,
in the format Sphinx itself writes (``sphinx.util.inventory``, version 2): four
plain header lines, then zlib-compressed lines of
``name domain:role priority uri display-name``, where a ``uri`` ending in ``$``
stands for itself with the ``$`` replaced by the name and a display name ``-``
means "the same as the name".

Run it after adding a new external reference to the docs (the build fails with
"reference target not found" until you do)::

    python docs/make_inventories.py

``tests/test_docs.py`` checks that the committed files match this script.
"""

from __future__ import annotations

import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent / "_inv"

# Templates of a page's path per project, for the common layouts.
SKLEARN_API = "modules/generated/{name}.html#$"
NUMPY_API = "reference/generated/{name}.html#$"
TORCH_API = "generated/{name}.html#$"
PANDAS_API = "reference/api/{name}.html#$"
JOBLIB_API = "generated/{name}.html#$"

# project -> (version shown in the header, [(name, "domain:role", uri or template)
# or (name, "domain:role", uri, display name)])
PROJECTS: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "python": (
        "3",
        [
            ("dict", "py:class", "library/stdtypes.html#$"),
            ("list", "py:class", "library/stdtypes.html#$"),
            ("tuple", "py:class", "library/stdtypes.html#$"),
            ("str", "py:class", "library/stdtypes.html#$"),
            ("int", "py:class", "library/functions.html#$"),
            ("float", "py:class", "library/functions.html#$"),
            ("bool", "py:class", "library/functions.html#$"),
            ("None", "py:data", "library/constants.html#$"),
            ("ValueError", "py:exception", "library/exceptions.html#$"),
            ("TypeError", "py:exception", "library/exceptions.html#$"),
            ("pickle", "py:module", "library/pickle.html#module-pickle"),
        ],
    ),
    "numpy": (
        "2",
        [
            ("numpy.ndarray", "py:class", NUMPY_API),
            ("numpy.meshgrid", "py:function", NUMPY_API),
            ("numpy.random.RandomState", "py:class", "reference/random/legacy.html#$"),
            ("numpy.random.Generator", "py:class", "reference/random/generator.html#$"),
            (
                "numpy.random.default_rng",
                "py:function",
                "reference/random/generator.html#$",
            ),
            ("numpy.typing.ArrayLike", "py:data", "reference/typing.html#$"),
        ],
    ),
    "sklearn": (
        "1",
        [
            ("sklearn.base.BaseEstimator", "py:class", SKLEARN_API),
            ("sklearn.base.clone", "py:function", SKLEARN_API),
            ("sklearn.compose.ColumnTransformer", "py:class", SKLEARN_API),
            ("sklearn.ensemble.BaggingClassifier", "py:class", SKLEARN_API),
            ("sklearn.ensemble.BaggingRegressor", "py:class", SKLEARN_API),
            ("sklearn.ensemble.ExtraTreesClassifier", "py:class", SKLEARN_API),
            ("sklearn.ensemble.ExtraTreesRegressor", "py:class", SKLEARN_API),
            ("sklearn.ensemble.GradientBoostingClassifier", "py:class", SKLEARN_API),
            ("sklearn.ensemble.RandomForestClassifier", "py:class", SKLEARN_API),
            ("sklearn.ensemble.RandomForestRegressor", "py:class", SKLEARN_API),
            ("sklearn.ensemble.VotingClassifier", "py:class", SKLEARN_API),
            ("sklearn.ensemble.VotingRegressor", "py:class", SKLEARN_API),
            ("sklearn.exceptions.UndefinedMetricWarning", "py:class", SKLEARN_API),
            (
                "sklearn.gaussian_process.GaussianProcessRegressor",
                "py:class",
                SKLEARN_API,
            ),
            ("sklearn.linear_model.BayesianRidge", "py:class", SKLEARN_API),
            ("sklearn.linear_model.LogisticRegression", "py:class", SKLEARN_API),
            ("sklearn.metrics.brier_score_loss", "py:function", SKLEARN_API),
            ("sklearn.metrics.log_loss", "py:function", SKLEARN_API),
            ("sklearn.metrics.make_scorer", "py:function", SKLEARN_API),
            ("sklearn.model_selection.GridSearchCV", "py:class", SKLEARN_API),
            ("sklearn.model_selection.RandomizedSearchCV", "py:class", SKLEARN_API),
            ("sklearn.model_selection.cross_val_score", "py:function", SKLEARN_API),
            ("sklearn.model_selection.cross_validate", "py:function", SKLEARN_API),
            ("sklearn.model_selection.train_test_split", "py:function", SKLEARN_API),
            ("sklearn.pipeline.Pipeline", "py:class", SKLEARN_API),
            ("sklearn.pipeline.make_pipeline", "py:function", SKLEARN_API),
            ("sklearn.preprocessing.OneHotEncoder", "py:class", SKLEARN_API),
            ("sklearn.preprocessing.StandardScaler", "py:class", SKLEARN_API),
            ("sklearn.tree.DecisionTreeClassifier", "py:class", SKLEARN_API),
            ("sklearn.tree.DecisionTreeRegressor", "py:class", SKLEARN_API),
            ("sklearn.utils.Bunch", "py:class", SKLEARN_API),
            (
                "sklearn.utils.estimator_checks.parametrize_with_checks",
                "py:function",
                SKLEARN_API,
            ),
            # Named by the docstrings our estimators inherit from scikit-learn.
            ("sklearn.set_config", "py:function", SKLEARN_API),
            ("sklearn.metrics.accuracy_score", "py:function", SKLEARN_API),
            ("sklearn.metrics.r2_score", "py:function", SKLEARN_API),
            ("sklearn.multioutput.MultiOutputRegressor", "py:class", SKLEARN_API),
            ("sklearn.utils.metadata_routing.MetadataRequest", "py:class", SKLEARN_API),
            (
                "accuracy_score",
                "std:label",
                "modules/model_evaluation.html#accuracy-score",
                "Accuracy score",
            ),
            (
                "r2_score",
                "std:label",
                "modules/model_evaluation.html#r2-score",
                "R² score, the coefficient of determination",
            ),
            (
                "metadata_routing",
                "std:label",
                "metadata_routing.html#metadata-routing",
                "Metadata Routing",
            ),
            (
                "meta-estimator",
                "std:term",
                "glossary.html#term-meta-estimator",
                "meta-estimator",
            ),
        ],
    ),
    "torch": (
        "2",
        [
            ("torch.Tensor", "py:class", "tensors.html#$"),
            ("torch.device", "py:class", "tensor_attributes.html#$"),
            ("torch.nn.Module", "py:class", TORCH_API),
            ("torch.nn.Linear", "py:class", TORCH_API),
            ("torch.optim.Optimizer", "py:class", "optim.html#$"),
            ("torch.optim.Adam", "py:class", TORCH_API),
            ("torch.utils.data.Dataset", "py:class", "data.html#$"),
            ("torch.baddbmm", "py:function", TORCH_API),
            ("torch.vmap", "py:function", TORCH_API),
            ("torch.func.vmap", "py:function", TORCH_API),
            ("torch.func.functional_call", "py:function", TORCH_API),
            ("torch.func.stack_module_state", "py:function", TORCH_API),
            ("torch.cuda.is_available", "py:function", TORCH_API),
            ("torch.set_num_threads", "py:function", TORCH_API),
        ],
    ),
    "skorch": (
        "1",
        [
            ("skorch.net.NeuralNet", "py:class", "net.html#$"),
            ("skorch.net.NeuralNet.save_params", "py:method", "net.html#$"),
            ("skorch.net.NeuralNet.load_params", "py:method", "net.html#$"),
            ("skorch.classifier.NeuralNetClassifier", "py:class", "classifier.html#$"),
            ("skorch.callbacks.Callback", "py:class", "callbacks.html#$"),
            ("skorch.callbacks.Checkpoint", "py:class", "callbacks.html#$"),
            ("skorch.callbacks.EarlyStopping", "py:class", "callbacks.html#$"),
            ("skorch.callbacks.LRScheduler", "py:class", "callbacks.html#$"),
            ("skorch.callbacks.ProgressBar", "py:class", "callbacks.html#$"),
            ("skorch.history.History", "py:class", "history.html#$"),
            ("skorch.hf.AccelerateMixin", "py:class", "hf.html#$"),
        ],
    ),
    "pandas": (
        "2",
        [
            ("pandas.DataFrame", "py:class", PANDAS_API),
            ("pandas.Series", "py:class", PANDAS_API),
        ],
    ),
    "joblib": (
        "1",
        [
            ("joblib.Memory", "py:class", JOBLIB_API),
            ("joblib.Parallel", "py:class", JOBLIB_API),
            ("joblib.parallel_config", "py:class", JOBLIB_API),
        ],
    ),
    "matplotlib": (
        "3",
        [
            (
                "matplotlib.axes.Axes",
                "py:class",
                "api/_as_gen/matplotlib.axes.Axes.html#$",
            ),
            (
                "matplotlib.figure.Figure",
                "py:class",
                "api/_as_gen/matplotlib.figure.Figure.html#$",
            ),
        ],
    ),
}


def inventory(project: str, version: str, entries) -> bytes:
    """One ``objects.inv`` (version 2) as bytes, entries sorted for stable output."""
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    lines = []
    for name, role, uri, *display in sorted(entries):
        uri = uri.format(name=name)
        # Labels and terms are linked with their title; objects with their name.
        priority = "-1" if role == "std:label" else "1"
        lines.append(
            f"{name} {role} {priority} {uri} {display[0] if display else '-'}\n"
        )
    body = "".join(lines).encode("utf-8")
    return header.encode("utf-8") + zlib.compress(body, 9)


def write_all(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for project, (version, entries) in PROJECTS.items():
        path = out / f"{project}.inv"
        path.write_bytes(inventory(project, version, entries))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for path in write_all():
        print(f"wrote {path}")
