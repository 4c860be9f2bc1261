"""Mapping engine throughput on one core, against a parse-once jsonpath-ng baseline.

Rows (customers/s, CPU time of this process, best of several repeats):
- baseline: every JSONPath of the default mapping evaluated with jsonpath-ng, parsed once;
- extraction: the same expressions through the engine's compiled accessors;
- map, no phones: the whole default mapping with phone normalisation switched off;
- map, full (cold): the whole default mapping, phones parsed cold (LRU cache cleared first;
  phonenumbers' per-region metadata imported beforehand, a one-time cost per process);
- map, full (warm): the same with every phone already in the LRU cache (a second run);
- per value: each distinct phone of the store through phonenumbers alone (the reference) and
  through the fast path; each email through email-validator alone and through is_valid_email.
Targets: extraction >= 80,000/s (issue 4); full (cold) >= 30,000/s (issue 16, target 6).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bc2people.destinations.people.rules import email_validator_accepts, is_valid_email
from bc2people.pipelines.mapping import load_mapping, load_mapping_bytes
from bc2people.pipelines.mapping.compiler import compile_path, jsonpath_ng_baseline
from bc2people.pipelines.mapping.phones import normalize_phone_fast, normalize_phone_reference
from bc2people.pipelines.mapping.transforms import normalize_phone
from bc2people.sandbox.generator import generate_customers, nasty_customers

DEFAULT = Path(__file__).resolve().parent.parent / "mappings" / "customers_to_people.yaml"
CONTEXT = {"store_hash": "bench"}


def _expressions() -> list[tuple[str, bool]]:
    """(JSONPath, take all?) for every expression the default mapping evaluates."""
    m = load_mapping(DEFAULT)
    out: list[tuple[str, bool]] = []
    for p in m.plans:
        out.extend((path.text, p.take == "all") for path in p.paths)
        if p.template is not None:
            out.extend((ref.text, False) for kind, ref in p.template.parts if kind == "path")
    text = DEFAULT.read_text()
    out.extend((w.strip(), True) for w in re.findall(r"^\s*when:\s*(\$\S+)", text, re.M))
    return out


def _best(fn: Callable[[], None], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def _row(name: str, n: int, seconds: float, base: float | None = None, target: int | None = None,
         judge: bool = True) -> None:
    rate = n / seconds if seconds else float("inf")
    extra = f"  x{base / seconds:5.1f} vs baseline" if base else ""
    verdict = ("OK" if rate >= target else "MISSED") if judge and target else "(not judged in a quick run)"
    goal = f"  target >= {target:,}/s {verdict}" if target else ""
    print(f"  {name:<34} {rate:>10,.0f} customers/s  {seconds / n * 1e6:7.2f} us/customer{extra}{goal}")


def main(quick: bool) -> None:
    n = 500 if quick else 20000
    repeats = 1 if quick else 3
    customers: list[Any] = generate_customers(n, seed=7)
    exprs = _expressions()
    print(f"{n} generated customers, {len(exprs)} expressions per customer; CPU time, best of {repeats}"
          " (the machine is shared: numbers are noisy)")

    baseline = [(jsonpath_ng_baseline(e), take_all) for e, take_all in exprs]

    def run_baseline() -> None:
        for c in customers:
            for find, _ in baseline:
                find(c)

    compiled = [compile_path(e) for e, _ in exprs]
    readers = [p.all if take_all else p.first for p, (_, take_all) in zip(compiled, exprs, strict=True)]

    def run_fast() -> None:
        for c in customers:
            for read in readers:
                read(c)

    # same answers, or the comparison means nothing
    for c in customers[:200]:
        for (find, _), p in zip(baseline, compiled, strict=True):
            assert find(c) == p.all(c), p.text

    base_s = _best(run_baseline, 1 if quick else 2)
    _row("jsonpath-ng parse-once (baseline)", n, base_s)
    _row("engine extraction (compiled)", n, _best(run_fast, repeats), base_s, 80_000, judge=not quick)

    text = DEFAULT.read_text().replace("transforms: [phone_e164]", "transforms: []")
    no_phone = load_mapping_bytes(text.encode(), str(DEFAULT.parent / "no-phone.yaml"))
    full = load_mapping(DEFAULT)

    def run_no_phone() -> None:
        for _ in no_phone.map_many(customers, CONTEXT):
            pass

    def run_full_cold() -> None:
        normalize_phone.cache_clear()
        for _ in full.map_many(customers, CONTEXT):
            pass

    # phonenumbers imports each region's metadata on first use: a one-time cost per process,
    # paid here on other customers so "cold" means a cold phone cache, not cold imports
    for _ in full.map_many(generate_customers(2000, seed=8, start_id=10**8), CONTEXT):
        pass

    def run_full_warm() -> None:
        for _ in full.map_many(customers, CONTEXT):
            pass

    _row("map, default mapping, no phones", n, _best(run_no_phone, repeats), base_s)
    _row("map, default mapping, full (cold)", n, _best(run_full_cold, repeats), base_s, 30_000, judge=not quick)
    run_full_warm()
    _row("map, default mapping, full (warm)", n, _best(run_full_warm, repeats), base_s)
    _per_value(customers, repeats)

    nasty = nasty_customers(max(n // 10, 50), seed=7, start_id=10_000_000)
    t = time.process_time()
    rejected = sum(1 for r in full.map_many(nasty, CONTEXT) if r.rejection)
    s = time.process_time() - t
    print(f"  nasty customers: {len(nasty)} mapped at {len(nasty) / s:,.0f}/s, {rejected} rejected with a reason")


def _per_value(customers: list[Any], repeats: int) -> None:
    """Microseconds per distinct phone and per email: the libraries alone vs the fast paths."""
    phones = sorted({p.strip() for c in customers for p in [c.get("phone")]
                     + [a.get("phone") for a in c.get("addresses") or [] if isinstance(a, dict)]
                     if isinstance(p, str) and p.strip()})
    emails = [e.strip().lower() for c in customers if isinstance(e := c.get("email"), str)]
    for name, fn, values in (
        ("phone, phonenumbers alone", lambda v: normalize_phone_reference(v, "US", False), phones),
        ("phone, fast path", lambda v: normalize_phone_fast(v, "US", False), phones),
        ("email, email-validator alone", email_validator_accepts, emails),
        ("email, is_valid_email", is_valid_email, emails),
    ):
        def run(fn: Callable[[str], Any] = fn, values: list[str] = values) -> None:
            for v in values:
                fn(v)

        s = _best(run, repeats)
        print(f"  {name:<34} {s / len(values) * 1e6:7.2f} us each ({len(values):,} values)")


if __name__ == "__main__":
    import os

    main(quick=os.environ.get("BENCH_QUICK") == "1")
