"""
Choosing the diversity weight with a grid search
================================================

:class:`~skdistill.HydraDistiller` has two knobs that decide how much of the
ensemble's spread the student keeps: the number of heads ``n_heads`` (M) and
the weight ``diversity`` (λ) of the term that pushes the heads' weights apart.
Both are ordinary estimator parameters, so scikit-learn's
:class:`~sklearn.model_selection.GridSearchCV` tunes them. Here we search λ
for a four-head student, scored by calibration with
:data:`skdistill.metrics.ece_scorer`; adding ``"n_heads": [2, 4, 8]`` to the
grid searches M as well, at the cost of more fits.

The teacher is passed *unfitted*: every fold clones and fits it on that
fold's training rows only, so no test row leaks into the teacher. With
``memory=``, the fitted teacher and its outputs are cached, and each fold's
teacher is fitted once for the whole grid instead of once per candidate.
"""

# %%
# Data and the searched estimator
# -------------------------------
import shutil
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skdistill import EnsembleClassifier, HydraDistiller
from skdistill.datasets import make_spiral
from skdistill.metrics import ece_scorer

X, y = make_spiral(100, noise=0.8, random_state=0)

cache = tempfile.mkdtemp(prefix="skdistill-example-")
common = dict(max_epochs=60, batch_size=512, lr=2e-2, random_state=0)
teacher = EnsembleClassifier(n_members=6, hidden_layer_sizes=(64, 64), **common)
student = HydraDistiller(
    teacher=teacher,
    n_heads=4,
    core_layer_sizes=(64,),
    head_layer_sizes=(32,),
    memory=cache,
    **common,
)

# %%
# The search
# ----------
# Besides ECE we record the mean epistemic uncertainty on each test fold with a
# small custom scorer (any ``scorer(estimator, X, y) -> float`` works). The
# best candidate is chosen by ECE (``refit="ece"``). ``n_jobs=-1`` would run
# the fits in parallel processes; this example stays on one.


def mean_epistemic(estimator, X, y):
    return estimator.predict_uncertainty(X).epistemic.mean()


search = GridSearchCV(
    student,
    {"diversity": [0.0, 0.1, 1.0, 10.0]},
    scoring={"ece": ece_scorer, "accuracy": "accuracy", "epistemic": mean_epistemic},
    refit="ece",
    cv=StratifiedKFold(3, shuffle=True, random_state=0),
)
search.fit(X, y)
shutil.rmtree(cache, ignore_errors=True)

results = pd.DataFrame(search.cv_results_)
table = results[
    ["param_diversity", "mean_test_ece", "mean_test_accuracy", "mean_test_epistemic"]
].rename(columns=lambda c: c.replace("param_", "").replace("mean_test_", ""))
table["ece"] = -table["ece"]  # the scorer is negated: greater is better
print(table.round(4).to_string(index=False))
print("best:", search.best_params_)

# %%
# The picture
# -----------
# Left: calibration error on the test folds (lower is better), with the spread
# over the folds. Right: how much epistemic uncertainty the student reports on
# rows it was not trained on. A larger λ pushes the heads apart; whether that
# improves calibration depends on the data -- which is what the search is for.
# On data this small the differences are of the order of the fold-to-fold
# spread, so do not read more into them than the search does.
# Error bars are ± one standard deviation over the three folds.
x = np.arange(len(table))
fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
axes[0].errorbar(x, table["ece"], yerr=results["std_test_ece"], marker="o", capsize=4)
axes[0].set_ylabel("ECE (lower is better)")
axes[0].set_title("Calibration error on the test folds")
axes[1].errorbar(
    x, table["epistemic"], yerr=results["std_test_epistemic"], marker="o", capsize=4
)
axes[1].set_ylabel("mean epistemic uncertainty (nats)")
axes[1].set_title("Epistemic uncertainty on the test folds")
for ax in axes:
    ax.set_xticks(x, [f"{d:g}" for d in table["diversity"]])
    ax.set_xlabel("diversity weight λ (grid values, not to scale)")
fig.suptitle("Hydra+ (M=4) students, 3-fold cross-validation: mean ± std")
