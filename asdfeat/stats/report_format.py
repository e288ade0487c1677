"""Write the three-stage report as Markdown or JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

from asdfeat.errors import StatsError
from asdfeat.stats.analysis import StatsResult


def format_number(value: object, digits: int = 3) -> str:
    """Format a float with ``digits`` significant digits, NaN and None as ``n/a``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    return lines + [""]


def _stage1_lines(report: dict) -> list[str]:
    rows = [
        [
            entry["family"], str(entry["n"]), entry["proxy_metric"], entry["direction"],
            f"{format_number(entry['min'], 4)} to {format_number(entry['max'], 4)}",
            f"{format_number(entry['resolution'])} ({entry['resolution_source']})",
            format_number(entry["spread_in_steps"]),
            "; ".join(entry["flags"]) or "ok",
        ]
        for entry in report["stage1_proxy_health"]
    ]
    header = ["family", "n", "proxy metric", "better", "range", "resolution", "spread / resolution", "flags"]
    return ["## Stage 1: proxy-task health and metric resolution", ""] + _markdown_table(header, rows)


def _stage2_lines(report: dict) -> list[str]:
    rows = [
        [entry["family"], entry["asd_metric"], format_number(entry["mean"], 4), format_number(entry["min"], 4),
         format_number(entry["max"], 4), ", ".join(entry["best"])]
        for entry in report["stage2_objective_transfer"]
    ]
    header = ["family", "ASD metric", "mean", "min", "max", "best configuration"]
    return ["## Stage 2: objective transfer (ASD metrics, independent of ranking)", ""] + _markdown_table(header, rows)


def describe_signs(signs: dict) -> str:
    """Summarise the signs of rho, for example ``mixed (2 positive, 1 negative, 0 zero or n/a)``."""
    verdict = {None: "not comparable", True: "consistent", False: "mixed"}[signs["consistent"]]
    return f"{verdict} ({signs['positive']} positive, {signs['negative']} negative, {signs['zero_or_nan']} zero or n/a)"


def _stage3_lines(report: dict) -> list[str]:
    stage = report["stage3_robustness"]
    lines = ["## Stage 3: ranking robustness", "", "Sign of Spearman's rho across families:", ""]
    lines += _markdown_table(["ASD metric", "sign of rho"], [[e["asd_metric"], describe_signs(e["signs"])] for e in stage["across_families"]])
    lines += ["Best configuration by each ASD metric:", ""]
    lines += _markdown_table(
        ["family", "same best across ASD metrics", "best by metric"],
        [[e["family"], "yes" if e["same_best_across_metrics"] else "no",
          "; ".join(f"{m}: {', '.join(b)}" for m, b in e["best_by_asd"].items())] for e in stage["best_across_asd_metrics"]],
    )
    if stage["group_by"]:
        lines += [f"Within-family groups by column `{stage['group_by']}` (groups need at least 3 configurations):", ""]
        rows = []
        for entry in stage["within_groups"]:
            groups = ", ".join(
                f"{g['group']} (n={g['n']}): rho {format_number(g['rho'])}" + (", reversal" if g["reversal"] else "")
                for g in entry["groups"]
            )
            rows.append([entry["family"], entry["asd_metric"], groups, describe_signs(entry["signs"])])
        lines += _markdown_table(["family", "ASD metric", "groups", "sign of rho"], rows)
    return lines


def report_markdown(report: dict, result: StatsResult) -> str:
    """Render the report and the rank tests as one Markdown document."""
    lines = [f"# Proxy-metric evaluation of {report['source']}", ""]
    lines += _stage1_lines(report) + _stage2_lines(report) + _stage3_lines(report)
    lines += [f"## Rank tests (Benjamini-Hochberg scope: {result.fdr_scope})", ""]
    lines += _markdown_table(
        ["family", "ASD metric", "n", "rho", "p", "q", "p method", "best by proxy", "best by ASD", "reversal"],
        [[t.family, t.asd_metric, str(t.n), format_number(t.rho), format_number(t.p), format_number(t.q), t.p_method,
          ", ".join(t.best_by_proxy), ", ".join(t.best_by_asd), "yes" if t.reversal else "no"] for t in result.tests],
    )
    thresholds = report["thresholds"]
    lines += [
        "Thresholds: low resolution below "
        f"{thresholds['low_resolution_steps']} resolution steps; saturation within "
        f"{thresholds['saturation_margin']:.0%} of the ceiling; collapse at alignment < "
        f"{thresholds['collapse_alignment']} and uniformity > {thresholds['collapse_uniformity']}.",
        "",
    ]
    return "\n".join(lines)


def _replace_nan(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _replace_nan(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_replace_nan(item) for item in value]
    return value


def write_report(report: dict, result: StatsResult, path: Path | str) -> Path:
    """Write the report as JSON when the name ends in ``.json``, else as Markdown."""
    path = Path(path)
    if not path.parent.is_dir():
        raise StatsError(f"output folder not found: {path.parent}; create it first")
    if path.suffix.lower() == ".json":
        document = {**report, "tests": [test.as_record() for test in result.tests]}
        path.write_text(json.dumps(_replace_nan(document), indent=2) + "\n", encoding="utf-8")
    else:
        path.write_text(report_markdown(report, result), encoding="utf-8")
    return path
