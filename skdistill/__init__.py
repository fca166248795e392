"""skdistill: deep ensembles and uncertainty-preserving distillation for scikit-learn."""

__version__ = "0.1.0"
