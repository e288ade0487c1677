"""The ``asdfeat synth`` command: write a synthetic DCASE 2022-layout dataset."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console()


def register(app: typer.Typer) -> None:
    """Add the ``synth`` command to ``app``."""
    app.command("synth")(synth)


def synth(
    out_dir: Path = typer.Argument(..., help="Folder to create; clips go to OUT_DIR/dev_data/raw/<machine>/."),
    machines: str = typer.Option("fan,gearbox,valve", help="Comma-separated machine types."),
    sections: int = typer.Option(3, help="Sections per machine type."),
    train_clips: int = typer.Option(30, help="Normal training clips per section, one in ten from the target domain."),
    test_clips: int = typer.Option(20, help="Test clips per section, split over domain x label."),
    seconds: float = typer.Option(2.0, help="Clip length in seconds."),
    seed: int = typer.Option(0, help="Random seed; equal options write identical files."),
) -> None:
    """Write a small synthetic dataset with normal and anomalous machine sounds."""
    from asdfeat.data.synth import synthesize_dataset

    machine_list = [name.strip() for name in machines.split(",") if name.strip()]
    root = synthesize_dataset(
        out_dir,
        machines=machine_list,
        sections=sections,
        train_clips=train_clips,
        test_clips=test_clips,
        seconds=seconds,
        seed=seed,
    )

    n_clips = sum(1 for _ in (root / "dev_data" / "raw").rglob("*.wav"))
    console.print(
        f"Wrote {n_clips} clips ({len(machine_list)} machine types x {sections} sections) "
        f"to {root / 'dev_data' / 'raw'}"
    )
