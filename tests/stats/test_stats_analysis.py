"""Family x ASD-metric tests, q-values and rank reversals."""

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from asdfeat.errors import StatsError
from asdfeat.stats.analysis import analyse_proxy_table, compare_best
from asdfeat.stats.table import read_proxy_table


def test_rho_uses_direction_adjusted_proxy(good_table_path):
    table = read_proxy_table(good_table_path)
    result = analyse_proxy_table(table)
    rows = table.family_rows("ae")
    expected = stats.spearmanr(-table.proxy_value[rows], table.asd["md"][rows]).statistic
    assert result.test("ae", "md").rho == pytest.approx(expected)
    assert result.test("ae", "md").rho > 0


def test_q_values_match_statsmodels(good_table_path):
    result = analyse_proxy_table(read_proxy_table(good_table_path))
    p = np.array([test.p for test in result.tests])
    q = np.array([test.q for test in result.tests])
    assert len(result.tests) == 6
    np.testing.assert_allclose(q, multipletests(p, method="fdr_bh")[1], atol=1e-12)


def test_q_values_per_asd_metric(good_table_path):
    result = analyse_proxy_table(read_proxy_table(good_table_path), fdr_scope="asd_metric")
    for metric in result.asd_metrics:
        tests = [test for test in result.tests if test.asd_metric == metric]
        expected = multipletests([test.p for test in tests], method="fdr_bh")[1]
        np.testing.assert_allclose([test.q for test in tests], expected, atol=1e-12)


def test_constant_asd_excluded_from_q(write_table, header, good_rows):
    rows = list(good_rows)
    for i in range(4, 7):
        cells = rows[i].split(",")
        cells[-1] = "70.0"
        rows[i] = ",".join(cells)
    result = analyse_proxy_table(read_proxy_table(write_table([header, *rows])))
    untested = result.test("ce", "md")

    assert math.isnan(untested.rho)
    assert math.isnan(untested.q)
    assert "md is constant" in untested.note
    assert "excluded from the Benjamini-Hochberg family" in untested.note
    assert result.untested == (untested,)
    tested = [test for test in result.tests if not math.isnan(test.p)]
    np.testing.assert_allclose([t.q for t in tested], multipletests([t.p for t in tested], method="fdr_bh")[1], atol=1e-12)


def test_reversal_detected(good_table_path):
    result = analyse_proxy_table(read_proxy_table(good_table_path))
    lp_in = result.test("ae", "lp_in")
    assert lp_in.best_by_proxy == ("ae-d",)
    assert lp_in.best_by_asd == ("ae-c",)
    assert lp_in.reversal
    md = result.test("ae", "md")
    assert md.best_by_asd == ("ae-d",)
    assert not md.reversal


def test_tie_sharing_best_is_not_reversal():
    configs = np.array(["a", "b", "c"], dtype=object)
    by_proxy, by_asd, reversal, note = compare_best(np.array([1.0, 3.0, 2.0]), np.array([5.0, 5.0, 1.0]), configs)
    assert by_proxy == ("b",)
    assert by_asd == ("a", "b")
    assert not reversal
    assert "2 configurations tie for best by ASD (a, b)" in note


def test_disjoint_tie_is_reversal():
    configs = np.array(["a", "b", "c"], dtype=object)
    _, _, reversal, _ = compare_best(np.array([1.0, 1.0, 3.0]), np.array([5.0, 5.0, 1.0]), configs)
    assert reversal


def test_record_joins_ties(good_table_path):
    record = analyse_proxy_table(read_proxy_table(good_table_path)).tests[0].as_record()
    for column in ("family", "asd_metric", "n", "rho", "p", "q", "best_by_proxy", "best_by_asd", "reversal", "p_method", "note"):
        assert column in record


def test_unknown_fdr_scope_raises(good_table_path):
    with pytest.raises(StatsError, match="unknown FDR scope 'machine'"):
        analyse_proxy_table(read_proxy_table(good_table_path), fdr_scope="machine")
