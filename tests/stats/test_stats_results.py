"""Building the proxy table from asdfeat scores and a proxy file."""

import json

import numpy as np
import pytest

from asdfeat.errors import StatsError
from asdfeat.stats.analysis import analyse_proxy_table
from asdfeat.stats.results import proxy_table_from_results
from asdfeat.stats.table import read_proxy_table

PROXY_LINES = [
    "model,family,proxy_metric,proxy_value,proxy_direction",
    "m1,ae,mae,6.0,lower",
    "m2,ae,mae,5.0,lower",
    "m3,ae,mae,4.0,lower",
]

# model -> protocol -> AUC (fraction) of the mean row
MEAN_AUC = {
    "m1": {"md": 0.61, "lp-in": 0.70, "lp-out": 0.58},
    "m2": {"md": 0.66, "lp-in": 0.69, "lp-out": 0.60},
    "m3": {"md": 0.64, "lp-in": 0.75, "lp-out": 0.59},
}


def score_records(with_mean: bool = True) -> list[dict]:
    records = []
    for model, by_protocol in MEAN_AUC.items():
        for protocol, auc in by_protocol.items():
            # Two machine types whose average is the mean AUC.
            for machine, offset in (("fan", 0.02), ("pump", -0.02)):
                records.append({"model": model, "dataset": "dcase2023", "machine": machine, "protocol": protocol,
                                "auc": auc + offset, "scope": "machine", "pauc": 0.5})
            if with_mean:
                records.append({"model": model, "dataset": "dcase2023", "machine": "mean", "protocol": protocol,
                                "auc": auc, "scope": "mean", "pauc": 0.5})
    return records


def write_scores_csv(path, records):
    columns = list(records[0])
    lines = [",".join(columns)] + [",".join(str(record[c]) for c in columns) for record in records]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture()
def proxy_path(tmp_path):
    path = tmp_path / "proxy.csv"
    path.write_text("\n".join(PROXY_LINES) + "\n")
    return path


def test_mean_rows_become_asd_columns(tmp_path, proxy_path):
    scores = write_scores_csv(tmp_path / "scores.csv", score_records())
    table = proxy_table_from_results(scores, proxy_path)

    assert table.asd_metrics == ("lp_in", "lp_out", "md")
    assert list(table.config) == ["m1", "m2", "m3"]
    np.testing.assert_allclose(table.asd["lp_in"], [0.70, 0.69, 0.75])
    np.testing.assert_allclose(table.asd["md"], [0.61, 0.66, 0.64])


def test_machine_rows_averaged_without_mean(tmp_path, proxy_path):
    records = score_records(with_mean=False)
    records[0]["auc"] = 0.9  # m1 / md / fan
    scores = tmp_path / "scores.json"
    scores.write_text(json.dumps(records))
    table = proxy_table_from_results(scores, proxy_path)
    np.testing.assert_allclose(table.asd["md"], [(0.9 + 0.59) / 2, 0.66, 0.64])


def test_both_paths_give_same_analysis(tmp_path, proxy_path, write_table):
    scores = write_scores_csv(tmp_path / "scores.csv", score_records())
    from_results = analyse_proxy_table(proxy_table_from_results(scores, proxy_path))

    lines = ["family,config,proxy_metric,proxy_value,proxy_direction,lp_in,lp_out,md"]
    for model, value in (("m1", 6.0), ("m2", 5.0), ("m3", 4.0)):
        auc = MEAN_AUC[model]
        lines.append(f"ae,{model},mae,{value},lower,{auc['lp-in']},{auc['lp-out']},{auc['md']}")
    from_table = analyse_proxy_table(read_proxy_table(write_table(lines)))

    assert [t.as_record() for t in from_results.tests] == [t.as_record() for t in from_table.tests]


def test_several_datasets_need_choice(tmp_path, proxy_path):
    records = score_records()
    other = [{**record, "dataset": "dcase2020"} for record in records]
    scores = write_scores_csv(tmp_path / "scores.csv", records + other)
    with pytest.raises(StatsError, match=r"several datasets \['dcase2020', 'dcase2023'\]; choose one with --dataset"):
        proxy_table_from_results(scores, proxy_path)
    table = proxy_table_from_results(scores, proxy_path, dataset="dcase2020")
    np.testing.assert_allclose(table.asd["md"], [0.61, 0.66, 0.64])


def test_model_without_scores_raises(tmp_path, proxy_path):
    records = [record for record in score_records() if record["model"] != "m2"]
    scores = write_scores_csv(tmp_path / "scores.csv", records)
    with pytest.raises(StatsError, match=r"model 'm2' has no scores"):
        proxy_table_from_results(scores, proxy_path)


def test_missing_protocol_names_model(tmp_path, proxy_path):
    records = [r for r in score_records() if not (r["model"] == "m3" and r["protocol"] == "md")]
    scores = write_scores_csv(tmp_path / "scores.csv", records)
    with pytest.raises(StatsError, match=r"model 'm3'.*column 'md' is empty"):
        proxy_table_from_results(scores, proxy_path)


def test_duplicate_machine_row_raises(tmp_path, proxy_path):
    records = score_records(with_mean=False)
    scores = write_scores_csv(tmp_path / "scores.csv", records + records[:1])
    with pytest.raises(StatsError, match=r"machine 'fan' appears twice"):
        proxy_table_from_results(scores, proxy_path)


def test_missing_score_column_raises(tmp_path, proxy_path):
    records = [{k: v for k, v in record.items() if k != "auc"} for record in score_records()]
    scores = write_scores_csv(tmp_path / "scores.csv", records)
    with pytest.raises(StatsError, match=r"missing column\(s\) \['auc'\]"):
        proxy_table_from_results(scores, proxy_path)
