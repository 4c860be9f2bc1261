"""The console script: help, exit codes, and no traceback on errors."""

import subprocess
import sys


def test_help_lists_exit_codes() -> None:
    out = subprocess.run([sys.executable, "-m", "bc2people.pipelines.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "exit codes" in out.stdout and "--max-rejected-pct" in out.stdout


def test_no_command_exits_2() -> None:
    from bc2people.pipelines.cli import main

    assert main([]) == 2
