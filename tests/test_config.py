"""Settings resolution the dlt way: env vars, .dlt/ TOML files, fail-fast messages."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bc2people.pipelines.config import (
    ACCESS_TOKEN,
    PEOPLE_API_KEY,
    SECRET_SETTINGS,
    ConfigError,
    JobSettings,
    resolve_settings,
    secret_values,
)
from tests.fixtures_sync import REPO, base_env

ALL_ENV = {
    "SOURCES__BIGCOMMERCE__STORE_HASH": "abc123",
    "SOURCES__BIGCOMMERCE__ACCESS_TOKEN": "tok-config-test-1234",
    "DESTINATION__PEOPLE__BASE_URL": "https://xyz.api.infobip.com/",
    "DESTINATION__PEOPLE__API_KEY": "key-config-test-5678",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*ALL_ENV, "SOURCES__BIGCOMMERCE__API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_env_vars_resolve_and_secrets_stay_out_of_repr(env: pytest.MonkeyPatch) -> None:
    for k, v in ALL_ENV.items():
        env.setenv(k, v)
    s = resolve_settings()
    assert (s.store_hash, s.people_base_url) == ("abc123", "https://xyz.api.infobip.com")  # normalised by People's check
    assert s.api_base_url == "https://api.bigcommerce.com"  # the documented default
    assert s.access_token == "tok-config-test-1234" and s.people_api_key == "key-config-test-5678"
    assert "tok-config" not in repr(s) and "key-config" not in repr(s)
    assert set(secret_values()) >= {"tok-config-test-1234", "key-config-test-5678"}


def test_missing_settings_are_all_named_with_env_var_and_toml_key(env: pytest.MonkeyPatch) -> None:
    env.setenv("SOURCES__BIGCOMMERCE__STORE_HASH", "abc123")
    with pytest.raises(ConfigError) as err:
        resolve_settings()
    msg = str(err.value)
    assert err.value.exit_code == 2
    assert "SOURCES__BIGCOMMERCE__ACCESS_TOKEN" in msg and "[sources.bigcommerce] in .dlt/secrets.toml" in msg
    assert "DESTINATION__PEOPLE__BASE_URL" in msg and "[destination.people] in .dlt/config.toml" in msg
    assert "DESTINATION__PEOPLE__API_KEY" in msg
    assert "STORE_HASH" not in msg


def test_dry_run_does_not_need_people(env: pytest.MonkeyPatch) -> None:
    env.setenv("SOURCES__BIGCOMMERCE__STORE_HASH", "abc123")
    env.setenv("SOURCES__BIGCOMMERCE__ACCESS_TOKEN", "tok-config-test-1234")
    s = resolve_settings(need_destination=False)
    assert isinstance(s, JobSettings) and s.people_api_key is None


def test_a_url_without_scheme_is_refused(env: pytest.MonkeyPatch) -> None:
    for k, v in ALL_ENV.items():
        env.setenv(k, v)
    env.setenv("DESTINATION__PEOPLE__BASE_URL", "xyz.api.infobip.com")
    with pytest.raises(ConfigError, match="DESTINATION__PEOPLE__BASE_URL"):
        resolve_settings()


def test_settings_come_from_dlt_toml_files_in_the_project_dir(tmp_path: Path) -> None:
    """A fresh process in a directory holding .dlt/config.toml and .dlt/secrets.toml."""
    dlt_dir = tmp_path / ".dlt"
    dlt_dir.mkdir()
    (dlt_dir / "config.toml").write_text(
        '[sources.bigcommerce]\nstore_hash = "fromtoml"\n[destination.people]\nbase_url = "https://t.api.infobip.com"\n'
    )
    (dlt_dir / "secrets.toml").write_text(
        '[sources.bigcommerce]\naccess_token = "tok-from-toml-0000"\n[destination.people]\napi_key = "key-from-toml-0000"\n'
    )
    code = (
        "import os\n"
        "from bc2people.pipelines.config import resolve_settings\n"
        "s = resolve_settings()\n"
        "print(s.store_hash, s.people_base_url, s.access_token == 'tok-from-toml-0000', "
        "s.people_api_key == 'key-from-toml-0000')\n"
        "os.environ['SOURCES__BIGCOMMERCE__STORE_HASH'] = 'fromenv'  # environment variables win\n"
        "print(resolve_settings().store_hash)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=base_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["fromtoml", "https://t.api.infobip.com", "True", "True", "fromenv"]


def test_shipped_config_has_documented_defaults_and_no_secrets() -> None:
    config = tomllib.loads((REPO / ".dlt" / "config.toml").read_text())
    assert config["sources"]["bigcommerce"]["api_base_url"] == "https://api.bigcommerce.com"
    assert config["runtime"]["dlthub_telemetry"] is False
    flat = str(config).lower()
    assert "access_token" not in flat and "api_key" not in flat


def test_secrets_example_lists_every_secret_setting() -> None:
    example = tomllib.loads((REPO / ".dlt" / "secrets.toml.example").read_text())
    for s in SECRET_SETTINGS:
        section = example
        for part in s.toml_section.split("."):
            section = section[part]
        assert s.toml_name in section
    assert {ACCESS_TOKEN.env_var, PEOPLE_API_KEY.env_var} == {
        "SOURCES__BIGCOMMERCE__ACCESS_TOKEN",
        "DESTINATION__PEOPLE__API_KEY",
    }


@pytest.mark.parametrize(
    ("name", "value", "owner_says"),
    [
        ("SOURCES__BIGCOMMERCE__STORE_HASH", "stores/abc123", "must be the store hash"),
        ("DESTINATION__PEOPLE__BASE_URL", "xyz.api.infobip.com", "must be a full URL"),
        ("DESTINATION__PEOPLE__TIMEOUT", "soon", "must be a number of seconds"),
        ("DESTINATION__PEOPLE__RATE_LIMIT", "fast", "RATE_LIMIT.*must be a number of requests per second"),
        ("DESTINATION__PEOPLE__RATE_LIMIT", "0", "RATE_LIMIT.*above 0"),
        ("DESTINATION__PEOPLE__RATE_LIMIT", "-5", "RATE_LIMIT.*above 0"),
        ("DESTINATION__PEOPLE__RATE_LIMIT", "nan", "RATE_LIMIT.*above 0"),
        ("DESTINATION__PEOPLE__RATE_LIMIT", "inf", "RATE_LIMIT.*above 0"),
    ],
)
def test_the_job_validates_each_setting_the_way_its_owner_does(
    env: pytest.MonkeyPatch, name: str, value: str, owner_says: str
) -> None:
    """One resolution, one validation: the job's message is the source's or the destination's own."""
    for k, v in ALL_ENV.items():
        env.setenv(k, v)
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=owner_says):
        resolve_settings()


def test_the_run_hands_the_resolved_settings_down(env: pytest.MonkeyPatch) -> None:
    for k, v in ALL_ENV.items():
        env.setenv(k, v)
    env.setenv("DESTINATION__PEOPLE__TIMEOUT", "7.5")
    s = resolve_settings()
    assert s.source_settings() == {"store_hash": "abc123", "access_token": "tok-config-test-1234",
                                   "api_base_url": "https://api.bigcommerce.com"}
    client = s.people_client()
    assert client is not None and client.timeout == 7.5
    assert client.rate == 5.0 and client.limiter("upsert").rate == 5.0  # People's documented limit
    env.setenv("DESTINATION__PEOPLE__RATE_LIMIT", "12.5")
    faster = resolve_settings().people_client()
    assert faster is not None and faster.rate == 12.5
    assert faster.limiter("upsert").rate == 12.5 and faster.limiter("match").rate == 37.5  # match: 15/s of 5/s
    from bc2people.destinations.people.destination import load_people_config

    assert load_people_config().client().rate == 12.5  # the delivery's client, resolved on its own
    assert resolve_settings(need_destination=False).people_client() is None
