"""PyTorch building blocks: stacked members, multi-head students, losses.

This layer knows about torch only; nothing here depends on scikit-learn.
"""

from .layers import StackedLinear, StackedMLP, VmapStack
from .modules import MultiHeadStudent, StackedEnsemble

__all__ = [
    "MultiHeadStudent",
    "StackedEnsemble",
    "StackedLinear",
    "StackedMLP",
    "VmapStack",
]
