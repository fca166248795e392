"""Saving and loading every estimator: pickle, joblib, ``save``/``load``.

Every estimator (both ensembles, the three distillers, classification and
regression where supported) must predict exactly as before after a round trip;
models written by an incompatible skdistill release are refused, naming both
versions; a model fitted on CUDA loads on a CPU-only machine.
"""

import io
import json
import pickle
import warnings
import zipfile
from unittest import mock

import joblib
import numpy as np
import pytest
import torch
import torch.serialization
from sklearn.base import clone, is_regressor
from sklearn.datasets import make_classification, make_regression
from sklearn.preprocessing import StandardScaler
from torch import nn

import skdistill
import skdistill._version
from skdistill import (
    EnDDDistiller,
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    IncompatibleVersionError,
    KDDistiller,
    UntrustedTypeError,
    load,
)
from skdistill._persistence import VersionWarning

NET = dict(hidden_layer_sizes=(8,), max_epochs=2, batch_size=32, lr=1e-2)
NET.update(device="cpu", random_state=0)
STUDENT = dict(core_layer_sizes=(8,), head_layer_sizes=(4,), max_epochs=2)
STUDENT.update(batch_size=32, lr=1e-2, device="cpu", random_state=0)


class LinearMember(nn.Module):
    """A user member module (module-level, so plain pickle can find it)."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        return self.linear(x)


@pytest.fixture(scope="module")
def clf_data():
    X, y = make_classification(
        n_samples=120, n_features=5, n_informative=3, n_redundant=0, n_classes=3,
        random_state=0,
    )  # fmt: skip
    return StandardScaler().fit_transform(X), np.array(["a", "b", "c"])[y]


@pytest.fixture(scope="module")
def reg_data():
    X, y = make_regression(n_samples=100, n_features=4, noise=5.0, random_state=0)
    return StandardScaler().fit_transform(X), y


def _ens_clf(**kw):
    return EnsembleClassifier(n_members=3, **{**NET, **kw})


def _ens_reg(**kw):
    return EnsembleRegressor(n_members=3, **{**NET, **kw})


# name -> (unfitted estimator factory, task)
ESTIMATORS = {
    "ensemble_clf": (lambda: _ens_clf(), "clf"),
    "ensemble_clf_module": (lambda: _ens_clf(module=LinearMember), "clf"),
    "ensemble_clf_bootstrap_dml": (
        lambda: _ens_clf(bootstrap=True, mutual_learning=0.3, dropout=0.1),
        "clf",
    ),
    "ensemble_reg": (lambda: _ens_reg(), "reg"),
    "hydra_clf": (lambda: HydraDistiller(_ens_clf(), n_heads=2, **STUDENT), "clf"),
    "hydra_clf_two_stage": (
        lambda: HydraDistiller(
            _ens_clf(), n_heads=2, mean_head_init=True, **{**STUDENT, "max_epochs": 2}
        ),
        "clf",
    ),
    "hydra_reg": (lambda: HydraDistiller(_ens_reg(), n_heads=2, **STUDENT), "reg"),
    "kd_clf": (lambda: KDDistiller(_ens_clf(), **STUDENT), "clf"),
    "kd_clf_virtual": (lambda: KDDistiller("virtual", **STUDENT), "clf"),
    "kd_reg": (lambda: KDDistiller(_ens_reg(), **STUDENT), "reg"),
    "endd_clf": (lambda: EnDDDistiller(_ens_clf(), **STUDENT), "clf"),
}


@pytest.fixture(scope="module")
def fitted(clf_data, reg_data):
    """Each estimator, fitted once for the whole module."""
    cache = {}

    def get(name):
        if name not in cache:
            make, task = ESTIMATORS[name]
            X, y = clf_data if task == "clf" else reg_data
            cache[name] = (make().fit(X, y), X, y)
        return cache[name]

    return get


def outputs(est, X):
    """Everything an estimator predicts, as a dict of arrays."""
    out = {"predict": est.predict(X)}
    if hasattr(est, "predict_proba"):
        out["predict_proba"] = est.predict_proba(X)
    if hasattr(est, "predict_concentration"):
        out["predict_concentration"] = est.predict_concentration(X)
    if is_regressor(est):
        out["predict_std"] = est.predict(X, return_std=True)[1]
    out["predict_members"] = est.predict_members(X)
    out["predict_uncertainty"] = dict(est.predict_uncertainty(X))
    return out


def assert_same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, tuple):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            assert_same(u, v)
    else:
        np.testing.assert_array_equal(a, b)


def _params(est):
    return {k: v for k, v in est.net_.module_.state_dict().items()}


def assert_same_model(original, loaded, X):
    assert type(loaded) is type(original)
    assert_same(outputs(original, X), outputs(loaded, X))
    for k, v in _params(original).items():
        torch.testing.assert_close(_params(loaded)[k], v, rtol=0, atol=0)
    assert len(loaded.history_) == len(original.history_)
    assert loaded.history_[-1, "train_loss"] == original.history_[-1, "train_loss"]
    assert loaded.get_params().keys() == original.get_params().keys()
    assert loaded.device_ == "cpu"


# -------------------------------------------------------------- round trips
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_pickle_round_trip(fitted, name):
    est, X, _ = fitted(name)
    loaded = pickle.loads(pickle.dumps(est))
    assert_same_model(est, loaded, X)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_joblib_round_trip(fitted, name, tmp_path):
    est, X, _ = fitted(name)
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    assert_same_model(est, joblib.load(path), X)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_save_load_round_trip(fitted, name, tmp_path):
    est, X, _ = fitted(name)
    path = tmp_path / "model.skd"
    est.save(path)
    trusted = None
    if name == "ensemble_clf_module":
        # A user's module class is code: refused unless the user trusts it.
        member = f"{LinearMember.__module__}.{LinearMember.__qualname__}"
        with pytest.raises(UntrustedTypeError, match=member):
            load(path)
        trusted = [member]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same version, same device: no warning
        loaded = load(path, trusted=trusted)
    assert_same_model(est, loaded, X)
    for device in ("cpu", "auto"):
        assert_same_model(est, load(path, device=device, trusted=trusted), X)
    # The file is a zip with a readable header and skorch's parameter files.
    with zipfile.ZipFile(path) as zf:
        header = json.loads(zf.read("skdistill.json"))
        names = {n.rsplit("/", 1)[-1] for n in zf.namelist()}
        assert {"params.pt", "optimizer.pt", "history.json"} <= names
        # Data only: no pickle anywhere in the archive.
        assert not any(n.endswith((".pkl", ".pickle")) for n in zf.namelist())
    assert header["skdistill"] == skdistill.__version__
    assert header["class"].endswith(type(est).__name__)


def test_loaded_model_trains_on(fitted, tmp_path):
    """A loaded ensemble keeps its optimizer state: warm_start continues it."""
    est, X, y = fitted("ensemble_clf")
    path = tmp_path / "model.skd"
    est.save(path)
    for loaded in (load(path), pickle.loads(pickle.dumps(est))):
        loaded.set_params(warm_start=True, max_epochs=1)
        loaded.fit(X, y)
        assert len(loaded.history_) == len(est.history_) + 1
        assert np.all(np.isfinite(loaded.predict_proba(X)))


def test_unfitted_and_clone_round_trip(clf_data):
    est = _ens_clf(max_epochs=1)
    loaded = pickle.loads(pickle.dumps(est))
    assert loaded.get_params() == est.get_params()
    X, y = clf_data
    a = clone(loaded).fit(X, y).predict_proba(X)
    b = clone(est).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_save_needs_a_fitted_model(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        _ens_clf().save(tmp_path / "model.skd")


def test_load_rejects_other_files(tmp_path):
    junk = tmp_path / "junk.skd"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a model saved by skdistill"):
        load(junk)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(ValueError, match="not a model saved by skdistill"):
        load(other)


# ----------------------------------------------------------------- versions
def _bumped(version, part):
    major, minor, patch = (int(p) for p in version.split(".")[:3])
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def _pickled_by(version, est, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(skdistill._version, "__version__", version)
        return pickle.dumps(est)


def test_pickle_from_incompatible_version_is_refused(fitted, monkeypatch):
    est, _, _ = fitted("hydra_clf")
    current = skdistill.__version__
    newer = _bumped(current, "minor")
    blob = _pickled_by(newer, est, monkeypatch)
    with pytest.raises(IncompatibleVersionError) as info:
        pickle.loads(blob)
    assert newer in str(info.value) and current in str(info.value)
    # joblib goes through the same check.
    buf = io.BytesIO()
    with monkeypatch.context() as m:
        m.setattr(skdistill._version, "__version__", newer)
        joblib.dump(est, buf)
    buf.seek(0)
    with pytest.raises(IncompatibleVersionError, match=newer):
        joblib.load(buf)


def test_pickle_from_older_major_version_is_refused(fitted, monkeypatch):
    est, _, _ = fitted("ensemble_clf")
    blob = _pickled_by("99.0.0", est, monkeypatch)
    with pytest.raises(IncompatibleVersionError, match=r"99\.0\.0"):
        pickle.loads(blob)


def test_pickle_without_version_is_refused(fitted):
    est, _, _ = fitted("ensemble_clf")
    state = est.__getstate__()
    state.pop("_skdistill_version")
    bare = object.__new__(type(est))
    with pytest.raises(IncompatibleVersionError, match="unknown version"):
        bare.__setstate__(state)


def test_pickle_from_patch_release_warns(fitted, monkeypatch):
    est, X, _ = fitted("ensemble_reg")
    patch = _bumped(skdistill.__version__, "patch")
    blob = _pickled_by(patch, est, monkeypatch)
    with pytest.warns(VersionWarning, match=patch):
        loaded = pickle.loads(blob)
    assert_same(outputs(est, X), outputs(loaded, X))


def _rewrite_header(path, **changes):
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    header = json.loads(members["skdistill.json"])
    header.update(changes)
    members["skdistill.json"] = json.dumps(header).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_saved_file_from_incompatible_version_is_refused(fitted, tmp_path):
    est, _, _ = fitted("kd_clf")
    path = tmp_path / "model.skd"
    est.save(path)
    newer = _bumped(skdistill.__version__, "minor")
    _rewrite_header(path, skdistill=newer)
    with pytest.raises(IncompatibleVersionError) as info:
        load(path)
    assert newer in str(info.value) and skdistill.__version__ in str(info.value)


def test_saved_file_from_patch_release_warns(fitted, tmp_path):
    est, X, _ = fitted("kd_clf")
    path = tmp_path / "model.skd"
    est.save(path)
    patch = _bumped(skdistill.__version__, "patch")
    _rewrite_header(path, skdistill=patch)
    with pytest.warns(VersionWarning, match=patch):
        loaded = load(path)
    assert_same(outputs(est, X), outputs(loaded, X))


def test_saved_file_with_newer_format_is_refused(fitted, tmp_path):
    est, _, _ = fitted("kd_clf")
    path = tmp_path / "model.skd"
    est.save(path)
    _rewrite_header(path, format_version=99)
    with pytest.raises(IncompatibleVersionError, match="format"):
        load(path)


# ------------------------------------------------------ CUDA-fitted, CPU-loaded
def _location_tag_as_cuda(original):
    """A ``torch.serialization.location_tag`` that calls every CPU storage CUDA."""

    def tag(storage):
        location = original(storage)
        return "cuda:0" if location == "cpu" else location

    return tag


def _pretend_on_cuda(est):
    """Make ``est`` (and a skdistill teacher inside it) claim to live on cuda:0."""
    for obj in (est, getattr(est, "teacher_", None)):
        if getattr(obj, "net_", None) is None:
            continue
        obj.net_.device = "cuda:0"
        obj.device_ = "cuda:0"
        if hasattr(obj, "data_device_"):
            obj.data_device_ = "cuda:0"


def _as_if_from_cuda(est, write):
    """Run ``write(copy)`` on a copy of ``est`` that looks CUDA-fitted."""
    twin = pickle.loads(pickle.dumps(est))
    _pretend_on_cuda(twin)
    original = torch.serialization.location_tag
    with mock.patch.object(
        torch.serialization, "location_tag", _location_tag_as_cuda(original)
    ):
        return write(twin)


@pytest.mark.parametrize("name", ["ensemble_clf", "hydra_reg", "endd_clf"])
def test_cuda_fitted_pickle_loads_on_cpu(fitted, name):
    """A pickle of a CUDA-fitted model loads on a machine without CUDA.

    Simulated, since this machine has no GPU: a copy of the CPU-fitted model
    is told that its device is ``cuda:0`` (``net_.device``, ``device_``; for
    a distiller, also its teacher's) and is pickled while
    ``torch.serialization.location_tag`` reports every storage as
    ``"cuda:0"``. That is the tag ``torch.save`` writes for a tensor on a
    GPU, and what decides where ``torch.load`` rebuilds it; the tensor bytes
    are the same either way. So the pickle is, as far as the loader can
    tell, one written on a GPU machine: unpickled naively it fails exactly
    as a real one would ("Attempting to deserialize object on a CUDA
    device"), which the test checks first. Loaded through the estimator,
    skorch maps the storages to the CPU, and the model must predict exactly
    as the CPU original. What is not covered: real CUDA numerics (the
    weights of a real GPU fit differ from a CPU fit's) and cuda:N with N > 0.
    """
    est, X, _ = fitted(name)
    blob = _as_if_from_cuda(est, pickle.dumps)

    # The simulation is faithful: the storages really are tagged as CUDA ones,
    # so loading them without a map_location fails as on a CPU-only machine.
    twin = pickle.loads(pickle.dumps(est))
    _pretend_on_cuda(twin)
    original = torch.serialization.location_tag
    with mock.patch.object(
        torch.serialization, "location_tag", _location_tag_as_cuda(original)
    ):
        net_state = twin.net_.__getstate__()
    with pytest.raises(RuntimeError, match="CUDA"):
        pickle.loads(net_state["__cuda_dependent_attributes__"])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = pickle.loads(blob)
    assert any("CUDA" in str(w.message) for w in caught)
    assert loaded.device_ == "cpu" and str(loaded.net_.device) == "cpu"
    assert next(loaded.net_.module_.parameters()).device.type == "cpu"
    assert_same(outputs(est, X), outputs(loaded, X))


@pytest.mark.filterwarnings("ignore::skorch.exceptions.DeviceWarning")
@pytest.mark.parametrize("name", ["ensemble_reg", "hydra_clf"])
def test_cuda_fitted_save_loads_on_cpu(fitted, name, tmp_path):
    """A file written by ``save`` on a GPU machine loads on a CPU-only one.

    Simulated as in :func:`test_cuda_fitted_pickle_loads_on_cpu`: the file is
    written with the net's device set to ``cuda:0`` (so the header records
    it) and with every storage in skorch's parameter files tagged
    ``"cuda:0"``; reading those files without a map_location fails, as it
    would for a real GPU file here. ``load(path)`` warns and puts the model
    on the CPU, as does ``load(path, device="cpu")``; a skdistill teacher
    inside the file is mapped to the CPU too.
    """
    est, X, _ = fitted(name)
    path = tmp_path / "model.skd"
    _as_if_from_cuda(est, lambda twin: twin.save(path))

    with zipfile.ZipFile(path) as zf:
        assert json.loads(zf.read("skdistill.json"))["device"] == "cuda:0"
        params = zf.read(next(n for n in zf.namelist() if n.endswith("params.pt")))
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(io.BytesIO(params), weights_only=True)

    with pytest.warns(UserWarning, match="CUDA is not available"):
        loaded = load(path)
    assert_same_model(est, loaded, X)
    explicit = load(path, device="cpu")
    assert_same_model(est, explicit, X)
    teacher = getattr(explicit, "teacher_", None)
    if hasattr(teacher, "net_"):
        # The teacher's network is stored and mapped like the student's.
        assert teacher.device_ == "cpu"
        np.testing.assert_array_equal(
            teacher.predict_members(X), est.teacher_.predict_members(X)
        )
    with pytest.raises(ValueError, match="CUDA is not available"):
        load(path, device="cuda")


def test_a_lambda_in_a_transformer_is_refused_and_the_old_file_kept(tmp_path):
    """skops stores functions by name: a lambda's could never load again."""
    from sklearn.preprocessing import FunctionTransformer

    X, y = make_classification(60, 4, random_state=0)
    teacher = EnsembleClassifier(n_members=2, max_epochs=2, random_state=0).fit(X, y)
    good = KDDistiller(teacher=teacher, max_epochs=2, random_state=0).fit(X, y)
    path = tmp_path / "model.skd"
    good.save(path)
    before = path.read_bytes()
    bad = KDDistiller(
        teacher=teacher, student_transform=FunctionTransformer(lambda Z: Z[:, :2]),
        max_epochs=2, random_state=0,
    ).fit(X, y)  # fmt: skip
    with pytest.raises(TypeError, match=r"<lambda>.*top level of a module"):
        bad.save(path)
    assert path.read_bytes() == before
    assert load(path).predict(X).shape == (60,)


def test_a_pipeline_or_voting_teacher_of_skdistill_ensembles_saves_and_loads(tmp_path):
    """Their ensembles are stored as skdistill estimators, not as skops pickles
    of skorch nets (whose PrintLog named builtins.print, refused at load)."""
    from sklearn.ensemble import VotingRegressor
    from sklearn.pipeline import make_pipeline

    X, y = make_regression(80, 3, noise=1.0, random_state=0)
    member = dict(n_members=2, max_epochs=3, hidden_layer_sizes=(8,), random_state=0)
    teachers = [
        make_pipeline(StandardScaler(), EnsembleRegressor(**member)),
        VotingRegressor([("a", EnsembleRegressor(**member)),
                         ("b", EnsembleRegressor(**{**member, "random_state": 1}))]),
    ]  # fmt: skip
    for i, teacher in enumerate(teachers):
        student = HydraDistiller(teacher=teacher, n_heads=2, max_epochs=2,
                                 random_state=0).fit(X, y)  # fmt: skip
        path = tmp_path / f"student{i}.skd"
        student.save(path)
        loaded = load(path)  # nothing to trust by hand
        np.testing.assert_allclose(loaded.predict(X), student.predict(X), rtol=1e-6)
        np.testing.assert_allclose(
            loaded.teacher_.predict(X), student.teacher_.predict(X), rtol=1e-6
        )
