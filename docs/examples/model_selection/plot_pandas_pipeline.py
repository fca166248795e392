"""
A pandas pipeline end to end
============================

skdistill estimators are scikit-learn estimators, so they sit at the end of a
:class:`~sklearn.pipeline.Pipeline` like any other. Here a DataFrame with
numeric and categorical columns and string labels goes through a
:class:`~sklearn.compose.ColumnTransformer` (scaling and one-hot encoding)
into a deep ensemble, and into a Hydra+ student that fits its own teacher.
"""

# %%
# A customer table
# ----------------
# Synthetic data: whether a customer left, from how long they have been a
# customer, what they pay, how often they called support, their contract and
# how they pay. Labels are strings.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skdistill import EnsembleClassifier, HydraDistiller
from skdistill.metrics import expected_calibration_error
from skdistill.plotting import plot_uncertainty_histograms

rng = np.random.default_rng(0)
n = 1500
X = pd.DataFrame(
    {
        "tenure_months": rng.integers(1, 72, n),
        "monthly_charge": rng.normal(70, 20, n).round(2),
        "support_calls": rng.poisson(1.5, n),
        "contract": rng.choice(
            ["monthly", "one year", "two year"], n, p=[0.5, 0.3, 0.2]
        ),
        "payment": rng.choice(["card", "bank transfer", "cheque"], n),
    }
)
logit = (
    -1.0
    + 1.5 * (X["contract"] == "monthly")
    - 0.04 * X["tenure_months"]
    + 0.02 * (X["monthly_charge"] - 70)
    + 0.4 * X["support_calls"]
    + 0.5 * (X["payment"] == "cheque")
)
y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "left", "stayed")
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
X_train.head()

# %%
# Two pipelines
# -------------
# ``set_output(transform="pandas")`` keeps column names through the
# preprocessing, so the networks record them in ``feature_names_in_``. The
# student's teacher is passed *unfitted*: the student clones it and fits it on
# the same preprocessed rows inside ``fit``, so cross-validating the student
# pipeline never lets the teacher see a test fold.
preprocess = ColumnTransformer(
    [
        (
            "numeric",
            StandardScaler(),
            ["tenure_months", "monthly_charge", "support_calls"],
        ),
        ("categorical", OneHotEncoder(sparse_output=False), ["contract", "payment"]),
    ]
).set_output(transform="pandas")

train = dict(max_epochs=60, batch_size=512, lr=3e-3, random_state=0)
ensemble = make_pipeline(
    preprocess, EnsembleClassifier(n_members=6, hidden_layer_sizes=(32, 32), **train)
)
student = make_pipeline(
    preprocess,
    HydraDistiller(
        teacher=EnsembleClassifier(n_members=6, hidden_layer_sizes=(32, 32), **train),
        n_heads=3,
        core_layer_sizes=(32,),
        head_layer_sizes=(16,),
        **train,
    ),
)
ensemble.fit(X_train, y_train)
student.fit(X_train, y_train)
print("features seen by the student:", list(student[-1].feature_names_in_))
print("classes:", student[-1].classes_)

# %%
# Scores
# ------
# The pipelines predict from raw DataFrames, string labels included.
for name, model in [("ensemble", ensemble), ("Hydra+ student", student)]:
    proba = model.predict_proba(X_test)
    print(
        f"{name:15} accuracy {model.score(X_test, y_test):.3f}  "
        f"ECE {expected_calibration_error(y_test, proba):.3f}"
    )

# %%
# Who are we unsure about?
# ------------------------
# A pipeline forwards only the standard methods, so for ``predict_uncertainty``
# transform with all steps but the last (``pipeline[:-1]``) and ask the last
# step. ``pd.DataFrame`` of the result is a table with one row per customer.
uncertainty = pd.DataFrame(
    student[-1].predict_uncertainty(student[:-1].transform(X_test)),
    index=X_test.index,
)
X_test.join(uncertainty).sort_values("epistemic", ascending=False).head(8)

# %%
# Did the student keep the ensemble's uncertainty?
# ------------------------------------------------
# :func:`~skdistill.plotting.plot_uncertainty_histograms` overlays the
# distributions of the three components over the test rows and gives the
# total variation distance between them (0: identical histograms, 1: no
# overlap).
teacher_unc = ensemble[-1].predict_uncertainty(ensemble[:-1].transform(X_test))
axes = plot_uncertainty_histograms(
    teacher_unc, uncertainty, names=("ensemble (N=6)", "Hydra+ (M=3)"), bins=25,
    units="nats",
)  # fmt: skip
axes[0].figure.set_size_inches(13, 3.8)
plt.tight_layout()

# %%
# Total and aleatoric uncertainty match closely. The epistemic histogram is
# where a student usually falls short: its heads agree more than the members
# did, so it reports less epistemic uncertainty. More heads or a larger
# ``diversity`` narrow that gap; :ref:`sphx_glr_auto_examples_model_selection_plot_grid_search_diversity.py`
# shows how to choose them.
