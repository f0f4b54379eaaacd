"""``python -m peakflow``: the command-line interface (see `peakflow.cli`)."""

import sys

from peakflow.cli import main

sys.exit(main())
