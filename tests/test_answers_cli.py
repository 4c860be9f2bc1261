"""`bc2people answers ...` through a real subprocess against the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fixtures_answers import ANSWERS_TOKEN

ROOT = Path(__file__).resolve().parents[1]


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "ANSWERS__"))}
    return subprocess.run([sys.executable, "-m", "bc2people.pipelines.cli", "answers", *args], capture_output=True, text=True,
                          env={**full_env, **env}, cwd=ROOT, timeout=60)


def test_call_prints_json_and_select(answers_env: dict[str, str], answers_customer: dict[str, Any]) -> None:
    out = _run(answers_env, "call", "FindCustomerUsingEmail", "--param", f"email={answers_customer['email']}")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["id"] == answers_customer["id"]
    city = _run(answers_env, "call", "find_customer_by_email", "-p", f"email={answers_customer['email']}",
                "--select", "$.addresses[0].city")
    assert json.loads(city.stdout) == "Zagreb"
    cart = _run(answers_env, "call", "create_cart", "-p", f"customer_id={answers_customer['id']}", "-p", "product_id=80",
                "-p", "quantity=2")
    assert json.loads(cart.stdout)["item_count"] == 2


def test_errors_are_json_with_exit_codes(answers_env: dict[str, str]) -> None:
    bad = _run(answers_env, "call", "get_product_by_id", "-p", "product_id=abc")
    assert bad.returncode == 1 and json.loads(bad.stdout)["errors"] == {"product_id": "must be an integer"}
    unknown = _run(answers_env, "call", "no_such_function")
    assert unknown.returncode == 2 and "known:" in unknown.stderr
    wrong = _run({**answers_env, "SOURCES__BIGCOMMERCE__ACCESS_TOKEN": "wrong-" + ANSWERS_TOKEN},
                 "call", "list_product_categories")
    assert wrong.returncode == 1 and json.loads(wrong.stdout)["status"] == 401
    assert ANSWERS_TOKEN not in wrong.stdout + wrong.stderr
    unconfigured = _run({}, "call", "list_product_categories")
    assert unconfigured.returncode == 2 and "SOURCES__BIGCOMMERCE__STORE_HASH" in unconfigured.stdout


def test_register_webhook_and_list(answers_env: dict[str, str], commerce_sandbox: Any) -> None:
    out = _run(answers_env, "register-webhook", "--destination", "https://cli.example.com/webhooks/bigcommerce",
               "--header", "X-Api-Key=cli-secret-0123456789")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["header_names"] == ["X-Api-Key"] and "cli-secret" not in out.stdout
    assert commerce_sandbox.commerce.hooks[result["id"]]["headers"] == {"X-Api-Key": "cli-secret-0123456789"}
    bad = _run(answers_env, "register-webhook", "--destination", "http://cli.example.com/x")
    assert bad.returncode == 1 and "destination" in json.loads(bad.stdout)["errors"]
    listing = _run(answers_env, "list")
    assert listing.returncode == 0 and listing.stdout.count("(") >= 14 and "GetRedirectURLs" in listing.stdout


def test_serve_subcommand(answers_env: dict[str, str]) -> None:
    import socket
    import time

    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "ANSWERS__"))}
    env.update(answers_env, ANSWERS__API_KEY="serve-key-0123456789abcdef")
    proc = subprocess.Popen([sys.executable, "-m", "bc2people.pipelines.cli", "answers", "serve", "--port", str(port)],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"{url}/openapi.json", timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        r = requests.post(f"{url}/functions/GetProductByID", json={"product_id": 88},
                          headers={"X-Api-Key": "serve-key-0123456789abcdef"}, timeout=10)
        assert r.status_code == 200 and r.json()["name"] == "[Sample] Chemex Coffeemaker 3 Cup"
        assert requests.post(f"{url}/functions/GetProductByID", json={"product_id": 88}, timeout=10).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert b"serve-key" not in (proc.stderr.read() if proc.stderr else b"")


def test_serve_refuses_without_api_key(answers_env: dict[str, str]) -> None:
    out = _run(answers_env, "serve", "--port", "0")
    assert out.returncode == 2 and "ANSWERS__API_KEY" in out.stderr


def test_every_answers_subcommand_takes_json(answers_env: dict[str, str], answers_customer: dict[str, Any]) -> None:
    listing = _run(answers_env, "list", "--json")
    assert listing.returncode == 0, listing.stderr
    functions = json.loads(listing.stdout)
    assert len(functions) == 14 and {f["answers_name"] for f in functions} >= {"GetRedirectURLs", "CreateOrder"}
    email = next(f for f in functions if f["name"] == "find_customer_by_email")
    assert email["params"] == [{"name": "email", "kind": "string", "required": True}]
    call = _run(answers_env, "call", "find_customer_by_email", "--json", "-p", f"email={answers_customer['email']}")
    assert call.returncode == 0 and json.loads(call.stdout)["id"] == answers_customer["id"]
