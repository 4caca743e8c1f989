#!/usr/bin/python3
"""Figures from gapbench results: sweeps, signal propagation, benchmark JSON, `gapbench compare
--json` and `gapbench history show --format json` (--help lists the figures and options; the text
is USAGE in gapbench_plot/cli.py).

The code is the package gapbench_plot beside this file. Its directory goes first on the path,
so the two run from any working directory, and wherever they are copied together.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from gapbench_plot import main  # noqa: E402 (the path first)

if __name__ == "__main__":
    sys.exit(main())
