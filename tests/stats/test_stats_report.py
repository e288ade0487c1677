"""Three-stage report: proxy health flags, objective transfer, robustness."""

import json

import pytest

from asdfeat.errors import StatsError
from asdfeat.stats.analysis import analyse_proxy_table
from asdfeat.stats.report import build_three_stage_report, reported_resolution
from asdfeat.stats.report_format import report_markdown, write_report
from asdfeat.stats.table import read_proxy_table

HEADER = "family,config,proxy_metric,proxy_value,proxy_direction,group,alignment,uniformity,lp_in,md"
ROWS = [
    "ce,r18,macro_f1,99.2,higher,small,,,78.0,72.0",
    "ce,r34,macro_f1,99.6,higher,small,,,79.0,71.0",
    "ce,r50,macro_f1,99.7,higher,large,,,80.0,70.0",
    "ce,r101,macro_f1,99.8,higher,large,,,77.0,73.0",
    "ce,r152,macro_f1,99.9,higher,large,,,76.5,69.0",
    "sim,s18,uniformity,-3.1,lower,small,0.45,-3.1,72.0,64.0",
    "sim,s34,uniformity,-3.2,lower,small,0.41,-3.2,73.0,65.0",
    "sim,s50,uniformity,-0.02,lower,large,0.01,-0.02,71.0,70.0",
    "sep,c64,si_sdr_db,6.2,higher,small,,,70.0,64.0",
    "sep,c128,si_sdr_db,9.1,higher,large,,,72.0,66.0",
    "sep,c256,si_sdr_db,12.3,higher,large,,,75.0,68.0",
]


@pytest.fixture()
def report_inputs(write_table):
    table = read_proxy_table(write_table([HEADER, *ROWS]))
    return table, analyse_proxy_table(table)


def stage1(report, family):
    return next(entry for entry in report["stage1_proxy_health"] if entry["family"] == family)


def test_saturation_and_low_resolution_flagged(report_inputs):
    report = build_three_stage_report(*report_inputs)
    ce = stage1(report, "ce")
    assert ce["resolution"] == pytest.approx(0.1)
    assert ce["spread_in_steps"] == pytest.approx(7.0)
    assert ce["saturation"]["saturated"]
    assert any(flag.startswith("low resolution") for flag in ce["flags"])
    assert any(flag.startswith("saturated") for flag in ce["flags"])


def test_collapse_flagged(report_inputs):
    report = build_three_stage_report(*report_inputs)
    sim = stage1(report, "sim")
    assert sim["collapse"] == {"collapsed": ["s50"], "confirmed_by_alignment": True}
    assert "collapse: s50" in sim["flags"]


def test_healthy_family_has_no_flags(report_inputs):
    assert stage1(build_three_stage_report(*report_inputs), "sep")["flags"] == []


def test_objective_transfer_lists_best(report_inputs):
    report = build_three_stage_report(*report_inputs)
    entry = next(e for e in report["stage2_objective_transfer"] if e["family"] == "sep" and e["asd_metric"] == "md")
    assert entry["best"] == ["c256"]
    assert entry["mean"] == pytest.approx(66.0)


def test_robustness_across_families(report_inputs):
    report = build_three_stage_report(*report_inputs)
    signs = {entry["asd_metric"]: entry["signs"] for entry in report["stage3_robustness"]["across_families"]}
    assert signs["lp_in"]["positive"] + signs["lp_in"]["negative"] + signs["lp_in"]["zero_or_nan"] == 3


def test_group_robustness_tests_large_groups(report_inputs):
    report = build_three_stage_report(*report_inputs, group_by="group")
    entry = next(e for e in report["stage3_robustness"]["within_groups"] if e["family"] == "ce" and e["asd_metric"] == "md")
    by_group = {group["group"]: group for group in entry["groups"]}
    assert by_group["small"]["rho"] is None
    assert by_group["large"]["n"] == 3
    assert by_group["large"]["rho"] == pytest.approx(-0.5)
    assert entry["signs"]["consistent"] is None


def test_unknown_group_column_raises(report_inputs):
    with pytest.raises(StatsError, match="group column 'capacity' not found"):
        build_three_stage_report(*report_inputs, group_by="capacity")


def test_markdown_and_json_written(report_inputs, tmp_path):
    table, result = report_inputs
    report = build_three_stage_report(table, result, group_by="group")
    markdown = report_markdown(report, result)
    assert "## Stage 1" in markdown
    assert "## Stage 3" in markdown

    path = write_report(report, result, tmp_path / "report.json")
    loaded = json.loads(path.read_text())
    assert loaded["thresholds"]["low_resolution_steps"] == 10
    assert len(loaded["tests"]) == 6


@pytest.mark.parametrize(("values", "expected"), [([1.0, 2.0], 1.0), ([97.8, 99.5], 0.1), ([-3.41, -3.5], 0.01), ([0.8125], 1e-4)])
def test_reported_resolution(values, expected):
    import numpy as np

    assert reported_resolution(np.array(values)) == pytest.approx(expected)
