"""The BigCommerce quota budget never answers a 429 by sending again within the same window.

Found by the resilience suite: with another app spending most of a short window, a run
sent 22 requests into one window, each refused, and failed after ``max_rate_limit_waits``.
Here the same sequence is replayed on `QuotaBudget` with a fake clock so it is exact.
"""

from __future__ import annotations

import threading

from bc2people.sources.bigcommerce.client import QuotaBudget, QuotaCancelled


def _headers(left: int, reset_ms: int) -> dict[str, str]:
    return {"X-Rate-Limit-Requests-Left": str(left), "X-Rate-Limit-Requests-Quota": "8",
            "X-Rate-Limit-Time-Reset-Ms": str(reset_ms), "X-Rate-Limit-Time-Window-Ms": "500"}


def _acquire_blocks(budget: QuotaBudget, seconds: float = 0.3) -> bool:
    """True when `acquire` is still waiting after ``seconds`` of real time."""
    outcome: list[str] = []

    def second() -> None:
        try:
            budget.acquire()
            outcome.append("sent")
        except QuotaCancelled:
            outcome.append("waited")

    thread = threading.Thread(target=second, daemon=True)
    thread.start()
    thread.join(seconds)
    budget.cancel()
    thread.join(5)
    return outcome == ["waited"]


def test_a_429_with_quota_headers_holds_requests_until_its_reset() -> None:
    now = [0.0]
    budget = QuotaBudget(clock=lambda: now[0])
    budget.acquire()  # the first request at 0.0; the store's window is [0.0, 0.5)
    now[0] = 0.3  # its answer arrives 0.3 s late (a busy machine, a slow network)
    budget.release(_headers(3, 500), status=200)
    now[0] = 0.36
    for left in (2, 1, 0):  # the rest of the window, one request at a time
        budget.acquire()
        budget.release(_headers(left, 440), status=200)
    now[0] = 0.86  # the budget believes the window ended at 0.85 and probes
    budget.acquire()
    # the store is in window [0.5, 1.0) and another app has spent it: 429, reset in 140 ms
    budget.release(_headers(0, 140), status=429)
    assert _acquire_blocks(budget), "a request left right after a 429, into the window the 429 said is spent"


def test_a_429_in_a_fresh_budget_also_holds_requests() -> None:
    """The simple case, as a control: the first reading is a 429."""
    now = [10.0]
    budget = QuotaBudget(clock=lambda: now[0])
    budget.acquire()
    budget.release(_headers(0, 400), status=429)
    assert _acquire_blocks(budget)
