"""python3 -m gapbench_plot (with scripts/ on the path) does what scripts/plot.py does."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
