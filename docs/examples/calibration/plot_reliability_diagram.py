"""
Reliability diagram on a tabular data set
=========================================

A classifier is *calibrated* when its confidence matches its accuracy: of the
predictions made with 80% confidence, 80% are right. A reliability diagram
bins the test predictions by confidence and plots each bin's accuracy against
its mean confidence; the expected calibration error (ECE) is the average gap,
weighted by the number of samples in each bin.

We compare one network, a deep ensemble of eight, and two students distilled
from the ensemble, on a synthetic tabular problem: three classes, 20 numeric
features of which 6 carry signal and 4 are mixtures of those, and 5% of the
labels flipped at random, so no model can be sure of every row. It has 2,000
rows, enough for the bins of the diagram to hold more than a handful each.
"""

# %%
# Data
# ----
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skdistill import EnsembleClassifier, HydraDistiller, KDDistiller
from skdistill.metrics import (
    brier_score,
    expected_calibration_error,
    negative_log_likelihood,
)
from skdistill.plotting import plot_reliability_diagram

X, y = make_classification(
    2000,
    n_features=20,
    n_informative=6,
    n_redundant=4,
    n_classes=3,
    flip_y=0.05,
    class_sep=0.8,
    random_state=0,
)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.5, stratify=y, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

# %%
# Models
# ------
# ``n_members=1`` is a single network trained exactly like one member of the
# ensemble, which makes it a fair baseline. Sixty epochs on 1,000 rows are
# more than enough to overfit, as networks trained without early stopping often
# do -- which is what makes them overconfident.
train = dict(max_epochs=60, batch_size=512, lr=5e-3, random_state=0)
common = dict(hidden_layer_sizes=(64, 64), **train)
student = dict(core_layer_sizes=(64,), head_layer_sizes=(32,), **train)
single = EnsembleClassifier(n_members=1, **common).fit(X_train, y_train)
ensemble = EnsembleClassifier(n_members=8, **common).fit(X_train, y_train)
models = {
    "one network": single,
    "ensemble (N=8)": ensemble,
    "Hydra+ (M=4)": HydraDistiller(teacher=ensemble, n_heads=4, **student),
    "KD": KDDistiller(teacher=ensemble, **student),
}
for name in ("Hydra+ (M=4)", "KD"):
    models[name].fit(X_train, y_train)

# %%
# Scores
# ------
# All three are lower-is-better: ECE, the negative log-likelihood (which punishes
# confident mistakes hardest) and the Brier score.
probas = {name: model.predict_proba(X_test) for name, model in models.items()}
for name, proba in probas.items():
    print(
        f"{name:15} ECE {expected_calibration_error(y_test, proba):.3f}  "
        f"NLL {negative_log_likelihood(y_test, proba):.3f}  "
        f"Brier {brier_score(y_test, proba):.3f}"
    )

# %%
# The diagram
# -----------
# :func:`~skdistill.plotting.plot_reliability_diagram` draws one panel per
# model, with its ECE in the title. The bars rise to each bin's accuracy and
# the dots sit at the bin's mean confidence: dots below the dashed diagonal
# are overconfident bins, where the model was more sure than it was right. The
# strip under each panel counts the test rows in each bin; bins with fewer
# than 5 rows would be drawn faded, as too small to judge. With 1,000 test
# rows the bins are 15 equal-width ones (below 1,000, the default switches to
# bins of equal counts).
axes = plot_reliability_diagram(y_test, probas)

# %%
# Averaging eight overconfident networks gives a less overconfident ensemble:
# where the members disagree, the mean prediction is less sure. The students
# inherit part of that from their teacher; how much depends on the data and on
# their settings (see :ref:`sphx_glr_auto_examples_model_selection_plot_grid_search_diversity.py`).
