"""``python -m faasflow``: the command line, where no console script is on PATH."""

import sys

from faasflow.cli import main

sys.exit(main())
