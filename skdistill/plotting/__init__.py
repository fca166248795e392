"""Pictures of calibration and uncertainty.

matplotlib is an optional dependency (``pip install skdistill[plot]``); it is
imported inside each function, never when this module is imported. Every
function draws on the ``ax`` it is given, or on a new figure, and returns the
Axes (or an array of Axes) so the caller can adjust and save.

Estimator arguments are duck-typed: anything with ``predict_proba``,
``predict_uncertainty`` or ``predict_members`` as each function needs.

One private module per kind of picture: ``_reliability``, ``_uncertainty``,
``_decision`` and ``_regression``; their functions are imported from here.
"""

from ._decision import plot_decision_and_uncertainty
from ._regression import plot_regression_band
from ._reliability import plot_reliability_diagram
from ._uncertainty import plot_uncertainty_histograms

__all__ = [
    "plot_decision_and_uncertainty",
    "plot_regression_band",
    "plot_reliability_diagram",
    "plot_uncertainty_histograms",
]
