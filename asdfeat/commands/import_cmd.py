"""``asdfeat import``: store embeddings computed by other tools."""

from __future__ import annotations

from pathlib import Path

import typer


def import_embeddings(
    store: Path = typer.Option(..., "--store", help="Feature store to write; created when missing."),
    model: str = typer.Option(..., "--model", help="Model name to store the embeddings under."),
    embeddings: str = typer.Option(
        ..., "--embeddings",
        help="Embedding matrix (n_clips, dim): .npy, .npz, .csv, .parquet, or .h5 (FILE.h5:/path).",
    ),
    clips: Path = typer.Option(
        ..., "--clips",
        help="CSV with a 'path' column (or 'machine' and 'file_name' columns) naming the clip of each row, in row order.",
    ),
    dataset: str = typer.Option(None, "--dataset", help="Dataset name, e.g. dcase2022. Default: from the store or the clip names."),
    key: str = typer.Option(None, "--key", help="Array in a .npz, dataset in an HDF5 file, or list column in a Parquet file."),
    backend: str = typer.Option(None, "--backend", help="Backend of a new store: zarr or hdf5. Default: from the path."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace embeddings already stored under --model."),
) -> None:
    """Import an embedding file, matching its rows to the store's clips by path."""
    from asdfeat.commands._console import console
    from asdfeat.io.importer import import_embeddings as run_import

    result = run_import(
        store, model, embeddings, clips, dataset=dataset, key=key, backend=backend, overwrite=overwrite
    )
    console.print(
        f"imported {result.n_clips} clips of dimension {result.dim} as [bold]{result.model}[/] into {store}"
    )
    for stored_key in result.keys:
        created = " (new clip table)" if (stored_key.dataset, stored_key.machine) in result.new_tables else ""
        console.print(f"  {stored_key.dataset} / {stored_key.machine}{created}")


def register(app: typer.Typer) -> None:
    app.command(name="import")(import_embeddings)
