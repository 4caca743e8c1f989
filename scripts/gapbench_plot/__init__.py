"""gapbench_plot: the figures of gapbench results, behind scripts/plot.py (the entry point,
which puts this package's directory on the path). One module per stage, in the order a run
goes through them:

  messages             InputError, fail and note: what plot.py says, one line each
  readers              CSV and JSON readers; sweep and propagate directories (load_dir)
  bench_readers        Google Benchmark JSON (Bench), gapbench compare --json (Compare) and
                       gapbench history show --format json (History)
  figure_data          what the figure builders share; the series of the sweep figures
  sweep_figures        gap_vs_T, ratio_vs_T, fix_and_stable_rank, solver_error_vs_T,
                       bulk_histogram (the singular rows)
  eigen_figures        eigen_gap_vs_T, eigen_scatter (the eigen rows of schema gapbench.sweep/4)
  propagation_figures  propagation_depth, propagation_width, propagation_gradient,
                       propagation_gradient_depth
  bench_figures        throughput_vs_T, accuracy_vs_time, regression
  history_figures      history (gapbench history show --format json: a metric per commit)
  render               matplotlib: a figure spec drawn
  cli                  the command line (main), and the writing of the files

A builder returns a figure spec of plain data (what --dump-data writes) or the reason it is
skipped; render draws the spec. matplotlib and numpy are imported only to draw.
"""
from .cli import main

__all__ = ["main"]
