"""Files that cannot run code, saves that cannot lose a model, fits that cannot
leave a half-state, and training that says when it went wrong."""

import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
import time
import warnings
import zipfile

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback

from skdistill import (
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    IncompatibleVersionError,
    KDDistiller,
    UntrustedTypeError,
    load,
)

NET = dict(hidden_layer_sizes=(8,), max_epochs=3, batch_size=32, lr=1e-2, device="cpu")


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=80, n_features=5, n_informative=3,
                               n_classes=3, random_state=0)  # fmt: skip
    return X, y


@pytest.fixture(scope="module")
def student(data):
    """A student with a skdistill teacher inside: two networks in one file."""
    teacher = EnsembleClassifier(n_members=2, random_state=0, **NET).fit(*data)
    return KDDistiller(teacher=teacher, core_layer_sizes=(8,), head_layer_sizes=(),
                       max_epochs=3, random_state=0, device="cpu").fit(*data)  # fmt: skip


@pytest.fixture(scope="module")
def saved(student, tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "student.skd"
    student.save(path)
    return path


class Payload:
    """Unpickling this creates ``marker``: what an attacker's file would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _write(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)


# ---------------------------------------------------------- no code at load
def test_a_legacy_pickle_file_is_refused_without_running_it(saved, tmp_path):
    marker = tmp_path / "pwned"
    members = _members(saved)
    header = json.loads(members["skdistill.json"])
    header["format_version"] = 1  # skdistill 0.1's layout: a pickle inside
    evil = {"skdistill.json": json.dumps(header).encode(),
            "estimator.pkl": pickle.dumps(Payload(marker))}  # fmt: skip
    path = tmp_path / "legacy.skd"
    _write(path, evil)
    with pytest.raises(IncompatibleVersionError, match="convert_legacy_file"):
        load(path)
    assert not marker.exists()


def test_a_payload_in_any_member_runs_nothing(saved, tmp_path):
    marker = tmp_path / "pwned"
    members = _members(saved)
    payload = pickle.dumps(Payload(marker))
    for name in members:
        if name == "skdistill.json":
            continue
        path = tmp_path / "evil.skd"
        _write(path, {**members, name: payload})
        with pytest.raises(ValueError):
            load(path)
        assert not marker.exists(), name


@pytest.mark.parametrize(
    "entry",
    [
        {"__type__": "os.system"},
        {"__object__": "subprocess.Popen", "state": {"__dict__": {}}},
        {"__partial__": {"__type__": "builtins.exec"}, "args": {"__tuple__": []},
         "keywords": {"__dict__": {}}},
    ],
)  # fmt: skip
def test_untrusted_names_in_the_data_are_refused(saved, tmp_path, entry):
    members = _members(saved)
    tree = json.loads(members["estimator.json"])
    tree["state"]["__dict__"]["optimizer"] = entry
    path = tmp_path / "named.skd"
    _write(path, {**members, "estimator.json": json.dumps(tree).encode()})
    with pytest.raises(UntrustedTypeError) as info:
        load(path)
    assert info.value.types and "trusted" in str(info.value)


@pytest.mark.parametrize(
    "module, kwargs",
    [
        # Reached through torch's own import of os: os.system, not torch's.
        ("torch.os.system", {"command": "touch {marker}"}),
        # A trusted library's function that writes a file.
        ("numpy.savetxt", {"fname": "{marker}", "X": [1.0, 2.0]}),
        # A trusted library's class that creates a file when called.
        ("numpy.memmap", {"filename": "{marker}", "mode": "w+", "shape": [4]}),
    ],
)
def test_a_trusted_prefix_does_not_make_load_call_anything(
    saved, tmp_path, module, kwargs
):
    """A name is trusted by its library, but rebuilding the network calls
    ``module`` with the file's keyword arguments: only torch modules are
    called, and only classes are trusted by their library's name."""
    marker = tmp_path / "pwned"
    members = _members(saved)
    tree = json.loads(members["estimator.json"])
    state = tree["state"]["__dict__"]
    state["module"] = {"__type__": module}
    for key, value in kwargs.items():
        value = value.format(marker=marker) if isinstance(value, str) else value
        state[f"module__{key}"] = value
    state["_nested_keys"] = {"__tuple__": [f"module__{k}" for k in kwargs]}
    path = tmp_path / "prefix.skd"
    _write(path, {**members, "estimator.json": json.dumps(tree).encode()})
    with pytest.raises(UntrustedTypeError, match=module):
        load(path)
    assert not marker.exists()


def test_bad_files_raise_value_errors_only(saved, student, data, tmp_path):
    """Truncations, byte flips, swapped members and odd headers: ValueError only."""
    rng = np.random.default_rng(0)
    blob = saved.read_bytes()
    other = tmp_path / "other.skd"
    EnsembleRegressor(n_members=2, random_state=0, **NET).fit(
        *make_regression(n_samples=40, n_features=3, random_state=0)
    ).save(other)
    variants = []
    for cut in rng.integers(0, len(blob), size=70):
        variants.append(blob[:cut])
    for at in rng.integers(0, len(blob), size=125):
        flipped = bytearray(blob)
        flipped[at] ^= 1 << int(rng.integers(8))
        variants.append(bytes(flipped))
    mine, theirs = _members(saved), _members(other)
    for name in ("estimator.json", "skdistill.json"):
        buf = io.BytesIO()
        _write(buf, {**mine, name: theirs[name]})
        variants.append(buf.getvalue())
    for header in ([], "skdistill", {"format": "skdistill", "format_version": "2"},
                   {"format": "skdistill", "format_version": 99}, None):  # fmt: skip
        buf = io.BytesIO()
        _write(buf, {**mine, "skdistill.json": json.dumps(header).encode()})
        variants.append(buf.getvalue())
    variants += [b"", b"PK\x03\x04", b"\x00" * 100]
    assert len(variants) >= 200
    unexpected, loaded = [], 0
    path = tmp_path / "mutant.skd"
    X = data[0]
    for i, variant in enumerate(variants):
        path.write_bytes(variant)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = load(path)
            assert np.all(np.isfinite(model.predict_proba(X)))
            loaded += 1
        except ValueError as exc:  # IncompatibleVersionError and the rest
            assert str(path) in str(exc) or "model" in str(exc), exc
        except Exception as exc:  # noqa: BLE001 - what this test counts
            unexpected.append((i, repr(exc)[:120]))
    assert not unexpected, unexpected
    assert loaded < len(variants)  # the damage was noticed, not ignored


# ------------------------------------------------------------ atomic saves
_WRITER = textwrap.dedent(
    """
    import sys, time, joblib
    est = joblib.load(sys.argv[1])
    stop = time.time() + float(sys.argv[3])
    while time.time() < stop:
        est.save(sys.argv[2])
    """
)
_READER = textwrap.dedent(
    """
    import sys, time, warnings
    from skdistill import load
    stop, ok, bad = time.time() + float(sys.argv[2]), 0, 0
    while time.time() < stop:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                load(sys.argv[1])
            ok += 1
        except Exception as exc:
            bad += 1
            print(repr(exc)[:200], file=sys.stderr)
    print(ok, bad)
    """
)


def _python(code, *args):
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def test_concurrent_writers_and_a_reader_see_whole_files(student, data, tmp_path):
    import joblib

    a, b = tmp_path / "a.joblib", tmp_path / "b.joblib"
    joblib.dump(student, a)
    joblib.dump(EnsembleClassifier(n_members=3, random_state=1, **NET).fit(*data), b)
    target = tmp_path / "model.skd"
    student.save(target)
    writers = [_python(_WRITER, src, target, 6) for src in (a, b)]
    reader = _python(_READER, target, 8)
    out, err = reader.communicate(timeout=120)
    for w in writers:
        w.communicate(timeout=120)
        assert w.returncode == 0
    ok, bad = (int(v) for v in out.split())
    assert bad == 0, err
    assert ok > 0
    assert load(target).n_features_in_ == 5
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_a_killed_writer_leaves_the_old_file(student, tmp_path):
    import joblib

    src = tmp_path / "src.joblib"
    joblib.dump(student, src)
    target = tmp_path / "model.skd"
    student.save(target)
    writer = _python(_WRITER, src, target, 30)
    time.sleep(4)  # past the imports, in the middle of some save
    writer.kill()
    writer.communicate()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert load(target).n_features_in_ == 5


def test_a_failed_save_leaves_the_earlier_file_byte_identical(student, tmp_path):
    target = tmp_path / "model.skd"
    student.save(target)
    before = target.read_bytes()
    student.callbacks = [lambda *a: None]  # cannot be stored as data
    try:
        with pytest.raises(TypeError, match="cannot be stored by name"):
            student.save(target)
    finally:
        student.callbacks = None
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.skd"]


# ------------------------------------------------------- transactional fit
def _fitted_state(est):
    return {k: v for k, v in vars(est).items() if k.endswith("_")}


class _CtrlCNow(Callback):
    def on_batch_begin(self, net, **kwargs):
        raise KeyboardInterrupt


def test_a_failed_refit_leaves_the_old_model(data):
    X, y = data
    est = EnsembleClassifier(n_members=2, random_state=0, **NET).fit(X, y)
    before = _fitted_state(est)
    proba = est.predict_proba(X)
    y_new = np.where(y == 0, "a", "b")  # other labels, other class count
    with pytest.raises(ValueError, match="loss became"):
        est.set_params(lr=1e30).fit(X, y_new)
    assert _fitted_state(est).keys() == before.keys()
    assert all(getattr(est, k) is v for k, v in before.items())
    np.testing.assert_array_equal(est.predict_proba(X), proba)
    assert set(est.predict(X)) <= set(before["classes_"])


def test_ctrl_c_before_the_first_epoch_keeps_the_old_model(data):
    X, y = data
    est = EnsembleClassifier(n_members=2, random_state=0, **NET).fit(X, y)
    net = est.net_
    est.set_params(callbacks=[_CtrlCNow()])
    with pytest.raises(KeyboardInterrupt):
        est.fit(X[:, :4], y)  # another feature count, too
    assert est.net_ is net and est.n_features_in_ == 5
    fresh = EnsembleClassifier(n_members=2, callbacks=[_CtrlCNow()], **NET)
    with pytest.raises(KeyboardInterrupt):
        fresh.fit(X, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(fresh)


def test_a_failed_distillation_keeps_the_old_student(student, data):
    X, y = data
    before = _fitted_state(student)
    with pytest.raises(ValueError, match="loss became"):
        student.set_params(lr=1e30).fit(X, y)
    student.set_params(lr=1e-3)
    assert all(getattr(student, k) is v for k, v in before.items())
    assert np.all(np.isfinite(student.predict_proba(X)))


def test_warm_start_keeps_the_target_scale_and_a_failed_one_the_weights():
    X, y = make_regression(n_samples=60, n_features=3, noise=1.0, random_state=0)
    est = EnsembleRegressor(n_members=2, warm_start=True, random_state=0, **NET)
    est.fit(X, y)
    scale = (est.y_mean_, est.y_scale_)
    with warnings.catch_warnings():
        # Judged from its own start (near 100 in the carried scale, then
        # falling), this continued fit did not diverge: no ConvergenceWarning.
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X, 10 * y)  # continues: the standardisation of the first fit stays
    assert (est.y_mean_, est.y_scale_) == scale
    weights = {k: v.clone() for k, v in est.net_.module_.state_dict().items()}
    # Targets far outside the carried scale: the loss overflows mid-training,
    # after the optimiser has already stepped on the network in place.
    with pytest.raises(ValueError, match="loss became"):
        est.fit(X, 1e36 * y)
    for k, v in est.net_.module_.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), weights[k].numpy())


# ------------------------------------------------- training that goes wrong
def test_divergence_warns_and_names_the_learning_rate(data):
    X, y = data
    params = {**NET, "lr": 1e3, "max_epochs": 8}
    with pytest.warns(ConvergenceWarning, match="lr=1000"):
        EnsembleClassifier(n_members=2, random_state=0, **params).fit(X, y)


@pytest.mark.parametrize("make", ["hydra", "kd"])
def test_a_student_that_learnt_nothing_warns(make):
    """Hydra+'s loss follows a schedule, so the divergence check of the loss
    cannot judge it: the predictions are checked instead. At lr=3 the weights
    blow up and the student names one class for every row."""
    X, y = make_classification(n_samples=300, n_features=6, random_state=0)
    teacher = EnsembleClassifier(n_members=3, random_state=0, **NET).fit(X, y)
    cls = HydraDistiller if make == "hydra" else KDDistiller
    opts = dict(teacher=teacher, max_epochs=15, random_state=0, device="cpu")
    with pytest.warns(
        ConvergenceWarning, match=r"has not learnt\. Its training loss blew up .*lr=3\)"
    ):
        bad = cls(lr=3.0, **opts).fit(X, y)
    assert len(np.unique(bad.predict(X))) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        good = cls(lr=1e-2, **opts).fit(X, y)
    assert good.score(X, y) > 0.8


def test_a_regression_student_that_learnt_nothing_warns():
    X, y = make_regression(n_samples=300, n_features=5, noise=5.0, random_state=0)
    teacher = EnsembleRegressor(n_members=3, random_state=0, **NET).fit(X, y)
    opts = dict(teacher=teacher, max_epochs=30, random_state=0, device="cpu")
    with pytest.warns(
        ConvergenceWarning, match=r"mean squared difference .*has not learnt"
    ):
        HydraDistiller(lr=3.0, **opts).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        HydraDistiller(lr=1e-2, **opts).fit(X, y)


def test_non_finite_losses_name_the_likely_cause(data):
    import torch

    from skdistill.training import _likely_cause

    X, y = data
    with pytest.raises(ValueError, match=r"loss became .* lr=1e\+30 is probably"):
        EnsembleClassifier(n_members=2, random_state=0, **{**NET, "lr": 1e30}).fit(X, y)
    with pytest.raises(ValueError, match="too large for float32"):
        EnsembleClassifier(n_members=2, **NET).fit(X * 1e300, y)

    class Net:
        lr = 0.1
        criterion_ = torch.nn.Module()

    small = (torch.ones(4, 3), None)
    assert "inputs are very large" in _likely_cause(Net(), (1e6 * small[0], None))
    Net.criterion_.temperature = 1e4
    assert "temperature" in _likely_cause(Net(), small)
    Net.criterion_.temperature = 3.0
    assert "lr=0.1" in _likely_cause(Net(), small)


def test_messages_name_the_problem(data, student):
    X, y = data
    with pytest.raises(
        ValueError,
        match=r"The .lr. parameter .* must be a float in the range \(0.0, inf\)\. Got -1.0",
    ):
        EnsembleClassifier(**{**NET, "lr": -1.0}).fit(X, y)
    y_none = y.astype(object)
    y_none[3] = None
    with pytest.raises(ValueError, match="y contains None"):
        EnsembleClassifier(**NET).fit(X, y_none)
    with pytest.warns(UserWarning, match="repeat a member"):
        HydraDistiller(teacher=student.teacher_, n_heads=3, max_epochs=1,
                       core_layer_sizes=(4,), head_layer_sizes=(),
                       device="cpu").fit(X, y)  # fmt: skip


def test_a_legacy_file_converts_on_request_only(student, data, tmp_path):
    """A file laid out as skdistill 0.1 wrote it: a pickle and skorch's files."""
    from skdistill._persistence import _NET_FILES, convert_legacy_file
    from skdistill.training import StackedNet

    skeleton = object.__new__(type(student))
    skeleton.__dict__.update(
        {k: v for k, v in vars(student).items() if k not in ("net_", "history_")}
    )
    files = {k: tmp_path / name for k, name in _NET_FILES.items()}
    StackedNet.save_params(student.net_, **files)
    old = tmp_path / "old.skd"
    header = {"format": "skdistill", "format_version": 1, "skdistill": "0.2.0",
              "class": "skdistill.distill._kd.KDDistiller", "device": "cpu"}  # fmt: skip
    _write(old, {"skdistill.json": json.dumps(header).encode(),
                 "estimator.pkl": pickle.dumps(skeleton),
                 **{name: files[k].read_bytes() for k, name in _NET_FILES.items()}})  # fmt: skip
    with pytest.raises(IncompatibleVersionError, match="convert_legacy_file"):
        load(old)
    new = tmp_path / "new.skd"
    with pytest.raises(ValueError, match="i_trust_this_file"):
        convert_legacy_file(old, new)
    assert not new.exists()
    convert_legacy_file(old, new, i_trust_this_file=True)
    X = data[0]
    np.testing.assert_allclose(load(new).predict_proba(X), student.predict_proba(X))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_load_on_a_missing_device_blames_the_device_not_the_file(saved):
    with pytest.raises(ValueError, match="CUDA is not available") as info:
        load(saved, device="cuda")
    assert "not a readable" not in str(info.value)


@pytest.mark.parametrize(
    "est",
    [EnsembleClassifier(), EnsembleRegressor(), HydraDistiller(), KDDistiller()],
    ids=lambda e: type(e).__name__,
)
def test_predicting_uncertainty_unfitted_raises_not_fitted(est):
    with pytest.raises(NotFittedError):
        est.predict_uncertainty(np.zeros((2, 3)))


class _CtrlCWhenArmed(Callback):
    armed = False

    def on_batch_end(self, net, **kwargs):  # after one batch has trained
        if self.armed:
            raise KeyboardInterrupt


def test_ctrl_c_in_a_warm_starts_first_epoch_keeps_the_old_model(data):
    X, y = data
    trap = _CtrlCWhenArmed()
    est = EnsembleClassifier(n_members=2, random_state=0, callbacks=[trap], **NET)
    est.fit(X, y)
    proba, n_epochs = est.predict_proba(X), len(est.history_)
    est.set_params(warm_start=True)
    _CtrlCWhenArmed.armed = True  # every copy of the trap, the warm net's too
    try:
        with pytest.raises(KeyboardInterrupt):
            est.fit(X, y)
    finally:
        _CtrlCWhenArmed.armed = False
    np.testing.assert_array_equal(est.predict_proba(X), proba)
    assert len(est.history_) == n_epochs


class _CountEpochs(Callback):
    def initialize(self):
        self.epochs = 0
        return self

    def on_epoch_end(self, net, **kwargs):
        self.epochs += 1


def test_a_warm_start_trains_on_with_todays_parameters(data):
    """As scikit-learn's warm starts: the weights go on, the settings are new."""
    X, y = data
    est = EnsembleClassifier(n_members=2, random_state=0, **NET).fit(X, y)
    n_epochs = len(est.history_)
    counter = _CountEpochs()
    est.set_params(warm_start=True, lr=0.05, weight_decay=0.01, callbacks=[counter])
    est.set_params(max_epochs=2).fit(X, y)
    group = est.net_.optimizer_.param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (0.05, 0.01)
    counted = [cb for _, cb in est.net_.callbacks_ if isinstance(cb, _CountEpochs)]
    assert len(counted) == 1 and counted[0].epochs == 2
    assert len(est.history_) == n_epochs + 2
    # the optimizer's state went on too (Adam's step count)
    state = next(iter(est.net_.optimizer_.state.values()))
    assert int(state["step"]) > 2 * len(est.net_.history[-1]["batches"])
    with pytest.raises(ValueError, match="architecture"):
        est.set_params(hidden_layer_sizes=(7,)).fit(X, y)
    with pytest.raises(ValueError, match="architecture"):
        est.set_params(hidden_layer_sizes=NET["hidden_layer_sizes"], n_members=3).fit(
            X, y
        )
    assert est.predict_members(X).shape[0] == 2


def test_a_refit_for_the_other_task_keeps_nothing_of_the_first():
    Xc, yc = make_classification(n_samples=60, n_features=4, random_state=0)
    Xr, yr = make_regression(n_samples=60, n_features=4, random_state=0)
    opts = dict(n_heads=2, max_epochs=1, batch_size=32, device="cpu")
    h = HydraDistiller(**opts).fit(Xc, yc).fit(Xr, yr)
    assert h.task_ == "regression" and not hasattr(h, "classes_")
    h = HydraDistiller(**opts).fit(Xr, yr).fit(Xc, yc)
    assert h.task_ == "classification"
    assert not hasattr(h, "y_mean_") and not hasattr(h, "y_scale_")


def test_a_file_whose_class_was_swapped_is_refused(data, tmp_path):
    """A classifier's file relabelled as a regressor (entry and header alike)
    must not load into a model that fails at predict."""
    X, y = data
    y = (y == y[0]).astype(int)  # two classes: two outputs, as a regressor has
    path = tmp_path / "clf.skd"
    EnsembleClassifier(n_members=2, random_state=0, **NET).fit(X, y).save(path)
    members = _members(path)
    for both in (False, True):
        tree = json.loads(members["estimator.json"])
        tree["class"] = "skdistill.ensemble.EnsembleRegressor"
        changed = {**members, "estimator.json": json.dumps(tree).encode()}
        if both:
            header = json.loads(members["skdistill.json"])
            header["class"] = tree["class"]
            changed["skdistill.json"] = json.dumps(header).encode()
        _write(tmp_path / "swapped.skd", changed)
        match = "lacks y_mean_" if both else "header names"
        with pytest.raises(ValueError, match=match):
            load(tmp_path / "swapped.skd")


def test_a_prediction_that_overflows_in_y_units_is_an_error():
    """Finite network outputs whose variance overflows once scaled to y's
    units (targets near float64's limit) must not come back as inf."""
    X, y = make_regression(n_samples=200, n_features=5, noise=1, random_state=0)
    y = (y - y.mean()) / y.std() * 4e152  # y's variance is still finite
    est = EnsembleRegressor(n_members=3, random_state=0, **NET).fit(X, y)
    assert np.isfinite(est.predict(X, return_std=True)[1]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's overflow note
        for method in ("predict_std", "predict_uncertainty"):
            with pytest.raises(ValueError, match="not finite once scaled"):
                if method == "predict_std":
                    est.predict(X * 50, return_std=True)
                else:
                    est.predict_uncertainty(X * 50)
