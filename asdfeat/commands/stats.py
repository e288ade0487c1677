"""``asdfeat stats``: rank proxy metrics against ASD metrics within each family."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from asdfeat.errors import StatsError

console = Console()


def _split_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise StatsError(f"--asd-metrics {text!r} names no column; give comma-separated names such as lp_in,lp_out,md")
    return names


def _load(table, results, proxy, dataset, asd_metrics, group_by):
    from asdfeat.stats.results import proxy_table_from_results
    from asdfeat.stats.table import read_proxy_table

    text_columns = [group_by] if group_by else []
    if table is not None:
        if results is not None or proxy is not None:
            raise StatsError("give either --table or --results with --proxy, not both")
        return read_proxy_table(table, asd_metrics=asd_metrics, text_columns=text_columns)
    if results is None or proxy is None:
        raise StatsError("missing input: give --table FILE, or --results FILE together with --proxy FILE")
    return proxy_table_from_results(results, proxy, dataset=dataset, asd_metrics=asd_metrics, text_columns=text_columns)


def _fmt(value: float, digits: int = 3) -> str:
    from asdfeat.stats.report_format import format_number

    return format_number(value, digits)


def _tests_table(result) -> Table:
    table = Table(title="Spearman's rho, p and BH q: direction-adjusted proxy vs each ASD metric")
    table.add_column("family", style="bold", no_wrap=True)
    table.add_column("n", justify="right")
    for metric in result.asd_metrics:
        table.add_column(metric, justify="right")
    table.add_column("reversals")

    for family in result.families:
        tests = [result.test(family, metric) for metric in result.asd_metrics]
        cells = []
        for test in tests:
            text = f"rho {_fmt(test.rho, 2)}\np {_fmt(test.p, 2)}\nq {_fmt(test.q, 2)}"
            cells.append(f"[bold]{text}[/]" if test.q <= 0.05 else text)
        reversals = [test.asd_metric for test in tests if test.reversal]
        table.add_row(family, str(tests[0].n), *cells, ", ".join(reversals) or "none")
    return table


def _print_footer(result) -> None:
    methods = sorted({test.p_method for test in result.tests} - {"none"})
    console.print(
        f"p-values: two-sided, min(1, 2 min(P(T<=t), P(T>=t))) over pairings; methods used: {', '.join(methods)} "
        f"(exact = all n! pairings for n <= {result.max_exact_n})."
    )
    monte_carlo = [test for test in result.tests if test.p_method == "monte-carlo"]
    if monte_carlo:
        console.print(f"Monte Carlo for {len(monte_carlo)} test(s): {result.n_resamples} random pairings, seed {result.seed}.")
    console.print(f"q-values: Benjamini-Hochberg over scope '{result.fdr_scope}'; bold marks q <= 0.05.")
    for test in result.untested:
        console.print(f"[yellow]untested:[/] {test.family} / {test.asd_metric}: {test.note}")
    for test in result.tests:
        if test.reversal:
            console.print(
                f"reversal: {test.family} / {test.asd_metric}: best by proxy {', '.join(test.best_by_proxy)}; "
                f"best by ASD {', '.join(test.best_by_asd)}"
            )
        if "tie for best" in test.note and test.p_method != "none":
            console.print(f"tie: {test.family} / {test.asd_metric}: {test.note}")


def _print_three_stage(report: dict) -> None:
    stage1 = Table(title="Stage 1: proxy-task health (steps = spread / resolution)")
    stage1.add_column("family", no_wrap=True)
    for column in ("proxy metric", "range", "resolution", "steps"):
        stage1.add_column(column)
    stage1.add_column("flags")
    for entry in report["stage1_proxy_health"]:
        stage1.add_row(
            entry["family"], f"{entry['proxy_metric']}\n({entry['direction']})",
            f"{_fmt(entry['min'], 4)} to {_fmt(entry['max'], 4)}", _fmt(entry["resolution"]),
            _fmt(entry["spread_in_steps"]), escape("\n".join(entry["flags"])) or "ok",
        )
    console.print(stage1)

    stage2 = Table(title=escape("Stage 2: objective transfer, mean [min, max] per ASD metric"))
    stage2.add_column("family", no_wrap=True)
    metrics = list(dict.fromkeys(entry["asd_metric"] for entry in report["stage2_objective_transfer"]))
    for metric in metrics:
        stage2.add_column(metric, justify="right")
    by_family: dict[str, list[str]] = {}
    for entry in report["stage2_objective_transfer"]:
        by_family.setdefault(entry["family"], []).append(escape(f"{_fmt(entry['mean'], 4)} [{_fmt(entry['min'], 4)}, {_fmt(entry['max'], 4)}]"))
    for family, cells in by_family.items():
        stage2.add_row(family, *cells)
    console.print(stage2)

    from asdfeat.stats.report_format import describe_signs

    stage3 = report["stage3_robustness"]
    console.print("[bold]Stage 3: ranking robustness[/]")
    for entry in stage3["across_families"]:
        console.print(f"  sign of rho across families, {entry['asd_metric']}: {describe_signs(entry['signs'])}")
    for entry in stage3["best_across_asd_metrics"]:
        same = "same" if entry["same_best_across_metrics"] else "different"
        console.print(f"  {entry['family']}: {same} best configuration across ASD metrics")
    for entry in stage3["within_groups"]:
        groups = ", ".join(f"{g['group']} rho {_fmt(g['rho'], 2)}" for g in entry["groups"])
        console.print(f"  {entry['family']} / {entry['asd_metric']} by {stage3['group_by']}: {groups}; {describe_signs(entry['signs'])}")


def stats(
    table: Path = typer.Option(None, "--table", help="Proxy table CSV: family, config, proxy_metric, proxy_value, proxy_direction, ASD columns."),
    results: Path = typer.Option(None, "--results", help="Scores file from 'asdfeat score --out' (CSV or JSON); needs --proxy."),
    proxy: Path = typer.Option(None, "--proxy", help="Per-model proxy CSV: model, family, proxy_metric, proxy_value, proxy_direction."),
    dataset: str = typer.Option(None, "--dataset", help="Dataset to use when the scores file covers several."),
    asd_metrics: str = typer.Option(None, "--asd-metrics", help="Comma-separated ASD columns; default: every numeric non-auxiliary column."),
    out: Path = typer.Option(None, "--out", help="Write one row per test as CSV, or JSON when the name ends in .json."),
    fdr_scope: str = typer.Option("all", "--fdr-scope", help="Benjamini-Hochberg family: all, asd_metric or family."),
    max_exact_n: int = typer.Option(10, "--max-exact-n", help="Enumerate all n! pairings up to this n (at most 12)."),
    n_resamples: int = typer.Option(100_000, "--n-resamples", help="Random pairings for the Monte Carlo test beyond --max-exact-n."),
    seed: int = typer.Option(0, "--seed", help="Seed of the Monte Carlo test."),
    three_stage: bool = typer.Option(False, "--three-stage", help="Also print the three-stage report."),
    report: Path = typer.Option(None, "--report", help="Write the three-stage report as Markdown, or JSON when the name ends in .json."),
    group_by: str = typer.Option(None, "--group-by", help="Text column that names robustness groups for stage 3 (for example group)."),
    plot: Path = typer.Option(None, "--plot", help="Save the proxy-quality vs ASD scatter as PNG."),
) -> None:
    """Correlate each family's proxy metric with its ASD metrics (exact Spearman, BH q-values, reversals)."""
    from asdfeat.stats.analysis import analyse_proxy_table
    from asdfeat.stats.output import write_results

    proxy_table = _load(table, results, proxy, dataset, _split_names(asd_metrics), group_by)
    result = analyse_proxy_table(proxy_table, fdr_scope=fdr_scope, max_exact_n=max_exact_n, n_resamples=n_resamples, seed=seed)
    console.print(_tests_table(result))
    _print_footer(result)

    if out is not None:
        console.print(f"wrote {write_results(result, out)}")
    if three_stage or report is not None or group_by is not None:
        from asdfeat.stats.report import build_three_stage_report
        from asdfeat.stats.report_format import write_report

        three_stage_report = build_three_stage_report(proxy_table, result, group_by=group_by)
        _print_three_stage(three_stage_report)
        if report is not None:
            console.print(f"wrote {write_report(three_stage_report, result, report)}")
    if plot is not None:
        from asdfeat.stats.plot import plot_proxy_scatter

        console.print(f"wrote {plot_proxy_scatter(proxy_table, result, plot)}")


def register(app: typer.Typer) -> None:
    """Add the ``stats`` command to the CLI."""
    app.command("stats")(stats)
