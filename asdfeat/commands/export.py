"""``asdfeat export``: clip tables, embeddings or DCASE score files out of a store."""

from __future__ import annotations

from pathlib import Path

import typer

FORMAT_HELP = (
    "npz, csv or parquet: one <dataset>_<machine> file per machine type with the clip table "
    "and, with --model, the embeddings. dcase: the DCASE evaluator's anomaly-score and "
    "decision CSV files per machine type and section, from MD scores (needs --model)."
)


def export(
    store: Path = typer.Option(..., "--store", help="Feature store to read."),
    out: Path = typer.Option(..., "--out", help="Output folder, created when missing. Files of the same name are replaced."),
    fmt: str = typer.Option("npz", "--format", help=FORMAT_HELP),
    model: str = typer.Option(None, "--model", help="Model whose embeddings or scores to export."),
    dataset: list[str] = typer.Option(None, "--dataset", help="Dataset to export; repeatable. Default: all."),
    machine: list[str] = typer.Option(None, "--machine", help="Machine type to export; repeatable. Default: all."),
    quantile: float = typer.Option(
        0.9, "--quantile",
        help="dcase format: quantile of the gamma distribution fitted to the normal training clips' MD scores, used as the decision threshold.",
    ),
) -> None:
    """Export embeddings and clip tables, or anomaly scores in the DCASE evaluator format."""
    from asdfeat.commands._console import console
    from asdfeat.errors import AsdfeatError
    from asdfeat.io.dcase_scores import write_dcase_scores
    from asdfeat.io.export import EXPORT_FORMATS, export_store
    from asdfeat.store import open_store

    formats = (*EXPORT_FORMATS, "dcase")
    if fmt not in formats:
        raise AsdfeatError(f"unknown export format {fmt!r}; choose one of {list(formats)}")
    if fmt == "dcase" and model is None:
        raise AsdfeatError("--format dcase scores one model; pass --model NAME")

    with open_store(store, "r") as feature_store:
        if fmt == "dcase":
            written = write_dcase_scores(
                feature_store, model, out, datasets=dataset or None, machines=machine or None, quantile=quantile
            )
        else:
            written = export_store(
                feature_store, out, model=model, fmt=fmt, datasets=dataset or None, machines=machine or None
            )

    console.print(f"wrote {len(written)} file(s) to {out}")
    for path in written:
        console.print(f"  {path.name}")


def register(app: typer.Typer) -> None:
    app.command()(export)
