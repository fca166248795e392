"""
Serving a student with ONNX Runtime
===================================

A distilled student is small and fast; exported to ONNX it is also free of
Python, PyTorch and skdistill. Here a two-headed Hydra student of a deep
ensemble is fitted on the breast cancer data, written with
:func:`skdistill.to_onnx`, and run with ONNX Runtime. The graph holds the
whole prediction (the softmax, the student's ``spread_``, the mean over the
heads), so its ``probabilities`` are ``predict_proba`` and its
``member_probabilities`` are ``predict_members``.
"""

# %%
# A student to export
# -------------------
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skdistill import EnsembleClassifier, HydraDistiller

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

teacher = EnsembleClassifier(
    n_members=4, hidden_layer_sizes=(32,), max_epochs=30, batch_size=32, random_state=0
)
student = HydraDistiller(
    teacher,
    n_heads=2,
    core_layer_sizes=(32,),
    head_layer_sizes=(16,),
    max_epochs=40,
    random_state=0,
).fit(X_train, y_train)
print(f"student accuracy: {student.score(X_test, y_test):.3f}")

# %%
# Export and run
# --------------
# The graph's input is ``X`` as float32, any number of rows. The scaler is not
# in it: a scikit-learn transformer in front of the network is exported
# separately (with ``skl2onnx``) or applied before, as here.
folder = tempfile.TemporaryDirectory()
path = Path(folder.name) / "student.onnx"
student.to_onnx(path)
print(f"{path.name}: {path.stat().st_size / 1024:.1f} KiB")

session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
print([o.name for o in session.get_outputs()])
proba, heads = session.run(None, {"X": X_test.astype(np.float32)})
print(
    "largest difference from predict_proba:",
    f"{np.abs(proba - student.predict_proba(X_test)).max():.1e}",
)
print(
    "largest difference from predict_members:",
    f"{np.abs(heads - student.predict_members(X_test)).max():.1e}",
)

# %%
# Latency on 10,000 rows
# ----------------------
# The best of five runs of each: ``predict_proba`` validates the input and
# runs PyTorch in batches; ONNX Runtime runs the graph on the float32 array.
rows = np.random.default_rng(0).normal(size=(10_000, X.shape[1]))
rows32 = rows.astype(np.float32)


def best_time(predict, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict()
        times.append(time.perf_counter() - start)
    return min(times)


latency = {
    "predict_proba\n(PyTorch)": best_time(lambda: student.predict_proba(rows)),
    "ONNX Runtime": best_time(lambda: session.run(None, {"X": rows32})),
}
for name, seconds in latency.items():
    print(f"{name.splitlines()[0]:>14}: {1000 * seconds:.1f} ms")
folder.cleanup()

fig, ax = plt.subplots(figsize=(5, 3))
ax.barh(list(latency), [1000 * s for s in latency.values()], color=["C0", "C1"])
ax.set_xlabel("milliseconds for 10,000 rows (best of 5)")
ax.set_title("Hydra student, two heads")
fig.tight_layout()
plt.show()
