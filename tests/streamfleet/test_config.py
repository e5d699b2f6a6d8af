from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamfleet.config import ConfigError, load_config
from streamfleet.tokens import TokenSettings


@dataclass(frozen=True)
class Upstream:
    timeout_s: float = 5.0
    retries: int = 2


@dataclass(frozen=True)
class DemoConfig:
    host: str = "127.0.0.1"
    port: int = 8081
    data_dir: Path = Path("data")
    debug: bool = False
    prefixes: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    upstream: Upstream = field(default_factory=Upstream)
    tokens: TokenSettings = field(default_factory=TokenSettings)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_defaults_without_file_or_env() -> None:
    assert load_config(DemoConfig, None, "DEMO", environ={}) == DemoConfig()


def test_file_then_env_overlay(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'port = 9000\nprefixes = ["10.0.0.0/8"]\n[upstream]\ntimeout_s = 2\n[tokens]\nactive = "k"\n'
        'keys = { k = "0123456789abcdef0123" }\n',
    )
    env = {"DEMO_PORT": "9100", "DEMO_UPSTREAM__RETRIES": "5", "DEMO_DEBUG": "yes",
           "DEMO_PREFIXES": "1.2.3.0/24, 5.6.0.0/16", "DEMO_LABELS": "a=1,b=2", "OTHER_PORT": "1"}
    cfg = load_config(DemoConfig, path, "DEMO", environ=env)
    assert cfg.port == 9100
    assert cfg.upstream == Upstream(timeout_s=2.0, retries=5)
    assert cfg.debug is True
    assert cfg.prefixes == ("1.2.3.0/24", "5.6.0.0/16")
    assert cfg.labels == {"a": "1", "b": "2"}
    assert cfg.tokens.keyring().active == "k"
    assert cfg.data_dir == Path("data")


@pytest.mark.parametrize(
    ("text", "env", "named"),
    [
        ("prot = 1\n", {}, "prot"),
        ('port = "eighty"\n', {}, "port"),
        ("[upstream]\ntimeout = 1\n", {}, "upstream.timeout"),
        ("[upstream]\nretries = 1.5\n", {}, "upstream.retries"),
        ("", {"DEMO_PORT": "x"}, "port"),
        ("", {"DEMO_NOPE": "1"}, "DEMO_NOPE"),
        ("", {"DEMO_DEBUG": "maybe"}, "debug"),
        ("port = \n", {}, "c.toml"),
    ],
)
def test_bad_keys_are_named(tmp_path: Path, text: str, env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_config(DemoConfig, write(tmp_path, text), "DEMO", environ=env)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(DemoConfig, tmp_path / "nope.toml", "DEMO", environ={})


@given(st.text(max_size=40))
def test_any_env_text_either_loads_or_names_the_key(value: str) -> None:
    try:
        cfg = load_config(DemoConfig, None, "DEMO", environ={"DEMO_PORT": value})
    except ConfigError as exc:
        assert "port" in str(exc)
    else:
        assert cfg.port == int(value)
