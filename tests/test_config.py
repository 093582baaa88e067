"""Configuration: the shipped config.toml, defaults, environment overrides and errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from polymon.config import Config, load_config
from polymon.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config.toml"

# The keys docs/interface.md ("Configuration") says must exist, with their defaults.
INTERFACE_DEFAULTS: dict[tuple[str, str], Any] = {
    ("polymarket", "ws_url"): "wss://ws-subscriptions-clob.polymarket.com/ws/market",
    ("polymarket", "clob_url"): "https://clob.polymarket.com",
    ("polymarket", "gamma_url"): "https://gamma-api.polymarket.com",
    ("storage", "url"): "",  # "" means chdb://<data_dir>/clickhouse, see test below
    ("storage", "user"): "default",
    ("storage", "password"): "",
    ("http", "host"): "127.0.0.1",
    ("http", "port"): 8787,
    ("webhooks", "allow_private"): False,
    ("service", "data_dir"): "./data",
}


def write(tmp_path: Path, text: str, name: str = "polymon.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path | None = None, **env: str) -> Config:
    return load_config(path, environ=env)


def test_shipped_config_equals_defaults_except_where_it_says_otherwise() -> None:
    raw = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    expected = msgspec.to_builtins(Config())
    for section, values in raw.items():
        assert section in expected, f"unknown section [{section}] in config.toml"
        for key, value in values.items():
            assert key in expected[section], f"unknown key {section}.{key} in config.toml"
            expected[section][key] = value
    got = load(SHIPPED)
    assert msgspec.to_builtins(got) == expected
    assert got == msgspec.convert(expected, Config)


def test_shipped_config_documents_every_section() -> None:
    raw = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    assert set(raw) == {f.name for f in msgspec.structs.fields(Config)}


@pytest.mark.parametrize(("section", "key"), list(INTERFACE_DEFAULTS))
def test_interface_keys_exist_with_their_defaults(section: str, key: str) -> None:
    default = getattr(getattr(Config(), section), key)
    assert default == INTERFACE_DEFAULTS[section, key]
    shipped = getattr(getattr(load(SHIPPED), section), key)
    assert shipped == default


def test_no_file_means_builtin_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load() == Config()


def test_config_toml_in_the_working_directory_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "[http]\nport = 1234\n", name="config.toml")
    monkeypatch.chdir(tmp_path)
    assert load().http.port == 1234


def test_default_storage_url_is_embedded_under_the_absolute_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load()
    assert config.storage.url == ""
    assert config.storage_url == "chdb://" + str(tmp_path.resolve() / "data" / "clickhouse")
    assert Path(config.storage_url.removeprefix("chdb://")).is_absolute()
    other = load(POLYMON_SERVICE__DATA_DIR=str(tmp_path / "state"))
    assert other.storage_url == "chdb://" + str(tmp_path.resolve() / "state" / "clickhouse")
    explicit = load(POLYMON_STORAGE__URL="http://ch:8123/polymon")
    assert explicit.storage_url == "http://ch:8123/polymon"


def test_env_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[storage]\nurl = "chdb:///from/file"\n[http]\nport = 1111\n')
    assert load(path).storage.url == "chdb:///from/file"
    config = load(path, POLYMON_STORAGE__URL="http://ch:8123/polymon")
    assert config.storage.url == "http://ch:8123/polymon"
    assert config.http.port == 1111


def test_env_values_are_converted_to_the_field_types() -> None:
    config = load(
        POLYMON_HTTP__PORT="9000",
        POLYMON_WEBHOOKS__ALLOW_PRIVATE="true",
        POLYMON_INTEGRITY__STALE_AFTER_SECS="1.5",
        POLYMON_INTEGRITY__MODE="observe",
    )
    assert config.http.port == 9000
    assert isinstance(config.http.port, int)
    assert config.webhooks.allow_private is True
    assert config.integrity.stale_after_secs == 1.5
    assert config.integrity.mode == "observe"
    assert load(POLYMON_WEBHOOKS__ALLOW_PRIVATE="false").webhooks.allow_private is False


def test_env_is_read_from_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYMON_HTTP__PORT", "9001")
    monkeypatch.setenv("UNRELATED_HTTP__PORT", "1")
    assert load_config(SHIPPED).http.port == 9001


def test_non_polymon_env_vars_are_ignored() -> None:
    assert load(SHIPPED, HOME="/root", POLYMONX="1", PATH="/bin") == load(SHIPPED)


def test_overrides_argument_wins(tmp_path: Path) -> None:
    config = load_config(
        SHIPPED, environ={"POLYMON_HTTP__PORT": "9000"}, overrides={"http": {"port": 9100}}
    )
    assert config.http.port == 9100


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "[http]\nport = 8787\nprot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load(path)


def test_unknown_section_in_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "[htp]\nport = 8787\n")
    with pytest.raises(ConfigError, match="htp"):
        load(path)


def test_unknown_env_key_is_named() -> None:
    with pytest.raises(ConfigError, match="POLYMON_HTTP__PROT") as info:
        load(POLYMON_HTTP__PROT="1")
    assert "http.prot" in str(info.value)


def test_unknown_env_section_is_named() -> None:
    with pytest.raises(ConfigError, match="htp"):
        load(POLYMON_HTP__PORT="1")


@pytest.mark.parametrize("name", ["POLYMON_HTTP", "POLYMON_HTTP__", "POLYMON_", "POLYMON___PORT"])
def test_malformed_env_name_is_an_error(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load(**{name: "1"})


@pytest.mark.parametrize(
    ("toml", "where"),
    [
        ("[http]\nport = 70000\n", "http.port"),
        ("[http]\nport = -1\n", "http.port"),
        ('[http]\nport = "eighty"\n', "http.port"),
        ("[polymarket]\nshards = 0\n", "polymarket.shards"),
        ("[polymarket]\nmax_assets_per_connection = 501\n", "polymarket.max_assets_per_connection"),
        ('[integrity]\nmode = "loud"\n', "integrity.mode"),
        ('[integrity]\nhash_recipe = "v9"\n', "integrity.hash_recipe"),
        ("[simulator]\ntrade_ratio = 1.5\n", "simulator.trade_ratio"),
        ('[webhooks]\nallow_private = "maybe"\n', "webhooks.allow_private"),
        ("http = 5\n", "http"),
    ],
)
def test_bad_types_and_ranges_in_file(tmp_path: Path, toml: str, where: str) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        load(path)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("POLYMON_HTTP__PORT", "70000"),
        ("POLYMON_HTTP__PORT", "abc"),
        ("POLYMON_POLYMARKET__SHARDS", "0"),
        ("POLYMON_WEBHOOKS__ALLOW_PRIVATE", "maybe"),
    ],
)
def test_bad_env_values(name: str, value: str) -> None:
    with pytest.raises(ConfigError):
        load(**{name: value})


@pytest.mark.parametrize(
    "text",
    [
        "[http\nport = 1\n",
        "[http]\nport = \n",
        "[http]\nport = 1\nport = 2\n",
        "just some words\n",
    ],
)
def test_invalid_toml_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=r"polymon\.toml"):
        load(path)


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[service]\ndata_dir = "/tmp/caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.toml"):
        load(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load(tmp_path / "nope.toml")


def test_config_is_frozen() -> None:
    config = Config()
    with pytest.raises(AttributeError):
        config.http.port = 1  # type: ignore[misc]


def test_repr_never_shows_the_password(tmp_path: Path) -> None:
    secret = "s3cr3t-Pa55w0rd"
    path = write(tmp_path, f'[storage]\nurl = "http://ch:8123/db"\npassword = "{secret}"\n')
    for config in (load(path), load(POLYMON_STORAGE__PASSWORD=secret)):
        assert config.storage.password == secret
        assert secret not in repr(config)
        assert secret not in str(config)
        assert secret not in f"{config!r} {config}"


# -- list keys from the environment (JSON) --------------------------------------------------


def test_list_keys_take_json_arrays_from_the_environment() -> None:
    config = load(
        POLYMON_HTTP__CORS_ALLOW_ORIGINS='["https://a.example", "https://b.example"]',
        POLYMON_WEBHOOKS__ALLOWED_PORTS="[443, 8443]",
        POLYMON_WEBHOOKS__RETRY_SCHEDULE_SECS="[0, 1.5, 60]",
    )
    assert config.http.cors_allow_origins == ["https://a.example", "https://b.example"]
    assert config.webhooks.allowed_ports == [443, 8443]
    assert config.webhooks.retry_schedule_secs == [0, 1.5, 60]
    assert load(POLYMON_WEBHOOKS__ALLOWED_PORTS="[]").webhooks.allowed_ports == []


def test_a_list_env_value_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[webhooks]\nallowed_ports = [80]\n")
    assert load(path, POLYMON_WEBHOOKS__ALLOWED_PORTS="[8080]").webhooks.allowed_ports == [8080]


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("POLYMON_HTTP__CORS_ALLOW_ORIGINS", "https://a.example", "expected JSON"),
        ("POLYMON_HTTP__CORS_ALLOW_ORIGINS", '["https://a"', "expected JSON"),
        ("POLYMON_HTTP__CORS_ALLOW_ORIGINS", '"https://a"', r"Expected `array`, got `str`"),
        ("POLYMON_WEBHOOKS__ALLOWED_PORTS", "[80, 70000]", r"allowed_ports\[1\]"),
        ("POLYMON_WEBHOOKS__ALLOWED_PORTS", '["x"]', r"Expected `int`"),
        ("POLYMON_WEBHOOKS__RETRY_SCHEDULE_SECS", "[5, -1]", r"retry_schedule_secs\[1\]"),
    ],
)
def test_bad_list_env_values_name_the_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as info:
        load(**{name: value})
    message = str(info.value)
    assert f"environment variable {name}" in message
    assert "\n" not in message


def test_bad_scalar_env_values_name_the_variable_too() -> None:
    with pytest.raises(ConfigError, match="environment variable POLYMON_HTTP__PORT") as info:
        load(POLYMON_HTTP__PORT="70000")
    assert "$.http.port" in str(info.value)


def test_a_bad_file_value_is_not_blamed_on_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[http]\nport = 70000\n")
    with pytest.raises(ConfigError) as info:
        load(path, POLYMON_HTTP__HOST="0.0.0.0")
    assert "environment variable" not in str(info.value)
    assert "polymon.toml" in str(info.value)


# -- systemd credentials --------------------------------------------------------------------


def credentials(tmp_path: Path, **files: str) -> Path:
    directory = tmp_path / "credentials"
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def test_credentials_set_their_documented_keys(tmp_path: Path) -> None:
    directory = credentials(
        tmp_path, storage_password="pw from credential\n", storage_url="https://ch:8443/db"
    )
    path = write(tmp_path, '[storage]\npassword = "pw from file"\n')
    config = load(
        path, CREDENTIALS_DIRECTORY=str(directory), POLYMON_STORAGE__PASSWORD="pw from env"
    )
    assert config.storage.password == "pw from credential"  # trailing newline dropped
    assert config.storage.url == "https://ch:8443/db"


def test_without_credentials_directory_the_file_and_env_apply(tmp_path: Path) -> None:
    path = write(tmp_path, '[storage]\npassword = "pw from file"\n')
    assert load(path).storage.password == "pw from file"
    assert load(path, POLYMON_STORAGE__PASSWORD="env").storage.password == "env"


def test_an_empty_credential_counts_as_not_given(tmp_path: Path) -> None:
    directory = credentials(tmp_path, storage_password="\n")
    path = write(tmp_path, '[storage]\npassword = "pw from file"\n')
    assert load(path, CREDENTIALS_DIRECTORY=str(directory)).storage.password == "pw from file"


def test_every_documented_credential_names_a_real_key() -> None:
    from polymon.config import CREDENTIALS

    for name, (section, key) in CREDENTIALS.items():
        assert name == f"{section}_{key}"
        assert hasattr(getattr(Config(), section), key)


def test_an_unknown_credential_is_named(tmp_path: Path) -> None:
    directory = credentials(tmp_path, storage_pasword="x")
    with pytest.raises(ConfigError, match="storage_pasword") as info:
        load(CREDENTIALS_DIRECTORY=str(directory))
    assert "storage_password" in str(info.value)  # the names polymon reads are listed


def test_unreadable_credentials_are_a_config_error_without_the_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CREDENTIALS_DIRECTORY"):
        load(CREDENTIALS_DIRECTORY=str(tmp_path / "missing"))
    directory = credentials(tmp_path)
    (directory / "storage_password").write_bytes(b"\xff\xfe secret")
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        load(CREDENTIALS_DIRECTORY=str(directory))
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[service]\nshutdown_grace_secs = inf\n", "shutdown_grace_secs"),
        ("[storage]\nbatch_max_age_secs = inf\n", "batch_max_age_secs"),
        ("[polymarket]\nping_interval_secs = nan\n", "ping_interval_secs"),
        ("[lifecycle]\npoll_interval_secs = inf\n", "poll_interval_secs"),
        ("[simulator]\nrate_per_sec = inf\n", "rate_per_sec"),
        ("[webhooks]\nretry_schedule_secs = [0, 5, inf]\n", "retry_schedule_secs"),
        ("[webhooks]\nretry_schedule_secs = []\n", "retry_schedule_secs"),
        ('[polymarket]\nws_url = "http://x"\n', "polymarket.ws_url"),
        ('[polymarket]\nws_url = "wss://"\n', "polymarket.ws_url"),
        ('[polymarket]\nclob_url = "ws://x"\n', "polymarket.clob_url"),
        ('[polymarket]\ngamma_url = "gamma-api.polymarket.com"\n', "polymarket.gamma_url"),
        ('[storage]\nurl = "ftp://ch/db"\n', "storage.url"),
        ('[storage]\nurl = "chdb://relative/dir"\n', "storage.url"),
        ('[http]\ncors_allow_origins = ["*"]\n', "http.cors_allow_origins"),
    ],
)
def test_non_finite_numbers_empty_schedules_and_wrong_url_schemes_are_rejected(
    tmp_path: Path, toml: str, key: str
) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load(path)


def test_non_finite_env_overrides_are_rejected() -> None:
    with pytest.raises(ConfigError, match="shutdown_grace_secs"):
        load(POLYMON_SERVICE__SHUTDOWN_GRACE_SECS="inf")


def test_the_url_forms_that_work_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, '[polymarket]\nws_url = "ws://127.0.0.1:8788/ws/market"\n'
                           'clob_url = "http://127.0.0.1:8788"\n[storage]\n'
                           'url = "https://user@ch.example:8443/db"\n'
                           '[http]\ncors_allow_origins = ["https://dash.example"]\n')  # fmt: skip
    config = load(path)
    assert config.storage.url == "https://user@ch.example:8443/db"
    assert load(write(tmp_path, '[storage]\nurl = "chdb:///var/lib/polymon"\n')).storage.url
