"""Three-stage evaluation report: proxy health, objective transfer, robustness.

Stage 1 checks whether the proxy metric separates the configurations at all.
Stage 2 lists the ASD metrics per family, independent of any ranking. Stage 3
checks whether the proxy-ASD rankings persist across families and across the
groups the user names (capacity, encoder family, checkpoint rule, ...).

Thresholds, each chosen for this tool and stated where it is applied:

* Low resolution: the proxy spread (max - min within the family) covers fewer
  than :data:`LOW_RESOLUTION_STEPS` resolution steps. The resolution is the
  ``proxy_resolution`` column when present, otherwise the reported precision
  (0.1 for values written with one decimal).
* Saturation: for bounded metrics (F1, accuracy, mAP, AUC, precision, recall)
  the best value lies within :data:`SATURATION_MARGIN` of the ceiling, where
  the ceiling is 100 when any value exceeds 1 and 1 otherwise.
* Collapse: alignment below :data:`COLLAPSE_ALIGNMENT` and uniformity above
  :data:`COLLAPSE_UNIFORMITY`, which is where identical embeddings put both
  (alignment 0, uniformity 0). With uniformity alone, the row is flagged as a
  possible collapse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from asdfeat.errors import StatsError
from asdfeat.stats.analysis import StatsResult, compare_best, correlate_rows
from asdfeat.stats.table import MIN_CONFIGS_PER_FAMILY, ProxyTable

LOW_RESOLUTION_STEPS = 10
SATURATION_MARGIN = 0.01
COLLAPSE_ALIGNMENT = 0.05
COLLAPSE_UNIFORMITY = -0.1
BOUNDED_METRIC_WORDS = ("f1", "accuracy", "acc", "map", "auc", "precision", "recall")


def reported_resolution(values: np.ndarray, max_decimals: int = 6) -> float:
    """Return the reported precision of values: 10**-k for the fewest decimals k that write them all."""
    for decimals in range(max_decimals + 1):
        scaled = values * 10**decimals
        if np.all(np.abs(scaled - np.round(scaled)) < 1e-6 * np.maximum(1.0, np.abs(scaled))):
            return 10.0**-decimals
    return 10.0**-max_decimals


def _numeric_column(table: ProxyTable, column: str, rows: np.ndarray) -> np.ndarray | None:
    if column not in table.extra:
        return None
    cells = table.extra[column][rows]
    if any(cell == "" for cell in cells):
        return None
    try:
        return np.array([float(cell) for cell in cells])
    except ValueError:
        raise StatsError(f"{table.source}: column {column!r} must be numeric where it is filled in") from None


def _resolution(table: ProxyTable, rows: np.ndarray) -> tuple[float, str]:
    resolution_column = _numeric_column(table, "proxy_resolution", rows)
    if resolution_column is not None:
        return float(np.max(resolution_column)), "proxy_resolution column"
    return reported_resolution(table.proxy_value[rows]), "reported precision"


def _saturation(metric: str, values: np.ndarray) -> dict[str, object] | None:
    words = metric.lower().replace("-", "_").split("_")
    if not any(word in BOUNDED_METRIC_WORDS for word in words):
        return None
    ceiling = 100.0 if np.max(values) > 1.0 else 1.0
    headroom = ceiling - float(np.max(values))
    return {"ceiling": ceiling, "headroom": headroom, "saturated": headroom <= SATURATION_MARGIN * ceiling}


def _collapse(table: ProxyTable, rows: np.ndarray) -> dict[str, object] | None:
    uniformity = _numeric_column(table, "uniformity", rows)
    if uniformity is None and table.proxy_metric[rows[0]].lower() == "uniformity":
        uniformity = table.proxy_value[rows]
    if uniformity is None:
        return None

    alignment = _numeric_column(table, "alignment", rows)
    near_zero = uniformity > COLLAPSE_UNIFORMITY
    if alignment is not None:
        near_zero &= alignment < COLLAPSE_ALIGNMENT
    configs = [str(config) for config in table.config[rows][near_zero]]
    return {"collapsed": configs, "confirmed_by_alignment": alignment is not None}


def proxy_health(table: ProxyTable) -> list[dict[str, object]]:
    """Stage 1: spread, resolution, ties, saturation and collapse of each family's proxy metric."""
    # NOTE: training divergence is not checked, because the table has no loss curves.
    families = []
    for family in table.families:
        rows = table.family_rows(family)
        values = table.proxy_value[rows]
        metric = str(table.proxy_metric[rows[0]])
        spread = float(np.max(values) - np.min(values))
        resolution, resolution_source = _resolution(table, rows)
        steps = spread / resolution
        saturation = _saturation(metric, values)
        collapse = _collapse(table, rows)

        flags = []
        if steps < LOW_RESOLUTION_STEPS:
            flags.append(f"low resolution ({steps:.1f} steps < {LOW_RESOLUTION_STEPS})")
        if np.unique(values).size < values.size:
            flags.append(f"tied proxy values ({values.size - np.unique(values).size})")
        if saturation is not None and saturation["saturated"]:
            flags.append(f"saturated ({saturation['headroom']:.3g} below {saturation['ceiling']:g})")
        if collapse is not None and collapse["collapsed"]:
            kind = "collapse" if collapse["confirmed_by_alignment"] else "possible collapse"
            flags.append(f"{kind}: {', '.join(collapse['collapsed'])}")

        families.append(
            {
                "family": family,
                "n": int(rows.size),
                "proxy_metric": metric,
                "direction": str(table.proxy_direction[rows[0]]),
                "min": float(np.min(values)),
                "max": float(np.max(values)),
                "spread": spread,
                "resolution": resolution,
                "resolution_source": resolution_source,
                "spread_in_steps": steps,
                "saturation": saturation,
                "collapse": collapse,
                "flags": flags,
            }
        )
    return families


def objective_transfer(table: ProxyTable) -> list[dict[str, object]]:
    """Stage 2: mean, min, max and best configuration of every ASD metric per family."""
    entries = []
    for family in table.families:
        rows = table.family_rows(family)
        for metric in table.asd_metrics:
            values = table.asd[metric][rows]
            best = np.flatnonzero(values == np.max(values))
            entries.append(
                {
                    "family": family,
                    "asd_metric": metric,
                    "mean": float(np.mean(values)),
                    "min": float(np.min(values)),
                    "max": float(np.max(values)),
                    "best": [str(table.config[rows][i]) for i in best],
                }
            )
    return entries


def _sign_summary(rhos: Sequence[float]) -> dict[str, object]:
    """Count the signs of rho; ``consistent`` is None when fewer than two are finite."""
    finite = [rho for rho in rhos if not math.isnan(rho)]
    positive = sum(rho > 0 for rho in finite)
    negative = sum(rho < 0 for rho in finite)
    return {
        "positive": positive,
        "negative": negative,
        "zero_or_nan": len(rhos) - positive - negative,
        "consistent": None if len(finite) < 2 else (positive == len(finite) or negative == len(finite)),
    }


def _group_robustness(table: ProxyTable, result: StatsResult, group_by: str) -> list[dict[str, object]]:
    # NOTE: (family, config) must stay unique, so a configuration seen under several
    # checkpoint rules needs the rule in its config name (for example "ae-64-4@loss-best").
    if group_by not in table.extra:
        raise StatsError(
            f"{table.source}: group column {group_by!r} not found among the text columns {sorted(table.extra)}; "
            "name a column that labels each configuration's group"
        )
    entries = []
    for family in table.families:
        rows = table.family_rows(family)
        labels = table.extra[group_by][rows]
        for metric in table.asd_metrics:
            groups = []
            for group in dict.fromkeys(labels.tolist()):
                members = rows[labels == group]
                if members.size < MIN_CONFIGS_PER_FAMILY:
                    groups.append({"group": group, "n": int(members.size), "rho": None, "reversal": None, "note": "too few configurations"})
                    continue
                test = correlate_rows(
                    table, members, metric, label=f"{family} [{group}]",
                    max_exact_n=result.max_exact_n, n_resamples=result.n_resamples, seed=result.seed,
                )
                groups.append({"group": group, "n": test.n, "rho": test.rho, "p": test.p, "reversal": test.reversal, "note": test.note})
            rhos = [entry["rho"] for entry in groups if entry["rho"] is not None]
            entries.append({"family": family, "asd_metric": metric, "groups": groups, "signs": _sign_summary(rhos)})
    return entries


def ranking_robustness(table: ProxyTable, result: StatsResult, group_by: str | None = None) -> dict[str, object]:
    """Stage 3: sign agreement of rho across families and, optionally, across groups.

    Parameters
    ----------
    group_by : str, optional
        Text column naming each configuration's group. Within every family,
        groups with at least 3 configurations get their own Spearman test and
        reversal check.
    """
    across_families = []
    for metric in table.asd_metrics:
        rhos = [result.test(family, metric).rho for family in table.families]
        across_families.append({"asd_metric": metric, "signs": _sign_summary(rhos)})

    best_shared = []
    for family in table.families:
        rows = table.family_rows(family)
        best_per_metric = {metric: compare_best(table.adjusted_proxy[rows], table.asd[metric][rows], table.config[rows])[1] for metric in table.asd_metrics}
        shared = set.intersection(*(set(best) for best in best_per_metric.values()))
        best_shared.append({"family": family, "best_by_asd": {k: list(v) for k, v in best_per_metric.items()}, "same_best_across_metrics": bool(shared)})

    return {
        "across_families": across_families,
        "best_across_asd_metrics": best_shared,
        "group_by": group_by,
        "within_groups": _group_robustness(table, result, group_by) if group_by else [],
    }


def build_three_stage_report(table: ProxyTable, result: StatsResult, *, group_by: str | None = None) -> dict[str, object]:
    """Build all three stages as one JSON-ready dictionary."""
    return {
        "source": table.source,
        "thresholds": {
            "low_resolution_steps": LOW_RESOLUTION_STEPS,
            "saturation_margin": SATURATION_MARGIN,
            "collapse_alignment": COLLAPSE_ALIGNMENT,
            "collapse_uniformity": COLLAPSE_UNIFORMITY,
        },
        "stage1_proxy_health": proxy_health(table),
        "stage2_objective_transfer": objective_transfer(table),
        "stage3_robustness": ranking_robustness(table, result, group_by),
    }
