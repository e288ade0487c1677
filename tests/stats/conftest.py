"""Small proxy tables written to a temporary folder."""

from pathlib import Path

import pytest

HEADER = "family,config,proxy_metric,proxy_value,proxy_direction,group,lp_in,lp_out,md"

GOOD_ROWS = [
    "ae,ae-a,mae,6.0,lower,small,70.1,60.2,61.0",
    "ae,ae-b,mae,5.5,lower,small,71.3,61.0,62.5",
    "ae,ae-c,mae,5.1,lower,large,72.4,59.8,63.1",
    "ae,ae-d,mae,4.9,lower,large,69.0,62.0,64.2",
    "ce,r18,macro_f1,97.0,higher,small,78.0,66.0,72.0",
    "ce,r34,macro_f1,98.0,higher,small,79.0,65.0,71.0",
    "ce,r50,macro_f1,99.0,higher,large,80.0,64.0,70.0",
]


@pytest.fixture()
def header() -> str:
    """Header of the small proxy table."""
    return HEADER


@pytest.fixture()
def good_rows() -> list[str]:
    """Rows of a valid table: family ae (4 configurations, lower is better) and ce (3, higher)."""
    return list(GOOD_ROWS)


@pytest.fixture()
def write_table(tmp_path: Path):
    """Write a CSV from lines and return its path."""

    def write(lines: list[str], name: str = "table.csv") -> Path:
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture()
def good_table_path(write_table) -> Path:
    return write_table(["# example comment line", HEADER, *GOOD_ROWS])
