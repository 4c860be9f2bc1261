"""``python -m bc2people.sandbox ...``: the same as ``bc2people sandbox ...``, without the job installed."""

import argparse
import sys

from bc2people.sandbox.cli import register, run

parser = argparse.ArgumentParser(prog="python -m bc2people.sandbox")
register(parser.add_subparsers(dest="command", required=True))
sys.exit(run(parser.parse_args(["sandbox", *sys.argv[1:]])))
