"""``bc2people listen``: the webhook receiver (Starlette on uvicorn, the optional ``http`` extra).

``POST /webhooks/bigcommerce``: verify (`pipelines.lane.verify`), append to the intake, then
answer ``200``: only after the append is durable (fsynced). Concurrent deliveries are
written together by one writer thread (group commit: one transaction and one fsync for all
deliveries waiting at that moment), so the receiver acknowledges hundreds per second in
milliseconds. It never calls BigCommerce or People. Answers: 200 ``stored``/``duplicate``;
401 unauthenticated or stale; 400 malformed; 409 the very same attempt replayed; 413 too
large; 422 no usable id; 503 the intake cannot be written (BigCommerce retries). Refused
deliveries are stored nowhere. ``GET /healthz`` reports the backlog.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bc2people.pipelines.lane.intake import Entry, Intake
from bc2people.pipelines.lane.verify import MAX_BODY_BYTES, Refused, Verifier

WEBHOOK_PATH = "/webhooks/bigcommerce"
_BATCH_MAX = 500


class GroupWriter:
    """One thread that appends queued entries to the intake, one durable transaction per group."""

    def __init__(self, intake_path: str | Path) -> None:
        self.intake_path = Path(intake_path)
        self._q: queue.Queue[tuple[Entry, Future[str]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)
        self._ready = threading.Event()
        self._thread.start()
        self._ready.wait(10)

    def submit(self, entry: Entry) -> Future[str]:
        fut: Future[str] = Future()
        self._q.put((entry, fut))
        return fut

    def close(self) -> None:
        self._q.put(None)
        self._thread.join(10)

    def _run(self) -> None:
        intake = Intake(self.intake_path, role="receiver")
        self._ready.set()
        try:
            while True:
                item = self._q.get()
                if item is None:
                    return
                group = [item]
                while len(group) < _BATCH_MAX:
                    try:
                        nxt = self._q.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        self._q.put(None)
                        break
                    group.append(nxt)
                try:
                    results = intake.append_many([e for e, _ in group])
                except Exception as exc:  # noqa: BLE001 - each waiting request answers 503
                    for _, fut in group:
                        fut.set_exception(exc)
                    continue
                for (_, fut), res in zip(group, results, strict=True):
                    fut.set_result(res)
        finally:
            intake.close()


def create_app(intake_path: str | Path, verifier: Verifier, *,
               stats: Callable[[], dict[str, Any]] | None = None) -> Starlette:
    """The receiver app writing to the journal at ``intake_path``."""
    writer: GroupWriter | None = None

    async def receive(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            return JSONResponse({"error": "payload too large"}, status_code=413)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return JSONResponse({"error": "payload too large"}, status_code=413)
        try:
            entry = verifier.check(body, dict(request.headers))
        except Refused as exc:
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        assert writer is not None
        try:
            result = await asyncio.wrap_future(writer.submit(entry))
        except Exception:  # noqa: BLE001 - not stored: the sender must retry
            return JSONResponse({"error": "intake unavailable"}, status_code=503)
        if result == "replay":
            return JSONResponse({"error": "replayed delivery"}, status_code=409)
        return JSONResponse({"status": result}, status_code=200)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True, **(stats() if stats else {})})

    async def startup() -> None:
        nonlocal writer
        writer = GroupWriter(intake_path)

    async def shutdown() -> None:
        if writer is not None:
            writer.close()

    app = Starlette(routes=[Route(WEBHOOK_PATH, receive, methods=["POST"]), Route("/healthz", healthz)],
                    on_startup=[startup], on_shutdown=[shutdown])
    app.router.redirect_slashes = False
    return app


def serve(app: Starlette, host: str, port: int) -> None:
    """Run the receiver on uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
