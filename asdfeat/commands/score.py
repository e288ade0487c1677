"""``asdfeat score``: AUC tables of stored embeddings under the ASD protocols."""

from __future__ import annotations

from pathlib import Path

import typer

PROTOCOL_HELP = "md, lp-in, lp-out, knn or md-domain; repeat for several."


def score(
    store: Path = typer.Option(..., "--store", help="Feature store to read."),
    protocol: list[str] = typer.Option(["md"], "--protocol", "-p", help=PROTOCOL_HELP),
    model: list[str] = typer.Option(None, "--model", help="Model to score; repeatable. Default: all."),
    machine: list[str] = typer.Option(None, "--machine", help="Machine type to score; repeatable. Default: all."),
    out: Path = typer.Option(None, "--out", help="Write results here: CSV, or JSON when the name ends in .json."),
    shrinkage: str = typer.Option("ledoit-wolf", "--shrinkage", help="MD fallback estimator: ledoit-wolf or oas."),
    c: float = typer.Option(1.0, "--C", help="Inverse L2 regularisation strength of the linear probes."),
    k: int = typer.Option(1, "--k", min=1, help="Neighbours for the knn protocol."),
    seed: int = typer.Option(0, "--seed", help="Seed of the in-domain probe's 50/50 split."),
    min_domain_clips: int = typer.Option(10, "--min-domain-clips", min=2, help="Minimum number of training clips of a domain for md-domain to fit its own model."),
) -> None:
    """Score every stored model under each PROTOCOL and print AUC (%) per machine type."""
    from rich.markup import escape

    from asdfeat.commands._console import auc_table, console
    from asdfeat.errors import ScoringError
    from asdfeat.evaluate import RESULT_COLUMNS, ScoreOptions, score_store
    from asdfeat.results import write_rows
    from asdfeat.scoring import PROTOCOLS
    from asdfeat.store import open_store

    unknown = sorted(set(protocol) - set(PROTOCOLS))
    if unknown:
        raise ScoringError(f"unknown protocol(s) {unknown}; choose from {list(PROTOCOLS)}")
    if shrinkage not in ("ledoit-wolf", "oas"):
        raise ScoringError(f"unknown shrinkage {shrinkage!r}; choose ledoit-wolf or oas")

    options = ScoreOptions(shrinkage=shrinkage, C=c, k=k, seed=seed, min_domain_clips=min_domain_clips)
    with open_store(store, "r") as feature_store:
        rows = score_store(feature_store, list(protocol), models=model or None, machines=machine or None, options=options)

    console.print(auc_table(rows, title=f"AUC (%) in {store}"))
    for row in rows:
        if row["scope"] == "machine" and row["notes"]:
            console.print(f"[dim]{escape(row['model'])} / {escape(row['machine'])}: {escape(row['notes'])}[/]")
    if out is not None:
        write_rows(rows, out, RESULT_COLUMNS)
        console.print(f"results: {out}")


def register(app: typer.Typer) -> None:
    app.command()(score)
