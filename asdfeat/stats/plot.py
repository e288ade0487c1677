"""Scatter of normalised proxy quality against each ASD metric."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from asdfeat.errors import StatsError
from asdfeat.stats.analysis import StatsResult
from asdfeat.stats.table import ProxyTable

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")


def normalised_proxy_quality(table: ProxyTable) -> np.ndarray:
    """Min-max normalise the direction-adjusted proxy within each family.

    Returns
    -------
    numpy.ndarray of float64, shape (n_rows,)
        1 for the best configuration of its family by proxy, 0 for the worst,
        and 0.5 for every row of a family whose proxy metric is constant.
    """
    quality = np.empty(table.proxy_value.shape)
    adjusted = table.adjusted_proxy
    for family in table.families:
        rows = table.family_rows(family)
        low, high = adjusted[rows].min(), adjusted[rows].max()
        quality[rows] = 0.5 if high == low else (adjusted[rows] - low) / (high - low)
    return quality


def plot_proxy_scatter(table: ProxyTable, result: StatsResult, path: Path | str) -> Path:
    """Save one panel per ASD metric, one marker per family, rho in the legend, as PNG.

    Returns
    -------
    pathlib.Path
        The PNG written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    if not path.parent.is_dir():
        raise StatsError(f"output folder not found: {path.parent}; create it first")
    quality = normalised_proxy_quality(table)
    metrics = table.asd_metrics
    figure, axes = plt.subplots(1, len(metrics), figsize=(5.0 * len(metrics), 6.0), squeeze=False, sharex=True)

    for axis, metric in zip(axes[0], metrics):
        for index, family in enumerate(table.families):
            rows = table.family_rows(family)
            rho = result.test(family, metric).rho
            label = f"{family} (rho = {'n/a' if np.isnan(rho) else f'{rho:+.2f}'})"
            axis.scatter(quality[rows], table.asd[metric][rows], marker=MARKERS[index % len(MARKERS)], s=42, label=label, alpha=0.85)
        axis.set_xlabel("proxy quality (min-max within family, 1 = best)")
        axis.set_ylabel(metric)
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)

    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
