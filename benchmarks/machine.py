"""How fast this machine ran Python when a report was made, printed at the top of the reports.

The benchmarks' figures are wall and CPU seconds on whatever machine ran them, and two
machines of the same kind (or one machine on two days) can differ by nearly 2x: the same
code mapped 31,600 customers/s on one and 17,300/s on another. So each report starts with a
fixed single-core workload, the shipped mapping over 2,000 generated customers (best of 5,
CPU time), in microseconds per customer: figures of two reports compare only after scaling
by the ratio of their speed lines. The long reports print it again at their end: on a shared
machine the figure has moved from 44 to 97 us within an hour, and a report whose two lines
differ much was made on a machine whose speed changed under it.
"""

from __future__ import annotations

import os

N, REPEATS = 2_000, 5


def mapping_us_per_customer() -> float:
    """CPU microseconds per customer of the shipped mapping on one core (phones warm after
    the first repeat, so the best repeat is a steady state)."""
    from bc2people.pipelines.mapping import load_mapping
    from bc2people.sandbox.generator import generate_customers
    from benchmarks.bench_mapping import CONTEXT, DEFAULT, _best

    mapping = load_mapping(DEFAULT)
    customers = generate_customers(N, seed=3)

    def map_all() -> None:
        for c in customers:
            mapping.map(c, context=CONTEXT)

    return _best(map_all, REPEATS) / N * 1e6


def speed_line() -> str:
    """One line: the workload's figure, the cores and the load average before it."""
    load = os.getloadavg()[0]
    us = mapping_us_per_customer()
    return (f"machine: the shipped mapping takes {us:.1f} us per customer on one core ({1e6 / us:,.0f}/s; "
            f"{os.cpu_count()} cores, load {load:.1f}); scale other reports' figures by this before comparing")
