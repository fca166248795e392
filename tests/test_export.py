"""ONNX export: the graph predicts what the estimator predicts, at any batch size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import StandardScaler

import skdistill
from skdistill import (
    EnDDDistiller,
    EnsembleClassifier,
    EnsembleRegressor,
    HydraDistiller,
    KDDistiller,
    to_onnx,
)

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

ATOL, RTOL = 1e-5, 1e-4
TINY = dict(max_epochs=3, random_state=0)
STUDENT = dict(
    core_layer_sizes=(16,),
    head_layer_sizes=(8,),
    max_epochs=3,
    n_extra=1,
    random_state=0,
)


@pytest.fixture(scope="module")
def clf_data():
    X, y = make_classification(
        160, 5, n_informative=4, n_redundant=0, n_classes=3, random_state=0
    )
    return X, np.array(["a", "b", "c"])[y]


@pytest.fixture(scope="module")
def reg_data():
    X, y = make_regression(160, 4, noise=5.0, random_state=0)
    return X, 3.0 * y + 40.0  # y's mean and scale far from 0 and 1


@pytest.fixture(scope="module")
def clf_ensemble(clf_data):
    return EnsembleClassifier(3, hidden_layer_sizes=(16,), **TINY).fit(*clf_data)


@pytest.fixture(scope="module")
def reg_ensemble(reg_data):
    return EnsembleRegressor(3, hidden_layer_sizes=(16,), **TINY).fit(*reg_data)


def _run(path, X):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [out.name for out in session.get_outputs()]
    values = session.run(None, {"X": X.astype(np.float32)})
    return dict(zip(names, values))


def _inputs(n_features, seed=1):
    """Random inputs of two batch sizes: the batch axis must be free."""
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, n_features)) for n in (1, 37)]


def _check_classifier(est, path):
    for X in _inputs(est.n_features_in_):
        out = _run(path, X)
        assert set(out) == {"probabilities", "member_probabilities"}
        np.testing.assert_allclose(
            out["probabilities"], est.predict_proba(X), rtol=RTOL, atol=ATOL
        )
        np.testing.assert_allclose(
            out["member_probabilities"], est.predict_members(X), rtol=RTOL, atol=ATOL
        )
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(meta["classes"]) == est.classes_.tolist()
    assert meta["estimator"] == type(est).__name__


def _check_regressor(est, path):
    for X in _inputs(est.n_features_in_):
        out = _run(path, X)
        assert set(out) == {"mean", "std", "member_means", "member_variances"}
        mean, std = est.predict(X, return_std=True)
        np.testing.assert_allclose(out["mean"], mean, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(out["std"], std, rtol=RTOL, atol=ATOL)
        means, variances = est.predict_members(X)
        np.testing.assert_allclose(out["member_means"], means, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(
            out["member_variances"], variances, rtol=RTOL, atol=ATOL
        )


def test_classification_ensemble(clf_ensemble, tmp_path):
    path = tmp_path / "ens.onnx"
    to_onnx(clf_ensemble, path)
    _check_classifier(clf_ensemble, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ens.onnx"]  # no temp left


def test_regression_ensemble_through_the_method(reg_ensemble, tmp_path):
    path = tmp_path / "reg.onnx"
    reg_ensemble.to_onnx(str(path), opset=17)
    assert onnx.load(str(path)).opset_import[0].version == 17
    _check_regressor(reg_ensemble, path)


def test_hydra_student_with_its_spread(clf_ensemble, clf_data, tmp_path):
    student = HydraDistiller(clf_ensemble, n_heads=2, **STUDENT).fit(*clf_data)
    if student.spread_ == 1.0:  # the calibration's result; the graph must apply any
        student.spread_ = 1.7
    student.to_onnx(tmp_path / "hydra.onnx")
    _check_classifier(student, tmp_path / "hydra.onnx")


def test_kd_student(clf_ensemble, clf_data, tmp_path):
    student = KDDistiller(clf_ensemble, **STUDENT).fit(*clf_data)
    to_onnx(student, tmp_path / "kd.onnx")
    _check_classifier(student, tmp_path / "kd.onnx")


def test_regression_hydra_student_with_its_spread(reg_ensemble, reg_data, tmp_path):
    student = HydraDistiller(reg_ensemble, n_heads=2, **STUDENT).fit(*reg_data)
    if student.spread_ == 1.0:
        student.spread_ = 1.7
    to_onnx(student, tmp_path / "hydra_reg.onnx")
    _check_regressor(student, tmp_path / "hydra_reg.onnx")


def test_endd_student_exports_probabilities_and_alpha(clf_ensemble, clf_data, tmp_path):
    student = EnDDDistiller(clf_ensemble, **STUDENT).fit(*clf_data)
    to_onnx(student, tmp_path / "endd.onnx")
    for X in _inputs(student.n_features_in_):
        out = _run(tmp_path / "endd.onnx", X)
        np.testing.assert_allclose(
            out["probabilities"], student.predict_proba(X), rtol=RTOL, atol=ATOL
        )
        np.testing.assert_allclose(
            out["alpha"], student.predict_concentration(X), rtol=RTOL, atol=ATOL
        )


class _Member(torch.nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.hidden = torch.nn.Linear(in_features, 8)
        self.out = torch.nn.Linear(8, out_features)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x)))


def test_custom_member_module_is_unrolled(clf_data, tmp_path):
    est = EnsembleClassifier(3, module=_Member, **TINY).fit(*clf_data)
    to_onnx(est, tmp_path / "custom.onnx")
    _check_classifier(est, tmp_path / "custom.onnx")


class _Untraceable(_Member):
    """A member with an operator that PyTorch cannot export to ONNX."""

    def forward(self, x):
        return self.out(torch.special.i0(torch.tanh(self.hidden(x))))


def test_custom_member_module_that_cannot_export(clf_data, tmp_path):
    est = EnsembleClassifier(2, module=_Untraceable, **TINY).fit(*clf_data)
    with pytest.raises(ValueError, match="custom member module .* could not be"):
        to_onnx(est, tmp_path / "bad.onnx")
    assert list(tmp_path.iterdir()) == []


def test_unfitted_estimators_are_refused(tmp_path):
    for est in (EnsembleClassifier(), HydraDistiller(EnsembleClassifier())):
        with pytest.raises(NotFittedError):
            to_onnx(est, tmp_path / "x.onnx")
    assert list(tmp_path.iterdir()) == []


def test_other_estimators_are_refused(tmp_path):
    with pytest.raises(
        TypeError, match="ensemble or distilled student can be exported"
    ):
        to_onnx(StandardScaler().fit([[0.0], [1.0]]), tmp_path / "x.onnx")


def test_student_transform_is_refused(clf_ensemble, clf_data, tmp_path):
    student = KDDistiller(
        clf_ensemble, student_transform=StandardScaler(), **STUDENT
    ).fit(*clf_data)
    with pytest.raises(ValueError, match="student_transform.*skl2onnx"):
        student.to_onnx(tmp_path / "kd.onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("opset", [0, 2.5, True, "17", 99])
def test_bad_opset(clf_ensemble, tmp_path, opset):
    with pytest.raises(ValueError, match="opset"):
        to_onnx(clf_ensemble, tmp_path / "x.onnx", opset=opset)


def test_a_failed_export_keeps_the_earlier_file(clf_ensemble, tmp_path, monkeypatch):
    path = tmp_path / "ens.onnx"
    path.write_bytes(b"earlier")

    def broken(*args, **kwargs):
        raise RuntimeError("exporter failed")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(RuntimeError, match="exporter failed"):
        to_onnx(clf_ensemble, path)
    assert path.read_bytes() == b"earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ens.onnx"]


def test_public_name():
    assert skdistill.to_onnx is to_onnx
    assert "to_onnx" in skdistill.__all__


def test_exported_program_predicts_as_the_estimator(reg_ensemble, tmp_path):
    program = skdistill.to_exported_program(reg_ensemble)
    torch.export.save(program, tmp_path / "reg.pt2")
    run = torch.export.load(tmp_path / "reg.pt2").module()
    for X in _inputs(reg_ensemble.n_features_in_):
        mean, std, means, variances = (
            t.numpy() for t in run(torch.as_tensor(X, dtype=torch.float32))
        )
        expected_mean, expected_std = reg_ensemble.predict(X, return_std=True)
        np.testing.assert_allclose(mean, expected_mean, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(std, expected_std, rtol=RTOL, atol=ATOL)
        expected = reg_ensemble.predict_members(X)
        np.testing.assert_allclose(means, expected[0], rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(variances, expected[1], rtol=RTOL, atol=ATOL)


def test_exported_program_refuses_unfitted():
    with pytest.raises(NotFittedError):
        skdistill.to_exported_program(EnsembleRegressor())
