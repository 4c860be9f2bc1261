"""The map worker process's entry point (see `pipelines.core.offload`); nothing imports it."""

import sys

from .offload import serve

if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
