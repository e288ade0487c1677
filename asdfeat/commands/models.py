"""``asdfeat models``: list registered extractors and their configured checkpoints."""

from __future__ import annotations

import typer


def models() -> None:
    """List every registered model: family, embedding dimension, proxy metric and checkpoint."""
    from rich.console import Console

    console = Console()
    console.print(build_models_table())


def build_models_table():
    """Build the rich table that ``asdfeat models`` prints.

    Returns
    -------
    rich.table.Table
        One row per registered model, in registration order.
    """
    from rich.table import Table

    from asdfeat.extractors import available_models
    from asdfeat.extractors.config import OFFICIAL_CHECKPOINTS, checkpoint_env_var, config_path

    table = Table(title="Registered models", caption=f"config file: {config_path()}")
    for column in ("model", "family", "dim", "proxy metric", "value", "checkpoint"):
        table.add_column(column, justify="right" if column in ("dim", "value") else "left")

    for info in available_models():
        dim = "-" if info.dim is None else str(info.dim)
        value = "-" if info.proxy_value is None else str(info.proxy_value)
        if info.name in OFFICIAL_CHECKPOINTS:
            checkpoint = _checkpoint_cell(info.name, checkpoint_env_var(info.name))
        else:
            checkpoint = "not needed"
        table.add_row(info.name, info.family, dim, info.proxy_metric or "-", value, checkpoint)
    return table


def _checkpoint_cell(name: str, variable: str) -> str:
    from rich.markup import escape

    from asdfeat.extractors.config import configured_checkpoint

    resolved = configured_checkpoint(name)
    if resolved is None:
        return f"[yellow]not configured[/] (--checkpoint or ${variable})"

    location = f"{escape(str(resolved.path))} [dim]({escape(resolved.source)})[/]"
    if not resolved.path.exists():
        return f"[red]missing:[/] {location}"
    return location


def register(app: typer.Typer) -> None:
    """Add the ``models`` command to ``app``."""
    app.command("models")(models)
