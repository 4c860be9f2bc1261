"""The receiver: what it stores (once, durably, before 200) and what it refuses (4xx, stored nowhere)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .fixtures_lane import LANE_SECRET, ReceiverThread, post_signed, thin_payload


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[ReceiverThread, Path]]:
    from bc2people.pipelines.lane.receiver import create_app
    from bc2people.pipelines.lane.verify import Verifier

    path = tmp_path / "x.intake.sqlite"
    r = ReceiverThread(create_app(path, Verifier(LANE_SECRET, "X-Lane-Token", "shared-Hk2p")))
    try:
        yield r, path
    finally:
        r.stop()


def _rows(path: Path) -> list[dict]:
    from bc2people.pipelines.lane.intake import Intake

    intake = Intake(path)
    try:
        return list(intake.rows())
    finally:
        intake.close()


def test_a_signed_delivery_is_stored_before_200_and_a_retry_is_stored_once(receiver) -> None:
    r, path = receiver
    p = thin_payload("store/customer/updated", {"type": "customer", "id": 7})
    first = post_signed(r.url, p, msg_id="msg_a")
    assert first.status_code == 200 and first.json()["status"] == "stored"
    assert [row["entity_id"] for row in _rows(path)] == ["7"]  # durable when 200 came back
    retry = post_signed(r.url, p, msg_id="msg_a", ts=int(time.time()) + 1)  # the sender's retry: new timestamp
    assert retry.status_code == 200 and retry.json()["status"] == "duplicate"
    same_hash = post_signed(r.url, p, msg_id="msg_b")  # another message id, same event hash
    assert same_hash.json()["status"] == "duplicate"
    assert len(_rows(path)) == 1


def test_address_events_name_the_customer_and_carts_are_kept_but_ignored(receiver) -> None:
    r, path = receiver
    post_signed(r.url, thin_payload("store/customer/address/updated",
                                    {"type": "customer", "id": 60, "address": {"customer_id": 32}}))
    post_signed(r.url, thin_payload("store/cart/abandoned", {"type": "cart", "id": "c-1"}))
    rows = _rows(path)
    assert [(x["kind"], x["entity_id"], x["state"]) for x in rows] == [("customer", "32", "pending"),
                                                                       ("cart", "c-1", "ignored")]


@pytest.mark.parametrize("case", ["forged", "wrong_secret", "unsigned", "stale", "future", "replayed",
                                  "oversized", "not_json", "no_scope", "no_id", "tampered"])
def test_bad_deliveries_are_refused_with_4xx_and_stored_nowhere(receiver, case: str) -> None:
    r, path = receiver
    p = thin_payload("store/customer/updated", {"type": "customer", "id": 9})
    body = json.dumps(p, separators=(",", ":"))
    if case == "replayed":
        ts = int(time.time())
        assert post_signed(r.url, p, msg_id="msg_r", ts=ts).status_code == 200
        before = _rows(path)
        resp = post_signed(r.url, p, msg_id="msg_r", ts=ts)
        assert resp.status_code == 409
        assert _rows(path) == before
        return
    kw: dict = {}
    if case == "forged":
        kw = {"headers": {"webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}
    elif case == "wrong_secret":
        kw = {"secret": "not-the-secret"}
    elif case == "stale":
        kw = {"ts": int(time.time()) - 301}
    elif case == "future":
        kw = {"ts": int(time.time()) + 400}
    elif case == "oversized":
        kw = {"body": json.dumps({**p, "pad": "x" * 70_000})}
    elif case == "not_json":
        kw = {"body": "{not json"}
    elif case == "no_scope":
        kw = {"body": json.dumps({"data": {"id": 1}})}
    elif case == "no_id":
        kw = {"body": json.dumps(thin_payload("store/customer/updated", {"type": "customer", "id": "x"}))}
    if case == "unsigned":
        resp = requests.post(r.url, data=body, headers={"Content-Type": "application/json"}, timeout=5)
    elif case == "tampered":
        good = post_signed(r.url, p, body=body, msg_id="msg_t", ts=int(time.time()) - 400)  # refused: stale
        assert good.status_code == 401
        from .fixtures_lane import sign

        ts = int(time.time())
        headers = {"webhook-id": "msg_t2", "webhook-timestamp": str(ts),
                   "webhook-signature": sign(LANE_SECRET, "msg_t2", ts, body), "Content-Type": "application/json"}
        resp = requests.post(r.url, data=body.replace('"id":9', '"id":10'), headers=headers, timeout=5)
    else:
        resp = post_signed(r.url, p, **kw)
    assert 400 <= resp.status_code < 500, (case, resp.status_code, resp.text)
    assert _rows(path) == []


def test_the_shared_header_is_accepted_instead_of_a_signature(receiver) -> None:
    r, path = receiver
    p = thin_payload("store/order/created", {"type": "order", "id": 120})
    ok = requests.post(r.url, json=p, headers={"X-Lane-Token": "shared-Hk2p"}, timeout=5)
    bad = requests.post(r.url, json=thin_payload("store/order/created", {"type": "order", "id": 121}),
                        headers={"X-Lane-Token": "shared-wrong"}, timeout=5)
    assert ok.status_code == 200 and bad.status_code == 401
    assert [(x["kind"], x["entity_id"]) for x in _rows(path)] == [("order", "120")]
