"""skdistill: deep ensembles and uncertainty-preserving distillation for scikit-learn."""

from ._api import predict_members, predict_uncertainty
from ._codec import UntrustedTypeError
from ._export import to_exported_program, to_onnx
from ._persistence import IncompatibleVersionError, convert_legacy_file, load
from ._version import __version__
from .distill import EnDDDistiller, HydraDistiller, KDDistiller
from .ensemble import EnsembleClassifier, EnsembleRegressor
from .teachers import TeacherOutputs, UnknownRowsError

__all__ = [
    "EnDDDistiller",
    "EnsembleClassifier",
    "EnsembleRegressor",
    "HydraDistiller",
    "IncompatibleVersionError",
    "KDDistiller",
    "TeacherOutputs",
    "UnknownRowsError",
    "UntrustedTypeError",
    "__version__",
    "convert_legacy_file",
    "load",
    "predict_members",
    "predict_uncertainty",
    "to_exported_program",
    "to_onnx",
]
