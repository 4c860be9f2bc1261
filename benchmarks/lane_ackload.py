"""Load generator of the lane's ack benchmark, in its own process: signed deliveries at a fixed rate.

``python -m benchmarks.lane_ackload URL SECRET RATE SECONDS ID[,ID...]`` prints one JSON line:
how many were sent, the rate reached, the status codes and each request's latency (ms, from
the request written to the whole response read). It speaks HTTP/1.1 over asyncio streams on
keep-alive connections (a pool of `CONNECTIONS`), so the client costs a fraction of a
millisecond of CPU per request and does not share a GIL with the sandboxes: what it measures
is the receiver. Open loop: request i is due at ``start + i / RATE``; a request whose due
time found every connection busy waits for one, and that wait is counted in its latency.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import sys
import time
import uuid
from urllib.parse import urlsplit

CONNECTIONS = 48


def _request(host: str, port: int, path: str, secret: str, i: int, cid: int) -> bytes:
    payload = {"scope": "store/customer/updated", "store_id": "1025646", "data": {"type": "customer", "id": cid},
               "created_at": 1_700_000_000 + i, "producer": "stores/lanebench"}
    payload["hash"] = hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    body = json.dumps(payload, separators=(",", ":"))
    msg_id, ts = f"msg_{uuid.uuid4().hex}", int(time.time())
    sig = base64.b64encode(hmac.new(secret.encode(), f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest())
    raw = body.encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(raw)}\r\nwebhook-id: {msg_id}\r\nwebhook-timestamp: {ts}\r\n"
            f"webhook-signature: v1,{sig.decode()}\r\n\r\n")
    return head.encode() + raw


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> int:
    writer.write(data)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def run(url: str, secret: str, rate: float, seconds: float, ids: list[int]) -> dict[str, object]:
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
    total = int(rate * seconds)
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        pool.put_nowait(await asyncio.open_connection(host, port))
    lat: list[float] = []
    codes: dict[int, int] = {}
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05

    async def one(i: int) -> None:
        data = _request(host, port, path, secret, i, ids[i % len(ids)])
        t0 = loop.time()
        conn = await pool.get()
        try:
            status = await _exchange(*conn, data)
        except (OSError, asyncio.IncompleteReadError):
            status = 0
            conn = await asyncio.open_connection(host, port)
        pool.put_nowait(conn)
        lat.append(loop.time() - t0)
        codes[status] = codes.get(status, 0) + 1

    tasks = []
    for i in range(total):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    sent_s = loop.time() - start
    await asyncio.gather(*tasks)
    return {"sent": total, "rate_per_s": round(total / max(sent_s, 1e-9), 1), "codes": codes,
            "latencies_ms": [round(1000 * x, 3) for x in lat]}


if __name__ == "__main__":
    u, s, r, secs, id_list = sys.argv[1:6]
    out = asyncio.run(run(u, s, float(r), float(secs), [int(x) for x in id_list.split(",")]))
    print(json.dumps(out))
