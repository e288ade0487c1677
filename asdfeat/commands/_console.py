"""Rich helpers shared by the command modules."""

from __future__ import annotations

import math

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

console = Console()


class RichProgress:
    """A :class:`asdfeat.extract.ProgressReporter` drawing one rich bar per task."""

    def __init__(self):
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task = None

    def __enter__(self):
        self._progress.start()
        return self

    def __exit__(self, *exc_info):
        self._progress.stop()

    def start(self, description: str, total: int) -> None:
        self._task = self._progress.add_task(description, total=total)

    def advance(self, count: int) -> None:
        self._progress.advance(self._task, count)

    def finish(self) -> None:
        self._task = None


def parse_options(pairs: list[str]) -> dict:
    """Turn ``["epochs=50", "pooling=cls"]`` into ``{"epochs": 50, "pooling": "cls"}``.

    Values that parse as int or float become numbers; ``true``/``false`` become bools.
    """
    from asdfeat.errors import AsdfeatError

    options = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise AsdfeatError(f"invalid option {pair!r}; expected NAME=VALUE, e.g. epochs=50")
        options[name.strip().replace("-", "_")] = _parse_value(value.strip())
    return options


def _parse_value(value: str):
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for convert in (int, float):
        try:
            return convert(value)
        except ValueError:
            pass
    return value


def auc_table(rows: list[dict], title: str) -> Table:
    """Tabulate AUC (%) with one row per (model, protocol) and one column per machine type plus the mean."""
    machine_rows = [r for r in rows if r["scope"] in ("machine", "mean")]
    machines = sorted({r["machine"] for r in machine_rows if r["scope"] == "machine"}, key=str.lower)

    table = Table(title=title)
    table.add_column("model")
    table.add_column("protocol")
    for machine in machines:
        table.add_column(machine, justify="right")
    table.add_column("mean", justify="right", style="bold")
    table.add_column("official", justify="right")

    pairs = sorted({(r["model"], r["protocol"]) for r in machine_rows})
    for model, protocol in pairs:
        cells = {r["machine"]: r for r in machine_rows if (r["model"], r["protocol"]) == (model, protocol)}
        values = [_percent(cells[m]["auc"]) if m in cells else "" for m in machines]
        mean = cells.get("mean", {})
        table.add_row(model, protocol, *values, _percent(mean.get("auc")), _percent(mean.get("official_score")))
    return table


def _percent(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * float(value):.1f}"
