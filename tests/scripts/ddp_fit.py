"""Fit an ensemble and a Hydra student under Accelerate, then print the results.

Run by tests/test_distributed.py, once under ``torchrun --nproc_per_node 2``
(two CPU processes, gloo) and once alone; each process writes its results to
``rank<i>.json`` in the folder named by ``SKDISTILL_TEST_OUT``.
"""

import json
import os
from pathlib import Path

from accelerate import Accelerator
from sklearn.datasets import make_classification

from skdistill import EnsembleClassifier, HydraDistiller

X, y = make_classification(
    600, 8, n_informative=5, n_classes=3, class_sep=1.5, random_state=0
)
X_tr, y_tr, X_te, y_te = X[:450], y[:450], X[450:], y[450:]
acc = Accelerator(cpu=True)
opts = dict(max_epochs=30, batch_size=32, random_state=0, accelerator=acc)
fixed = dict(early_stopping=False, validation_fraction=0.0)
ens = EnsembleClassifier(3, hidden_layer_sizes=(32,), **fixed, **opts)
ens.fit(X_tr, y_tr)
student = HydraDistiller(ens, n_heads=2, early_stopping=False, **opts)
student.fit(X_tr, y_tr)
out = Path(os.environ["SKDISTILL_TEST_OUT"]) / f"rank{acc.process_index}.json"
out.write_text(
    json.dumps(
        {
            "rank": acc.process_index,
            "processes": acc.num_processes,
            "ensemble": ens.score(X_te, y_te),
            "hydra": student.score(X_te, y_te),
            "proba": ens.predict_proba(X_te).tolist(),
            "student_proba": student.predict_proba(X_te).tolist(),
            "steps": len(ens.history_[-1, "batches"]),
        }
    )
)
