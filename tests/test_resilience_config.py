"""Bad configuration: a clear one-line reason, exit 2 (configuration) or 1 (failed run), no
traceback, and no secret -- right or wrong -- in the output or in the files the job writes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bc2people.sandbox.generator import generate_customers
from tests.fixtures_resilience import MAPPING, SECRETS, World, make_world

WRONG_TOKEN = "bc-tok-Wq1Wrong7Token3Zz"
WRONG_KEY = "ib-key-Wk2Wrong8Key4Yy"


def _dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here any more
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def cfg_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = make_world(tmp_path_factory.mktemp("cfg"), people_rate_limit=None,
                       extra_env={"SOURCES__BIGCOMMERCE__MAX_ATTEMPTS": "2"})
    with world.bc, world.people:
        world.bc.add_customers(generate_customers(20, seed=71, now=world.bc.clock.now() - 3600))
        yield world


# name -> (env changes: None removes, "<people>"/"<bc>"/"<dead>" are replaced), exit code, words the message needs
CASES: dict[str, tuple[dict[str, str | None], int, tuple[str, ...]]] = {
    "nothing_configured": ({"SOURCES__BIGCOMMERCE__STORE_HASH": None, "SOURCES__BIGCOMMERCE__ACCESS_TOKEN": None,
                            "DESTINATION__PEOPLE__BASE_URL": None, "DESTINATION__PEOPLE__API_KEY": None}, 2,
                           ("SOURCES__BIGCOMMERCE__STORE_HASH", "SOURCES__BIGCOMMERCE__ACCESS_TOKEN",
                            "DESTINATION__PEOPLE__API_KEY", ".dlt/secrets.toml")),
    "wrong_token": ({"SOURCES__BIGCOMMERCE__ACCESS_TOKEN": WRONG_TOKEN}, 2, ("401", "ACCESS_TOKEN")),
    "wrong_store_hash": ({"SOURCES__BIGCOMMERCE__STORE_HASH": "nosuchstore"}, 2, ("404", "nosuchstore", "store hash is wrong")),
    "base_url_of_another_service": ({"SOURCES__BIGCOMMERCE__API_BASE_URL": "<people>"}, 2, ("401",)),
    # "2 attempt(s)": the configured MAX_ATTEMPTS reaches every request, the first sync's planning too
    "bigcommerce_unreachable": ({"SOURCES__BIGCOMMERCE__API_BASE_URL": "<dead>"}, 1, ("connection", "2 attempt(s)")),
    "wrong_people_key": ({"DESTINATION__PEOPLE__API_KEY": WRONG_KEY}, 2, ("401", "DESTINATION__PEOPLE__API_KEY")),
    "people_unreachable": ({"DESTINATION__PEOPLE__BASE_URL": "<dead>"}, 1, ("ConnectionError",)),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_bad_configuration_fails_plainly(cfg_world: World, name: str) -> None:
    changes, code, words = CASES[name]
    env = dict(cfg_world.env)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = {"<people>": cfg_world.people.base_url, "<bc>": cfg_world.bc.base_url,
                        "<dead>": _dead_url()}.get(value, value)
    # the default text output, as a user sees it
    out = cfg_world.cli("sync", "--mapping", str(MAPPING), "--duckdb", str(cfg_world.duckdb), "--no-progress",
                        env=env, timeout=120)
    assert out.returncode == code, out
    text = out.stdout + out.stderr
    assert "Traceback" not in text and 'File "' not in text, out
    for secret in (*SECRETS, WRONG_TOKEN, WRONG_KEY):
        assert secret not in text, f"{name}: a secret was printed"
    assert "error" in out.stderr.lower(), out
    for word in words:
        assert word in text, f"{word!r} missing:\n{out}"


def test_no_secret_reaches_the_files_the_job_wrote(tmp_path: Path) -> None:
    """The DuckDB file and dlt's state, on a world of this test's own: runs with a wrong token
    and a wrong key (each refused), then a good run so the files hold real data."""
    own = make_world(tmp_path, people_rate_limit=None, extra_env={"SOURCES__BIGCOMMERCE__MAX_ATTEMPTS": "2"})
    with own.bc, own.people:
        own.bc.add_customers(generate_customers(20, seed=71, now=own.bc.clock.now() - 3600))
        for key, wrong in (("SOURCES__BIGCOMMERCE__ACCESS_TOKEN", WRONG_TOKEN), ("DESTINATION__PEOPLE__API_KEY", WRONG_KEY)):
            refused = own.cli(*own.sync_args(), env={**own.env, key: wrong})
            assert refused.returncode == 2, refused
        good = own.sync()
        assert good.returncode == 0, good
        assert own.people.persons()  # the good run delivered
    files = [p for p in Path(own.workdir).rglob("*") if p.is_file()]
    assert any(p.suffix == ".duckdb" for p in files)
    for p in files:
        data = p.read_bytes()
        for secret in (*SECRETS, WRONG_TOKEN, WRONG_KEY):
            assert secret.encode() not in data, f"{secret[:7]}... found in {p}"
    assert len(files) > 1
