"""
The toy regression band: aleatoric and epistemic uncertainty
============================================================

A noisy 1-D function observed on ``[-6, 6]``. Every member of an
:class:`~skdistill.EnsembleRegressor` predicts a Gaussian (a mean and a
variance), so the ensemble's predictive variance splits into two parts:

* **aleatoric** -- the mean of the members' variances: the noise in the data,
  which more data would not remove;
* **epistemic** -- the variance of the members' means: how much the members
  disagree, which grows where there was no data to agree on.

We draw both for the ensemble and for a Hydra+ student distilled from it, on
an input range twice as wide as the training range.
"""

# %%
# Data and models
# ---------------
import matplotlib.pyplot as plt
import numpy as np

from skdistill import EnsembleRegressor, HydraDistiller
from skdistill.datasets import (
    make_toy_regression,
    make_toy_regression_ood,
    toy_regression_mean,
)

X, y = make_toy_regression(400, noise=1.0, random_state=0)

# Ten members, each on its own bootstrap sample of the rows; five heads in the
# student, so each head imitates two members.
common = dict(max_epochs=200, batch_size=512, lr=1e-2, random_state=0)
ensemble = EnsembleRegressor(
    n_members=10, bootstrap=True, hidden_layer_sizes=(64, 64), **common
)
ensemble.fit(X, y)
hydra = HydraDistiller(
    teacher=ensemble,
    n_heads=5,
    core_layer_sizes=(64,),
    head_layer_sizes=(32,),
    **common,
).fit(X, y)

# %%
# Bands
# -----
# :func:`~skdistill.plotting.plot_regression_band` shades a ±2σ band of the
# total variance and, inside it, a ±2σ band of the aleatoric variance alone.
# Where the outer band sticks out of the inner one, the members (or heads)
# disagree.
from skdistill.plotting import plot_regression_band

x_grid = np.linspace(-12, 12, 300)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True, layout="constrained")
models = {"Ensemble (N=10)": ensemble, "Hydra+ (M=5)": hydra}
for ax, (name, model) in zip(axes, models.items()):
    plot_regression_band(model, X, y, x_grid=x_grid, ax=ax)
    ax.plot(x_grid, toy_regression_mean(x_grid), "k:", label="true function")
    for edge in (-6, 6):
        ax.axvline(edge, color="0.5", linestyle="--", linewidth=1)
    ax.set_title(f"{name} (training range: dashed lines)")
    ax.set_ylim(-15, 35)
    ax.legend(loc="upper left", fontsize="small")

# %%
# Inside and outside the training range
# -------------------------------------
# :func:`~skdistill.datasets.make_toy_regression_ood` draws inputs on
# ``[-12, 12]`` with a mask of those outside ``[-6, 6]``. Inside, the
# aleatoric part estimates the noise (its true variance is 1) and the members
# agree. Outside, the epistemic part grows -- and the squared error grows much
# faster.
X_wide, y_wide, is_ood = make_toy_regression_ood(1000, random_state=1)
for name, model in models.items():
    unc = model.predict_uncertainty(X_wide)
    error = (model.predict(X_wide) - y_wide) ** 2
    print(
        f"{name:16} inside: aleatoric {unc.aleatoric[~is_ood].mean():5.2f}, "
        f"epistemic {unc.epistemic[~is_ood].mean():5.2f}  |  outside: "
        f"epistemic {unc.epistemic[is_ood].mean():5.2f}, "
        f"squared error {error[is_ood].mean():6.1f}"
    )

# %%
# The band widens outside the data, but far less than the model is wrong: the
# members all extrapolate almost linearly, while the true function is a cubic.
# A handful of networks is a rough sample of the plausible functions, so treat
# epistemic uncertainty as a ranking ("less sure here than there"), not as a
# calibrated error bar far from the data. The student keeps the ensemble's
# picture with one shared core and five small heads.
