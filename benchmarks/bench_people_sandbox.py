"""People sandbox: CPU per 1000-person batch, and the 50k-person push scenario over HTTP.

1. In-process: validate + apply one 1000-person batch (created / not modified / updated),
   thread CPU time, median of several runs. Target: well under 100 ms.
2. One 1000-person PATCH over HTTP (JSON decode, validate, apply, encode), wall time.
3. The push scenario: N persons in batches of 1000 from several threads against a sandbox
   limited to 5 req/s with 250 ms latency; the client paces itself to 5 req/s and retries
   429s. Reports wall time, throughput and refusals (the floor is N/1000/5 seconds).
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import requests

from bc2people.sandbox.people import PeopleSandbox
from bc2people.sandbox.people.store import PeopleStore
from bc2people.sandbox.people.validation import validate_person

ATTRS = {
    "customer_group": "INTEGER",
    "store_credit": "DECIMAL",
    "accepts_marketing": "BOOLEAN",
    "signup": "DATE",
}


def make_persons(n: int, start: int = 0, variant: str = "") -> list[dict[str, Any]]:
    """Realistic mapped persons: names, address, 2 contacts, tags, 4 custom attributes."""
    return [
        {
            "externalId": f"bc-sandbox1-{i}",
            "firstName": f"Firstname{i}{variant}",
            "lastName": "Lastname-Ž",
            "city": "Zagreb",
            "country": "Croatia",
            "address": f"Ilica {i % 300}",
            "preferredLanguage": "hr",
            "type": "CUSTOMER",
            "contactInformation": [
                {"type": "EMAIL", "identifier": f"customer{i}@example.com"},
                {"type": "PHONE", "identifier": f"+3859{i:08d}"},
            ],
            "tags": ["BigCommerce", "Retail"],
            "customAttributes": {
                "customer_group": i % 7,
                "store_credit": round(i * 0.37, 2),
                "accepts_marketing": i % 2 == 0,
                "signup": "2021-03-04",
            },
        }
        for i in range(start, start + n)
    ]


def _batch_cpu(store: PeopleStore, persons: list[dict[str, Any]]) -> tuple[float, float, list[str]]:
    attrs = store.attribute_defs()
    t0 = time.thread_time()
    valid = []
    for i, p in enumerate(persons):
        out, details = validate_person(p, i, attrs, None)
        assert out is not None, details
        valid.append((i, out))
    t1 = time.thread_time()
    results, errors = store.upsert(valid, replace=False)
    t2 = time.thread_time()
    assert not errors
    return (t1 - t0) * 1000, (t2 - t1) * 1000, sorted({r["status"] for r in results})


def bench_cpu(runs: int) -> None:
    rows: dict[str, list[tuple[float, float]]] = {"CREATED": [], "NOT_MODIFIED": [], "UPDATED": []}
    for r in range(runs):
        store = PeopleStore()
        for name, dtype in ATTRS.items():
            store.define_attribute(name, dtype, None)
        base = make_persons(1000)
        for label, batch in (
            ("CREATED", base),
            ("NOT_MODIFIED", base),
            ("UPDATED", make_persons(1000, 0, f"v{r}")),
        ):
            v, a, statuses = _batch_cpu(store, batch)
            assert statuses == [label], statuses
            rows[label].append((v, a))
    print(f"1000-person batch, in-process CPU (thread time), median of {runs}:")
    for label, samples in rows.items():
        v = statistics.median(s[0] for s in samples)
        a = statistics.median(s[1] for s in samples)
        print(f"  {label:<13} validate {v:6.1f} ms + apply (under store lock) {a:6.1f} ms = {v + a:6.1f} ms")


def bench_http_single(runs: int) -> None:
    with PeopleSandbox(rate_limit=None) as ps:
        for name, dtype in ATTRS.items():
            ps.define_custom_attribute(name, dtype)
        s = requests.Session()
        s.headers["Authorization"] = f"App {ps.api_key}"
        walls = []
        for r in range(runs):
            batch = make_persons(1000, r * 1000)
            t0 = time.perf_counter()
            resp = s.patch(ps.base_url + "/people/3/persons/upsert", json={"persons": batch}, timeout=30)
            walls.append((time.perf_counter() - t0) * 1000)
            assert resp.status_code == 207 and not resp.json()["errors"]
        print(f"1000-person PATCH over HTTP (client encode + server + client decode), median of {runs}: "
              f"{statistics.median(walls):.1f} ms wall")  # fmt: skip


class Pacer:
    """Client-side fixed pacing shared by threads: at most `rate` request starts per second."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            slot = max(self.next, now)
            self.next = slot + self.interval
        time.sleep(max(0.0, slot - now))


def bench_push(total: int, threads: int) -> None:
    with PeopleSandbox(rate_limit=5) as ps:
        ps.latency_ms = 250
        for name, dtype in ATTRS.items():
            ps.define_custom_attribute(name, dtype)
        batches = [make_persons(1000, b * 1000) for b in range(total // 1000)]
        lock = threading.Lock()
        stats = {"requests": 0, "429": 0, "created": 0}
        pacer = Pacer(5.0)

        def worker() -> None:
            s = requests.Session()
            s.headers["Authorization"] = f"App {ps.api_key}"
            while True:
                with lock:
                    if not batches:
                        return
                    batch = batches.pop()
                while True:
                    pacer.wait()
                    resp = s.patch(
                        ps.base_url + "/people/3/persons/upsert", json={"persons": batch}, timeout=60
                    )
                    with lock:
                        stats["requests"] += 1
                    if resp.status_code == 429:
                        with lock:
                            stats["429"] += 1
                        time.sleep(0.2)
                        continue
                    assert resp.status_code == 207, resp.status_code
                    with lock:
                        stats["created"] += sum(r["status"] == "CREATED" for r in resp.json()["results"])
                    break

        cpu0 = time.process_time()
        t0 = time.perf_counter()
        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        assert len(ps.persons()) == total == stats["created"]
        floor = total / 1000 / 5
        print(f"push {total} persons, batches of 1000, {threads} threads, sandbox 5 req/s + 250 ms latency:")
        print(f"  wall {wall:.2f} s (floor {floor:.1f} s at 5 req/s), {total / wall:,.0f} persons/s, "
              f"{stats['requests']} requests, {stats['429']} refused with 429, "
              f"process CPU {cpu:.2f} s (client + server)")  # fmt: skip


def main(quick: bool) -> None:
    bench_cpu(runs=2 if quick else 7)
    bench_http_single(runs=2 if quick else 5)
    bench_push(total=5_000 if quick else 50_000, threads=4)
    print("(shared 2-core machine: numbers are noisy)")


if __name__ == "__main__":
    import os

    main(quick=os.environ.get("BENCH_QUICK") == "1")
