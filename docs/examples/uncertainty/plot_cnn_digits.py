"""
Images: a convolutional ensemble distilled into a convolutional Hydra+ student
==============================================================================

Ensembles and students take input of any shape: here scikit-learn's 8×8
digits as images, ``X`` of shape ``(n, 1, 8, 8)``. The teacher is an
:class:`~skdistill.EnsembleClassifier` whose members are a small
convolutional network (``module=`` takes a module instance, copied and
re-initialised for every member; the members still train at once, stacked
with ``torch.vmap``). The student is a :class:`~skdistill.HydraDistiller`
with a shared convolutional ``core`` and light linear heads.

We compare them on held-out digits and on out-of-distribution images: the
same digits with their pixels scrambled, which no digit looks like. A student
that kept the ensemble's *epistemic* uncertainty (the members', or heads',
disagreement) is as unsure as its teacher on the scrambled images.
"""

# %%
# Data and the convolutional ensemble
# -----------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from skdistill import EnsembleClassifier, HydraDistiller
from skdistill.metrics import (
    expected_calibration_error,
    negative_log_likelihood,
    ood_auroc,
)

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)  # (n, channels, H, W)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
# Out of distribution: every test image with its 64 pixels in a random order.
rng = np.random.default_rng(0)
X_ood = np.stack([rng.permutation(x.ravel()).reshape(1, 8, 8) for x in X_test])


class SmallCNN(nn.Module):
    """One member: two 3×3 convolutions, pooling, a linear read-out."""

    def __init__(self, n_classes=10):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(16 * 4 * 4, n_classes),
        )  # fmt: skip

    def forward(self, x):
        return self.body(x)


ensemble = EnsembleClassifier(
    n_members=5, module=SmallCNN(), max_epochs=40, random_state=0
).fit(X_train, y_train)


# %%
# The student: one convolutional core, five linear heads
# ------------------------------------------------------
# ``core`` maps a batch of images to features; its output width is read off
# a dummy batch. ``head`` is one head (copied for each), here a linear layer
# from the core's 256 features to the 10 classes.
class ConvCore(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )  # fmt: skip

    def forward(self, x):
        return self.body(x)


student = HydraDistiller(
    teacher=ensemble,
    core=ConvCore(),
    head=nn.Linear(256, 10),
    max_epochs=60,
    random_state=0,
).fit(X_train, y_train)

n_params = {
    name: sum(p.numel() for p in model.net_.module_.parameters())
    for name, model in [("ensemble", ensemble), ("Hydra+ student", student)]
}
print(
    f"{'model':15} {'params':>7} {'accuracy':>8} {'NLL':>6} {'ECE':>6} {'OOD AUROC':>9}"
)
for name, model in [("ensemble", ensemble), ("Hydra+ student", student)]:
    proba = model.predict_proba(X_test)
    nll = negative_log_likelihood(y_test, proba)
    ece = expected_calibration_error(y_test, proba)
    auroc = ood_auroc(
        model.predict_uncertainty(X_test).epistemic,
        model.predict_uncertainty(X_ood).epistemic,
    )
    print(
        f"{name:15} {n_params[name]:7d} {model.score(X_test, y_test):8.3f} "
        f"{nll:6.3f} {ece:6.3f} {auroc:9.3f}"
    )

# %%
# Epistemic uncertainty on digits and on scrambled images
# -------------------------------------------------------
# Both models are sure on held-out digits and unsure on scrambled ones; the
# student's spread of heads stands in for the ensemble's five networks, at
# one core's cost.
fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
bins = np.linspace(0, 1.0, 41)
for ax, (name, model) in zip(
    axes, [("ensemble", ensemble), ("Hydra+ student", student)]
):
    for data, label, color in [
        (X_test, "held-out digits", "tab:blue"),
        (X_ood, "scrambled pixels (OOD)", "tab:red"),
    ]:
        mi = model.predict_uncertainty(data).epistemic
        ax.hist(mi, bins=bins, alpha=0.6, color=color, label=label)
    ax.set_title(name)
    ax.set_xlabel("epistemic uncertainty (mutual information, nats)")
axes[0].set_ylabel("test images")
axes[0].legend()
fig.tight_layout()
plt.show()
