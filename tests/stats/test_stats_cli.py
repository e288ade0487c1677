"""The ``asdfeat stats`` command on the example table."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from asdfeat.cli import app
from asdfeat.errors import StatsError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "proxy_table.csv"
RESULT_COLUMNS = ["family", "asd_metric", "n", "rho", "p", "q", "best_by_proxy", "best_by_asd", "reversal", "p_method"]


def test_example_table_to_csv(tmp_path):
    out = tmp_path / "tests.csv"
    result = CliRunner().invoke(app, ["stats", "--table", str(EXAMPLE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "autoencoder" in result.output

    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 7 * 3
    for column in RESULT_COLUMNS + ["note"]:
        assert column in rows[0]
    assert {row["p_method"] for row in rows} == {"exact"}


def test_json_report_and_plot(tmp_path):
    out = tmp_path / "tests.json"
    report = tmp_path / "report.md"
    plot = tmp_path / "scatter.png"
    arguments = ["stats", "--table", str(EXAMPLE), "--out", str(out), "--report", str(report),
                 "--group-by", "group", "--plot", str(plot)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output

    document = json.loads(out.read_text())
    assert document["settings"]["fdr_scope"] == "all"
    assert len(document["tests"]) == 21
    assert "Stage 2" in report.read_text()
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_and_proxy_inputs(tmp_path):
    scores = tmp_path / "scores.json"
    records = [
        {"model": model, "dataset": "dcase2023", "machine": "mean", "protocol": protocol, "auc": auc, "scope": "mean"}
        for model, aucs in (("m1", (0.61, 0.70)), ("m2", (0.66, 0.69)), ("m3", (0.64, 0.75)))
        for protocol, auc in zip(("md", "lp-in"), aucs)
    ]
    scores.write_text(json.dumps(records))
    proxy = tmp_path / "proxy.csv"
    proxy.write_text("model,family,proxy_metric,proxy_value,proxy_direction\nm1,ae,mae,6,lower\nm2,ae,mae,5,lower\nm3,ae,mae,4,lower\n")
    out = tmp_path / "tests.csv"

    result = CliRunner().invoke(app, ["stats", "--results", str(scores), "--proxy", str(proxy), "--out", str(out)])
    assert result.exit_code == 0, result.output
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["asd_metric"] for row in rows] == ["lp_in", "md"]
    assert float(rows[0]["rho"]) == pytest.approx(0.5)


def test_bad_table_raises_stats_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("family,config,proxy_value\nae,a,1\n")
    result = CliRunner().invoke(app, ["stats", "--table", str(bad)])
    assert isinstance(result.exception, StatsError)
    assert "proxy_direction" in str(result.exception)


def test_missing_input_raises():
    result = CliRunner().invoke(app, ["stats"])
    assert isinstance(result.exception, StatsError)


def test_stats_never_imports_torch():
    code = "import sys, asdfeat.stats, asdfeat.commands.stats, asdfeat.stats.plot; print('torch' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


@pytest.mark.parametrize("scope", ["asd_metric", "family"])
def test_fdr_scope_option(tmp_path, scope):
    out = tmp_path / "tests.json"
    result = CliRunner().invoke(app, ["stats", "--table", str(EXAMPLE), "--out", str(out), "--fdr-scope", scope])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["settings"]["fdr_scope"] == scope
