"""`bc2people answers ...`: call a function, serve the HTTP adapter, register the webhook."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

FUNCTIONS_HELP = "function name, Python style (find_customer_by_email) or Answers style (FindCustomerUsingEmail)"


def register(subparsers: Any) -> None:
    """Add the `answers` command and its sub-commands."""
    answers = subparsers.add_parser("answers", help="BigCommerce functions for Infobip Answers chatbots")
    sub = answers.add_subparsers(dest="answers_command", metavar="SUBCOMMAND")
    answers.set_defaults(func=lambda args: _help(answers))

    call = sub.add_parser("call", help="call one function and print its result as JSON")
    call.add_argument("function", help=FUNCTIONS_HELP)
    call.add_argument("--param", "-p", action="append", default=[], metavar="K=V",
                      help="a parameter (repeatable); arrays as JSON, e.g. line_items='[...]'")
    call.add_argument("--select", metavar="PATH",
                      help="print only the value at an Answers response path (first_name, addresses.0.city, $.x[0])")
    call.add_argument("--json", action="store_true", help="the result as JSON (what `call` always prints)")
    call.set_defaults(func=_call)

    lst = sub.add_parser("list", help="list the functions and their parameters")
    lst.add_argument("--json", action="store_true", help="the functions as JSON (name, Answers name, parameters)")
    lst.set_defaults(func=_list)

    serve = sub.add_parser("serve", help="serve POST /functions/<name> and POST /webhooks/bigcommerce "
                                         "(needs the `http` extra; API key from ANSWERS__API_KEY)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(func=_serve)

    hook = sub.add_parser("register-webhook", help="create the store/cart/converted hook (POST /v3/hooks)")
    hook.add_argument("--destination", required=True, help="https URL on port 443 that receives the callbacks")
    hook.add_argument("--header", action="append", default=[], metavar="K=V",
                      help="custom header BigCommerce sends with each callback (repeatable), e.g. X-Api-Key=...")
    hook.add_argument("--inactive", action="store_true", help="create it with is_active=false")
    hook.add_argument("--json", action="store_true", help="the created hook as JSON (what it always prints)")
    hook.set_defaults(func=_register_webhook)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _pairs(items: list[str], what: str) -> dict[str, str]:
    from bc2people.answers.errors import InvalidParameter

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidParameter(what, f"expected K=V, got {item.split('=')[0][:40]!r}")
        out[key.strip()] = value
    return out


def _client() -> Any:
    from bc2people.answers.client import BigCommerceClient
    from bc2people.answers.config import AnswersConfig

    return BigCommerceClient(AnswersConfig.from_env())


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False))


def _call(args: argparse.Namespace) -> int:
    from bc2people.answers.errors import AnswersError
    from bc2people.answers.paths import select
    from bc2people.answers.registry import get_function

    try:
        spec = get_function(args.function)
    except KeyError as exc:
        print(f"bc2people: error: {exc.args[0]}", file=sys.stderr)
        return 2
    try:
        values = _pairs(args.param, "--param")
        client = _client()
        try:
            result = spec.call(client, values, from_text=True)
        finally:
            client.close()
    except AnswersError as exc:
        _print(exc.to_dict())
        return exc.exit_code
    _print(select(result, args.select) if args.select else result)
    return 0


def _list(args: argparse.Namespace) -> int:
    from bc2people.answers.registry import REGISTRY

    if args.json:
        _print([{"name": spec.name, "answers_name": spec.answers_name, "summary": spec.summary,
                 "params": [{"name": p.name, "kind": p.kind, "required": p.required,
                             **({} if p.required else {"default": p.default})} for p in spec.params]}
                for spec in REGISTRY.values()])
        return 0
    for spec in REGISTRY.values():
        params = ", ".join(f"{p.name}:{p.kind}" + ("" if p.required else f"={p.default!r}") for p in spec.params)
        print(f"{spec.name} ({spec.answers_name})\n    {params}\n    {spec.summary}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        from bc2people.answers.http import serve
    except ModuleNotFoundError as exc:
        if exc.name not in ("starlette", "uvicorn"):
            raise
        print("bc2people: error: `answers serve` needs the http extra: pip install 'bc2people[http]'", file=sys.stderr)
        return 2

    serve(host=args.host, port=args.port)
    return 0


def _register_webhook(args: argparse.Namespace) -> int:
    from bc2people.answers.errors import AnswersError
    from bc2people.answers.webhook import register_cart_converted_hook

    try:
        headers = _pairs(args.header, "--header")
        client = _client()
        try:
            result = register_cart_converted_hook(client, args.destination, headers, is_active=not args.inactive)
        finally:
            client.close()
    except AnswersError as exc:
        _print(exc.to_dict())
        return exc.exit_code
    _print(result)
    return 0
