"""``asdfeat ls`` (alias ``info``): what a feature store contains."""

from __future__ import annotations

from pathlib import Path

import typer


def ls(
    store: Path = typer.Option(..., "--store", help="Feature store to describe."),
    model: str = typer.Option(None, "--model", help="Show only this model's embeddings."),
) -> None:
    """List clip tables (sections, clips per split and label) and stored models."""
    from asdfeat.commands._console import console
    from asdfeat.io.summary import summarize_store
    from asdfeat.store import open_store

    with open_store(store, "r") as feature_store:
        summary = summarize_store(feature_store, model=model)

    console.print(f"[bold]{store}[/] ({summary.backend or 'unknown'} backend)")
    console.print(_tables_table(summary) if summary.tables else "no clip tables")
    console.print(_embeddings_table(summary) if summary.embeddings else "no embeddings")


def _tables_table(summary):
    from rich.table import Table

    table = Table(title="clip tables")
    for column in ("dataset", "machine", "sections", "clips", "train normal", "test normal", "test anomaly", "test unknown", "other"):
        justify = "left" if column in ("dataset", "machine", "sections") else "right"
        table.add_column(column, justify=justify, overflow="fold")

    count_columns = (("train", "normal"), ("test", "normal"), ("test", "anomaly"), ("test", "unknown"))
    for item in summary.tables:
        other = sum(count for pair, count in item.counts.items() if pair not in count_columns)
        table.add_row(
            item.dataset,
            item.machine,
            ",".join(item.sections),
            str(item.n_clips),
            *(str(item.counts.get(pair, 0)) for pair in count_columns),
            str(other),
        )
    return table


def _embeddings_table(summary):
    from rich.table import Table

    table = Table(title="embeddings")
    for column in ("model", "dataset", "machine", "dim", "done / total", "source", "sha256", "created"):
        justify = "right" if column in ("dim", "done / total") else "left"
        table.add_column(column, justify=justify, overflow="fold")

    for item in summary.embeddings:
        done = f"{item.done} / {item.total}"
        table.add_row(
            item.key.model,
            item.key.dataset,
            item.key.machine,
            "-" if item.dim is None else str(item.dim),
            done if item.complete else f"[yellow]{done}[/]",
            item.source,
            item.sha256 or "-",
            item.created or "-",
        )
    return table


def register(app: typer.Typer) -> None:
    app.command(name="ls")(ls)
    app.command(name="info", help="Alias of 'ls'.")(ls)
