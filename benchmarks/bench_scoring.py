"""Time asdfeat.scoring against scikit-learn at DCASE-sized inputs.

Two comparisons run side by side on the same synthetic embeddings:

* MD: ``fit_md(X).score(Y)`` on float32 embeddings, with 6,000 training
  and 600 test clips per dimension. The references are
  ``LedoitWolf().fit(X).mahalanobis(Y)`` on the same embeddings cast to
  float64 (the precision asdfeat accumulates in) and a bare float64
  ``X.T @ X``, the floor for any covariance fit.
* LP: the nine-machine ``lp-in`` + ``lp-out`` grid (three sections of 200
  clips per machine, so in-domain folds of 300 and out-domain folds of 400
  clips) against scikit-learn's ``StandardScaler`` + lbfgs
  ``LogisticRegression`` on the same folds, once with default settings and
  once run to a tight tolerance.

Run: ``python benchmarks/bench_scoring.py`` (about ten minutes on 2 cores);
``--quick`` shrinks every size for a smoke test.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
from sklearn.covariance import LedoitWolf
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info

from asdfeat.scoring import Cell, fit_md, run_protocols, split_in_domain


def _best_time(function, repeats: int):
    """Return (minimum wall time in seconds, last result) over ``repeats`` calls."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def _embeddings(rng, n, d, n_factors=64):
    """Return (n, d) float32 embeddings with a low-rank factor structure plus noise."""
    loadings = rng.normal(size=(n_factors, d)) / np.sqrt(n_factors)
    factors = rng.normal(size=(n, n_factors)) * np.linspace(3.0, 0.3, n_factors)
    noise = rng.normal(size=(n, d)) * rng.uniform(0.05, 0.5, d)
    return (factors @ loadings + noise + 0.1).astype(np.float32)


def bench_md(dims, n_train, n_test, repeats, rng):
    print(f"\n== MD fit + score: {n_train} training clips, {n_test} test clips ==")
    print(f"{'d':>6} {'X.T@X':>8} {'asdfeat':>8} {'sklearn LW':>11} {'sk/ours':>8} {'ours/XtX':>9} "
          f"{'estimator':>12} {'max rel diff vs LW':>19}")
    for d in dims:
        train = _embeddings(rng, n_train, d)
        test = _embeddings(rng, n_test, d)
        train64 = train.astype(np.float64)

        gram_time, _ = _best_time(lambda: train64.T @ train64, repeats)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours_time, model = _best_time(lambda: fit_md(train), repeats)
            score_time, ours = _best_time(lambda: model.score(test), repeats)
            forced = fit_md(train, force_shrinkage=True).score(test)
        ours_total = ours_time + score_time
        test64 = test.astype(np.float64)
        sk_time, reference = _best_time(lambda: LedoitWolf().fit(train64).mahalanobis(test64), 1)
        difference = np.max(np.abs(forced - reference) / np.abs(reference))
        print(f"{d:>6} {gram_time:>8.3f} {ours_total:>8.3f} {sk_time:>11.3f} {sk_time / ours_total:>7.1f}x "
              f"{ours_total / gram_time:>8.2f}x {model.estimator:>12} {difference:>19.1e}")
        del ours


def _lp_cells(rng, d, n_machines, n_sections, per_group):
    cells = []
    for machine in range(n_machines):
        section = np.repeat([f"{i:02d}" for i in range(n_sections)], 2 * per_group)
        label = np.tile(np.repeat([False, True], per_group), n_sections)
        evaluation = _embeddings(rng, section.size, d).astype(np.float64)
        direction = rng.normal(size=d) / np.sqrt(d)
        evaluation[label] += 2.0 * direction
        for s in range(n_sections):
            evaluation[section == f"{s:02d}"] += rng.normal(size=d) * 0.2
        domain = np.tile(np.where(np.arange(per_group) % 2 == 0, "source", "target"), 2 * n_sections)
        paths = np.array([f"m{machine}/section_{s}_{i:04d}.wav" for i, s in enumerate(section)])
        train = evaluation[:2]  # unused by the probe protocols
        cells.append(Cell(("bench", machine), train, np.array(["source"] * 2), evaluation, label, section, domain, paths))
    return cells


def _sklearn_grid(cells, seed, **solver_options):
    """Return (lp-in AUCs, lp-out AUCs) per cell from scikit-learn on the same folds."""
    def fit_auc(cell, train, test):
        pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, **solver_options))
        pipeline.fit(cell.eval[train], cell.eval_label[train])
        return roc_auc_score(cell.eval_label[test], pipeline.predict_proba(cell.eval[test])[:, 1])

    in_domain, out_domain = [], []
    for cell in cells:
        train, test = split_in_domain(cell.eval_section, cell.eval_label, cell.eval_path, seed)
        in_domain.append(fit_auc(cell, train, test))
        sections = np.unique(cell.eval_section)
        folds = [(np.flatnonzero(cell.eval_section != s), np.flatnonzero(cell.eval_section == s)) for s in sections]
        out_domain.append(np.mean([fit_auc(cell, train, test) for train, test in folds]))
    return np.array(in_domain), np.array(out_domain)


def bench_lp(dims, n_machines, n_sections, per_group, rng):
    n_folds = n_machines * (1 + n_sections)
    print(f"\n== LP grid: {n_machines} machine types x (lp-in + {n_sections} lp-out folds) = {n_folds} fits ==")
    print(f"{'d':>6} {'asdfeat':>8} {'sk lbfgs':>9} {'ratio':>7} {'max dAUC':>9} "
          f"{'sk tight':>9} {'ratio':>7} {'max dAUC':>9}")
    for d in dims:
        cells = _lp_cells(rng, d, n_machines, n_sections, per_group)

        def ours():
            lp_in = run_protocols(cells, "lp-in", seed=0)
            lp_out = run_protocols(cells, "lp-out")
            return np.array([r.auc for r in lp_in]), np.array([r.auc for r in lp_out])

        ours()  # compile the Numba kernels outside the timing
        ours_time, (ours_in, ours_out) = _best_time(ours, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            default_time, (sk_in, sk_out) = _best_time(lambda: _sklearn_grid(cells, 0), 1)
            tight_time, (tight_in, tight_out) = _best_time(
                lambda: _sklearn_grid(cells, 0, tol=1e-10, max_iter=10_000), 1
            )
        default_diff = max(np.max(np.abs(ours_in - sk_in)), np.max(np.abs(ours_out - sk_out)))
        tight_diff = max(np.max(np.abs(ours_in - tight_in)), np.max(np.abs(ours_out - tight_out)))
        print(f"{d:>6} {ours_time:>8.3f} {default_time:>9.3f} {default_time / ours_time:>6.1f}x {default_diff:>9.1e} "
              f"{tight_time:>9.3f} {tight_time / ours_time:>6.1f}x {tight_diff:>9.1e}")


def describe_machine():
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    blas = [f"{info['internal_api']} {info.get('version')} ({info['num_threads']} threads)"
            for info in threadpool_info() if info["user_api"] == "blas"]
    print(f"machine: nproc={os.cpu_count()}, CPU {model}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, BLAS {', '.join(blas)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[768, 2048], help="embedding dimensions")
    parser.add_argument("--n-train", type=int, default=6000, help="normal training clips for MD")
    parser.add_argument("--n-test", type=int, default=600, help="test clips for MD")
    parser.add_argument("--machines", type=int, default=9, help="machine types in the LP grid")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (the minimum is reported)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.dims, args.n_train, args.n_test, args.machines, args.repeats = [64, 128], 600, 60, 2, 1

    describe_machine()
    rng = np.random.default_rng(0)
    bench_md(args.dims, args.n_train, args.n_test, args.repeats, rng)
    bench_lp(args.dims, args.machines, n_sections=3, per_group=100, rng=rng)


if __name__ == "__main__":
    main()
