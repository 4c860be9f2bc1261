"""``python -m sandbox ...``: the same as ``bc2people sandbox ...``, without the job installed."""

import argparse
import sys

from sandbox.cli import register, run

parser = argparse.ArgumentParser(prog="python -m sandbox")
register(parser.add_subparsers(dest="command", required=True))
sys.exit(run(parser.parse_args(["sandbox", *sys.argv[1:]])))
