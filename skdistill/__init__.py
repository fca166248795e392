"""skdistill: deep ensembles and uncertainty-preserving distillation for scikit-learn."""

from ._persistence import IncompatibleVersionError, load
from .distill import EnDDDistiller, HydraDistiller, KDDistiller
from .ensemble import EnsembleClassifier, EnsembleRegressor

__version__ = "0.1.0"

__all__ = [
    "EnDDDistiller",
    "EnsembleClassifier",
    "EnsembleRegressor",
    "HydraDistiller",
    "IncompatibleVersionError",
    "KDDistiller",
    "__version__",
    "load",
]
