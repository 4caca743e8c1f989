"""What plot.py says: InputError (a missing or malformed input), and the two ways of saying
it, one line each: fail ("plot.py: error: ...", exit code 2) and note ("plot.py: ...")."""
import sys


class InputError(Exception):
    """A missing or malformed input: reported as one line, exit code 2."""


def fail(message):
    print(f"plot.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def note(message):
    print(f"plot.py: {message}")
