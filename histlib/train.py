"""``python -m histlib.train``: the training command line. The code is :mod:`histlib.training.cli`;
this module only keeps the short, documented command name."""

import sys

from .training.cli import main

if __name__ == "__main__":
    sys.exit(main())
