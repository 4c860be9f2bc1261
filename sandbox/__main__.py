"""``python -m sandbox ...``: the same as ``bc2people sandbox ...``."""

import sys

from pipelines.cli import main

sys.exit(main(["sandbox", *sys.argv[1:]]))
