"""The benchmark's per-thread CPU split: a child started through `LAUNCHER` behaves as under
``python -m`` (arguments, exit code) and reports each thread's own CPU under its name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.thread_cpu import ENV, LAUNCHER, NATIVE, by_thread

CHILD = '''
import sys, threading, time

def burn(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass

threads = [threading.Thread(target=burn, args=(0.3,), name=f"burner-{i}") for i in range(2)]
threads.append(threading.Thread(target=time.sleep, args=(0.2,), name="sleeper"))
threads.append(threading.Thread(target=time.sleep, args=(0.1,), name="bc2people-idle"))
for t in threads:
    t.start()
for t in threads:
    t.join()
print("args", sys.argv[1:])
sys.exit(3)
'''


def test_the_launched_child_runs_as_under_dash_m_and_tallies_each_threads_cpu(tmp_path: Path) -> None:
    (tmp_path / "burnmod.py").write_text(CHILD, encoding="utf-8")
    tally = tmp_path / "threads.json"
    env = {**os.environ, ENV: str(tally), "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", LAUNCHER, "burnmod", "--flag", "x"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 3, done.stderr
    assert "args ['--flag', 'x']" in done.stdout
    line = by_thread(tally, total_cpu=5.0)
    parts = dict(p.rsplit(" ", 1) for p in line.split(": ", 1)[1].split(", "))
    assert 0.5 <= float(parts["burner-N"]) < 1.5  # two threads' 0.3 s each, under one name
    assert float(parts["sleeper"]) < 0.1
    assert "bc2people-idle" in parts  # a number after a letter is part of the name
    assert "MainThread" in parts
    assert abs(float(parts[NATIVE]) - (5.0 - sum(float(v) for k, v in parts.items() if k != NATIVE))) <= 0.2


def test_no_tally_means_no_line(tmp_path: Path) -> None:
    assert by_thread(tmp_path / "missing.json", total_cpu=1.0) == ""
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    assert by_thread(tmp_path / "bad.json", total_cpu=1.0) == ""


def test_the_smallest_threads_are_summed_as_others(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"a": 4.0, "b": 3.0, "c": 0.5, "d": 0.25}', encoding="utf-8")
    assert by_thread(path, total_cpu=10.0, top=3) == (
        f"sync CPU by thread (s): a 4.0, b 3.0, {NATIVE} 2.2, others 0.8")
