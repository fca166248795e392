"""Every estimator's parameters as scikit-learn ``_parameter_constraints``.

``fit`` (and ``partial_fit``) validate them once, through scikit-learn's
``_validate_params``, before anything is trained: a bad type or value gives
its ``InvalidParameterError`` (a ``ValueError`` and a ``TypeError``), which
names the parameter, what it must be, and what it got. What a constraint
cannot say (``early_stopping`` needs ``validation_fraction > 0``, an
optimizer class that is not a ``torch.optim.Optimizer``) is checked by hand
after it.
"""

from __future__ import annotations

from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from .nn.layers import ACTIVATIONS

_POSITIVE_INT = Interval(Integral, 1, None, closed="left")
_POSITIVE = Interval(Real, 0, None, closed="neither")
_NON_NEGATIVE = Interval(Real, 0, None, closed="left")
_UNIT = Interval(Real, 0, 1, closed="both")
_SIZES = ["array-like", _POSITIVE_INT]
_CLASS_WEIGHT = [dict, StrOptions({"balanced"}), None]

#: What every estimator trains with.
TRAINING = {
    "activation": [StrOptions(set(ACTIVATIONS))],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "max_epochs": [_POSITIVE_INT],
    "batch_size": [_POSITIVE_INT, StrOptions({"auto"})],
    "lr": [_POSITIVE],
    "weight_decay": [_NON_NEGATIVE],
    # A name, an optimizer class or a functools.partial of one (all callable).
    "optimizer": [StrOptions({"adam", "adamw", "sgd", "rmsprop"}), callable],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "early_stopping": ["boolean"],
    "n_iter_no_change": [_POSITIVE_INT],
    "callbacks": [list, tuple, None],
    "verbose": ["verbose"],
    "device": [str, torch.device, None],
    "random_state": ["random_state"],
    "device_data": ["boolean", StrOptions({"auto"})],
    # An accelerate.Accelerator, checked in fit (accelerate is optional).
    "accelerator": "no_validation",
    "compile": ["boolean"],
}

#: The ensembles'.
ENSEMBLE = {
    **TRAINING,
    "n_members": [_POSITIVE_INT],
    "hidden_layer_sizes": _SIZES,
    "bootstrap": ["boolean"],
    # A module class, a factory, or a module instance (callable too).
    "module": [callable, None],
    "warm_start": ["boolean"],
}

#: EnsembleClassifier's own.
ENSEMBLE_CLASSIFIER = {
    **ENSEMBLE,
    "mutual_learning": [_UNIT],
    "mutual_learning_form": [StrOptions({"ensemble", "cohort"})],
    "class_weight": _CLASS_WEIGHT,
}

#: What every distiller shares.
DISTILLER = {
    **TRAINING,
    # An estimator, a list of fitted ones, TeacherOutputs, "virtual" or None:
    # checked in fit by the teacher layer, with messages of its own.
    "teacher": "no_validation",
    "core_layer_sizes": [None, *_SIZES],
    "head_layer_sizes": [None, *_SIZES],
    "core": [callable, None],
    "head": [callable, None],
    "extra_inputs": [StrOptions({"noise", "mixup", "noise+mixup"}), None],
    "n_extra": [_POSITIVE_INT],
    "noise_scale": [_POSITIVE],
    "extra_ratio": [_POSITIVE],
    "class_weight": _CLASS_WEIGHT,
    "student_transform": [HasMethods(["fit", "transform"]), None],
    "memory": [None, str, HasMethods(["cache"])],
}

HYDRA = {
    **DISTILLER,
    "n_heads": [_POSITIVE_INT, None],
    "alpha": [_UNIT],
    "beta": [_UNIT],
    "diversity": [_NON_NEGATIVE],
    "diversity_start": [_UNIT],
    "diversity_warmup": [_UNIT],
    "temperature": [_POSITIVE],
    "aggregation_temperature": [_POSITIVE],
    "mean_head_init": ["boolean"],
    "spread_calibration": ["boolean", StrOptions({"auto"})],
}

KD = {
    **DISTILLER,
    "temperature": [_POSITIVE],
    # At most 1 for KD; WSL's weight of its soft-label term may exceed 1.
    "alpha": [_NON_NEGATIVE],
    "soft_label_weighting": [StrOptions({"wsl"}), None],
    "virtual_a": [Interval(Real, 0, 1, closed="right")],
    "virtual_form": [StrOptions({"log", "yuan"})],
}

ENDD = {
    **DISTILLER,
    "initial_temperature": [Interval(Real, 1, None, closed="left")],
    "hold_fraction": [_UNIT],
    "anneal_fraction": [_UNIT],
    "n_member_samples": [_POSITIVE_INT, None],
}


def constraints_for(table: dict, cls) -> dict:
    """``table`` restricted to ``cls``'s own parameters (``compile`` may be absent)."""
    names = set(cls._get_param_names())
    return {k: v for k, v in table.items() if k in names}
