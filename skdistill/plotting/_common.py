"""What every plot shares: matplotlib, imported late, and the Axes to draw on."""

from __future__ import annotations

import numpy as np


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "skdistill.plotting needs matplotlib: pip install 'skdistill[plot]'."
        ) from exc
    return plt


def _axes(ax, n: int, panel_size=None):
    """``n`` Axes: the given ones (checked), or those of a new figure."""
    if ax is None:
        plt = _pyplot()
        if panel_size is not None:  # a row of panels, laid out to fit insets
            width, height = panel_size
            fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
            # Fixed margins in inches: room for the insets under the panels,
            # which constrained layout would not see.
            fig.subplots_adjust(
                left=0.75 / (width * n),
                right=1 - 0.15 / (width * n),
                bottom=1.4 / height,
                top=1 - 0.65 / height,
                wspace=0.3,
            )
            return axes[0, 0] if n == 1 else axes[0]
        if n == 1:
            return plt.subplots(figsize=(5, 5))[1]
        return np.asarray(plt.subplots(1, n, figsize=(4.5 * n, 4), squeeze=True)[1])
    if n == 1:
        return ax
    axes = np.asarray(ax, dtype=object).ravel()
    if axes.shape[0] != n:
        raise ValueError(f"ax must hold {n} Axes; got {axes.shape[0]}.")
    return axes


def _like_input(X, grid: np.ndarray):
    """``grid`` as a DataFrame when ``X`` is one, so feature names match."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return grid
    import pandas as pd

    return pd.DataFrame(grid, columns=columns)
