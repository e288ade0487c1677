"""``asdfeat demo``: the whole path on synthetic data, in a few minutes on a laptop."""

from __future__ import annotations

from pathlib import Path

import typer

DEMO_PROTOCOLS = ["md", "lp-in", "lp-out"]
DEMO_MODELS = ["logmel-stats", "ae"]
# The study trains for 200 epochs; 50 keep the demo short on 2 CPU cores and
# still converge on the small synthetic training set.
DEMO_AE_EPOCHS = 50


def demo(
    out: Path = typer.Option(Path("asdfeat-demo"), "--out", help="Folder for the synthetic data, the store and the results."),
    backend: str = typer.Option("zarr", "--backend", help="Store backend: zarr or hdf5."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic data and of training."),
) -> None:
    """Synthesise DCASE-layout data, extract logmel-stats and ae, score md, lp-in and lp-out."""
    from asdfeat.commands._console import RichProgress, auc_table, console
    from asdfeat.data.synth import synthesize_dataset
    from asdfeat.evaluate import RESULT_COLUMNS, ScoreOptions, score_store
    from asdfeat.extract import run_extraction
    from asdfeat.results import write_rows
    from asdfeat.store import open_store

    data_dir = out / "data"
    store_path = out / ("store.h5" if backend == "hdf5" else "store.zarr")
    results_path = out / "results.csv"

    console.print(f"[bold]1/3[/] synthesising DCASE 2022-layout data in {data_dir}")
    synthesize_dataset(data_dir, seed=seed)

    console.print(f"[bold]2/3[/] extracting {', '.join(DEMO_MODELS)} into {store_path}")
    with RichProgress() as progress:
        for model in DEMO_MODELS:
            options = {"epochs": DEMO_AE_EPOCHS} if model == "ae" else {}
            run_extraction(
                data_dir, store_path, model,
                device="auto", backend=backend, model_options=options, progress=progress, seed=seed,
            )

    console.print(f"[bold]3/3[/] scoring {', '.join(DEMO_PROTOCOLS)}")
    with open_store(store_path, "r") as store:
        rows = score_store(store, DEMO_PROTOCOLS, options=ScoreOptions(seed=seed))
    write_rows(rows, results_path, RESULT_COLUMNS)

    console.print(auc_table(rows, title="AUC (%) on synthetic anomalies"))
    console.print(f"results: {results_path}\nnext: asdfeat score --store {store_path} --protocol md --out results.json")


def register(app: typer.Typer) -> None:
    app.command()(demo)
