"""Statistics on proxy metrics versus ASD performance; never imports torch.

The public entry points are :func:`read_proxy_table` and
:func:`proxy_table_from_results` (the two input paths),
:func:`analyse_proxy_table` (Spearman tests, q-values, rank reversals) and
:func:`build_three_stage_report`. Plotting lives in :mod:`asdfeat.stats.plot`
so that importing this package does not load matplotlib.
"""

from asdfeat.stats.analysis import CorrelationTest, StatsResult, analyse_proxy_table
from asdfeat.stats.fdr import benjamini_hochberg
from asdfeat.stats.report import build_three_stage_report
from asdfeat.stats.results import proxy_table_from_results
from asdfeat.stats.spearman import SpearmanResult, spearman_test
from asdfeat.stats.table import ProxyTable, make_proxy_table, read_proxy_table

__all__ = [
    "CorrelationTest",
    "ProxyTable",
    "SpearmanResult",
    "StatsResult",
    "analyse_proxy_table",
    "benjamini_hochberg",
    "build_three_stage_report",
    "make_proxy_table",
    "proxy_table_from_results",
    "read_proxy_table",
    "spearman_test",
]
