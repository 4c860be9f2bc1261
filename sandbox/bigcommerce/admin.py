"""The BigCommerce sandbox's control API under ``/__sandbox__/`` (documented in `server`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bc2people.sandbox.bigcommerce.writes import CustomerError
from bc2people.sandbox.http import Request, Response, Router

if TYPE_CHECKING:
    from bc2people.sandbox.bigcommerce.server import BigCommerceSandbox

P = "/__sandbox__"


def _bad(message: str, status: int = 400) -> Response:
    return Response(status, {"error": message})


def _body(req: Request) -> Any:
    return req.json() if req.body else {}


def install(sb: BigCommerceSandbox, router: Router) -> None:
    """Add the admin routes for ``sb`` to ``router``."""

    def stats(req: Request) -> Response:
        return Response(200, {
            "customers": len(sb.store),
            "clock": {"now": sb.clock.now(), "frozen": sb.clock.frozen},
            "quota": {"quota": sb.quota.limit, "window_s": sb.quota.window_s},
            "quota_windows": list(sb.quota_windows),
            "requests_served": dict(sb.requests_served),
            "faults_injected": dict(sb.faults.injected),
            "latency_ms": sb.latency_ms,
        })

    def post_customers(req: Request) -> Response:
        body = _body(req)
        try:
            if isinstance(body, list):
                if not all(isinstance(c, dict) and isinstance(c.get("id"), int) for c in body):
                    return _bad("each customer needs an integer id")
                return Response(200, {"added": sb.add_customers(body)})
            if isinstance(body, dict):
                return Response(200, sb.create_customer(**body))
        except CustomerError as exc:
            return Response(exc.status, {"error": exc.title, "errors": exc.errors})
        except ValueError as exc:
            return _bad(str(exc))
        return _bad("send a customer object or an array of full customers")

    def generate(req: Request) -> Response:
        from bc2people.sandbox.generator import generate_customers, nasty_customers

        body = _body(req)
        try:
            n, seed = int(body["n"]), int(body.get("seed", 0))
            start = int(body.get("start_id", sb.store.next_id))
        except (KeyError, TypeError, ValueError):
            return _bad('send {"n": int, "seed": int, "start_id"?: int, "nasty"?: bool}')
        maker = nasty_customers if body.get("nasty") else generate_customers
        try:
            added = sb.add_customers(maker(n, seed, start_id=start))
        except ValueError as exc:
            return _bad(str(exc))
        return Response(200, {"added": added, "start_id": start})

    def _id(req: Request) -> int | None:
        try:
            return int(req.path_params["customer_id"])
        except ValueError:
            return None

    def get_customer(req: Request) -> Response:
        cid = _id(req)
        c = None if cid is None else sb.customer(cid)
        return Response(200, c) if c is not None else _bad("customer not found", 404)

    def patch_customer(req: Request) -> Response:
        cid = _id(req)
        body = _body(req)
        if cid is None or not isinstance(body, dict):
            return _bad("send an object of fields for an integer customer id")
        touch = bool(body.pop("touch", True))
        try:
            return Response(200, sb.update_customer(cid, touch=touch, **body))
        except KeyError:
            return _bad("customer not found", 404)
        except ValueError as exc:
            return _bad(str(exc))

    def delete_customer(req: Request) -> Response:
        cid = _id(req)
        if cid is None or not sb.delete_customer(cid):
            return _bad("customer not found", 404)
        return Response(200, {"deleted": cid})

    def get_clock(req: Request) -> Response:
        return Response(200, {"now": sb.clock.now(), "frozen": sb.clock.frozen})

    def post_clock(req: Request) -> Response:
        body = _body(req)
        if not isinstance(body, dict):
            return _bad("send an object")
        try:
            if "set" in body:
                sb.clock.set(int(body["set"]))
            elif "advance" in body:
                sb.clock.advance(float(body["advance"]))
            elif body.get("freeze"):
                sb.clock.freeze(None if body.get("epoch") is None else int(body["epoch"]))
            elif body.get("unfreeze"):
                sb.clock.unfreeze()
            else:
                return _bad('send {"set": epoch} | {"advance": s} | {"freeze": true, "epoch"?} | {"unfreeze": true}')
        except (TypeError, ValueError) as exc:
            return _bad(f"bad clock value: {exc}")
        return get_clock(req)

    def post_latency(req: Request) -> Response:
        body = _body(req)
        try:
            ms = float(body["ms"])
            if ms < 0:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            return _bad('send {"ms": number >= 0}')
        sb.latency_ms = ms
        return Response(200, {"latency_ms": ms})

    def post_faults(req: Request) -> Response:
        body = _body(req)
        if not isinstance(body, dict):
            return _bad("send an object")
        try:
            sb.faults.configure(
                rate=None if body.get("rate") is None else float(body["rate"]),
                kinds=body.get("kinds"),
                seed=body.get("seed"),
                slow_seconds=None if body.get("slow_seconds") is None else float(body["slow_seconds"]),
            )
        except (TypeError, ValueError) as exc:
            return _bad(str(exc))
        return Response(200, {"rate": sb.faults.rate, "kinds": list(sb.faults.kinds)})

    def post_quota(req: Request) -> Response:
        body = _body(req)
        try:
            q = body["quota"]
            sb.set_quota(None if q is None else int(q), float(body.get("window_s", 30.0)))
        except (KeyError, TypeError, ValueError) as exc:
            return _bad(f'send {{"quota": int | null, "window_s"?: number}} ({exc})')
        return Response(200, {"quota": sb.quota.limit, "window_s": sb.quota.window_s})

    def consume(req: Request) -> Response:
        body = _body(req)
        try:
            n = int(body["n"])
        except (KeyError, TypeError, ValueError):
            return _bad('send {"n": int}')
        return Response(200, {"consumed": sb.consume_quota(n)})

    router.add("GET", P + "/stats", stats)
    router.add("POST", P + "/customers", post_customers)
    router.add("POST", P + "/customers/generate", generate)
    router.add("GET", P + "/customers/{customer_id}", get_customer)
    router.add("PATCH", P + "/customers/{customer_id}", patch_customer)
    router.add("PUT", P + "/customers/{customer_id}", patch_customer)
    router.add("DELETE", P + "/customers/{customer_id}", delete_customer)
    router.add("GET", P + "/clock", get_clock)
    router.add("POST", P + "/clock", post_clock)
    router.add("POST", P + "/latency", post_latency)
    router.add("POST", P + "/faults", post_faults)
    router.add("POST", P + "/quota", post_quota)
    router.add("POST", P + "/quota/consume", consume)
