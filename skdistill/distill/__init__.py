"""Distillers: turn an ensemble into one cheap network, keeping what can be kept."""

from ._base import BaseDistiller
from ._endd import EnDDDistiller
from ._hydra import HydraDistiller
from ._kd import KDDistiller

__all__ = ["BaseDistiller", "EnDDDistiller", "HydraDistiller", "KDDistiller"]
