"""
Out-of-distribution detection on digits
=======================================

Train on the handwritten digits 0-4 only, then show the models the digits 5-9,
classes they have never seen. A model cannot be right on those, but it can
say that it does not know. We score each model's *epistemic* uncertainty as
an out-of-distribution detector: the AUROC of telling held-out 0-4 digits
(in distribution) from 5-9 digits (out of distribution), where 0.5 is chance
and 1 is perfect.
"""

# %%
# Data: 0-4 to train and test, 5-9 as the unknown
# ------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skdistill import EnDDDistiller, EnsembleClassifier, HydraDistiller, KDDistiller
from skdistill.metrics import ood_auroc

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixel intensities 0..16 -> 0..1
known = y < 5
X_train, X_in, y_train, y_in = train_test_split(
    X[known], y[known], test_size=0.3, stratify=y[known], random_state=0
)
X_out = X[~known]
print(f"train {len(X_train)}, test in-distribution {len(X_in)}, unseen {len(X_out)}")

# %%
# An ensemble and three students
# ------------------------------
common = dict(max_epochs=60, batch_size=256, lr=3e-3, random_state=0)
student = dict(common, core_layer_sizes=(128,), head_layer_sizes=(32,))

ensemble = EnsembleClassifier(n_members=5, hidden_layer_sizes=(128,), **common)
ensemble.fit(X_train, y_train)
models = {
    "Ensemble (N=5)": ensemble,
    "Hydra+ (M=5)": HydraDistiller(teacher=ensemble, n_heads=5, **student),
    "KD": KDDistiller(teacher=ensemble, **student),
    "EnDD": EnDDDistiller(teacher=ensemble, **student),
}
for model in list(models.values())[1:]:
    model.fit(X_train, y_train)

# %%
# Scores
# ------
# For each model: accuracy on the known classes, and the AUROC of epistemic
# and of total uncertainty as OOD scores. Total uncertainty (the entropy of
# the prediction) also rises on unseen digits, but it cannot tell "I have not
# seen this" from "this digit is ambiguous"; the epistemic part can.
rows = {}
for name, model in models.items():
    u_in, u_out = model.predict_uncertainty(X_in), model.predict_uncertainty(X_out)
    rows[name] = (
        np.mean(model.predict(X_in) == y_in),
        ood_auroc(u_in.epistemic, u_out.epistemic),
        ood_auroc(u_in.total, u_out.total),
    )
print(f"{'':15} accuracy  AUROC epistemic  AUROC total")
for name, (accuracy, auroc_epi, auroc_tot) in rows.items():
    print(f"{name:15} {accuracy:8.3f}  {auroc_epi:15.3f}  {auroc_tot:11.3f}")

# %%
# KD's epistemic AUROC is exactly 0.5: a one-head student has no spread to
# measure. Hydra+ keeps it with several heads on one core, EnDD with a
# Dirichlet over the class probabilities.
#
# Histograms
# ----------
# Epistemic uncertainty on known and unseen digits, for each model. All panels
# share their bins and their x axis, so a model whose histograms sit further
# left reports less uncertainty; the better detector is the one whose two
# histograms overlap less. Seen digits are filled, unseen ones outlined. The
# values span three orders of magnitude, so the axis is logarithmic (values
# below 10⁻⁴ nats are counted in the first bin).
names = list(models)
epistemic = {
    name: (
        models[name].predict_uncertainty(X_in).epistemic,
        models[name].predict_uncertainty(X_out).epistemic,
    )
    for name in names
}
top = max(max(u_in.max(), u_out.max()) for u_in, u_out in epistemic.values())
floor = 1e-4
bins = np.geomspace(floor, top, 40)
fig, axes = plt.subplots(
    1, len(names), figsize=(14, 3.8), sharex=True, sharey=True, layout="constrained"
)
for ax, name in zip(axes, names):
    u_in, u_out = epistemic[name]
    ax.set_title(f"{name}: AUROC {rows[name][1]:.3f}")
    ax.set_xlabel("epistemic uncertainty (nats)")
    if u_in.max() == 0 and u_out.max() == 0:
        ax.text(0.5, 0.5, "one head:\nno epistemic uncertainty",
                transform=ax.transAxes, ha="center", va="center")  # fmt: skip
        continue
    u_in, u_out = np.clip(u_in, floor, None), np.clip(u_out, floor, None)
    # Each histogram sums to 1: there are more unseen images than seen ones.
    ax.hist(u_in, bins=bins, weights=np.full(len(u_in), 1 / len(u_in)),
            alpha=0.5, label="digits 0-4 (seen)")  # fmt: skip
    ax.hist(u_out, bins=bins, weights=np.full(len(u_out), 1 / len(u_out)),
            histtype="step", linewidth=2, label="digits 5-9 (unseen)")  # fmt: skip
axes[0].set_xscale("log")
axes[0].set_ylabel("fraction of the images")
axes[0].legend()
