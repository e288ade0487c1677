"""Reading and validating proxy tables."""

import numpy as np
import pytest

from asdfeat.errors import StatsError
from asdfeat.stats.table import read_proxy_table


def test_reads_columns_and_families(good_table_path):
    table = read_proxy_table(good_table_path)
    assert table.families == ("ae", "ce")
    assert table.asd_metrics == ("lp_in", "lp_out", "md")
    assert list(table.extra) == ["group"]
    np.testing.assert_allclose(table.asd["md"][:2], [61.0, 62.5])


def test_lower_direction_sign_reversed(good_table_path):
    table = read_proxy_table(good_table_path)
    np.testing.assert_allclose(table.adjusted_proxy[:4], [-6.0, -5.5, -5.1, -4.9])
    np.testing.assert_allclose(table.adjusted_proxy[4:], [97.0, 98.0, 99.0])


def test_asd_metrics_option_selects_columns(good_table_path):
    table = read_proxy_table(good_table_path, asd_metrics=["md"])
    assert table.asd_metrics == ("md",)
    assert "lp_in" in table.extra


def test_auxiliary_columns_not_asd(write_table, header, good_rows):
    rows = [row + ",0.5,-3.0" for row in good_rows]
    table = read_proxy_table(write_table([header + ",alignment,uniformity", *rows]))
    assert table.asd_metrics == ("lp_in", "lp_out", "md")


def test_missing_column_raises(write_table, header, good_rows):
    header = header.replace("proxy_direction,", "")
    rows = [row.replace(",lower", "").replace(",higher", "") for row in good_rows]
    with pytest.raises(StatsError, match=r"missing required column\(s\) \['proxy_direction'\]"):
        read_proxy_table(write_table([header, *rows]))


def test_unknown_direction_names_line(write_table, header, good_rows):
    rows = list(good_rows)
    rows[1] = rows[1].replace("lower", "smaller")
    with pytest.raises(StatsError, match=r"line 3, column 'proxy_direction'.*'smaller'.*'higher' or 'lower'"):
        read_proxy_table(write_table([header, *rows]))


def test_non_numeric_value_names_cell(write_table, header, good_rows):
    rows = list(good_rows)
    rows[5] = rows[5].replace("65.0", "n/a")
    with pytest.raises(StatsError, match=r"line 7, column 'lp_out' has the non-numeric value 'n/a'"):
        read_proxy_table(write_table([header, *rows]))


def test_empty_cell_raises(write_table, header, good_rows):
    rows = list(good_rows)
    rows[0] = rows[0].replace(",61.0", ",")
    with pytest.raises(StatsError, match=r"line 2, column 'md' is empty"):
        read_proxy_table(write_table([header, *rows]))


def test_duplicate_configuration_raises(write_table, header, good_rows):
    rows = [*good_rows, good_rows[0]]
    with pytest.raises(StatsError, match=r"'ae-a' of family 'ae' appears twice \(line 2 and line 9\)"):
        read_proxy_table(write_table([header, *rows]))


def test_small_family_raises(write_table, header, good_rows):
    with pytest.raises(StatsError, match=r"family 'ce' has 2 configuration\(s\).*at least 3"):
        read_proxy_table(write_table([header, *good_rows[:6]]))


def test_mixed_proxy_metric_raises(write_table, header, good_rows):
    rows = list(good_rows)
    rows[2] = rows[2].replace("mae", "mse")
    with pytest.raises(StatsError, match=r"family 'ae' mixes proxy_metric values \['mae', 'mse'\]"):
        read_proxy_table(write_table([header, *rows]))


def test_unknown_asd_metric_raises(good_table_path):
    with pytest.raises(StatsError, match=r"\['auc'\] not found"):
        read_proxy_table(good_table_path, asd_metrics=["auc"])


def test_ragged_line_raises(write_table, header, good_rows):
    with pytest.raises(StatsError, match="line 3 has 8 cells"):
        read_proxy_table(write_table([header, good_rows[0], good_rows[1].rsplit(",", 1)[0]]))


def test_missing_file_raises(tmp_path):
    with pytest.raises(StatsError, match="not found"):
        read_proxy_table(tmp_path / "absent.csv")
