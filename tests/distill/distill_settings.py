"""Tiny settings shared by the distiller tests."""

# Teachers train a fixed number of epochs on every row (no early stopping).
TINY = dict(hidden_layer_sizes=(16,), max_epochs=15, lr=1e-2, batch_size=64,
            device="cpu", early_stopping=False, validation_fraction=0.0)  # fmt: skip
STUDENT = dict(core_layer_sizes=(16,), head_layer_sizes=(8,), max_epochs=15, lr=1e-2,
               batch_size=64, device="cpu")  # fmt: skip
