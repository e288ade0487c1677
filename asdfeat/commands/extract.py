"""``asdfeat extract``: embed every clip of a DCASE folder into a feature store."""

from __future__ import annotations

from pathlib import Path

import typer


def extract(
    data: Path = typer.Option(..., "--data", help="DCASE release root, dev_data/eval_data folder or folder of machine types."),
    model: str = typer.Option(..., "--model", help="Model name (see 'asdfeat models') or hear:MODULE."),
    store: Path = typer.Option(..., "--store", help="Feature store to create or extend (.zarr folder, or .h5 file)."),
    machine: list[str] = typer.Option(None, "--machine", help="Machine type to extract; repeat for several. Default: all."),
    checkpoint: Path = typer.Option(None, "--checkpoint", help="Checkpoint file of a pretrained model."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, or auto (CUDA when available)."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Clips per forward pass and per store write."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace stored embeddings of this model."),
    dataset: str = typer.Option(None, "--dataset", help="Dataset name; default: inferred, e.g. dcase2022."),
    backend: str = typer.Option(None, "--backend", help="Store backend for a new store: zarr (default) or hdf5."),
    channel: int = typer.Option(0, "--channel", min=0, help="Channel of multi-channel files to use."),
    workers: int = typer.Option(0, "--workers", min=0, help="Audio decoding worker processes."),
    option: list[str] = typer.Option(None, "--option", "-o", help="Model option NAME=VALUE, e.g. -o epochs=50; repeatable."),
    seed: int = typer.Option(0, "--seed", help="Seed for models that train."),
    labels_dir: Path = typer.Option(None, "--labels", help="Folder of DCASE ground-truth CSVs; default: searched under DATA."),
    skip_bad_clips: bool = typer.Option(False, "--skip-bad-clips", help="Log and skip clips that cannot be decoded or embedded instead of stopping."),
) -> None:
    """Extract embeddings of MODEL for every clip under DATA into STORE; reruns resume."""
    from rich.markup import escape

    from asdfeat.commands._console import RichProgress, console, parse_options
    from asdfeat.extract import run_extraction

    with RichProgress() as progress:
        summaries = run_extraction(
            data, store, model,
            checkpoint=checkpoint, device=device, batch_size=batch_size, overwrite=overwrite,
            machines=machine or None, dataset=dataset, backend=backend,
            model_options=parse_options(option or []), progress=progress,
            channel=channel, num_workers=workers, seed=seed, labels_dir=labels_dir,
            skip_bad_clips=skip_bad_clips,
        )

    for summary in summaries:
        key = summary.key
        console.print(
            f"{key.model} / {key.dataset} / {key.machine}: {summary.n_computed} clips computed, "
            f"{summary.n_resumed} already stored, {summary.n_clips} in the clip table"
            + (" (trained)" if summary.trained else "")
        )
        for path in summary.skipped:
            console.print(f"[yellow]skipped[/] {escape(path)}")
    console.print(f"store: {store}")


def register(app: typer.Typer) -> None:
    app.command()(extract)
